"""Random octets for nonces, key diversifiers and IVs, drawn from a seeded generator."""

from __future__ import annotations

import random


def random_octets(rng: random.Random, n: int) -> bytes:
    """``n`` octets from ``rng``: the top octet of each of its next ``n`` 32-bit outputs.

    The same octets, and the same generator state after, as ``bytes(rng.getrandbits(8) for _ in
    range(n))``: ``getrandbits(32 * n)`` puts those outputs in little-endian order, each
    output's top octet last of its four.
    """
    return rng.getrandbits(32 * n).to_bytes(4 * n, "little")[3::4]
