"""ATT specifics not expressible via scapy, list-parameter helpers and constants (Vol 3 Part F)."""

from __future__ import annotations

import uuid

from hypothesis import given, settings
from hypothesis import strategies as st

from fuzzer.protocol import att
from fuzzer.protocol import scapy_layers as S
from fuzzer.protocol.att import ATT
from fuzzer.protocol.gatt import uuid128_le
from fuzzer.protocol.nordic_dfu import CONTROL_POINT_UUID, CONTROL_POINT_UUID_LE


def test_read_by_group_type_request_128bit_spec_bytes() -> None:
    # scapy's ATT_Read_By_Group_Type_Request only knows 16-bit UUIDs: check
    # against the spec layout (3.4.4.9): 10 | start | end | UUID (16 octets LE)
    u = CONTROL_POINT_UUID_LE
    pdu = ATT.encode("Read By Group Type Request", starting_handle=1, ending_handle=0xFFFF,
                     attribute_group_type=u)
    assert pdu == b"\x10\x01\x00\xff\xff" + u
    assert ATT.decode(pdu).fields == {"starting_handle": 1, "ending_handle": 0xFFFF,
                                      "attribute_group_type": u}
    assert uuid.UUID(bytes=u[::-1]) == CONTROL_POINT_UUID


def test_find_information_response_other_format() -> None:
    # format values other than 1/2 are reserved; scapy then leaves the data as Raw,
    # we keep it in 'data' (fuzzing input)
    pdu = bytes.fromhex("0503aabbcc")
    assert ATT.decode(pdu).fields == {"format": 3, "data": b"\xaa\xbb\xcc"}
    assert S.Raw in S.to_scapy("att", pdu)
    assert att.parse_find_information_data(3, b"\xaa\xbb\xcc\xdd") is None


def test_spec_examples() -> None:
    assert ATT.encode("Exchange MTU Request", mtu=247) == b"\x02\xf7\x00"
    assert ATT.encode("Read Request", attribute_handle=3) == b"\x0a\x03\x00"
    assert ATT.encode("Error Response", request_opcode_in_error=att.READ_REQ,
                      attribute_handle_in_error=3,
                      error_code=att.INSUFFICIENT_AUTHENTICATION) == bytes.fromhex("010a030005")
    assert ATT.encode("Write Request", attribute_handle=0x0010, value=b"\x01\x00") \
        == bytes.fromhex("1210000100")
    assert ATT.encode("Signed Write Command", attribute_handle=2, value=b"v", sign_counter=1,
                      signature=bytes(8)) == bytes.fromhex("d2020076" "01000000") + bytes(8)
    assert ATT.encode("Read By Type Request", starting_handle=1, ending_handle=0xFFFF,
                      attribute_type=b"\x03\x28") == bytes.fromhex("080100ffff0328")
    assert att.WRITE_CMD & att.COMMAND_FLAG and att.SIGNED_WRITE_CMD & 0x80
    assert att.RESPONSE_FOR[att.READ_REQ] == att.READ_RSP


def test_error_codes() -> None:
    expect = {
        "INVALID_HANDLE": 0x01, "READ_NOT_PERMITTED": 0x02, "WRITE_NOT_PERMITTED": 0x03,
        "INVALID_PDU": 0x04, "INSUFFICIENT_AUTHENTICATION": 0x05,
        "REQUEST_NOT_SUPPORTED": 0x06, "INVALID_OFFSET": 0x07,
        "INSUFFICIENT_AUTHORIZATION": 0x08, "PREPARE_QUEUE_FULL": 0x09,
        "ATTRIBUTE_NOT_FOUND": 0x0A, "ATTRIBUTE_NOT_LONG": 0x0B,
        "INSUFFICIENT_ENCRYPTION_KEY_SIZE": 0x0C, "INVALID_ATTRIBUTE_VALUE_LENGTH": 0x0D,
        "UNLIKELY_ERROR": 0x0E, "INSUFFICIENT_ENCRYPTION": 0x0F,
        "UNSUPPORTED_GROUP_TYPE": 0x10, "INSUFFICIENT_RESOURCES": 0x11,
    }
    for name, code in expect.items():
        assert getattr(att, name) == code and att.ERROR_NAMES[code] == name
    assert att.error_name(0x85) == "APPLICATION_ERROR_0x85"
    assert att.error_name(0x50) == "0x50"


def test_list_helpers() -> None:
    assert att.parse_find_information_data(1, bytes.fromhex("0100002802000328")) == [
        (1, b"\x00\x28"), (2, b"\x03\x28")]
    u = uuid128_le(CONTROL_POINT_UUID)
    assert att.parse_find_information_data(2, b"\x05\x00" + u) == [(5, u)]
    assert att.parse_find_information_data(1, b"\x01\x00\x00") is None
    assert att.parse_handles_information(bytes.fromhex("01000500")) == [(1, 5)]
    assert att.parse_read_by_type_data(7, bytes.fromhex("02000a03002a00")) == [
        (2, bytes.fromhex("0a03002a00"))]
    assert att.parse_read_by_type_data(7, bytes(8)) is None
    assert att.parse_read_by_group_type_data(6, bytes.fromhex("010005000018")) == [
        (1, 5, b"\x00\x18")]
    assert att.parse_read_by_group_type_data(3, bytes(6)) is None
    assert att.encode_handles([1, 0x1234]) == b"\x01\x00\x34\x12"
    assert att.parse_handles(b"\x01\x00\x34\x12") == [1, 0x1234]
    assert att.parse_handles(b"\x01") is None


@settings(max_examples=200, deadline=None)
@given(n=st.integers(0, 255), data=st.binary(max_size=60))
def test_list_helpers_never_raise(n: int, data: bytes) -> None:
    att.parse_find_information_data(n, data)
    att.parse_handles_information(data)
    att.parse_read_by_type_data(n, data)
    att.parse_read_by_group_type_data(n, data)
    att.parse_handles(data)
