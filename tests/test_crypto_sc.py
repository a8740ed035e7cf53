"""Tests for LE Secure Connections functions with Core Spec Vol 3 Part H Appendix D."""

from collections.abc import Callable

import pytest

from fuzzer.crypto import (
    KEY_ID_BRLE,
    KEY_ID_LEBR,
    SALT_TMP1,
    SALT_TMP2,
    ah,
    f4,
    f5,
    f6,
    g2,
    g2_raw,
    h6,
    h7,
    sc_address,
)


def spec(hex_msb_first: str) -> bytes:
    """Convert a value printed MSB first (as in the Core Spec) to on-air LE bytes."""
    return bytes.fromhex(hex_msb_first.replace(" ", ""))[::-1]


# Appendix D sample inputs (printed MSB first in the spec).
U = spec("20b003d2 f297be2c 5e2c83a7 e9f9a5b9 eff49111 acf4fddb cc030148 0e359de6")
# D.1 prints this value as V (PKbx); it is used here exactly as printed.
V = spec("55188b3d 32f6bb9a 900afcfb eed4e72a 59cb9ac2 f19d7cfb 6b4fdd49 f47fc5fd")
N1 = spec("d5cb8454 d177733e ffffb2ec 712baeab")
N2 = spec("a6e8e7cc 25a75f6e 216583f7 ff3dc4cf")
DHKEY = spec("ec0234a3 57c8ad05 341010a6 0a397d9b 99796b13 b4f866f1 868d34f3 73bfa698")
A1 = spec("00561237 37bfce")
A2 = spec("00a71370 2dcfc1")
MAC_KEY = spec("2965f176 a1084a02 fd3f6a20 ce636e20")
LTK = spec("69867911 69d7cd23 980522b5 94750a38")
KEY_16 = spec("ec0234a3 57c8ad05 341010a6 0a397d9b")


def test_f4_d1() -> None:
    assert f4(U, V, N1, 0) == spec("f2c916f1 07a9bd1c f1eda1be a974872d")


def test_f5_d2() -> None:
    assert f5(DHKEY, N1, N2, A1, A2) == (MAC_KEY, LTK)


def test_f6_d3() -> None:
    r = spec("12a3343b b453bb54 08da42d2 0c2d0fc8")
    io_cap = spec("010102")
    assert f6(MAC_KEY, N1, N2, r, io_cap, A1, A2) == spec("e3c47398 9cd0e8c5 d26c0b09 da958f61")


def test_f6_io_cap_is_in_pdu_order() -> None:
    # Spec IOcap 0x010102 = AuthReq 01 || OOB 01 || IO capability 02; in PDU
    # (LE) order that is IO capability, OOB data flag, AuthReq.
    assert spec("010102") == bytes([0x02, 0x01, 0x01])


def test_g2_d4() -> None:
    assert g2_raw(U, V, N1, N2) == 0x2F9ED5BA
    assert g2(U, V, N1, N2) == 0x2F9ED5BA % 1_000_000 == 938554


def test_h6_d5() -> None:
    assert KEY_ID_LEBR == spec("6c656272") == b"rbel"
    assert h6(KEY_16, KEY_ID_LEBR) == spec("2d9ae102 e76dc91c e8d3a9e2 80b16399")


def test_h7_d6() -> None:
    assert SALT_TMP1 == spec("00000000 00000000 00000000 746D7031")
    assert h7(SALT_TMP1, KEY_16) == spec("fb173597 c6a3c0ec d2998c2a 75a57011")


def test_other_constants() -> None:
    assert KEY_ID_BRLE == spec("62726c65")
    assert SALT_TMP2 == spec("00000000 00000000 00000000 746D7032")


def test_ah_d7() -> None:
    assert ah(KEY_16, spec("708194")) == spec("0dfbaa")


def test_sc_address() -> None:
    # A1 = 0x00561237 37bfce: type 0x00 (public), address 56:12:37:37:bf:ce.
    assert sc_address(spec("561237 37bfce"), 0) == A1
    assert sc_address(spec("a71370 2dcfc1"), 0) == A2
    assert sc_address(bytes(6), 1)[-1] == 1
    with pytest.raises(ValueError):
        sc_address(bytes(7), 0)
    with pytest.raises(ValueError):
        sc_address(bytes(6), 256)


def test_f5_separates_addresses() -> None:
    mac_key, ltk = f5(DHKEY, N1, N2, A1, A2)
    assert f5(DHKEY, N1, N2, A2, A1) != (mac_key, ltk)
    random_a1 = sc_address(A1[:6], 1)
    assert f5(DHKEY, N1, N2, random_a1, A2) != (mac_key, ltk)


@pytest.mark.parametrize(
    "call",
    [
        lambda: f4(U[:31], V, N1, 0),
        lambda: f4(U, V, N1, 256),
        lambda: f5(DHKEY[:16], N1, N2, A1, A2),
        lambda: f5(DHKEY, N1, N2, A1[:6], A2),
        lambda: f6(MAC_KEY, N1, N2, N1, b"\x00\x00", A1, A2),
        lambda: g2(U, V, N1, N2[:15]),
        lambda: h6(KEY_16, b"lebr!"),
        lambda: h7(SALT_TMP1[:15], KEY_16),
        lambda: ah(KEY_16, b"\x00\x00"),
    ],
)
def test_bad_lengths(call: Callable[[], object]) -> None:
    with pytest.raises(ValueError):
        call()
