"""A weighted random choice by cumulative weights, as ``random.Random.choices`` makes it."""

from __future__ import annotations

import random
from bisect import bisect
from collections.abc import Sequence
from math import inf
from typing import TypeVar

T = TypeVar("T")


def pick(rng: random.Random, population: Sequence[T], cum_weights: list[float]) -> T:
    """``rng.choices(population, cum_weights=cum_weights)[0]``: the same item from the same
    draw of ``rng.random()``, without ``choices``' own calls (the fuzz loop makes several such
    choices per program); weights whose total is not positive and finite raise as ``choices``
    does."""
    total = cum_weights[-1] + 0.0
    if 0.0 < total < inf:
        return population[bisect(cum_weights, rng.random() * total, 0, len(population) - 1)]
    return rng.choices(population, cum_weights=cum_weights)[0]  # raises as it does
