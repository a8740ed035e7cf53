"""PUBKEY-VALID: a public key that is not on P-256 fails the pairing (CVE-2018-5383, the
invalid-curve attack; Core Vol 3 Part H 2.3.5.6.1 requires the check).

Black-box, per link and pairing. When the tester sends a well-formed Pairing Public Key whose
point (X, Y, little-endian) is not on the curve, the device must answer with Pairing Failed (any
reason) or say nothing. If it goes on in that pairing — sends Pairing Confirm, Pairing Random or
Pairing DHKey Check, distributes keys, or encryption comes on under the pairing's key — it
computed a DHKey from a point of small order and leaks its private key a few bits at a time.
"""

from __future__ import annotations

from typing import Any

from fuzzer.crypto.p256 import is_on_curve
from fuzzer.oracles.base import Verdict
from fuzzer.oracles.pairing import (
    KEY_DISTRIBUTION,
    LinkState,
    Pairing,
    PairingMonitor,
)
from fuzzer.protocol.codec import Decoded
from fuzzer.trace.events import Event

_PROGRESS = frozenset({"Pairing Confirm", "Pairing Random", "Pairing DHKey Check"}) | \
    KEY_DISTRIBUTION


#: (X, Y) -> on P-256, for every trace: a tester draws its key pairs from a small pool
_ON_CURVE: dict[tuple[bytes, bytes], bool] = {}
_ON_CURVE_CAP = 4096


def _on_curve(x: bytes, y: bytes) -> bool:
    known = _ON_CURVE.get((x, y))
    if known is None:
        if len(_ON_CURVE) >= _ON_CURVE_CAP:
            _ON_CURVE.clear()
        known = _ON_CURVE[(x, y)] = is_on_curve(x, y)
    return known


class PubkeyValid(PairingMonitor):
    TESTER_SMP = frozenset({"Pairing Public Key"})
    DEVICE_SMP: frozenset[str] = frozenset()  # watches a link once a bad key was sent on it

    def start(self) -> None:
        self.support: list[Event] = []
        self.orphan: dict[int, Pairing] = {}  # conn_id -> pairing without a Pairing Request

    def _pairing(self, st: LinkState, p: Pairing | None) -> Pairing:
        if p is not None:
            return p
        q = self.orphan.get(st.conn_id)
        if q is None:
            # a public key sent without a Pairing Request: watch the link all the same
            q = self.orphan[st.conn_id] = Pairing(None, None, st.conn_id)
        return q

    def on_pairing_start(self, st: LinkState, p: Pairing, event: Event) -> None:
        self._close(self.orphan.pop(st.conn_id, None))

    def on_disconnect(self, st: LinkState, event: Event) -> None:
        self._close(self.orphan.pop(st.conn_id, None))

    def on_pairing_end(self, st: LinkState, p: Pairing) -> None:
        if "bad" in p.data[self.slot]:
            self._close(p)

    def _close(self, p: Pairing | None) -> None:
        notes = p.data[self.slot] if p is not None else {}
        if "bad" in notes and not notes.get("reported"):
            self.checked += 1
            self.supported(notes.get("refusal") or notes["bad"])

    def on_tester_smp(self, st: LinkState, p: Pairing | None, dec: Decoded, event: Event) -> None:
        if dec.name != "Pairing Public Key" or dec.error is not None:
            return
        x, y = dec.fields.get("public_key_x", b""), dec.fields.get("public_key_y", b"")
        if _on_curve(x, y):
            return
        q = self._pairing(st, p)
        if q is not p:
            q.note(event)
        self.notes(q).setdefault("bad", event)
        st.watch(self)

    def _progress(self, st: LinkState | None, what: str, event: Event) -> None:
        if st is None:
            return
        p = st.pairing if st.pairing is not None else self.orphan.get(st.conn_id)
        notes = p.data[self.slot] if p is not None else {}
        if "bad" not in notes or notes.get("reported"):
            return
        notes["reported"] = True
        self.violate(f"the tester sent a Pairing Public Key that is not on P-256 and {what} "
                     f"instead of Pairing Failed", event.step, p.evidence(event),
                     signature=what.split(" (")[0])

    def on_device_smp(self, st: LinkState, p: Pairing | None, dec: Decoded, event: Event) -> None:
        q = p if p is not None else self.orphan.get(st.conn_id)
        if q is None or "bad" not in q.data[self.slot]:
            return
        if q is not p:
            q.note(event)
        if dec.name in _PROGRESS:
            self._progress(st, f"the device went on with {dec.name}", event)
        elif dec.name == "Pairing Failed":
            self.notes(q).setdefault("refusal", event)

    def on_encryption(self, st: LinkState | None, event: Event, state: Any,
                      ltk: bytes | None) -> None:
        if state != "on" or st is None:
            return
        p = st.pairing
        if ltk is not None and self.held_before(ltk, p):
            return
        self._progress(st, "encryption came on", event)

    def verdict(self) -> Verdict:
        self.end_all()
        for p in list(self.orphan.values()):
            self._close(p)
        self.orphan.clear()
        return self.judged(f"{self.checked} pairing(s) with a public key off the curve, "
                           f"each refused",
                           "the tester never sent a public key that is not on P-256")
