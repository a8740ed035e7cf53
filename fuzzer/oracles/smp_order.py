"""SMP-ORDER: an SMP PDU out of sequence fails the pairing and never advances it.

Black-box, per link. The expected sequence is followed from the tester's (initiator's) side as a
table: ``TESTER_MOVES[state]`` names the PDUs the tester may send in a state and the state each
leads to; ``DEVICE_MOVES[state]`` the device's answers that move it on (Core Vol 3 Part H 2.3.5,
3.5, 3.6; Figures C.1-C.7):

* legacy: Pairing Request -> [Response] -> Confirm -> [Confirm] -> Random -> [Random] ->
  encryption -> key distribution;
* LE Secure Connections: Request -> [Response] -> Public Key -> [Public Key] -> then by method
  (Table 2.8) Just Works / Numeric Comparison: [Confirm] -> Random -> [Random]; Passkey Entry:
  20 x (Confirm -> [Confirm] -> Random -> [Random]); OOB: Random -> [Random]; then DHKey Check ->
  [DHKey Check] -> encryption -> key distribution.

A Pairing Request may always start a new pairing; Pairing Failed ends one and Keypress
Notifications are neutral. When the tester sends a well-formed PDU its state does not allow,
the device must answer with Pairing Failed or nothing, and the pairing must not complete
afterwards (before a new Pairing Request): a device Pairing Random or DHKey Check, key
distribution, or encryption coming on under a key that is not an earlier bond fails it. Malformed
and unknown PDUs are left to other checks. The tables are data so other models can reuse them.
"""

from __future__ import annotations

from typing import Any

from fuzzer.oracles.base import Verdict
from fuzzer.oracles.pairing import (
    KEY_DISTRIBUTION,
    LinkState,
    Pairing,
    PairingMonitor,
    progress_after,
)
from fuzzer.protocol import pairing_methods as pm
from fuzzer.protocol import smp
from fuzzer.protocol.codec import UNKNOWN, Decoded
from fuzzer.trace.describe import decode
from fuzzer.trace.events import Event

IDLE = "idle"
ABORTED = "aborted"  # an out-of-sequence PDU was sent; only a new Pairing Request leaves it
# Targets resolved from the pairing's features rather than the table alone.
BY_FEATURES = "by_features"  # after the Pairing Response: legacy or LE Secure Connections
BY_METHOD = "by_method"  # after the device's public key: the SC association model
PASSKEY_ROUND = "passkey_round"  # after the device's random in Passkey Entry: next round or done

#: Passkey Entry repeats its commitment round once per passkey bit (Vol 3 Part H 2.3.5.6.3).
PASSKEY_ROUNDS = 20

_LEGACY_KEYS = dict.fromkeys(KEY_DISTRIBUTION, "key_distribution")
_SC_KEYS = dict.fromkeys(("Identity Information", "Identity Address Information",
                          "Signing Information"), "sc_key_distribution")

#: state -> {tester PDU name -> next state}. Pairing Request is allowed everywhere.
TESTER_MOVES: dict[str, dict[str, str]] = {
    IDLE: {},
    "wait_response": {},
    "legacy_confirm": {"Pairing Confirm": "legacy_wait_confirm"},
    "legacy_wait_confirm": {},
    "legacy_random": {"Pairing Random": "legacy_wait_random"},
    "legacy_wait_random": {},
    "legacy_encrypt": {},
    "key_distribution": _LEGACY_KEYS,
    "sc_public_key": {"Pairing Public Key": "sc_wait_public_key"},
    "sc_wait_public_key": {},
    "sc_wait_confirm": {},
    "sc_random": {"Pairing Random": "sc_wait_random"},
    "sc_wait_random": {},
    "sc_passkey_confirm": {"Pairing Confirm": "sc_passkey_wait_confirm"},
    "sc_passkey_wait_confirm": {},
    "sc_passkey_random": {"Pairing Random": "sc_passkey_wait_random"},
    "sc_passkey_wait_random": {},
    "sc_oob_random": {"Pairing Random": "sc_wait_random"},
    "sc_dhkey_check": {"Pairing DHKey Check": "sc_wait_dhkey_check"},
    "sc_wait_dhkey_check": {},
    "sc_encrypt": {},
    "sc_key_distribution": _SC_KEYS,
    ABORTED: {},
}

#: state -> {device PDU name -> next state}; device PDUs not listed leave the state alone.
DEVICE_MOVES: dict[str, dict[str, str]] = {
    "wait_response": {"Pairing Response": BY_FEATURES},
    "legacy_wait_confirm": {"Pairing Confirm": "legacy_random"},
    "legacy_wait_random": {"Pairing Random": "legacy_encrypt"},
    "sc_wait_public_key": {"Pairing Public Key": BY_METHOD},
    "sc_wait_confirm": {"Pairing Confirm": "sc_random"},
    "sc_wait_random": {"Pairing Random": "sc_dhkey_check"},
    "sc_passkey_wait_confirm": {"Pairing Confirm": "sc_passkey_random"},
    "sc_passkey_wait_random": {"Pairing Random": PASSKEY_ROUND},
    "sc_wait_dhkey_check": {"Pairing DHKey Check": "sc_encrypt"},
}

#: state -> next state when encryption comes on.
ENCRYPTION_MOVES: dict[str, str] = {
    "legacy_encrypt": "key_distribution",
    "sc_encrypt": "sc_key_distribution",
}

#: SC association model -> the state after the public keys are exchanged.
SC_METHOD_STATES: dict[str, str] = {
    pm.JUST_WORKS: "sc_wait_confirm",
    pm.NUMERIC_COMPARISON: "sc_wait_confirm",
    pm.PASSKEY_INITIATOR_INPUTS: "sc_passkey_confirm",
    pm.PASSKEY_RESPONDER_INPUTS: "sc_passkey_confirm",
    pm.PASSKEY_BOTH_INPUT: "sc_passkey_confirm",
    pm.OOB: "sc_oob_random",
}

#: (state, PDU name) -> next state, the tables above flattened for one look-up per PDU.
_TESTER_NEXT = {(state, name): nxt for state, moves in TESTER_MOVES.items()
                for name, nxt in moves.items()}
_DEVICE_NEXT = {(state, name): nxt for state, moves in DEVICE_MOVES.items()
                for name, nxt in moves.items()}

#: PDUs that never move the sequence and are never out of it.
NEUTRAL = frozenset({"Pairing Keypress Notification"})

#: Device PDUs after an out-of-sequence PDU that complete the pairing.
_COMPLETING = frozenset({"Pairing Random", "Pairing DHKey Check"}) | KEY_DISTRIBUTION


def sc_method(p: Pairing) -> str:
    a, b = p.preq, p.pres
    return pm.sc_method(a.get("io_capability", -1), b.get("io_capability", -1),
                        bool(a.get("authreq", 0) & smp.MITM), bool(b.get("authreq", 0) & smp.MITM),
                        bool(a.get("oob_data_flag", 0)), bool(b.get("oob_data_flag", 0)))


class _Order:
    """The sequence state of one link."""

    __slots__ = ("state", "round", "bad", "answered", "reported")

    def __init__(self) -> None:
        self.state = IDLE
        self.round = 0
        self.bad: tuple[Event, str] | None = None  # the out-of-sequence PDU and its state
        self.answered = False
        self.reported = False


class SmpOrder(PairingMonitor):
    #: the device PDUs that move the sequence (DEVICE_MOVES) or end it; once the tester sent one
    #: out of sequence, its link is watched: every device PDU then shows whether the device
    #: refused or went on
    DEVICE_SMP = frozenset(name for moves in DEVICE_MOVES.values() for name in moves) | {
        "Pairing Failed"}

    def start(self) -> None:
        self.support: list[Event] = []

    def _order(self, st: LinkState) -> _Order:
        notes = st.data[self.slot]
        o = notes.get("order")
        if o is None:
            o = notes["order"] = _Order()
        return o

    def _settle(self, o: _Order) -> None:
        """An out-of-sequence PDU's case is over without a violation."""
        if o.bad is not None and not o.reported:
            self.checked += 1
            self.supported(o.bad[0])
        o.bad = None

    def on_pairing_start(self, st: LinkState, p: Pairing, event: Event) -> None:
        notes = st.data[self.slot]
        o = notes["order"] if "order" in notes else self._order(st)
        if o.bad is not None:
            self._settle(o)
        o.state, o.round, o.answered, o.reported = "wait_response", 0, False, False

    def on_disconnect(self, st: LinkState, event: Event) -> None:
        o = st.data[self.slot].get("order")
        if o is not None and o.bad is not None:
            self._settle(o)

    def on_tester_smp(self, st: LinkState, p: Pairing | None, dec: Decoded, event: Event) -> None:
        name = dec.name
        if dec.error is not None or name in NEUTRAL or name == UNKNOWN:
            return
        notes = st.data[self.slot]
        o = notes["order"] if "order" in notes else self._order(st)
        if name == "Pairing Failed":
            if o.state != ABORTED:
                o.state = IDLE
            return
        nxt = _TESTER_NEXT.get((o.state, name))
        if nxt is not None:
            o.state = nxt
            return
        if o.state == ABORTED:
            return  # already out of sequence: judged on the first one
        o.bad = (event, o.state)
        o.state = ABORTED
        o.answered = False
        o.reported = False
        st.watch(self)

    def _fail(self, st: LinkState, p: Pairing | None, o: _Order, what: str, event: Event) -> None:
        if o.reported or o.bad is None:
            return
        o.reported = True
        bad, state = o.bad
        dec = decode(bad)
        bad_name = dec.name if dec is not None else "PDU"
        evidence = p.evidence(bad, event) if p is not None else [bad, event]
        self.violate(f"the tester sent {bad_name} out of sequence (expected "
                     f"{self.expected(state)}) and {what}", event.step, evidence,
                     signature=f"{state}:{bad_name}")

    @staticmethod
    def expected(state: str) -> str:
        allowed = [n for n in TESTER_MOVES.get(state, {}) if n not in KEY_DISTRIBUTION]
        if state in ("key_distribution", "sc_key_distribution"):
            allowed.append("key distribution")
        if state in DEVICE_MOVES or state in ENCRYPTION_MOVES:
            allowed.append("the device's turn")
        return " or ".join(allowed) or "Pairing Request"

    def on_device_smp(self, st: LinkState, p: Pairing | None, dec: Decoded, event: Event) -> None:
        notes = st.data[self.slot]
        o = notes["order"] if "order" in notes else self._order(st)
        name = dec.name
        if o.state == ABORTED:
            if not o.answered:
                o.answered = True
                if progress_after(dec):
                    self._fail(st, p, o, f"the device answered with {name} instead of Pairing "
                                         f"Failed", event)
                    return
            if name in _COMPLETING:
                self._fail(st, p, o, f"the pairing went on: the device sent {name}", event)
            return
        if name == "Pairing Failed":
            o.state = IDLE
            return
        nxt = _DEVICE_NEXT.get((o.state, name))
        if nxt is None or dec.error is not None:
            return
        if nxt == BY_FEATURES:
            nxt = "sc_public_key" if p is not None and p.sc else "legacy_confirm"
        elif nxt == BY_METHOD:
            nxt = SC_METHOD_STATES.get(sc_method(p), "sc_wait_confirm") if p is not None \
                else "sc_wait_confirm"
        elif nxt == PASSKEY_ROUND:
            o.round += 1
            nxt = "sc_dhkey_check" if o.round >= PASSKEY_ROUNDS else "sc_passkey_confirm"
        o.state = nxt

    def on_encryption(self, st: LinkState | None, event: Event, state: Any,
                      ltk: bytes | None) -> None:
        if st is None:
            return
        o = st.data[self.slot].get("order")
        if o is None:
            return
        if o.state == ABORTED:
            if state == "on" and (ltk is None or not self.held_before(ltk, st.pairing)):
                self._fail(st, st.pairing, o, "encryption came on under the pairing's key",
                           event)
            return
        if state == "on":
            o.state = ENCRYPTION_MOVES.get(o.state, o.state)
        elif state == "failed" and o.state in ENCRYPTION_MOVES:
            o.state = IDLE

    def verdict(self) -> Verdict:
        for st in self.links.values():
            o = st.data[self.slot].get("order")
            if o is not None:
                self._settle(o)
        return self.judged(f"{self.checked} out-of-sequence SMP PDU(s), none answered or "
                           f"followed by progress",
                           "the tester never sent an SMP PDU out of sequence")
