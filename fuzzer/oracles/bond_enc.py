"""BOND-ENC: a bonded peer reconnecting to the identity it bonded with gets an encrypted link
under the bonded LTK, in application and bootloader alike.

Black-box: the tester's BOND events say who is bonded with which device address; a CONNECT by
that peer to that address starts a bonded reconnection; the encryption procedure's outcome
(ENCRYPTION events and the LL PDUs around it) decides it.
"""

from __future__ import annotations

from fuzzer.oracles.base import INCONCLUSIVE, PASS, Monitor, Verdict
from fuzzer.trace import events as ev
from fuzzer.trace.events import Event


class BondedReconnection(Monitor):
    KINDS = frozenset({ev.BOND, ev.ADV, ev.CONNECT, ev.PDU, ev.ENCRYPTION, ev.DISCONNECT})
    LAYERS = frozenset({"ll"})

    def start(self) -> None:
        self.bonds: dict[tuple[str, str], str] = {}  # (peer, device address) -> LTK hex
        self.adv: dict[str, Event] = {}  # device address -> last ADV seen
        self.open: dict[str, object] | None = None
        self.passed: list[Event] = []
        self.checked = 0
        self.unexercised = 0

    #: the events that matter only while a bonded reconnection is open
    _CASE_KINDS = frozenset({ev.PDU, ev.ENCRYPTION, ev.DISCONNECT})

    def listen(self, trace) -> None:
        """Listen to BOND, ADV and CONNECT events, and while a bonded reconnection is open to
        LL PDUs, ENCRYPTION and DISCONNECT events."""
        trace.subscribe(self.observe, frozenset({ev.BOND, ev.ADV, ev.CONNECT}))
        trace.subscribe(self.on_case, self._CASE_KINDS, self.LAYERS)
        trace.mute(self.on_case)

    def observe(self, event: Event) -> None:
        kind = event.kind
        if kind == ev.BOND:
            info = event.info
            if info.get("debug_key"):
                return  # a debug-key pairing is not meant to be kept (DEBUG-KEY checks it)
            self.bonds[(info["peer"], info["device_address"])] = info["ltk"]
            self.bonds[(info["peer"], info["connection_address"])] = info["ltk"]
        elif kind == ev.ADV:
            self.adv[event.info["address"]] = event
        elif kind == ev.CONNECT:
            info = event.info
            ltk = self.bonds.get((info["peer"], info["peripheral_address"]))
            if ltk is not None:
                self._open({"ltk": ltk, "connect": event, "step": event.step, "pdus": [],
                            "attempted": False, "adv": self.adv.get(info["peripheral_address"])})
            else:
                self._open(None)
        elif self.open is not None:
            self.on_case(event)

    def _open(self, case: dict[str, object] | None) -> None:
        """Start following ``case`` (None: no reconnection case is open)."""
        was_open = self.open is not None
        self.open = case
        if was_open != (case is not None):
            if case is None:
                self.mute(self.on_case)
            else:
                self.unmute(self.on_case)

    def on_case(self, event: Event) -> None:
        """An LL PDU, ENCRYPTION or DISCONNECT event while a reconnection case is open."""
        case = self.open
        kind = event.kind
        if kind == ev.PDU and event.layer == "ll":
            case["pdus"].append(event)
        elif kind == ev.ENCRYPTION and event.info.get("ltk") == case["ltk"]:
            case["attempted"] = True
            if event.info.get("state") == "on":
                self.checked += 1
                self.passed.append(event)
                self._open(None)
            elif event.info.get("state") == "failed":
                self._fail(case, event)
        elif kind == ev.DISCONNECT:
            if not case["attempted"]:
                self.unexercised += 1
            self._open(None)

    def _fail(self, case: dict, event: Event) -> None:
        self.checked += 1
        connect: Event = case["connect"]
        adv: Event | None = case["adv"]
        where = ""
        if adv is not None:
            name = adv.info.get("name", "")
            where = f" (advertising as '{name}')" if name else ""
        reason = event.info.get("reason_name") or f"0x{event.info.get('reason', 0):02x}"
        via = event.info.get("pdu", "")
        msg = (f"peer '{connect.info['peer']}' is bonded with "
               f"{connect.info['peripheral_address']}{where} but encryption with the bonded LTK "
               f"failed: {via + ' ' if via else ''}{reason}")
        self.violate(msg, case["step"], [connect, *case["pdus"], event],
                     signature=f"{via}:{event.info.get('reason')}")
        self._open(None)

    def verdict(self) -> Verdict:
        if self.violations:
            return self.failed()
        if self.checked:
            return Verdict(PASS, f"{self.checked} bonded reconnection(s) encrypted under the "
                                 f"bonded LTK", support=self.passed, checked=self.checked)
        return Verdict(INCONCLUSIVE, "no bonded peer reconnected and started encryption",
                       checked=0)
