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
from fuzzer.trace.events import Event, Trace

_LL_REQUESTS = {ll.LL_ENC_REQ, ll.LL_FEATURE_REQ, ll.LL_PING_REQ, ll.LL_LENGTH_REQ,
                ll.LL_PAUSE_ENC_REQ, ll.LL_CONNECTION_PARAM_REQ, ll.LL_PERIPHERAL_FEATURE_REQ}
#: ATT requests to the device's server (an indication is for its client, if any)
_ATT_REQUESTS = frozenset(op for op in att.RESPONSE_FOR if op != att.HANDLE_VALUE_IND)
#: LL control PDUs that start an encryption start or pause (Vol 6 Part B 5.1.3, 5.1.3.2)
_LL_ENCRYPTION_PROCEDURES = frozenset({ll.LL_ENC_REQ, ll.LL_PAUSE_ENC_REQ})
#: No SMP PDU is accepted on a link 30 s after the last one of a pending pairing (the SMP
#: timeout, Vol 3 Part H 3.4), in microseconds.
_SMP_TIMEOUT_US = 30_000_000

_PDU = frozenset({ev.PDU})
_TESTER, _DEVICE = frozenset({ev.TESTER}), frozenset({ev.DEVICE})


class Liveness(Monitor):
    KINDS = frozenset({ev.PDU, ev.DISCONNECT, ev.CONNECT, ev.STEP, ev.SCAN_EMPTY, ev.ADV,
                       ev.ENCRYPTION})

    def listen(self, trace: Trace) -> None:
        """Listen to each kind of event it reads with the handler of that kind: the tester's
        ATT, LL and SMP PDUs (only these may oblige the device to answer), every device PDU,
        steps, link changes, scans."""
        trace.subscribe(self.on_tester_att, _PDU, frozenset({"att"}), _TESTER)
        trace.subscribe(self.on_tester_ll, _PDU, frozenset({"ll"}), _TESTER)
        trace.subscribe(self.on_tester_smp, _PDU, frozenset({"smp"}), _TESTER)
        trace.subscribe(self.on_device_pdu, _PDU, sources=_DEVICE)
        trace.subscribe(self.on_step, frozenset({ev.STEP}))
        trace.subscribe(self.on_link, frozenset({ev.CONNECT, ev.DISCONNECT}))
        trace.subscribe(self.on_encryption, frozenset({ev.ENCRYPTION}))
        trace.subscribe(self.on_scan_empty, frozenset({ev.SCAN_EMPTY}))
        trace.subscribe(self.on_adv, frozenset({ev.ADV}))

    def start(self) -> None:
        self.pending: Event | None = None
        self.last_smp_t: int | None = None  # the last SMP PDU on this link
        self.ll_procedure_open = False  # an encryption start or pause the tester began
        self.smp_may_be_closed = False  # 30 s passed in SMP silence: the SMP timeout may have hit
        self.checked = 0
        self.last_step: Event | None = None

    def _settle(self, event: Event) -> None:
        pending = self.pending
        if pending is not None:
            self.pending = None
            dec = decode(pending)
            what = dec.name if dec is not None else pending.layer
            self.violate(f"the device did not answer {what}", pending.step, [pending, event],
                         signature=f"no-answer:{pending.layer}")

    def _smp_at(self, t: int) -> None:
        """An SMP PDU at time ``t``: after 30 s of SMP silence a pending pairing may have timed
        out (Vol 3 Part H 3.4)."""
        if self.last_smp_t is not None and t - self.last_smp_t >= _SMP_TIMEOUT_US:
            self.smp_may_be_closed = True
        self.last_smp_t = t

    def _request(self, event: Event) -> None:
        """A tester PDU the spec obliges the device to answer, unless one is pending already.
        Only well-formed PDUs within the default sizes count (a longer or malformed one may be
        dropped); only the procedure's own PDUs flow during an encryption start or pause."""
        if self.pending is None and not self.ll_procedure_open:
            dec = event.memo or decode(event)
            if dec is not None and dec.error is None and dec.name != "unknown":  # well-formed
                self.pending = event
                self.checked += 1

    def on_tester_att(self, event: Event) -> None:
        """A tester ATT PDU: a request to the device's server must be answered (Vol 3 Part F
        3.3.2)."""
        data = event.data
        if data and data[0] in _ATT_REQUESTS and len(data) <= att.DEFAULT_MTU:
            self._request(event)

    def on_tester_ll(self, event: Event) -> None:
        """A tester LL control PDU: one that starts a procedure with a response must be
        answered (Vol 6 Part B 5.1)."""
        data = event.data
        if data:
            op = data[0]
            if op in _LL_REQUESTS and len(data) <= 27:
                self._request(event)
            if op in _LL_ENCRYPTION_PROCEDURES:
                self.ll_procedure_open = True

    def on_tester_smp(self, event: Event) -> None:
        """A tester SMP PDU: a Pairing Request must be answered unless SMP timed out on this
        link earlier (Vol 3 Part H 3.4)."""
        self._smp_at(event.t)
        data = event.data
        if data and data[0] == smp.PAIRING_REQUEST and not self.smp_may_be_closed:
            self._request(event)

    def on_device_pdu(self, event: Event) -> None:
        """Any device PDU answers the pending request."""
        if event.layer == "smp":
            self._smp_at(event.t)
        self.pending = None

    def on_step(self, event: Event) -> None:
        """The tester's next step: a request still pending was not answered."""
        if self.pending is not None:
            self._settle(event)
        self.last_step = event

    def on_link(self, event: Event) -> None:
        """A CONNECT or DISCONNECT: the link's end answers; a new link starts afresh."""
        self.pending = None
        self.last_smp_t = None
        self.smp_may_be_closed = False
        self.ll_procedure_open = False

    def on_encryption(self, event: Event) -> None:
        """The encryption start or pause is over."""
        self.ll_procedure_open = False

    def on_scan_empty(self, event: Event) -> None:
        """The liveness probe found no advertising device with no link up."""
        self.checked += 1
        self.violate("the device is not advertising (no link is up)", event.step,
                     [e for e in (self.last_step, event) if e is not None],
                     signature="not-advertising")

    def on_adv(self, event: Event) -> None:
        """The liveness probe found the device advertising."""
        self.checked += 1

    def observe(self, event: Event) -> None:
        """Take one event (a monitor fed alone; on a trace, each kind of event goes to its
        handler directly)."""
        kind = event.kind
        if kind == ev.PDU:
            if event.src == ev.DEVICE:
                self.on_device_pdu(event)
            elif event.src == ev.TESTER:
                handler = _TESTER_HANDLERS.get(event.layer)  # type: ignore[arg-type]
                if handler is not None:
                    handler(self, event)
        elif kind in (ev.DISCONNECT, ev.CONNECT):
            self.on_link(event)
        elif kind == ev.ENCRYPTION:
            self.on_encryption(event)
        elif kind == ev.STEP:
            self.on_step(event)
        elif kind == ev.SCAN_EMPTY:
            self.on_scan_empty(event)
        elif kind == ev.ADV:
            self.on_adv(event)

    def close(self) -> None:
        """A request still unanswered when the trace ends was never answered."""
        if self.pending is not None:
            self._settle(self.pending)

    def verdict(self) -> Verdict:
        if self.violations:
            return self.failed()
        return Verdict(PASS, f"{self.checked} request(s) and advertising probe(s) answered",
                       checked=self.checked)


_TESTER_HANDLERS = {"att": Liveness.on_tester_att, "ll": Liveness.on_tester_ll,
                    "smp": Liveness.on_tester_smp}
