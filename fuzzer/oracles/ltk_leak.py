"""LTK-LEAK: no LTK the tester holds appears in plaintext (either byte order) in anything the
device sends, and no LTK bonded with one peer is ever sent to another.

Black-box. The tester's KEY and BOND events say which keys each peer holds. Every device PDU's
on-air octets are searched for every held key (a key on air in the clear), and its decrypted
payload for keys that belong to a peer other than the one on the link.
"""

from __future__ import annotations

from fuzzer.oracles.base import PASS, Monitor, Verdict
from fuzzer.trace import events as ev
from fuzzer.trace.events import Event

#: an LTK's length in octets (128 bits, Core Vol 3 Part H 2.4.2.3)
KEY_OCTETS = 16


class LtkLeak(Monitor):
    KINDS = frozenset({ev.KEY, ev.BOND, ev.PDU})

    def listen(self, trace) -> None:
        """Listen to the KEY and BOND events and to the device's PDUs."""
        trace.subscribe(self.observe, frozenset({ev.KEY, ev.BOND}))
        trace.subscribe(self.on_device_pdu, frozenset({ev.PDU}), sources=frozenset({ev.DEVICE}))
        trace.mute(self.on_device_pdu)  # until a key is held

    def start(self) -> None:
        self.owner: dict[bytes, tuple[str, Event]] = {}  # key (on-air order) -> (peer, event)
        self.patterns: list[tuple[bytes, bytes]] = []  # (pattern, key)
        self.checked = 0

    def _hold(self, peer: str, value_hex: str, event: Event) -> None:
        key = bytes.fromhex(value_hex)
        if len(key) != KEY_OCTETS or not any(key) or key in self.owner:
            return
        if not self.owner:
            self.unmute(self.on_device_pdu)
        self.owner[key] = (peer, event)
        self.patterns.append((key, key))
        self.patterns.append((key[::-1], key))

    def observe(self, event: Event) -> None:
        kind = event.kind
        if kind == ev.KEY and event.info.get("type") in ("LTK", "STK"):
            self._hold(event.info["peer"], event.info["value"], event)
        elif kind == ev.BOND:
            self._hold(event.info["peer"], event.info["ltk"], event)
        elif kind == ev.PDU and event.src == ev.DEVICE and self.patterns:
            self.on_device_pdu(event)

    def on_device_pdu(self, event: Event) -> None:
        """A device PDU, once a key is held: searched for every held key."""
        self.checked += 1
        air = event.air
        if len(event.data) < KEY_OCTETS and len(air) == 1 and len(air[0]) < KEY_OCTETS:
            return  # no key fits in its octets (most device PDUs: LL control, short ATT, SMP)
        # one search per key in all the octets first: a hit (or a key across two of them)
        # is then looked at closely. find, not ``in``: CPython's ``in`` on bytes first tries
        # the operand as an integer (an exception raised and cleared each time)
        find = b"".join((*air, event.data)).find
        for pattern, _key in self.patterns:
            if find(pattern) >= 0:
                self._search(event)
                return

    def _search(self, event: Event) -> None:
        """Record a held key in the device PDU's air octets, or another peer's key in its
        payload (the first found)."""
        peer = event.link.peer if event.link is not None else ""
        for pattern, key in self.patterns:
            owner, held_at = self.owner[key]
            for air in event.air:
                if pattern in air:
                    self.violate(
                        f"the device sent an LTK held by '{owner}' in plaintext on air"
                        f"{' (byte-reversed)' if pattern != key else ''}", event.step,
                        [held_at, event], signature=f"air:{event.layer}")
                    return
            if owner != peer and pattern in event.data:
                self.violate(
                    f"the device sent peer '{peer}' the LTK bonded with '{owner}'",
                    event.step, [held_at, event], signature=f"cross:{event.layer}")
                return

    def verdict(self) -> Verdict:
        if self.violations:
            return self.failed()
        return Verdict(PASS, f"{len(self.owner)} held key(s) never seen in the clear or sent to "
                             f"another peer in {self.checked} device PDU(s)",
                       checked=self.checked)
