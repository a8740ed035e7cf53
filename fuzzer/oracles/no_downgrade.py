"""NO-DOWNGRADE: an authenticated or Secure Connections bond is never replaced by a weaker
pairing unless the device's policy allows it (BLURtooth CVE-2020-15802; Core Vol 3 Part C
10.3.2).

Black-box. A bond's strength is (Secure Connections, authenticated, key size) from the tester's
BOND events (``secure_connections``, ``authenticated`` or ``method``, ``key_size``), kept per
(peer, device address); the peer is its address on the link (what the device can tell apart) and
the tester's name for it. A later pairing of the same peer with the same device fails the
invariant when it completes strictly weaker (no component stronger, one weaker): a new BOND event,
or encryption coming on under a key whose KEY event says it came from a weaker pairing (KEY info
``authenticated``, ``secure_connections``, ``key_size``). Context ``allow_downgrade`` turns it
off. A weaker re-pairing the device refused (Pairing Failed, any reason) shows it holding.
"""

from __future__ import annotations

from typing import Any

from fuzzer.oracles.auth_level import key_authenticated
from fuzzer.oracles.base import Verdict
from fuzzer.oracles.pairing import LinkState, Pairing, PairingMonitor
from fuzzer.protocol import smp
from fuzzer.protocol.codec import Decoded
from fuzzer.trace.events import Event, Link

Strength = tuple[bool, bool, int]


def weaker(new: Strength, old: Strength) -> bool:
    """A downgrade of an authenticated or Secure Connections bond: the new pairing drops
    Secure Connections or authentication (BLURtooth). The key size is KEY-SIZE's business."""
    if not (old[0] or old[1]):
        return False  # the invariant protects authenticated or Secure Connections bonds only
    return (new[0], new[1]) != (old[0], old[1]) and new[0] <= old[0] and new[1] <= old[1]


def describe(s: Strength) -> str:
    return (f"{'Secure Connections' if s[0] else 'legacy'}, "
            f"{'authenticated' if s[1] else 'unauthenticated'}, {s[2]}-octet key")


def _size(value: Any, default: int = 16) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


class NoDowngrade(PairingMonitor):
    DEVICE_SMP = frozenset({"Pairing Failed"})
    OTHER_KEYS = False

    def configure(self) -> None:
        self.allowed = bool(self.context.get("allow_downgrade", False))

    def start(self) -> None:
        self.bonds: dict[tuple[str, str], tuple[Strength, Event]] = {}
        self.key_strength: dict[bytes, tuple[Strength, Event]] = {}
        self.support: list[Event] = []

    def _stored(self, link: Link | None) -> tuple[Strength, Event] | None:
        if link is None:
            return None
        for peer in (link.peer_address, link.peer):
            found = self.bonds.get((peer, link.device_address))
            if found is not None:
                return found
        return None

    def on_pairing_start(self, st: LinkState, p: Pairing, event: Event) -> None:
        stored = self._stored(st.link)
        authreq, size = p.preq.get("authreq"), p.preq.get("max_encryption_key_size")
        if stored is None or not isinstance(authreq, int) or not isinstance(size, int):
            return
        asked = (bool(authreq & smp.SC), bool(authreq & smp.MITM), size)
        if weaker(asked, stored[0]):
            self.notes(p)["weaker"] = stored

    def on_device_smp(self, st: LinkState, p: Pairing | None, dec: Decoded, event: Event) -> None:
        if p is None or dec.name != "Pairing Failed":
            return
        notes = p.data[self.slot]
        if "weaker" in notes and not notes.get("refused"):
            notes["refused"] = True
            self.checked += 1
            self.supported(event)

    def on_key(self, st: LinkState | None, event: Event, key: bytes | None) -> None:
        info = event.info or {}
        auth = key_authenticated(info)
        if key is None or auth is None:
            return
        p = st.pairing if st is not None else None
        size = _size(info.get("key_size"), (p.key_size if p is not None else None) or 16)
        self.key_strength[key] = ((bool(info.get("secure_connections", False)), auth, size),
                                  event)

    def on_bond(self, st: LinkState | None, event: Event, key: bytes | None) -> None:
        info = event.info or {}
        auth = key_authenticated(info)
        if auth is None or info.get("debug_key"):
            return  # a debug-key pairing is not kept as a bond (DEBUG-KEY checks that)
        new: Strength = (bool(info.get("secure_connections", False)), auth,
                         _size(info.get("key_size")))
        link = st.link if st is not None else None
        peers = {str(x) for x in (info.get("peer"), link.peer_address if link else None,
                                  link.peer if link else None) if x}
        devices = {str(x) for x in (info.get("device_address"), info.get("connection_address"),
                                    link.device_address if link else None) if x}
        judged = False
        for peer in sorted(peers):
            for device in sorted(devices):
                old = self.bonds.get((peer, device))
                if old is not None and weaker(new, old[0]):
                    if self.allowed:
                        judged = True  # the policy allows it: neither held nor broken
                        self.bonds[(peer, device)] = (new, event)
                    elif not judged:
                        judged = True
                        self.violate(
                            f"peer '{info.get('peer', peer)}' re-bonded with {device} by a weaker "
                            f"pairing ({describe(new)}) that replaced its bond "
                            f"({describe(old[0])})", event.step, [old[1], event],
                            signature="bond")
                    continue
                if old is not None and not judged:
                    judged = True
                    self.checked += 1
                    self.supported(event)
                self.bonds[(peer, device)] = (new, event)

    def on_encryption(self, st: LinkState | None, event: Event, state: Any,
                      ltk: bytes | None) -> None:
        if state != "on" or ltk is None or st is None or self.allowed:
            return
        got = self.key_strength.get(ltk)
        stored = self._stored(event.link or st.link)
        if got is None or stored is None or not weaker(got[0], stored[0]):
            return
        p = st.pairing
        notes = self.notes(p) if p is not None else {}
        if notes.get("reported"):
            return
        notes["reported"] = True
        link = event.link or st.link
        peer = link.peer if link is not None else ""
        self.violate(f"peer '{peer}' is bonded with {link.device_address if link else ''} "
                     f"({describe(stored[0])}) but encryption came on under a key from a weaker "
                     f"pairing ({describe(got[0])})", event.step,
                     [stored[1], got[1], *(p.evidence(event) if p is not None else [event])],
                     signature="encryption")

    def verdict(self) -> Verdict:
        return self.judged(f"{self.checked} re-pairing(s) of a bonded peer refused or no "
                           f"weaker than its bond",
                           "no bonded peer paired again")
