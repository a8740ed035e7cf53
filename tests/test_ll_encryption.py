"""Encryption start, pause and restart (key refresh), packet counters and the protocol errors of
the encryption procedures, through EmulatorTarget primitives (Core Vol 6 Part B 5.1.3, 5.2)."""

from __future__ import annotations

from test_emulator_common import Session, decoded, names
from test_emulator_ll import _bonded, _disconnect_reasons, _encrypt

from fuzzer.crypto.session import MAX_COUNTER, LinkCipher, session_key
from fuzzer.emulator.bonds import Bond
from fuzzer.protocol import l2cap, ll
from fuzzer.trace import events as ev

SKDM = bytes.fromhex("0102030405060708")
IVM = bytes.fromhex("a1a2a3a4")
OTHER_LTK = bytes.fromhex("00112233445566778899aabbccddeeff")
OTHER_EDIV, OTHER_RAND = 0x4242, bytes.fromhex("0807060504030201")
READ_NAME = {"starting_handle": 1, "ending_handle": 0xFFFF,
             "attribute_type": bytes.fromhex("002a")}
READ_PROTECTED = {"starting_handle": 1, "ending_handle": 0xFFFF,
                  "attribute_type": bytes.fromhex("382a")}


def _encrypted(s: Session | None = None) -> tuple[Session, dict]:
    s, bond = _bonded() if s is None else (s, None)
    on = [e for e in _encrypt(s, bond) if e.kind == ev.ENCRYPTION and e.info["state"] == "on"]
    assert on and s.target.link.encrypted
    return s, bond


def _other_bond(s: Session) -> Bond:
    """A second bonded peer in the device's store, with a known legacy LTK."""
    bond = Bond(peer_address=bytes.fromhex("665544332211"), peer_address_type=0, ltk=OTHER_LTK,
                ediv=OTHER_EDIV, rand=OTHER_RAND, key_size=16)
    s.firmware.bonds.add(bond)
    return bond


def _pdus(events: list, src: str, name: str) -> list:
    return [e for e in events if e.kind == ev.PDU and e.src == src and e.layer == "ll"
            and ll.LL_CONTROL.decode(e.data).name == name]


def _session_cipher(events: list, ltk: bytes) -> LinkCipher:
    """The session the trace's last LL_ENC_REQ / LL_ENC_RSP set up (5.1.3.1)."""
    req = ll.LL_CONTROL.decode(_pdus(events, ev.TESTER, "LL_ENC_REQ")[-1].data).fields
    rsp = ll.LL_CONTROL.decode(_pdus(events, ev.DEVICE, "LL_ENC_RSP")[-1].data).fields
    return LinkCipher(session_key(ltk, req["skdm"], rsp["skds"]), req["ivm"], rsp["ivs"])


def _decrypt(cipher: LinkCipher, air: bytes, counter: int, from_central: bool) -> bytes | None:
    return cipher.decrypt(air[0], air[2:], counter, from_central)


# --- key refresh: pause, then a fresh start ------------------------------------------------------

def test_refresh_with_the_same_ltk_pauses_then_restarts():
    s, bond = _encrypted()
    events = _encrypt(s, bond)
    ll_events = [e for e in events if e.kind == ev.PDU and e.layer == "ll"]
    got = [(e.src, ll.LL_CONTROL.decode(e.data).name) for e in ll_events]
    assert got == [
        (ev.TESTER, "LL_PAUSE_ENC_REQ"), (ev.DEVICE, "LL_PAUSE_ENC_RSP"),
        (ev.TESTER, "LL_PAUSE_ENC_RSP"), (ev.TESTER, "LL_ENC_REQ"), (ev.DEVICE, "LL_ENC_RSP"),
        (ev.DEVICE, "LL_START_ENC_REQ"), (ev.TESTER, "LL_START_ENC_RSP"),
        (ev.DEVICE, "LL_START_ENC_RSP"),
    ]
    # 5.1.3.2: LL_PAUSE_ENC_REQ and the device's LL_PAUSE_ENC_RSP encrypted (MIC), the central's
    # LL_PAUSE_ENC_RSP and the restart's LL_ENC_REQ/RSP/START_ENC_REQ in the clear
    encrypted = [len(e.air[0]) == 2 + len(e.data) + 4 for e in ll_events]
    assert encrypted == [True, True, False, False, False, False, True, True]
    states = [e.info["state"] for e in events if e.kind == ev.ENCRYPTION]
    assert states == ["off", "on"]
    on = [e for e in events if e.kind == ev.ENCRYPTION and e.info["state"] == "on"][0]
    assert on.info["refresh"] is True
    assert s.target.link.encrypted and s.device.link_layer.connection.encrypted
    assert s.firmware.host.security.encrypted and s.firmware.host.security.bonded


def test_refresh_uses_a_new_session_key_and_counters_from_zero():
    s, bond = _encrypted()
    first = _session_cipher(s.trace.events, bytes.fromhex(bond["ltk"]))
    events = _encrypt(s, bond)
    second = _session_cipher(events, bytes.fromhex(bond["ltk"]))
    assert second.sk != first.sk and second.iv != first.iv  # new SKD and IV both ways
    # the first encrypted PDU each way after the restart has packet counter 0
    [central_rsp] = _pdus(events, ev.TESTER, "LL_START_ENC_RSP")
    [device_rsp] = _pdus(events, ev.DEVICE, "LL_START_ENC_RSP")
    assert _decrypt(second, central_rsp.air[0], 0, True) == central_rsp.data
    assert _decrypt(second, device_rsp.air[0], 0, False) == device_rsp.data
    assert _decrypt(first, device_rsp.air[0], 0, False) is None
    # and data flows encrypted with the new key, counters going on from 1
    later = s.att("Read By Type Request", **READ_PROTECTED)
    [req] = [e for e in later if e.kind == ev.PDU and e.src == ev.TESTER]
    [rsp] = [e for e in later if e.kind == ev.PDU and e.src == ev.DEVICE]
    assert _decrypt(second, req.air[0], 1, True) == l2cap.frame(l2cap.CID_ATT, req.data)
    assert _decrypt(second, rsp.air[0], 1, False) == l2cap.frame(l2cap.CID_ATT, rsp.data)
    assert names(later, "att") == ["Read By Type Response"]


def test_refresh_with_another_bonded_ltk_switches_the_bond():
    s, bond = _encrypted()
    other = _other_bond(s)
    events = s.step("encrypt", ltk=OTHER_LTK.hex(), ediv=OTHER_EDIV, rand=OTHER_RAND.hex())
    on = [e for e in events if e.kind == ev.ENCRYPTION and e.info["state"] == "on"]
    assert len(on) == 1 and on[0].info["ltk"] == OTHER_LTK.hex()
    assert s.firmware.host.current_bond == other
    cipher = _session_cipher(events, OTHER_LTK)
    later = s.att("Read By Type Request", **READ_NAME)
    [rsp] = [e for e in later if e.kind == ev.PDU and e.src == ev.DEVICE]
    assert _decrypt(cipher, rsp.air[0], 1, False) == l2cap.frame(l2cap.CID_ATT, rsp.data)


def test_refresh_with_an_unknown_key_leaves_the_link_unencrypted():
    s, bond = _encrypted()
    events = s.step("encrypt", ltk="00" * 16, ediv=0x1234, rand="11" * 8)
    assert names(events, "ll") == ["LL_PAUSE_ENC_RSP", "LL_ENC_RSP", "LL_REJECT_IND"]
    states = [e.info["state"] for e in events if e.kind == ev.ENCRYPTION]
    assert states == ["off", "failed"]
    assert s.target.connected and not s.target.link.encrypted
    assert not s.device.link_layer.connection.encrypted
    assert not s.firmware.host.security.encrypted
    # the link carries data in the clear again; the protected value is refused
    later = s.att("Read By Type Request", **READ_PROTECTED)
    assert names(later, "att") == ["Error Response"]
    [rsp] = [e for e in later if e.kind == ev.PDU and e.src == ev.DEVICE]
    assert rsp.air[0][2:] == l2cap.frame(l2cap.CID_ATT, rsp.data)


def test_clear_pdu_after_a_refresh_is_a_mic_failure():
    s, bond = _encrypted()
    _encrypt(s, bond)
    reasons = _disconnect_reasons(s)
    s.target._conn.channel.tx_encrypted = False
    events = s.att("Read By Type Request", **READ_NAME)
    assert reasons == [ll.MIC_FAILURE]
    assert not any(e.kind == ev.PDU and e.src == ev.DEVICE for e in events)
    assert not s.target.connected


# --- packet counters (Vol 6 Part E 2.1) ----------------------------------------------------------

def test_packet_counters_count_each_direction_on_its_own():
    s, _ = _encrypted()
    dev = s.device.link_layer.connection.channel
    central = s.target._conn.channel
    assert (dev.rx_counter, dev.tx_counter) == (1, 1)  # the two LL_START_ENC_RSPs
    s.ll("LL_FEATURE_REQ", feature_set=bytes(8))
    s.ll("LL_UNKNOWN_RSP", unknown_type=0x55)  # no answer
    assert (central.tx_counter, central.rx_counter) == (3, 2)
    assert (dev.rx_counter, dev.tx_counter) == (3, 2)


def test_packet_counters_use_all_39_bits():
    s, _ = _encrypted()
    dev = s.device.link_layer.connection.channel
    central = s.target._conn.channel
    near = MAX_COUNTER - 1
    dev.rx_counter = dev.tx_counter = central.tx_counter = central.rx_counter = near
    events = s.ll("LL_FEATURE_REQ", feature_set=bytes(8))
    assert names(events, "ll") == ["LL_FEATURE_RSP"]
    assert dev.rx_counter == dev.tx_counter == MAX_COUNTER
    assert s.target.connected


# --- protocol errors during the procedures (5.1.3.1, 5.1.3.2) ------------------------------------

def _start_by_hand(s: Session, bond: dict) -> list:
    """LL_ENC_REQ as a raw step; the tester installs the session itself, the device is left
    waiting for LL_START_ENC_RSP."""
    events = s.ll("LL_ENC_REQ", rand=bytes.fromhex(bond["rand"]), ediv=bond["ediv"], skdm=SKDM,
                  ivm=IVM)
    assert names(events, "ll") == ["LL_ENC_RSP", "LL_START_ENC_REQ"]
    channel = s.target._conn.channel
    channel.set_cipher(_session_cipher(events, bytes.fromhex(bond["ltk"])))
    channel.tx_encrypted = channel.rx_encrypted = True
    return events


def test_enc_req_during_the_start_procedure_ends_the_link_with_0x3d():
    s, bond = _bonded()
    _start_by_hand(s, bond)
    reasons = _disconnect_reasons(s)
    events = s.ll("LL_ENC_REQ", rand=bytes.fromhex(bond["rand"]), ediv=bond["ediv"], skdm=SKDM,
                  ivm=IVM)  # encrypted, with a good MIC: unexpected, not a MIC failure
    assert reasons == [ll.MIC_FAILURE]
    assert not any(e.kind == ev.PDU and e.src == ev.DEVICE for e in events)
    assert not s.target.connected


def test_data_during_the_start_procedure_ends_the_link_with_0x3d():
    s, bond = _bonded()
    _start_by_hand(s, bond)
    reasons = _disconnect_reasons(s)
    s.att("Read By Type Request", **READ_NAME)
    assert reasons == [ll.MIC_FAILURE]


def test_the_start_procedure_completes_by_hand():
    s, bond = _bonded()
    _start_by_hand(s, bond)
    events = s.ll("LL_START_ENC_RSP")
    assert names(events, "ll") == ["LL_START_ENC_RSP"]
    assert s.device.link_layer.connection.encrypted


def test_pdu_during_the_pause_ends_the_link_with_0x3d():
    s, _ = _encrypted()
    events = s.ll("LL_PAUSE_ENC_REQ")
    assert names(events, "ll") == ["LL_PAUSE_ENC_RSP"]
    assert s.device.link_layer.connection.enc_state == "pausing"
    reasons = _disconnect_reasons(s)
    s.target._conn.channel.set_cipher(None)  # as the central does after LL_PAUSE_ENC_RSP
    s.ll("LL_FEATURE_REQ", feature_set=bytes(8))
    assert reasons == [ll.MIC_FAILURE]


def test_data_while_paused_ends_the_link_with_0x3d():
    s, _ = _encrypted()
    s.ll("LL_PAUSE_ENC_REQ")
    s.target._conn.channel.set_cipher(None)
    assert names(s.ll("LL_PAUSE_ENC_RSP"), "ll") == []
    assert s.device.link_layer.connection.enc_state == "paused"
    reasons = _disconnect_reasons(s)
    s.att("Read By Type Request", **READ_NAME)
    assert reasons == [ll.MIC_FAILURE]


def test_enc_req_on_an_encrypted_link_without_a_pause_is_rejected():
    s, bond = _encrypted()
    events = s.ll("LL_ENC_REQ", rand=bytes.fromhex(bond["rand"]), ediv=bond["ediv"], skdm=SKDM,
                  ivm=IVM)
    got = decoded(events, "ll")
    assert [d.name for d in got] == ["LL_REJECT_IND"]
    assert got[0].fields["error_code"] == ll.LMP_PDU_NOT_ALLOWED
    assert s.target.connected and s.device.link_layer.connection.encrypted


# --- procedure response timeout (5.2) ------------------------------------------------------------

def _after_timeout(s: Session, reasons: list[int], events: list) -> None:
    assert reasons == [ll.LMP_LL_RESPONSE_TIMEOUT]
    assert not any(e.kind == ev.PDU and e.src == ev.DEVICE for e in events)  # no TERMINATE_IND
    assert not s.target.connected
    assert s.device.link_layer.advertising


def test_no_start_enc_rsp_within_40_s_loses_the_link():
    s, bond = _bonded()
    s.ll("LL_ENC_REQ", rand=bytes.fromhex(bond["rand"]), ediv=bond["ediv"], skdm=SKDM, ivm=IVM)
    reasons = _disconnect_reasons(s)
    s.step("wait", seconds=39.9)
    assert s.target.connected and reasons == []
    events = s.step("wait", seconds=0.2)
    _after_timeout(s, reasons, events)


def test_no_pause_enc_rsp_within_40_s_loses_the_link():
    s, _ = _encrypted()
    s.ll("LL_PAUSE_ENC_REQ")
    reasons = _disconnect_reasons(s)
    s.step("wait", seconds=39.9)
    assert s.target.connected
    events = s.step("wait", seconds=0.2)
    _after_timeout(s, reasons, events)


def test_the_timer_stops_when_the_response_comes():
    s, bond = _encrypted()
    _encrypt(s, bond)
    reasons = _disconnect_reasons(s)
    s.step("wait", seconds=45)
    assert s.target.connected and reasons == []
