"""Run one program on a freshly reset target with fresh monitors: the fuzz loop's unit."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fuzzer.engine.central import CentralModel
from fuzzer.engine.feedback import STEP_ACTIONS, walk
from fuzzer.engine.program import Program
from fuzzer.engine.runner import Runner
from fuzzer.oracles.base import Violation
from fuzzer.oracles.invariants import Invariant
from fuzzer.oracles.monitor_set import MonitorSet
from fuzzer.targets.base import Target, TargetError
from fuzzer.trace import events as ev
from fuzzer.trace.events import Trace


@dataclass
class ProgramRun:
    """What one program did: its trace, the violations, the transitions, the steps."""

    trace: Trace
    violations: list[tuple[str, Violation]] = field(default_factory=list)
    transitions: set[tuple[str, str, str]] = field(default_factory=set)
    steps: int = 0
    error: str | None = None

    def signatures(self) -> list[tuple[str, str]]:
        """(invariant, signature) of each violation, first occurrence order."""
        seen: list[tuple[str, str]] = []
        for inv, v in self.violations:
            key = (inv, v.signature)
            if key not in seen:
                seen.append(key)
        return seen



def count_steps(trace: Trace) -> int:
    """Tester actions the device processed: each PDU the tester sent (a procedure counts its
    PDUs, an encryption start its LL PDUs), each connection attempt and power cycle. The
    liveness probes' scans are not steps."""
    steps = 0
    for e in trace.events:
        if (e.kind == ev.PDU and e.src == ev.TESTER) or e.kind in STEP_ACTIONS:
            steps += 1
    return steps


_last_set: MonitorSet | None = None


def _monitor_set(invariants: list[Invariant], context: dict[str, Any]) -> MonitorSet:
    """The monitor set of ``invariants`` and ``context`` (the fuzz loop's are the same for
    every program)."""
    global _last_set
    monitor_set = _last_set
    if monitor_set is None or not monitor_set.matches(invariants, context):
        monitor_set = _last_set = MonitorSet(invariants, context)
    return monitor_set


def execute(target: Target, program: Program, invariants: list[Invariant],
            central_models: dict[str, CentralModel], seed: int,
            context: dict[str, Any] | None = None, feedback: bool = True) -> ProgramRun:
    """Reset the target with ``seed``, run ``program``, judge every invariant."""
    target.reset(seed)
    trace = Trace()
    monitor_set = _monitor_set(invariants, context or {}) if invariants else None
    if monitor_set is not None:
        monitor_set.subscribe(trace)
    runner = Runner(target, central_models, seed, trace)
    error = None
    try:
        runner.run_program(program)
        runner.probe()
    except (TargetError, ValueError) as exc:
        error = str(exc)
    if monitor_set is not None:
        violations = monitor_set.final_violations(trace)
        monitor_set.release(trace)  # the next program's trace reuses the monitors
    else:
        violations = []
    if feedback:
        transitions, steps = walk(trace.events)
    else:
        transitions, steps = set(), count_steps(trace)
    return ProgramRun(trace, violations, transitions, steps, error)
