"""Trace.add: routing by kind, layer and source, and the decoded form PDUs start with."""

from __future__ import annotations

from fuzzer.protocol import smp
from fuzzer.trace.describe import decode
from fuzzer.trace.events import ADV, DEVICE, NOTE, PDU, STEP, TESTER, Trace


def test_events_go_to_the_listeners_that_asked_for_their_kind_layer_and_source() -> None:
    trace = Trace()
    heard: dict[str, list[tuple[str, str | None, str]]] = {n: [] for n in "abcde"}

    def listener(name: str):
        return lambda e: heard[name].append((e.kind, e.layer, e.src))

    trace.subscribe(listener("a"))
    trace.subscribe(listener("b"), frozenset({PDU}), frozenset({"smp"}))
    trace.subscribe(listener("c"), frozenset({PDU, ADV}), None, frozenset({DEVICE}))
    trace.subscribe(listener("d"), frozenset({ADV}), frozenset({"smp"}))  # layers: PDUs only
    trace.subscribe(listener("e"), frozenset({NOTE}))
    added = [(STEP, None, TESTER), (PDU, "smp", TESTER), (PDU, "smp", DEVICE),
             (PDU, "att", DEVICE), (PDU, "never-decoded", DEVICE), (ADV, "adv", DEVICE),
             (PDU, None, TESTER), (NOTE, None, DEVICE), (PDU, "smp", DEVICE), (ADV, "x", TESTER)]
    for t, (kind, layer, src) in enumerate(added):
        trace.add(t, kind, src, layer, b"\x01" if kind == PDU else b"")
    assert heard["a"] == added
    assert heard["b"] == [x for x in added if x[0] == PDU and x[1] == "smp"]
    assert heard["c"] == [x for x in added if x[0] in (PDU, ADV) and x[2] == DEVICE]
    assert heard["d"] == [x for x in added if x[0] == ADV]
    assert heard["e"] == [x for x in added if x[0] == NOTE]
    assert [e.seq for e in trace] == list(range(len(added)))


def test_a_pdu_decoded_before_starts_with_its_decoded_form() -> None:
    pdu = smp.SMP.encode("Pairing Failed", reason=0x0B)
    first = Trace().add(0, PDU, DEVICE, "smp", pdu)
    decoded = decode(first)
    assert decoded is not None and decoded.name == "Pairing Failed"
    again = Trace().add(0, PDU, TESTER, "smp", pdu)
    assert again.memo is decoded
    assert Trace().add(0, PDU, TESTER, "att", pdu).memo is None  # another layer: not yet
    assert Trace().add(0, NOTE, TESTER, "smp", pdu).memo is None  # not a PDU


def test_decoded_pdus_are_forgotten_all_at_once_past_the_cap(monkeypatch) -> None:
    from fuzzer.trace import describe
    from fuzzer.trace.events import DECODED

    monkeypatch.setattr(describe, "_DECODED_CAP", 3)
    monkeypatch.setattr(describe, "_decoded_count", 0)
    for layer in DECODED.values():
        layer.clear()
    pdus = [("smp", smp.SMP.encode("Pairing Failed", reason=r)) for r in (1, 2)] + [
        ("att", b"\x0a\x01\x00"), ("ll", b"\x02\x13"), ("smp", b"\x05\x07")]
    decoded = [decode(Trace().add(0, PDU, DEVICE, layer, data)) for layer, data in pdus]
    assert [d.name for d in decoded[:2]] == ["Pairing Failed"] * 2
    assert sum(map(len, DECODED.values())) == 2  # the fourth cleared all three first
    assert DECODED["smp"] == {pdus[4][1]: decoded[4]} and DECODED["ll"] == {pdus[3][1]: decoded[3]}
