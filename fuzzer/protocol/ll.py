"""BLE Link Layer fast path: data/advertising PDU headers, LL control PDUs, AD structures.

Core Spec references are to Bluetooth Core 5.x, Vol 6 Part B (Link Layer)
unless stated otherwise.  All multi-octet fields are little-endian (Vol 6
Part B 1.2).  No scapy here: see :mod:`fuzzer.protocol.scapy_layers`.

Addresses (``adv_a``, ``init_a``, ...) are 6 octets in *air order*
(little-endian, least significant octet first), i.e. ``bytes.fromhex(
"665544332211")`` is the device ``11:22:33:44:55:66``.
"""

from __future__ import annotations

import struct
from typing import Any

from fuzzer.protocol.codec import Codec, PduType
from fuzzer.protocol.codec import Decoded as Decoded  # re-export: ll.Decoded

# --------------------------------------------------------------------------
# Data channel PDU header (Vol 6 Part B 2.4, Figure 2.13/2.14):
#   octet 0: LLID (bits 0-1) | NESN (bit 2) | SN (bit 3) | MD (bit 4) | CP/RFU (bits 5-7)
#   octet 1: Length (8 bits since 4.2; 5 bits in 4.0/4.1)
# --------------------------------------------------------------------------
LLID_CONTINUATION = 1  # LL data PDU: continuation fragment of an L2CAP message, or empty PDU
LLID_START = 2  # LL data PDU: start of an L2CAP message (or complete message)
LLID_CONTROL = 3  # LL control PDU (2.4.2)

MAX_DATA_PAYLOAD = 251  # 4.2 data length extension (Vol 6 Part B 2.4)
MIN_DATA_PAYLOAD = 27  # default / 4.0-4.1 maximum (Vol 6 Part B 4.5.10)


def encode_header(llid: int, nesn: int, sn: int, md: int, length: int) -> bytes:
    """2-octet data channel PDU header (Vol 6 Part B 2.4). ValueError on out-of-range values."""
    if not (0 <= llid <= 3 and nesn in (0, 1) and sn in (0, 1) and md in (0, 1)
            and 0 <= length <= 255):
        raise ValueError(
            f"bad data header llid={llid} nesn={nesn} sn={sn} md={md} length={length}"
        )
    return bytes((llid | nesn << 2 | sn << 3 | md << 4, length))


def decode_header(b: bytes) -> tuple[int, int, int, int, int]:
    """``(llid, nesn, sn, md, length)`` from the first 2 octets of a data PDU.

    The CP bit and RFU bits (5-7) are ignored.  ValueError if fewer than 2 octets.
    """
    if len(b) < 2:
        raise ValueError(f"data PDU header needs 2 octets, got {len(b)}")
    h = b[0]
    return h & 0x03, (h >> 2) & 1, (h >> 3) & 1, (h >> 4) & 1, b[1]


def data_pdu(llid: int, payload: bytes, nesn: int = 0, sn: int = 0, md: int = 0) -> bytes:
    """Header + payload of a data channel PDU; the length field is ``len(payload)``."""
    return encode_header(llid, nesn, sn, md, len(payload)) + bytes(payload)


# --------------------------------------------------------------------------
# LL control PDUs (Vol 6 Part B 2.4.2): CtrData opcode (1 octet) + CtrData.
# --------------------------------------------------------------------------
LL_CONNECTION_UPDATE_IND = 0x00  # 2.4.2.1 (LL_CONNECTION_UPDATE_REQ before 5.0)
LL_CHANNEL_MAP_IND = 0x01  # 2.4.2.2 (LL_CHANNEL_MAP_REQ before 5.0)
LL_TERMINATE_IND = 0x02  # 2.4.2.3
LL_ENC_REQ = 0x03  # 2.4.2.4
LL_ENC_RSP = 0x04  # 2.4.2.5
LL_START_ENC_REQ = 0x05  # 2.4.2.6
LL_START_ENC_RSP = 0x06  # 2.4.2.7
LL_UNKNOWN_RSP = 0x07  # 2.4.2.8
LL_FEATURE_REQ = 0x08  # 2.4.2.9
LL_FEATURE_RSP = 0x09  # 2.4.2.10
LL_PAUSE_ENC_REQ = 0x0A  # 2.4.2.11
LL_PAUSE_ENC_RSP = 0x0B  # 2.4.2.12
LL_VERSION_IND = 0x0C  # 2.4.2.13
LL_REJECT_IND = 0x0D  # 2.4.2.14
LL_PERIPHERAL_FEATURE_REQ = 0x0E  # 2.4.2.15 (LL_SLAVE_FEATURE_REQ before 5.3)
LL_CONNECTION_PARAM_REQ = 0x0F  # 2.4.2.16
LL_CONNECTION_PARAM_RSP = 0x10  # 2.4.2.17
LL_REJECT_EXT_IND = 0x11  # 2.4.2.18
LL_PING_REQ = 0x12  # 2.4.2.19
LL_PING_RSP = 0x13  # 2.4.2.20
LL_LENGTH_REQ = 0x14  # 2.4.2.21
LL_LENGTH_RSP = 0x15  # 2.4.2.21
LL_PHY_REQ = 0x16  # 2.4.2.22
LL_PHY_RSP = 0x17  # 2.4.2.22
LL_PHY_UPDATE_IND = 0x18  # 2.4.2.23
LL_MIN_USED_CHANNELS_IND = 0x19  # 2.4.2.24

_CONN_PARAM_FIELDS = (
    ("interval_min", "u16"), ("interval_max", "u16"), ("latency", "u16"),
    ("timeout", "u16"), ("preferred_periodicity", "u8"),
    ("reference_conn_event_count", "u16"),
    ("offset0", "u16"), ("offset1", "u16"), ("offset2", "u16"),
    ("offset3", "u16"), ("offset4", "u16"), ("offset5", "u16"),
)
_LENGTH_FIELDS = (
    ("max_rx_octets", "u16"), ("max_rx_time", "u16"),
    ("max_tx_octets", "u16"), ("max_tx_time", "u16"),
)
_PHY_FIELDS = (("tx_phys", "u8"), ("rx_phys", "u8"))

#: LL control PDU codec (Vol 6 Part B 2.4.2).  Names are the Core 5.3+ names.
LL_CONTROL = Codec(opcode_size=1, family="LL control", types=[
    PduType("LL_CONNECTION_UPDATE_IND", LL_CONNECTION_UPDATE_IND, (
        ("win_size", "u8"), ("win_offset", "u16"), ("interval", "u16"),
        ("latency", "u16"), ("timeout", "u16"), ("instant", "u16"))),
    PduType("LL_CHANNEL_MAP_IND", LL_CHANNEL_MAP_IND, (
        ("chm", ("bytes", 5)), ("instant", "u16"))),
    PduType("LL_TERMINATE_IND", LL_TERMINATE_IND, (("error_code", "u8"),)),
    # Rand is an 8-octet random number, SKDm/IVm are key/IV diversifier
    # halves: kept as octets (little-endian, as on the air) not ints.
    PduType("LL_ENC_REQ", LL_ENC_REQ, (
        ("rand", ("bytes", 8)), ("ediv", "u16"),
        ("skdm", ("bytes", 8)), ("ivm", ("bytes", 4)))),
    PduType("LL_ENC_RSP", LL_ENC_RSP, (("skds", ("bytes", 8)), ("ivs", ("bytes", 4)))),
    PduType("LL_START_ENC_REQ", LL_START_ENC_REQ),
    PduType("LL_START_ENC_RSP", LL_START_ENC_RSP),
    PduType("LL_UNKNOWN_RSP", LL_UNKNOWN_RSP, (("unknown_type", "u8"),)),
    PduType("LL_FEATURE_REQ", LL_FEATURE_REQ, (("feature_set", ("bytes", 8)),)),
    PduType("LL_FEATURE_RSP", LL_FEATURE_RSP, (("feature_set", ("bytes", 8)),)),
    PduType("LL_PAUSE_ENC_REQ", LL_PAUSE_ENC_REQ),
    PduType("LL_PAUSE_ENC_RSP", LL_PAUSE_ENC_RSP),
    PduType("LL_VERSION_IND", LL_VERSION_IND, (
        ("version", "u8"), ("company", "u16"), ("subversion", "u16"))),
    PduType("LL_REJECT_IND", LL_REJECT_IND, (("error_code", "u8"),)),
    PduType("LL_PERIPHERAL_FEATURE_REQ", LL_PERIPHERAL_FEATURE_REQ,
            (("feature_set", ("bytes", 8)),)),
    PduType("LL_CONNECTION_PARAM_REQ", LL_CONNECTION_PARAM_REQ, _CONN_PARAM_FIELDS),
    PduType("LL_CONNECTION_PARAM_RSP", LL_CONNECTION_PARAM_RSP, _CONN_PARAM_FIELDS),
    PduType("LL_REJECT_EXT_IND", LL_REJECT_EXT_IND, (
        ("reject_opcode", "u8"), ("error_code", "u8"))),
    PduType("LL_PING_REQ", LL_PING_REQ),
    PduType("LL_PING_RSP", LL_PING_RSP),
    PduType("LL_LENGTH_REQ", LL_LENGTH_REQ, _LENGTH_FIELDS),
    PduType("LL_LENGTH_RSP", LL_LENGTH_RSP, _LENGTH_FIELDS),
    PduType("LL_PHY_REQ", LL_PHY_REQ, _PHY_FIELDS),
    PduType("LL_PHY_RSP", LL_PHY_RSP, _PHY_FIELDS),
    PduType("LL_PHY_UPDATE_IND", LL_PHY_UPDATE_IND, (
        ("phy_c_to_p", "u8"), ("phy_p_to_c", "u8"), ("instant", "u16"))),
    PduType("LL_MIN_USED_CHANNELS_IND", LL_MIN_USED_CHANNELS_IND, (
        ("phys", "u8"), ("min_used_channels", "u8"))),
])

# Encoders of the encryption start's PDUs (field values in wire order), sent on every encrypt
ll_enc_req = LL_CONTROL.packer("LL_ENC_REQ")  # (rand, ediv, skdm, ivm)
ll_enc_rsp = LL_CONTROL.packer("LL_ENC_RSP")  # (skds, ivs)

# FeatureSet bits (Vol 6 Part B 4.6), as masks over int.from_bytes(feature_set, "little")
FEATURE_LE_ENCRYPTION = 1 << 0
FEATURE_CONNECTION_PARAMETERS_REQUEST = 1 << 1
FEATURE_EXTENDED_REJECT_INDICATION = 1 << 2
FEATURE_PERIPHERAL_INITIATED_FEATURES_EXCHANGE = 1 << 3
FEATURE_LE_PING = 1 << 4
FEATURE_LE_DATA_PACKET_LENGTH_EXTENSION = 1 << 5
FEATURE_LL_PRIVACY = 1 << 6
FEATURE_EXTENDED_SCANNER_FILTER_POLICIES = 1 << 7
FEATURE_LE_2M_PHY = 1 << 8

# VersNr of LL_VERSION_IND (Assigned Numbers, Link Layer versions)
VERSION_4_0, VERSION_4_1, VERSION_4_2 = 6, 7, 8
VERSION_5_0, VERSION_5_1, VERSION_5_2, VERSION_5_3, VERSION_5_4 = 9, 10, 11, 12, 13
COMPANY_NORDIC = 0x0059

#: Bluetooth Core versions as carried in LL_VERSION_IND (Assigned Numbers, Link Layer VersNr)
VERSIONS = {"4.0": 6, "4.1": 7, "4.2": 8, "5.0": 9, "5.1": 10, "5.2": 11, "5.3": 12}

# --------------------------------------------------------------------------
# Error codes (Vol 1 Part F 1.3 / 2.x) carried by LL_TERMINATE_IND,
# LL_REJECT_IND, LL_REJECT_EXT_IND and HCI events.
# --------------------------------------------------------------------------
SUCCESS = 0x00
UNKNOWN_HCI_COMMAND = 0x01
UNKNOWN_CONNECTION_IDENTIFIER = 0x02
HARDWARE_FAILURE = 0x03
PAGE_TIMEOUT = 0x04
AUTHENTICATION_FAILURE = 0x05
PIN_OR_KEY_MISSING = 0x06
MEMORY_CAPACITY_EXCEEDED = 0x07
CONNECTION_TIMEOUT = 0x08
CONNECTION_LIMIT_EXCEEDED = 0x09
COMMAND_DISALLOWED = 0x0C
CONNECTION_REJECTED_LIMITED_RESOURCES = 0x0D
CONNECTION_REJECTED_SECURITY_REASONS = 0x0E
CONNECTION_ACCEPT_TIMEOUT_EXCEEDED = 0x10
UNSUPPORTED_FEATURE_OR_PARAMETER_VALUE = 0x11
INVALID_HCI_COMMAND_PARAMETERS = 0x12
REMOTE_USER_TERMINATED = 0x13  # Remote User Terminated Connection
REMOTE_DEVICE_TERMINATED_LOW_RESOURCES = 0x14
REMOTE_DEVICE_TERMINATED_POWER_OFF = 0x15
CONNECTION_TERMINATED_BY_LOCAL_HOST = 0x16
REPEATED_ATTEMPTS = 0x17
PAIRING_NOT_ALLOWED = 0x18
UNKNOWN_LMP_PDU = 0x19
UNSUPPORTED_REMOTE_FEATURE = 0x1A
INVALID_LMP_LL_PARAMETERS = 0x1E
UNSPECIFIED = 0x1F  # Unspecified Error
UNSUPPORTED_LMP_LL_PARAMETER_VALUE = 0x20
ROLE_CHANGE_NOT_ALLOWED = 0x21
LMP_LL_RESPONSE_TIMEOUT = 0x22
LL_PROCEDURE_COLLISION = 0x23  # LMP Error Transaction Collision / LL Procedure Collision
LMP_PDU_NOT_ALLOWED = 0x24
ENCRYPTION_MODE_NOT_ACCEPTABLE = 0x25
LINK_KEY_CANNOT_BE_CHANGED = 0x26
INSTANT_PASSED = 0x28
DIFFERENT_TRANSACTION_COLLISION = 0x2A
INSUFFICIENT_SECURITY = 0x2F
PARAMETER_OUT_OF_MANDATORY_RANGE = 0x30
CONTROLLER_BUSY = 0x3A
UNACCEPTABLE_CONNECTION_PARAMETERS = 0x3B
ADVERTISING_TIMEOUT = 0x3C
CONNECTION_TERMINATED_DUE_TO_MIC_FAILURE = 0x3D
MIC_FAILURE = CONNECTION_TERMINATED_DUE_TO_MIC_FAILURE
CONNECTION_FAILED_TO_BE_ESTABLISHED = 0x3E
LIMIT_REACHED = 0x43
OPERATION_CANCELLED_BY_HOST = 0x44
PACKET_TOO_LONG = 0x45

#: code -> constant name (the constants above; 0x3D is CONNECTION_TERMINATED_DUE_TO_MIC_FAILURE)
ERROR_NAMES: dict[int, str] = {
    SUCCESS: "SUCCESS",
    UNKNOWN_HCI_COMMAND: "UNKNOWN_HCI_COMMAND",
    UNKNOWN_CONNECTION_IDENTIFIER: "UNKNOWN_CONNECTION_IDENTIFIER",
    HARDWARE_FAILURE: "HARDWARE_FAILURE",
    PAGE_TIMEOUT: "PAGE_TIMEOUT",
    AUTHENTICATION_FAILURE: "AUTHENTICATION_FAILURE",
    PIN_OR_KEY_MISSING: "PIN_OR_KEY_MISSING",
    MEMORY_CAPACITY_EXCEEDED: "MEMORY_CAPACITY_EXCEEDED",
    CONNECTION_TIMEOUT: "CONNECTION_TIMEOUT",
    CONNECTION_LIMIT_EXCEEDED: "CONNECTION_LIMIT_EXCEEDED",
    COMMAND_DISALLOWED: "COMMAND_DISALLOWED",
    CONNECTION_REJECTED_LIMITED_RESOURCES: "CONNECTION_REJECTED_LIMITED_RESOURCES",
    CONNECTION_REJECTED_SECURITY_REASONS: "CONNECTION_REJECTED_SECURITY_REASONS",
    CONNECTION_ACCEPT_TIMEOUT_EXCEEDED: "CONNECTION_ACCEPT_TIMEOUT_EXCEEDED",
    UNSUPPORTED_FEATURE_OR_PARAMETER_VALUE: "UNSUPPORTED_FEATURE_OR_PARAMETER_VALUE",
    INVALID_HCI_COMMAND_PARAMETERS: "INVALID_HCI_COMMAND_PARAMETERS",
    REMOTE_USER_TERMINATED: "REMOTE_USER_TERMINATED",
    REMOTE_DEVICE_TERMINATED_LOW_RESOURCES: "REMOTE_DEVICE_TERMINATED_LOW_RESOURCES",
    REMOTE_DEVICE_TERMINATED_POWER_OFF: "REMOTE_DEVICE_TERMINATED_POWER_OFF",
    CONNECTION_TERMINATED_BY_LOCAL_HOST: "CONNECTION_TERMINATED_BY_LOCAL_HOST",
    REPEATED_ATTEMPTS: "REPEATED_ATTEMPTS",
    PAIRING_NOT_ALLOWED: "PAIRING_NOT_ALLOWED",
    UNKNOWN_LMP_PDU: "UNKNOWN_LMP_PDU",
    UNSUPPORTED_REMOTE_FEATURE: "UNSUPPORTED_REMOTE_FEATURE",
    INVALID_LMP_LL_PARAMETERS: "INVALID_LMP_LL_PARAMETERS",
    UNSPECIFIED: "UNSPECIFIED",
    UNSUPPORTED_LMP_LL_PARAMETER_VALUE: "UNSUPPORTED_LMP_LL_PARAMETER_VALUE",
    ROLE_CHANGE_NOT_ALLOWED: "ROLE_CHANGE_NOT_ALLOWED",
    LMP_LL_RESPONSE_TIMEOUT: "LMP_LL_RESPONSE_TIMEOUT",
    LL_PROCEDURE_COLLISION: "LL_PROCEDURE_COLLISION",
    LMP_PDU_NOT_ALLOWED: "LMP_PDU_NOT_ALLOWED",
    ENCRYPTION_MODE_NOT_ACCEPTABLE: "ENCRYPTION_MODE_NOT_ACCEPTABLE",
    LINK_KEY_CANNOT_BE_CHANGED: "LINK_KEY_CANNOT_BE_CHANGED",
    INSTANT_PASSED: "INSTANT_PASSED",
    DIFFERENT_TRANSACTION_COLLISION: "DIFFERENT_TRANSACTION_COLLISION",
    INSUFFICIENT_SECURITY: "INSUFFICIENT_SECURITY",
    PARAMETER_OUT_OF_MANDATORY_RANGE: "PARAMETER_OUT_OF_MANDATORY_RANGE",
    CONTROLLER_BUSY: "CONTROLLER_BUSY",
    UNACCEPTABLE_CONNECTION_PARAMETERS: "UNACCEPTABLE_CONNECTION_PARAMETERS",
    ADVERTISING_TIMEOUT: "ADVERTISING_TIMEOUT",
    CONNECTION_TERMINATED_DUE_TO_MIC_FAILURE: "CONNECTION_TERMINATED_DUE_TO_MIC_FAILURE",
    CONNECTION_FAILED_TO_BE_ESTABLISHED: "CONNECTION_FAILED_TO_BE_ESTABLISHED",
    LIMIT_REACHED: "LIMIT_REACHED",
    OPERATION_CANCELLED_BY_HOST: "OPERATION_CANCELLED_BY_HOST",
    PACKET_TOO_LONG: "PACKET_TOO_LONG",
}


def error_name(code: int) -> str:
    """Name of a Core error code, or ``"0xNN"`` if not in :data:`ERROR_NAMES`."""
    return ERROR_NAMES.get(code, f"0x{code:02X}")


# --------------------------------------------------------------------------
# Advertising physical channel PDUs (Vol 6 Part B 2.3), legacy PDUs only.
# Header (Figure 2.5): octet 0 = PDU Type (bits 0-3) | RFU (bit 4) |
# ChSel (bit 5) | TxAdd (bit 6) | RxAdd (bit 7); octet 1 = Length.
# --------------------------------------------------------------------------
ADV_ACCESS_ADDRESS = 0x8E89BED6  # Vol 6 Part B 2.1.2
ADV_CRC_INIT = 0x555555  # Vol 6 Part B 3.1.1

ADV_IND = 0x0  # 2.3.1.1
ADV_DIRECT_IND = 0x1  # 2.3.1.2
ADV_NONCONN_IND = 0x2  # 2.3.1.3
SCAN_REQ = 0x3  # 2.3.2.1
SCAN_RSP = 0x4  # 2.3.2.2
CONNECT_IND = 0x5  # 2.3.3.1 (CONNECT_REQ before 5.0)
ADV_SCAN_IND = 0x6  # 2.3.1.4

ADV_PDU_NAMES = {
    ADV_IND: "ADV_IND", ADV_DIRECT_IND: "ADV_DIRECT_IND", ADV_NONCONN_IND: "ADV_NONCONN_IND",
    SCAN_REQ: "SCAN_REQ", SCAN_RSP: "SCAN_RSP", CONNECT_IND: "CONNECT_IND",
    ADV_SCAN_IND: "ADV_SCAN_IND",
}

MAX_ADV_DATA = 31  # AdvData / ScanRspData of legacy PDUs (2.3.1.1, 2.3.2.2)
CONNECT_IND_PAYLOAD_LEN = 34  # InitA(6) AdvA(6) LLData(22), 2.3.3.1

# LLData of CONNECT_IND after the two addresses: AA, CRCInit(3), WinSize,
# WinOffset, Interval, Latency, Timeout, ChM(5), Hop(5 bits)|SCA(3 bits)
_LLDATA = struct.Struct("<I3sBHHHH5sB")


def _addr(name: str, a: bytes) -> bytes:
    if not isinstance(a, (bytes, bytearray)) or len(a) != 6:
        raise ValueError(f"{name}: expected 6 address octets (little-endian)")
    return bytes(a)


def _bit(name: str, v: int) -> int:
    if v not in (0, 1):
        raise ValueError(f"{name}: expected 0 or 1, got {v!r}")
    return v


def encode_adv_header(pdu_type: int, length: int, tx_add: int = 0, rx_add: int = 0,
                      ch_sel: int = 0) -> bytes:
    """2-octet advertising PDU header (Vol 6 Part B 2.3, Figure 2.5)."""
    if not 0 <= pdu_type <= 0xF or not 0 <= length <= 255:
        raise ValueError(f"bad advertising header pdu_type={pdu_type} length={length}")
    return bytes((pdu_type | _bit("ch_sel", ch_sel) << 5 | _bit("tx_add", tx_add) << 6
                  | _bit("rx_add", rx_add) << 7, length))


def decode_adv_header(b: bytes) -> tuple[int, int, int, int, int]:
    """``(pdu_type, ch_sel, tx_add, rx_add, length)``; ValueError if under 2 octets."""
    if len(b) < 2:
        raise ValueError(f"advertising PDU header needs 2 octets, got {len(b)}")
    h = b[0]
    return h & 0x0F, (h >> 5) & 1, (h >> 6) & 1, (h >> 7) & 1, b[1]


def _adv_with_data(pdu_type: int, adv_address: bytes, data: bytes, tx_add: int) -> bytes:
    data = bytes(data)
    if len(data) > MAX_ADV_DATA:
        raise ValueError(f"advertising data is {len(data)} octets, max {MAX_ADV_DATA}")
    body = _addr("adv_address", adv_address) + data
    return encode_adv_header(pdu_type, len(body), tx_add=tx_add) + body


def encode_adv_ind(adv_address: bytes, adv_data: bytes, tx_add: int) -> bytes:
    """Full ADV_IND PDU: header + AdvA(6, LE) + AdvData (≤31) -- Vol 6 Part B 2.3.1.1."""
    return _adv_with_data(ADV_IND, adv_address, adv_data, tx_add)


def encode_scan_rsp(adv_address: bytes, scan_rsp_data: bytes, tx_add: int) -> bytes:
    """Full SCAN_RSP PDU: header + AdvA + ScanRspData (≤31) -- Vol 6 Part B 2.3.2.2."""
    return _adv_with_data(SCAN_RSP, adv_address, scan_rsp_data, tx_add)


def encode_scan_req(scan_a: bytes, adv_a: bytes, tx_add: int, rx_add: int) -> bytes:
    """Full SCAN_REQ PDU: header + ScanA + AdvA -- Vol 6 Part B 2.3.2.1."""
    body = _addr("scan_a", scan_a) + _addr("adv_a", adv_a)
    return encode_adv_header(SCAN_REQ, 12, tx_add=tx_add, rx_add=rx_add) + body


def encode_connect_ind(
    init_a: bytes, adv_a: bytes, tx_add: int, rx_add: int, access_address: int,
    crc_init: int, win_size: int, win_offset: int, interval: int, latency: int,
    timeout: int, chm: bytes, hop: int, sca: int, ch_sel: int = 0,
) -> bytes:
    """Full CONNECT_IND PDU (header + 34-octet payload) -- Vol 6 Part B 2.3.3.1.

    ``chm`` is the 5-octet channel map (bit n of octet 0 = channel n),
    ``hop`` 5..16 (any 0..31 accepted for fuzzing), ``sca`` 0..7.
    """
    if not isinstance(chm, (bytes, bytearray)) or len(chm) != 5:
        raise ValueError("chm: expected 5 octets")
    if not 0 <= hop <= 0x1F:
        raise ValueError(f"hop: {hop} out of range 0..31")
    if not 0 <= sca <= 7:
        raise ValueError(f"sca: {sca} out of range 0..7")
    if not 0 <= crc_init <= 0xFFFFFF:
        raise ValueError(f"crc_init: {crc_init} out of range for 24 bits")
    try:
        lldata = _LLDATA.pack(access_address, crc_init.to_bytes(3, "little"), win_size,
                              win_offset, interval, latency, timeout, bytes(chm),
                              hop | sca << 5)
    except struct.error as e:
        raise ValueError(f"CONNECT_IND field out of range: {e}") from None
    body = _addr("init_a", init_a) + _addr("adv_a", adv_a) + lldata
    return encode_adv_header(CONNECT_IND, len(body), tx_add=tx_add, rx_add=rx_add,
                             ch_sel=ch_sel) + body


def decode_connect_ind(pdu: bytes) -> dict[str, Any] | None:
    """Fields of a CONNECT_IND PDU (header included), or None if it is not a well-formed one.

    Keys: the parameter names of :func:`encode_connect_ind` (incl. ``ch_sel``).
    """
    if len(pdu) != 2 + CONNECT_IND_PAYLOAD_LEN or pdu[0] & 0x0F != CONNECT_IND \
            or pdu[1] != CONNECT_IND_PAYLOAD_LEN:
        return None
    h = pdu[0]
    aa, crc, ws, wo, itv, lat, to, chm, hs = _LLDATA.unpack_from(pdu, 14)
    return {
        "init_a": bytes(pdu[2:8]), "adv_a": bytes(pdu[8:14]),
        "tx_add": (h >> 6) & 1, "rx_add": (h >> 7) & 1, "ch_sel": (h >> 5) & 1,
        "access_address": aa, "crc_init": int.from_bytes(crc, "little"),
        "win_size": ws, "win_offset": wo, "interval": itv, "latency": lat,
        "timeout": to, "chm": chm, "hop": hs & 0x1F, "sca": hs >> 5,
    }


def decode_adv(pdu: bytes) -> dict[str, Any] | None:
    """Parse any legacy advertising PDU (header included); None if malformed.

    Always has ``pdu_type``, ``name``, ``ch_sel``, ``tx_add``, ``rx_add``; then
    ``adv_a`` + ``data`` (ADV_IND, ADV_NONCONN_IND, ADV_SCAN_IND, SCAN_RSP),
    ``adv_a`` + ``target_a`` (ADV_DIRECT_IND), ``scan_a`` + ``adv_a``
    (SCAN_REQ), or the :func:`decode_connect_ind` keys (CONNECT_IND).
    """
    if len(pdu) < 2 or pdu[1] != len(pdu) - 2:
        return None
    t, ch_sel, tx_add, rx_add, _n = decode_adv_header(pdu)
    out: dict[str, Any] = {"pdu_type": t, "name": ADV_PDU_NAMES.get(t, "unknown"),
                           "ch_sel": ch_sel, "tx_add": tx_add, "rx_add": rx_add}
    body = bytes(pdu[2:])
    if t in (ADV_IND, ADV_NONCONN_IND, ADV_SCAN_IND, SCAN_RSP):
        if not 6 <= len(body) <= 6 + MAX_ADV_DATA:
            return None
        out.update(adv_a=body[:6], data=body[6:])
    elif t == ADV_DIRECT_IND:
        if len(body) != 12:
            return None
        out.update(adv_a=body[:6], target_a=body[6:])
    elif t == SCAN_REQ:
        if len(body) != 12:
            return None
        out.update(scan_a=body[:6], adv_a=body[6:])
    elif t == CONNECT_IND:
        c = decode_connect_ind(pdu)
        if c is None:
            return None
        out.update(c)
    else:
        return None
    return out


# --------------------------------------------------------------------------
# AD structures (Core Supplement Part A 1; Vol 3 Part C 11): Length(1) Type(1) Data
# --------------------------------------------------------------------------
FLAGS = 0x01
INCOMPLETE_16 = 0x02
COMPLETE_16 = 0x03
INCOMPLETE_32 = 0x04
COMPLETE_32 = 0x05
INCOMPLETE_128 = 0x06
COMPLETE_128 = 0x07
SHORTENED_LOCAL_NAME = 0x08
COMPLETE_LOCAL_NAME = 0x09
TX_POWER_LEVEL = 0x0A
APPEARANCE = 0x19
MANUFACTURER_SPECIFIC_DATA = 0xFF

# AD_-prefixed aliases of the AD type constants above
AD_FLAGS = FLAGS
AD_INCOMPLETE_16 = INCOMPLETE_16
AD_COMPLETE_16 = COMPLETE_16
AD_INCOMPLETE_32 = INCOMPLETE_32
AD_COMPLETE_32 = COMPLETE_32
AD_INCOMPLETE_128 = INCOMPLETE_128
AD_COMPLETE_128 = COMPLETE_128
AD_SHORTENED_LOCAL_NAME = SHORTENED_LOCAL_NAME
AD_COMPLETE_LOCAL_NAME = COMPLETE_LOCAL_NAME
AD_TX_POWER_LEVEL = TX_POWER_LEVEL
AD_APPEARANCE = APPEARANCE
AD_MANUFACTURER_SPECIFIC_DATA = MANUFACTURER_SPECIFIC_DATA

# Flags AD bits (Core Supplement Part A 1.3)
FLAG_LE_LIMITED_DISCOVERABLE = 0x01
FLAG_LE_GENERAL_DISCOVERABLE = 0x02
FLAG_BR_EDR_NOT_SUPPORTED = 0x04


def encode_ad(ad_type: int, value: bytes) -> bytes:
    """One AD structure: length (= 1 + len(value)), AD type, value."""
    value = bytes(value)
    if not 0 <= ad_type <= 0xFF or len(value) > 254:
        raise ValueError(f"bad AD structure type={ad_type} len={len(value)}")
    return bytes((len(value) + 1, ad_type)) + value


def ad_structures(data: bytes) -> list[tuple[int, bytes]]:
    """Split AdvData/ScanRspData into ``[(ad_type, value), ...]``.

    Never raises: parsing stops at a zero length octet (early termination,
    Supplement Part A 1) or at a structure that overruns the data.
    """
    out: list[tuple[int, bytes]] = []
    i, n = 0, len(data)
    while i < n:
        ln = data[i]
        if ln == 0 or i + 1 + ln > n:
            break
        out.append((data[i + 1], bytes(data[i + 2:i + 1 + ln])))
        i += 1 + ln
    return out
