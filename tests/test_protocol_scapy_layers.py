"""to_scapy / describe (fuzzer.protocol.scapy_layers)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fuzzer.protocol import scapy_layers as S
from fuzzer.protocol.att import ATT
from fuzzer.protocol.ll import LL_CONTROL
from fuzzer.protocol.smp import SMP

LAYERS = ["ll", "smp", "att", "dfu_cp", "l2cap", "ll_data", "adv"]


def test_to_scapy_roots() -> None:
    assert isinstance(S.to_scapy("ll", LL_CONTROL.encode("LL_PING_REQ")), S.BTLE_CTRL)
    p = S.to_scapy("ll", LL_CONTROL.encode("LL_VERSION_IND", version=9, company=0x59))
    assert p[S.LL_VERSION_IND].company == 0x59
    assert isinstance(S.to_scapy("smp", SMP.encode("Pairing Failed", reason=5)).payload,
                      S.SM_Failed)
    assert isinstance(S.to_scapy("att", ATT.encode("Read Request")).payload, S.ATT_Read_Request)
    with pytest.raises(ValueError):
        S.to_scapy("nope", b"")


def test_describe() -> None:
    s = S.describe("ll", LL_CONTROL.encode("LL_TERMINATE_IND", error_code=0x13))
    assert s == "LL_TERMINATE_IND code=0x13"
    s = S.describe("att", ATT.encode("Read Request", attribute_handle=3))
    assert s == "Read Request gatt_handle=0x3"
    assert S.describe("ll", b"\x99\x01").startswith("BTLE_CTRL opcode=")


@pytest.mark.parametrize("layer", LAYERS)
@settings(max_examples=40, deadline=None)
@given(pdu=st.binary(max_size=60))
def test_describe_never_raises(layer: str, pdu: bytes) -> None:
    assert isinstance(S.describe(layer, pdu), str)
