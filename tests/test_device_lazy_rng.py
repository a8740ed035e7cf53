"""The device's random stream, seeded on first use, draws what ``random.Random(text)`` draws."""

from __future__ import annotations

import copy
import pickle
import random
from collections.abc import Callable
from typing import Any

import pytest

from fuzzer.emulator.device import _LazyRandom

TEXT = "blefuzz-device-7"

DRAWS: dict[str, Callable[[random.Random], Any]] = {
    "getrandbits": lambda r: r.getrandbits(77),
    "random": lambda r: r.random(),
    "randrange": lambda r: r.randrange(1_000_000),
    "choice": lambda r: r.choice("abcdefg"),
    "randbytes": lambda r: r.randbytes(9),
    "gauss": lambda r: r.gauss(),
    "uniform": lambda r: r.uniform(1, 5),
    "sample": lambda r: r.sample(range(100), 5),
    "getstate": lambda r: r.getstate(),
    "seed": lambda r: r.seed(5),
    "setstate": lambda r: r.setstate(random.Random(3).getstate()),
    "deepcopy": lambda r: copy.deepcopy(r).getrandbits(64),
    "pickle": lambda r: pickle.loads(pickle.dumps(r)).getrandbits(64),
}


@pytest.mark.parametrize("draw", sorted(DRAWS))
def test_lazy_stream_draws_as_random_random(draw: str) -> None:
    lazy, reference = _LazyRandom(TEXT), random.Random(TEXT)
    assert DRAWS[draw](lazy) == DRAWS[draw](reference)
    assert type(lazy) is random.Random  # once seeded, a plain generator
    assert lazy.getstate() == reference.getstate()
    assert [lazy.random() for _ in range(5)] == [reference.random() for _ in range(5)]
