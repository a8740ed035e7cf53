"""Security Manager Protocol PDUs (Core Vol 3 Part H 3.3-3.6), fast path, no scapy.

SMP PDUs travel on L2CAP CID 0x0006 (Vol 3 Part H 3.2): Code (1 octet) + data.
Keys, confirm/random values and public-key coordinates are kept as octets in
the order they appear on the air (little-endian, least significant octet
first), exactly as the toolbox functions in Vol 3 Part H 2.2 expect them
after reversal; nothing here reverses octets.
"""

from __future__ import annotations

from fuzzer.protocol.codec import Codec, PduType
from fuzzer.protocol.codec import Decoded as Decoded  # re-export: smp.Decoded

# Command codes (Vol 3 Part H 3.3, Table 3.1)
PAIRING_REQUEST = 0x01  # 3.5.1
PAIRING_RESPONSE = 0x02  # 3.5.2
PAIRING_CONFIRM = 0x03  # 3.5.3
PAIRING_RANDOM = 0x04  # 3.5.4
PAIRING_FAILED = 0x05  # 3.5.5
ENCRYPTION_INFORMATION = 0x06  # 3.6.2
CENTRAL_IDENTIFICATION = 0x07  # 3.6.3 (Master Identification before 5.3)
IDENTITY_INFORMATION = 0x08  # 3.6.4
IDENTITY_ADDRESS_INFORMATION = 0x09  # 3.6.5
SIGNING_INFORMATION = 0x0A  # 3.6.6
SECURITY_REQUEST = 0x0B  # 3.6.7
PAIRING_PUBLIC_KEY = 0x0C  # 3.5.6
PAIRING_DHKEY_CHECK = 0x0D  # 3.5.7
PAIRING_KEYPRESS_NOTIFICATION = 0x0E  # 3.5.8

_PAIRING_FEATURES = (
    ("io_capability", "u8"), ("oob_data_flag", "u8"), ("authreq", "u8"),
    ("max_encryption_key_size", "u8"),
    ("initiator_key_distribution", "u8"), ("responder_key_distribution", "u8"),
)

#: SMP codec; names are the Core 5.3+ command names.
SMP = Codec(opcode_size=1, family="SMP", types=[
    PduType("Pairing Request", PAIRING_REQUEST, _PAIRING_FEATURES),
    PduType("Pairing Response", PAIRING_RESPONSE, _PAIRING_FEATURES),
    PduType("Pairing Confirm", PAIRING_CONFIRM, (("confirm_value", ("bytes", 16)),)),
    PduType("Pairing Random", PAIRING_RANDOM, (("random_value", ("bytes", 16)),)),
    PduType("Pairing Failed", PAIRING_FAILED, (("reason", "u8"),)),
    PduType("Encryption Information", ENCRYPTION_INFORMATION,
            (("long_term_key", ("bytes", 16)),)),
    PduType("Central Identification", CENTRAL_IDENTIFICATION,
            (("ediv", "u16"), ("rand", ("bytes", 8)))),
    PduType("Identity Information", IDENTITY_INFORMATION,
            (("identity_resolving_key", ("bytes", 16)),)),
    PduType("Identity Address Information", IDENTITY_ADDRESS_INFORMATION,
            (("addr_type", "u8"), ("bd_addr", ("bytes", 6)))),
    PduType("Signing Information", SIGNING_INFORMATION, (("signature_key", ("bytes", 16)),)),
    PduType("Security Request", SECURITY_REQUEST, (("authreq", "u8"),)),
    PduType("Pairing Public Key", PAIRING_PUBLIC_KEY,
            (("public_key_x", ("bytes", 32)), ("public_key_y", ("bytes", 32)))),
    PduType("Pairing DHKey Check", PAIRING_DHKEY_CHECK, (("dhkey_check", ("bytes", 16)),)),
    PduType("Pairing Keypress Notification", PAIRING_KEYPRESS_NOTIFICATION,
            (("notification_type", "u8"),)),
])

# Encoders of the PDUs every pairing sends again and again (field values in wire order)
pairing_confirm = SMP.packer("Pairing Confirm")  # (confirm_value)
pairing_random = SMP.packer("Pairing Random")  # (random_value)
pairing_public_key = SMP.packer("Pairing Public Key")  # (public_key_x, public_key_y)
pairing_dhkey_check = SMP.packer("Pairing DHKey Check")  # (dhkey_check)

# IO Capability (Vol 3 Part H 3.5.1, Table 3.4)
DISPLAY_ONLY = 0x00
DISPLAY_YES_NO = 0x01
KEYBOARD_ONLY = 0x02
NO_INPUT_NO_OUTPUT = 0x03
KEYBOARD_DISPLAY = 0x04
IO_CAPABILITY_NAMES = {
    DISPLAY_ONLY: "DISPLAY_ONLY", DISPLAY_YES_NO: "DISPLAY_YES_NO",
    KEYBOARD_ONLY: "KEYBOARD_ONLY", NO_INPUT_NO_OUTPUT: "NO_INPUT_NO_OUTPUT",
    KEYBOARD_DISPLAY: "KEYBOARD_DISPLAY",
}

# OOB data flag (Vol 3 Part H 3.5.1, Table 3.5)
OOB_NOT_PRESENT = 0x00
OOB_PRESENT = 0x01

# AuthReq bits (Vol 3 Part H 3.5.1, Figure 3.3): Bonding_Flags (2 bits) | MITM |
# SC | Keypress | CT2 | RFU(2)
BONDING = 0x01  # Bonding_Flags = 0b01
MITM = 0x04
SC = 0x08
KEYPRESS = 0x10
CT2 = 0x20
BONDING_FLAGS_MASK = 0x03

AUTHREQ_BONDING = BONDING  # AUTHREQ_-prefixed aliases
AUTHREQ_MITM = MITM
AUTHREQ_SC = SC
AUTHREQ_KEYPRESS = KEYPRESS
AUTHREQ_CT2 = CT2

# Key distribution bits (Vol 3 Part H 3.6.1, Figure 3.11)
ENC_KEY = 0x01  # LTK + EDIV/Rand (legacy) -- or derive LTK from BR/EDR link key
ID_KEY = 0x02  # IRK + identity address
SIGN_KEY = 0x04  # CSRK
LINK_KEY = 0x08  # derive BR/EDR link key from LTK (SC only)

KEY_DIST_ENC_KEY = ENC_KEY  # KEY_DIST_-prefixed aliases
KEY_DIST_ID_KEY = ID_KEY
KEY_DIST_SIGN_KEY = SIGN_KEY
KEY_DIST_LINK_KEY = LINK_KEY

# Maximum/minimum encryption key size (Vol 3 Part H 2.3.4)
MIN_ENCRYPTION_KEY_SIZE = 7
MAX_ENCRYPTION_KEY_SIZE = 16

# Pairing Failed reason codes (Vol 3 Part H 3.5.5, Table 3.7)
PASSKEY_ENTRY_FAILED = 0x01
OOB_NOT_AVAILABLE = 0x02
AUTHENTICATION_REQUIREMENTS = 0x03
CONFIRM_VALUE_FAILED = 0x04
PAIRING_NOT_SUPPORTED = 0x05
ENCRYPTION_KEY_SIZE = 0x06
COMMAND_NOT_SUPPORTED = 0x07
UNSPECIFIED_REASON = 0x08
REPEATED_ATTEMPTS = 0x09
INVALID_PARAMETERS = 0x0A
DHKEY_CHECK_FAILED = 0x0B
NUMERIC_COMPARISON_FAILED = 0x0C
BREDR_PAIRING_IN_PROGRESS = 0x0D
CROSS_TRANSPORT_KEY_DERIVATION_NOT_ALLOWED = 0x0E
KEY_REJECTED = 0x0F

#: Pairing Failed reason -> name
REASON_NAMES: dict[int, str] = {
    PASSKEY_ENTRY_FAILED: "PASSKEY_ENTRY_FAILED",
    OOB_NOT_AVAILABLE: "OOB_NOT_AVAILABLE",
    AUTHENTICATION_REQUIREMENTS: "AUTHENTICATION_REQUIREMENTS",
    CONFIRM_VALUE_FAILED: "CONFIRM_VALUE_FAILED",
    PAIRING_NOT_SUPPORTED: "PAIRING_NOT_SUPPORTED",
    ENCRYPTION_KEY_SIZE: "ENCRYPTION_KEY_SIZE",
    COMMAND_NOT_SUPPORTED: "COMMAND_NOT_SUPPORTED",
    UNSPECIFIED_REASON: "UNSPECIFIED_REASON",
    REPEATED_ATTEMPTS: "REPEATED_ATTEMPTS",
    INVALID_PARAMETERS: "INVALID_PARAMETERS",
    DHKEY_CHECK_FAILED: "DHKEY_CHECK_FAILED",
    NUMERIC_COMPARISON_FAILED: "NUMERIC_COMPARISON_FAILED",
    BREDR_PAIRING_IN_PROGRESS: "BREDR_PAIRING_IN_PROGRESS",
    CROSS_TRANSPORT_KEY_DERIVATION_NOT_ALLOWED: "CROSS_TRANSPORT_KEY_DERIVATION_NOT_ALLOWED",
    KEY_REJECTED: "KEY_REJECTED",
}

# Keypress notification types (Vol 3 Part H 3.5.8, Table 3.8)
PASSKEY_ENTRY_STARTED = 0
PASSKEY_DIGIT_ENTERED = 1
PASSKEY_DIGIT_ERASED = 2
PASSKEY_CLEARED = 3
PASSKEY_ENTRY_COMPLETED = 4

# Identity address type (Vol 3 Part H 3.6.5)
ADDR_PUBLIC = 0x00
ADDR_STATIC_RANDOM = 0x01


def reason_name(code: int) -> str:
    """Name of a Pairing Failed reason, or ``"0xNN"``."""
    return REASON_NAMES.get(code, f"0x{code:02X}")
