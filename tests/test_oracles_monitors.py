"""Each monitor fed hand-made trace events: the pass, fail and inconclusive logic directly."""

from __future__ import annotations

from fuzzer.oracles.base import FAIL, INCONCLUSIVE, PASS
from fuzzer.oracles.bond_enc import BondedReconnection
from fuzzer.oracles.bond_gate import EncryptedAttributeGate
from fuzzer.oracles.invariants import MONITORS, load_invariants
from fuzzer.oracles.liveness import Liveness
from fuzzer.oracles.ltk_leak import LtkLeak
from fuzzer.paths import specs_dir
from fuzzer.protocol import att, ll, smp
from fuzzer.trace import events as ev
from fuzzer.trace.events import Link, Trace

DEV = "C2:5A:3B:11:22:33"
IPHONE = "4C:57:CA:10:20:30"
LTK = bytes.fromhex("87a1ef9b3adc0a6014cf732de3968873")
OTHER_LTK = bytes.fromhex("00112233445566778899aabbccddeeff")
BSL = bytes.fromhex("382a")  # Body Sensor Location, as on air


class Feed:
    """A trace with one monitor subscribed; helpers add typical events."""

    def __init__(self, monitor) -> None:
        self.monitor = monitor
        self.trace = Trace()
        self.trace.subscribe(monitor.observe)
        self.t = 0
        self.link = Link(1, "iphone", IPHONE, DEV, 0x50654C3A, 0x123456)

    def add(self, kind, src=ev.TESTER, layer=None, data=b"", air=(), link=None, info=None):
        self.t += 1000
        return self.trace.add(self.t, kind, src, layer, data, air, link, info)

    def step(self, index: int, op: str = "x"):
        self.trace.step = index
        return self.add(ev.STEP, info={"index": index, "op": op, "args": {}, "label": ""})

    def adv(self, name="Nordic_HRM", address=DEV):
        return self.add(ev.ADV, ev.DEVICE, "adv", b"", info={"address": address, "name": name})

    def connect(self, peer="iphone", address=DEV, peer_address=IPHONE):
        self.link = Link(self.link.conn_id + 1, peer, peer_address, address, 0x50654C3A, 1)
        return self.add(ev.CONNECT, info={"peer": peer, "peripheral_address": address,
                                           "central_address": peer_address})

    def disconnect(self, by=ev.TESTER):
        return self.add(ev.DISCONNECT, by, info={"reason": 0x13, "by": by})

    def bond(self, peer="iphone", address=DEV, ltk=LTK):
        return self.add(ev.BOND, info={"peer": peer, "device_address": address,
                                        "connection_address": address, "ltk": ltk.hex(),
                                        "ediv": 1, "rand": "00" * 8, "key_size": 16})

    def key(self, peer="iphone", ltk=LTK, kind="LTK"):
        return self.add(ev.KEY, info={"peer": peer, "type": kind, "value": ltk.hex(),
                                       "device_address": DEV, "origin": "device"})

    def encryption(self, state, ltk=LTK, **info):
        if state == "on":
            self.link = self.link.with_encryption(True, 16)
        return self.add(ev.ENCRYPTION, ev.DEVICE, info={"state": state, "ltk": ltk.hex(), **info})

    def pdu(self, src, layer, data, air=None):
        if air is None:
            air = (bytes((2, len(data))) + data,)
        return self.add(ev.PDU, src, layer, data, air, self.link)

    def att(self, src, name, **fields):
        return self.pdu(src, "att", att.ATT.encode(name, **fields))


# --- BOND-ENC ------------------------------------------------------------------------------------

def _bonded_reconnect(state: str, ltk: bytes = LTK, **info):
    f = Feed(BondedReconnection("BOND-ENC"))
    f.step(0)
    f.bond()
    f.disconnect()
    f.step(1)
    f.adv("DfuTarg")
    f.connect()
    f.pdu(ev.TESTER, "ll", ll.LL_CONTROL.encode("LL_ENC_REQ", rand=bytes(8), ediv=1,
                                                 skdm=bytes(8), ivm=bytes(4)))
    f.encryption(state, ltk, **info)
    return f, f.monitor.finish()


def test_bond_enc_pass_when_bonded_reconnection_encrypts():
    f, verdict = _bonded_reconnect("on")
    assert verdict.status == PASS and verdict.checked == 1
    assert verdict.support == [e for e in f.trace if e.kind == ev.ENCRYPTION]


def test_bond_enc_fail_when_encryption_with_the_bonded_ltk_fails():
    f, verdict = _bonded_reconnect("failed", reason=0x06, reason_name="PIN_OR_KEY_MISSING",
                                   pdu="LL_REJECT_IND")
    assert verdict.status == FAIL
    v = verdict.violations[0]
    assert v.step == 1
    assert "'iphone' is bonded with C2:5A:3B:11:22:33 (advertising as 'DfuTarg')" in v.message
    assert v.message.endswith("LL_REJECT_IND PIN_OR_KEY_MISSING")
    kinds = [e.kind for e in v.events]
    assert kinds[0] == ev.CONNECT and kinds[-1] == ev.ENCRYPTION and ev.PDU in kinds


def test_bond_enc_ignores_encryption_under_another_key():
    _, verdict = _bonded_reconnect("failed", ltk=OTHER_LTK, reason=0x06)
    assert verdict.status == INCONCLUSIVE


def test_bond_enc_inconclusive_without_bonds_or_without_an_attempt():
    f = Feed(BondedReconnection("BOND-ENC"))
    f.connect()
    f.encryption("failed", reason=0x06)
    assert f.monitor.finish().status == INCONCLUSIVE
    f = Feed(BondedReconnection("BOND-ENC"))
    f.bond()
    f.connect()
    f.disconnect()
    verdict = f.monitor.finish()
    assert verdict.status == INCONCLUSIVE and f.monitor.unexercised == 1


def test_bond_enc_other_peer_or_other_address_is_not_a_bonded_reconnection():
    f = Feed(BondedReconnection("BOND-ENC"))
    f.bond()
    f.connect(peer="second_phone")
    f.encryption("failed", reason=0x06)
    f.disconnect()
    f.connect(address="C2:5A:3B:11:22:34")  # a new identity: not the bonded address
    f.encryption("failed", reason=0x06)
    assert f.monitor.finish().status == INCONCLUSIVE


# --- BOND-GATE -----------------------------------------------------------------------------------

def _gate(declared=("2A38",)):
    return Feed(EncryptedAttributeGate("BOND-GATE",
                                       context={"protected_characteristics": list(declared)}))


def _read_by_type(f: Feed, handle: int = 0x0C, value: bytes = b"\x01") -> None:
    f.att(ev.TESTER, "Read By Type Request", starting_handle=1, ending_handle=0xFFFF,
          attribute_type=BSL)
    f.att(ev.DEVICE, "Read By Type Response", length=2 + len(value),
          data=handle.to_bytes(2, "little") + value)


def test_bond_gate_fail_when_declared_attribute_is_served_unencrypted():
    f = _gate()
    f.adv()
    f.step(3)
    f.connect()
    _read_by_type(f)
    verdict = f.monitor.finish()
    assert verdict.status == FAIL
    v = verdict.violations[0]
    assert "handle 0x000c on C2:5A:3B:11:22:33" in v.message
    assert "suite declares" in v.message
    assert v.step == 3
    assert [e.src for e in v.events] == [ev.TESTER, ev.DEVICE]


def test_bond_gate_pass_when_served_only_encrypted():
    f = _gate()
    f.connect()
    f.encryption("on")
    _read_by_type(f)
    verdict = f.monitor.finish()
    assert verdict.status == PASS and verdict.checked == 1


def test_bond_gate_pass_on_refusal_only():
    f = _gate()
    f.connect()
    f.att(ev.TESTER, "Read By Type Request", starting_handle=1, ending_handle=0xFFFF,
          attribute_type=BSL)
    refusal = f.att(ev.DEVICE, "Error Response", request_opcode_in_error=att.READ_BY_TYPE_REQ,
                    attribute_handle_in_error=0x0C, error_code=att.INSUFFICIENT_AUTHENTICATION)
    verdict = f.monitor.finish()
    assert verdict.status == PASS and verdict.support == [refusal]


def test_bond_gate_fail_for_an_attribute_the_device_itself_refused():
    f = _gate(declared=())
    f.connect()
    f.att(ev.TESTER, "Read Request", attribute_handle=0x20)
    f.att(ev.DEVICE, "Error Response", request_opcode_in_error=att.READ_REQ,
          attribute_handle_in_error=0x20, error_code=att.INSUFFICIENT_ENCRYPTION)
    f.att(ev.TESTER, "Read Request", attribute_handle=0x20)
    f.att(ev.DEVICE, "Read Response", value=b"\x01")
    verdict = f.monitor.finish()
    assert verdict.status == FAIL
    assert "handle 0x0020" in verdict.violations[0].message
    assert "the device itself refused it" in verdict.violations[0].message
    assert len(verdict.violations[0].events) == 3


def test_bond_gate_undeclared_attribute_served_unencrypted_is_fine():
    f = _gate()
    f.connect()
    f.att(ev.TESTER, "Read Request", attribute_handle=0x03)
    f.att(ev.DEVICE, "Read Response", value=b"Nordic_HRM")
    verdict = f.monitor.finish()
    assert verdict.status == PASS and verdict.checked == 1


def test_bond_gate_inconclusive_without_attribute_access():
    f = _gate()
    f.connect()
    f.att(ev.TESTER, "Exchange MTU Request", mtu=247)
    f.att(ev.DEVICE, "Exchange MTU Response", mtu=23)
    assert f.monitor.finish().status == INCONCLUSIVE


# --- LTK-LEAK ------------------------------------------------------------------------------------

def test_ltk_leak_fail_on_a_held_key_on_air_in_either_byte_order():
    for key, reversed_note in ((LTK, False), (LTK[::-1], True)):
        f = Feed(LtkLeak("LTK-LEAK"))
        f.key()
        f.connect()
        f.pdu(ev.DEVICE, "smp", b"\x06" + key)
        verdict = f.monitor.finish()
        assert verdict.status == FAIL
        msg = verdict.violations[0].message
        assert "plaintext on air" in msg and "'iphone'" in msg
        assert ("byte-reversed" in msg) is reversed_note


def test_ltk_leak_fail_on_a_key_sent_to_another_peer():
    f = Feed(LtkLeak("LTK-LEAK"))
    f.bond()
    f.connect(peer="second_phone", peer_address="5A:11:22:33:44:55")
    f.encryption("on")
    f.pdu(ev.DEVICE, "smp", smp.SMP.encode("Encryption Information", long_term_key=LTK),
          air=(b"\x02\x15" + bytes(21),))  # encrypted on air: the key is only in the plaintext
    verdict = f.monitor.finish()
    assert verdict.status == FAIL
    assert verdict.violations[0].message == \
        "the device sent peer 'second_phone' the LTK bonded with 'iphone'"


def test_ltk_leak_pass_when_the_owner_gets_its_key_encrypted():
    f = Feed(LtkLeak("LTK-LEAK"))
    f.key()
    f.connect()
    f.encryption("on")
    f.pdu(ev.DEVICE, "smp", smp.SMP.encode("Encryption Information", long_term_key=LTK),
          air=(b"\x02\x15" + bytes(21),))
    f.pdu(ev.DEVICE, "att", b"\x0b\x01")
    verdict = f.monitor.finish()
    assert verdict.status == PASS and verdict.checked == 2


def test_ltk_leak_ignores_all_zero_keys_and_pdus_before_any_key():
    f = Feed(LtkLeak("LTK-LEAK"))
    f.connect()
    f.pdu(ev.DEVICE, "smp", b"\x06" + LTK)  # no key held yet
    f.key(ltk=bytes(16))
    f.pdu(ev.DEVICE, "smp", b"\x06" + bytes(16))
    verdict = f.monitor.finish()
    assert verdict.status == PASS and verdict.checked == 0


# --- LIVENESS ------------------------------------------------------------------------------------

def test_liveness_fail_when_a_request_is_not_answered_before_the_next_step():
    f = Feed(Liveness("LIVENESS"))
    f.step(0)
    f.connect()
    f.step(1)
    f.att(ev.TESTER, "Read By Type Request", starting_handle=1, ending_handle=0xFFFF,
          attribute_type=BSL)
    nxt = f.step(2)
    verdict = f.monitor.finish()
    assert verdict.status == FAIL
    v = verdict.violations[0]
    assert v.message == "the device did not answer Read By Type Request"
    assert v.step == 1 and v.events[-1] is nxt


def test_liveness_fail_when_unanswered_at_the_end():
    f = Feed(Liveness("LIVENESS"))
    f.step(0)
    f.connect()
    f.pdu(ev.TESTER, "ll", ll.LL_CONTROL.encode("LL_FEATURE_REQ", feature_set=bytes(8)))
    verdict = f.monitor.finish()
    assert verdict.status == FAIL and "LL_FEATURE_REQ" in verdict.message


def test_liveness_fail_when_not_advertising():
    f = Feed(Liveness("LIVENESS"))
    f.step(4)
    f.add(ev.SCAN_EMPTY, ev.DEVICE, info={})
    verdict = f.monitor.finish()
    assert verdict.status == FAIL
    assert verdict.violations[0].message == "the device is not advertising (no link is up)"
    assert verdict.violations[0].step == 4


def _answered_read(f: Feed) -> None:
    """Step 0: the device advertises, a link comes up and a Read Request is answered; then
    step 1 begins."""
    f.step(0)
    f.adv()
    f.connect()
    f.att(ev.TESTER, "Read Request", attribute_handle=3)
    f.att(ev.DEVICE, "Read Response", value=b"x")
    f.step(1)


def test_liveness_pass_when_answered_or_the_link_ends():
    f = Feed(Liveness("LIVENESS"))
    _answered_read(f)
    f.pdu(ev.TESTER, "smp", smp.SMP.encode(
        "Pairing Request", io_capability=3, oob_data_flag=0, authreq=1,
        max_encryption_key_size=16, initiator_key_distribution=3, responder_key_distribution=3))
    f.disconnect(by=ev.DEVICE)
    f.step(2)
    verdict = f.monitor.finish()
    assert verdict.status == PASS
    assert verdict.checked == 3  # two requests and one advertisement


def test_liveness_commands_and_notifications_need_no_answer():
    f = Feed(Liveness("LIVENESS"))
    f.step(0)
    f.connect()
    f.att(ev.TESTER, "Write Command", attribute_handle=3, value=b"\x01")
    f.pdu(ev.TESTER, "smp", smp.SMP.encode("Pairing Random", random_value=bytes(16)))
    f.pdu(ev.TESTER, "ll", ll.LL_CONTROL.encode("LL_TERMINATE_IND", error_code=0x13))
    f.step(1)
    verdict = f.monitor.finish()
    assert verdict.status == PASS and verdict.checked == 0


class Subscribed(Feed):
    """A trace the monitor subscribed itself to, as in the fuzz loop (a handler per kind of
    event, routed by the trace)."""

    def __init__(self, monitor) -> None:
        super().__init__(monitor)
        self.trace = Trace()
        monitor.subscribe(self.trace)


def _summary(verdict) -> tuple:
    return (verdict.status, verdict.message, verdict.checked,
            [(v.message, v.step, v.signature, [e.seq for e in v.events])
             for v in verdict.violations], [e.seq for e in verdict.support])


def _liveness_story(f: Feed):
    pairing_request = smp.SMP.encode(
        "Pairing Request", io_capability=3, oob_data_flag=0, authreq=1,
        max_encryption_key_size=16, initiator_key_distribution=3, responder_key_distribution=3)
    _answered_read(f)
    f.att(ev.TESTER, "Read Request", attribute_handle=3)  # not answered
    f.step(2)
    f.pdu(ev.TESTER, "ll", ll.LL_CONTROL.encode("LL_ENC_REQ", rand=bytes(8), ediv=0,
                                                skdm=bytes(8), ivm=bytes(4)))
    f.pdu(ev.DEVICE, "ll", ll.LL_CONTROL.encode("LL_ENC_RSP", skds=bytes(8), ivs=bytes(4)))
    f.att(ev.TESTER, "Read Request", attribute_handle=3)  # during the encryption start
    f.step(3)
    f.add(ev.ENCRYPTION, ev.DEVICE, link=f.link, info={"state": "on"})
    f.pdu(ev.TESTER, "smp", pairing_request)
    f.t += 31_000_000  # SMP silence past its timeout (Vol 3 Part H 3.4)
    f.pdu(ev.DEVICE, "smp", smp.SMP.encode("Pairing Failed", reason=8))
    f.step(4)
    f.pdu(ev.TESTER, "smp", pairing_request)  # SMP may be closed: need not be answered
    f.step(5)
    f.disconnect()
    f.connect()
    f.pdu(ev.TESTER, "smp", pairing_request)  # a new link: must be answered
    f.step(6)
    f.disconnect(by=ev.DEVICE)
    f.add(ev.SCAN_EMPTY, ev.DEVICE, info={})
    f.pdu(ev.TESTER, "ll", ll.LL_CONTROL.encode("LL_FEATURE_REQ", feature_set=bytes(8)))


def test_liveness_subscribed_judges_every_event_as_fed_alone():
    """Subscribed, LIVENESS gets each kind of event through its own handler: same violations,
    evidence and verdict as fed every event through observe."""
    alone = Feed(Liveness("LIVENESS"))
    subscribed = Subscribed(Liveness("LIVENESS"))
    for f in (alone, subscribed):
        _liveness_story(f)
    verdict = alone.monitor.finish()
    assert [v.signature for v in verdict.violations] == [
        "no-answer:att", "no-answer:smp", "not-advertising", "no-answer:ll"]
    assert _summary(subscribed.monitor.finish()) == _summary(verdict)


def test_bond_gate_subscribed_judges_every_event_as_fed_alone():
    """Subscribed, BOND-GATE gets ADV, CONNECT and each side's ATT PDUs through their own
    handlers: same violations, evidence and verdict as fed every event through observe."""
    context = {"protected_characteristics": ["2A38"]}
    alone = Feed(EncryptedAttributeGate("BOND-GATE", {}, context))
    subscribed = Subscribed(EncryptedAttributeGate("BOND-GATE", {}, context))
    for f in (alone, subscribed):
        f.adv()
        f.connect()
        f.att(ev.TESTER, "Read By Type Request", starting_handle=1, ending_handle=0xFFFF,
              attribute_type=BSL)
        f.att(ev.DEVICE, "Read By Type Response", length=3, data=b"\x0c\x00\x01")
        f.att(ev.TESTER, "Write Command", attribute_handle=0x0E, value=b"\x01")
        f.att(ev.TESTER, "Read Request", attribute_handle=0x0E)
        f.att(ev.DEVICE, "Error Response", request_opcode_in_error=att.READ_REQ,
              attribute_handle_in_error=0x0E, error_code=att.INSUFFICIENT_AUTHENTICATION)
    verdict = alone.monitor.finish()
    assert verdict.status == FAIL and len(verdict.violations) == 1
    assert _summary(subscribed.monitor.finish()) == _summary(verdict)


# --- the invariants file names these monitors ----------------------------------------------------

_STORY = ("BOND-ENC", "BOND-GATE", "LTK-LEAK", "LIVENESS")


def test_invariants_file_uses_the_monitors():
    invariants = {inv.id: inv for inv in load_invariants(specs_dir() / "invariants.yaml")}
    assert {k: v.monitor for k, v in invariants.items() if k in _STORY} == {
        "BOND-ENC": MONITORS["bonded_reconnection"],
        "BOND-GATE": MONITORS["encrypted_attribute_gate"],
        "LTK-LEAK": MONITORS["ltk_leak"],
        "LIVENESS": MONITORS["liveness"],
    }
    for inv in invariants.values():
        monitor = inv.new_monitor({"protected_characteristics": []})
        assert monitor.invariant_id == inv.id


def test_served_by_is_served_kept_by_octets() -> None:
    from fuzzer.oracles.att_access import served, served_by

    entries = bytes.fromhex("0200" "0a0300" "002a" "0400" "0a0500" "012a")  # 2 declarations
    request = att.read_by_type_request(1, 0xFFFF, bytes.fromhex("0328"))
    response = att.read_by_type_response(7, entries)
    rq, dec = att.ATT.decode(request), att.ATT.decode(response)
    first = served_by((request, response), rq, dec)
    assert first == tuple(served(rq, dec)) and len(first) == 2
    assert served_by((request, response), rq, dec) is first  # kept
