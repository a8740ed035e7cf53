"""Resolvable private addresses: generation and resolution with an IRK.

Core Vol 6 Part B 1.3.2.2 (format: a 24-bit hash in the least significant octets, a 24-bit
prand above it whose two most significant bits are 0b01) and 1.3.2.3 (resolution: recompute the
hash from the IRK and prand and compare), with the hash function ah of Vol 3 Part H 2.2.2.

Addresses are 6 octets as on air (least significant octet first), so ``address[:3]`` is the hash
and ``address[3:]`` the prand.
"""

from __future__ import annotations

from .sc import ah

__all__ = ["is_rpa", "make_rpa", "resolve_rpa"]

_RPA_MARK = 0b01  # the two most significant bits of prand (Vol 6 Part B 1.3.2.2)


def is_rpa(address: bytes) -> bool:
    """Whether ``address`` (6 octets as on air) has the resolvable private address format."""
    return len(address) == 6 and address[5] >> 6 == _RPA_MARK


def make_rpa(irk: bytes, prand: bytes) -> bytes:
    """A resolvable private address for ``irk`` (16 octets, little-endian as in SMP).

    ``prand`` is 3 octets, little-endian; its two most significant bits are forced to 0b01
    (Vol 6 Part B 1.3.2.2), so any 3 random octets supply the 22 random bits. The random part
    must not be all zeros or all ones (1.3.2.2); ValueError otherwise.
    """
    if len(prand) != 3:
        raise ValueError(f"prand must be 3 bytes, got {len(prand)}")
    marked = bytes((prand[0], prand[1], (prand[2] & 0x3F) | (_RPA_MARK << 6)))
    random_bits = int.from_bytes(marked, "little") & ((1 << 22) - 1)
    if random_bits in (0, (1 << 22) - 1):
        raise ValueError("the random part of prand must not be all zeros or all ones")
    return ah(irk, marked) + marked


def resolve_rpa(irk: bytes, address: bytes) -> bool:
    """Whether ``address`` is a resolvable private address generated from ``irk``
    (Vol 6 Part B 1.3.2.3: localHash = ah(IRK, prand) equals the address's hash)."""
    if not is_rpa(address):
        return False
    return ah(irk, address[3:]) == address[:3]
