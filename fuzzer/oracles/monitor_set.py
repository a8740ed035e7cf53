"""The monitors of a list of invariants, subscribed afresh to each trace of a fuzz loop.

The first trace is subscribed monitor by monitor (:meth:`Monitor.subscribe`); the listeners,
their routing and the shared helpers (the pairing tracker) it ends with are recorded, and every
later trace gets the same subscriptions in one step. Its monitors are those of the trace before,
restarted, once that trace was released (:meth:`MonitorSet.release`); else new ones.
"""

from __future__ import annotations

import functools
import weakref
from collections.abc import Callable
from operator import attrgetter
from types import MethodType
from typing import Any

from fuzzer.oracles.base import Monitor, Prepared
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


class MonitorSet:
    """Makes the monitors of ``invariants`` for one trace after another."""

    def __init__(self, invariants: list[Invariant], context: dict[str, Any]) -> None:
        self.invariants = tuple(invariants)
        self.context = context
        self.ids = [inv.id for inv in invariants]
        self.prepared = [Prepared(inv.monitor, inv.id, inv.params, context)
                         for inv in invariants]
        self._plan: _Plan | None = None
        #: the last trace subscribed, its monitors and shared helpers, until released
        self._lent: tuple[Trace, list[Any], list[Any]] | None = None
        #: the monitors, shared helpers and listeners of the last trace released
        self._free: tuple[list[Any], list[Any], list[Any]] | None = None

    def matches(self, invariants: list[Invariant], context: dict[str, Any]) -> bool:
        """Whether this set was made for ``invariants`` and ``context``."""
        return self.invariants == tuple(invariants) and self.context == context

    def subscribe(self, trace: Trace) -> list[tuple[str, Monitor]]:
        """Monitors that saw no event, subscribed to ``trace`` (which has no subscriptions
        yet), by id."""
        plan = self._plan
        free = self._free
        if free is not None:
            # the released trace's monitors, helpers and listeners, restarted
            self._free = None
            monitors, helpers, listeners = free
            for m in monitors:
                m.restart()
            shared = trace.shared
            for (key, _, _), helper in zip(plan.helpers, helpers, strict=True):
                helper.restart()
                shared[key] = helper
            listeners = list(listeners)
        else:
            monitors = [p.new() for p in self.prepared]
            if plan is None:
                for m in monitors:
                    m.subscribe(trace)
                plan = self._plan = _Plan(trace, monitors)
                self._lent = (trace, monitors, [helper for _, helper, _ in plan.helpers])
                return list(zip(self.ids, monitors, strict=True))
            helpers = []
            shared = trace.shared
            for key, helper, joined in plan.helpers:
                helper = shared[key] = helper.like([monitors[i] for i in joined])
                helpers.append(helper)
            # each listener: the same method of the new owner at its place
            owners = monitors + helpers
            listeners = [method(owners[i]) for method, i in plan.listeners]
        trace_ref = weakref.ref(trace)
        for m in monitors:
            m.trace_ref = trace_ref
        trace.subscribe_like(plan.subscriptions, listeners)
        self._lent = (trace, monitors, helpers)
        return list(zip(self.ids, monitors, strict=True))

    def release(self, trace: Trace) -> None:
        """Be done with the monitors subscribed to ``trace`` (the last trace subscribed; their
        violations read): ``trace`` stops feeding them, and the next trace gets them back,
        restarted. They must not be used any more."""
        lent = self._lent
        if lent is not None and lent[0] is trace:
            self._lent = None
            self._free = (lent[1], lent[2], trace.detach())
