"""GATT constants and UUID helpers (Core Vol 3 Part G; Vol 3 Part B 2.5.1), no scapy.

UUIDs go on the air little-endian: a 16-bit UUID as 2 octets, a 128-bit
UUID as its 16 octets reversed (Vol 3 Part F 3.2.1).  Here an ``int`` is a
16-bit (or 32-bit) UUID and a :class:`uuid.UUID` is a full 128-bit UUID.
"""

from __future__ import annotations

import struct
import uuid
from typing import Any

#: Bluetooth Base UUID (Vol 3 Part B 2.5.1): 0000xxxx-0000-1000-8000-00805F9B34FB
BASE_UUID = uuid.UUID("00000000-0000-1000-8000-00805F9B34FB")
_BASE_INT = BASE_UUID.int

UuidLike = int | str | uuid.UUID | bytes


def uuid16_to_uuid128(u16: int) -> uuid.UUID:
    """16-bit (or 32-bit) UUID -> 128-bit UUID via the Base UUID (Vol 3 Part B 2.5.1)."""
    if not 0 <= u16 <= 0xFFFFFFFF:
        raise ValueError(f"{u16!r} is not a 16/32-bit UUID")
    return uuid.UUID(int=_BASE_INT | (u16 << 96))


def uuid128_to_uuid16(u: uuid.UUID | str) -> int | None:
    """16-bit UUID of a Base-UUID-derived 128-bit UUID, or None if it is not one."""
    v = to_uuid128(u).int
    if v & ~(0xFFFF << 96) != _BASE_INT:
        return None
    return (v >> 96) & 0xFFFF


def to_uuid128(u: UuidLike) -> uuid.UUID:
    """Normalise an int (16/32-bit), UUID string (128-bit, or 16/32-bit hex such as "2A38"),
    :class:`uuid.UUID` or LE octets (2, 4 or 16) to a 128-bit :class:`uuid.UUID`."""
    if isinstance(u, uuid.UUID):
        return u
    if isinstance(u, bool):
        raise ValueError("bool is not a UUID")
    if isinstance(u, int):
        return uuid16_to_uuid128(u)
    if isinstance(u, str):
        text = u.strip()
        short = text[2:] if text[:2].lower() == "0x" else text
        if 0 < len(short) <= 8 and all(c in "0123456789abcdefABCDEF" for c in short):
            return uuid16_to_uuid128(int(short, 16))
        return uuid.UUID(text)
    if isinstance(u, (bytes, bytearray, memoryview)):
        return uuid_from_le(bytes(u))  # type: ignore[return-value]
    raise ValueError(f"not a UUID: {u!r}")


def uuid_from_le(b: bytes, *, shorten: bool = False) -> int | uuid.UUID:
    """Parse LE octets of a UUID: 2 or 4 octets -> 128-bit UUID (or the int if
    ``shorten``); 16 octets -> :class:`uuid.UUID` (or the 16-bit int if ``shorten``
    and it is Base-derived).  ValueError on any other length."""
    if len(b) in (2, 4):
        v = int.from_bytes(b, "little")
        return v if shorten else uuid16_to_uuid128(v)
    if len(b) == 16:
        u = uuid.UUID(bytes=bytes(b[::-1]))
        if shorten:
            s = uuid128_to_uuid16(u)
            if s is not None:
                return s
        return u
    raise ValueError(f"a UUID is 2, 4 or 16 octets, got {len(b)}")


def uuid_to_le(u: UuidLike, *, force_128: bool = False) -> bytes:
    """On-air (LE) octets of a UUID: 2 octets for a 16-bit one (int, or a Base-derived
    128-bit UUID), else 16; ``force_128`` always gives 16."""
    if isinstance(u, int) and not isinstance(u, bool) and 0 <= u <= 0xFFFF and not force_128:
        return struct.pack("<H", u)
    full = to_uuid128(u)
    if not force_128:
        s = uuid128_to_uuid16(full)
        if s is not None:
            return struct.pack("<H", s)
    return full.bytes[::-1]


def uuid16(u16: int) -> bytes:
    """2 LE octets of a 16-bit UUID, e.g. an attribute type: ``uuid16(0x2800) == b"\\x00("``."""
    if type(u16) is int and 0 <= u16 <= 0xFFFF:
        return u16.to_bytes(2, "little")
    if isinstance(u16, bool) or not 0 <= u16 <= 0xFFFF:
        raise ValueError(f"{u16!r} is not a 16-bit UUID")
    return struct.pack("<H", u16)


def uuid128_le(u: UuidLike) -> bytes:
    """16 LE octets of any UUID (16-bit ones expanded with the Base UUID)."""
    return to_uuid128(u).bytes[::-1]


# GATT attribute types (Assigned Numbers 3.5 / Vol 3 Part G 3)
PRIMARY_SERVICE = 0x2800
SECONDARY_SERVICE = 0x2801
INCLUDE = 0x2802
CHARACTERISTIC = 0x2803
# Descriptors (Vol 3 Part G 3.3.3)
CHARACTERISTIC_EXTENDED_PROPERTIES = 0x2900
CHARACTERISTIC_USER_DESCRIPTION = 0x2901
CCCD = 0x2902  # Client Characteristic Configuration
SCCD = 0x2903  # Server Characteristic Configuration
CHARACTERISTIC_PRESENTATION_FORMAT = 0x2904
# Characteristics
DEVICE_NAME = 0x2A00
APPEARANCE = 0x2A01
PERIPHERAL_PREFERRED_CONNECTION_PARAMETERS = 0x2A04
SERVICE_CHANGED = 0x2A05
CENTRAL_ADDRESS_RESOLUTION = 0x2AA6
CLIENT_SUPPORTED_FEATURES = 0x2B29
DATABASE_HASH = 0x2B2A
# Services
GAP_SERVICE = 0x1800
GATT_SERVICE = 0x1801
DEVICE_INFORMATION_SERVICE = 0x180A
HEART_RATE_SERVICE = 0x180D
BATTERY_SERVICE = 0x180F

# Characteristic properties (Vol 3 Part G 3.3.1.1, Table 3.5)
PROP_BROADCAST = 0x01
PROP_READ = 0x02
PROP_WRITE_WITHOUT_RESPONSE = 0x04
PROP_WRITE = 0x08
PROP_NOTIFY = 0x10
PROP_INDICATE = 0x20
PROP_AUTHENTICATED_SIGNED_WRITES = 0x40
PROP_EXTENDED_PROPERTIES = 0x80
PROPERTY_NAMES = {
    PROP_BROADCAST: "broadcast", PROP_READ: "read",
    PROP_WRITE_WITHOUT_RESPONSE: "write_without_response", PROP_WRITE: "write",
    PROP_NOTIFY: "notify", PROP_INDICATE: "indicate",
    PROP_AUTHENTICATED_SIGNED_WRITES: "authenticated_signed_writes",
    PROP_EXTENDED_PROPERTIES: "extended_properties",
}

# CCCD value bits (Vol 3 Part G 3.3.3.3)
CCCD_NOTIFICATION = 0x0001
CCCD_INDICATION = 0x0002


def encode_characteristic_declaration(properties: int, value_handle: int,
                                      uuid_: UuidLike) -> bytes:
    """Characteristic declaration value (Vol 3 Part G 3.3.1): properties u8,
    value handle u16 LE, characteristic UUID (2 or 16 LE octets)."""
    if not 0 <= properties <= 0xFF or not 0 <= value_handle <= 0xFFFF:
        raise ValueError("properties/value_handle out of range")
    return struct.pack("<BH", properties, value_handle) + uuid_to_le(uuid_)


def decode_characteristic_declaration(value: bytes) -> dict[str, Any] | None:
    """Inverse of :func:`encode_characteristic_declaration`: ``{"properties",
    "value_handle", "uuid"}`` (uuid: int if 16-bit, else :class:`uuid.UUID`); None if malformed."""
    if len(value) not in (5, 19):
        return None
    props, handle = struct.unpack_from("<BH", value)
    return {"properties": props, "value_handle": handle,
            "uuid": uuid_from_le(bytes(value[3:]), shorten=True)}


def property_names(properties: int) -> list[str]:
    """Names of the property bits set in ``properties``."""
    return [n for bit, n in PROPERTY_NAMES.items() if properties & bit]
