"""LIVENESS: the device answers and advertises after every step.

Black-box. A request that the protocol says must be answered — an ATT request (Vol 3 Part F
3.3.2), an LL control PDU that starts a procedure with a response (Vol 6 Part B 5.1), or a
Pairing Request on a link (Vol 3 Part H 3.5.1) — must see a device PDU or the link's end before
the tester's next step. With no link up, the liveness probe's scan must find the device
advertising.
"""

from __future__ import annotations

from fuzzer.oracles.base import PASS, Monitor, Verdict
from fuzzer.protocol import att, ll, smp
from fuzzer.trace import events as ev
from fuzzer.trace.describe import decode
from fuzzer.trace.events import Event

_LL_REQUESTS = {ll.LL_ENC_REQ, ll.LL_FEATURE_REQ, ll.LL_PING_REQ, ll.LL_LENGTH_REQ,
                ll.LL_PAUSE_ENC_REQ, ll.LL_CONNECTION_PARAM_REQ, ll.LL_PERIPHERAL_FEATURE_REQ}
#: (layer, opcode) of every PDU that may oblige the device to answer (``_expects_answer``)
_REQUESTS = frozenset({("att", op) for op in att.RESPONSE_FOR if op != att.HANDLE_VALUE_IND}
                      | {("ll", op) for op in _LL_REQUESTS} | {("smp", smp.PAIRING_REQUEST)})


class Liveness(Monitor):
    KINDS = frozenset({ev.PDU, ev.DISCONNECT, ev.CONNECT, ev.STEP, ev.SCAN_EMPTY, ev.ADV,
                       ev.ENCRYPTION})

    def start(self) -> None:
        self.pending: Event | None = None
        self.last_smp_t: int | None = None  # the last SMP PDU on this link
        self.ll_procedure_open = False  # an encryption start or pause the tester began
        self.smp_may_be_closed = False  # 30 s passed in SMP silence: the SMP timeout may have hit
        self.checked = 0
        self.last_step: Event | None = None

    def _expects_answer(self, event: Event) -> bool:
        """Whether the spec obliges the device to answer this tester PDU. Only well-formed
        PDUs within the default sizes count (a longer or malformed one may be dropped)."""
        data = event.data
        if not data:
            return False
        op = data[0]
        if self.ll_procedure_open:
            return False  # only the procedure's own PDUs flow during encryption start/pause
        layer = event.layer
        if layer == "att":
            # requests to the device's server (an indication is for its client, if any)
            request = (op in att.RESPONSE_FOR and op != att.HANDLE_VALUE_IND
                       and len(data) <= att.DEFAULT_MTU)
        elif layer == "ll":
            request = op in _LL_REQUESTS and len(data) <= 27
        elif layer == "smp":
            # A Pairing Request must be answered unless SMP timed out on this link earlier
            # (no SMP is accepted after the 30 s timeout, Vol 3 Part H 3.4).
            request = op == smp.PAIRING_REQUEST and not self.smp_may_be_closed
        else:
            return False
        if not request:
            return False
        dec = event.memo or decode(event)  # well-formed
        return dec is not None and dec.error is None and dec.name != "unknown"

    def _settle(self, event: Event) -> None:
        pending = self.pending
        if pending is not None:
            self.pending = None
            dec = decode(pending)
            what = dec.name if dec is not None else pending.layer
            self.violate(f"the device did not answer {what}", pending.step, [pending, event],
                         signature=f"no-answer:{pending.layer}")

    def observe(self, event: Event) -> None:
        kind = event.kind
        if kind == ev.PDU:
            layer = event.layer
            if layer == "smp":
                if self.last_smp_t is not None and event.t - self.last_smp_t >= 30_000_000:
                    self.smp_may_be_closed = True  # a pending pairing may have timed out
                self.last_smp_t = event.t
            if event.src == ev.DEVICE:
                self.pending = None
                return
            data = event.data
            if self.pending is None and data and (layer, data[0]) in _REQUESTS and \
                    self._expects_answer(event):
                self.pending = event
                self.checked += 1
            if layer == "ll" and data[:1] in (b"\x03", b"\x0a"):  # LL_ENC_REQ, LL_PAUSE_ENC_REQ
                self.ll_procedure_open = True
        elif kind in (ev.DISCONNECT, ev.CONNECT):
            self.pending = None
            self.last_smp_t = None
            self.smp_may_be_closed = False
            self.ll_procedure_open = False
        elif kind == ev.ENCRYPTION:
            self.ll_procedure_open = False
        elif kind == ev.STEP:
            if self.pending is not None:
                self._settle(event)
            self.last_step = event
        elif kind == ev.SCAN_EMPTY:
            self.checked += 1
            self.violate("the device is not advertising (no link is up)", event.step,
                         [e for e in (self.last_step, event) if e is not None],
                         signature="not-advertising")
        elif kind == ev.ADV:
            self.checked += 1

    def close(self) -> None:
        """A request still unanswered when the trace ends was never answered."""
        if self.pending is not None:
            self._settle(self.pending)

    def verdict(self) -> Verdict:
        if self.violations:
            return self.failed()
        return Verdict(PASS, f"{self.checked} request(s) and advertising probe(s) answered",
                       checked=self.checked)
