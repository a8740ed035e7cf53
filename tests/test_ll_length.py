"""Data length update (Core Vol 6 Part B 5.1.9, 4.5.10), LE ping (5.1.7) and LL_UNKNOWN_RSP
(2.4.2) through EmulatorTarget primitives."""

from __future__ import annotations

import pytest
from test_emulator_common import BOND_SHARING, Session, decoded, names

from fuzzer.emulator.controller import BT_4_0, BT_4_2, default_features
from fuzzer.emulator.data_channel import effective_octets
from fuzzer.protocol import l2cap, ll
from fuzzer.trace import events as ev

SIGNALING_ECHO = bytes((0x08, 0x01)) + (56).to_bytes(2, "little") + bytes(range(56))


def _session(features: int = default_features(BT_4_2)) -> Session:
    s = Session(BOND_SHARING)
    s.device.link_layer.features = features
    s.connect(to="app")
    return s


def _length_req(s: Session, rx: int = 251, rx_time: int = 2120, tx: int = 251,
                tx_time: int = 2120) -> list:
    return s.ll("LL_LENGTH_REQ", max_rx_octets=rx, max_rx_time=rx_time, max_tx_octets=tx,
                max_tx_time=tx_time)


def _channels(s: Session):
    return s.device.link_layer.connection.channel, s.target._conn.channel


def _device_frame(s: Session, size: int) -> list:
    """The device's host sends one L2CAP frame of ``size`` octets (white box); its air PDUs."""
    s.device.link_layer.send_l2cap(l2cap.CID_SIGNALING, bytes(size - 4))
    events = s.step("wait", seconds=0.03)
    [pdu] = [e for e in events if e.kind == ev.PDU and e.src == ev.DEVICE]
    return list(pdu.air)


def test_length_req_gets_our_maxima_and_applies_them():
    s = _session()
    got = decoded(_length_req(s), "ll")
    assert [d.name for d in got] == ["LL_LENGTH_RSP"]
    assert got[0].fields == {"max_rx_octets": 251, "max_rx_time": 2120, "max_tx_octets": 251,
                             "max_tx_time": 2120}
    dev, central = _channels(s)
    assert (dev.max_payload, dev.max_rx_payload) == (251, 251)
    assert central.max_payload == 251
    # both ends now send a 100-octet frame in one PDU
    assert [len(a) for a in _device_frame(s, 100)] == [2 + 100]
    events = s.step("l2cap", cid=l2cap.CID_SIGNALING, payload=SIGNALING_ECHO.hex())
    [sent] = [e for e in events if e.kind == ev.PDU and e.src == ev.TESTER]
    assert [len(a) for a in sent.air] == [2 + 4 + len(SIGNALING_ECHO)]
    assert [e for e in events if e.kind == ev.PDU and e.src == ev.DEVICE]  # Command Reject


def test_before_a_length_update_frames_are_fragmented_at_27():
    s = _session()
    assert [len(a) - 2 for a in _device_frame(s, 100)] == [27, 27, 27, 19]
    events = s.step("l2cap", cid=l2cap.CID_SIGNALING, payload=SIGNALING_ECHO.hex())
    [sent] = [e for e in events if e.kind == ev.PDU and e.src == ev.TESTER]
    assert [len(a) - 2 for a in sent.air] == [27, 27, 10]


def test_each_direction_takes_the_smaller_maximum():
    s = _session()
    _length_req(s, rx=100, tx=60)
    dev, central = _channels(s)
    assert (dev.max_payload, dev.max_rx_payload) == (100, 60)
    assert central.max_payload == 60  # min(our 60, the device's 251)
    assert [len(a) - 2 for a in _device_frame(s, 150)] == [100, 50]


def test_time_limits_the_effective_octets():
    s = _session()
    _length_req(s, rx_time=328 + 8 * 10)  # the central receives 37 octets in time on LE 1M
    dev, _ = _channels(s)
    assert dev.max_payload == 37 == effective_octets(251, 2120, 251, 408)


@pytest.mark.parametrize("field, value", [
    ("rx", 26), ("tx", 0), ("rx_time", 327), ("tx_time", 0),
])
def test_values_below_the_minimum_get_unknown_rsp_and_change_nothing(field, value):
    s = _session()
    got = decoded(_length_req(s, **{field: value}), "ll")
    assert [d.name for d in got] == ["LL_UNKNOWN_RSP"]
    assert got[0].fields["unknown_type"] == ll.LL_LENGTH_REQ
    dev, central = _channels(s)
    assert (dev.max_payload, dev.max_rx_payload, central.max_payload) == (27, 27, 27)
    assert s.target.connected


def test_values_above_the_maximum_are_limited_to_ours():
    s = _session()
    got = decoded(_length_req(s, rx=0xFFFF, rx_time=17040, tx=300, tx_time=0xFFFF), "ll")
    assert [d.name for d in got] == ["LL_LENGTH_RSP"]
    dev, central = _channels(s)
    assert (dev.max_payload, dev.max_rx_payload, central.max_payload) == (251, 251, 251)


def test_without_data_length_extension_length_req_is_unknown():
    s = Session(BOND_SHARING)  # Bluetooth 4.1 profile
    s.connect(to="app")
    got = decoded(_length_req(s), "ll")
    assert [(d.name, d.fields["unknown_type"]) for d in got] == [
        ("LL_UNKNOWN_RSP", ll.LL_LENGTH_REQ)]
    assert _channels(s)[1].max_payload == 27


def test_a_pdu_longer_than_the_receive_maximum_is_not_received():
    s = _session()
    assert names(s.step("ll", pdu="08" + "00" * 39), "ll") == []  # 40 octets > 27
    _length_req(s)
    assert names(s.step("ll", pdu="08" + "00" * 39), "ll") == ["LL_UNKNOWN_RSP"]


def test_ping_needs_bluetooth_4_1():
    s = _session(default_features(BT_4_0))
    got = decoded(s.ll("LL_PING_REQ"), "ll")
    assert [(d.name, d.fields["unknown_type"]) for d in got] == [("LL_UNKNOWN_RSP", ll.LL_PING_REQ)]
    s2 = _session()
    assert names(s2.ll("LL_PING_REQ"), "ll") == ["LL_PING_RSP"]


def test_a_length_rsp_nobody_asked_for_is_unknown():
    s = _session()
    got = decoded(s.ll("LL_LENGTH_RSP", max_rx_octets=251, max_rx_time=2120, max_tx_octets=251,
                       max_tx_time=2120), "ll")
    assert [(d.name, d.fields["unknown_type"]) for d in got] == [
        ("LL_UNKNOWN_RSP", ll.LL_LENGTH_RSP)]
    assert _channels(s)[0].max_payload == 27
