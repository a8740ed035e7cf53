"""Seeded random generators, and random octets for nonces, key diversifiers and IVs drawn
from them."""

from __future__ import annotations

import random
from _random import Random as _CoreRandom
from hashlib import sha512


def seed_as_text(rng: random.Random, text: str) -> None:
    """Seed ``rng`` as ``random.Random(text)`` is seeded, without seeding's Python layers (the
    fuzz loop seeds a few generators per program)."""
    # Random.seed's version 2 for a str (random.py): its UTF-8 octets followed by their SHA-512,
    # as one big-endian integer, seed the Mersenne Twister; gauss() starts afresh.
    octets = text.encode()
    _CoreRandom.seed(rng, int.from_bytes(octets + sha512(octets).digest()))
    rng.gauss_next = None


def seeded_random(text: str) -> random.Random:
    """``random.Random(text)``: the same generator, made without seeding's Python layers."""
    rng = random.Random.__new__(random.Random)
    seed_as_text(rng, text)
    return rng


def random_octets(rng: random.Random, n: int) -> bytes:
    """``n`` octets from ``rng``: the top octet of each of its next ``n`` 32-bit outputs.

    The same octets, and the same generator state after, as ``bytes(rng.getrandbits(8) for _ in
    range(n))``: ``getrandbits(32 * n)`` puts those outputs in little-endian order, each
    output's top octet last of its four.
    """
    return rng.getrandbits(32 * n).to_bytes(4 * n, "little")[3::4]
