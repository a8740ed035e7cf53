"""Tests for P-256 ECDH (Core Spec Vol 3 Part H 2.3.5.6.1 and Appendix D.1)."""

import pytest

from fuzzer.crypto import (
    DEBUG_PRIVATE_KEY,
    DEBUG_PUBLIC_X,
    DEBUG_PUBLIC_Y,
    InvalidPublicKey,
    KeyPair,
    dhkey,
    f5,
    generate_keypair,
    is_on_curve,
    keypair_from_private,
)
from fuzzer.crypto.p256 import N, P


def spec(hex_msb_first: str) -> bytes:
    """Convert a value printed MSB first (as in the Core Spec) to on-air LE bytes."""
    return bytes.fromhex(hex_msb_first.replace(" ", ""))[::-1]


# Appendix D.1 P-256 sample data: device A uses the debug key pair.
PRIVATE_A = 0x3F49F6D4A3C55F3874C9B3E3D2103F504AFF607BEB40B7995899B8A6CD3C1ABD
PUBLIC_A_X = spec("20b003d2 f297be2c 5e2c83a7 e9f9a5b9 eff49111 acf4fddb cc030148 0e359de6")
PUBLIC_A_Y = spec("dc809c49 652aeb6d 63329abf 5a52155c 766345c2 8fed3024 741c8ed0 1589d28b")
PRIVATE_B = 0x55188B3D32F6BB9A900AFCFBEED4E72A59CB9AC2F19D7CFB6B4FDD49F47FC5FD
PUBLIC_B_X = spec("1ea1f0f0 1faf1d96 09592284 f19e4c00 47b58afd 8615a69f 559077b2 2faaa190")
PUBLIC_B_Y = spec("4c55f33e 429dad37 7356703a 9ab85160 472d1130 e28e3676 5f89aff9 15b1214a")
DHKEY = spec("ec0234a3 57c8ad05 341010a6 0a397d9b 99796b13 b4f866f1 868d34f3 73bfa698")

# The P-256 base point G (FIPS 186-4 D.1.2.3), little-endian.
G_X = spec("6b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296")
G_Y = spec("4fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5")


def test_debug_key_constants() -> None:
    # Vol 3 Part H 2.3.5.6.1 debug key pair.
    assert DEBUG_PRIVATE_KEY == PRIVATE_A
    assert (DEBUG_PUBLIC_X, DEBUG_PUBLIC_Y) == (PUBLIC_A_X, PUBLIC_A_Y)
    pair = keypair_from_private(DEBUG_PRIVATE_KEY)
    assert (pair.public_x, pair.public_y) == (DEBUG_PUBLIC_X, DEBUG_PUBLIC_Y)
    assert is_on_curve(DEBUG_PUBLIC_X, DEBUG_PUBLIC_Y)


def test_d1_public_key_b() -> None:
    pair = keypair_from_private(PRIVATE_B)
    assert (pair.public_x, pair.public_y) == (PUBLIC_B_X, PUBLIC_B_Y)


def test_d1_dhkey_both_ways() -> None:
    assert dhkey(PRIVATE_A, PUBLIC_B_X, PUBLIC_B_Y) == DHKEY
    assert dhkey(PRIVATE_B, PUBLIC_A_X, PUBLIC_A_Y) == DHKEY
    assert keypair_from_private(PRIVATE_A).dhkey(PUBLIC_B_X, PUBLIC_B_Y) == DHKEY


def test_d1_dhkey_feeds_d2_f5() -> None:
    # The DHKey computed here is the W of the f5 sample (D.2).
    w = dhkey(DEBUG_PRIVATE_KEY, PUBLIC_B_X, PUBLIC_B_Y)
    n1 = spec("d5cb8454 d177733e ffffb2ec 712baeab")
    n2 = spec("a6e8e7cc 25a75f6e 216583f7 ff3dc4cf")
    mac_key, ltk = f5(w, n1, n2, spec("00561237 37bfce"), spec("00a71370 2dcfc1"))
    assert mac_key == spec("2965f176 a1084a02 fd3f6a20 ce636e20")
    assert ltk == spec("69867911 69d7cd23 980522b5 94750a38")


def test_random_key_agreement() -> None:
    alice = generate_keypair()
    bob = generate_keypair()
    assert isinstance(alice, KeyPair)
    assert len(alice.public_x) == len(alice.public_y) == 32
    assert is_on_curve(alice.public_x, alice.public_y)
    shared = dhkey(alice.private, bob.public_x, bob.public_y)
    assert len(shared) == 32
    assert shared == dhkey(bob.private, alice.public_x, alice.public_y)
    assert alice.private_bytes == alice.private.to_bytes(32, "little")


def test_generate_keypair_is_deterministic() -> None:
    seed = bytes(range(32))
    first = generate_keypair(seed)
    assert first == generate_keypair(seed)
    assert first.private == int.from_bytes(seed, "big") % (N - 1) + 1
    assert first != generate_keypair(bytes(range(1, 33)))
    # Seeds reducing to 0 mod n-1 give the smallest scalar, 1, whose public key is G.
    for seed in (bytes(32), (N - 1).to_bytes(32, "big")):
        one = generate_keypair(seed)
        assert one.private == 1
        assert (one.public_x, one.public_y) == (G_X, G_Y)
    top = generate_keypair(b"\xff" * 32)
    assert 1 <= top.private < N
    with pytest.raises(ValueError):
        generate_keypair(bytes(31))


def test_off_curve_point_rejected() -> None:
    bad_y = (int.from_bytes(PUBLIC_B_Y, "little") + 1).to_bytes(32, "little")
    assert not is_on_curve(PUBLIC_B_X, bad_y)
    with pytest.raises(InvalidPublicKey):
        dhkey(PRIVATE_A, PUBLIC_B_X, bad_y)


def test_cve_2018_5383_zero_y_rejected() -> None:
    # The invalid-curve attack keeps X and zeroes Y, which puts the point on a
    # curve of small order; it must be refused before any scalar multiplication.
    with pytest.raises(InvalidPublicKey):
        dhkey(DEBUG_PRIVATE_KEY, PUBLIC_B_X, bytes(32))
    with pytest.raises(ValueError):  # InvalidPublicKey is a ValueError
        dhkey(DEBUG_PRIVATE_KEY, bytes(32), bytes(32))


def _point_with_small_x() -> tuple[int, int]:
    """Return a curve point (x, y) with a small x, found by trying x = 0, 1, ..."""
    b = 0x5AC635D8AA3A93E7B3EBBD55769886BC651D06B0CC53B0F63BCE3C3E27D2604B
    for x in range(100):
        rhs = (x**3 - 3 * x + b) % P
        y = pow(rhs, (P + 1) // 4, P)  # square root, as p = 3 mod 4
        if y * y % P == rhs:
            return x, y
    raise AssertionError("no point found")


def test_unreduced_coordinates_rejected() -> None:
    # (x + p, y) satisfies the curve equation mod p but is not a valid
    # encoding: coordinates must be < p.
    x, y = _point_with_small_x()
    y_le = y.to_bytes(32, "little")
    assert is_on_curve(x.to_bytes(32, "little"), y_le)
    assert dhkey(PRIVATE_A, x.to_bytes(32, "little"), y_le)
    x_unreduced = (x + P).to_bytes(32, "little")
    assert not is_on_curve(x_unreduced, y_le)
    with pytest.raises(InvalidPublicKey):
        dhkey(PRIVATE_A, x_unreduced, y_le)
    assert not is_on_curve(b"\xff" * 32, b"\xff" * 32)


def test_wrong_lengths() -> None:
    assert not is_on_curve(PUBLIC_B_X[:31], PUBLIC_B_Y)
    with pytest.raises(InvalidPublicKey):
        dhkey(PRIVATE_A, PUBLIC_B_X + b"\x00", PUBLIC_B_Y)


def test_private_key_range() -> None:
    for private in (0, N, -1):
        with pytest.raises(ValueError):
            dhkey(private, PUBLIC_B_X, PUBLIC_B_Y)
        with pytest.raises(ValueError):
            keypair_from_private(private)
