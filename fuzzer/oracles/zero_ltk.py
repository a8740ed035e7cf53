"""ZERO-LTK: no link is encrypted under an all-zero key or a key the tester never got
legitimately (CVE-2019-19194, SweynTooth "Zero LTK Installation").

Black-box. The tester holds the keys its KEY events (STK, LTK) and BOND events recorded, each for
a device address. An ENCRYPTION event with state "on" whose ``ltk`` (hex, on-air order) is all
zeros, or is not among the keys held for that device, means the device's Link Layer accepted a
key it never agreed on: whoever knows the key (everyone, for zeros) can read the link.
"""

from __future__ import annotations

from typing import Any

from fuzzer.oracles.base import Verdict
from fuzzer.oracles.pairing import LinkState, PairingMonitor
from fuzzer.protocol import ll
from fuzzer.trace import events as ev
from fuzzer.trace.describe import decode
from fuzzer.trace.events import Event

_ENC_REQ = bytes((ll.LL_ENC_REQ,))


class ZeroLtk(PairingMonitor):
    EXTRA_KINDS = frozenset({ev.PDU, ev.DISCONNECT})
    EXTRA_LAYERS = frozenset({"ll"})
    OTHER_KEYS = False

    def start(self) -> None:
        self.devices: dict[bytes, set[str] | None] = {}  # key -> device addresses (None: any)
        self.support: list[Event] = []
        self.enc_req: dict[int, Event] = {}  # conn_id -> the tester's last LL_ENC_REQ

    def _for_device(self, key: bytes | None, info: dict[str, Any]) -> None:
        if key is None:
            return
        addrs = {a for a in (info.get("device_address"), info.get("connection_address"))
                 if isinstance(a, str) and a}
        if key in self.devices and self.devices[key] is None:
            return
        if not addrs:
            self.devices[key] = None
        else:
            self.devices.setdefault(key, set()).update(addrs)  # type: ignore[union-attr]

    def on_key(self, st: LinkState | None, event: Event, key: bytes | None) -> None:
        self._for_device(key, event.info or {})

    def on_bond(self, st: LinkState | None, event: Event, key: bytes | None) -> None:
        self._for_device(key, event.info or {})

    def subscribe_see(self, trace) -> None:
        """The tester's LL PDUs and every disconnection."""
        trace.subscribe(self.see, frozenset({ev.PDU}), self.EXTRA_LAYERS, frozenset({ev.TESTER}))
        trace.subscribe(self.see, frozenset({ev.DISCONNECT}))

    def see(self, event: Event) -> None:
        """Remember the tester's LL_ENC_REQ on each link, as evidence."""
        if event.kind == ev.PDU:
            if event.src == ev.TESTER and event.link is not None and \
                    event.data[:1] == _ENC_REQ:
                dec = decode(event)
                if dec is not None and dec.name == "LL_ENC_REQ":
                    self.enc_req[event.link.conn_id] = event
        elif event.link is not None:  # a disconnection
            self.enc_req.pop(event.link.conn_id, None)

    def on_encryption(self, st: LinkState | None, event: Event, state: Any,
                      ltk: bytes | None) -> None:
        if state != "on":
            return
        self.checked += 1
        link = event.link or (st.link if st is not None else None)
        device = link.device_address if link is not None else ""
        evidence = [event]
        req = self.enc_req.get(link.conn_id) if link is not None else None
        if req is not None:
            evidence.insert(0, req)
        raw = (event.info or {}).get("ltk")
        if ltk is None or not any(ltk):
            what = "an all-zero LTK" if ltk is not None else f"an unreadable key {raw!r}"
            self.violate(f"the link to {device or 'the device'} was encrypted under {what}",
                         event.step, evidence, signature="zero")
            return
        if ltk not in self.devices:
            self.violate(f"the link to {device or 'the device'} was encrypted under a key the "
                         f"tester never got from a pairing or bond ({ltk.hex()})", event.step,
                         evidence, signature="unknown")
            return
        devices = self.devices[ltk]
        if devices is not None and device and device not in devices:
            held = self.held.get(ltk)
            self.violate(f"the link to {device} was encrypted under a key the tester holds only "
                         f"for {', '.join(sorted(devices))}", event.step,
                         ([held] if held is not None else []) + evidence,
                         signature="other-device")
            return
        self.supported(event)

    def verdict(self) -> Verdict:
        return self.judged(f"{self.checked} encrypted link(s), each under a key the tester "
                           f"got from a pairing or bond",
                           "encryption never came on")
