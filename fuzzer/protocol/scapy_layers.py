"""The one module that imports scapy: BLE layers for display, dissection and pcap.

Re-exports scapy's BLE layers (``scapy.layers.bluetooth4LE`` for the Link
Layer, ``scapy.layers.bluetooth`` for L2CAP/ATT/SMP), defines our scapy
layers for the Nordic Legacy DFU control point, and offers :func:`to_scapy`
and :func:`describe`.  The fast paths (:mod:`fuzzer.protocol.codec` and the
per-layer modules) never import this module; property tests check both agree.

Known differences between scapy 2.8 and the Core spec / our codecs (the
tests map between them):

* scapy uses pre-5.3 names: ``LL_SLAVE_FEATURE_REQ`` (LL_PERIPHERAL_FEATURE_REQ),
  ``SM_Master_Identification`` (Central Identification), and its
  ``BTLE_CTRL`` opcode enum still says LL_CONNECTION_UPDATE_REQ /
  LL_CHANNEL_MAP_REQ; ``LL_LENGTH_REQ/RSP.name`` has a leading space;
  ``ATT_Write_Command.name`` is "Write Request".
* scapy holds LL_ENC_REQ rand/skdm/ivm, LL_ENC_RSP skds/ivs, the channel
  map and the feature set as little-endian *ints*; we keep them as octets.
* ATT: scapy has 16-bit-UUID-only Read By Group Type Request and
  Find By Type Value Request (as the spec says for the latter), parses the
  list parameters into sub-packets, and splits Read Multiple handles into a list.
"""

from __future__ import annotations

from typing import Any

from scapy.fields import ByteEnumField, LEIntField, LEShortField, StrField
from scapy.layers.bluetooth import (  # noqa: F401 - re-exported
    ATT_Error_Response,
    ATT_Exchange_MTU_Request,
    ATT_Exchange_MTU_Response,
    ATT_Execute_Write_Request,
    ATT_Execute_Write_Response,
    ATT_Find_By_Type_Value_Request,
    ATT_Find_By_Type_Value_Response,
    ATT_Find_Information_Request,
    ATT_Find_Information_Response,
    ATT_Group_Handle_Variable,
    ATT_Handle,
    ATT_Handle_Length_Value_Tuple,
    ATT_Handle_UUID128,
    ATT_Handle_Value_Confirmation,
    ATT_Handle_Value_Indication,
    ATT_Handle_Value_Notification,
    ATT_Handle_Variable,
    ATT_Hdr,
    ATT_Length_Value_Tuple,
    ATT_Multiple_Handle_Value_Notification,
    ATT_Prepare_Write_Request,
    ATT_Prepare_Write_Response,
    ATT_Read_Blob_Request,
    ATT_Read_Blob_Response,
    ATT_Read_By_Group_Type_Request,
    ATT_Read_By_Group_Type_Response,
    ATT_Read_By_Type_Request,
    ATT_Read_By_Type_Request_128bit,
    ATT_Read_By_Type_Response,
    ATT_Read_Multiple_Request,
    ATT_Read_Multiple_Response,
    ATT_Read_Multiple_Variable_Request,
    ATT_Read_Multiple_Variable_Response,
    ATT_Read_Request,
    ATT_Read_Response,
    ATT_Signed_Write_Command,
    ATT_Write_Command,
    ATT_Write_Request,
    ATT_Write_Response,
    EIR_Hdr,
    L2CAP_Hdr,
    SM_Confirm,
    SM_DHKey_Check,
    SM_Encryption_Information,
    SM_Failed,
    SM_Hdr,
    SM_Identity_Address_Information,
    SM_Identity_Information,
    SM_Keypress_Notification,
    SM_Master_Identification,
    SM_Pairing_Request,
    SM_Pairing_Response,
    SM_Public_Key,
    SM_Random,
    SM_Security_Request,
    SM_Signing_Information,
)
from scapy.layers.bluetooth4LE import (  # noqa: F401 - re-exported
    BTLE,
    BTLE_ADV,
    BTLE_ADV_DIRECT_IND,
    BTLE_ADV_IND,
    BTLE_ADV_NONCONN_IND,
    BTLE_ADV_SCAN_IND,
    BTLE_CONNECT_REQ,
    BTLE_CTRL,
    BTLE_DATA,
    BTLE_EMPTY_PDU,
    BTLE_RF,
    BTLE_SCAN_REQ,
    BTLE_SCAN_RSP,
    LL_CHANNEL_MAP_IND,
    LL_CONNECTION_PARAM_REQ,
    LL_CONNECTION_PARAM_RSP,
    LL_CONNECTION_UPDATE_IND,
    LL_ENC_REQ,
    LL_ENC_RSP,
    LL_FEATURE_REQ,
    LL_FEATURE_RSP,
    LL_LENGTH_REQ,
    LL_LENGTH_RSP,
    LL_MIN_USED_CHANNELS_IND,
    LL_PAUSE_ENC_REQ,
    LL_PAUSE_ENC_RSP,
    LL_PHY_REQ,
    LL_PHY_RSP,
    LL_PHY_UPDATE_IND,
    LL_PING_REQ,
    LL_PING_RSP,
    LL_REJECT_EXT_IND,
    LL_REJECT_IND,
    LL_SLAVE_FEATURE_REQ,
    LL_START_ENC_REQ,
    LL_START_ENC_RSP,
    LL_TERMINATE_IND,
    LL_UNKNOWN_RSP,
    LL_VERSION_IND,
)
from scapy.packet import NoPayload, Packet, Raw, bind_layers

from fuzzer.protocol import nordic_dfu as _dfu

LL_PERIPHERAL_FEATURE_REQ = LL_SLAVE_FEATURE_REQ  # Core 5.3 name
SM_Central_Identification = SM_Master_Identification  # Core 5.3 name


# ----------------------------------------------------------------------------
# Nordic Legacy DFU control point (nRF5 SDK <= 11, ble_dfu.h): opcode + params
# ----------------------------------------------------------------------------
class DFU_CP_Hdr(Packet):
    """Legacy DFU control point PDU header: the opcode octet."""

    name = "DFU_CP"
    fields_desc = [ByteEnumField("opcode", None, _dfu.OPCODE_NAMES)]


class DFU_Start(Packet):
    """START_DFU (0x01) parameter: image type."""

    name = "DFU_Start"
    fields_desc = [ByteEnumField("image_type", _dfu.APPLICATION, _dfu.IMAGE_TYPE_NAMES)]


class DFU_Init(Packet):
    """INITIALIZE_DFU (0x02) parameter: 0 = init packet follows, 1 = init packet complete."""

    name = "DFU_Init"
    fields_desc = [ByteEnumField("init_state", _dfu.INIT_RX,
                                 {_dfu.INIT_RX: "INIT_RX", _dfu.INIT_COMPLETE: "INIT_COMPLETE"})]


class DFU_PktRcptNotifReq(Packet):
    """PKT_RCPT_NOTIF_REQ (0x08) parameter: notify every N packets (u16 LE, 0 = off)."""

    name = "DFU_PktRcptNotifReq"
    fields_desc = [LEShortField("num_packets", 0)]


class DFU_Response(Packet):
    """RESPONSE (0x10) notification: request opcode, response value, optional data
    (u32 LE byte count after REPORT_RECEIVED_IMAGE_SIZE)."""

    name = "DFU_Response"
    fields_desc = [
        ByteEnumField("request_opcode", _dfu.START_DFU, _dfu.OPCODE_NAMES),
        ByteEnumField("response_value", _dfu.SUCCESS, _dfu.RESPONSE_NAMES),
        StrField("data", b""),
    ]


class DFU_PktRcptNotif(Packet):
    """PKT_RCPT_NOTIF (0x11) notification: firmware octets received so far (u32 LE)."""

    name = "DFU_PktRcptNotif"
    fields_desc = [LEIntField("bytes_received", 0)]


bind_layers(DFU_CP_Hdr, DFU_Start, opcode=_dfu.START_DFU)
bind_layers(DFU_CP_Hdr, DFU_Init, opcode=_dfu.INITIALIZE_DFU)
bind_layers(DFU_CP_Hdr, DFU_PktRcptNotifReq, opcode=_dfu.PKT_RCPT_NOTIF_REQ)
bind_layers(DFU_CP_Hdr, DFU_Response, opcode=_dfu.RESPONSE)
bind_layers(DFU_CP_Hdr, DFU_PktRcptNotif, opcode=_dfu.PKT_RCPT_NOTIF)

#: layer name -> scapy class used to dissect a PDU of that layer
ROOTS: dict[str, type[Packet]] = {
    "ll": BTLE_CTRL,  # LL control PDU (opcode + CtrData), no data-PDU header
    "smp": SM_Hdr,
    "att": ATT_Hdr,
    "dfu_cp": DFU_CP_Hdr,
    "l2cap": L2CAP_Hdr,  # basic L2CAP frame (ATT/SMP/signaling dispatched on CID)
    "ll_data": BTLE_DATA,  # data channel PDU incl. its 2-octet header
    "adv": BTLE_ADV,  # advertising channel PDU incl. its 2-octet header
}


def to_scapy(layer: str, pdu: bytes) -> Packet:
    """Dissect ``pdu`` with scapy: ``layer`` is "ll" (BTLE_CTRL), "smp" (SM_Hdr),
    "att" (ATT_Hdr), "dfu_cp" (DFU_CP_Hdr), or "l2cap", "ll_data", "adv"."""
    try:
        cls = ROOTS[layer]
    except KeyError:
        raise ValueError(f"unknown layer {layer!r}; one of {sorted(ROOTS)}") from None
    return cls(bytes(pdu))


def _fields_repr(pkt: Packet, limit: int = 48) -> str:
    out = []
    for f in pkt.fields_desc:
        try:
            r = str(f.i2repr(pkt, pkt.getfieldval(f.name)))
        except Exception:  # scapy repr of fuzzed values can fail
            r = repr(pkt.getfieldval(f.name))
        if len(r) > limit:
            r = r[: limit - 3] + "..."
        out.append(f"{f.name}={r}")
    return " ".join(out)


def describe(layer: str, pdu: bytes) -> str:
    """One-line human summary of ``pdu`` via scapy, e.g.
    ``"LL_ENC_REQ rand=0x... ediv=0x1234 ..."``.  Never raises."""
    try:
        pkt = to_scapy(layer, pdu)
        parts: list[str] = []
        lay: Any = pkt
        while not isinstance(lay, NoPayload):
            nxt = lay.payload
            header_only = (lay is pkt and not isinstance(nxt, (NoPayload, Raw))
                           and len(lay.fields_desc) == 1)
            if not header_only:
                if isinstance(lay, Raw):
                    parts.append(f"Raw {bytes(lay.load).hex()}")
                else:
                    fr = _fields_repr(lay)
                    parts.append(f"{lay.name.strip()} {fr}".rstrip())
            lay = nxt
        return " / ".join(parts)
    except Exception as e:  # noqa: BLE001 - describe is for logs, must not fail
        return f"<{layer} {bytes(pdu).hex()} undecodable: {e}>"
