"""LE legacy pairing functions c1 and s1 (Core Spec Vol 3 Part H 2.2.3, 2.2.4).

All arguments and results are little-endian, as carried on air in SMP PDUs (see
``fuzzer.crypto.aes`` for the convention).
"""

from __future__ import annotations

from .aes import e

__all__ = ["c1", "s1"]


def _check_len(name: str, value: bytes, size: int) -> None:
    if len(value) != size:
        raise ValueError(f"{name} must be {size} bytes, got {len(value)}")


def _check_octet(name: str, value: int) -> None:
    if not 0 <= value <= 0xFF:
        raise ValueError(f"{name} must fit in one octet, got {value}")


def _xor16(a: bytes, b: bytes) -> bytes:
    return (int.from_bytes(a, "little") ^ int.from_bytes(b, "little")).to_bytes(16, "little")


def c1(
    k: bytes,
    r: bytes,
    preq: bytes,
    pres: bytes,
    iat: int,
    rat: int,
    ia: bytes,
    ra: bytes,
) -> bytes:
    """Return the legacy pairing confirm value c1 (16 bytes, little-endian).

    Core Spec Vol 3 Part H 2.2.3: c1(k, r, preq, pres, iat, rat, ia, ra) =
    e(k, e(k, r XOR p1) XOR p2) with

    * p1 = pres || preq || rat' || iat'  (rat'/iat' least significant),
    * p2 = padding || ia || ra           (ra least significant, 32 zero bits on top).

    ``k`` (the TK) and ``r`` (Mrand/Srand) are 16 bytes, ``preq``/``pres`` the
    7-byte Pairing Request/Response PDUs exactly as on air (opcode first),
    ``iat``/``rat`` the initiating/responding address types (0 public,
    1 random; any octet value is accepted so a fuzzer can compute odd ones),
    ``ia``/``ra`` the 6-byte device addresses as on air.
    """
    _check_len("k", k, 16)
    _check_len("r", r, 16)
    _check_len("preq", preq, 7)
    _check_len("pres", pres, 7)
    _check_len("ia", ia, 6)
    _check_len("ra", ra, 6)
    _check_octet("iat", iat)
    _check_octet("rat", rat)
    # Little-endian: the least significant field comes first. An on-air PDU is
    # already little-endian (its opcode is the spec's least significant octet).
    p1 = bytes((iat, rat)) + bytes(preq) + bytes(pres)
    p2 = bytes(ra) + bytes(ia) + bytes(4)
    return e(k, _xor16(e(k, _xor16(r, p1)), p2))


def s1(k: bytes, r1: bytes, r2: bytes) -> bytes:
    """Return the legacy pairing STK s1 (16 bytes, little-endian).

    Core Spec Vol 3 Part H 2.2.4: s1(k, r1, r2) = e(k, r') where r' = r1' || r2'
    and r1'/r2' are the least significant 64 bits of r1 (Srand) and r2 (Mrand);
    r2' is the least significant half of r'. All arguments are 16 bytes.
    """
    _check_len("k", k, 16)
    _check_len("r1", r1, 16)
    _check_len("r2", r2, 16)
    return e(k, bytes(r2[:8]) + bytes(r1[:8]))
