"""NO-REFLECTION: a peer that echoes the device's own public key, confirm value or random value
fails the pairing (CVE-2020-26558, the Passkey Entry impersonation; Core Vol 3 Part H 2.3.5.6.1:
a device receiving a public key whose X equals its own shall fail the pairing).

Black-box, per link and pairing. The device's Pairing Public Key X values and its Pairing Confirm
and Pairing Random values are remembered across pairings. When the tester sends a Pairing Public
Key with one of those X values, or a Pairing Confirm or Pairing Random equal to one of those
values, the device must fail that pairing (Pairing Failed, or make no further progress). If the
pairing completes — the device sends its DHKey Check, distributes keys, or encryption comes on
under the pairing's key — the invariant fails.
"""

from __future__ import annotations

from typing import Any

from fuzzer.oracles.base import Verdict
from fuzzer.oracles.pairing import (
    LinkState,
    Pairing,
    PairingMonitor,
    completes,
)
from fuzzer.protocol.codec import Decoded
from fuzzer.trace.events import Event

#: How many device values are remembered (oldest forgotten first).
MEMORY = 4096


class NoReflection(PairingMonitor):
    TESTER_SMP = frozenset({"Pairing Public Key", "Pairing Confirm", "Pairing Random"})
    #: the device values remembered; once a pairing saw a reflected value, its link is watched
    #: (every device PDU: its refusal or its progress), so the others cost nothing before
    DEVICE_SMP = TESTER_SMP

    def start(self) -> None:
        self.device_x: dict[bytes, Event] = {}
        self.device_values: dict[bytes, Event] = {}  # confirm and random values
        self.support: list[Event] = []

    def on_tester_smp(self, st: LinkState, p: Pairing | None, dec: Decoded, event: Event) -> None:
        if p is None or dec.error is not None:
            return
        notes = p.data[self.slot]
        if dec.name == "Pairing Public Key":
            notes["tester_x"] = dec.fields.get("public_key_x")
        if "reflected" in notes:
            return
        name = dec.name
        source: Event | None = None
        if name == "Pairing Public Key":
            source = self.device_x.get(dec.fields.get("public_key_x", b""))
            what = "the device's own public key X"
        elif name == "Pairing Confirm":
            source = self.device_values.get(dec.fields.get("confirm_value", b""))
            what = "a confirm or random value the device sent"
        elif name == "Pairing Random":
            source = self.device_values.get(dec.fields.get("random_value", b""))
            what = "a confirm or random value the device sent"
        if source is not None:
            notes["reflected"] = (f"{name} echoing {what}", source, event)
            st.watch(self)

    def on_device_smp(self, st: LinkState, p: Pairing | None, dec: Decoded, event: Event) -> None:
        if dec.error is None:
            name = dec.name
            store: dict[bytes, Event] | None = None  # where the device's value is remembered
            if name == "Pairing Public Key":
                store, x = self.device_x, dec.fields.get("public_key_x")
                echoed = p.data[self.slot].get("tester_x") if p is not None else None
                if p is not None and echoed is not None and echoed == x:
                    # The device answered its own public key with that same key: it accepted
                    # the echo instead of failing the pairing (2.3.5.6.1 erratum).
                    self.notes(p).setdefault("reflected", ("Pairing Public Key echoing the "
                                                           "device's "
                                                    "own public key X", event, event))
                    st.watch(self)
                    self._fail(p, "it answered with the same public key and went on", event)
            elif name == "Pairing Confirm":
                store, x = self.device_values, dec.fields.get("confirm_value")
            elif name == "Pairing Random":
                store, x = self.device_values, dec.fields.get("random_value")
            # remembered here rather than in a helper: every device value PDU comes this way
            if store is not None and isinstance(x, bytes) and x and x not in store:
                if len(store) >= MEMORY:
                    del store[next(iter(store))]  # the oldest
                store[x] = event
        if p is None or "reflected" not in p.data[self.slot]:
            return
        if dec.name == "Pairing Failed":
            p.data[self.slot].setdefault("refusal", event)
        elif completes(self, p, dec):
            self._fail(p, f"the device went on to {dec.name}", event)

    def on_encryption(self, st: LinkState | None, event: Event, state: Any,
                      ltk: bytes | None) -> None:
        p = st.pairing if st is not None else None
        if p is not None and "reflected" in p.data[self.slot] and \
                completes(self, p, None, state, ltk):
            self._fail(p, "encryption came on", event)

    def _fail(self, p: Pairing, what: str, event: Event) -> None:
        notes = self.notes(p)
        if notes.get("reported"):
            return
        notes["reported"] = True
        how, source, sent = notes["reflected"]
        evidence = p.evidence(sent, event)
        if source not in evidence:
            evidence.insert(0, source)
        self.violate(f"the tester sent a {how}, and the device did not fail the pairing: {what}",
                     event.step,
                     evidence, signature=how.split(" ")[1])

    def on_pairing_end(self, st: LinkState, p: Pairing) -> None:
        notes = p.data[self.slot]
        if "reflected" in notes and not notes.get("reported"):
            self.checked += 1
            self.supported(notes.get("refusal") or notes["reflected"][2])

    def verdict(self) -> Verdict:
        self.end_all()
        return self.judged(f"{self.checked} pairing(s) with a reflected value, none "
                           f"completed",
                           "the tester never reflected the device's public key, "
                           "confirm or random value")
