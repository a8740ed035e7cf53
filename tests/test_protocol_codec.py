"""Tests of the table-driven codec itself (fuzzer.protocol.codec) and of lazy scapy imports."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fuzzer.protocol.att import ATT
from fuzzer.protocol.codec import Codec, Decoded, FieldKind, PduType
from fuzzer.protocol.ll import LL_CONTROL
from fuzzer.protocol.nordic_dfu import DFU_CP
from fuzzer.protocol.smp import SMP

REPO = Path(__file__).resolve().parent.parent
CODECS = {"ll": LL_CONTROL, "smp": SMP, "att": ATT, "dfu_cp": DFU_CP}

TOY = Codec(opcode_size=1, types=[
    PduType("Fixed", 0x01, (("a", "u8"), ("b", "u16"), ("c", "u24"), ("d", "u32"),
                            ("e", "u64"), ("k", ("bytes", 3)))),
    ("Tail", 0x02, [("h", "u16"), ("v", "rest"), ("cnt", "u32"), ("sig", ("bytes", 2))]),
    ("Empty", 0x03, []),
    ("Rest", 0x04, [("x", "u8"), ("data", "rest")]),
])


def kind_strategy(kind: FieldKind) -> st.SearchStrategy[Any]:
    if isinstance(kind, tuple):
        return st.binary(min_size=kind[1], max_size=kind[1])
    if kind == "rest":
        return st.binary(max_size=30)
    bits = {"u8": 8, "u16": 16, "u24": 24, "u32": 32, "u64": 64}[kind]
    return st.integers(0, (1 << bits) - 1)


@st.composite
def any_pdu(draw: st.DrawFn, codec: Codec) -> tuple[str, dict[str, Any]]:
    name = draw(st.sampled_from(codec.names))
    fields = draw(st.fixed_dictionaries(
        {f: kind_strategy(k) for f, k in codec.fields_of(name)}))
    return name, fields


# ------------------------------------------------------------------ encode
def test_encode_layout_and_defaults() -> None:
    b = TOY.encode("Fixed", a=1, b=0x0203, c=0x040506, d=0x0708090A,
                   e=0x0B0C0D0E0F101112, k=b"xyz")
    assert b.hex() == "01" "01" "0302" "060504" "0a090807" "1211100f0e0d0c0b" "78797a"
    assert TOY.encode("Fixed") == b"\x01" + bytes(21)
    assert TOY.encode("Empty") == b"\x03"
    assert TOY.encode("Tail", h=1, v=b"ab", cnt=2, sig=b"zz").hex() == "02" "0100" "6162" \
        "02000000" "7a7a"
    assert TOY.encode("Rest") == b"\x04\x00"


@pytest.mark.parametrize(("fields", "msg"), [
    ({"a": 256}, "Fixed.a: 256 out of range for u8"),
    ({"b": -1}, "Fixed.b: -1 out of range for u16"),
    ({"c": 1 << 24}, "Fixed.c"),
    ({"e": 1 << 64}, "Fixed.e"),
    ({"d": 1.5}, "Fixed.d: expected int"),
    ({"a": "1"}, "Fixed.a: expected int"),
    ({"k": b"ab"}, "Fixed.k: expected 3 octets, got 2"),
    ({"k": "abc"}, "Fixed.k: expected 3 octets"),
    ({"k": None}, "Fixed.k"),
    ({"zz": 1}, "unknown field"),
])
def test_encode_errors_name_the_field(fields: dict[str, Any], msg: str) -> None:
    with pytest.raises(ValueError, match=msg):
        TOY.encode("Fixed", **fields)


def test_encode_unknown_type_and_rest_type() -> None:
    with pytest.raises(ValueError, match="unknown"):
        TOY.encode("Nope")
    with pytest.raises(ValueError, match="Rest.data: expected bytes"):
        TOY.encode("Rest", data=5)


def test_bad_declarations() -> None:
    with pytest.raises(ValueError):
        Codec(types=[("A", 1, []), ("B", 1, [])])  # duplicate opcode
    with pytest.raises(ValueError):
        Codec(types=[("A", 1, []), ("A", 2, [])])  # duplicate name
    with pytest.raises(ValueError):
        Codec(types=[("A", 1, [("x", "u7")])])
    with pytest.raises(ValueError):
        Codec(types=[("A", 1, [("x", "rest"), ("y", "rest")])])
    with pytest.raises(ValueError):
        Codec(types=[("A", 256, [])])
    with pytest.raises(ValueError):
        Codec(opcode_size=3)


# ------------------------------------------------------------------ decode
def test_decode_errors() -> None:
    full = TOY.encode("Fixed", a=7, b=8, c=9)
    assert TOY.decode(full) == Decoded("Fixed", 1, {
        "a": 7, "b": 8, "c": 9, "d": 0, "e": 0, "k": b"\0\0\0"}, None)
    t = TOY.decode(full[:5])
    assert t.name == "Fixed" and t.error == "truncated: need 22 octets, got 5"
    assert t.fields == {"a": 7, "b": 8}  # c needs 3 octets, only 1 left
    x = TOY.decode(full + b"??")
    assert x.error == "2 extra octets" and x.fields["c"] == 9
    assert TOY.decode(b"\x7f12") == Decoded("unknown", 0x7F, {"data": b"12"}, None)
    e = TOY.decode(b"")
    assert e.name == "unknown" and e.opcode == -1 and e.error is not None
    assert TOY.decode(b"\x03x").error == "1 extra octets"
    # rest followed by fixed fields: a short PDU gives everything to 'rest'
    s = TOY.decode(b"\x02\x01\x00abc")
    assert s.error == "truncated: need 9 octets, got 6"
    assert s.fields == {"h": 1, "v": b"abc"}
    ok = TOY.decode(TOY.encode("Tail", h=1, v=b"", cnt=3, sig=b"qq"))
    assert ok.fields == {"h": 1, "v": b"", "cnt": 3, "sig": b"qq"} and ok.error is None


def test_decode_accepts_buffers_and_rejects_junk_types() -> None:
    b = LL_CONTROL.encode("LL_TERMINATE_IND", error_code=0x13)
    assert LL_CONTROL.decode(bytearray(b)) == LL_CONTROL.decode(memoryview(b))
    assert LL_CONTROL.decode(bytearray(b)).fields == {"error_code": 0x13}
    assert LL_CONTROL.decode(None).error is not None  # type: ignore[arg-type]
    assert LL_CONTROL.decode(5).error is not None  # type: ignore[arg-type]


def test_two_octet_opcodes() -> None:
    c = Codec(opcode_size=2, types=[("X", 0x1234, [("v", "u8")])])
    assert c.encode("X", v=9) == b"\x34\x12\x09"
    assert c.decode(b"\x34\x12\x09") == Decoded("X", 0x1234, {"v": 9}, None)
    assert c.decode(b"\x34").opcode == -1
    assert c.decode(b"\x00\x00ab").fields == {"data": b"ab"}


def test_table_accessors() -> None:
    assert "LL_ENC_REQ" in LL_CONTROL and len(LL_CONTROL) == len(LL_CONTROL.names)
    assert LL_CONTROL.opcode_of("LL_ENC_REQ") == 3
    assert LL_CONTROL.name_of(3) == "LL_ENC_REQ" and LL_CONTROL.name_of(0xEE) == "unknown"
    assert LL_CONTROL.min_length("LL_ENC_REQ") == 23
    assert [t.name for t in LL_CONTROL] == list(LL_CONTROL.names)
    assert LL_CONTROL.type_of("LL_ENC_RSP").fields == (("skds", ("bytes", 8)),
                                                       ("ivs", ("bytes", 4)))
    assert LL_CONTROL.encode_raw(0x03, b"ab") == b"\x03ab"
    with pytest.raises(ValueError):
        LL_CONTROL.encode_raw(0x100)


@pytest.mark.parametrize("family", sorted(CODECS))
@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_round_trip(family: str, data: st.DataObject) -> None:
    codec = CODECS[family]
    name, fields = data.draw(any_pdu(codec))
    pdu = codec.encode(name, **fields)
    d = codec.decode(pdu)
    assert d == Decoded(name, codec.opcode_of(name), fields, None)
    assert codec.encode_fields(name, d.fields) == pdu
    assert list(d.fields) == [f for f, _k in codec.fields_of(name)]  # wire order


@pytest.mark.parametrize("family", sorted(CODECS))
@settings(max_examples=300, deadline=None)
@given(pdu=st.binary(max_size=120))
def test_decode_never_raises(family: str, pdu: bytes) -> None:
    d = CODECS[family].decode(pdu)
    assert isinstance(d, Decoded) and isinstance(d.fields, dict)
    if d.name != "unknown" and d.error is None:
        assert CODECS[family].encode(d.name, **d.fields) == pdu


@pytest.mark.parametrize("family", sorted(CODECS))
@settings(max_examples=100, deadline=None)
@given(data=st.data())
def test_truncated_and_extended_pdus(family: str, data: st.DataObject) -> None:
    """Cutting or extending a valid PDU gives the known name with a precise error."""
    codec = CODECS[family]
    name, fields = data.draw(any_pdu(codec))
    pdu = codec.encode(name, **fields)
    cut = data.draw(st.integers(1, len(pdu)))
    short = pdu[:-cut]
    d = codec.decode(short)
    if len(short) == 0:
        assert d.name == "unknown"
    elif len(short) < codec.min_length(name):
        assert d.name == name
        assert d.error == f"truncated: need {codec.min_length(name)} octets, got {len(short)}"
        # whatever was parsed is a prefix of the real fields
        for k, v in d.fields.items():
            if k in ("value", "data", "set_of_handles", "set_of_values", "attribute_type",
                     "attribute_group_type", "attribute_value"):
                continue
            assert fields[k] == v
    longer = pdu + b"\xaa" * cut
    d2 = codec.decode(longer)
    has_rest = any(k == "rest" for _f, k in codec.fields_of(name))
    assert d2.name == name
    if has_rest:
        assert d2.error is None
    else:
        assert d2.error == f"{cut} extra octets" and d2.fields == fields


def test_fast_path_modules_do_not_import_scapy() -> None:
    code = (
        "import sys\n"
        "import fuzzer.protocol.codec, fuzzer.protocol.ll, fuzzer.protocol.l2cap\n"
        "import fuzzer.protocol.smp, fuzzer.protocol.att, fuzzer.protocol.gatt\n"
        "import fuzzer.protocol.nordic_dfu, fuzzer.protocol\n"
        "bad = [m for m in sys.modules if m == 'scapy' or m.startswith('scapy.')]\n"
        "assert not bad, bad\n"
        "from fuzzer.protocol.nordic_dfu import DFU_Start\n"  # lazy re-export loads it
        "assert 'scapy' in sys.modules\n"
    )
    env = dict(os.environ, PYTHONPATH=str(REPO))
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stderr


def test_aliases() -> None:
    from fuzzer.protocol import att, gatt, ll, nordic_dfu, smp

    assert ll.Decoded is smp.Decoded is att.Decoded is Decoded
    assert (ll.AD_FLAGS, ll.AD_COMPLETE_16, ll.AD_COMPLETE_128, ll.AD_INCOMPLETE_128,
            ll.AD_COMPLETE_LOCAL_NAME, ll.AD_SHORTENED_LOCAL_NAME) == (1, 3, 7, 6, 9, 8)
    assert (smp.AUTHREQ_BONDING, smp.AUTHREQ_MITM, smp.AUTHREQ_SC) == (1, 4, 8)
    assert (smp.KEY_DIST_ENC_KEY, smp.KEY_DIST_ID_KEY, smp.KEY_DIST_SIGN_KEY) == (1, 2, 4)
    assert nordic_dfu.SERVICE_UUID_BYTES == nordic_dfu.SERVICE_UUID_LE
    assert nordic_dfu.CONTROL_POINT_UUID_BYTES == nordic_dfu.CONTROL_POINT_UUID_LE
    assert nordic_dfu.IMAGE_APPLICATION == 4 and nordic_dfu.RESP_NOT_SUPPORTED == 3
    assert gatt.uuid16(0x2800) == b"\x00\x28"


@pytest.mark.parametrize(("name", "values"), [
    ("Pairing Random", (b"\x01" * 15,)),  # one octet short
    ("Pairing Random", ("00" * 16,)),  # text, not octets
    ("Pairing Request", (1, 2, 3, 256, 0, 0)),  # out of range for u8
    ("Pairing Failed", (-1,)),
])
def test_packer_raises_as_encode_does(name: str, values: tuple) -> None:
    fields = dict(zip([f for f, _k in SMP.fields_of(name)], values, strict=True))
    with pytest.raises(ValueError) as by_keyword:
        SMP.encode(name, **fields)
    with pytest.raises(ValueError) as positional:
        SMP.packer(name)(*values)
    assert str(positional.value) == str(by_keyword.value)
    with pytest.raises(TypeError):
        SMP.packer(name)(*values, 0)  # one value too many


@pytest.mark.parametrize("values", [(2, "0102"), (256, b"\x01\x02"), (2, [1, 2])])
def test_packer_with_a_rest_field_raises_as_encode_does(values: tuple) -> None:
    fields = dict(zip(("length", "data"), values, strict=True))
    with pytest.raises(ValueError) as by_keyword:
        ATT.encode("Read By Type Response", **fields)
    with pytest.raises(ValueError) as positional:
        ATT.packer("Read By Type Response")(*values)
    assert str(positional.value) == str(by_keyword.value)
    assert ATT.packer("Read By Type Response")(2, bytearray(b"\x01\x02")) == ATT.encode(
        "Read By Type Response", length=2, data=bytearray(b"\x01\x02"))
