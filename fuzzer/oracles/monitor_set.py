"""The monitors of a list of invariants, subscribed afresh to each trace of a fuzz loop.

The first trace is subscribed monitor by monitor (:meth:`Monitor.subscribe`); the listeners,
their routing and the shared helpers (the pairing tracker) it ends with are recorded, and every
later trace gets the same subscriptions in one step. Its monitors are those of the trace before,
restarted, once that trace was released (:meth:`MonitorSet.release`); else new ones. Once a
trace is over, :meth:`MonitorSet.final_violations` reads its monitors' violations.
"""

from __future__ import annotations

import functools
import weakref
from collections.abc import Callable
from operator import attrgetter
from types import MethodType
from typing import Any

from fuzzer.oracles.base import Monitor, Prepared, Violation
from fuzzer.oracles.invariants import Invariant
from fuzzer.trace.events import Subscriptions, Trace


def _method_of(listener: MethodType) -> Callable[[Any], Any]:
    """What gives another owner of the same class the same listener (a bound method): its
    look-up by name when it is a method of the owner's class (far cheaper than binding the
    function anew), else the function bound to the owner."""
    owner, func = listener.__self__, listener.__func__
    for name in (listener.__name__, *dir(type(owner))):
        if getattr(type(owner), name, None) is func and getattr(owner, name) == listener:
            return attrgetter(name)
    return functools.partial(MethodType, func)


class _Plan:
    """How the first trace was subscribed: each listener as (its look-up, index of its owner
    among the monitors then the shared helpers), the routing, and each shared helper with the
    indices of the monitors that joined it."""

    __slots__ = ("subscriptions", "listeners", "helpers")

    def __init__(self, trace: Trace, monitors: list[Monitor]) -> None:
        index = {id(m): i for i, m in enumerate(monitors)}
        self.helpers: list[tuple[Any, Any, list[int]]] = []  # (key, helper, joined monitors)
        for key, helper in trace.shared.items():
            index[id(helper)] = len(monitors) + len(self.helpers)
            self.helpers.append((key, helper, [index[id(m)] for m in helper.monitors]))
        self.subscriptions: Subscriptions = trace.subscriptions()
        self.listeners = [(_method_of(listener), index[id(listener.__self__)])
                          for listener in self.subscriptions.listeners]


class _Lot:
    """The monitors of one trace and what goes with them, kept from trace to trace: the
    shared helpers by key, (id, monitor) pairs, the monitors' bound ``restart`` methods, each
    monitor with whether the end of a trace leaves its violations be (``ENDS_QUIETLY``), and
    once released the trace's listeners."""

    __slots__ = ("monitors", "helpers", "pairs", "restarts", "ending", "listeners")

    def __init__(self, ids: list[str], monitors: list[Monitor],
                 helpers: list[tuple[Any, Any]]) -> None:
        self.monitors = monitors
        self.helpers = helpers  # (key, helper)
        self.pairs = list(zip(ids, monitors, strict=True))
        self.restarts = [m.restart for m in monitors]
        self.ending = [(inv_id, m, m.ENDS_QUIETLY) for inv_id, m in self.pairs]
        self.listeners: list[Any] = []


class MonitorSet:
    """Makes the monitors of ``invariants`` for one trace after another."""

    def __init__(self, invariants: list[Invariant], context: dict[str, Any]) -> None:
        self.invariants = tuple(invariants)
        self.context = context
        self.ids = [inv.id for inv in invariants]
        self.prepared = [Prepared(inv.monitor, inv.id, inv.params, context)
                         for inv in invariants]
        self._plan: _Plan | None = None
        #: the last trace subscribed and its monitors, until released
        self._lent: tuple[Trace, _Lot] | None = None
        #: the monitors of the last trace released, with its listeners
        self._free: _Lot | None = None

    def matches(self, invariants: list[Invariant], context: dict[str, Any]) -> bool:
        """Whether this set was made for ``invariants`` and ``context``."""
        return self.invariants == tuple(invariants) and self.context == context

    def subscribe(self, trace: Trace) -> list[tuple[str, Monitor]]:
        """Monitors that saw no event, subscribed to ``trace`` (which has no subscriptions
        yet), by id."""
        plan = self._plan
        lot = self._free
        if lot is not None:
            # the released trace's monitors, helpers and listeners, restarted
            self._free = None
            for restart in lot.restarts:
                restart()
            shared = trace.shared
            for key, helper in lot.helpers:
                helper.restart()
                shared[key] = helper
            monitors = lot.monitors
            listeners = lot.listeners  # the released trace's list, given up by ``detach``
            lot.listeners = []
        else:
            monitors = [p.new() for p in self.prepared]
            if plan is None:
                for m in monitors:
                    m.subscribe(trace)
                plan = self._plan = _Plan(trace, monitors)
                lot = _Lot(self.ids, monitors, [(key, helper) for key, helper, _ in plan.helpers])
                self._lent = (trace, lot)
                return list(lot.pairs)
            helpers = []
            shared = trace.shared
            for key, helper, joined in plan.helpers:
                helper = shared[key] = helper.like([monitors[i] for i in joined])
                helpers.append((key, helper))
            # each listener: the same method of the new owner at its place
            owners = monitors + [helper for _, helper in helpers]
            listeners = [method(owners[i]) for method, i in plan.listeners]
            lot = _Lot(self.ids, monitors, helpers)
        trace_ref = weakref.ref(trace)
        for m in monitors:
            m.trace_ref = trace_ref
        trace.subscribe_like(plan.subscriptions, listeners)
        self._lent = (trace, lot)
        return list(lot.pairs)

    def final_violations(self, trace: Trace) -> list[tuple[str, Violation]]:
        """(id, violation) of each monitor subscribed to ``trace`` (the last trace subscribed,
        now over): its :meth:`~Monitor.final_violations`, monitor by monitor in order."""
        lent = self._lent
        if lent is None or lent[0] is not trace:
            raise ValueError("the trace is not the last one subscribed, or it was released")
        found: list[tuple[str, Violation]] = []
        for inv_id, m, quiet in lent[1].ending:
            # m.final_violations(), without the call for the monitors the end leaves be
            for v in m.violations if quiet else m.final_violations():
                found.append((inv_id, v))
        return found

    def release(self, trace: Trace) -> None:
        """Be done with the monitors subscribed to ``trace`` (the last trace subscribed; their
        violations read): ``trace`` stops feeding them, and the next trace gets them back,
        restarted. They must not be used any more."""
        lent = self._lent
        if lent is not None and lent[0] is trace:
            self._lent = None
            lot = lent[1]
            lot.listeners = trace.detach()
            self._free = lot
