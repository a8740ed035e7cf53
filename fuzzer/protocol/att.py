"""Attribute Protocol PDUs (Core Vol 3 Part F 3.3-3.4), fast path, no scapy.

ATT PDUs travel on L2CAP CID 0x0004 (Vol 3 Part F 3.2.11): Attribute Opcode
(1 octet) + parameters (+ 12-octet Authentication Signature for the Signed
Write Command).  Field names follow the spec parameter names; the list-valued
parameters of responses (Information Data, Handles Information List,
Attribute Data List, ...) are kept as raw octets in ``data`` -- see the
``parse_*`` helpers below to split them.
"""

from __future__ import annotations

from fuzzer.protocol.codec import Codec, PduType
from fuzzer.protocol.codec import Decoded as Decoded  # re-export: att.Decoded

# Attribute opcodes (Vol 3 Part F 3.4.8, Table 3.37)
ERROR_RSP = 0x01  # 3.4.1.1
EXCHANGE_MTU_REQ = 0x02  # 3.4.2.1
EXCHANGE_MTU_RSP = 0x03  # 3.4.2.2
FIND_INFORMATION_REQ = 0x04  # 3.4.3.1
FIND_INFORMATION_RSP = 0x05  # 3.4.3.2
FIND_BY_TYPE_VALUE_REQ = 0x06  # 3.4.3.3
FIND_BY_TYPE_VALUE_RSP = 0x07  # 3.4.3.4
READ_BY_TYPE_REQ = 0x08  # 3.4.4.1
READ_BY_TYPE_RSP = 0x09  # 3.4.4.2
READ_REQ = 0x0A  # 3.4.4.3
READ_RSP = 0x0B  # 3.4.4.4
READ_BLOB_REQ = 0x0C  # 3.4.4.5
READ_BLOB_RSP = 0x0D  # 3.4.4.6
READ_MULTIPLE_REQ = 0x0E  # 3.4.4.7
READ_MULTIPLE_RSP = 0x0F  # 3.4.4.8
READ_BY_GROUP_TYPE_REQ = 0x10  # 3.4.4.9
READ_BY_GROUP_TYPE_RSP = 0x11  # 3.4.4.10
WRITE_REQ = 0x12  # 3.4.5.1
WRITE_RSP = 0x13  # 3.4.5.2
PREPARE_WRITE_REQ = 0x16  # 3.4.6.1
PREPARE_WRITE_RSP = 0x17  # 3.4.6.2
EXECUTE_WRITE_REQ = 0x18  # 3.4.6.3
EXECUTE_WRITE_RSP = 0x19  # 3.4.6.4
HANDLE_VALUE_NTF = 0x1B  # 3.4.7.1
HANDLE_VALUE_IND = 0x1D  # 3.4.7.2
HANDLE_VALUE_CFM = 0x1E  # 3.4.7.3
READ_MULTIPLE_VARIABLE_REQ = 0x20  # 3.4.4.11 (5.2+)
READ_MULTIPLE_VARIABLE_RSP = 0x21  # 3.4.4.12 (5.2+)
MULTIPLE_HANDLE_VALUE_NTF = 0x23  # 3.4.7.4 (5.2+)
WRITE_CMD = 0x52  # 3.4.5.3
SIGNED_WRITE_CMD = 0xD2  # 3.4.5.4

# Opcode bit fields (Vol 3 Part F 3.3.1)
COMMAND_FLAG = 0x40
AUTHENTICATION_SIGNATURE_FLAG = 0x80
SIGNATURE_LEN = 12  # SignCounter(4) + MAC(8), Vol 3 Part H 2.4.5

DEFAULT_MTU = 23  # ATT_MTU default on LE (Vol 3 Part F 3.2.8)

_HANDLE_RANGE = (("starting_handle", "u16"), ("ending_handle", "u16"))
_HANDLE_VALUE = (("attribute_handle", "u16"), ("value", "rest"))
_PREPARE = (("attribute_handle", "u16"), ("value_offset", "u16"), ("value", "rest"))

#: ATT codec; names are the Core 4.x-5.2 PDU names ("Read Request", ...).
ATT = Codec(opcode_size=1, family="ATT", types=[
    PduType("Error Response", ERROR_RSP, (
        ("request_opcode_in_error", "u8"), ("attribute_handle_in_error", "u16"),
        ("error_code", "u8"))),
    PduType("Exchange MTU Request", EXCHANGE_MTU_REQ, (("mtu", "u16"),)),  # Client Rx MTU
    PduType("Exchange MTU Response", EXCHANGE_MTU_RSP, (("mtu", "u16"),)),  # Server Rx MTU
    PduType("Find Information Request", FIND_INFORMATION_REQ, _HANDLE_RANGE),
    # data = Information Data: (handle u16, UUID 2 or 16 octets) per format 1/2
    PduType("Find Information Response", FIND_INFORMATION_RSP, (
        ("format", "u8"), ("data", "rest"))),
    # attribute_type is always a 16-bit UUID here (3.4.3.3)
    PduType("Find By Type Value Request", FIND_BY_TYPE_VALUE_REQ, _HANDLE_RANGE + (
        ("attribute_type", "u16"), ("attribute_value", "rest"))),
    # data = Handles Information List: (found handle u16, group end handle u16)*
    PduType("Find By Type Value Response", FIND_BY_TYPE_VALUE_RSP, (("data", "rest"),)),
    # attribute_type = UUID, 2 or 16 octets LE
    PduType("Read By Type Request", READ_BY_TYPE_REQ, _HANDLE_RANGE + (
        ("attribute_type", "rest"),)),
    # data = Attribute Data List: (handle u16, value length-2 octets)*
    PduType("Read By Type Response", READ_BY_TYPE_RSP, (("length", "u8"), ("data", "rest"))),
    PduType("Read Request", READ_REQ, (("attribute_handle", "u16"),)),
    PduType("Read Response", READ_RSP, (("value", "rest"),)),
    PduType("Read Blob Request", READ_BLOB_REQ, (
        ("attribute_handle", "u16"), ("value_offset", "u16"))),
    PduType("Read Blob Response", READ_BLOB_RSP, (("value", "rest"),)),
    # set_of_handles: u16 LE handles concatenated
    PduType("Read Multiple Request", READ_MULTIPLE_REQ, (("set_of_handles", "rest"),)),
    PduType("Read Multiple Response", READ_MULTIPLE_RSP, (("set_of_values", "rest"),)),
    # attribute_group_type = UUID, 2 or 16 octets LE
    PduType("Read By Group Type Request", READ_BY_GROUP_TYPE_REQ, _HANDLE_RANGE + (
        ("attribute_group_type", "rest"),)),
    # data = Attribute Data List: (handle u16, end group handle u16, value)*
    PduType("Read By Group Type Response", READ_BY_GROUP_TYPE_RSP, (
        ("length", "u8"), ("data", "rest"))),
    PduType("Write Request", WRITE_REQ, _HANDLE_VALUE),
    PduType("Write Response", WRITE_RSP),
    PduType("Prepare Write Request", PREPARE_WRITE_REQ, _PREPARE),
    PduType("Prepare Write Response", PREPARE_WRITE_RSP, _PREPARE),
    PduType("Execute Write Request", EXECUTE_WRITE_REQ, (("flags", "u8"),)),
    PduType("Execute Write Response", EXECUTE_WRITE_RSP),
    PduType("Handle Value Notification", HANDLE_VALUE_NTF, _HANDLE_VALUE),
    PduType("Handle Value Indication", HANDLE_VALUE_IND, _HANDLE_VALUE),
    PduType("Handle Value Confirmation", HANDLE_VALUE_CFM),
    PduType("Read Multiple Variable Request", READ_MULTIPLE_VARIABLE_REQ,
            (("set_of_handles", "rest"),)),
    # data = Length Value Tuple List: (length u16, value)*
    PduType("Read Multiple Variable Response", READ_MULTIPLE_VARIABLE_RSP, (("data", "rest"),)),
    # data = Handle Length Value Tuple List: (handle u16, length u16, value)*
    PduType("Multiple Handle Value Notification", MULTIPLE_HANDLE_VALUE_NTF,
            (("data", "rest"),)),
    PduType("Write Command", WRITE_CMD, _HANDLE_VALUE),
    # Authentication Signature (12 octets) = SignCounter u32 LE + MAC 8 octets
    # (Vol 3 Part H 2.4.5 / Vol 3 Part C 10.4.1)
    PduType("Signed Write Command", SIGNED_WRITE_CMD, (
        ("attribute_handle", "u16"), ("value", "rest"),
        ("sign_counter", "u32"), ("signature", ("bytes", 8)))),
])

# Encoders of the PDUs GATT discovery sends and answers again and again (field values in wire
# order)
read_by_type_request = ATT.packer("Read By Type Request")  # (start, end, attribute_type)
read_by_type_response = ATT.packer("Read By Type Response")  # (length, data)
error_response = ATT.packer("Error Response")  # (request opcode, handle, error_code)

#: request opcode -> opcode of its success response (Vol 3 Part F 3.4.8)
RESPONSE_FOR: dict[int, int] = {
    EXCHANGE_MTU_REQ: EXCHANGE_MTU_RSP,
    FIND_INFORMATION_REQ: FIND_INFORMATION_RSP,
    FIND_BY_TYPE_VALUE_REQ: FIND_BY_TYPE_VALUE_RSP,
    READ_BY_TYPE_REQ: READ_BY_TYPE_RSP,
    READ_REQ: READ_RSP,
    READ_BLOB_REQ: READ_BLOB_RSP,
    READ_MULTIPLE_REQ: READ_MULTIPLE_RSP,
    READ_BY_GROUP_TYPE_REQ: READ_BY_GROUP_TYPE_RSP,
    WRITE_REQ: WRITE_RSP,
    PREPARE_WRITE_REQ: PREPARE_WRITE_RSP,
    EXECUTE_WRITE_REQ: EXECUTE_WRITE_RSP,
    READ_MULTIPLE_VARIABLE_REQ: READ_MULTIPLE_VARIABLE_RSP,
    HANDLE_VALUE_IND: HANDLE_VALUE_CFM,
}

# Find Information Response format (3.4.3.2)
FORMAT_16BIT = 0x01
FORMAT_128BIT = 0x02

# Execute Write Request flags (3.4.6.3)
EXECUTE_CANCEL = 0x00
EXECUTE_WRITE = 0x01

# Error codes (Vol 3 Part F 3.4.1.1, Table 3.4)
INVALID_HANDLE = 0x01
READ_NOT_PERMITTED = 0x02
WRITE_NOT_PERMITTED = 0x03
INVALID_PDU = 0x04
INSUFFICIENT_AUTHENTICATION = 0x05
REQUEST_NOT_SUPPORTED = 0x06
INVALID_OFFSET = 0x07
INSUFFICIENT_AUTHORIZATION = 0x08
PREPARE_QUEUE_FULL = 0x09
ATTRIBUTE_NOT_FOUND = 0x0A
ATTRIBUTE_NOT_LONG = 0x0B
INSUFFICIENT_ENCRYPTION_KEY_SIZE = 0x0C
INVALID_ATTRIBUTE_VALUE_LENGTH = 0x0D
UNLIKELY_ERROR = 0x0E
INSUFFICIENT_ENCRYPTION = 0x0F
UNSUPPORTED_GROUP_TYPE = 0x10
INSUFFICIENT_RESOURCES = 0x11
DATABASE_OUT_OF_SYNC = 0x12
VALUE_NOT_ALLOWED = 0x13
# 0x80-0x9F: application errors; 0xE0-0xFF: common profile and service errors
# (Core Specification Supplement Part B), e.g. 0xFD CCCD improperly configured.
CCCD_IMPROPERLY_CONFIGURED = 0xFD
PROCEDURE_ALREADY_IN_PROGRESS = 0xFE
OUT_OF_RANGE = 0xFF

#: ATT error code -> name
ERROR_NAMES: dict[int, str] = {
    INVALID_HANDLE: "INVALID_HANDLE",
    READ_NOT_PERMITTED: "READ_NOT_PERMITTED",
    WRITE_NOT_PERMITTED: "WRITE_NOT_PERMITTED",
    INVALID_PDU: "INVALID_PDU",
    INSUFFICIENT_AUTHENTICATION: "INSUFFICIENT_AUTHENTICATION",
    REQUEST_NOT_SUPPORTED: "REQUEST_NOT_SUPPORTED",
    INVALID_OFFSET: "INVALID_OFFSET",
    INSUFFICIENT_AUTHORIZATION: "INSUFFICIENT_AUTHORIZATION",
    PREPARE_QUEUE_FULL: "PREPARE_QUEUE_FULL",
    ATTRIBUTE_NOT_FOUND: "ATTRIBUTE_NOT_FOUND",
    ATTRIBUTE_NOT_LONG: "ATTRIBUTE_NOT_LONG",
    INSUFFICIENT_ENCRYPTION_KEY_SIZE: "INSUFFICIENT_ENCRYPTION_KEY_SIZE",
    INVALID_ATTRIBUTE_VALUE_LENGTH: "INVALID_ATTRIBUTE_VALUE_LENGTH",
    UNLIKELY_ERROR: "UNLIKELY_ERROR",
    INSUFFICIENT_ENCRYPTION: "INSUFFICIENT_ENCRYPTION",
    UNSUPPORTED_GROUP_TYPE: "UNSUPPORTED_GROUP_TYPE",
    INSUFFICIENT_RESOURCES: "INSUFFICIENT_RESOURCES",
    DATABASE_OUT_OF_SYNC: "DATABASE_OUT_OF_SYNC",
    VALUE_NOT_ALLOWED: "VALUE_NOT_ALLOWED",
    CCCD_IMPROPERLY_CONFIGURED: "CCCD_IMPROPERLY_CONFIGURED",
    PROCEDURE_ALREADY_IN_PROGRESS: "PROCEDURE_ALREADY_IN_PROGRESS",
    OUT_OF_RANGE: "OUT_OF_RANGE",
}


def error_name(code: int) -> str:
    """Name of an ATT error code, ``"APPLICATION_ERROR_0xNN"`` for 0x80-0x9F, else ``"0xNN"``."""
    if code in ERROR_NAMES:
        return ERROR_NAMES[code]
    if 0x80 <= code <= 0x9F:
        return f"APPLICATION_ERROR_0x{code:02X}"
    return f"0x{code:02X}"


# ---------------------------------------------------------------- list parameters
# All return None (never raise) when the octets do not split evenly.

def parse_find_information_data(fmt: int, data: bytes) -> list[tuple[int, bytes]] | None:
    """Information Data of a Find Information Response (3.4.3.2) ->
    ``[(handle, uuid_le_octets), ...]`` (UUID 2 octets for format 1, 16 for format 2)."""
    size = {FORMAT_16BIT: 2, FORMAT_128BIT: 16}.get(fmt)
    if size is None or not data or len(data) % (2 + size):
        return None
    step = 2 + size
    return [(data[i] | data[i + 1] << 8, bytes(data[i + 2:i + step]))
            for i in range(0, len(data), step)]


def parse_handles_information(data: bytes) -> list[tuple[int, int]] | None:
    """Handles Information List of a Find By Type Value Response (3.4.3.4) ->
    ``[(found_attribute_handle, group_end_handle), ...]``."""
    if not data or len(data) % 4:
        return None
    return [(data[i] | data[i + 1] << 8, data[i + 2] | data[i + 3] << 8)
            for i in range(0, len(data), 4)]


def parse_read_by_type_data(length: int, data: bytes) -> list[tuple[int, bytes]] | None:
    """Attribute Data List of a Read By Type Response (3.4.4.2) -> ``[(handle, value), ...]``."""
    if length < 2 or not data or len(data) % length:
        return None
    return [(data[i] | data[i + 1] << 8, bytes(data[i + 2:i + length]))
            for i in range(0, len(data), length)]


def read_by_type_entries(length: int, data: bytes) -> list[tuple[int, bytes]]:
    """The complete (handle, value) entries of a Read By Type Response's Attribute Data List
    (a truncated last entry is left out); [] when ``length`` is below 2."""
    if length < 2:
        return []
    return parse_read_by_type_data(length, data[:len(data) - len(data) % length]) or []


def parse_read_by_group_type_data(length: int,
                                  data: bytes) -> list[tuple[int, int, bytes]] | None:
    """Attribute Data List of a Read By Group Type Response (3.4.4.10) ->
    ``[(attribute_handle, end_group_handle, value), ...]``."""
    if length < 4 or not data or len(data) % length:
        return None
    return [(data[i] | data[i + 1] << 8, data[i + 2] | data[i + 3] << 8,
             bytes(data[i + 4:i + length])) for i in range(0, len(data), length)]


def encode_handles(handles: list[int]) -> bytes:
    """Set Of Handles for Read Multiple (Variable) Request: u16 LE each."""
    if any(not 0 <= h <= 0xFFFF for h in handles):
        raise ValueError("handle out of range")
    return b"".join(h.to_bytes(2, "little") for h in handles)


def parse_handles(data: bytes) -> list[int] | None:
    """Inverse of :func:`encode_handles`; None on an odd number of octets."""
    if len(data) % 2:
        return None
    return [data[i] | data[i + 1] << 8 for i in range(0, len(data), 2)]
