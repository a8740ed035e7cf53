"""DEBUG-KEY: a pairing that used the SMP debug key is not kept as a bond unless the device is in
debug mode (Core Vol 3 Part H 2.3.5.6.1: the debug key pair is public, so anyone who recorded the
pairing can compute its DHKey and LTK).

Black-box, per link and pairing. When either side's well-formed Pairing Public Key is the debug
public key (``fuzzer.crypto.p256.DEBUG_PUBLIC_X/Y``, little-endian), the keys of that pairing —
the tester's KEY (STK, LTK) and BOND events while it lasts and the device's Encryption
Information — are remembered. If encryption later comes on under one of them on another link
(the peer reconnected and the device still had the key) the invariant fails, unless context
``debug_mode`` says the profile is in debug mode. A reconnection whose encryption failed shows it
holding.
"""

from __future__ import annotations

from typing import Any

from fuzzer.crypto.p256 import DEBUG_PUBLIC_X, DEBUG_PUBLIC_Y
from fuzzer.oracles.base import Verdict
from fuzzer.oracles.pairing import LinkState, Pairing, PairingMonitor
from fuzzer.protocol.codec import Decoded
from fuzzer.trace.events import Event


class DebugKey(PairingMonitor):
    TESTER_SMP = DEVICE_SMP = frozenset({"Pairing Public Key", "Encryption Information"})
    OTHER_KEYS = False

    def configure(self) -> None:
        self.debug_mode = bool(self.context.get("debug_mode", False))

    def start(self) -> None:
        # key -> (the link it was made on, the debug public key PDU, the event that held it)
        self.debug_keys: dict[bytes, tuple[LinkState, Event, Event]] = {}
        self.support: list[Event] = []

    def _remember(self, st: LinkState, p: Pairing, key: bytes, event: Event) -> None:
        if key not in self.debug_keys and any(key):
            self.debug_keys[key] = (st, self.notes(p)["debug"], event)

    def _check_key(self, st: LinkState, p: Pairing | None, dec: Decoded, event: Event) -> None:
        if p is None or dec.error is not None:
            return
        notes = p.data[self.slot]
        if dec.name == "Pairing Public Key" and "debug" not in notes and \
                dec.fields.get("public_key_x") == DEBUG_PUBLIC_X and \
                dec.fields.get("public_key_y") == DEBUG_PUBLIC_Y:
            notes["debug"] = event
            for key in p.keys:
                self._remember(st, p, key, event)
        elif dec.name == "Encryption Information" and "debug" in notes:
            self._remember(st, p, dec.fields.get("long_term_key", b""), event)

    on_tester_smp = _check_key
    on_device_smp = _check_key

    def _held(self, st: LinkState | None, event: Event, key: bytes | None) -> None:
        p = st.pairing if st is not None else None
        if st is not None and p is not None and key is not None and "debug" in p.data[self.slot]:
            self._remember(st, p, key, event)

    on_key = _held
    on_bond = _held

    def on_encryption(self, st: LinkState | None, event: Event, state: Any,
                      ltk: bytes | None) -> None:
        if ltk is None or st is None:
            return
        found = self.debug_keys.get(ltk)
        if found is None or found[0] is st:
            return
        origin, debug_pdu, held = found
        if state == "on":
            self.checked += 1
            if self.debug_mode:
                self.supported(event)
                return
            peer = st.link.peer if st.link is not None else ""
            who = "the tester" if debug_pdu.src == "tester" else "the device"
            self.violate(f"peer '{peer}' reconnected and encryption came on under the LTK of a "
                         f"pairing in which {who} used the debug public key: the device kept it "
                         f"as a bond outside debug mode", event.step,
                         [debug_pdu, held, event], signature=debug_pdu.src)
        elif state == "failed":
            self.checked += 1
            self.supported(event)

    def verdict(self) -> Verdict:
        return self.judged(f"{self.checked} reconnection(s) with a debug-key pairing's LTK "
                           f"refused" + (" or allowed in debug mode" if self.debug_mode else ""),
                           "no peer reconnected with the key of a pairing that used "
                           "the debug key")
