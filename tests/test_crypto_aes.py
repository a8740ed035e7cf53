"""Tests for fuzzer.crypto.aes: the security function e and AES-CMAC."""

import pytest

from fuzzer.crypto.aes import BoundedCache, aes_cmac, aes_ecb, e


def spec(hex_msb_first: str) -> bytes:
    """Convert a value printed MSB first (as in the Core Spec) to on-air LE bytes."""
    return bytes.fromhex(hex_msb_first)[::-1]


def test_aes_ecb_fips197_c1() -> None:
    # FIPS-197 Appendix C.1 (AES-128).
    key = bytes.fromhex("000102030405060708090a0b0c0d0e0f")
    block = bytes.fromhex("00112233445566778899aabbccddeeff")
    assert aes_ecb(key, block) == bytes.fromhex("69c4e0d86a7b0430d8cdb78070b4c55a")


def test_e_is_aes_on_reversed_bytes() -> None:
    # Vol 3 Part H 2.2.1 with the LE convention: reverse in, reverse out.
    key = bytes.fromhex("000102030405060708090a0b0c0d0e0f")
    block = bytes.fromhex("00112233445566778899aabbccddeeff")
    assert e(key[::-1], block[::-1]) == bytes.fromhex("69c4e0d86a7b0430d8cdb78070b4c55a")[::-1]


def test_e_core_sample_session_key() -> None:
    # Vol 6 Part C 1.1: HCI_LE_Encrypt of SKD with the LTK gives SK.
    ltk = spec("4C68384139F574D836BCF34E9DFB01BF")
    skd = spec("0213243546576879ACBDCEDFE0F10213")
    assert e(ltk, skd) == spec("99AD1B5226A37E3E058E3B8E27C2C666")


@pytest.mark.parametrize(
    ("message", "mac"),
    [
        # RFC 4493 section 4 examples 1-4.
        ("", "bb1d6929e95937287fa37d129b756746"),
        ("6bc1bee22e409f96e93d7e117393172a", "070a16b46b4d4144f79bdd9dd04a287c"),
        (
            "6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e5130c81c46a35ce411",
            "dfa66747de9ae63030ca32611497c827",
        ),
        (
            "6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e51"
            "30c81c46a35ce411e5fbc1191a0a52eff69f2445df4f9b17ad2b417be66c3710",
            "51f0bebf7e3b9d92fc49741779363cfe",
        ),
    ],
)
def test_aes_cmac_rfc4493(message: str, mac: str) -> None:
    key = bytes.fromhex("2b7e151628aed2a6abf7158809cf4f3c")
    assert aes_cmac(key, bytes.fromhex(message)) == bytes.fromhex(mac)
    # The cached CMAC template must not be consumed by a previous call.
    assert aes_cmac(key, bytes.fromhex(message)) == bytes.fromhex(mac)


def test_bad_lengths() -> None:
    with pytest.raises(ValueError):
        e(bytes(15), bytes(16))
    with pytest.raises(ValueError):
        e(bytes(16), bytes(17))
    with pytest.raises(ValueError):
        aes_cmac(bytes(8), b"")


def test_bounded_cache_evicts_oldest() -> None:
    built: list[int] = []

    def factory(key: int) -> int:
        built.append(key)
        return key * 10

    cache = BoundedCache[int, int](factory, maxsize=2)
    assert cache.get(1) == 10
    assert cache.get(2) == 20
    assert cache.get(1) == 10
    assert built == [1, 2]
    assert cache.get(3) == 30  # evicts 1, the oldest
    assert len(cache) == 2
    assert cache.get(2) == 20
    assert cache.get(1) == 10  # rebuilt
    assert built == [1, 2, 3, 1]


def test_many_keys_stay_correct() -> None:
    # Pass the cache bound so eviction happens while results stay right.
    block = bytes(range(16))
    first = [e(i.to_bytes(16, "little"), block) for i in range(300)]
    again = [e(i.to_bytes(16, "little"), block) for i in range(300)]
    assert first == again
    assert len(set(first)) == 300
