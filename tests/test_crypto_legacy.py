"""Tests for LE legacy pairing c1 and s1 (Core Spec Vol 3 Part H 2.2.3, 2.2.4)."""

import pytest

from fuzzer.crypto import c1, s1


def spec(hex_msb_first: str) -> bytes:
    """Convert a value printed MSB first (as in the Core Spec) to on-air LE bytes."""
    return bytes.fromhex(hex_msb_first)[::-1]


# Vol 3 Part H 2.2.3 sample data.
K = bytes(16)
R = spec("5783D52156AD6F0E6388274EC6702EE0")
PRES = spec("05000800000302")
PREQ = spec("07071000000101")
IA = spec("A1A2A3A4A5A6")
RA = spec("B1B2B3B4B5B6")
C1 = spec("1e1e3fef878988ead2a74dc5bef13b86")


def test_c1_spec_sample() -> None:
    assert c1(K, R, PREQ, PRES, 1, 0, IA, RA) == C1


def test_c1_takes_pdus_as_on_air() -> None:
    # The sample's Pairing Request on air: opcode 0x01, IO capability 0x01,
    # OOB 0x00, AuthReq 0x00, max key size 0x10, initiator/responder key
    # distribution 0x07/0x07. The Pairing Response: opcode 0x02, ...
    preq = bytes([0x01, 0x01, 0x00, 0x00, 0x10, 0x07, 0x07])
    pres = bytes([0x02, 0x03, 0x00, 0x00, 0x08, 0x00, 0x05])
    assert preq == PREQ and pres == PRES
    assert c1(K, R, preq, pres, 1, 0, IA, RA) == C1


def test_c1_depends_on_every_input() -> None:
    base = c1(K, R, PREQ, PRES, 1, 0, IA, RA)
    assert c1(K, R, PREQ, PRES, 0, 0, IA, RA) != base
    assert c1(K, R, PREQ, PRES, 1, 1, IA, RA) != base
    assert c1(K, R, PRES, PREQ, 1, 0, IA, RA) != base
    assert c1(K, R, PREQ, PRES, 1, 0, RA, IA) != base
    assert c1(bytes([1]) + bytes(15), R, PREQ, PRES, 1, 0, IA, RA) != base


def test_c1_bad_arguments() -> None:
    with pytest.raises(ValueError):
        c1(K, R, PREQ[:6], PRES, 1, 0, IA, RA)
    with pytest.raises(ValueError):
        c1(K, R, PREQ, PRES, 1, 0, IA + b"\x00", RA)
    with pytest.raises(ValueError):
        c1(K, R, PREQ, PRES, 256, 0, IA, RA)
    with pytest.raises(ValueError):
        c1(K, R, PREQ, PRES, 1, -1, IA, RA)


def test_s1_spec_sample() -> None:
    # Vol 3 Part H 2.2.4 sample data.
    r1 = spec("000F0E0D0C0B0A091122334455667788")
    r2 = spec("010203040506070899AABBCCDDEEFF00")
    assert s1(bytes(16), r1, r2) == spec("9a1fe1f0e8b0f49b5b4216ae796da062")


def test_s1_uses_only_low_halves() -> None:
    r1 = spec("000F0E0D0C0B0A091122334455667788")
    r2 = spec("010203040506070899AABBCCDDEEFF00")
    r1_other_top = r1[:8] + bytes(8)
    r2_other_top = r2[:8] + b"\xff" * 8
    assert s1(bytes(16), r1_other_top, r2_other_top) == s1(bytes(16), r1, r2)
    with pytest.raises(ValueError):
        s1(bytes(16), r1[:8], r2)
