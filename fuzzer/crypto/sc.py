"""LE Secure Connections functions f4, f5, f6, g2, h6, h7 and the hash ah.

Core Spec Vol 3 Part H 2.2.2 (ah), 2.2.5 (AES-CMAC) and 2.2.6-2.2.11
(f4, f5, f6, g2, h6, h7).

Byte order: every argument and result is little-endian, as carried on air in SMP
PDUs (see ``fuzzer.crypto.aes``). The spec defines these functions on MSB-first
bit strings built with ``||`` (left operand most significant); each function here
reverses its inputs, concatenates in spec order, runs AES-CMAC and reverses back.

Addresses for f5/f6 (``a1``, ``a2``) are 7 bytes: the 6-byte device address as on
air followed by the address type octet (0 public, 1 random), so that reversed it
reads as the spec's 56-bit A1/A2 (type octet most significant). Build them with
:func:`sc_address`.
"""

from __future__ import annotations

from .aes import BoundedCache, aes_cmac, e

__all__ = [
    "KEY_ID_BRLE",
    "KEY_ID_LEBR",
    "SALT_TMP1",
    "SALT_TMP2",
    "ah",
    "f4",
    "f5",
    "f6",
    "g2",
    "g2_raw",
    "h6",
    "h7",
    "sc_address",
]

# Vol 3 Part H 2.4.2.4 / 2.4.2.5 (cross-transport key derivation) key IDs and
# salts, stored little-endian like every other value in this package; pass them
# as ``key_id`` to h6 and as ``salt`` to h7.
#: salt "tmp1" (0x746D7031) for h7 with CT2, LE -> BR/EDR direction.
SALT_TMP1 = bytes.fromhex("000000000000000000000000746D7031")[::-1]
#: salt "tmp2" (0x746D7032) for h7 with CT2, BR/EDR -> LE direction.
SALT_TMP2 = bytes.fromhex("000000000000000000000000746D7032")[::-1]
#: keyID "lebr" (0x6C656272) for h6, LE LTK -> BR/EDR link key.
KEY_ID_LEBR = bytes.fromhex("6C656272")[::-1]
#: keyID "brle" (0x62726C65) for h6, BR/EDR link key -> LE LTK.
KEY_ID_BRLE = bytes.fromhex("62726C65")[::-1]

# Vol 3 Part H 2.2.7: f5 constants, MSB first.
_F5_SALT = bytes.fromhex("6C888391AAF5A53860370BDB5A6083BE")
_F5_KEY_ID = bytes.fromhex("62746C65")  # "btle"
_F5_LENGTH = bytes.fromhex("0100")  # 256 bits of output (MacKey || LTK)


def _check_len(name: str, value: bytes, size: int) -> None:
    if len(value) != size:
        raise ValueError(f"{name} must be {size} bytes, got {len(value)}")


def _check_lens(*checks: tuple[str, bytes, int]) -> None:
    """Raise ValueError for the first ``(name, value, size)`` whose value is not ``size`` bytes."""
    for name, value, size in checks:
        _check_len(name, value, size)


def _msb(value: bytes) -> bytes:
    """Reverse a little-endian value into the spec's MSB-first order."""
    return bytes(value[::-1])


def sc_address(addr: bytes, addr_type: int) -> bytes:
    """Return the 7-byte A1/A2 value for f5/f6 from an address and its type.

    Vol 3 Part H 2.2.7: A1/A2 is 56 bits, the address type octet (0 public,
    1 random; only its least significant bit is defined) most significant, then
    the 48-bit address. Little-endian that is ``addr`` (6 bytes, as on air)
    followed by ``bytes([addr_type])``.
    """
    if len(addr) != 6:
        _check_len("addr", addr, 6)
    if not 0 <= addr_type <= 0xFF:
        raise ValueError(f"addr_type must fit in one octet, got {addr_type}")
    return bytes(addr) + bytes((addr_type,))


def ah(irk: bytes, prand: bytes) -> bytes:
    """Return the random address hash ah(k, r) (3 bytes, little-endian).

    Vol 3 Part H 2.2.2: ah(k, r) = e(k, r') mod 2^24 with r' = padding || r
    (104 zero bits above the 24-bit r). ``irk`` is 16 bytes, ``prand`` 3 bytes.
    """
    _check_len("irk", irk, 16)
    _check_len("prand", prand, 3)
    return e(irk, bytes(prand) + bytes(13))[:3]


def f4(u: bytes, v: bytes, x: bytes, z: int) -> bytes:
    """Return the SC confirm value f4(U, V, X, Z) (16 bytes, little-endian).

    Vol 3 Part H 2.2.6: f4 = AES-CMAC_X(U || V || Z). ``u``/``v`` are 32-byte
    public key X coordinates, ``x`` a 16-byte nonce, ``z`` one octet (0 for Just
    Works / Numeric Comparison, 0x80|bit for Passkey Entry).
    """
    if len(u) != 32 or len(v) != 32 or len(x) != 16:
        _check_lens(("u", u, 32), ("v", v, 32), ("x", x, 16))
    if not 0 <= z <= 0xFF:
        raise ValueError(f"z must fit in one octet, got {z}")
    return _F4[bytes(u), bytes(v), bytes(x), z]


def _f4(args: tuple[bytes, bytes, bytes, int]) -> bytes:
    u, v, x, z = args
    # bytes already (the cache key's): reversed into the spec's MSB-first order, as _msb does
    return aes_cmac(x[::-1], u[::-1] + v[::-1] + bytes((z,)))[::-1]


# Results by arguments: the two sides of a pairing compute the same values (one sends a
# confirm or check value, the other verifies it), so each is computed once.
_F4 = BoundedCache[tuple[bytes, bytes, bytes, int], bytes](_f4, maxsize=64)


def f5(w: bytes, n1: bytes, n2: bytes, a1: bytes, a2: bytes) -> tuple[bytes, bytes]:
    """Return ``(mac_key, ltk)`` from the SC key generation function f5.

    Vol 3 Part H 2.2.7: T = AES-CMAC_SALT(W), then
    MacKey = AES-CMAC_T(0 || keyID || N1 || N2 || A1 || A2 || Length) and
    LTK = AES-CMAC_T(1 || keyID || N1 || N2 || A1 || A2 || Length).
    ``w`` is the 32-byte DHKey, ``n1``/``n2`` 16-byte nonces, ``a1``/``a2``
    7-byte addresses (see :func:`sc_address`). Results are 16 bytes each.
    """
    if len(w) != 32 or len(n1) != 16 or len(n2) != 16 or len(a1) != 7 or len(a2) != 7:
        _check_lens(("w", w, 32), ("n1", n1, 16), ("n2", n2, 16), ("a1", a1, 7),
                    ("a2", a2, 7))
    return _F5[bytes(w), bytes(n1), bytes(n2), bytes(a1), bytes(a2)]


def _f5(args: tuple[bytes, bytes, bytes, bytes, bytes]) -> tuple[bytes, bytes]:
    w, n1, n2, a1, a2 = args
    # bytes already (the cache key's): reversed into the spec's MSB-first order, as _msb does
    t = aes_cmac(_F5_SALT, w[::-1])
    body = _F5_KEY_ID + n1[::-1] + n2[::-1] + a1[::-1] + a2[::-1] + _F5_LENGTH
    mac_key = aes_cmac(t, b"\x00" + body)[::-1]
    ltk = aes_cmac(t, b"\x01" + body)[::-1]
    return mac_key, ltk


_F5 = BoundedCache[tuple[bytes, bytes, bytes, bytes, bytes], tuple[bytes, bytes]](
    _f5, maxsize=16)


def f6(
    w: bytes,
    n1: bytes,
    n2: bytes,
    r: bytes,
    io_cap: bytes,
    a1: bytes,
    a2: bytes,
) -> bytes:
    """Return the SC DHKey check value f6 (16 bytes, little-endian).

    Vol 3 Part H 2.2.8: f6 = AES-CMAC_W(N1 || N2 || R || IOcap || A1 || A2).
    ``w`` is the 16-byte MacKey, ``n1``/``n2``/``r`` 16 bytes, ``io_cap`` 3 bytes
    in PDU order (IO Capability, OOB data flag, AuthReq; the spec's IOcap has
    AuthReq most significant), ``a1``/``a2`` 7-byte addresses (:func:`sc_address`).
    """
    if (len(w) != 16 or len(n1) != 16 or len(n2) != 16 or len(r) != 16 or len(io_cap) != 3
            or len(a1) != 7 or len(a2) != 7):
        _check_lens(("w", w, 16), ("n1", n1, 16), ("n2", n2, 16), ("r", r, 16),
                    ("io_cap", io_cap, 3), ("a1", a1, 7), ("a2", a2, 7))
    return _F6[bytes(w), bytes(n1), bytes(n2), bytes(r), bytes(io_cap), bytes(a1), bytes(a2)]


def _f6(args: tuple[bytes, ...]) -> bytes:
    w, n1, n2, r, io_cap, a1, a2 = args
    # bytes already (the cache key's): reversed into the spec's MSB-first order, as _msb does
    msg = n1[::-1] + n2[::-1] + r[::-1] + io_cap[::-1] + a1[::-1] + a2[::-1]
    return aes_cmac(w[::-1], msg)[::-1]


_F6 = BoundedCache[tuple[bytes, ...], bytes](_f6, maxsize=32)


def g2_raw(u: bytes, v: bytes, x: bytes, y: bytes) -> int:
    """Return the full 32-bit value of the SC numeric check function g2.

    Vol 3 Part H 2.2.9: g2(U, V, X, Y) = AES-CMAC_X(U || V || Y) mod 2^32.
    ``u``/``v`` are 32-byte public key X coordinates, ``x``/``y`` 16-byte nonces.
    """
    _check_len("u", u, 32)
    _check_len("v", v, 32)
    _check_len("x", x, 16)
    _check_len("y", y, 16)
    mac = aes_cmac(_msb(x), _msb(u) + _msb(v) + _msb(y))
    return int.from_bytes(mac[-4:], "big")


def g2(u: bytes, v: bytes, x: bytes, y: bytes) -> int:
    """Return the 6-digit Numeric Comparison value: g2 mod 10^6 (0..999999).

    Vol 3 Part H 2.2.9 / 2.3.5.6.2: the value shown to the user is the least
    significant six decimal digits of :func:`g2_raw`.
    """
    return g2_raw(u, v, x, y) % 1_000_000


def h6(w: bytes, key_id: bytes) -> bytes:
    """Return the link key conversion h6(W, keyID) (16 bytes, little-endian).

    Vol 3 Part H 2.2.10: h6 = AES-CMAC_W(keyID). ``w`` is 16 bytes, ``key_id``
    4 bytes little-endian (e.g. :data:`KEY_ID_LEBR`, :data:`KEY_ID_BRLE`).
    """
    _check_len("w", w, 16)
    _check_len("key_id", key_id, 4)
    return aes_cmac(_msb(w), _msb(key_id))[::-1]


def h7(salt: bytes, w: bytes) -> bytes:
    """Return the link key conversion h7(SALT, W) (16 bytes, little-endian).

    Vol 3 Part H 2.2.11: h7 = AES-CMAC_SALT(W). ``salt`` is 16 bytes
    little-endian (e.g. :data:`SALT_TMP1`, :data:`SALT_TMP2`), ``w`` 16 bytes.
    """
    _check_len("salt", salt, 16)
    _check_len("w", w, 16)
    return aes_cmac(_msb(salt), _msb(w))[::-1]
