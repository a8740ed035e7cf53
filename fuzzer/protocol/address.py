"""Bluetooth device addresses (Core Vol 6 Part B 1.3): display form and on-air octets."""

from __future__ import annotations

from functools import lru_cache

PUBLIC = 0
RANDOM = 1
TYPE_NAMES = {PUBLIC: "public", RANDOM: "random"}
TYPE_CODES = {"public": PUBLIC, "random": RANDOM}


@lru_cache(maxsize=256)  # a fuzz campaign converts the same few addresses again and again
def to_bytes(addr: str) -> bytes:
    """Display form (most significant octet first, colon separated) -> 6 octets as on air."""
    raw = bytes.fromhex(addr.replace(":", ""))
    if len(raw) != 6:
        raise ValueError(f"a device address has 6 octets; got {addr!r}")
    return raw[::-1]


@lru_cache(maxsize=256)  # and back, as often
def from_bytes(raw: bytes) -> str:
    """6 octets as on air (least significant first) -> display form."""
    return bytes(raw[::-1]).hex(":").upper()


def is_static_random(raw: bytes) -> bool:
    """A static random address has its two most significant bits set (1.3.2.1)."""
    return len(raw) == 6 and raw[5] >> 6 == 0b11


def is_resolvable_private(raw: bytes) -> bool:
    """A resolvable private address has its two most significant bits 0b01 (1.3.2.2)."""
    return len(raw) == 6 and raw[5] >> 6 == 0b01
