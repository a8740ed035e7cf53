"""Every monitor in MONITORS survives random SMP, LL and ATT octets as PDU events (truncated,
oversized, unknown opcodes), mixed with links coming and going, keys, bonds and encryption; the
pairing monitors also survive odd KEY, BOND and ENCRYPTION infos. None may raise."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fuzzer.crypto import p256
from fuzzer.oracles.base import FAIL, INCONCLUSIVE, PASS, Verdict
from fuzzer.oracles.invariants import MONITORS
from fuzzer.oracles.pairing import PairingMonitor
from fuzzer.trace import events as ev
from fuzzer.trace.events import Link, Trace

DEV = "C2:5A:3B:11:22:33"
PEERS = [("iphone", "4C:57:CA:10:20:30"), ("mallory", "4C:57:CA:10:20:30"),
         ("second_phone", "5A:11:22:33:44:55")]
KEYS = [bytes(16), bytes(range(16)), bytes(range(7)) + bytes(9), b"\xff" * 16]

# SMP code -> parameter length (Core Vol 3 Part H 3.3-3.6)
_SMP_LENGTHS = {1: 6, 2: 6, 3: 16, 4: 16, 5: 1, 6: 16, 7: 10, 8: 16, 9: 7, 10: 16, 11: 1,
                12: 64, 13: 16, 14: 1}


def _well_formed_smp():
    return st.sampled_from(sorted(_SMP_LENGTHS)).flatmap(
        lambda code: st.binary(min_size=_SMP_LENGTHS[code], max_size=_SMP_LENGTHS[code]).map(
            lambda body: bytes([code]) + body))


_KEY_PAIR = p256.keypair_from_private(0xC0FFEE)


def _special_smp():
    """Pairing PDUs that reach deep states: SC and legacy features, valid, debug and invalid
    public keys, repeated confirm/random values (reflections), checks, refusals, keys."""
    debug = bytes([0x0C]) + p256.DEBUG_PUBLIC_X + p256.DEBUG_PUBLIC_Y
    valid = bytes([0x0C]) + _KEY_PAIR.public_x + _KEY_PAIR.public_y
    return st.sampled_from([
        debug, valid, bytes([0x0C]) + bytes(64),
        bytes([0x01, 3, 0, 0x09, 16, 3, 3]), bytes([0x02, 3, 0, 0x09, 16, 3, 3]),
        bytes([0x01, 3, 0, 0x01, 16, 3, 3]), bytes([0x02, 3, 0, 0x01, 7, 3, 3]),
        bytes([0x01, 3, 0, 0x01, 5, 3, 3]), bytes([0x01, 2, 1, 0x0D, 16, 3, 3]),
        bytes([0x05, 0x04]), bytes([0x05, 0x09]), bytes([0x05, 0x0B]), bytes([0x05, 0x01]),
        bytes([0x03]) + b"\x11" * 16, bytes([0x04]) + b"\x11" * 16,
        bytes([0x06]) + KEYS[1], bytes([0x06]) + KEYS[3], bytes([0x07]) + bytes(10),
        bytes([0x08]) + bytes(16), bytes([0x0D]) + bytes(16), bytes([0x0E, 0x01]),
    ])


def _opcode_first(max_op: int):
    return st.tuples(st.integers(0, max_op), st.binary(max_size=40)).map(
        lambda t: bytes([t[0]]) + t[1])


_PAYLOAD = {
    "smp": st.one_of(st.binary(max_size=70), _well_formed_smp(), _special_smp(),
                     _special_smp(), _special_smp(), _opcode_first(0x10)),
    "ll": st.one_of(st.binary(max_size=30), _opcode_first(0x20)),
    "att": st.one_of(st.binary(max_size=30), _opcode_first(0x1F),
                     st.sampled_from([b"\x0b\x01", b"\x09\x03\x0c\x00\x01",
                                      b"\x01\x0a\x0c\x00\x05", b"\x13"])),
}

_pdu = st.tuples(st.just("pdu"), st.sampled_from([ev.TESTER, ev.DEVICE]),
                 st.sampled_from(sorted(_PAYLOAD))).flatmap(
    lambda t: _PAYLOAD[t[2]].map(lambda data: (*t, data)))
_link_op = st.tuples(st.sampled_from(["connect", "disconnect", "step"]),
                     st.integers(0, len(PEERS) - 1))
_key_op = st.tuples(st.sampled_from(["key", "bond", "encryption"]), st.sampled_from(KEYS),
                    st.sampled_from(["on", "off", "failed"]), st.booleans())
_ops = st.lists(st.one_of(_pdu, _pdu, _pdu, _link_op, _key_op), max_size=80)


def _run(monitor, ops, odd: object = None) -> Verdict:
    return _run_all([monitor], ops, odd)[0]


def _run_all(monitors, ops, odd: object = None, subscribe: bool = False) -> list[Verdict]:
    """Feed ``ops`` to ``monitors``: each fed alone through ``observe``, or, with ``subscribe``,
    subscribed together to the trace (as the fuzz loop does: pairing monitors then share one
    tracker)."""
    trace = Trace()
    for monitor in monitors:
        if subscribe:
            monitor.subscribe(trace)
        else:
            trace.subscribe(monitor.observe)
    link: Link | None = None
    conn = 0
    t = 0
    for op in [("connect", 0), *ops]:  # PDUs need a link; more links come and go in ``ops``
        t += 700
        kind = op[0]
        if kind == "pdu":
            _, src, layer, data = op
            trace.add(t, ev.PDU, src, layer, data, (data,), link)
        elif kind == "connect":
            conn += 1
            peer, address = PEERS[op[1]]
            link = Link(conn, peer, address, DEV, 0x50654C3A, 1)
            trace.add(t, ev.CONNECT, link=link if conn % 2 else None,
                      info={"peer": peer, "peripheral_address": DEV, "central_address": address})
        elif kind == "disconnect":
            trace.add(t, ev.DISCONNECT, link=link, info={"reason": 0x13, "by": ev.TESTER})
            link = None
        elif kind == "step":
            trace.step += 1
            trace.add(t, ev.STEP, info={"index": trace.step, "op": "x", "args": {}, "label": ""})
        else:
            _, key, state, flag = op
            peer = link.peer if link is not None else "iphone"
            if kind == "key":
                info = {"peer": peer, "type": "STK" if flag else "LTK", "value": key.hex(),
                        "device_address": DEV, "authenticated": flag,
                        "secure_connections": not flag}
                trace.add(t, ev.KEY, info=odd if odd is not None else info)
            elif kind == "bond":
                info = {"peer": peer, "device_address": DEV, "connection_address": DEV,
                        "ltk": key.hex(), "ediv": 1, "rand": "00" * 8, "key_size": 16,
                        "method": "just_works" if flag else "passkey_both_input"}
                trace.add(t, ev.BOND, info=odd if odd is not None else info)
            else:
                if link is not None and state == "on":
                    link = link.with_encryption(True, 16)
                info = {"state": state, "ltk": key.hex(), "key_size": 16 if flag else 3}
                trace.add(t, ev.ENCRYPTION, ev.DEVICE, link=link if flag else None,
                          info=odd if odd is not None else info)
    verdicts = [monitor.finish() for monitor in monitors]
    for verdict in verdicts:
        assert verdict.status in (PASS, FAIL, INCONCLUSIVE)
        assert verdict.status != FAIL or verdict.violations
    return verdicts


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=_ops)
def test_every_monitor_survives_random_pdus(ops):
    context = {"protected_characteristics": ["2A38"], "authenticated_characteristics": ["2A39"]}
    for name, cls in MONITORS.items():
        _run(cls(name.upper(), {}, dict(context)), ops)


def _summary(verdict: Verdict) -> tuple:
    return (verdict.status, verdict.message, verdict.checked,
            [(v.message, v.step, v.signature, [e.seq for e in v.events])
             for v in verdict.violations],
            [e.seq for e in verdict.support])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=_ops)
def test_shared_pairing_tracker_gives_each_monitors_own_verdict(ops):
    """Subscribed together, the pairing monitors share one tracker and keep their notes apart:
    each verdict is the one the monitor reaches fed alone."""
    context = {"protected_characteristics": ["2A38"], "authenticated_characteristics": ["2A39"]}

    def monitors():
        return [cls(name.upper(), {}, dict(context)) for name, cls in MONITORS.items()]

    alone = [_summary(_run(m, ops)) for m in monitors()]
    together = [_summary(v) for v in _run_all(monitors(), ops, subscribe=True)]
    assert together == alone
    assert sum(isinstance(m, PairingMonitor) for m in monitors()) >= 10


_ODD_INFO = st.one_of(
    st.just({}), st.just({"type": "LTK", "value": "not hex"}), st.just({"ltk": 5}),
    st.just({"state": "on", "ltk": "zz"}), st.just({"state": "on", "ltk": "00"}),
    st.just({"type": "DHKeyCheck", "valid": False}), st.just({"type": "Mconfirm", "valid": 0}),
    st.just({"peer": None, "device_address": 3, "ltk": "00" * 16, "key_size": "16",
             "authenticated": "yes", "method": 7}),
    st.dictionaries(st.sampled_from(["type", "value", "ltk", "state", "key_size", "peer",
                                     "authenticated", "method", "secure_connections"]),
                    st.one_of(st.none(), st.integers(), st.text(max_size=8), st.booleans()),
                    max_size=5),
)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=_ops, odd=_ODD_INFO)
def test_pairing_monitors_survive_odd_infos(ops, odd):
    context = {"authenticated_characteristics": ["2A39", "not a uuid"], "min_key_size": "x",
               "window_s": "soon"}
    for name, cls in MONITORS.items():
        if issubclass(cls, PairingMonitor):
            _run(cls(name.upper(), {}, dict(context)), ops, odd)
