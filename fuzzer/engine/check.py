"""`blefuzz check`: walk the suites' programs with honest centrals and judge every invariant."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fuzzer.engine.central import CentralModel
from fuzzer.engine.procedures import PROCEDURES
from fuzzer.engine.program import Program
from fuzzer.engine.runner import Runner
from fuzzer.oracles.base import Verdict
from fuzzer.oracles.invariants import Invariant
from fuzzer.schema import SpecError
from fuzzer.targets.base import Target
from fuzzer.trace.events import Trace


@dataclass
class CheckRun:
    """Everything a check produced: the trace, the steps as run, and a verdict per invariant."""

    trace: Trace
    steps: list[dict[str, Any]]
    verdicts: dict[str, Verdict]
    invariants: list[Invariant]
    suites: list[Program] = field(default_factory=list)


def load_suites(directory: Path, names: list[str] | None) -> list[Program]:
    """The suites by name (all of them when ``names`` is None), validated."""
    available = {p.stem: p for p in sorted(directory.glob("*.yaml"))}
    chosen = names or sorted(available)
    suites = []
    for name in chosen:
        if name not in available:
            raise SpecError("--suite", name, f"unknown suite; available: "
                                             f"{', '.join(sorted(available))}")
        suites.append(Program.load(available[name], set(PROCEDURES)))
    return suites


def run_check(target: Target, suites: list[Program], invariants: list[Invariant],
              models: dict[str, CentralModel], seed: int = 0) -> CheckRun:
    """Run the suites in order on one target; monitors watch the trace as it grows."""
    trace = Trace()
    context: dict[str, Any] = {"protected_characteristics": []}
    for suite in suites:
        context["protected_characteristics"] += suite.expectations.get(
            "protected_characteristics", [])
    monitors = {inv.id: inv.new_monitor(context) for inv in invariants}
    observers = [m.observe for m in monitors.values()]

    def observe(event) -> None:
        for obs in observers:
            obs(event)

    trace.subscribe(observe)
    runner = Runner(target, models, seed, trace)
    steps: list[dict[str, Any]] = []
    for suite in suites:
        offset = len(steps)
        runner.run_program(suite, offset)
        for i, step in enumerate(suite.steps):
            steps.append({"index": offset + i, "suite": suite.name, **step.to_dict()})
    trace.step = len(steps)
    runner.probe()
    target.close()
    verdicts = {inv_id: m.finish() for inv_id, m in monitors.items()}
    return CheckRun(trace, steps, verdicts, invariants, suites)
