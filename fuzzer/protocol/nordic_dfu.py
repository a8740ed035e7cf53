"""Nordic *Legacy* DFU service (nRF5 SDK <= 11: ``ble_dfu.h`` / ``dfu_types.h``), fast path.

GATT service with three characteristics under the vendor base UUID
``0000xxxx-1212-EFDE-1523-785FEABCD123``:

* DFU Control Point (0x1531, write + notify): opcode (1 octet) + parameters;
  the bootloader answers with RESPONSE notifications ``10 <req opcode> <value>``;
* DFU Packet (0x1532, write without response): image sizes, init packet and
  firmware chunks;
* DFU Version (0x1534, read, newer legacy SDKs only): u16 LE (major in the high
  octet); DFU controllers treat 0x0001 as "application with buttonless DFU"
  and >= 0x0005 as "bootloader" (SDK 11 bootloader: 0x0008).  (0x1533, a
  status report characteristic, is declared in ``ble_dfu.h`` but unused.)

Typical update (SDK 7-11): enable CCCD notifications on the control point;
write ``01 <image type>`` to it (START_DFU), then the 12 image sizes octets
(``encode_image_sizes``) to the packet characteristic; get ``10 01 01``;
``02 00`` (INITIALIZE_DFU, receive init packet), init packet to the packet
characteristic, ``02 01`` (init packet complete); optionally ``08 <n u16>``
(PKT_RCPT_NOTIF_REQ); ``03`` (RECEIVE_FIRMWARE_IMAGE) and the image in
20-octet writes; ``04`` (VALIDATE_FIRMWARE); ``05`` (ACTIVATE_IMAGE_AND_RESET).

Buttonless update in the legacy SDK 11 example applications (e.g.
``ble_app_hrs`` with DFU support): the *application* exposes the same DFU
service, and writing START_DFU (``01 <image type>``) to its control point
makes the application reset into the bootloader (no bond/auth check in the
example), which then advertises as "DfuTarg".

The scapy layers ``DFU_CP_Hdr``, ``DFU_Start``, ``DFU_Init``,
``DFU_PktRcptNotifReq``, ``DFU_Response`` and ``DFU_PktRcptNotif`` are
defined in :mod:`fuzzer.protocol.scapy_layers` and re-exported here lazily
(importing this module does not import scapy).
"""

from __future__ import annotations

import functools
import struct
import uuid
from typing import Any

from fuzzer.protocol import ll
from fuzzer.protocol.codec import Codec, PduType

# ------------------------------------------------------------------ UUIDs (ble_dfu.h)
BASE_UUID_STR = "00001530-1212-EFDE-1523-785FEABCD123"  # BLE_DFU_BASE_UUID
_BASE = uuid.UUID(BASE_UUID_STR)

SERVICE_UUID16 = 0x1530  # BLE_DFU_SERVICE_UUID
CONTROL_POINT_UUID16 = 0x1531  # BLE_DFU_CTRL_PT_UUID
PACKET_UUID16 = 0x1532  # BLE_DFU_PKT_CHAR_UUID
VERSION_UUID16 = 0x1534  # BLE_DFU_REV_CHAR_UUID


def vendor_uuid(u16: int) -> uuid.UUID:
    """128-bit UUID of a 16-bit alias under the Nordic Legacy DFU base UUID."""
    if not 0 <= u16 <= 0xFFFF:
        raise ValueError(f"{u16!r} is not a 16-bit alias")
    return uuid.UUID(int=(_BASE.int & ~(0xFFFF << 96)) | (u16 << 96))


SERVICE_UUID = vendor_uuid(SERVICE_UUID16)
CONTROL_POINT_UUID = vendor_uuid(CONTROL_POINT_UUID16)
PACKET_UUID = vendor_uuid(PACKET_UUID16)
VERSION_UUID = vendor_uuid(VERSION_UUID16)

# canonical upper-case strings
SERVICE_UUID_STR = str(SERVICE_UUID).upper()  # 00001530-1212-EFDE-1523-785FEABCD123
CONTROL_POINT_UUID_STR = str(CONTROL_POINT_UUID).upper()  # 00001531-...
PACKET_UUID_STR = str(PACKET_UUID).upper()  # 00001532-...
VERSION_UUID_STR = str(VERSION_UUID).upper()  # 00001534-...

# on-air little-endian octets (as in ATT Find Information / Read By Type)
SERVICE_UUID_LE = SERVICE_UUID.bytes[::-1]
CONTROL_POINT_UUID_LE = CONTROL_POINT_UUID.bytes[::-1]
PACKET_UUID_LE = PACKET_UUID.bytes[::-1]
VERSION_UUID_LE = VERSION_UUID.bytes[::-1]

# aliases: *_UUID_BYTES == *_UUID_LE (on-air octets)
SERVICE_UUID_BYTES = SERVICE_UUID_LE
CONTROL_POINT_UUID_BYTES = CONTROL_POINT_UUID_LE
PACKET_UUID_BYTES = PACKET_UUID_LE
VERSION_UUID_BYTES = VERSION_UUID_LE


@functools.lru_cache(maxsize=64)  # a device advertises the same data again and again
def advertises_dfu(adv_data: bytes) -> bool:
    """Whether advertising data lists the Legacy DFU service (as the DFU bootloader does)."""
    for ad_type, value in ll.ad_structures(adv_data):
        if ad_type in (ll.COMPLETE_128, ll.INCOMPLETE_128):
            if SERVICE_UUID_BYTES in [value[i:i + 16] for i in range(0, len(value), 16)]:
                return True
    return False

# ------------------------------------------------------------------ control point opcodes
START_DFU = 0x01
INITIALIZE_DFU = 0x02
RECEIVE_FIRMWARE_IMAGE = 0x03
VALIDATE_FIRMWARE = 0x04
ACTIVATE_IMAGE_AND_RESET = 0x05
RESET_SYSTEM = 0x06
REPORT_RECEIVED_IMAGE_SIZE = 0x07
PKT_RCPT_NOTIF_REQ = 0x08
RESPONSE = 0x10
PKT_RCPT_NOTIF = 0x11

OPCODE_NAMES = {
    START_DFU: "START_DFU", INITIALIZE_DFU: "INITIALIZE_DFU",
    RECEIVE_FIRMWARE_IMAGE: "RECEIVE_FIRMWARE_IMAGE", VALIDATE_FIRMWARE: "VALIDATE_FIRMWARE",
    ACTIVATE_IMAGE_AND_RESET: "ACTIVATE_IMAGE_AND_RESET", RESET_SYSTEM: "RESET_SYSTEM",
    REPORT_RECEIVED_IMAGE_SIZE: "REPORT_RECEIVED_IMAGE_SIZE",
    PKT_RCPT_NOTIF_REQ: "PKT_RCPT_NOTIF_REQ", RESPONSE: "RESPONSE",
    PKT_RCPT_NOTIF: "PKT_RCPT_NOTIF",
}

# image types (dfu_update_mode / DFU_UPDATE_*)
SOFTDEVICE = 0x01
BOOTLOADER = 0x02
SOFTDEVICE_BOOTLOADER = 0x03
APPLICATION = 0x04
IMAGE_SOFTDEVICE = SOFTDEVICE  # IMAGE_-prefixed aliases
IMAGE_BOOTLOADER = BOOTLOADER
IMAGE_SOFTDEVICE_BOOTLOADER = SOFTDEVICE_BOOTLOADER
IMAGE_APPLICATION = APPLICATION
IMAGE_TYPE_NAMES = {
    SOFTDEVICE: "SOFTDEVICE", BOOTLOADER: "BOOTLOADER",
    SOFTDEVICE_BOOTLOADER: "SOFTDEVICE_BOOTLOADER", APPLICATION: "APPLICATION",
}

# INITIALIZE_DFU parameter (init packet state)
INIT_RX = 0x00  # init packet follows on the packet characteristic
INIT_COMPLETE = 0x01  # init packet fully written

# response values (ble_dfu_resp_val_t)
SUCCESS = 0x01
INVALID_STATE = 0x02
NOT_SUPPORTED = 0x03
DATA_SIZE_EXCEEDS_LIMIT = 0x04
CRC_ERROR = 0x05
OPERATION_FAILED = 0x06
RESP_SUCCESS = SUCCESS  # RESP_-prefixed aliases
RESP_INVALID_STATE = INVALID_STATE
RESP_NOT_SUPPORTED = NOT_SUPPORTED
RESP_DATA_SIZE_EXCEEDS_LIMIT = DATA_SIZE_EXCEEDS_LIMIT
RESP_CRC_ERROR = CRC_ERROR
RESP_OPERATION_FAILED = OPERATION_FAILED
RESPONSE_NAMES = {
    SUCCESS: "SUCCESS", INVALID_STATE: "INVALID_STATE", NOT_SUPPORTED: "NOT_SUPPORTED",
    DATA_SIZE_EXCEEDS_LIMIT: "DATA_SIZE_EXCEEDS_LIMIT", CRC_ERROR: "CRC_ERROR",
    OPERATION_FAILED: "OPERATION_FAILED",
}

#: Control point codec; names are the opcode constant names.
DFU_CP = Codec(opcode_size=1, family="DFU control point", types=[
    PduType("START_DFU", START_DFU, (("image_type", "u8"),)),
    PduType("INITIALIZE_DFU", INITIALIZE_DFU, (("init_state", "u8"),)),
    PduType("RECEIVE_FIRMWARE_IMAGE", RECEIVE_FIRMWARE_IMAGE),
    PduType("VALIDATE_FIRMWARE", VALIDATE_FIRMWARE),
    PduType("ACTIVATE_IMAGE_AND_RESET", ACTIVATE_IMAGE_AND_RESET),
    PduType("RESET_SYSTEM", RESET_SYSTEM),
    PduType("REPORT_RECEIVED_IMAGE_SIZE", REPORT_RECEIVED_IMAGE_SIZE),
    PduType("PKT_RCPT_NOTIF_REQ", PKT_RCPT_NOTIF_REQ, (("num_packets", "u16"),)),
    # data: empty, except the u32 LE byte count that follows
    # 10 07 01 in the answer to REPORT_RECEIVED_IMAGE_SIZE
    PduType("RESPONSE", RESPONSE, (
        ("request_opcode", "u8"), ("response_value", "u8"), ("data", "rest"))),
    PduType("PKT_RCPT_NOTIF", PKT_RCPT_NOTIF, (("bytes_received", "u32"),)),
])

_SIZES = struct.Struct("<III")


def encode_image_sizes(softdevice: int = 0, bootloader: int = 0, application: int = 0) -> bytes:
    """12 octets written to the packet characteristic after START_DFU: sizes u32 LE
    (softdevice, bootloader, application)."""
    try:
        return _SIZES.pack(softdevice, bootloader, application)
    except struct.error as e:
        raise ValueError(f"image size out of range: {e}") from None


def decode_image_sizes(b: bytes) -> tuple[int, int, int] | None:
    """Inverse of :func:`encode_image_sizes`; None unless exactly 12 octets."""
    if len(b) != 12:
        return None
    return _SIZES.unpack(b)


_SCAPY_NAMES = frozenset({
    "DFU_CP_Hdr", "DFU_Start", "DFU_Init", "DFU_PktRcptNotifReq", "DFU_Response",
    "DFU_PktRcptNotif",
})


def __getattr__(name: str) -> Any:
    """Lazily re-export the DFU scapy layers (PEP 562) so scapy loads only on use."""
    if name in _SCAPY_NAMES:
        from fuzzer.protocol import scapy_layers

        return getattr(scapy_layers, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
