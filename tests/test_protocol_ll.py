"""LL data header, advertising PDUs, AD structures vs scapy bluetooth4LE (Vol 6 Part B 2.3-2.4)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scapy.compat import raw

from fuzzer.protocol import ll
from fuzzer.protocol import scapy_layers as S

EX = settings(max_examples=60, deadline=None)
addr = st.binary(min_size=6, max_size=6)
bit = st.integers(0, 1)


def mac(b: bytes) -> str:
    """scapy BDAddrField string of air-order (LE) address octets."""
    return ":".join(f"{x:02x}" for x in b[::-1])


# ------------------------------------------------------------------ data header
@EX
@given(llid=st.integers(0, 3), nesn=bit, sn=bit, md=bit, length=st.integers(0, 255))
def test_data_header_agrees_with_btle_data(llid: int, nesn: int, sn: int, md: int,
                                           length: int) -> None:
    ours = ll.encode_header(llid, nesn, sn, md, length)
    assert ours == raw(S.BTLE_DATA(LLID=llid, NESN=nesn, SN=sn, MD=md, len=length))
    assert ll.decode_header(ours) == (llid, nesn, sn, md, length)
    p = S.BTLE_DATA(ours)
    assert (p.LLID, p.NESN, p.SN, p.MD, p.len) == (llid, nesn, sn, md, length)


def test_data_header_misc() -> None:
    assert ll.encode_header(ll.LLID_CONTROL, 1, 0, 1, 2) == bytes((0x17, 2))
    assert ll.decode_header(b"\xff\x05") == (3, 1, 1, 1, 5)  # CP/RFU bits ignored
    for bad in [(4, 0, 0, 0, 0), (1, 2, 0, 0, 0), (1, 0, 0, 0, 256)]:
        with pytest.raises(ValueError):
            ll.encode_header(*bad)
    with pytest.raises(ValueError):
        ll.decode_header(b"\x01")
    ctrl = ll.LL_CONTROL.encode("LL_TERMINATE_IND", error_code=ll.REMOTE_USER_TERMINATED)
    pdu = ll.data_pdu(ll.LLID_CONTROL, ctrl, nesn=1)
    p = S.BTLE_DATA(pdu)
    assert p[S.LL_TERMINATE_IND].code == 0x13 and p.NESN == 1


def test_ll_constants() -> None:
    assert (ll.LLID_CONTINUATION, ll.LLID_START, ll.LLID_CONTROL) == (1, 2, 3)
    assert ll.ADV_ACCESS_ADDRESS == 0x8E89BED6 == S.BTLE().access_addr
    assert ll.MIC_FAILURE == ll.CONNECTION_TERMINATED_DUE_TO_MIC_FAILURE == 0x3D
    assert ll.ERROR_NAMES[0x3D] == "CONNECTION_TERMINATED_DUE_TO_MIC_FAILURE"
    for name in ["PIN_OR_KEY_MISSING", "CONNECTION_TIMEOUT", "REMOTE_USER_TERMINATED",
                 "CONNECTION_TERMINATED_BY_LOCAL_HOST", "LMP_LL_RESPONSE_TIMEOUT",
                 "INSTANT_PASSED", "UNSUPPORTED_REMOTE_FEATURE", "LL_PROCEDURE_COLLISION",
                 "ENCRYPTION_MODE_NOT_ACCEPTABLE", "UNSPECIFIED"]:
        assert ll.ERROR_NAMES[getattr(ll, name)] == name
    assert ll.error_name(0xEE) == "0xEE"
    assert len(set(ll.ERROR_NAMES.values())) == len(ll.ERROR_NAMES)


# ------------------------------------------------------------------ advertising
ad_struct = st.one_of(
    st.tuples(st.just(ll.FLAGS), st.binary(min_size=1, max_size=1)),
    st.tuples(st.sampled_from([ll.COMPLETE_LOCAL_NAME, ll.SHORTENED_LOCAL_NAME]),
              st.text(alphabet="abcXYZ019 -", max_size=8).map(str.encode)),
)


@st.composite
def adv_data(draw: st.DrawFn) -> list[tuple[int, bytes]]:
    out: list[tuple[int, bytes]] = []
    for t, v in draw(st.lists(ad_struct, max_size=4)):
        if sum(2 + len(x) for _t, x in out) + 2 + len(v) <= ll.MAX_ADV_DATA:
            out.append((t, v))
    return out


@EX
@given(a=addr, ads=adv_data(), tx_add=bit)
def test_adv_ind_agrees_with_scapy(a: bytes, ads: list[tuple[int, bytes]], tx_add: int) -> None:
    data = b"".join(ll.encode_ad(t, v) for t, v in ads)
    ours = ll.encode_adv_ind(a, data, tx_add)
    eirs = [S.EIR_Hdr(type=t) / S.Raw(v) for t, v in ads]
    theirs = raw(S.BTLE_ADV(TxAdd=tx_add) / S.BTLE_ADV_IND(AdvA=mac(a), data=eirs))
    if len(ours) > 8:  # scapy sets Length=0 when the payload is <= 2 octets; never here
        assert ours == theirs
    p = S.BTLE_ADV(ours)
    assert p.PDU_type == ll.ADV_IND and p.TxAdd == tx_add and p.Length == 6 + len(data)
    assert p[S.BTLE_ADV_IND].AdvA == mac(a)
    assert [(h.type, raw(h)[2:]) for h in p[S.BTLE_ADV_IND].data] == ads
    assert ll.ad_structures(data) == ads
    d = ll.decode_adv(ours)
    assert d is not None and d["name"] == "ADV_IND" and d["adv_a"] == a and d["data"] == data
    assert d["tx_add"] == tx_add


@EX
@given(a=addr, data=st.binary(max_size=31), tx_add=bit)
def test_scan_rsp_agrees_with_scapy(a: bytes, data: bytes, tx_add: int) -> None:
    ours = ll.encode_scan_rsp(a, data, tx_add)
    p = S.BTLE_ADV(ours)
    assert p.PDU_type == ll.SCAN_RSP and p.TxAdd == tx_add and p[S.BTLE_SCAN_RSP].AdvA == mac(a)
    d = ll.decode_adv(ours)
    assert d is not None and d["name"] == "SCAN_RSP" and d["data"] == data


@EX
@given(s=addr, a=addr, tx_add=bit, rx_add=bit)
def test_scan_req_agrees_with_scapy(s: bytes, a: bytes, tx_add: int, rx_add: int) -> None:
    ours = ll.encode_scan_req(s, a, tx_add, rx_add)
    theirs = raw(S.BTLE_ADV(TxAdd=tx_add, RxAdd=rx_add) / S.BTLE_SCAN_REQ(ScanA=mac(s),
                                                                        AdvA=mac(a)))
    assert ours == theirs
    assert ll.decode_adv(ours) == {"pdu_type": 3, "name": "SCAN_REQ", "ch_sel": 0,
                                   "tx_add": tx_add, "rx_add": rx_add, "scan_a": s, "adv_a": a}


connect_params = st.fixed_dictionaries({
    "init_a": addr, "adv_a": addr, "tx_add": bit, "rx_add": bit,
    "access_address": st.integers(0, 0xFFFFFFFF), "crc_init": st.integers(0, 0xFFFFFF),
    "win_size": st.integers(0, 0xFF), "win_offset": st.integers(0, 0xFFFF),
    "interval": st.integers(0, 0xFFFF), "latency": st.integers(0, 0xFFFF),
    "timeout": st.integers(0, 0xFFFF), "chm": st.binary(min_size=5, max_size=5),
    "hop": st.integers(0, 31), "sca": st.integers(0, 7), "ch_sel": bit,
})


@EX
@given(p=connect_params)
def test_connect_ind_agrees_with_scapy(p: dict) -> None:
    ours = ll.encode_connect_ind(**p)
    assert len(ours) == 2 + 34
    theirs = raw(
        S.BTLE_ADV(TxAdd=p["tx_add"], RxAdd=p["rx_add"], ChSel=p["ch_sel"])
        / S.BTLE_CONNECT_REQ(
            InitA=mac(p["init_a"]), AdvA=mac(p["adv_a"]), AA=p["access_address"],
            crc_init=p["crc_init"], win_size=p["win_size"], win_offset=p["win_offset"],
            interval=p["interval"], latency=p["latency"], timeout=p["timeout"],
            chM=int.from_bytes(p["chm"], "little"), hop=p["hop"], SCA=p["sca"]))
    assert ours == theirs
    assert ll.decode_connect_ind(theirs) == p
    d = ll.decode_adv(theirs)
    assert d is not None and d["name"] == "CONNECT_IND" and d["interval"] == p["interval"]
    c = S.BTLE_ADV(ours)[S.BTLE_CONNECT_REQ]
    assert (c.AA, c.crc_init, c.hop, c.SCA, c.chM) == (
        p["access_address"], p["crc_init"], p["hop"], p["sca"],
        int.from_bytes(p["chm"], "little"))


def test_adv_encode_errors() -> None:
    with pytest.raises(ValueError):
        ll.encode_adv_ind(b"12345", b"", 0)
    with pytest.raises(ValueError):
        ll.encode_adv_ind(b"123456", bytes(32), 0)
    with pytest.raises(ValueError):
        ll.encode_adv_ind(b"123456", b"", 2)
    good = dict(init_a=bytes(6), adv_a=bytes(6), tx_add=0, rx_add=0, access_address=1,
                crc_init=2, win_size=1, win_offset=0, interval=24, latency=0, timeout=100,
                chm=b"\xff\xff\xff\xff\x1f", hop=7, sca=0)
    ll.encode_connect_ind(**good)
    for k, v in [("hop", 32), ("sca", 8), ("chm", b"\xff"), ("crc_init", 1 << 24),
                 ("interval", 1 << 16), ("access_address", -1)]:
        with pytest.raises(ValueError):
            ll.encode_connect_ind(**{**good, k: v})


@settings(max_examples=300, deadline=None)
@given(pdu=st.binary(max_size=50))
def test_adv_decoders_never_raise(pdu: bytes) -> None:
    ll.decode_adv(pdu)
    ll.decode_connect_ind(pdu)
    ll.ad_structures(pdu)


# ------------------------------------------------------------------ AD structures
def test_ad_structures() -> None:
    data = ll.encode_ad(ll.FLAGS, b"\x06") + ll.encode_ad(ll.COMPLETE_16, b"\x0d\x18")
    assert data.hex() == "020106" "03030d18"
    assert ll.ad_structures(data) == [(1, b"\x06"), (3, b"\x0d\x18")]
    assert ll.ad_structures(data + b"\x00\xff\xff") == [(1, b"\x06"), (3, b"\x0d\x18")]
    assert ll.ad_structures(data + b"\x05\x09ab") == [(1, b"\x06"), (3, b"\x0d\x18")]
    assert ll.ad_structures(b"") == []
    assert (ll.INCOMPLETE_128, ll.COMPLETE_128, ll.COMPLETE_LOCAL_NAME) == (6, 7, 9)
    with pytest.raises(ValueError):
        ll.encode_ad(0x100, b"")
