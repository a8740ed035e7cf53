"""GATT UUID helpers and declarations (Vol 3 Part B 2.5.1, Part G 3)."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fuzzer.protocol import gatt
from fuzzer.protocol.nordic_dfu import CONTROL_POINT_UUID


def test_uuid_conversions() -> None:
    hr = gatt.uuid16_to_uuid128(0x180D)
    assert str(hr) == "0000180d-0000-1000-8000-00805f9b34fb"
    assert gatt.uuid128_to_uuid16(hr) == 0x180D
    assert gatt.uuid128_to_uuid16(str(hr)) == 0x180D
    assert gatt.uuid128_to_uuid16(CONTROL_POINT_UUID) is None
    assert gatt.uuid_to_le(0x2800) == b"\x00\x28"
    assert gatt.uuid_to_le(hr) == b"\x0d\x18"
    assert gatt.uuid_to_le(0x2800, force_128=True) == gatt.uuid128_le(0x2800)
    assert gatt.uuid128_le(0x2800) == hr.bytes[::-1].replace(b"\x0d\x18", b"\x00\x28")
    assert gatt.uuid_to_le(CONTROL_POINT_UUID) == CONTROL_POINT_UUID.bytes[::-1]
    assert gatt.uuid_from_le(b"\x00\x28", shorten=True) == 0x2800
    assert gatt.uuid_from_le(gatt.uuid128_le(0x2A00), shorten=True) == 0x2A00
    assert gatt.uuid_from_le(CONTROL_POINT_UUID.bytes[::-1]) == CONTROL_POINT_UUID
    assert gatt.to_uuid128(b"\x00\x28") == gatt.uuid16_to_uuid128(0x2800)
    with pytest.raises(ValueError):
        gatt.uuid_from_le(b"\x00")
    with pytest.raises(ValueError):
        gatt.to_uuid128(True)


@settings(max_examples=100, deadline=None)
@given(u16=st.integers(0, 0xFFFF), raw=st.binary(min_size=16, max_size=16))
def test_uuid_round_trips(u16: int, raw: bytes) -> None:
    assert gatt.uuid128_to_uuid16(gatt.uuid16_to_uuid128(u16)) == u16
    assert gatt.uuid_from_le(gatt.uuid_to_le(u16), shorten=True) == u16
    u = uuid.UUID(bytes=raw)
    assert gatt.uuid128_le(u) == raw[::-1]
    assert gatt.to_uuid128(gatt.uuid_from_le(gatt.uuid_to_le(u))) == u


def test_constants_and_declarations() -> None:
    assert (gatt.PRIMARY_SERVICE, gatt.SECONDARY_SERVICE, gatt.INCLUDE, gatt.CHARACTERISTIC,
            gatt.CCCD) == (0x2800, 0x2801, 0x2802, 0x2803, 0x2902)
    assert (gatt.DEVICE_NAME, gatt.APPEARANCE, gatt.SERVICE_CHANGED) == (0x2A00, 0x2A01, 0x2A05)
    assert (gatt.GAP_SERVICE, gatt.GATT_SERVICE) == (0x1800, 0x1801)
    v = gatt.encode_characteristic_declaration(gatt.PROP_READ | gatt.PROP_NOTIFY, 3, 0x2A37)
    assert v == bytes.fromhex("120300372a")
    assert gatt.decode_characteristic_declaration(v) == {
        "properties": 0x12, "value_handle": 3, "uuid": 0x2A37}
    v2 = gatt.encode_characteristic_declaration(gatt.PROP_WRITE, 0x10, CONTROL_POINT_UUID)
    assert len(v2) == 19
    assert gatt.decode_characteristic_declaration(v2)["uuid"] == CONTROL_POINT_UUID
    assert gatt.decode_characteristic_declaration(b"\x00") is None
    assert gatt.property_names(0x12) == ["read", "notify"]
