"""Tests for the JSON Lines trace writer/reader and its on-demand scapy decode."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fuzzer.trace.events import ADV, DEVICE, PDU, TESTER, Event, Link, Trace, make_event
from fuzzer.trace.jsonl import (
    decode_adv_data,
    decode_layer,
    event_to_dict,
    event_to_line,
    read_jsonl,
    write_jsonl,
)

try:
    from test_trace_common import ACCESS_ADDRESS, CRC_INIT, build_trace, l2cap
except ImportError:  # tests/ imported as a package
    from tests.test_trace_common import ACCESS_ADDRESS, CRC_INIT, build_trace, l2cap

KEYS = ["seq", "t_us", "kind", "src", "step", "layer", "hex", "decoded", "air", "link", "info"]
LINK = Link(1, TESTER, "F1:22:33:44:55:66", "C0:11:22:33:44:55", ACCESS_ADDRESS, CRC_INIT)


def pdu(layer: str, data: bytes, src: str = TESTER) -> Event:
    return make_event(0, 0, PDU, src, layer, data, (), LINK)


def test_round_trip(tmp_path: Path) -> None:
    trace = build_trace()
    path = tmp_path / "trace.jsonl"
    assert write_jsonl(path, trace) == len(trace)
    back = read_jsonl(path)
    assert back == [json.loads(json.dumps(event_to_dict(ev))) for ev in trace]
    assert [list(rec) for rec in back] == [KEYS] * len(trace)
    for ev, rec in zip(trace, back, strict=True):
        assert bytes.fromhex(rec["hex"]) == ev.data
        assert [bytes.fromhex(h) for h in rec["air"]] == list(ev.air)
        assert rec["t_us"] == ev.t and rec["seq"] == ev.seq and rec["step"] == ev.step


def test_output_is_deterministic(tmp_path: Path) -> None:
    first, second = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    write_jsonl(first, build_trace())
    write_jsonl(second, build_trace())  # new, equal events
    assert first.read_bytes() == second.read_bytes()
    text = first.read_text()
    assert text.endswith("\n") and text.isascii()


def test_info_is_json_safe_with_sorted_keys_and_hex_bytes() -> None:
    ev = make_event(7, 5, "key", info={"value": b"\x01\xff", "type": "LTK",
                                  "nested": {"z": (1, b"\x02"), "a": {3, 1}},
                                  "nan": math.nan, "link": LINK})
    line = event_to_line(ev)
    info = json.loads(line)["info"]
    assert list(info) == sorted(info)
    assert info["value"] == "01ff"
    assert info["nested"] == {"a": [1, 3], "z": [1, "02"]}
    assert info["nan"] == "nan"
    assert info["link"]["access_address"] == "0x50654c3a"
    assert json.loads(event_to_line(make_event(0, 0, "note")))["info"] == {}


def test_link_and_air_are_rendered() -> None:
    trace = build_trace()
    rec = event_to_dict(next(ev for ev in trace if ev.kind == PDU))
    assert rec["link"] == LINK.to_dict()
    assert rec["air"] == ["020b0700060001030001100707"]
    assert rec["hex"] == "01030001100707"


def test_each_layer_names_its_pdu() -> None:
    trace = build_trace()
    by_summary = {}
    for ev in trace:
        decoded = event_to_dict(ev)["decoded"]
        if decoded is not None:
            assert "error" not in decoded
            by_summary[decoded["summary"]] = decoded
    for name in ("Pairing Request", "Pairing Response", "Pairing Confirm", "Pairing Random",
                 "LL_ENC_REQ", "LL_ENC_RSP", "LL_START_ENC_REQ", "LL_START_ENC_RSP",
                 "Read Request", "LL_TERMINATE_IND"):
        assert name in by_summary, sorted(by_summary)

    request = by_summary["Pairing Request"]
    assert request["SM_Pairing_Request"] == {
        "iocap": "NoInputNoOutput", "oob": "Not Present", "authentication": 1,
        "max_key_size": 16, "initiator_key_distribution": 7, "responder_key_distribution": 7}
    enc_req = by_summary["LL_ENC_REQ"]
    assert enc_req["BTLE_CTRL"] == {"opcode": "LL_ENC_REQ"}
    assert enc_req["LL_ENC_REQ"]["ediv"] == 0x1234
    assert by_summary["LL_TERMINATE_IND"]["LL_TERMINATE_IND"] == {"code": 0x13}
    assert by_summary["Read Request"]["ATT_Read_Request"] == {"gatt_handle": 3}

    adv = event_to_dict(next(ev for ev in trace if ev.kind == ADV))["decoded"]
    assert adv["summary"] == "AdvData: Flags, Complete Local Name"
    assert adv["ad"][1]["EIR_CompleteLocalName"]["local_name"] == b"blefuzz-dut".hex()


def test_l2cap_layer_decodes_the_whole_frame() -> None:
    decoded = decode_layer("l2cap", l2cap(6, bytes.fromhex("01030001100707")))
    assert decoded is not None
    assert decoded["summary"] == "Pairing Request"
    assert list(decoded) == ["summary", "L2CAP_Hdr", "SM_Hdr", "SM_Pairing_Request"]
    assert decoded["L2CAP_Hdr"] == {"len": 7, "cid": 6}
    att = decode_layer("l2cap", l2cap(4, b"\x52\x03\x00\x01"))
    assert att is not None and att["summary"] == "Write Command"


@pytest.mark.parametrize(("layer", "data", "summary"), [
    ("ll", "03", "LL_ENC_REQ (truncated)"),
    ("ll", "0301", "LL_ENC_REQ (truncated)"),
    ("ll", "05", "LL_START_ENC_REQ"),
    ("ll", "12", "LL_PING_REQ"),
    ("ll", "ff0102", "BTLE_CTRL opcode=0xff (+2 octets undecoded)"),
    ("smp", "01", "Pairing Request (truncated)"),
    ("smp", "0103000110070799", "Pairing Request (+1 extra octets)"),
    ("smp", "7f", "SM header sm_command=0x7f"),
    ("att", "0a", "Read Request (truncated)"),
    ("att", "ff00", "ATT header opcode=0xff (+1 octets undecoded)"),
    ("l2cap", "02004000aabb", "L2CAP header cid=0x40 (+2 octets undecoded)"),
])
def test_malformed_pdus_are_described_not_raised(layer: str, data: str, summary: str) -> None:
    decoded = decode_layer(layer, bytes.fromhex(data))
    assert decoded is not None and decoded["summary"] == summary


def test_undecodable_input_gives_an_error_entry() -> None:
    short = decode_layer("l2cap", b"\x01\x00")  # shorter than the L2CAP header
    assert short is not None and set(short) == {"error"} and isinstance(short["error"], str)
    assert decode_layer("nonsense", b"\x00") == {"error": "no decoder for layer 'nonsense'"}
    assert decode_layer("ll", b"") is None
    ev = pdu("l2cap", b"\x01")
    rec = json.loads(event_to_line(ev))
    assert set(rec["decoded"]) == {"error"}


def test_adv_data_structures() -> None:
    assert decode_adv_data(b"") is None
    assert decode_adv_data(bytes(5)) == {"summary": "AdvData: (empty)", "ad": []}
    truncated = decode_adv_data(b"\x02\x01\x06\x05\xff\x59")
    assert truncated is not None
    assert truncated["summary"] == "AdvData: Flags, error"
    assert truncated["ad"][1] == {"error": "AD structure of length 5 truncated to 2 octets",
                                  "hex": "05ff59"}
    mfg = decode_adv_data(b"\x05\xff\x59\x00\xaa\xbb")
    assert mfg is not None
    assert mfg["ad"][0]["EIR_Manufacturer_Specific_Data"] == {
        "company_identifier": "Nordic Semiconductor ASA"}


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(["ll", "smp", "att", "l2cap", "adv", "other"]), st.binary(max_size=80))
def test_any_bytes_decode_without_raising(layer: str, data: bytes) -> None:
    if layer == "adv":
        ev = make_event(0, 0, ADV, DEVICE, data=data, info={"address": "C0:11:22:33:44:55"})
    else:
        ev = pdu(layer, data)
    line = event_to_line(ev)
    decoded = json.loads(line)["decoded"]
    assert decoded is None or "summary" in decoded or set(decoded) == {"error"}
    assert event_to_line(ev) == line


def test_read_jsonl_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"seq": 0}\n\n{"seq": 1,\n')
    with pytest.raises(ValueError, match=r"bad\.jsonl:3: bad JSON"):
        read_jsonl(path)
    path.write_text('{"seq": 0}\n[1, 2]\n')
    with pytest.raises(ValueError, match=r"bad\.jsonl:2: expected a JSON object"):
        read_jsonl(path)
    path.write_bytes(b'{"seq": 0}\n{"x": "\xff"}\n')
    with pytest.raises(ValueError, match=r"bad\.jsonl:2: not UTF-8"):
        read_jsonl(path)
    path.write_text('{"seq": 0}\n\n')
    assert read_jsonl(path) == [{"seq": 0}]


def test_write_jsonl_accepts_any_iterable(tmp_path: Path) -> None:
    trace = Trace()
    trace.add(0, "note", info={"text": "x"})
    path = tmp_path / "gen.jsonl"
    assert write_jsonl(path, (ev for ev in trace)) == 1
    assert read_jsonl(path)[0]["info"] == {"text": "x"}
