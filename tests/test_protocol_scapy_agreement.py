"""Property tests: the struct fast paths agree with scapy on every PDU type.

For each PDU type of LL control (Vol 6 Part B 2.4.2), SMP (Vol 3 Part H 3),
ATT (Vol 3 Part F 3.4) and the Nordic Legacy DFU control point:

* random field values -> our ``encode`` == ``bytes(scapy packet built from the
  same values)``;
* those scapy-built octets -> our ``decode`` gives the same field values as
  scapy's dissection.

Field names follow the Core spec, scapy's do not always (and scapy keeps some
octet fields as ints); the ``M`` entries below map between the two.  Where
scapy cannot express a PDU the test in ``test_protocol_att.py`` etc. checks
the spec bytes instead (noted below).
"""

from __future__ import annotations

import struct
import uuid
from collections.abc import Callable
from typing import Any, NamedTuple

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scapy.compat import raw
from scapy.packet import Packet, Raw

from fuzzer.protocol import scapy_layers as S
from fuzzer.protocol.att import ATT
from fuzzer.protocol.codec import Codec, FieldKind
from fuzzer.protocol.ll import LL_CONTROL
from fuzzer.protocol.nordic_dfu import DFU_CP
from fuzzer.protocol.smp import SMP

EXAMPLES = settings(max_examples=40, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


# ------------------------------------------------------------------ strategies
def kind_strategy(kind: FieldKind) -> st.SearchStrategy[Any]:
    """Values of one field kind."""
    if isinstance(kind, tuple):
        return st.binary(min_size=kind[1], max_size=kind[1])
    if kind == "rest":
        return st.binary(max_size=40)
    bits = {"u8": 8, "u16": 16, "u24": 24, "u32": 32, "u64": 64}[kind]
    return st.integers(0, (1 << bits) - 1)


def fields_strategy(codec: Codec, name: str,
                    overrides: dict[str, st.SearchStrategy[Any]] | None = None
                    ) -> st.SearchStrategy[dict[str, Any]]:
    """Random field dicts for PDU type ``name``."""
    o = overrides or {}
    return st.fixed_dictionaries(
        {f: o.get(f, kind_strategy(k)) for f, k in codec.fields_of(name)})


# ------------------------------------------------------------------ mapping
def le(n: int) -> tuple[Callable[[bytes], int], Callable[[Any], bytes]]:
    """scapy keeps this n-octet field as a little-endian int."""
    return (lambda b: int.from_bytes(b, "little"), lambda i: int(i).to_bytes(n, "little"))


MAC = (lambda b: ":".join(f"{x:02x}" for x in b[::-1]),
       lambda s: bytes.fromhex(s.replace(":", ""))[::-1])


class M(NamedTuple):
    """How one of our PDU types maps onto a scapy layer."""

    cls: type[Packet] | None  # None: header only (no scapy payload layer)
    rename: dict[str, str] = {}  # our field -> scapy field
    conv: dict[str, tuple[Callable[[Any], Any], Callable[[Any], Any]]] = {}
    to_kw: Callable[[dict[str, Any]], dict[str, Any]] | None = None  # custom
    from_layer: Callable[[Packet], dict[str, Any]] | None = None  # custom
    strategy: st.SearchStrategy[dict[str, Any]] | None = None  # custom
    overrides: dict[str, st.SearchStrategy[Any]] = {}
    header_kw: dict[str, Any] = {}  # for header-only PDUs: the opcode


def scapy_kwargs(m: M, fields: dict[str, Any]) -> dict[str, Any]:
    if m.to_kw:
        return m.to_kw(fields)
    return {m.rename.get(f, f): (m.conv[f][0](v) if f in m.conv else v)
            for f, v in fields.items()}


def norm(v: Any) -> Any:
    """scapy FlagValue/enum ints -> int; str bytes stay."""
    return v if isinstance(v, (bytes, str)) else int(v)


def scapy_fields(m: M, layer: Packet, names: list[str]) -> dict[str, Any]:
    if m.from_layer:
        return m.from_layer(layer)
    out = {}
    for f in names:
        v = layer.getfieldval(m.rename.get(f, f))
        out[f] = m.conv[f][1](v) if f in m.conv else norm(v)
    return out


# ---- LL control (scapy.layers.bluetooth4LE) ----------------------------------
LENGTH_RENAME = {"max_rx_octets": "max_rx_bytes", "max_tx_octets": "max_tx_bytes"}
CONN_PARAM_RENAME = {"reference_conn_event_count": "reference_conn_evt_count"}
LL_MAP: dict[str, M] = {
    "LL_CONNECTION_UPDATE_IND": M(S.LL_CONNECTION_UPDATE_IND),
    "LL_CHANNEL_MAP_IND": M(S.LL_CHANNEL_MAP_IND, {"chm": "chM"}, {"chm": le(5)}),
    "LL_TERMINATE_IND": M(S.LL_TERMINATE_IND, {"error_code": "code"}),
    # scapy: rand/skdm/ivm are XLELongField/XLEIntField ints
    "LL_ENC_REQ": M(S.LL_ENC_REQ, conv={"rand": le(8), "skdm": le(8), "ivm": le(4)}),
    "LL_ENC_RSP": M(S.LL_ENC_RSP, conv={"skds": le(8), "ivs": le(4)}),
    "LL_START_ENC_REQ": M(S.LL_START_ENC_REQ),
    "LL_START_ENC_RSP": M(S.LL_START_ENC_RSP),
    "LL_UNKNOWN_RSP": M(S.LL_UNKNOWN_RSP, {"unknown_type": "code"}),
    # scapy: feature_set is a 64-bit little-endian FlagsField
    "LL_FEATURE_REQ": M(S.LL_FEATURE_REQ, conv={"feature_set": le(8)}),
    "LL_FEATURE_RSP": M(S.LL_FEATURE_RSP, conv={"feature_set": le(8)}),
    "LL_PAUSE_ENC_REQ": M(S.LL_PAUSE_ENC_REQ),
    "LL_PAUSE_ENC_RSP": M(S.LL_PAUSE_ENC_RSP),
    "LL_VERSION_IND": M(S.LL_VERSION_IND),
    "LL_REJECT_IND": M(S.LL_REJECT_IND, {"error_code": "code"}),
    # scapy 2.8 still calls it LL_SLAVE_FEATURE_REQ
    "LL_PERIPHERAL_FEATURE_REQ": M(S.LL_SLAVE_FEATURE_REQ, conv={"feature_set": le(8)}),
    "LL_CONNECTION_PARAM_REQ": M(S.LL_CONNECTION_PARAM_REQ, CONN_PARAM_RENAME),
    "LL_CONNECTION_PARAM_RSP": M(S.LL_CONNECTION_PARAM_RSP, CONN_PARAM_RENAME),
    "LL_REJECT_EXT_IND": M(S.LL_REJECT_EXT_IND),
    "LL_PING_REQ": M(S.LL_PING_REQ),
    "LL_PING_RSP": M(S.LL_PING_RSP),
    "LL_LENGTH_REQ": M(S.LL_LENGTH_REQ, LENGTH_RENAME),
    "LL_LENGTH_RSP": M(S.LL_LENGTH_RSP, LENGTH_RENAME),
    "LL_PHY_REQ": M(S.LL_PHY_REQ),
    "LL_PHY_RSP": M(S.LL_PHY_RSP),
    "LL_PHY_UPDATE_IND": M(S.LL_PHY_UPDATE_IND,
                           {"phy_c_to_p": "tx_phy", "phy_p_to_c": "rx_phy"}),
    "LL_MIN_USED_CHANNELS_IND": M(S.LL_MIN_USED_CHANNELS_IND),
}

# ---- SMP (scapy.layers.bluetooth SM_*) ------------------------------------------
PAIRING_RENAME = {"io_capability": "iocap", "oob_data_flag": "oob",
                  "authreq": "authentication", "max_encryption_key_size": "max_key_size"}
SMP_MAP: dict[str, M] = {
    "Pairing Request": M(S.SM_Pairing_Request, PAIRING_RENAME),
    "Pairing Response": M(S.SM_Pairing_Response, PAIRING_RENAME),
    "Pairing Confirm": M(S.SM_Confirm, {"confirm_value": "confirm"}),
    "Pairing Random": M(S.SM_Random, {"random_value": "random"}),
    "Pairing Failed": M(S.SM_Failed),
    "Encryption Information": M(S.SM_Encryption_Information, {"long_term_key": "ltk"}),
    # scapy 2.8 still calls it SM_Master_Identification
    "Central Identification": M(S.SM_Master_Identification),
    "Identity Information": M(S.SM_Identity_Information, {"identity_resolving_key": "irk"}),
    # scapy: bd_addr is an LEMACField ("11:22:...", octets reversed on the air)
    "Identity Address Information": M(S.SM_Identity_Address_Information,
                                      conv={"bd_addr": MAC}),
    "Signing Information": M(S.SM_Signing_Information, {"signature_key": "csrk"}),
    "Security Request": M(S.SM_Security_Request, {"authreq": "auth_req"}),
    "Pairing Public Key": M(S.SM_Public_Key, {"public_key_x": "key_x",
                                              "public_key_y": "key_y"}),
    "Pairing DHKey Check": M(S.SM_DHKey_Check),
    "Pairing Keypress Notification": M(S.SM_Keypress_Notification),
}


# ---- ATT (scapy.layers.bluetooth ATT_*) -----------------------------------------
def _entries(size: st.SearchStrategy[int] | int, max_n: int = 4) -> st.SearchStrategy[bytes]:
    """Concatenation of fixed-size list entries."""
    if isinstance(size, int):
        size = st.just(size)
    return size.flatmap(lambda n: st.lists(st.binary(min_size=n, max_size=n),
                                           max_size=max_n).map(b"".join))


def _h(b: bytes, i: int = 0) -> int:
    return struct.unpack_from("<H", b, i)[0]


def _find_info_strategy() -> st.SearchStrategy[dict[str, Any]]:
    return st.sampled_from([1, 2]).flatmap(lambda f: st.fixed_dictionaries(
        {"format": st.just(f), "data": _entries(4 if f == 1 else 18)}))


def _find_info_to_kw(f: dict[str, Any]) -> dict[str, Any]:
    d, step = f["data"], 4 if f["format"] == 1 else 18
    if f["format"] == 1:
        hs = [S.ATT_Handle(handle=_h(d, i), value=_h(d, i + 2)) for i in range(0, len(d), step)]
    else:
        hs = [S.ATT_Handle_UUID128(handle=_h(d, i), value=uuid.UUID(bytes=d[i + 2:i + 18][::-1]))
              for i in range(0, len(d), step)]
    return {"format": f["format"], "handles": hs}


def _join_sub(layer: Packet, field: str = "handles") -> bytes:
    return b"".join(raw(h) for h in layer.getfieldval(field))


def _list_rsp_strategy(min_len: int) -> st.SearchStrategy[dict[str, Any]]:
    return st.integers(min_len, 22).flatmap(lambda n: st.fixed_dictionaries(
        {"length": st.just(n), "data": _entries(n)}))


def _read_by_type_to_kw(f: dict[str, Any]) -> dict[str, Any]:
    d, n = f["data"], f["length"]
    return {"len": n, "handles": [S.ATT_Handle_Variable(handle=_h(d, i), value=d[i + 2:i + n])
                                  for i in range(0, len(d), n)]}


def _read_by_group_to_kw(f: dict[str, Any]) -> dict[str, Any]:
    d, n = f["data"], f["length"]
    return {"len": n, "handles": [
        S.ATT_Group_Handle_Variable(handle=_h(d, i), group_end_handle=_h(d, i + 2),
                                    value=d[i + 4:i + n]) for i in range(0, len(d), n)]}


def _handles_list(b: bytes) -> list[int]:
    return [_h(b, i) for i in range(0, len(b), 2)]


def _read_by_type_req_to_kw(f: dict[str, Any]) -> dict[str, Any]:
    t = f["attribute_type"]
    kw: dict[str, Any] = {"start": f["starting_handle"], "end": f["ending_handle"]}
    if len(t) == 2:
        kw["uuid"] = _h(t)
    else:  # scapy ATT_Read_By_Type_Request_128bit: two XLELongFields
        kw["uuid1"], kw["uuid2"] = struct.unpack("<QQ", t)
    return kw


def _read_by_type_req_cls(f: dict[str, Any]) -> type[Packet]:
    return S.ATT_Read_By_Type_Request if len(f["attribute_type"]) == 2 \
        else S.ATT_Read_By_Type_Request_128bit


def _read_by_type_req_from(layer: Packet) -> dict[str, Any]:
    if isinstance(layer, S.ATT_Read_By_Type_Request_128bit):
        t = struct.pack("<QQ", layer.uuid1, layer.uuid2)
    else:
        t = struct.pack("<H", layer.uuid)
    return {"starting_handle": layer.start, "ending_handle": layer.end, "attribute_type": t}


def _lv_strategy() -> st.SearchStrategy[bytes]:
    return st.lists(st.binary(max_size=8), max_size=4).map(
        lambda vs: b"".join(struct.pack("<H", len(v)) + v for v in vs))


def _lv_values(d: bytes) -> list[bytes]:
    out, i = [], 0
    while i < len(d):
        n = _h(d, i)
        out.append(d[i + 2:i + 2 + n])
        i += 2 + n
    return out


def _hlv_strategy() -> st.SearchStrategy[bytes]:
    return st.lists(st.tuples(st.integers(0, 0xFFFF), st.binary(max_size=8)), max_size=4).map(
        lambda ts: b"".join(struct.pack("<HH", h, len(v)) + v for h, v in ts))


def _hlv_to_kw(f: dict[str, Any]) -> dict[str, Any]:
    d, out, i = f["data"], [], 0
    while i < len(d):
        h, n = struct.unpack_from("<HH", d, i)
        out.append(S.ATT_Handle_Length_Value_Tuple(handle=h, value=d[i + 4:i + 4 + n]))
        i += 4 + n
    return {"handles": out}


RANGE = {"starting_handle": "start", "ending_handle": "end"}
HV = {"attribute_handle": "gatt_handle"}
WRITE = {"attribute_handle": "gatt_handle", "value": "data"}
PREPARE = {"attribute_handle": "gatt_handle", "value_offset": "offset", "value": "data"}
ATT_MAP: dict[str, M] = {
    "Error Response": M(S.ATT_Error_Response, {
        "request_opcode_in_error": "request", "attribute_handle_in_error": "handle",
        "error_code": "ecode"}),
    "Exchange MTU Request": M(S.ATT_Exchange_MTU_Request),
    "Exchange MTU Response": M(S.ATT_Exchange_MTU_Response),
    "Find Information Request": M(S.ATT_Find_Information_Request, RANGE),
    # scapy parses Information Data into ATT_Handle / ATT_Handle_UUID128 lists
    # (only for format 1/2; other formats: see test_protocol_att.py)
    "Find Information Response": M(
        S.ATT_Find_Information_Response, to_kw=_find_info_to_kw,
        from_layer=lambda ly: {"format": ly.format, "data": _join_sub(ly)},
        strategy=_find_info_strategy()),
    "Find By Type Value Request": M(S.ATT_Find_By_Type_Value_Request, {
        **RANGE, "attribute_type": "uuid", "attribute_value": "data"}),
    "Find By Type Value Response": M(
        S.ATT_Find_By_Type_Value_Response,
        to_kw=lambda f: {"handles": [S.ATT_Handle(handle=_h(f["data"], i),
                                                  value=_h(f["data"], i + 2))
                                     for i in range(0, len(f["data"]), 4)]},
        from_layer=lambda ly: {"data": _join_sub(ly)},
        overrides={"data": _entries(4)}),
    # scapy: two classes for opcode 0x08 (16-bit / 128-bit UUID), picked by length
    "Read By Type Request": M(
        None, to_kw=_read_by_type_req_to_kw, from_layer=_read_by_type_req_from,
        overrides={"attribute_type": st.sampled_from([2, 16]).flatmap(
            lambda n: st.binary(min_size=n, max_size=n))}),
    "Read By Type Response": M(
        S.ATT_Read_By_Type_Response, to_kw=_read_by_type_to_kw,
        from_layer=lambda ly: {"length": ly.len, "data": _join_sub(ly)},
        strategy=_list_rsp_strategy(2)),
    "Read Request": M(S.ATT_Read_Request, HV),
    "Read Response": M(S.ATT_Read_Response),
    "Read Blob Request": M(S.ATT_Read_Blob_Request, {**HV, "value_offset": "offset"}),
    "Read Blob Response": M(S.ATT_Read_Blob_Response),
    # scapy: a list of handle ints
    "Read Multiple Request": M(
        S.ATT_Read_Multiple_Request,
        to_kw=lambda f: {"handles": _handles_list(f["set_of_handles"])},
        from_layer=lambda ly: {"set_of_handles": b"".join(struct.pack("<H", h)
                                                          for h in ly.handles)},
        overrides={"set_of_handles": _entries(2)}),
    "Read Multiple Response": M(S.ATT_Read_Multiple_Response, {"set_of_values": "values"}),
    # scapy only has the 16-bit UUID form (128-bit: test_protocol_att.py)
    "Read By Group Type Request": M(
        S.ATT_Read_By_Group_Type_Request,
        to_kw=lambda f: {"start": f["starting_handle"], "end": f["ending_handle"],
                         "uuid": _h(f["attribute_group_type"])},
        from_layer=lambda ly: {"starting_handle": ly.start, "ending_handle": ly.end,
                               "attribute_group_type": struct.pack("<H", ly.uuid)},
        overrides={"attribute_group_type": st.binary(min_size=2, max_size=2)}),
    "Read By Group Type Response": M(
        S.ATT_Read_By_Group_Type_Response, to_kw=_read_by_group_to_kw,
        from_layer=lambda ly: {"length": ly.len, "data": _join_sub(ly)},
        strategy=_list_rsp_strategy(4)),
    "Write Request": M(S.ATT_Write_Request, WRITE),
    "Write Response": M(S.ATT_Write_Response),
    "Prepare Write Request": M(S.ATT_Prepare_Write_Request, PREPARE),
    "Prepare Write Response": M(S.ATT_Prepare_Write_Response, PREPARE),
    "Execute Write Request": M(S.ATT_Execute_Write_Request),
    "Execute Write Response": M(S.ATT_Execute_Write_Response),
    "Handle Value Notification": M(S.ATT_Handle_Value_Notification, HV),
    "Handle Value Indication": M(S.ATT_Handle_Value_Indication, HV),
    "Handle Value Confirmation": M(S.ATT_Handle_Value_Confirmation),
    "Read Multiple Variable Request": M(
        S.ATT_Read_Multiple_Variable_Request,
        to_kw=lambda f: {"handles": _handles_list(f["set_of_handles"])},
        from_layer=lambda ly: {"set_of_handles": b"".join(struct.pack("<H", h)
                                                          for h in ly.handles)},
        overrides={"set_of_handles": _entries(2)}),
    "Read Multiple Variable Response": M(
        S.ATT_Read_Multiple_Variable_Response,
        to_kw=lambda f: {"values": [S.ATT_Length_Value_Tuple(value=v)
                                    for v in _lv_values(f["data"])]},
        from_layer=lambda ly: {"data": _join_sub(ly, "values")},
        overrides={"data": _lv_strategy()}),
    "Multiple Handle Value Notification": M(
        S.ATT_Multiple_Handle_Value_Notification, to_kw=_hlv_to_kw,
        from_layer=lambda ly: {"data": _join_sub(ly)},
        overrides={"data": _hlv_strategy()}),
    "Write Command": M(S.ATT_Write_Command, WRITE),
    "Signed Write Command": M(S.ATT_Signed_Write_Command, {"attribute_handle": "handle"}),
}

# ---- Nordic Legacy DFU control point (our scapy layers) --------------------------
DFU_MAP: dict[str, M] = {
    "START_DFU": M(S.DFU_Start),
    "INITIALIZE_DFU": M(S.DFU_Init),
    "RECEIVE_FIRMWARE_IMAGE": M(None, header_kw={"opcode": 0x03}),
    "VALIDATE_FIRMWARE": M(None, header_kw={"opcode": 0x04}),
    "ACTIVATE_IMAGE_AND_RESET": M(None, header_kw={"opcode": 0x05}),
    "RESET_SYSTEM": M(None, header_kw={"opcode": 0x06}),
    "REPORT_RECEIVED_IMAGE_SIZE": M(None, header_kw={"opcode": 0x07}),
    "PKT_RCPT_NOTIF_REQ": M(S.DFU_PktRcptNotifReq),
    "RESPONSE": M(S.DFU_Response),
    "PKT_RCPT_NOTIF": M(S.DFU_PktRcptNotif),
}

FAMILIES: dict[str, tuple[Codec, type[Packet], dict[str, M]]] = {
    "ll": (LL_CONTROL, S.BTLE_CTRL, LL_MAP),
    "smp": (SMP, S.SM_Hdr, SMP_MAP),
    "att": (ATT, S.ATT_Hdr, ATT_MAP),
    "dfu_cp": (DFU_CP, S.DFU_CP_Hdr, DFU_MAP),
}
CASES = [(fam, name) for fam, (_c, _h, mp) in FAMILIES.items() for name in mp]


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_every_pdu_type_is_mapped(family: str) -> None:
    codec, _hdr, mp = FAMILIES[family]
    assert set(mp) == set(codec.names)


def build_scapy(family: str, name: str, fields: dict[str, Any]) -> bytes:
    codec, hdr, mp = FAMILIES[family]
    m = mp[name]
    if name == "Read By Type Request":
        cls: type[Packet] | None = _read_by_type_req_cls(fields)
    else:
        cls = m.cls
    if cls is None:
        return raw(hdr(**m.header_kw))
    # the opcode comes from scapy's bind_layers, so this checks opcodes too
    return raw(hdr() / cls(**scapy_kwargs(m, fields)))


def draw_fields(data: st.DataObject, family: str, name: str) -> dict[str, Any]:
    """Field values for PDU ``name``: its own strategy, else one from the codec's field kinds."""
    codec, _hdr, mp = FAMILIES[family]
    m = mp[name]
    return data.draw(
        m.strategy if m.strategy is not None else fields_strategy(codec, name, m.overrides),
        label="fields")


@pytest.mark.parametrize(("family", "name"), CASES, ids=[f"{f}:{n}" for f, n in CASES])
@EXAMPLES
@given(data=st.data())
def test_fast_path_agrees_with_scapy(family: str, name: str, data: st.DataObject) -> None:
    codec, hdr, mp = FAMILIES[family]
    m = mp[name]
    fields = draw_fields(data, family, name)

    # 1. encode == scapy build
    ours = codec.encode(name, **fields)
    theirs = build_scapy(family, name, fields)
    assert ours == theirs

    # 2. scapy-built octets -> our decode == scapy dissection
    d = codec.decode(theirs)
    assert d.error is None and d.name == name and d.opcode == codec.opcode_of(name)
    assert d.fields == fields
    pkt = hdr(theirs)
    assert Raw not in pkt, f"scapy left undissected octets: {pkt!r}"
    opcode = pkt.sm_command if family == "smp" else pkt.opcode
    assert int(opcode) == d.opcode
    if (m.cls is None and m.to_kw is None) or len(theirs) == 1:
        # no parameters (or an empty 'rest'): scapy has nothing to dissect after
        # the opcode, so it adds no payload layer at all
        return
    layer = pkt.payload
    if m.cls is not None:
        assert isinstance(layer, m.cls)
    assert scapy_fields(m, layer, list(fields)) == d.fields


@pytest.mark.parametrize("family", sorted(FAMILIES))
@EXAMPLES
@given(pdu=st.binary(max_size=80))
def test_decode_never_raises_and_reencodes(family: str, pdu: bytes) -> None:
    """Arbitrary octets: decode never raises; a clean decode re-encodes to the input."""
    codec = FAMILIES[family][0]
    d = codec.decode(pdu)
    if d.name == "unknown":
        assert d.fields == {"data": pdu[1:]}
        return
    if d.error is None:
        assert codec.encode(d.name, **d.fields) == pdu


@pytest.mark.parametrize("family", sorted(FAMILIES))
@EXAMPLES
@given(data=st.data())
def test_scapy_dissection_of_random_octets_agrees(family: str, data: st.DataObject) -> None:
    """Random bodies for a known opcode: whenever our decode is clean, scapy sees the same."""
    codec, hdr, mp = FAMILIES[family]
    name = data.draw(st.sampled_from(codec.names))
    n = codec.min_length(name)
    pdu = codec.encode_raw(codec.opcode_of(name), data.draw(st.binary(min_size=n - 1,
                                                                      max_size=n + 4)))
    d = codec.decode(pdu)
    if d.error is not None or mp[name].cls is None or name in _LIST_PDUS or len(pdu) == 1:
        return  # list-shaped PDUs need well-formed lists for scapy: covered above
    pkt = hdr(pdu)
    assert scapy_fields(mp[name], pkt.payload, list(d.fields)) == d.fields


# PDUs whose 'rest' scapy parses as a structured list (random octets may not split)
_LIST_PDUS = {
    "Find Information Response", "Find By Type Value Response", "Read By Type Request",
    "Read By Type Response", "Read Multiple Request", "Read By Group Type Request",
    "Read By Group Type Response", "Read Multiple Variable Request",
    "Read Multiple Variable Response", "Multiple Handle Value Notification",
}


@pytest.mark.parametrize(("family", "name"), CASES, ids=[f"{f}:{n}" for f, n in CASES])
@EXAMPLES
@given(data=st.data())
def test_packer_agrees_with_scapy(family: str, name: str, data: st.DataObject) -> None:
    """A positional encoder (Codec.packer) builds what scapy builds from the same fields."""
    codec = FAMILIES[family][0]
    fields = draw_fields(data, family, name)
    values = [fields[f] for f, _kind in codec.fields_of(name)]
    assert codec.packer(name)(*values) == build_scapy(family, name, fields)
