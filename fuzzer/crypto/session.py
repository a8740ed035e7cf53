"""LE link layer encryption: session key derivation and AES-CCM packet protection.

Core Spec Vol 6 Part B 5.1.3.1 (Encryption Start procedure: SKD, IV, SK) and
Vol 6 Part E 2 (AES-CCM: nonce, MIC, additional authenticated data), with the
key masking of Vol 3 Part H 2.3.4.

Byte order: every argument is little-endian as carried on air (LTK as in
HCI/SMP, SKDm/IVm as in LL_ENC_REQ, SKDs/IVs as in LL_ENC_RSP), and the session
key returned by :func:`session_key` is little-endian too (see
``fuzzer.crypto.aes``). :class:`LinkCipher` takes that little-endian SK.
"""

from __future__ import annotations

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESCCM

from .aes import BoundedCache, e

__all__ = ["MIC_LEN", "LinkCipher", "mask_key", "session_key"]

#: Length of the LL MIC appended to every encrypted data channel PDU payload.
MIC_LEN = 4
#: Largest packetCounter value: the counter is 39 bits (Vol 6 Part E 2.1).
MAX_COUNTER = (1 << 39) - 1

# Vol 6 Part E 2 (AAD): the first data channel PDU header octet with NESN, SN
# and MD (bits 2, 3, 4) set to zero; LLID, CP and RFU bits stay authenticated.
_HEADER_MASK = 0xE3
_AAD = tuple(bytes((octet & _HEADER_MASK,)) for octet in range(256))
# Vol 6 Part E 2.1: the directionBit is bit 7 of nonce octet 4, i.e. bit 39 of
# the 40-bit little-endian counter field; 1 for central -> peripheral.
_DIRECTION_BIT = 1 << 39

# Plaintexts of sealed packets by (SK, nonce, AAD, ciphertext || MIC). Both ends of an emulated
# link run in one process, so nearly every packet one end encrypts the other decrypts with the
# same key, nonce and AAD; CCM decryption of exactly what encryption gave yields its plaintext,
# so it is looked up here rather than computed a second time (AES-CCM is most of a packet's
# cost). Anything else (another key, counter, header or tampered octets) is decrypted as ever.
_SEALED: dict[tuple[bytes, bytes, bytes, bytes], bytes] = {}
# A packet is decrypted, if at all, soon after it is sent, and decryption takes it out; what
# lost packets leave is cleared once the memo holds this many (memory stays bounded).
_SEALED_CAP = 256


def _new_ccm(key_msb: bytes) -> AESCCM:
    return AESCCM(key_msb, tag_length=MIC_LEN)


_CCM = BoundedCache[bytes, AESCCM](_new_ccm)


def _check_len(name: str, value: bytes, size: int) -> None:
    if len(value) != size:
        raise ValueError(f"{name} must be {size} bytes, got {len(value)}")


def _check_octet_and_counter(header0: int, counter: int) -> None:
    """Raise ValueError unless ``header0`` is one octet and ``counter`` a 39-bit packetCounter."""
    if not 0 <= header0 <= 0xFF:
        raise ValueError(f"header0 must be one octet, got {header0}")
    if not 0 <= counter <= MAX_COUNTER:
        raise ValueError(f"packet counter must be 0..2^39-1, got {counter}")


def session_key(ltk: bytes, skdm: bytes, skds: bytes) -> bytes:
    """Return the LL session key SK (16 bytes, little-endian).

    Vol 6 Part B 5.1.3.1: SKD = SKDm || SKDs with SKDm least significant, and
    SK = e(LTK, SKD). ``ltk`` is 16 bytes, ``skdm``/``skds`` 8 bytes each as
    carried in LL_ENC_REQ / LL_ENC_RSP.
    """
    if len(ltk) != 16 or len(skdm) != 8 or len(skds) != 8:
        _check_len("ltk", ltk, 16)
        _check_len("skdm", skdm, 8)
        _check_len("skds", skds, 8)
    return _SESSION_KEYS[bytes(ltk), bytes(skdm) + bytes(skds)]


def _session_key(args: tuple[bytes, bytes]) -> bytes:
    ltk, skd = args
    return e(ltk, skd)


# SKs by (LTK, SKD): both ends of a link derive the same one
_SESSION_KEYS = BoundedCache[tuple[bytes, bytes], bytes](_session_key, maxsize=16)


def mask_key(key: bytes, size: int, *, allow_any: bool = False) -> bytes:
    """Return a 16-byte little-endian key masked to its ``size`` least significant octets.

    Vol 3 Part H 2.3.4: a key of negotiated size 7..16 octets keeps its ``size``
    least significant octets and has the rest (the most significant 16 - size)
    set to zero. ``allow_any`` accepts 1..16, to follow a peer that negotiated an
    out-of-range size (KNOB-style tests).
    """
    _check_len("key", key, 16)
    low = 1 if allow_any else 7
    if not low <= size <= 16:
        raise ValueError(f"encryption key size must be {low}..16, got {size}")
    return bytes(key[:size]) + bytes(16 - size)


class LinkCipher:
    """AES-CCM encryption of LL data channel PDU payloads for one connection.

    ``sk`` is the 16-byte session key as returned by :func:`session_key`
    (little-endian), ``ivm``/``ivs`` the 4-byte IV halves as carried in
    LL_ENC_REQ / LL_ENC_RSP; IV = IVm || IVs with IVm least significant
    (Vol 6 Part B 5.1.3.1). The object keeps no packet counters: callers pass
    the counter and direction of each packet, which lets a fuzzer replay, skip
    or reuse counters at will.
    """

    __slots__ = ("_ccm", "iv", "sk")

    def __init__(self, sk: bytes, ivm: bytes, ivs: bytes) -> None:
        if len(sk) != 16 or len(ivm) != 4 or len(ivs) != 4:
            _check_len("sk", sk, 16)
            _check_len("ivm", ivm, 4)
            _check_len("ivs", ivs, 4)
        self.sk = bytes(sk)
        #: The 8-byte IV (IVm || IVs), little-endian, as used in the nonce.
        self.iv = bytes(ivm) + bytes(ivs)
        # AES takes the key most significant octet first (Vol 3 Part H 2.2.1).
        self._ccm = _CCM[self.sk[::-1]]

    def nonce(self, counter: int, from_central: bool) -> bytes:
        """Return the 13-byte CCM nonce for a packet (Vol 6 Part E 2.1).

        Octets 0..4: the 39-bit packetCounter little-endian with the
        directionBit (1 = central to peripheral) in bit 7 of octet 4; octets
        5..12: the IV.
        """
        if not 0 <= counter <= MAX_COUNTER:
            raise ValueError(f"packet counter must be 0..2^39-1, got {counter}")
        if from_central:
            counter |= _DIRECTION_BIT
        return counter.to_bytes(5, "little") + self.iv

    def encrypt(self, header0: int, payload: bytes, counter: int, from_central: bool) -> bytes:
        """Return ciphertext || MIC (4 bytes) for one data channel PDU payload.

        ``header0`` is the first octet of the data channel PDU header (LLID,
        NESN, SN, MD, ...); its NESN/SN/MD bits are masked out of the AAD, so
        they may change on retransmission. ``counter`` is the 39-bit
        packetCounter of the sending direction, ``from_central`` the
        directionBit. The PDU's Length field must then be len(payload) + 4.
        """
        if not (0 <= header0 <= 0xFF and 0 <= counter <= MAX_COUNTER):
            _check_octet_and_counter(header0, counter)
        if from_central:
            counter |= _DIRECTION_BIT
        # the nonce (Vol 6 Part E 2.1), as :meth:`nonce` builds it
        nonce = counter.to_bytes(5, "little") + self.iv
        aad = _AAD[header0]
        sealed = self._ccm.encrypt(nonce, payload, aad)
        if type(payload) is bytes:
            if len(_SEALED) >= _SEALED_CAP:
                _SEALED.clear()
            _SEALED[self.sk, nonce, aad, sealed] = payload
        return sealed

    def decrypt(self, header0: int, data: bytes, counter: int, from_central: bool) -> bytes | None:
        """Return the plaintext of ``data`` (ciphertext || MIC), or None.

        None means the MIC did not verify (wrong key, counter, direction,
        header bits or tampered data) or ``data`` is shorter than the MIC.
        Arguments are as for :meth:`encrypt`.
        """
        if not 0 <= header0 <= 0xFF:
            raise ValueError(f"header0 must be one octet, got {header0}")
        if len(data) < MIC_LEN:
            return None
        if not 0 <= counter <= MAX_COUNTER:
            raise ValueError(f"packet counter must be 0..2^39-1, got {counter}")
        if from_central:
            counter |= _DIRECTION_BIT
        # the nonce (Vol 6 Part E 2.1), as :meth:`nonce` builds it
        nonce = counter.to_bytes(5, "little") + self.iv
        aad = _AAD[header0]
        if type(data) is bytes:
            plain = _SEALED.pop((self.sk, nonce, aad, data), None)
            if plain is not None:
                return plain  # what the sender sealed: see _SEALED
        try:
            return self._ccm.decrypt(nonce, data, aad)
        except InvalidTag:
            return None
