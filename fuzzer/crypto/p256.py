"""P-256 elliptic curve Diffie-Hellman for LE Secure Connections.

Core Spec Vol 3 Part H 2.3.5.6.1 (public key exchange, debug key) and 2.2.6/2.3.5.6
(DHKey). Public key coordinates and the DHKey are 32 bytes little-endian, as in
the SMP Pairing Public Key and DHKey Check PDUs; private keys are plain ints.

Peer public keys are checked explicitly against the curve equation before any
ECDH (CVE-2018-5383, the "invalid curve" attack on pairing), so a fuzzer can
rely on :class:`InvalidPublicKey` rather than on the backend's checks.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric import ec

from .aes import BoundedCache

__all__ = [
    "compute_dhkey",
    "pooled_keypair",
    "DEBUG_PRIVATE_KEY",
    "DEBUG_PUBLIC_X",
    "DEBUG_PUBLIC_Y",
    "InvalidPublicKey",
    "KeyPair",
    "dhkey",
    "generate_keypair",
    "is_on_curve",
    "keypair_from_private",
]

# NIST P-256 (FIPS 186-4 D.1.2.3), the curve Vol 3 Part H 2.3.5.6.1 prescribes:
# y^2 = x^3 - 3x + b over GF(p), group order n.
P = 0xFFFFFFFF00000001000000000000000000000000FFFFFFFFFFFFFFFFFFFFFFFF
A = P - 3
B = 0x5AC635D8AA3A93E7B3EBBD55769886BC651D06B0CC53B0F63BCE3C3E27D2604B
N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551

_CURVE = ec.SECP256R1()

# Vol 3 Part H 2.3.5.6.1: the debug key pair used in SC debug mode (printed
# MSB first in the spec; the public coordinates are stored little-endian).
DEBUG_PRIVATE_KEY = 0x3F49F6D4A3C55F3874C9B3E3D2103F504AFF607BEB40B7995899B8A6CD3C1ABD
_DEBUG_X_MSB = "20B003D2F297BE2C5E2C83A7E9F9A5B9EFF49111ACF4FDDBCC0301480E359DE6"
_DEBUG_Y_MSB = "DC809C49652AEB6D63329ABF5A52155C766345C28FED3024741C8ED01589D28B"
DEBUG_PUBLIC_X = bytes.fromhex(_DEBUG_X_MSB)[::-1]
DEBUG_PUBLIC_Y = bytes.fromhex(_DEBUG_Y_MSB)[::-1]


class InvalidPublicKey(ValueError):
    """The peer's public key is not a point on P-256 (or is malformed)."""


@dataclass(frozen=True, slots=True)
class KeyPair:
    """A P-256 key pair: ``private`` scalar and public coordinates (32 bytes LE each)."""

    private: int
    public_x: bytes
    public_y: bytes

    @property
    def private_bytes(self) -> bytes:
        """The private scalar as 32 bytes little-endian."""
        return self.private.to_bytes(32, "little")

    def dhkey(self, peer_x: bytes, peer_y: bytes) -> bytes:
        """Return the DHKey shared with the peer key; see :func:`dhkey`."""
        return dhkey(self.private, peer_x, peer_y)


def _private_key(private: int) -> ec.EllipticCurvePrivateKey:
    # derive_private_key computes the public point too, so cache the objects.
    return ec.derive_private_key(private, _CURVE)


_PRIVATE_KEYS = BoundedCache[int, ec.EllipticCurvePrivateKey](_private_key, maxsize=64)


def _check_private(private: int) -> None:
    if not 1 <= private < N:
        raise ValueError("private key must be in [1, n-1]")


def _keypair(private: int) -> KeyPair:
    _check_private(private)
    numbers = _PRIVATE_KEYS.get(private).public_key().public_numbers()
    return KeyPair(
        private=private,
        public_x=numbers.x.to_bytes(32, "little"),
        public_y=numbers.y.to_bytes(32, "little"),
    )


def keypair_from_private(private: int) -> KeyPair:
    """Return the key pair for a given private scalar (1 <= private < n)."""
    return _keypair(private)


def generate_keypair(rng_bytes: bytes | None = None) -> KeyPair:
    """Return a new P-256 key pair.

    With ``rng_bytes`` (exactly 32 bytes) the result is deterministic:
    ``private = int.from_bytes(rng_bytes, "big") % (n - 1) + 1``, always a valid
    scalar in [1, n-1]. Without it, 32 bytes come from :mod:`secrets`.
    """
    if rng_bytes is None:
        rng_bytes = secrets.token_bytes(32)
    elif len(rng_bytes) != 32:
        raise ValueError(f"rng_bytes must be 32 bytes, got {len(rng_bytes)}")
    return _keypair(int.from_bytes(rng_bytes, "big") % (N - 1) + 1)


def _on_curve(x: int, y: int) -> bool:
    # Vol 3 Part H 2.3.5.6.1 and CVE-2018-5383: both coordinates reduced and
    # y^2 = x^3 - 3x + b (mod p). The point at infinity has no affine form here
    # and (0, 0) fails the equation because b != 0.
    if not (0 <= x < P and 0 <= y < P):
        return False
    return (y * y - (x * x * x + A * x + B)) % P == 0


def is_on_curve(x_le: bytes, y_le: bytes) -> bool:
    """Return True if (x, y), 32 bytes little-endian each, is a point on P-256.

    Wrong lengths give False rather than an exception.
    """
    if len(x_le) != 32 or len(y_le) != 32:
        return False
    return _on_curve(int.from_bytes(x_le, "little"), int.from_bytes(y_le, "little"))


_DHKEYS: dict[tuple[int, bytes, bytes], bytes] = {}
_DHKEYS_MAX = 1 << 16


def dhkey(private: int, peer_x: bytes, peer_y: bytes) -> bytes:
    """:func:`compute_dhkey`, remembered for the key pairs the fuzz loop meets again (pooled
    key pairs make the same pairs recur; an ECDH costs about 60 µs)."""
    key = (private, peer_x, peer_y)
    found = _DHKEYS.get(key)
    if found is None:
        found = compute_dhkey(private, peer_x, peer_y)  # raises for an invalid key: not kept
        if len(_DHKEYS) >= _DHKEYS_MAX:
            _DHKEYS.clear()
        _DHKEYS[key] = found
    return found


_POOL: dict[tuple[str, int], KeyPair] = {}
POOL_SIZE = 16


def pooled_keypair(index: int, pool: str = "device") -> KeyPair:
    """Key pair number ``index`` (mod POOL_SIZE) of the fixed pool ``pool``, made on first
    use (separate pools keep the two sides of a pairing from drawing the same pair).

    The emulator and the tester draw a key pair per pairing from this pool (with their seeded
    random streams) instead of generating one: the values are real P-256 key pairs, and the
    DHKeys between them are computed once (:func:`dhkey`), which keeps LE Secure Connections
    cheap in the fuzz loop. A device that kept one key pair across pairings is modelled
    separately (a flaw), not by this pool.
    """
    key = (pool, index % POOL_SIZE)
    pair = _POOL.get(key)
    if pair is None:
        seed = hashlib.sha256(f"blefuzz-p256-{pool}-{key[1]}".encode()).digest()
        pair = generate_keypair(seed)
        _POOL[key] = pair
    return pair


def compute_dhkey(private: int, peer_x: bytes, peer_y: bytes) -> bytes:
    """Return the DHKey (32 bytes little-endian) between ``private`` and a peer key.

    Vol 3 Part H 2.3.5.6.1: DHKey = P256(SKa, PKb), the X coordinate of the
    shared point. ``peer_x``/``peer_y`` are 32 bytes little-endian as in the
    Pairing Public Key PDU. Raises :class:`InvalidPublicKey` if the peer point is
    not on the curve (checked explicitly first) and ``ValueError`` for a private
    scalar outside [1, n-1].
    """
    _check_private(private)
    if len(peer_x) != 32 or len(peer_y) != 32:
        raise InvalidPublicKey("public key coordinates must be 32 bytes each")
    x = int.from_bytes(peer_x, "little")
    y = int.from_bytes(peer_y, "little")
    if not _on_curve(x, y):
        raise InvalidPublicKey("peer public key is not on the P-256 curve")
    try:
        peer = ec.EllipticCurvePublicNumbers(x, y, _CURVE).public_key()
    except ValueError as exc:  # the backend's own validation, belt and braces
        raise InvalidPublicKey(str(exc)) from exc
    shared = _PRIVATE_KEYS.get(private).exchange(ec.ECDH(), peer)
    return shared[::-1]
