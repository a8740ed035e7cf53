"""random_octets draws what one getrandbits(8) per octet would, and leaves the same state."""

from __future__ import annotations

import random

import pytest

from fuzzer.crypto.rand import random_octets


@pytest.mark.parametrize("n", [0, 1, 4, 8, 16, 33])
def test_random_octets_are_one_getrandbits_8_each(n: int) -> None:
    ours, reference = random.Random(n), random.Random(n)
    for _ in range(20):
        assert random_octets(ours, n) == bytes(reference.getrandbits(8) for _ in range(n))
    assert ours.getstate() == reference.getstate()
