"""Tests for LE link layer encryption with Core Spec Vol 6 Part C 1 sample data."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fuzzer.crypto import MIC_LEN, LinkCipher, mask_key, session, session_key
from fuzzer.crypto.session import MAX_COUNTER


def spec(hex_msb_first: str) -> bytes:
    """Convert a value printed MSB first (as in the Core Spec) to on-air LE bytes."""
    return bytes.fromhex(hex_msb_first.replace(" ", ""))[::-1]


# Vol 6 Part C 1 "Encryption sample data" (printed MSB first).
LTK = spec("4C68384139F574D836BCF34E9DFB01BF")
SKDM = spec("ACBDCEDFE0F10213")
SKDS = spec("0213243546576879")
SK = spec("99AD1B5226A37E3E058E3B8E27C2C666")
IVM = spec("BADCAB24")
IVS = spec("DEAFBABE")

# (header octet 0, plaintext payload, packetCounter, from central, on-air payload)
PACKETS = [
    # LL_START_ENC_RSP1, central -> peripheral: 0f 05 9f cd a7 f4 48
    (0x0F, "06", 0, True, "9fcda7f448"),
    # LL_START_ENC_RSP2, peripheral -> central: 07 05 a3 4c 13 a4 15
    (0x07, "06", 0, False, "a34c13a415"),
    # LL_DATA1, central -> peripheral, packet 1: 0e 1f 7a 70 ... 6d 33
    (
        0x0E,
        "1700 636465666768696a6b6c6d6e6f7071 31323334353637383930",
        1,
        True,
        "7a70d66415226df26b17839a060405596bd6564f796b5b9ce6ff32 f75a6d33",
    ),
    # LL_DATA2, peripheral -> central, packet 1: 06 1f f3 88 ... 60 88
    (
        0x06,
        "1700 37363534333231304142434445464748494a4b4c4d4e4f5051",
        1,
        False,
        "f38881e7bd94c9c369b9a66846dd4786aa8c39ce540d0dae3adcdf 89b96088",
    ),
]


def h(text: str) -> bytes:
    """Parse hex with optional spaces, in the order written (on-air order)."""
    return bytes.fromhex(text.replace(" ", ""))


@pytest.fixture
def cipher() -> LinkCipher:
    return LinkCipher(session_key(LTK, SKDM, SKDS), IVM, IVS)


def test_session_key_sample() -> None:
    # On air: LTK bf 01 fb ..., SKDm 13 02 f1 e0 df ce bd ac, SKDs 79 68 57 46 35 24 13 02.
    assert SKDM == bytes([0x13, 0x02, 0xF1, 0xE0, 0xDF, 0xCE, 0xBD, 0xAC])
    assert session_key(LTK, SKDM, SKDS) == SK


def test_iv_and_nonce(cipher: LinkCipher) -> None:
    assert cipher.iv == bytes.fromhex("24abdcbabebaafde")
    assert cipher.nonce(0, True) == bytes.fromhex("0000000080") + cipher.iv
    assert cipher.nonce(1, False) == bytes.fromhex("0100000000") + cipher.iv
    assert cipher.nonce(MAX_COUNTER, False) == bytes.fromhex("ffffffff7f") + cipher.iv
    assert cipher.nonce(MAX_COUNTER, True) == bytes.fromhex("ffffffffff") + cipher.iv


@pytest.mark.parametrize(("header0", "plain", "counter", "from_central", "air"), PACKETS)
def test_sample_packets(
    cipher: LinkCipher, header0: int, plain: str, counter: int, from_central: bool, air: str
) -> None:
    assert cipher.encrypt(header0, h(plain), counter, from_central) == h(air)
    assert cipher.decrypt(header0, h(air), counter, from_central) == h(plain)
    assert len(h(air)) == len(h(plain)) + MIC_LEN


@pytest.mark.parametrize(("header0", "plain", "counter", "from_central", "air"), PACKETS)
def test_sample_packets_fail_with_wrong_context(
    cipher: LinkCipher, header0: int, plain: str, counter: int, from_central: bool, air: str
) -> None:
    data = h(air)
    assert cipher.decrypt(header0, data, counter + 1, from_central) is None
    assert cipher.decrypt(header0, data, counter, not from_central) is None
    assert cipher.decrypt(header0 ^ 0x01, data, counter, from_central) is None  # LLID
    assert cipher.decrypt(header0 ^ 0x20, data, counter, from_central) is None  # CP / RFU
    other = LinkCipher(SK, IVS, IVM)
    assert other.decrypt(header0, data, counter, from_central) is None


def test_nesn_sn_md_not_authenticated(cipher: LinkCipher) -> None:
    air = h("9fcda7f448")
    for bits in range(8):
        header0 = 0x03 | bits << 2  # LLID 3 with every NESN/SN/MD combination
        assert cipher.encrypt(header0, b"\x06", 0, True) == air
        assert cipher.decrypt(header0, air, 0, True) == b"\x06"


def test_short_or_empty(cipher: LinkCipher) -> None:
    for n in range(MIC_LEN):
        assert cipher.decrypt(0x03, bytes(n), 0, True) is None
    # An empty payload is just a MIC and round-trips.
    sealed = cipher.encrypt(0x02, b"", 5, False)
    assert len(sealed) == MIC_LEN
    assert cipher.decrypt(0x02, sealed, 5, False) == b""


def test_bad_arguments(cipher: LinkCipher) -> None:
    with pytest.raises(ValueError):
        cipher.encrypt(0x03, b"\x06", MAX_COUNTER + 1, True)
    with pytest.raises(ValueError):
        cipher.encrypt(0x03, b"\x06", -1, True)
    with pytest.raises(ValueError):
        cipher.decrypt(0x100, h("9fcda7f448"), 0, True)
    with pytest.raises(ValueError):
        LinkCipher(SK[:15], IVM, IVS)
    with pytest.raises(ValueError):
        LinkCipher(SK, IVM + b"\x00", IVS)
    with pytest.raises(ValueError):
        session_key(LTK, SKDM[:7], SKDS)


def test_mask_key() -> None:
    key = spec("4C68384139F574D836BCF34E9DFB01BF")
    assert mask_key(key, 16) == key
    assert mask_key(key, 7) == spec("000000000000000000" + "BCF34E9DFB01BF")
    for size in range(7, 17):
        masked = mask_key(key, size)
        assert len(masked) == 16
        assert masked[:size] == key[:size]
        assert masked[size:] == bytes(16 - size)
    for size in (0, 6, 17):
        with pytest.raises(ValueError):
            mask_key(key, size)


@given(
    payload=st.binary(min_size=0, max_size=251),
    counter=st.integers(min_value=0, max_value=MAX_COUNTER),
    from_central=st.booleans(),
    header0=st.integers(min_value=0, max_value=0xFF),
    flip=st.integers(min_value=0),
)
def test_roundtrip_and_tamper(
    payload: bytes, counter: int, from_central: bool, header0: int, flip: int
) -> None:
    cipher = LinkCipher(SK, IVM, IVS)
    sealed = cipher.encrypt(header0, payload, counter, from_central)
    assert len(sealed) == len(payload) + MIC_LEN
    assert cipher.decrypt(header0, sealed, counter, from_central) == payload
    bit = flip % (len(sealed) * 8)
    tampered = bytearray(sealed)
    tampered[bit // 8] ^= 1 << (bit % 8)
    assert cipher.decrypt(header0, bytes(tampered), counter, from_central) is None


@pytest.mark.parametrize(("header0", "plain", "counter", "from_central", "air"), PACKETS)
def test_sample_packets_decrypt_unsealed(
    cipher: LinkCipher, header0: int, plain: str, counter: int, from_central: bool, air: str
) -> None:
    # decrypted by AES-CCM itself: no packet this process sealed
    session._SEALED.clear()
    assert cipher.decrypt(header0, h(air), counter, from_central) == h(plain)


def test_sealed_packets_are_looked_up_by_key_nonce_aad_and_octets(cipher: LinkCipher) -> None:
    session._SEALED.clear()
    sealed = cipher.encrypt(0x0E, b"\x17\x00abc", 7, True)
    assert len(session._SEALED) == 1
    # the other end of the link (its own cipher, the same SK and IV) takes it out
    peer = LinkCipher(SK, IVM, IVS)
    assert peer.decrypt(0x0E | 0x1C, sealed, 7, True) == b"\x17\x00abc"  # NESN/SN/MD: no AAD
    assert not session._SEALED
    # what AES-CCM gives for it, as the look-up gave
    assert peer.decrypt(0x0E, sealed, 7, True) == b"\x17\x00abc"
    cipher.encrypt(0x0E, b"\x17\x00abc", 8, True)
    assert cipher.decrypt(0x0E, sealed, 8, True) is None  # another counter
    assert cipher.decrypt(0x0D, sealed, 7, True) is None  # another LLID
    assert LinkCipher(SK, IVS, IVM).decrypt(0x0E, sealed, 7, True) is None  # another IV
    assert cipher.decrypt(0x0E, sealed[:-1] + bytes((sealed[-1] ^ 1,)), 7, True) is None


def test_sealed_packets_never_decrypted_stay_bounded() -> None:
    session._SEALED.clear()
    cipher = LinkCipher(SK, IVM, IVS)
    for counter in range(session._SEALED_CAP):
        cipher.encrypt(0x02, b"x", counter, False)
    assert len(session._SEALED) == session._SEALED_CAP
    last = cipher.encrypt(0x02, b"y", session._SEALED_CAP, False)
    assert len(session._SEALED) == 1  # the memo was full: cleared, then this packet kept
    assert cipher.decrypt(0x02, last, session._SEALED_CAP, False) == b"y"
    # a packet cleared from the memo still decrypts, by AES-CCM
    first = LinkCipher(SK, IVM, IVS).encrypt(0x02, b"x", 0, False)
    session._SEALED.clear()
    assert cipher.decrypt(0x02, first, 0, False) == b"x"
