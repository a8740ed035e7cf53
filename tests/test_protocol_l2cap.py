"""L2CAP basic frames, fragmentation and reassembly (Vol 3 Part A 3.1, 7.2)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from scapy.compat import raw

from fuzzer.protocol import l2cap
from fuzzer.protocol import scapy_layers as S
from fuzzer.protocol.ll import LLID_CONTINUATION, LLID_CONTROL, LLID_START

EX = settings(max_examples=80, deadline=None)


@EX
@given(cid=st.integers(0, 0xFFFF), payload=st.binary(max_size=100))
def test_frame_agrees_with_scapy(cid: int, payload: bytes) -> None:
    f = l2cap.frame(cid, payload)
    assert f == raw(S.L2CAP_Hdr(cid=cid) / S.Raw(payload))
    assert l2cap.parse(f) == (cid, payload)
    h = S.L2CAP_Hdr(f)
    assert (h.len, h.cid) == (len(payload), cid)


def test_parse_rejects_malformed() -> None:
    f = l2cap.frame(l2cap.CID_ATT, b"\x0a\x03\x00")
    assert l2cap.parse(f[:-1]) is None
    assert l2cap.parse(f + b"x") is None
    assert l2cap.parse(b"\x00\x00\x04") is None
    assert l2cap.parse(b"\x00\x00\x04\x00") == (4, b"")
    assert (l2cap.CID_ATT, l2cap.CID_SIGNALING, l2cap.CID_SMP) == (4, 5, 6)


@EX
@given(payload=st.binary(max_size=300), mtu=st.integers(1, 251))
def test_fragment_reassemble_round_trip(payload: bytes, mtu: int) -> None:
    f = l2cap.frame(l2cap.CID_SMP, payload)
    frags = l2cap.fragment(f, max_payload=mtu)
    assert frags[0][0] == LLID_START
    assert all(llid == LLID_CONTINUATION for llid, _ in frags[1:])
    assert all(0 < len(p) <= mtu for _l, p in frags)
    assert b"".join(p for _l, p in frags) == f
    r = l2cap.Reassembler()
    outs = [r.push(llid, p) for llid, p in frags]
    assert outs[-1] == f and all(o is None for o in outs[:-1])
    assert not r.pending and r.dropped == 0 and r.discarded == 0


def test_fragment_default_is_27() -> None:
    frags = l2cap.fragment(l2cap.frame(4, bytes(60)))
    assert [len(p) for _l, p in frags] == [27, 27, 10]


def test_reassembler_edge_cases() -> None:
    r = l2cap.Reassembler()
    assert r.push(LLID_CONTINUATION, b"xx") is None and r.dropped == 1  # orphan
    assert r.push(LLID_CONTINUATION, b"") is None and r.dropped == 1  # empty PDU ignored
    f1 = l2cap.frame(4, b"abcdef")
    assert r.push(LLID_START, f1[:5]) is None and r.pending
    f2 = l2cap.frame(6, b"\x05\x08")
    assert r.push(LLID_START, f2) == f2 and r.discarded == 1  # partial f1 discarded
    assert r.push(LLID_CONTROL, b"\x02\x13") is None and r.dropped == 2
    # header split across fragments
    assert r.push(LLID_START, f1[:1]) is None
    assert r.push(LLID_CONTINUATION, f1[1:3]) is None
    assert r.push(LLID_CONTINUATION, b"") is None
    assert r.push(LLID_CONTINUATION, f1[3:]) == f1
    # overshoot: the overlong buffer is returned and parse() rejects it
    out = r.push(LLID_START, f2 + b"zz")
    assert out == f2 + b"zz" and l2cap.parse(out) is None
    r.push(LLID_START, f1[:3])
    r.reset()
    assert not r.pending


@settings(max_examples=200, deadline=None)
@given(ops=st.lists(st.tuples(st.integers(0, 3), st.binary(max_size=12)), max_size=20))
def test_reassembler_never_raises(ops: list[tuple[int, bytes]]) -> None:
    r = l2cap.Reassembler()
    for llid, p in ops:
        out = r.push(llid, p)
        assert out is None or len(out) >= 4
