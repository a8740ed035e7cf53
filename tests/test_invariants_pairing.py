"""The pairing and link-encryption monitors fed hand-made trace events: pass, fail and
inconclusive for each (ZERO-LTK, KEY-SIZE, DHKEY-FIRST, PUBKEY-VALID, NO-REFLECTION, SMP-ORDER,
REPEATED-ATTEMPTS, AUTH-LEVEL, NO-DOWNGRADE, DEBUG-KEY)."""

from __future__ import annotations

import pytest

from fuzzer.crypto import p256
from fuzzer.oracles.auth_level import AuthLevel
from fuzzer.oracles.base import FAIL, INCONCLUSIVE, PASS
from fuzzer.oracles.debug_key import DebugKey
from fuzzer.oracles.dhkey_first import DhkeyFirst
from fuzzer.oracles.invariants import MONITORS, load_invariants
from fuzzer.oracles.key_size import KeySize
from fuzzer.oracles.no_downgrade import NoDowngrade
from fuzzer.oracles.no_reflection import NoReflection
from fuzzer.oracles.pubkey_valid import PubkeyValid
from fuzzer.oracles.repeated_attempts import RepeatedAttempts
from fuzzer.oracles.smp_order import DEVICE_MOVES, TESTER_MOVES, SmpOrder
from fuzzer.oracles.zero_ltk import ZeroLtk
from fuzzer.paths import specs_dir
from fuzzer.protocol import att, nordic_dfu, smp
from fuzzer.trace import events as ev
from fuzzer.trace.events import Link, Trace

DEV = "C2:5A:3B:11:22:33"
IPHONE = "4C:57:CA:10:20:30"
MALLORY = "5A:11:22:33:44:55"
STK = bytes(range(1, 17))
LTK = bytes.fromhex("87a1ef9b3adc0a6014cf732de3968873")
TESTER_KEY = p256.keypair_from_private(0x1234567)
DEVICE_KEY = p256.keypair_from_private(0x7654321)
TESTER_PK = {"public_key_x": TESTER_KEY.public_x, "public_key_y": TESTER_KEY.public_y}
DEVICE_PK = {"public_key_x": DEVICE_KEY.public_x, "public_key_y": DEVICE_KEY.public_y}
DEBUG_PK = {"public_key_x": p256.DEBUG_PUBLIC_X, "public_key_y": p256.DEBUG_PUBLIC_Y}
T, D = ev.TESTER, ev.DEVICE


class Feed:
    """A trace with one monitor subscribed; helpers add SMP, key and encryption events."""

    def __init__(self, monitor) -> None:
        self.monitor = monitor
        self.trace = Trace()
        self.trace.subscribe(monitor.observe)
        self.t = 0
        self.conn = 0
        self.link = Link(0, "iphone", IPHONE, DEV, 0x50654C3A, 1)
        self.step_index = 0
        self.connect_link = True  # False: CONNECT without a Link, as some back ends record it

    def add(self, kind, src=T, layer=None, data=b"", link=None, info=None):
        self.t += 1000
        return self.trace.add(self.t, kind, src, layer, data, (), link, info)

    def step(self):
        self.trace.step = self.step_index
        self.step_index += 1

    def wait(self, seconds: float) -> None:
        self.t += int(seconds * 1_000_000)

    def connect(self, peer="iphone", peer_address=IPHONE, address=DEV):
        self.conn += 1
        self.link = Link(self.conn, peer, peer_address, address, 0x50654C3A, 1)
        return self.add(ev.CONNECT, link=self.link if self.connect_link else None,
                        info={"peer": peer, "peripheral_address": address,
                              "central_address": peer_address})

    def disconnect(self):
        e = self.add(ev.DISCONNECT, T, link=self.link, info={"reason": 0x13, "by": T})
        return e

    def send(self, src, name, **fields):
        return self.add(ev.PDU, src, "smp", smp.SMP.encode(name, **fields), self.link)

    def raw(self, src, layer, data):
        return self.add(ev.PDU, src, layer, data, self.link)

    def att(self, src, name, **fields):
        return self.add(ev.PDU, src, "att", att.ATT.encode(name, **fields), self.link)

    def encryption(self, state, ltk=STK, key_size=16, src=D):
        if state == "on":
            self.link = self.link.with_encryption(True, key_size)
        elif state == "off":
            self.link = self.link.with_encryption(False)
        return self.add(ev.ENCRYPTION, src, info={"state": state, "ltk": ltk.hex(),
                                                   "key_size": key_size, "ediv": 0,
                                                   "rand": "00" * 8})

    def key(self, kind="STK", value=STK, **info):
        return self.add(ev.KEY, T, info={"peer": self.link.peer, "type": kind,
                                          "value": value.hex() if value is not None else None,
                                          "device_address": DEV, "origin": "derived", **info})

    def check(self, kind, valid):
        return self.add(ev.KEY, T, info={"peer": self.link.peer, "type": kind, "valid": valid})

    def bond(self, ltk=LTK, **info):
        base = {"peer": self.link.peer, "device_address": DEV, "connection_address": DEV,
                "ltk": ltk.hex(), "ediv": 1, "rand": "00" * 8, "key_size": 16,
                "method": "just_works"}
        return self.add(ev.BOND, T, info={**base, **info})

    # --- pairing fragments ---

    def request(self, authreq=smp.BONDING, size=16, io=smp.NO_INPUT_NO_OUTPUT, oob=0):
        return self.send(T, "Pairing Request", io_capability=io, oob_data_flag=oob,
                        authreq=authreq, max_encryption_key_size=size,
                        initiator_key_distribution=3, responder_key_distribution=3)

    def response(self, authreq=smp.BONDING, size=16, io=smp.NO_INPUT_NO_OUTPUT, oob=0):
        return self.send(D, "Pairing Response", io_capability=io, oob_data_flag=oob,
                        authreq=authreq, max_encryption_key_size=size,
                        initiator_key_distribution=3, responder_key_distribution=3)

    def failed(self, src=D, reason=smp.UNSPECIFIED_REASON):
        return self.send(src, "Pairing Failed", reason=reason)

    def legacy(self, stk=STK, ltk=LTK, size=16, authreq=smp.BONDING, bond=True, **key_info):
        """An honest legacy Just Works pairing with key distribution and a bond."""
        self.request(authreq=authreq, size=size)
        self.response(authreq=authreq, size=size)
        self.send(T, "Pairing Confirm", confirm_value=b"\x11" * 16)
        self.send(D, "Pairing Confirm", confirm_value=b"\x22" * 16)
        self.send(T, "Pairing Random", random_value=b"\x33" * 16)
        self.send(D, "Pairing Random", random_value=b"\x44" * 16)
        self.key("STK", stk, **key_info)
        self.encryption("on", stk, key_size=size)
        self.send(D, "Encryption Information", long_term_key=ltk)
        self.send(D, "Central Identification", ediv=1, rand=bytes(8))
        self.key("LTK", ltk, origin="device", **key_info)
        if bond:
            self.bond(ltk, key_size=size)

    def sc(self, ltk=LTK, authreq=smp.BONDING | smp.SC, tester_pk=None, device_pk=None,
           bond=True, **key_info):
        """An honest LE Secure Connections Just Works pairing."""
        self.request(authreq=authreq)
        self.response(authreq=authreq)
        self.send(T, "Pairing Public Key", **(tester_pk or TESTER_PK))
        self.send(D, "Pairing Public Key", **(device_pk or DEVICE_PK))
        self.send(D, "Pairing Confirm", confirm_value=b"\x22" * 16)
        self.send(T, "Pairing Random", random_value=b"\x33" * 16)
        self.send(D, "Pairing Random", random_value=b"\x44" * 16)
        self.send(T, "Pairing DHKey Check", dhkey_check=b"\x55" * 16)
        self.send(D, "Pairing DHKey Check", dhkey_check=b"\x66" * 16)
        self.key("LTK", ltk, **key_info)
        self.encryption("on", ltk)
        self.send(D, "Identity Information", identity_resolving_key=b"\x77" * 16)
        if bond:
            self.bond(ltk, secure_connections=True, **key_info)

    def verdict(self):
        return self.monitor.finish()


# --- the registry and the invariants file --------------------------------------------------------

NEW = {
    "ZERO-LTK": ("zero_ltk", ZeroLtk), "KEY-SIZE": ("key_size", KeySize),
    "DHKEY-FIRST": ("dhkey_first", DhkeyFirst), "PUBKEY-VALID": ("pubkey_valid", PubkeyValid),
    "NO-REFLECTION": ("no_reflection", NoReflection), "SMP-ORDER": ("smp_order", SmpOrder),
    "REPEATED-ATTEMPTS": ("repeated_attempts", RepeatedAttempts),
    "AUTH-LEVEL": ("auth_level", AuthLevel), "NO-DOWNGRADE": ("no_downgrade", NoDowngrade),
    "DEBUG-KEY": ("debug_key", DebugKey),
}


def test_new_invariants_are_registered_and_described():
    invariants = {inv.id: inv for inv in load_invariants(specs_dir() / "invariants.yaml")}
    for inv_id, (name, cls) in NEW.items():
        assert MONITORS[name] is cls
        inv = invariants[inv_id]
        assert inv.monitor is cls
        assert inv.title and inv.statement and inv.explanation and inv.fixes
        assert any("Vol" in r for r in inv.references), inv_id
        assert inv.new_monitor({}).invariant_id == inv_id
    assert any("CVE-2019-19194" in r for r in invariants["ZERO-LTK"].references)
    assert any("CVE-2019-9506" in r for r in invariants["KEY-SIZE"].references)
    assert any("CVE-2018-5383" in r for r in invariants["PUBKEY-VALID"].references)
    assert any("CVE-2020-26558" in r for r in invariants["NO-REFLECTION"].references)
    assert any("CVE-2020-13593" in r for r in invariants["DHKEY-FIRST"].references)
    assert any("CVE-2020-15802" in r for r in invariants["NO-DOWNGRADE"].references)


@pytest.mark.parametrize("cls", [c for _, c in NEW.values()])
def test_inconclusive_on_an_empty_trace(cls):
    verdict = cls("X").finish()
    assert verdict.status == INCONCLUSIVE and verdict.checked == 0


# --- ZERO-LTK ------------------------------------------------------------------------------------

def test_zero_ltk_pass_for_keys_from_pairing_and_bond():
    f = Feed(ZeroLtk("ZERO-LTK"))
    f.connect_link = False
    f.connect()
    f.legacy()
    f.disconnect()
    f.connect()
    f.encryption("on", LTK)
    v = f.verdict()
    assert v.status == PASS and v.checked == 2


def test_zero_ltk_fail_on_an_all_zero_key():
    f = Feed(ZeroLtk("ZERO-LTK"))
    f.step()
    f.connect()
    f.raw(T, "ll", bytes((0x03,)) + bytes(22))  # LL_ENC_REQ
    on = f.encryption("on", bytes(16))
    v = f.verdict()
    assert v.status == FAIL
    assert "all-zero LTK" in v.message and DEV in v.message
    assert v.violations[0].events[-1] is on and v.violations[0].events[0].layer == "ll"


def test_zero_ltk_fail_on_a_key_never_held_or_held_for_another_device():
    f = Feed(ZeroLtk("ZERO-LTK"))
    f.connect()
    f.encryption("on", LTK)
    assert f.verdict().violations[0].signature == "unknown"
    f = Feed(ZeroLtk("ZERO-LTK"))
    f.connect()
    f.bond(LTK, device_address="C2:00:00:00:00:01", connection_address="C2:00:00:00:00:01")
    f.encryption("on", LTK)
    v = f.verdict()
    assert v.status == FAIL and v.violations[0].signature == "other-device"


def test_zero_ltk_inconclusive_when_encryption_only_fails():
    f = Feed(ZeroLtk("ZERO-LTK"))
    f.connect()
    f.encryption("failed", bytes(16))
    assert f.verdict().status == INCONCLUSIVE


# --- KEY-SIZE ------------------------------------------------------------------------------------

def test_key_size_pass_for_an_honest_pairing_and_a_refused_bad_request():
    f = Feed(KeySize("KEY-SIZE"))
    f.connect()
    f.legacy(stk=STK[:7] + bytes(9), ltk=LTK[:7] + bytes(9), size=7)
    f.request(size=6)
    refusal = f.failed(reason=smp.ENCRYPTION_KEY_SIZE)
    v = f.verdict()
    assert v.status == PASS and refusal in v.support


@pytest.mark.parametrize("size", [0, 6, 17, 255])
def test_key_size_fail_when_a_bad_request_is_accepted(size):
    f = Feed(KeySize("KEY-SIZE"))
    f.connect()
    f.request(size=size)
    f.response()
    assert f.monitor.violations == []  # answering alone is not yet pairing
    f.send(T, "Pairing Confirm", confirm_value=bytes(16))
    f.send(D, "Pairing Confirm", confirm_value=bytes(16))
    v = f.verdict()
    assert v.status == FAIL
    assert f"Maximum Encryption Key Size {size}" in v.message
    assert v.violations[0].signature == "accepted-size"


def test_key_size_fail_below_the_device_minimum():
    f = Feed(KeySize("KEY-SIZE", context={"min_key_size": 16}))
    f.connect()
    f.request(size=16)
    f.response(size=10)  # negotiates 10 < 16
    f.send(D, "Pairing Confirm", confirm_value=bytes(16))
    assert "below the device's minimum 16" in f.verdict().message


def test_key_size_fail_on_unmasked_keys_and_odd_link_sizes():
    f = Feed(KeySize("KEY-SIZE"))
    f.connect()
    f.legacy(stk=STK[:7] + bytes(9), ltk=LTK, size=7)  # the device's LTK is not masked to 7
    v = f.verdict()
    assert v.status == FAIL and v.violations[0].signature == "unmasked-distributed"
    f = Feed(KeySize("KEY-SIZE"))
    f.connect()
    f.legacy(stk=STK, ltk=LTK[:7] + bytes(9), size=7)  # encryption under an unmasked STK
    assert f.verdict().violations[0].signature == "unmasked-link"
    f = Feed(KeySize("KEY-SIZE"))
    f.connect()
    f.encryption("on", LTK, key_size=20)
    assert f.verdict().violations[0].signature == "link-size"


def test_key_size_checks_a_bonded_reconnection_against_the_bond_size():
    f = Feed(KeySize("KEY-SIZE"))
    f.connect()
    f.bond(LTK, key_size=8)
    f.disconnect()
    f.connect()
    f.encryption("on", LTK, key_size=8)
    assert f.verdict().violations[0].signature == "unmasked-link"


# --- DHKEY-FIRST ---------------------------------------------------------------------------------

def test_dhkey_first_pass_for_honest_legacy_and_sc_pairings():
    for pair, connect_link in ((Feed.legacy, True), (Feed.sc, False)):
        f = Feed(DhkeyFirst("DHKEY-FIRST"))
        f.connect_link = connect_link
        f.connect()
        pair(f)
        v = f.verdict()
        assert v.status == PASS and v.checked >= 2


def test_dhkey_first_fail_when_sc_keys_come_before_the_device_dhkey_check():
    f = Feed(DhkeyFirst("DHKEY-FIRST"))
    f.connect()
    f.request(authreq=smp.BONDING | smp.SC)
    f.response(authreq=smp.BONDING | smp.SC)
    f.send(T, "Pairing Public Key", **TESTER_PK)
    f.send(D, "Pairing Public Key", **DEVICE_PK)
    f.key("LTK", LTK)
    on = f.encryption("on", LTK)  # DHKey checks skipped
    v = f.verdict()
    assert v.status == FAIL
    assert "before the device sent its Pairing DHKey Check" in v.message
    assert v.violations[0].events[-1] is on and v.violations[0].signature == "early:sc"


def test_dhkey_first_fail_when_legacy_keys_come_before_the_device_random():
    f = Feed(DhkeyFirst("DHKEY-FIRST"))
    f.connect()
    f.request()
    f.response()
    f.send(D, "Encryption Information", long_term_key=LTK)
    v = f.verdict()
    assert v.status == FAIL and "Pairing Random" in v.message
    assert v.violations[0].signature == "early:legacy"


def test_dhkey_first_fail_when_the_tester_check_was_invalid():
    f = Feed(DhkeyFirst("DHKEY-FIRST"))
    f.connect()
    f.request(authreq=smp.SC)
    f.response(authreq=smp.SC)
    f.send(T, "Pairing DHKey Check", dhkey_check=bytes(16))
    f.check("DHKeyCheck", False)
    f.send(D, "Pairing DHKey Check", dhkey_check=bytes(16))
    v = f.verdict()
    assert v.status == FAIL and "tester's DHKey Check was invalid" in v.message
    f = Feed(DhkeyFirst("DHKEY-FIRST"))
    f.connect()
    f.request()
    f.response()
    f.send(T, "Pairing Confirm", confirm_value=bytes(16))
    f.check("Mconfirm", False)
    f.send(D, "Pairing Confirm", confirm_value=bytes(16))
    f.send(T, "Pairing Random", random_value=bytes(16))
    f.send(D, "Pairing Random", random_value=bytes(16))
    assert "tester's Pairing Confirm was invalid" in f.verdict().message


def test_dhkey_first_pass_when_an_invalid_check_is_refused():
    f = Feed(DhkeyFirst("DHKEY-FIRST"))
    f.connect()
    f.request(authreq=smp.SC)
    f.response(authreq=smp.SC)
    f.check("DHKeyCheck", False)
    refusal = f.failed(reason=smp.DHKEY_CHECK_FAILED)
    v = f.verdict()
    assert v.status == PASS and v.support == [refusal]


def test_dhkey_first_reads_only_its_key_types_and_survives_an_odd_one():
    # the tracker routes KEY events without an STK or LTK by type (OTHER_KEYS): an IRK or a
    # type that is no name at all reaches no hook, the invalid check still does
    f = Feed(DhkeyFirst("DHKEY-FIRST"))
    f.connect()
    f.request(authreq=smp.SC)
    f.response(authreq=smp.SC)
    f.add(ev.KEY, T, link=f.link, info={"type": "IRK", "value": "00" * 16, "valid": False})
    f.add(ev.KEY, T, link=f.link, info={"type": ["DHKeyCheck"], "valid": False})
    f.check("DHKeyCheck", False)
    refusal = f.failed(reason=smp.DHKEY_CHECK_FAILED)
    v = f.verdict()
    assert v.status == PASS and v.support == [refusal]


def test_dhkey_first_ignores_a_bond_key_used_during_a_pairing():
    f = Feed(DhkeyFirst("DHKEY-FIRST"))
    f.connect()
    f.bond(LTK)
    f.request()
    f.encryption("on", LTK)  # the earlier bond: not this pairing's key
    assert f.verdict().status == INCONCLUSIVE


# --- PUBKEY-VALID --------------------------------------------------------------------------------

def _bad_point():
    return {"public_key_x": TESTER_KEY.public_x, "public_key_y": bytes(32)}


def test_pubkey_valid_pass_when_the_device_refuses_or_stays_silent():
    f = Feed(PubkeyValid("PUBKEY-VALID"))
    f.connect()
    f.request(authreq=smp.SC)
    f.response(authreq=smp.SC)
    f.send(T, "Pairing Public Key", **_bad_point())
    refusal = f.failed(reason=smp.DHKEY_CHECK_FAILED)
    f.request(authreq=smp.SC)  # a second try: silence
    f.send(T, "Pairing Public Key", **_bad_point())
    v = f.verdict()
    assert v.status == PASS and v.checked == 2 and refusal in v.support


@pytest.mark.parametrize("progress", ["Pairing Confirm", "Pairing DHKey Check", "keys", "enc"])
def test_pubkey_valid_fail_when_the_device_goes_on(progress):
    f = Feed(PubkeyValid("PUBKEY-VALID"))
    f.connect()
    f.request(authreq=smp.SC)
    f.response(authreq=smp.SC)
    bad = f.send(T, "Pairing Public Key", **_bad_point())
    f.send(D, "Pairing Public Key", **DEVICE_PK)  # tolerated by itself
    assert f.monitor.violations == []
    if progress == "keys":
        f.send(D, "Identity Information", identity_resolving_key=bytes(16))
    elif progress == "enc":
        f.encryption("on", LTK)
    else:
        f.send(D, progress, **{"confirm_value" if "Confirm" in progress else "dhkey_check":
                              bytes(16)})
    v = f.verdict()
    assert v.status == FAIL and "not on P-256" in v.message
    assert bad in v.violations[0].events


def test_pubkey_valid_watches_a_public_key_sent_without_a_request():
    f = Feed(PubkeyValid("PUBKEY-VALID"))
    f.connect()
    f.send(T, "Pairing Public Key", **_bad_point())
    f.send(D, "Pairing Random", random_value=bytes(16))
    assert f.verdict().status == FAIL


def test_pubkey_valid_inconclusive_for_valid_keys():
    f = Feed(PubkeyValid("PUBKEY-VALID"))
    f.connect()
    f.sc()
    f.raw(T, "smp", b"\x0c" + bytes(5))  # a truncated public key: malformed, left alone
    assert f.verdict().status == INCONCLUSIVE


# --- NO-REFLECTION -------------------------------------------------------------------------------

def _reflect_public_key(f: Feed):
    f.request(authreq=smp.SC)
    f.response(authreq=smp.SC)
    f.send(T, "Pairing Public Key", **TESTER_PK)
    f.send(D, "Pairing Public Key", **DEVICE_PK)
    f.failed(T)
    f.request(authreq=smp.SC)
    f.response(authreq=smp.SC)
    return f.send(T, "Pairing Public Key", **DEVICE_PK)  # the device's own key, reflected


def test_no_reflection_fail_when_a_reflected_public_key_completes():
    f = Feed(NoReflection("NO-REFLECTION"))
    f.connect()
    reflected = _reflect_public_key(f)
    f.send(D, "Pairing Public Key", **DEVICE_PK)
    f.send(D, "Pairing DHKey Check", dhkey_check=bytes(16))
    v = f.verdict()
    assert v.status == FAIL
    assert "Pairing Public Key echoing the device's own public key X" in v.message
    assert reflected in v.violations[0].events


def test_no_reflection_fail_when_a_reflected_confirm_leads_to_encryption():
    f = Feed(NoReflection("NO-REFLECTION"))
    f.connect()
    f.request()
    f.response()
    f.send(T, "Pairing Confirm", confirm_value=b"\x11" * 16)
    f.send(D, "Pairing Confirm", confirm_value=b"\x22" * 16)
    f.request()
    f.response()
    f.send(T, "Pairing Confirm", confirm_value=b"\x22" * 16)
    f.encryption("on", STK)
    v = f.verdict()
    assert v.status == FAIL and "encryption came on" in v.message


def test_no_reflection_pass_when_the_reflection_is_refused():
    f = Feed(NoReflection("NO-REFLECTION"))
    f.connect()
    _reflect_public_key(f)
    refusal = f.failed()
    v = f.verdict()
    assert v.status == PASS and v.support == [refusal]


def test_no_reflection_inconclusive_for_honest_pairings():
    f = Feed(NoReflection("NO-REFLECTION"))
    f.connect()
    f.sc()
    f.legacy()
    assert f.verdict().status == INCONCLUSIVE


# --- SMP-ORDER -----------------------------------------------------------------------------------

def test_smp_order_tables_are_consistent():
    for state, moves in TESTER_MOVES.items():
        for nxt in moves.values():
            assert nxt in TESTER_MOVES, (state, nxt)
    for state, moves in DEVICE_MOVES.items():
        assert state in TESTER_MOVES
        for nxt in moves.values():
            assert nxt in TESTER_MOVES or nxt.isidentifier()


def test_smp_order_honest_pairings_are_inconclusive():
    f = Feed(SmpOrder("SMP-ORDER"))
    f.connect()
    f.legacy()
    f.send(T, "Encryption Information", long_term_key=LTK)
    f.send(T, "Central Identification", ediv=2, rand=bytes(8))
    f.sc()
    assert f.verdict().status == INCONCLUSIVE


def test_smp_order_passkey_entry_takes_twenty_rounds():
    f = Feed(SmpOrder("SMP-ORDER"))
    f.connect()
    f.request(authreq=smp.SC | smp.MITM, io=smp.KEYBOARD_ONLY)
    f.response(authreq=smp.SC | smp.MITM, io=smp.DISPLAY_ONLY)
    f.send(T, "Pairing Public Key", **TESTER_PK)
    f.send(D, "Pairing Public Key", **DEVICE_PK)
    for _ in range(20):
        f.send(T, "Pairing Keypress Notification", notification_type=1)  # neutral
        f.send(T, "Pairing Confirm", confirm_value=bytes(16))
        f.send(D, "Pairing Confirm", confirm_value=bytes(16))
        f.send(T, "Pairing Random", random_value=bytes(16))
        f.send(D, "Pairing Random", random_value=bytes(16))
    f.send(T, "Pairing DHKey Check", dhkey_check=bytes(16))
    f.send(D, "Pairing DHKey Check", dhkey_check=bytes(16))
    f.encryption("on", LTK)
    f.send(T, "Identity Information", identity_resolving_key=bytes(16))
    assert f.verdict().status == INCONCLUSIVE
    assert f.monitor.violations == []


def test_smp_order_oob_goes_straight_to_random():
    f = Feed(SmpOrder("SMP-ORDER"))
    f.connect()
    f.request(authreq=smp.SC, oob=1)
    f.response(authreq=smp.SC)
    f.send(T, "Pairing Public Key", **TESTER_PK)
    f.send(D, "Pairing Public Key", **DEVICE_PK)
    f.send(T, "Pairing Random", random_value=bytes(16))
    f.send(D, "Pairing Random", random_value=bytes(16))
    f.send(T, "Pairing DHKey Check", dhkey_check=bytes(16))
    assert f.verdict().status == INCONCLUSIVE


def test_smp_order_pass_when_an_early_pdu_is_refused():
    f = Feed(SmpOrder("SMP-ORDER"))
    f.connect()
    f.request()
    f.response()
    bad = f.send(T, "Pairing Random", random_value=bytes(16))  # before Pairing Confirm
    f.failed(reason=smp.UNSPECIFIED_REASON)
    f.legacy()  # a new Pairing Request starts afresh
    v = f.verdict()
    assert v.status == PASS and v.support == [bad]


def test_smp_order_fail_when_the_device_answers_an_early_pdu():
    f = Feed(SmpOrder("SMP-ORDER"))
    f.step()
    f.connect()
    f.request(authreq=smp.SC)
    f.response(authreq=smp.SC)
    f.send(T, "Pairing Public Key", **TESTER_PK)
    f.send(D, "Pairing Public Key", **DEVICE_PK)
    bad = f.send(T, "Pairing DHKey Check", dhkey_check=bytes(16))  # skips Random
    answer = f.send(D, "Pairing DHKey Check", dhkey_check=bytes(16))
    v = f.verdict()
    assert v.status == FAIL
    assert v.message.startswith("the tester sent Pairing DHKey Check out of sequence")
    assert "the device answered with Pairing DHKey Check" in v.message
    assert bad in v.violations[0].events and answer in v.violations[0].events
    assert v.violations[0].signature == "sc_wait_confirm:Pairing DHKey Check"


def test_smp_order_fail_when_a_pairing_completes_after_an_ignored_pdu():
    f = Feed(SmpOrder("SMP-ORDER"))
    f.connect()
    f.send(T, "Pairing Confirm", confirm_value=bytes(16))  # no Pairing Request at all
    f.send(D, "Pairing Failed", reason=smp.UNSPECIFIED_REASON)
    f.encryption("on", STK)
    v = f.verdict()
    assert v.status == FAIL and "encryption came on" in v.message


def test_smp_order_judges_key_distribution_after_an_early_pdu():
    # key distribution moves no state, so SMP-ORDER reads it only on a link it watches: once
    # the tester sent a PDU out of sequence there
    f = Feed(SmpOrder("SMP-ORDER"))
    f.connect()
    f.legacy()
    f.send(D, "Identity Information", identity_resolving_key=bytes(16))  # in sequence: fine
    f.request()
    f.response()
    bad = f.send(T, "Pairing Random", random_value=bytes(16))  # before Pairing Confirm
    answer = f.send(D, "Identity Information", identity_resolving_key=bytes(16))
    v = f.verdict()
    assert v.status == FAIL and "answered with Identity Information" in v.message
    assert bad in v.violations[0].events and answer in v.violations[0].events


def test_smp_order_malformed_pdus_are_not_judged():
    f = Feed(SmpOrder("SMP-ORDER"))
    f.connect()
    f.raw(T, "smp", b"\x03\x00")  # truncated Pairing Confirm
    f.raw(T, "smp", b"\x7f")  # unknown code
    assert f.verdict().status == INCONCLUSIVE


# --- REPEATED-ATTEMPTS ---------------------------------------------------------------------------

def _auth_failure(f: Feed, reason=smp.CONFIRM_VALUE_FAILED):
    f.request()
    f.response()
    f.send(T, "Pairing Confirm", confirm_value=bytes(16))
    f.send(D, "Pairing Confirm", confirm_value=b"\x01" * 16)
    f.send(T, "Pairing Random", random_value=bytes(16))
    return f.failed(reason=reason)


def test_repeated_attempts_pass_when_the_retry_is_refused():
    f = Feed(RepeatedAttempts("REPEATED-ATTEMPTS"))
    f.connect()
    _auth_failure(f)
    f.disconnect()
    f.connect()
    f.request()
    refusal = f.failed(reason=smp.REPEATED_ATTEMPTS)
    v = f.verdict()
    assert v.status == PASS and v.support == [refusal]


@pytest.mark.parametrize("reason", sorted(
    {smp.PASSKEY_ENTRY_FAILED, smp.CONFIRM_VALUE_FAILED, smp.DHKEY_CHECK_FAILED,
     smp.NUMERIC_COMPARISON_FAILED}))
def test_repeated_attempts_fail_when_the_retry_is_answered(reason):
    f = Feed(RepeatedAttempts("REPEATED-ATTEMPTS"))
    f.connect()
    failure = _auth_failure(f, reason)
    f.wait(1.5)
    retry = f.request()
    answer = f.response()
    v = f.verdict()
    assert v.status == FAIL
    assert f"peer {IPHONE} asked to pair again" in v.message
    assert "went on with Pairing Response" in v.message
    assert v.violations[0].events[:1] == [failure]
    assert retry in v.violations[0].events and answer in v.violations[0].events


def _advertise(f: Feed, dfu: bool) -> None:
    data = bytes.fromhex("020106") + (bytes([17, 0x07]) + nordic_dfu.SERVICE_UUID_BYTES if dfu
                                      else bytes.fromhex("03030d18"))
    f.add(ev.ADV, D, data=data, info={"address": DEV, "name": "DfuTarg" if dfu else "HRM"})


@pytest.mark.parametrize("images", [(False, True, False), (False, True)])
def test_repeated_attempts_forgotten_when_the_device_restarts_into_another_image(images):
    """Entering or leaving the DFU bootloader takes a reset: a waiting interval kept in RAM is
    gone (the device advertising the same image again says nothing)."""
    f = Feed(RepeatedAttempts("REPEATED-ATTEMPTS"))
    _advertise(f, images[0])
    f.connect()
    _auth_failure(f)
    f.disconnect()
    for dfu in images[1:]:
        _advertise(f, dfu)
    f.connect()
    f.request()
    f.response()
    assert f.verdict().status == INCONCLUSIVE


def test_repeated_attempts_remembered_while_the_device_keeps_its_image():
    f = Feed(RepeatedAttempts("REPEATED-ATTEMPTS"))
    _advertise(f, False)
    f.connect()
    _auth_failure(f)
    f.disconnect()
    _advertise(f, False)
    f.connect()
    f.request()
    f.response()
    assert f.verdict().status == FAIL


def test_repeated_attempts_hold_on_a_refusal_with_another_reason():
    """Refusing the retry for another reason (a bootloader that does not pair) also makes the
    peer wait."""
    f = Feed(RepeatedAttempts("REPEATED-ATTEMPTS"))
    f.connect()
    _auth_failure(f)
    f.request()
    f.failed(reason=smp.PAIRING_NOT_SUPPORTED)
    assert f.verdict().status == PASS


def test_repeated_attempts_inconclusive_outside_the_window_or_for_other_peers():
    f = Feed(RepeatedAttempts("REPEATED-ATTEMPTS", context={"window_s": 1.0}))
    f.connect()
    _auth_failure(f)
    f.wait(1.5)
    f.request()
    f.response()
    f.disconnect()
    f.connect(peer="mallory", peer_address=MALLORY)
    f.request()
    f.response()
    f.connect()
    f.request()
    f.failed(reason=smp.PAIRING_NOT_SUPPORTED)  # not an authentication failure
    f.request()
    f.response()
    assert f.verdict().status == INCONCLUSIVE


# --- AUTH-LEVEL ----------------------------------------------------------------------------------

MEASUREMENT = b"\x39\x2a"  # 0x2A39, as on air


def _read_by_type(f: Feed, handle=0x0C, uuid=MEASUREMENT):
    f.att(T, "Read By Type Request", starting_handle=1, ending_handle=0xFFFF,
          attribute_type=uuid)
    return f.att(D, "Read By Type Response", length=3, data=handle.to_bytes(2, "little") + b"\x01")


def test_auth_level_fail_when_a_declared_attribute_is_served_under_just_works():
    f = Feed(AuthLevel("AUTH-LEVEL", context={"authenticated_characteristics": ["2A39"]}))
    f.connect()
    f.bond(LTK, method="just_works")
    f.disconnect()
    f.connect()
    f.encryption("on", LTK)
    rsp = _read_by_type(f)
    v = f.verdict()
    assert v.status == FAIL
    assert "handle 0x000c" in v.message and "unauthenticated (Just Works) key" in v.message
    assert "suite declares" in v.message and v.violations[0].events[-1] is rsp


def test_auth_level_fail_for_an_attribute_the_device_refused_for_authentication():
    f = Feed(AuthLevel("AUTH-LEVEL"))
    f.connect()
    f.key("LTK", STK, authenticated=True)
    f.key("LTK", LTK, authenticated=False)
    f.encryption("on", STK)
    f.att(T, "Read Request", attribute_handle=0x20)
    f.att(D, "Read Response", value=b"\x01")
    f.encryption("off")
    f.encryption("on", LTK)
    f.att(T, "Write Request", attribute_handle=0x20, value=b"\x01")
    f.att(D, "Write Response")  # served first ...
    f.att(T, "Read Request", attribute_handle=0x20)
    f.att(D, "Error Response", request_opcode_in_error=att.READ_REQ,
          attribute_handle_in_error=0x20, error_code=att.INSUFFICIENT_AUTHENTICATION)
    v = f.verdict()  # ... then refused: whichever came first
    assert v.status == FAIL and "the device itself refused it" in v.message


def test_auth_level_learns_uuids_from_characteristic_discovery():
    f = Feed(AuthLevel("AUTH-LEVEL", context={
        "authenticated_characteristics": ["00002a39-0000-1000-8000-00805f9b34fb"]}))
    f.connect()
    f.key("STK", STK, authenticated=False)
    f.encryption("on", STK)
    f.att(T, "Read By Type Request", starting_handle=1, ending_handle=0xFFFF,
          attribute_type=b"\x03\x28")
    f.att(D, "Read By Type Response", length=7,
          data=b"\x0b\x00\x02\x0c\x00" + MEASUREMENT)
    f.att(T, "Read Request", attribute_handle=0x0C)
    f.att(D, "Read Response", value=b"\x01")
    assert f.verdict().status == FAIL


def test_auth_level_pass_when_refused_or_authenticated():
    f = Feed(AuthLevel("AUTH-LEVEL", context={"authenticated_characteristics": ["2A39"]}))
    f.connect()
    f.bond(LTK, method="passkey_initiator_inputs")
    f.encryption("on", LTK)
    _read_by_type(f)
    f.disconnect()
    f.connect()
    f.key("STK", STK, authenticated=False)
    f.encryption("on", STK)
    f.att(T, "Read Request", attribute_handle=0x0C)
    refusal = f.att(D, "Error Response", request_opcode_in_error=att.READ_REQ,
                    attribute_handle_in_error=0x0C, error_code=att.INSUFFICIENT_AUTHENTICATION)
    v = f.verdict()
    assert v.status == PASS and v.checked == 2 and v.support == [refusal]


def test_auth_level_inconclusive_on_unencrypted_links_or_unknown_keys():
    f = Feed(AuthLevel("AUTH-LEVEL", context={"authenticated_characteristics": ["2A39"]}))
    f.connect()
    _read_by_type(f)
    f.encryption("on", LTK)  # no KEY or BOND event says how it was made
    _read_by_type(f)
    assert f.verdict().status == INCONCLUSIVE


# --- NO-DOWNGRADE --------------------------------------------------------------------------------

def test_no_downgrade_fail_when_a_weaker_bond_replaces_a_stronger_one():
    f = Feed(NoDowngrade("NO-DOWNGRADE"))
    f.connect()
    strong = f.bond(LTK, method="passkey_initiator_inputs", secure_connections=True)
    f.disconnect()
    f.connect(peer="mallory")  # spoofs the iPhone's address
    weak = f.bond(STK, method="just_works", secure_connections=False)
    v = f.verdict()
    assert v.status == FAIL
    assert "weaker pairing (legacy, unauthenticated, 16-octet key)" in v.message
    assert "(Secure Connections, authenticated, 16-octet key)" in v.message
    assert v.violations[0].events == [strong, weak]


def test_no_downgrade_fail_when_encryption_uses_a_weaker_pairing_key():
    f = Feed(NoDowngrade("NO-DOWNGRADE"))
    f.connect()
    f.bond(LTK, authenticated=True, secure_connections=True)
    f.disconnect()
    f.connect()
    f.request(authreq=smp.BONDING)
    f.response(authreq=smp.BONDING)
    f.key("STK", STK, authenticated=False, secure_connections=False)
    f.encryption("on", STK)
    v = f.verdict()
    assert v.status == FAIL and v.violations[0].signature == "encryption"


def test_no_downgrade_allowed_by_policy():
    f = Feed(NoDowngrade("NO-DOWNGRADE", context={"allow_downgrade": True}))
    f.connect()
    f.bond(LTK, authenticated=True)
    f.bond(STK, authenticated=False)
    assert f.verdict().status == INCONCLUSIVE


def test_no_downgrade_pass_when_a_weaker_re_pairing_is_refused():
    f = Feed(NoDowngrade("NO-DOWNGRADE"))
    f.connect()
    f.bond(LTK, authenticated=True, secure_connections=True)
    f.request(authreq=smp.BONDING)
    refusal = f.failed(reason=smp.AUTHENTICATION_REQUIREMENTS)
    f.bond(STK, authenticated=True, secure_connections=True)  # same strength: fine
    v = f.verdict()
    assert v.status == PASS and v.checked == 2 and v.support[0] is refusal


def test_no_downgrade_incomparable_strengths_are_not_a_downgrade():
    f = Feed(NoDowngrade("NO-DOWNGRADE"))
    f.connect()
    f.bond(LTK, authenticated=True, secure_connections=False)
    f.bond(STK, authenticated=False, secure_connections=True)
    assert f.verdict().status == PASS


# --- DEBUG-KEY -----------------------------------------------------------------------------------

def test_debug_key_fail_when_a_debug_pairing_is_kept_as_a_bond():
    for who in ("tester", "device"):
        f = Feed(DebugKey("DEBUG-KEY"))
        f.connect()
        f.sc(tester_pk=DEBUG_PK if who == "tester" else None,
             device_pk=DEBUG_PK if who == "device" else None)
        f.disconnect()
        f.connect()
        on = f.encryption("on", LTK)
        v = f.verdict()
        assert v.status == FAIL, who
        assert f"which the {who} used the debug public key" in v.message
        assert v.violations[0].events[-1] is on and v.violations[0].signature == who


def test_debug_key_pass_when_the_reconnection_is_refused_or_in_debug_mode():
    f = Feed(DebugKey("DEBUG-KEY"))
    f.connect()
    f.sc(tester_pk=DEBUG_PK)
    f.disconnect()
    f.connect()
    refused = f.encryption("failed", LTK)
    v = f.verdict()
    assert v.status == PASS and v.support == [refused]
    f = Feed(DebugKey("DEBUG-KEY", context={"debug_mode": True}))
    f.connect()
    f.sc(tester_pk=DEBUG_PK)
    f.disconnect()
    f.connect()
    f.encryption("on", LTK)
    assert f.verdict().status == PASS


def test_debug_key_inconclusive_without_debug_keys_or_reconnection():
    f = Feed(DebugKey("DEBUG-KEY"))
    f.connect()
    f.sc()
    f.disconnect()
    f.connect()
    f.encryption("on", LTK)
    assert f.verdict().status == INCONCLUSIVE
    f = Feed(DebugKey("DEBUG-KEY"))
    f.connect()
    f.sc(tester_pk=DEBUG_PK)  # encryption on the pairing's own link is no reconnection
    assert f.verdict().status == INCONCLUSIVE
