"""Shrinking a violating program: delta debugging over steps (Zeller's ddmin), then over the
arguments of each step, keeping only what the violation needs."""

from __future__ import annotations

from collections.abc import Callable

from fuzzer.engine.program import Program, ProgramStep

Test = Callable[[list[ProgramStep]], bool]


def ddmin(steps: list[ProgramStep], test: Test, budget: int = 400) -> list[ProgramStep]:
    """The smallest subsequence found for which ``test`` still holds (1-minimal when the
    budget allows)."""
    n = 2
    tries = 0
    while len(steps) >= 2 and tries < budget:
        chunk = max(1, len(steps) // n)
        subsets = [steps[i:i + chunk] for i in range(0, len(steps), chunk)]
        reduced = False
        for i in range(len(subsets)):
            complement = [s for j, sub in enumerate(subsets) if j != i for s in sub]
            tries += 1
            if complement and test(complement):
                steps, n, reduced = complement, max(n - 1, 2), True
                break
            if tries >= budget:
                break
        if not reduced:
            if n >= len(steps):
                break
            n = min(len(steps), n * 2)
    return steps


def simplify_args(steps: list[ProgramStep], test: Test, budget: int = 200
                  ) -> list[ProgramStep]:
    """Drop each optional argument of each step that the violation does not need."""
    tries = 0
    for i in range(len(steps)):
        for key in sorted(steps[i].args):
            if key in ("peer", "pdu", "ltk", "uuid") or tries >= budget:
                continue
            candidate = [ProgramStep(s.op, dict(s.args), s.label) for s in steps]
            del candidate[i].args[key]
            tries += 1
            if test(candidate):
                steps = candidate
    return steps


def minimize(program: Program, test: Test, budget: int = 600) -> Program:
    """``program`` with the fewest steps and arguments that still make ``test`` hold."""
    steps = ddmin(list(program.steps), test, budget=budget * 2 // 3)
    steps = simplify_args(steps, test, budget=budget // 3)
    return Program(program.name, program.peers, steps, program.title, program.expectations)
