"""KEY-SIZE: the encryption key size is within 7..16 octets and at least the device's minimum,
and every key is masked to it (CVE-2019-19196 Key Size Overflow, KNOB CVE-2019-9506).

Black-box. The negotiated size is the smaller of the Pairing Request's (tester) and the Pairing
Response's (device) Maximum Encryption Key Size (Core Vol 3 Part H 2.3.4). It fails when:

* the device answered a Pairing Request whose maximum is outside 7..16 (or below the profile's
  ``min_key_size``), or a request that negotiates below that minimum, with a Pairing Response and
  went on to pair (sent a further pairing PDU or encryption came on) instead of Pairing Failed;
* the device's own Pairing Response offers a maximum outside 7..16;
* a key the device distributed (Encryption Information) or the key an encryption used has
  non-zero octets above the negotiated size (on-air order: octets ``[size:]`` must be zero);
* an ENCRYPTION event reports a ``key_size`` outside 7..16.
"""

from __future__ import annotations

from typing import Any

from fuzzer.oracles.base import Verdict
from fuzzer.oracles.pairing import NO_PROGRESS, LinkState, Pairing, PairingMonitor
from fuzzer.protocol import smp
from fuzzer.protocol.codec import Decoded
from fuzzer.trace.events import Event

_MIN, _MAX = smp.MIN_ENCRYPTION_KEY_SIZE, smp.MAX_ENCRYPTION_KEY_SIZE


def _valid_size(size: Any) -> bool:
    return isinstance(size, int) and _MIN <= size <= _MAX


def unmasked(key: bytes, size: Any) -> bool:
    """Whether ``key`` (on-air order, least significant octet first) has non-zero octets above
    ``size`` octets."""
    return isinstance(size, int) and 1 <= size < len(key) and any(key[size:])


class KeySize(PairingMonitor):
    #: and every PDU on a link with a pairing that must be refused
    DEVICE_SMP = frozenset({"Pairing Response", "Encryption Information"})
    OTHER_KEYS = False

    def configure(self) -> None:
        lo = self.context.get("min_key_size", self.params.get("min_key_size", _MIN))
        self.min_size = lo if isinstance(lo, int) and _MIN <= lo <= _MAX else _MIN

    def start(self) -> None:
        self.sizes: dict[bytes, int] = {}  # key -> the size it was negotiated with
        self.support: list[Event] = []

    def _bad_request(self, p: Pairing) -> str | None:
        asked = p.preq.get("max_encryption_key_size")
        if p.request is None or not isinstance(asked, int):
            return None
        if not _MIN <= asked <= _MAX:
            return f"a Pairing Request with Maximum Encryption Key Size {asked} (valid: 7..16)"
        if asked < self.min_size:
            return (f"a Pairing Request with Maximum Encryption Key Size {asked}, below the "
                    f"device's minimum {self.min_size}")
        return None

    def on_pairing_start(self, st: LinkState, p: Pairing, event: Event) -> None:
        bad = self._bad_request(p)
        if bad is not None:
            self.notes(p)["bad"] = bad
            st.watch(self)

    def _went_on(self, p: Pairing, event: Event) -> None:
        notes = self.notes(p)
        bad = notes.get("bad")
        if bad is None or notes.get("reported") or p.response is None:
            return
        notes["reported"] = True
        self.violate(f"the device answered {bad} with a Pairing Response and went on to pair "
                     f"instead of Pairing Failed (Encryption Key Size / Invalid Parameters)",
                     event.step, p.evidence(event), signature="accepted-size")

    def on_device_smp(self, st: LinkState, p: Pairing | None, dec: Decoded, event: Event) -> None:
        if p is None:
            return
        name = dec.name
        if event is p.response:
            self.checked += 1
            offered = p.pres.get("max_encryption_key_size")
            if not _valid_size(offered):
                self.violate(f"the device's Pairing Response offers Maximum Encryption Key Size "
                             f"{offered} (valid: 7..16)", event.step, p.evidence(),
                             signature="response-size")
            size = p.key_size
            notes = p.data[self.slot]
            if "bad" not in notes and size is not None and size < self.min_size and \
                    _valid_size(offered):
                notes["bad"] = (f"a pairing that negotiates a {size}-octet key, below the "
                                f"device's minimum {self.min_size}")
                st.watch(self)
            return
        if name == "Pairing Failed":
            notes = p.data[self.slot]
            if "bad" in notes and not notes.get("reported") and not notes.get("refused"):
                notes["refused"] = True
                self.checked += 1
                self.supported(event)
            return
        if p.response is not None and name not in NO_PROGRESS and "bad" in p.data[self.slot]:
            self._went_on(p, event)
        if name == "Encryption Information" and dec.error is None:
            key = dec.fields.get("long_term_key", b"")
            size = p.key_size
            if isinstance(size, int) and _MIN <= size <= _MAX:
                self.sizes.setdefault(key, size)
            self.checked += 1
            if unmasked(key, size):
                self.violate(f"the device distributed an LTK with non-zero octets above the "
                             f"negotiated {size}-octet key size ({key.hex()})", event.step,
                             p.evidence(event), signature="unmasked-distributed")

    def on_key(self, st: LinkState | None, event: Event, key: bytes | None) -> None:
        p = st.pairing if st is not None else None
        size = p.key_size if p is not None else None
        if key is not None and isinstance(size, int) and _MIN <= size <= _MAX:
            self.sizes.setdefault(key, size)

    def on_bond(self, st: LinkState | None, event: Event, key: bytes | None) -> None:
        size = (event.info or {}).get("key_size")
        if key is not None and _valid_size(size):
            self.sizes.setdefault(key, size)

    def on_encryption(self, st: LinkState | None, event: Event, state: Any,
                      ltk: bytes | None) -> None:
        if state != "on":
            return
        self.checked += 1
        p = st.pairing if st is not None else None
        info_size = (event.info or {}).get("key_size")
        if info_size is not None and not _valid_size(info_size):
            self.violate(f"encryption came on with a key size of {info_size} octets (valid: "
                         f"7..16)", event.step, (p.evidence(event) if p is not None else [event]),
                         signature="link-size")
            return
        if p is not None and (ltk is None or not self.held_before(ltk, p)):
            self._went_on(p, event)
            size = p.key_size
        else:
            size = self.sizes.get(ltk) if ltk is not None else None
        if ltk is not None and unmasked(ltk, size):
            self.violate(f"encryption came on under a key with non-zero octets above the "
                         f"negotiated {size}-octet key size ({ltk.hex()})", event.step,
                         (p.evidence(event) if p is not None else [event]),
                         signature="unmasked-link")
        elif p is None or "bad" not in p.data[self.slot]:
            self.supported(event)

    def verdict(self) -> Verdict:
        return self.judged(f"{self.checked} key size negotiation(s), distributed key(s) "
                           f"and encryption(s) within 7..16 octets and masked",
                           "no pairing reached a Pairing Response and no encryption "
                           "came on")
