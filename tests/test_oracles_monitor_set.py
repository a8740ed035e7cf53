"""A MonitorSet gives every trace after the first the subscriptions the first got monitor by
monitor (listeners, routing, mutes, the shared pairing tracker): the verdicts are the same as
monitors subscribed one by one, whether its monitors are new or those of a released trace,
restarted. Trace.mute and unmute stop and restart one listener."""

from __future__ import annotations

import weakref

from hypothesis import HealthCheck, given, settings
from test_invariants_robust import _ops, _run_all, _summary

from fuzzer.oracles.base import PASS, Verdict
from fuzzer.oracles.invariants import MONITORS, Invariant
from fuzzer.oracles.monitor_set import MonitorSet
from fuzzer.trace import events as ev
from fuzzer.trace.events import Trace

_CONTEXT = {"protected_characteristics": ["2A38"], "authenticated_characteristics": ["2A39"]}
_INVARIANTS = [Invariant(name.upper(), name, "", [], cls) for name, cls in MONITORS.items()]


class _FromSet:
    """Stands for the monitor at ``index`` of a MonitorSet in ``_run_all``: the first one
    subscribes the whole set."""

    def __init__(self, monitor_set: MonitorSet, index: int, made: list) -> None:
        self.monitor_set, self.index, self.made = monitor_set, index, made

    def subscribe(self, trace: Trace) -> None:
        if self.index == 0:
            self.made[:] = [m for _, m in self.monitor_set.subscribe(trace)]
            self.made.append(trace)

    def finish(self):
        return self.made[self.index].finish()


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(first=_ops, ops=_ops)
def test_a_monitor_set_subscribes_later_traces_like_the_first(first, ops):
    alone = [_summary(v) for v in _run_all(
        [inv.monitor(inv.id, inv.params, dict(_CONTEXT)) for inv in _INVARIANTS], ops,
        subscribe=True)]
    monitor_set = MonitorSet(_INVARIANTS, dict(_CONTEXT))
    for events in (first, ops, ops):
        made: list = []
        verdicts = _run_all([_FromSet(monitor_set, i, made) for i in range(len(_INVARIANTS))],
                            events, subscribe=True)
    assert [_summary(v) for v in verdicts] == alone


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(first=_ops, ops=_ops)
def test_a_released_traces_monitors_judge_the_next_trace_like_new_ones(first, ops):
    """Monitors restarted after one trace give the next trace the verdicts (violations,
    evidence, support) new monitors give it, and leave the first trace's verdicts as they were;
    the released trace no longer feeds them."""
    alone = [_summary(v) for v in _run_all(
        [inv.monitor(inv.id, inv.params, dict(_CONTEXT)) for inv in _INVARIANTS], ops,
        subscribe=True)]
    monitor_set = MonitorSet(_INVARIANTS, dict(_CONTEXT))
    summaries = []
    for events in (first, first, ops):
        made: list = []
        verdicts = _run_all([_FromSet(monitor_set, i, made) for i in range(len(_INVARIANTS))],
                            events, subscribe=True)
        summaries.append([_summary(v) for v in verdicts])
        released = made.pop()
        monitor_set.release(released)
    assert summaries[2] == alone
    assert summaries[1] == summaries[0]
    assert [_summary(v) for v in verdicts] == alone  # not changed by the release
    released.add(0, ev.RESET, info={"how": "power"})
    assert [_summary(m.finish()) for m in made] == alone


class _Unjudged:
    """Stands for ``monitor`` in ``_run_all`` without closing it: its final violations are read
    afterwards."""

    def __init__(self, monitor) -> None:
        self.monitor = monitor

    def subscribe(self, trace: Trace) -> None:
        self.monitor.subscribe(trace)

    def finish(self) -> Verdict:
        return Verdict(PASS, "")


class _UnjudgedFromSet(_FromSet):
    def finish(self) -> Verdict:
        return Verdict(PASS, "")


def _violations(found) -> list:
    return [(inv_id, v.message, v.step, v.signature, [e.seq for e in v.events])
            for inv_id, v in found]


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(first=_ops, ops=_ops)
def test_a_monitor_sets_final_violations_are_its_monitors_in_order(first, ops):
    """MonitorSet.final_violations gives each monitor's final_violations, monitor by monitor,
    for a trace with new monitors and for one with a released trace's, restarted."""
    monitor_set = MonitorSet(_INVARIANTS, dict(_CONTEXT))
    for events in (first, ops):
        alone = [inv.monitor(inv.id, inv.params, dict(_CONTEXT)) for inv in _INVARIANTS]
        _run_all([_Unjudged(m) for m in alone], events, subscribe=True)
        expected = [(inv.id, v) for inv, m in zip(_INVARIANTS, alone, strict=True)
                    for v in m.final_violations()]
        made: list = []
        _run_all([_UnjudgedFromSet(monitor_set, i, made) for i in range(len(_INVARIANTS))],
                 events, subscribe=True)
        trace = made.pop()
        assert _violations(monitor_set.final_violations(trace)) == _violations(expected)
        monitor_set.release(trace)


def _state(monitor) -> dict:
    """A monitor's attributes, weak references as the type of what they refer to."""
    return {k: ("ref", type(v())) if isinstance(v, weakref.ref) else v
            for k, v in vars(monitor).items()}


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=_ops)
def test_a_restarted_monitor_is_in_a_new_ones_state(ops):
    monitor_set = MonitorSet(_INVARIANTS, dict(_CONTEXT))
    made: list = []
    _run_all([_FromSet(monitor_set, i, made) for i in range(len(_INVARIANTS))], ops,
             subscribe=True)
    monitor_set.release(made.pop())
    reused = [m for _, m in monitor_set.subscribe(Trace())]
    assert reused == made  # the same monitors
    new_set = MonitorSet(_INVARIANTS, dict(_CONTEXT))  # kept: it holds the trace it subscribed
    new = [m for _, m in new_set.subscribe(Trace())]
    assert [_state(m) for m in reused] == [_state(m) for m in new]


def test_a_muted_listener_hears_nothing_until_unmuted() -> None:
    heard: dict[str, list[int]] = {"a": [], "b": []}

    def a(event):
        heard["a"].append(event.seq)

    def b(event):
        heard["b"].append(event.seq)

    trace, other = Trace(), Trace()
    for tr in (trace, other):
        tr.subscribe(a, frozenset({ev.NOTE}))
        tr.subscribe(b)
    trace.mute(a)
    trace.mute(a)  # muting twice is muting
    trace.add(0, ev.NOTE)
    trace.unmute(a)
    trace.add(1, ev.NOTE)
    trace.mute(b)
    trace.add(2, ev.NOTE)
    assert heard == {"a": [1, 2], "b": [0, 1]}
    other.add(0, ev.NOTE)  # another trace subscribed alike is not muted
    assert heard == {"a": [1, 2, 0], "b": [0, 1, 0]}
