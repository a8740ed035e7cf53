"""DHKEY-FIRST: no key is distributed and no encryption starts before the pairing was verified:
the DHKey Check in LE Secure Connections (CVE-2020-13593), the confirm value in legacy pairing.

Black-box, per link and pairing. In LE Secure Connections (both AuthReq SC bits set, Core Vol 3
Part H 2.3.5.6.5) the device (responder) sends its Pairing DHKey Check only after it checked the
initiator's; in legacy pairing (2.3.5.5) it sends its Pairing Random only after the initiator's
confirm value matched. Before that point, the device distributing keys (3.6) or encryption coming
on under the pairing's key (not a bond the tester held before) fails the invariant. When the
tester recorded that its own check value was wrong (a KEY event ``{"type": "DHKeyCheck",
"valid": false}`` or ``{"type": "Mconfirm", "valid": false}``) the device must refuse: its DHKey
Check (SC) or Pairing Random (legacy), key distribution or encryption coming on fail it.
"""

from __future__ import annotations

from typing import Any

from fuzzer.oracles.base import Verdict
from fuzzer.oracles.pairing import (
    KEY_DISTRIBUTION,
    LinkState,
    Pairing,
    PairingMonitor,
)
from fuzzer.protocol.codec import Decoded
from fuzzer.trace import events as ev
from fuzzer.trace.events import Event

_INVALID_CHECKS = {"DHKeyCheck": "DHKey Check", "Mconfirm": "Pairing Confirm"}
#: The device's PDU that shows it verified the pairing, by LE Secure Connections or not.
_GATE = {True: "Pairing DHKey Check", False: "Pairing Random"}


class DhkeyFirst(PairingMonitor):
    #: and every device PDU (its Pairing Failed) on a link where the tester's check was invalid
    DEVICE_SMP = KEY_DISTRIBUTION | {"Pairing DHKey Check", "Pairing Random"}
    #: the tester's own check values, for when it recorded one invalid
    OTHER_KEYS = frozenset(_INVALID_CHECKS)

    def start(self) -> None:
        self.support: list[Event] = []

    def _fail(self, p: Pairing, message: str, event: Event, signature: str) -> None:
        notes = self.notes(p)
        if notes.get("reported"):
            return
        notes["reported"] = True
        invalid = notes.get("invalid")
        more = [invalid[1]] if invalid is not None else []
        self.violate(message, event.step, p.evidence(*more, event), signature=signature)

    def _completed(self, p: Pairing, what: str, event: Event) -> None:
        """The device did ``what`` (distributed a key, encryption came on) in pairing ``p``."""
        notes = p.data[self.slot]
        invalid = notes.get("invalid")
        if not notes.get("gate"):
            kind = "LE Secure Connections" if p.sc else "legacy"
            self._fail(p, f"{what} before the device sent its {_GATE[p.sc]} in a {kind} "
                          f"pairing: the pairing was never verified", event,
                       signature=f"early:{'sc' if p.sc else 'legacy'}")
        elif invalid is not None:
            self._fail(p, f"{what} although the tester's {_INVALID_CHECKS[invalid[0]]} was "
                          f"invalid", event, signature=f"invalid:{invalid[0]}")
        else:
            self.checked += 1
            self.supported(event)

    def on_device_smp(self, st: LinkState, p: Pairing | None, dec: Decoded, event: Event) -> None:
        if p is None:
            return
        name = dec.name
        notes = p.data[self.slot]
        if name in KEY_DISTRIBUTION:
            self._completed(p, f"the device distributed keys ({name})", event)
        elif name == _GATE[p.sc]:
            invalid = notes.get("invalid")
            if invalid is not None and (invalid[0] == "DHKeyCheck") == p.sc:
                self._fail(p, f"the device sent its {name} although the tester's "
                              f"{_INVALID_CHECKS[invalid[0]]} was invalid", event,
                           signature=f"invalid:{invalid[0]}")
            notes["gate"] = True
        elif name == "Pairing Failed" and notes.get("invalid") is not None and \
                not notes.get("refused"):
            notes["refused"] = True
            self.checked += 1
            self.supported(event)

    def on_encryption(self, st: LinkState | None, event: Event, state: Any,
                      ltk: bytes | None) -> None:
        p = st.pairing if st is not None else None
        if state != "on" or p is None or (ltk is not None and self.held_before(ltk, p)):
            return
        self._completed(p, "encryption came on under the pairing's key", event)

    def on_key(self, st: LinkState | None, event: Event, key: bytes | None) -> None:
        info = event.info or {}
        if info.get("valid") is not False or event.src != ev.TESTER:
            return
        p = st.pairing if st is not None else None
        kind = info.get("type")
        if p is not None and kind in _INVALID_CHECKS:
            self.notes(p)["invalid"] = (kind, event)
            p.note(event)
            st.watch(self)  # for the device's refusal

    def verdict(self) -> Verdict:
        return self.judged(f"{self.checked} key distribution(s), encryption(s) or "
                           f"refusal(s), each after the pairing was verified",
                           "no pairing reached key distribution or encryption")
