"""seeded_random gives exactly the generator random.Random gives for the same text seed."""

import random

import pytest

from fuzzer.crypto.rand import seeded_random


@pytest.mark.parametrize("text", ["", "blefuzz-tester-0", "blefuzz-radio-123456789", "é∂ß-7"])
def test_same_state_and_stream_as_random_random(text: str) -> None:
    want, got = random.Random(text), seeded_random(text)
    assert type(got) is random.Random
    assert got.getstate() == want.getstate()
    assert [got.getrandbits(32) for _ in range(2000)] == [want.getrandbits(32) for _ in range(2000)]
    assert got.gauss(0, 1) == want.gauss(0, 1)
    assert got.choices(range(100), k=50) == want.choices(range(100), k=50)
