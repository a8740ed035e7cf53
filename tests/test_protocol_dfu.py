"""Nordic Legacy DFU service: UUIDs, control point codec, our scapy layers."""

from __future__ import annotations

import uuid

import pytest

from fuzzer.protocol import nordic_dfu as dfu
from fuzzer.protocol import scapy_layers as S
from fuzzer.protocol.nordic_dfu import DFU_CP


def test_uuids() -> None:
    assert dfu.SERVICE_UUID_STR == "00001530-1212-EFDE-1523-785FEABCD123"
    assert dfu.CONTROL_POINT_UUID_STR == "00001531-1212-EFDE-1523-785FEABCD123"
    assert dfu.PACKET_UUID_STR == "00001532-1212-EFDE-1523-785FEABCD123"
    assert dfu.VERSION_UUID_STR == "00001534-1212-EFDE-1523-785FEABCD123"
    assert dfu.SERVICE_UUID == uuid.UUID(dfu.BASE_UUID_STR)
    # LE octets as they appear in ATT (e.g. Read By Group Type Response)
    assert dfu.SERVICE_UUID_LE.hex() == "23d1bcea5f782315deef121230150000"
    assert dfu.CONTROL_POINT_UUID_LE == dfu.CONTROL_POINT_UUID.bytes[::-1]
    assert dfu.vendor_uuid(0x1532) == dfu.PACKET_UUID


def test_control_point_examples() -> None:
    assert DFU_CP.encode("START_DFU", image_type=dfu.APPLICATION) == b"\x01\x04"
    assert DFU_CP.encode("INITIALIZE_DFU", init_state=dfu.INIT_COMPLETE) == b"\x02\x01"
    assert DFU_CP.encode("RECEIVE_FIRMWARE_IMAGE") == b"\x03"
    assert DFU_CP.encode("PKT_RCPT_NOTIF_REQ", num_packets=10) == b"\x08\x0a\x00"
    d = DFU_CP.decode(b"\x10\x01\x01")
    assert d.name == "RESPONSE" and d.error is None
    assert d.fields == {"request_opcode": dfu.START_DFU, "response_value": dfu.SUCCESS,
                        "data": b""}
    r = DFU_CP.decode(b"\x10\x07\x01\x00\x10\x00\x00")  # image size report
    assert r.fields["data"] == b"\x00\x10\x00\x00"
    assert DFU_CP.decode(b"\x11\x00\x02\x00\x00").fields == {"bytes_received": 512}
    # pre-SDK-7 START_DFU had no image type octet: decodes as truncated
    assert DFU_CP.decode(b"\x01").error == "truncated: need 2 octets, got 1"
    assert dfu.encode_image_sizes(application=0x1234) == bytes(8) + b"\x34\x12\x00\x00"
    assert dfu.decode_image_sizes(dfu.encode_image_sizes(1, 2, 3)) == (1, 2, 3)
    assert dfu.decode_image_sizes(b"x") is None
    with pytest.raises(ValueError):
        dfu.encode_image_sizes(application=-1)


def test_constants() -> None:
    assert [DFU_CP.opcode_of(n) for n in DFU_CP.names] == [1, 2, 3, 4, 5, 6, 7, 8, 0x10, 0x11]
    assert all(getattr(dfu, n) == DFU_CP.opcode_of(n) for n in DFU_CP.names)
    assert (dfu.SOFTDEVICE, dfu.BOOTLOADER, dfu.SOFTDEVICE_BOOTLOADER, dfu.APPLICATION) \
        == (1, 2, 3, 4)
    assert (dfu.SUCCESS, dfu.INVALID_STATE, dfu.NOT_SUPPORTED, dfu.DATA_SIZE_EXCEEDS_LIMIT,
            dfu.CRC_ERROR, dfu.OPERATION_FAILED) == (1, 2, 3, 4, 5, 6)


def test_scapy_layers_and_lazy_reexport() -> None:
    assert dfu.DFU_Start is S.DFU_Start and dfu.DFU_CP_Hdr is S.DFU_CP_Hdr
    with pytest.raises(AttributeError):
        dfu.DFU_Nope  # noqa: B018
    p = S.DFU_CP_Hdr(b"\x01\x04")
    assert p.opcode == dfu.START_DFU and p[S.DFU_Start].image_type == dfu.APPLICATION
    assert bytes(S.DFU_CP_Hdr() / S.DFU_Response(request_opcode=4, response_value=5)) \
        == b"\x10\x04\x05"
    assert S.describe("dfu_cp", b"\x10\x04\x05") == (
        "DFU_Response request_opcode=VALIDATE_FIRMWARE response_value=CRC_ERROR data=b''")
