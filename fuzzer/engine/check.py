"""`blefuzz check`: walk the story suites' programs with honest centrals, run the conformance
suites' cases (``fuzzer.engine.conformance``), and judge every invariant over all of it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fuzzer.engine.central import CentralModel
from fuzzer.engine.conformance import (
    CaseResult,
    ConformanceSuite,
    DeviceInfo,
    load_conformance,
    run_case,
)
from fuzzer.engine.procedures import PROCEDURES
from fuzzer.engine.program import Program
from fuzzer.engine.runner import Runner
from fuzzer.oracles.base import ERROR, FAIL, INCONCLUSIVE, PASS, Verdict
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
    cases: list[CaseResult] = field(default_factory=list)
    conformance: list[ConformanceSuite] = field(default_factory=list)

    def invariant_verdicts(self, invariant_id: str) -> list[tuple[str, Verdict, list[dict]]]:
        """Every verdict on one invariant: the story run's (label ``""``, when a story suite
        ran) and each conformance case's (labelled with the case id)."""
        out: list[tuple[str, Verdict, list[dict]]] = []
        if self.suites:
            out.append(("", self.verdicts[invariant_id], self.steps))
        for case in self.cases:
            if invariant_id in case.verdicts:
                out.append((case.case.id, case.verdicts[invariant_id], case.steps))
        return out


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


def suite_names(specs: Path) -> dict[str, str]:
    """Every suite name -> its kind (``story`` for specs/suites, ``conformance``)."""
    names = {p.stem: "story" for p in sorted((specs / "suites").glob("*.yaml"))}
    for suite in load_conformance(specs / "conformance"):
        names[suite.name] = "conformance"
    return names


def select_suites(specs: Path, names: list[str] | None
                  ) -> tuple[list[Program], list[ConformanceSuite]]:
    """The story suites and conformance suites named (all of them when ``names`` is None)."""
    available = suite_names(specs)
    for name in names or []:
        if name not in available:
            raise SpecError("--suite", name, f"unknown suite; available: "
                                             f"{', '.join(sorted(available))}")
    chosen = names or sorted(available)
    story = [n for n in chosen if available[n] == "story"]
    conf = [n for n in chosen if available[n] == "conformance"]
    stories = load_suites(specs / "suites", story) if story else []
    return stories, load_conformance(specs / "conformance", conf) if conf else []


def run_conformance(suites: list[ConformanceSuite], make_target: Callable[[], Target],
                    models: dict[str, CentralModel], device: DeviceInfo,
                    invariants: list[Invariant] = (), seed: int = 0) -> list[CaseResult]:
    """Every case of every suite, each on a fresh target, with fresh invariant monitors."""
    def monitors():
        return {inv.id: inv.new_monitor({"protected_characteristics": []}) for inv in invariants}

    return [run_case(suite, case, make_target, models, device, seed, monitors)
            for suite in suites for case in suite.cases]


def combine(verdicts: list[tuple[str, Verdict, list[dict]]]) -> Verdict:
    """One verdict from several runs: fail if any failed, else error, else pass if any
    passed, else inconclusive. Violations keep the label of the run they come from."""
    if not verdicts:
        return Verdict(INCONCLUSIVE, "no suite that exercises it was run")
    statuses = [v.status for _, v, _ in verdicts]
    status = next((s for s in (FAIL, ERROR, PASS) if s in statuses), INCONCLUSIVE)
    label, first, _ = next(x for x in verdicts if x[1].status == status)
    message = f"{label}: {first.message}" if label else first.message
    if status == PASS:
        held = sum(1 for lab, v, _ in verdicts if lab and v.status == PASS)
        checked = sum(v.checked for lab, v, _ in verdicts if lab)
        cases = f"held in {held} conformance case(s) that exercised it ({checked} checks)"
        story = next((v for lab, v, _ in verdicts if not lab and v.status == PASS), None)
        message = (f"{story.message}; {cases}" if story and held else story.message if story
                   else cases)
    return Verdict(status, message, [x for _, v, _ in verdicts for x in v.violations],
                   [x for _, v, _ in verdicts for x in v.support],
                   sum(v.checked for _, v, _ in verdicts))


def expectations_context(programs: list[Program]) -> dict[str, Any]:
    """The product expectations the programs declare, merged for the monitors: lists are
    joined, single values are taken from the last program that sets them."""
    context: dict[str, Any] = {"protected_characteristics": []}
    for program in programs:
        for key, value in program.expectations.items():
            if isinstance(value, list):
                context[key] = context.get(key, []) + list(value)
            elif value is not None:
                context[key] = value
    return context


def run_check(target: Target, suites: list[Program], invariants: list[Invariant],
              models: dict[str, CentralModel], seed: int = 0) -> CheckRun:
    """Run the suites in order on one target; monitors watch the trace as it grows."""
    trace = Trace()
    context = expectations_context(suites)
    monitors = {inv.id: inv.new_monitor(context) for inv in invariants}
    for m in monitors.values():
        m.subscribe(trace)
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
