"""weighted.pick makes the choice random.Random.choices makes, from the same draw."""

import random
from itertools import accumulate

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fuzzer.engine import weighted


@given(st.lists(st.floats(min_value=0.0, max_value=1e6), min_size=1, max_size=12),
       st.integers(min_value=0, max_value=2**32))
def test_same_item_and_generator_state_as_choices(weights: list[float], seed: int) -> None:
    cum = list(accumulate(weights))
    total = cum[-1] + 0.0
    population = list(range(len(weights)))
    want_rng, got_rng = random.Random(seed), random.Random(seed)
    if total <= 0.0:
        with pytest.raises(ValueError):
            want_rng.choices(population, cum_weights=cum)
        with pytest.raises(ValueError):
            weighted.pick(got_rng, population, cum)
        return
    assert weighted.pick(got_rng, population, cum) == \
        want_rng.choices(population, cum_weights=cum)[0]
    assert got_rng.getstate() == want_rng.getstate()
