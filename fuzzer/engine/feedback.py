"""Target-independent feedback: the (abstract state, step kind, answer kind) transitions a
program exercised, AFLNet-style, computed from the trace alone.

The abstract state is what the tester can see: whether a link is up and encrypted, whether the
device advertised itself as an application or a DFU bootloader, the last SMP PDU on the link and
whether the tester holds a bond for the device. A step kind is the tester's action (an op and
the PDU name); an answer kind is the set of PDU names the device sent back plus link changes.
"""

from __future__ import annotations

from fuzzer.protocol.nordic_dfu import SERVICE_UUID_BYTES
from fuzzer.trace import events as ev
from fuzzer.trace.describe import decode
from fuzzer.trace.events import Event

_DFU_SERVICE = SERVICE_UUID_BYTES  # the Legacy DFU service, as advertised by the bootloader


def _pdu_name(event: Event) -> str:
    dec = decode(event)
    if dec is None:
        return f"{event.layer}?"
    return f"{event.layer}:{dec.name}{'!' if dec.error else ''}"


def transitions(events: list[Event]) -> set[tuple[str, str, str]]:
    """Every (state before, tester action, device answer) the events show."""
    out: set[tuple[str, str, str]] = set()
    link = "down"
    mode = "?"
    smp_phase = "-"
    bonded: set[str] = set()
    device = ""
    state = "down|?|-|-"
    action: str | None = None
    answer: list[str] = []

    def close() -> None:
        if action is not None:
            out.add((state, action, ",".join(sorted(set(answer))) or "silence"))

    for e in events:
        kind = e.kind
        tester_action = (
            (kind == ev.PDU and e.src == ev.TESTER) or kind in (ev.CONNECT, ev.CONNECT_FAIL,
                                                                ev.RESET)
            or (kind == ev.DISCONNECT and e.src == ev.TESTER)
        )
        if tester_action:
            close()
            state = f"{link}|{mode}|{smp_phase}|{'b' if device in bonded else '-'}"
            action = _pdu_name(e) if kind == ev.PDU else kind
            answer = []
        elif kind == ev.PDU:
            answer.append(_pdu_name(e))
        elif kind in (ev.DISCONNECT, ev.ENCRYPTION, ev.SCAN_EMPTY, ev.NO_ANSWER):
            answer.append(f"{kind}:{(e.info or {}).get('state', '')}")
        # the state after this event
        if kind == ev.ADV:
            mode = "dfu" if _DFU_SERVICE in e.data else "app"
        elif kind == ev.CONNECT:
            link, smp_phase = "up", "-"
            device = e.info.get("peripheral_address", "")
        elif kind == ev.DISCONNECT:
            link, smp_phase = "down", "-"
        elif kind == ev.ENCRYPTION:
            state_info = e.info.get("state")
            if state_info == "on":
                link = "enc"
            elif state_info == "off":
                link = "up"
        elif kind == ev.BOND:
            bonded.add(e.info.get("device_address", ""))
            bonded.add(e.info.get("connection_address", ""))
        elif kind == ev.RESET:
            link, smp_phase = "down", "-"
        if kind == ev.PDU and e.layer == "smp":
            dec = decode(e)
            if dec is not None and dec.error is None:
                smp_phase = dec.name
    close()
    return out


class Coverage:
    """The transitions seen so far in a campaign."""

    def __init__(self) -> None:
        self.seen: set[tuple[str, str, str]] = set()

    def add(self, found: set[tuple[str, str, str]]) -> int:
        """Record ``found``; return how many were new."""
        new = found - self.seen
        self.seen |= new
        return len(new)

    def __len__(self) -> int:
        return len(self.seen)
