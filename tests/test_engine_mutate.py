"""Mutation: every operator leaves the programs it starts from untouched (mutated programs share
unchanged steps with their parents in the corpus), and stays within the step budget."""

from __future__ import annotations

import copy
import random

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fuzzer.engine.mutate import DEFAULT_WEIGHTS, Mutator
from fuzzer.engine.program import ProgramStep
from fuzzer.strategies import programs
from fuzzer.targets.base import PRIMITIVES

MODEL_STEPS = [ProgramStep("pair", {"peer": "phone"}), ProgramStep("hang_up", {})]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(program=programs(max_steps=10), other=programs(max_steps=6),
       op=st.sampled_from(sorted(DEFAULT_WEIGHTS)), seed=st.integers(0, 2**32 - 1),
       count=st.integers(1, 4))
def test_operators_leave_the_originals_alone(program, other, op, seed, count):
    mutator = Mutator(random.Random(seed), frozenset(PRIMITIVES), ["phone", "other"],
                      MODEL_STEPS, {name: (1 if name == op else 0) for name in DEFAULT_WEIGHTS},
                      max_steps=12)
    before, before_other = copy.deepcopy(program.steps), copy.deepcopy(other.steps)
    out, applied = mutator.mutate(program.steps, other.steps, count=count)
    assert program.steps == before and other.steps == before_other
    assert len(applied) == count and len(out) <= 12
    kept = copy.deepcopy(out)
    mutator.mutate(out, count=count)  # a mutant's steps are shared with its own mutants too
    assert out == kept
