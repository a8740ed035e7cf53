"""The emulated Link Layer through EmulatorTarget primitives: encryption start with a good and a
bad key, MIC failures, unknown and malformed control PDUs, feature exchange, termination."""

from __future__ import annotations

import pytest
from test_emulator_common import BOND_SHARING, CUSTOM_BOOTLOADER, Session, decoded, names

from fuzzer.protocol import l2cap, ll
from fuzzer.trace import events as ev

RAND = bytes.fromhex("1122334455667788")
SKDM = bytes.fromhex("0102030405060708")
IVM = bytes.fromhex("a1a2a3a4")


def _bonded(name: str = BOND_SHARING) -> tuple[Session, dict]:
    """The iPhone bonds, disconnects and reconnects without encrypting yet."""
    s = Session(name)
    s.connect(to="app")
    s.proc("pair")
    bonds = s.events(ev.BOND)
    assert len(bonds) == 1
    s.step("disconnect")
    s.adv()
    s.step("connect", peer="iphone", address=bonds[0].info["device_address"])
    assert s.target.connected and not s.target.link.encrypted
    return s, bonds[0].info


def _encrypt(s: Session, bond: dict) -> list:
    return s.step("encrypt", ltk=bond["ltk"], ediv=bond["ediv"], rand=bond["rand"],
                  key_size=bond["key_size"])


class _BitErrors:
    """A link cipher whose output has a bit error in the MIC (the last octet)."""

    def __init__(self, cipher) -> None:
        self.cipher = cipher

    def encrypt(self, *args, **kwargs) -> bytes:
        out = bytearray(self.cipher.encrypt(*args, **kwargs))
        out[-1] ^= 0x80
        return bytes(out)

    def decrypt(self, *args, **kwargs):
        return self.cipher.decrypt(*args, **kwargs)


def _disconnect_reasons(s: Session) -> list[int]:
    reasons: list[int] = []
    s.firmware.host.disconnected_callbacks.append(reasons.append)
    return reasons


# --- encryption start ----------------------------------------------------------------------------

@pytest.mark.parametrize("name", [BOND_SHARING, CUSTOM_BOOTLOADER])
def test_enc_req_with_unknown_ediv_rand_is_rejected_with_key_missing(name):
    s = Session(name)
    s.connect(to="app")
    events = s.ll("LL_ENC_REQ", rand=RAND, ediv=0x1234, skdm=SKDM, ivm=IVM)
    got = decoded(events, "ll")
    assert [d.name for d in got] == ["LL_ENC_RSP", "LL_REJECT_IND"]
    assert got[1].fields["error_code"] == ll.PIN_OR_KEY_MISSING == 0x06
    assert s.target.connected
    assert not s.device.link_layer.connection.encrypted


def test_enc_req_with_a_bonded_ediv_but_wrong_rand_is_rejected():
    s, bond = _bonded()
    events = s.ll("LL_ENC_REQ", rand=RAND, ediv=bond["ediv"], skdm=SKDM, ivm=IVM)
    got = decoded(events, "ll")
    assert got[-1].name == "LL_REJECT_IND" and got[-1].fields["error_code"] == 0x06


def test_encrypt_with_wrong_ltk_fails():
    s, bond = _bonded()
    events = s.step("encrypt", ltk="00" * 16, ediv=bond["ediv"], rand=bond["rand"])
    enc = [e for e in events if e.kind == ev.ENCRYPTION]
    assert enc and all(e.info["state"] != "on" for e in enc)
    assert not s.firmware.host.security.encrypted


def test_encrypt_with_bonded_ltk_turns_encryption_on():
    s, bond = _bonded()
    events = _encrypt(s, bond)
    on = [e for e in events if e.kind == ev.ENCRYPTION and e.info["state"] == "on"]
    assert len(on) == 1
    assert on[0].info["ltk"] == bond["ltk"]
    assert s.target.link.encrypted and s.target.link.key_size == bond["key_size"]
    assert s.firmware.host.security.encrypted
    assert s.device.link_layer.connection.encrypted
    # the procedure's PDUs: ENC_REQ/ENC_RSP/START_ENC_REQ in the clear, then START_ENC_RSP
    assert names(events, "ll") == ["LL_ENC_RSP", "LL_START_ENC_REQ", "LL_START_ENC_RSP"]


def test_pdus_after_encryption_are_ciphertext_with_a_mic():
    s, bond = _bonded()
    clear = s.ll("LL_FEATURE_REQ", feature_set=bytes(8))
    [rsp] = [e for e in clear if e.kind == ev.PDU and e.src == ev.DEVICE]
    assert rsp.air[0][2:] == rsp.data  # before encryption: the payload is on air as is
    clear_att = s.att("Read By Type Request", starting_handle=1, ending_handle=0xFFFF,
                      attribute_type=bytes.fromhex("382a"))
    [att_rsp] = [e for e in clear_att if e.kind == ev.PDU and e.src == ev.DEVICE]
    assert b"".join(a[2:] for a in att_rsp.air) == l2cap.frame(l2cap.CID_ATT, att_rsp.data)

    _encrypt(s, bond)
    later = s.ll("LL_FEATURE_REQ", feature_set=bytes(8))
    later += s.att("Read By Type Request", starting_handle=1, ending_handle=0xFFFF,
                   attribute_type=bytes.fromhex("382a"))
    pdus = [e for e in later if e.kind == ev.PDU]
    assert {e.src for e in pdus} == {ev.TESTER, ev.DEVICE}
    for e in pdus:
        assert len(e.air) == 1
        air = e.air[0]
        plain = e.data if e.layer == "ll" else l2cap.frame(l2cap.CID_ATT, e.data)
        assert len(air) == 2 + len(plain) + 4, e
        assert air[1] == len(plain) + 4
        assert air[2:2 + len(plain)] != plain
        assert plain not in air
        assert e.link is not None and e.link.encrypted
    # and the encrypted link gets the protected value
    att_names = names(later, "att")
    assert att_names == ["Read By Type Response"]


# --- MIC failure ---------------------------------------------------------------------------------

def _after_mic_failure(s: Session, reasons: list[int], events: list) -> None:
    disc = [e for e in events if e.kind == ev.DISCONNECT]
    assert len(disc) == 1, "the tester did not see the link end"
    assert not s.target.connected
    assert reasons == [ll.MIC_FAILURE]  # the device's host: reason 0x3D
    assert not any(e.kind == ev.PDU and e.src == ev.DEVICE for e in events)
    assert s.device.link_layer.connection is None
    assert s.device.link_layer.advertising
    assert s.adv().info["name"] == "Nordic_HRM"


def test_unencrypted_pdu_after_encryption_is_a_mic_failure():
    s, bond = _bonded()
    _encrypt(s, bond)
    reasons = _disconnect_reasons(s)
    conn = s.target._conn
    conn.channel.tx_encrypted = False  # the tester's radio sends the next PDU in the clear
    events = s.att("Read By Type Request", starting_handle=1, ending_handle=0xFFFF,
                   attribute_type=bytes.fromhex("382a"))
    sent = [e for e in events if e.kind == ev.PDU and e.src == ev.TESTER]
    assert sent and sent[0].air[0][2:] == l2cap.frame(l2cap.CID_ATT, sent[0].data)
    _after_mic_failure(s, reasons, events)


def test_corrupted_encrypted_pdu_is_a_mic_failure():
    s, bond = _bonded()
    _encrypt(s, bond)
    reasons = _disconnect_reasons(s)
    conn = s.target._conn
    conn.channel.cipher = _BitErrors(conn.channel.cipher)
    events = s.ll("LL_FEATURE_REQ", feature_set=bytes(8))
    _after_mic_failure(s, reasons, events)


def test_the_device_still_works_after_a_mic_failure():
    s, bond = _bonded()
    _encrypt(s, bond)
    s.target._conn.channel.tx_encrypted = False
    s.ll("LL_FEATURE_REQ", feature_set=bytes(8))
    assert not s.target.connected
    s.proc("reconnect_bonded", peer="iphone")
    assert s.target.link is not None and s.target.link.encrypted


# --- other control PDUs --------------------------------------------------------------------------

@pytest.mark.parametrize("opcode", [0x1A, 0x7F, 0xFF])
def test_unknown_opcode_gets_unknown_rsp(opcode):
    s = Session(BOND_SHARING)
    s.connect(to="app")
    events = s.step("ll", pdu=bytes((opcode,)).hex())
    got = decoded(events, "ll")
    assert [d.name for d in got] == ["LL_UNKNOWN_RSP"]
    assert got[0].fields["unknown_type"] == opcode
    assert s.target.connected


def test_malformed_known_opcode_gets_unknown_rsp():
    s = Session(BOND_SHARING)
    s.connect(to="app")
    events = s.step("ll", pdu="08" + "00" * 3)  # LL_FEATURE_REQ needs 8 octets of features
    got = decoded(events, "ll")
    assert [d.name for d in got] == ["LL_UNKNOWN_RSP"]
    assert got[0].fields["unknown_type"] == ll.LL_FEATURE_REQ


def test_feature_req_gets_feature_rsp():
    s = Session(BOND_SHARING)
    s.connect(to="app")
    events = s.ll("LL_FEATURE_REQ", feature_set=(0xFF).to_bytes(8, "little"))
    got = decoded(events, "ll")
    assert [d.name for d in got] == ["LL_FEATURE_RSP"]
    features = int.from_bytes(got[0].fields["feature_set"], "little")
    assert features & ll.FEATURE_LE_ENCRYPTION
    assert features & ll.FEATURE_LE_PING  # bluetooth_version 4.1


def test_version_ind_is_answered_once():
    s = Session(BOND_SHARING)
    s.connect(to="app")
    first = decoded(s.ll("LL_VERSION_IND", version=9, company=0x000F, subversion=1), "ll")
    assert [d.name for d in first] == ["LL_VERSION_IND"]
    assert first[0].fields["company"] == 0x0059 and first[0].fields["version"] == 7
    second = s.ll("LL_VERSION_IND", version=9, company=0x000F, subversion=1)
    assert names(second, "ll") == []


def test_ping_req_gets_ping_rsp():
    s = Session(BOND_SHARING)
    s.connect(to="app")
    assert names(s.ll("LL_PING_REQ"), "ll") == ["LL_PING_RSP"]


def test_terminate_ind_ends_the_link():
    s = Session(BOND_SHARING)
    s.connect(to="app")
    reasons = _disconnect_reasons(s)
    events = s.ll("LL_TERMINATE_IND", error_code=ll.REMOTE_USER_TERMINATED)
    assert reasons == [ll.REMOTE_USER_TERMINATED]
    assert s.device.link_layer.connection is None
    assert any(e.kind == ev.DISCONNECT for e in events)
    assert not s.target.connected
    assert s.device.link_layer.advertising
    assert s.adv().info["address"] == "C2:5A:3B:11:22:33"


def test_disconnect_step_ends_the_link_on_both_sides():
    s = Session(BOND_SHARING)
    s.connect(to="app")
    reasons = _disconnect_reasons(s)
    events = s.step("disconnect")
    disc = [e for e in events if e.kind == ev.DISCONNECT]
    assert len(disc) == 1 and disc[0].info["by"] == ev.TESTER
    assert reasons == [ll.REMOTE_USER_TERMINATED]
    assert s.device.link_layer.connection is None and s.device.link_layer.advertising


def test_clear_pdu_during_encryption_start_ends_the_link():
    # After LL_START_ENC_REQ the device receives encrypted only (5.1.3.1)
    s, bond = _bonded()
    reasons = _disconnect_reasons(s)
    events = s.ll("LL_ENC_REQ", rand=bytes.fromhex(bond["rand"]), ediv=bond["ediv"],
                  skdm=SKDM, ivm=IVM)
    assert names(events, "ll") == ["LL_ENC_RSP", "LL_START_ENC_REQ"]
    assert s.device.link_layer.connection.enc_state == "starting"
    # the tester's radio never installed the session key, so this PDU goes out in the clear
    s.ll("LL_FEATURE_REQ", feature_set=bytes(8))
    assert reasons == [ll.MIC_FAILURE]
    assert not s.target.connected
