"""Bluetooth LE cryptographic toolbox (Core Spec Vol 3 Part H, Vol 6 Parts B/E).

Convention: every function takes and returns bytes in little-endian order, as
the values are carried on air in SMP and LL PDUs (the spec prints them most
significant octet first: ``bytes.fromhex(SPEC_HEX)[::-1]`` converts). Addresses
are 6 bytes as on air; address types are ints, 0 public and 1 random. The only
MSB-first function is the internal helper :func:`aes_cmac` (RFC 4493 order).
"""

from .aes import aes_cmac, e
from .legacy import c1, s1
from .p256 import (
    DEBUG_PRIVATE_KEY,
    DEBUG_PUBLIC_X,
    DEBUG_PUBLIC_Y,
    InvalidPublicKey,
    KeyPair,
    dhkey,
    generate_keypair,
    is_on_curve,
    keypair_from_private,
)
from .sc import (
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
from .session import MIC_LEN, LinkCipher, mask_key, session_key

__all__ = [
    "DEBUG_PRIVATE_KEY",
    "DEBUG_PUBLIC_X",
    "DEBUG_PUBLIC_Y",
    "KEY_ID_BRLE",
    "KEY_ID_LEBR",
    "MIC_LEN",
    "SALT_TMP1",
    "SALT_TMP2",
    "InvalidPublicKey",
    "KeyPair",
    "LinkCipher",
    "aes_cmac",
    "ah",
    "c1",
    "dhkey",
    "e",
    "f4",
    "f5",
    "f6",
    "g2",
    "g2_raw",
    "generate_keypair",
    "h6",
    "h7",
    "is_on_curve",
    "keypair_from_private",
    "mask_key",
    "s1",
    "sc_address",
    "session_key",
]
