"""LL_REJECT_IND or LL_REJECT_EXT_IND for a refused encryption start (Core Vol 6 Part B 2.4.2.14,
2.4.2.18, 4.6, 5.1.3.1), through EmulatorTarget primitives."""

from __future__ import annotations

import pytest
from test_emulator_common import BOND_SHARING, Session, decoded

from fuzzer.emulator.controller import BT_4_1, BT_4_2, default_features
from fuzzer.protocol import ll
from fuzzer.trace import events as ev

RAND = bytes.fromhex("1122334455667788")
SKDM = bytes.fromhex("0102030405060708")
IVM = bytes.fromhex("a1a2a3a4")
EXT = ll.FEATURE_EXTENDED_REJECT_INDICATION


def _session(device_features: int) -> Session:
    s = Session(BOND_SHARING)
    s.device.link_layer.features = device_features
    s.connect(to="app")
    return s


def _feature_exchange(s: Session, central_features: int) -> None:
    got = decoded(s.ll("LL_FEATURE_REQ", feature_set=central_features.to_bytes(8, "little")),
                  "ll")
    assert [d.name for d in got] == ["LL_FEATURE_RSP"]


def _enc_req(s: Session) -> list:
    got = decoded(s.ll("LL_ENC_REQ", rand=RAND, ediv=0x1234, skdm=SKDM, ivm=IVM), "ll")
    assert got[0].name == "LL_ENC_RSP"
    return got[1:]


def test_default_features_follow_the_core_version():
    assert not default_features(BT_4_1) & ll.FEATURE_LE_DATA_PACKET_LENGTH_EXTENSION
    assert default_features(BT_4_1) & EXT and default_features(BT_4_1) & ll.FEATURE_LE_PING
    assert default_features(BT_4_2) & ll.FEATURE_LE_DATA_PACKET_LENGTH_EXTENSION


def test_both_support_extended_reject_gives_reject_ext_ind():
    s = _session(default_features(BT_4_2))
    _feature_exchange(s, EXT | ll.FEATURE_LE_ENCRYPTION)
    [rej] = _enc_req(s)
    assert rej.name == "LL_REJECT_EXT_IND"
    assert rej.fields == {"reject_opcode": ll.LL_ENC_REQ, "error_code": ll.PIN_OR_KEY_MISSING}
    assert s.target.connected


@pytest.mark.parametrize("device_features, central_features, exchange", [
    (default_features(BT_4_2), EXT, False),  # no feature exchange: the central's are unknown
    (default_features(BT_4_2), ll.FEATURE_LE_ENCRYPTION, True),  # the central lacks it
    (default_features(BT_4_2) & ~EXT, EXT, True),  # the device lacks it
])
def test_otherwise_reject_ind(device_features, central_features, exchange):
    s = _session(device_features)
    if exchange:
        _feature_exchange(s, central_features)
    [rej] = _enc_req(s)
    assert rej.name == "LL_REJECT_IND"
    assert rej.fields == {"error_code": ll.PIN_OR_KEY_MISSING}


@pytest.mark.parametrize("exchange, pdu", [(True, "LL_REJECT_EXT_IND"), (False, "LL_REJECT_IND")])
def test_the_central_sees_either_as_a_failed_encryption(exchange, pdu):
    s = _session(default_features(BT_4_2))
    if exchange:
        _feature_exchange(s, EXT)
    events = s.step("encrypt", ltk="00" * 16, ediv=0x1234, rand=RAND.hex())
    [enc] = [e for e in events if e.kind == ev.ENCRYPTION]
    assert enc.info["state"] == "failed" and enc.info["pdu"] == pdu
    assert enc.info["reason"] == ll.PIN_OR_KEY_MISSING
    assert s.target.connected and not s.target.link.encrypted
