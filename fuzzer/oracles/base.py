"""Monitors: each checks one invariant over trace events, as they arrive and at the end."""

from __future__ import annotations

import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from fuzzer.trace.describe import evidence_event
from fuzzer.trace.events import Event, Trace

PASS, FAIL, INCONCLUSIVE, ERROR = "pass", "fail", "inconclusive", "error"

#: How many supporting events a verdict keeps.
SUPPORT_CAP = 32


@dataclass
class Violation:
    """One place where an invariant did not hold."""

    message: str
    step: int
    events: list[Event]
    signature: str = ""

    def to_dict(self, steps: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        d: dict[str, Any] = {"message": self.message, "step": self.step,
                             "events": [evidence_event(e) for e in self.events]}
        if steps is not None and 0 <= self.step < len(steps):
            d["step_detail"] = steps[self.step]
        return d


@dataclass
class Verdict:
    """A monitor's result: status, a sentence, and the violations or supporting events."""

    status: str
    message: str
    violations: list[Violation] = field(default_factory=list)
    support: list[Event] = field(default_factory=list)  # events that showed it holding
    checked: int = 0  # how many times the invariant was exercised


class Monitor:
    """Base class. ``observe`` sees every event in order; ``finish`` gives the verdict.

    A subclass overrides :meth:`verdict`, and :meth:`close` when the end of the trace may still
    add violations; one that overrides ``finish`` itself is judged through it alone.
    Subclasses set ``black_box = False`` if they read device state (emulator only)."""

    black_box = True
    #: the event kinds this monitor reads (None: all), and for PDUs the layers (None: all)
    KINDS: frozenset[str] | None = None
    LAYERS: frozenset[str] | None = None
    #: whether the end of the trace adds no violation (the class overrides neither ``close``
    #: nor ``finish``): its final violations are then :attr:`violations` as they stand
    ENDS_QUIETLY = True

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.ENDS_QUIETLY = cls.close is Monitor.close and cls.finish is Monitor.finish

    #: the trace this monitor listens to, once subscribed (weakly: the trace holds the
    #: monitor's listeners)
    trace_ref: weakref.ref[Trace] | None = None

    def subscribe(self, trace: Trace) -> None:
        """Listen to ``trace`` for the events this monitor reads (:meth:`listen`)."""
        self.trace_ref = weakref.ref(trace)
        self.listen(trace)

    def listen(self, trace: Trace) -> None:
        """Subscribe this monitor's listeners to ``trace``: :meth:`observe`, for ``KINDS`` and
        ``LAYERS``, unless a subclass listens otherwise."""
        trace.subscribe(self.observe, self.KINDS, self.LAYERS)

    def mute(self, listener: Callable[[Event], None]) -> None:
        """Stop calling ``listener`` (one of this monitor's, subscribed) until :meth:`unmute`."""
        trace = self.trace_ref() if self.trace_ref is not None else None
        if trace is not None:
            trace.mute(listener)

    def unmute(self, listener: Callable[[Event], None]) -> None:
        """Call ``listener`` again for the events it subscribed to."""
        trace = self.trace_ref() if self.trace_ref is not None else None
        if trace is not None:
            trace.unmute(listener)

    def __init__(self, invariant_id: str, params: dict[str, Any] | None = None,
                 context: dict[str, Any] | None = None) -> None:
        self.invariant_id = invariant_id
        self.params = params or {}
        self.context = context or {}
        self.configure()
        self.violations: list[Violation] = []
        self.start()

    def configure(self) -> None:
        """Read the monitor's settings from :attr:`params` and :attr:`context` (once per
        invariant: see :class:`Prepared`)."""

    def start(self) -> None:
        """Set the state of a monitor that saw no event yet (besides :attr:`violations`)."""

    def restart(self) -> None:
        """Go back to the state of a monitor that saw no event (its subscriptions and settings
        kept): a :class:`~fuzzer.oracles.monitor_set.MonitorSet` reuses its monitors trace
        after trace."""
        self.violations = []
        self.start()

    def observe(self, event: Event) -> None:  # pragma: no cover - interface
        raise NotImplementedError

    def close(self) -> None:
        """The end-of-trace checks that may still add violations (run once, when the trace is
        over, before the verdict)."""

    def verdict(self) -> Verdict:  # pragma: no cover - interface
        """The verdict, once :meth:`close` ran."""
        raise NotImplementedError

    def finish(self) -> Verdict:
        """The verdict once the trace is over."""
        self.close()
        return self.verdict()

    def final_violations(self) -> list[Violation]:
        """The violations once the trace is over (``finish().violations``), without building
        the verdict: the fuzz loop reads only the violations."""
        if self.ENDS_QUIETLY:
            return self.violations
        if type(self).finish is not Monitor.finish:
            return self.finish().violations  # a monitor judged by its own finish
        self.close()
        return self.violations

    def supported(self, event: Event) -> None:
        """Keep ``event`` among those that showed the invariant holding (up to SUPPORT_CAP)."""
        if len(self.support) < SUPPORT_CAP:
            self.support.append(event)

    def judged(self, passed: str, inconclusive: str) -> Verdict:
        """The verdict of a monitor that counts in ``checked`` and keeps ``support``: FAIL led
        by the first violation, else PASS (``passed``) once the invariant was exercised, else
        INCONCLUSIVE (``inconclusive``)."""
        if self.violations:
            return self.failed()
        if self.checked:
            return Verdict(PASS, passed, support=self.support, checked=self.checked)
        return Verdict(INCONCLUSIVE, inconclusive, checked=0)

    def failed(self) -> Verdict | None:
        """The FAIL verdict, led by the first violation, once there is any."""
        if not self.violations:
            return None
        return Verdict(FAIL, self.violations[0].message, self.violations,
                       checked=getattr(self, "checked", 0))

    def violate(self, message: str, step: int, events: list[Event], signature: str = "") -> None:
        self.violations.append(Violation(message, step, list(events), signature or message))


_new = object.__new__


class Prepared:
    """Makes fresh monitors of one invariant: its params and the context are read once, when
    prepared, instead of once per monitor."""

    __slots__ = ("cls", "invariant_id", "params", "context", "settings")

    def __init__(self, cls: type[Monitor], invariant_id: str, params: dict[str, Any] | None,
                 context: dict[str, Any] | None) -> None:
        monitor = _new(cls)
        monitor.invariant_id = self.invariant_id = invariant_id
        monitor.params = self.params = params or {}
        monitor.context = self.context = context or {}
        monitor.configure()
        self.cls = cls
        #: what ``configure`` set, as (attribute, value), for every new monitor
        self.settings = tuple((k, v) for k, v in vars(monitor).items()
                              if k not in ("invariant_id", "params", "context"))

    def new(self) -> Monitor:
        """A monitor that saw no event, as ``cls(invariant_id, params, context)`` makes it."""
        # attribute by attribute, in __init__'s order: a monitor's __dict__ left alone keeps
        # its attributes quick to read (CPython's inline values)
        monitor = _new(self.cls)
        monitor.invariant_id = self.invariant_id
        monitor.params = self.params
        monitor.context = self.context
        for name, value in self.settings:
            setattr(monitor, name, value)
        monitor.violations = []
        monitor.start()
        return monitor
