"""The emulated nRF5 device: boot, buttonless DFU entry, bootloader identity and bond policy,
leaving DFU mode, retained RAM versus flash, the DFU inactivity timeout, and peer data."""

from __future__ import annotations

import dataclasses
import random
import time

import pytest
from test_emulator_common import (
    BOND_SHARING,
    CUSTOM_BOOTLOADER,
    DEVICE_ADDRESS,
    IPHONE,
    NEW_IDENTITY,
    SECOND_PHONE,
    Session,
    builtin,
    device_pdus,
    write_profile,
)

from fuzzer.emulator.application import BOOTLOADER_DFU_START, CCCD_IMPROPERLY_CONFIGURED
from fuzzer.emulator.bonds import Bond, BondStore, pack_peer_data, unpack_peer_data
from fuzzer.emulator.device import Device
from fuzzer.emulator.memory import crc16_ccitt
from fuzzer.engine.procedures import discover_characteristics
from fuzzer.profiles import resolve_profile
from fuzzer.protocol import address as bdaddr
from fuzzer.protocol import att, nordic_dfu
from fuzzer.trace import events as ev


def _bonded_session(profile: str = BOND_SHARING, seed: int = 0) -> Session:
    """The iPhone has paired and bonded with the application, then reconnected encrypted."""
    s = Session(profile, seed=seed, peers={"iphone": IPHONE, "second_phone": SECOND_PHONE})
    s.connect(to="app")
    s.proc("pair")
    assert s.events(ev.BOND), "pairing did not produce a bond"
    s.step("disconnect")
    s.proc("reconnect_bonded", peer="iphone")
    assert s.target.link is not None and s.target.link.encrypted
    return s


def _sample_bond() -> Bond:
    return Bond(peer_address=bytes.fromhex("303132333435"), peer_address_type=1,
                ltk=bytes(range(16)), ediv=0xBEEF, rand=bytes.fromhex("0102030405060708"),
                key_size=12, authenticated=True, peer_irk=bytes(range(16, 32)),
                sys_attr=bytes.fromhex("aabbccddeeff0011"))


# --- boot ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", [BOND_SHARING, CUSTOM_BOOTLOADER, NEW_IDENTITY])
def test_boots_into_the_application(name):
    dev = Device(builtin(name))
    assert dev.mode == "application"
    assert dev.boots == 1
    assert dev.ram.gpregret == 0
    assert dev.link_layer is not None and dev.link_layer.advertising
    assert dev.link_layer.address == bdaddr.to_bytes(DEVICE_ADDRESS)
    s = Session(name)
    adv = s.adv()
    assert adv.info["address"] == DEVICE_ADDRESS
    assert adv.info["name"] == "Nordic_HRM"


# --- buttonless entry ----------------------------------------------------------------------------

def test_buttonless_entry_resets_into_bootloader_and_consumes_gpregret():
    s = Session(CUSTOM_BOOTLOADER)
    s.connect(to="app")
    app = s.firmware
    s.proc("enter_dfu")
    assert s.device.mode == "bootloader"
    assert s.firmware is not app
    assert s.device.boots == 2
    assert s.device.ram.gpregret == 0  # the bootloader read BOOTLOADER_DFU_START and cleared it
    assert not s.target.connected  # the application dropped the link before resetting
    adv = s.adv()
    assert adv.info["name"] == "DfuTarg"
    assert nordic_dfu.SERVICE_UUID_BYTES in adv.data


def test_gpregret_is_what_sends_the_bootloader_into_dfu(tmp_path):
    # With the bootloader flaw that never clears GPREGRET, 0xB1 is still there after the entry,
    # which shows the application wrote it; every later soft reset then re-enters DFU mode.
    path = write_profile(tmp_path, "sticky", flaws=["bootloader-keeps-gpregret"])
    s = Session(resolve_profile(str(path)))
    s.connect(to="app")
    s.proc("pair")  # with bond sharing the entry needs a bonded, encrypted link
    s.proc("enter_dfu")
    assert s.device.mode == "bootloader"
    assert s.device.ram.gpregret == BOOTLOADER_DFU_START
    s.device.soft_reset()
    assert s.device.mode == "bootloader"


def test_start_dfu_needs_notifications_enabled():
    s = Session(CUSTOM_BOOTLOADER)
    s.connect(to="app")
    cp = next(d["value_handle"] for d in discover_characteristics(s.runner)
              if d["uuid"] == nordic_dfu.CONTROL_POINT_UUID)
    events = s.att("Write Request", attribute_handle=cp,
                   value=bytes((nordic_dfu.START_DFU, nordic_dfu.IMAGE_APPLICATION)))
    rsp = [att.ATT.decode(e.data) for e in device_pdus(events, "att")]
    assert rsp and rsp[0].name == "Error Response"
    assert rsp[0].fields["error_code"] == CCCD_IMPROPERLY_CONFIGURED
    s.step("wait", seconds=1)
    assert s.device.mode == "application"
    assert s.target.connected


# --- bootloader identity per bond policy ---------------------------------------------------------

def test_bootloader_identity_policy_none_same_address_no_bond():
    s = _bonded_session(CUSTOM_BOOTLOADER)
    s.proc("enter_dfu")
    adv = s.adv()
    assert adv.info["address"] == DEVICE_ADDRESS
    assert adv.info["name"] == "DfuTarg"
    assert s.firmware.bonds.bonds == []


def test_bootloader_identity_policy_new_identity_first_octet_plus_one():
    s = _bonded_session(NEW_IDENTITY)
    s.proc("enter_dfu")
    assert s.device.mode == "bootloader"
    adv = s.adv()
    # the first octet on air is the least significant one: ...:22:33 -> ...:22:34
    assert adv.info["address"] == "C2:5A:3B:11:22:34"
    assert adv.info["name"] == "DfuTarg"
    assert s.device.link_layer.address[0] == bdaddr.to_bytes(DEVICE_ADDRESS)[0] + 1
    assert s.device.link_layer.address[1:] == bdaddr.to_bytes(DEVICE_ADDRESS)[1:]
    assert s.firmware.bonds.bonds == []


def test_bootloader_identity_policy_shared_loads_bond_from_retained_ram():
    s = _bonded_session(BOND_SHARING)
    app_bond = s.firmware.bonds.bonds[-1]
    s.proc("enter_dfu")
    assert s.device.mode == "bootloader"
    adv = s.adv()
    assert adv.info["address"] == DEVICE_ADDRESS
    # the application left the peer data with a valid CRC in .noinit RAM
    assert unpack_peer_data(s.device.ram.noinit) is not None
    shared = s.firmware.bonds.bonds
    assert len(shared) == 1
    assert shared[0].ltk == app_bond.ltk
    assert (shared[0].ediv, shared[0].rand) == (app_bond.ediv, app_bond.rand)
    assert shared[0].peer_address == bdaddr.to_bytes(IPHONE)
    # and the bonded iPhone can encrypt with it in DFU mode
    s.proc("connect", peer="iphone", to="dfu")
    assert s.target.link is not None and s.target.link.encrypted


def test_bond_shared_when_dfu_is_entered_on_the_pairing_link():
    s = Session(BOND_SHARING)
    s.connect(to="app")
    s.proc("pair")
    s.proc("enter_dfu")
    assert s.device.mode == "bootloader"
    assert len(s.firmware.bonds.bonds) == 1


def _shared_boot(noinit: bytes) -> Device:
    dev = Device(builtin(BOND_SHARING))
    dev.ram.noinit = noinit
    dev.ram.gpregret = BOOTLOADER_DFU_START
    dev.soft_reset()
    assert dev.mode == "bootloader"
    return dev


def test_shared_bond_with_valid_crc_is_loaded():
    bond = _sample_bond()
    dev = _shared_boot(pack_peer_data(bond))
    assert [b.ltk for b in dev.firmware.bonds.bonds] == [bond.ltk]
    assert dev.firmware.host.lookup_bond(bond.rand, bond.ediv) is not None


@pytest.mark.parametrize("where", [0, 20, -1])
def test_shared_bond_with_corrupted_crc_gives_no_bond(where):
    raw = bytearray(pack_peer_data(_sample_bond()))
    raw[where] ^= 0x01
    dev = _shared_boot(bytes(raw))
    assert dev.firmware.bonds.bonds == []
    assert dev.firmware.host.lookup_bond(_sample_bond().rand, _sample_bond().ediv) is None


# --- leaving DFU mode ----------------------------------------------------------------------------

@pytest.mark.parametrize("name", [BOND_SHARING, CUSTOM_BOOTLOADER, NEW_IDENTITY])
def test_reset_system_returns_to_application_with_flash_bonds(name):
    s = _bonded_session(name)
    before = [b.pack() for b in s.firmware.bonds.bonds]
    assert before
    s.proc("enter_dfu")
    assert s.device.mode == "bootloader"
    # an unbonded phone leaves DFU mode (a bonded iPhone drops the link under policy none; a
    # bond-sharing bootloader lets only the shared peer connect)
    s.proc("connect", peer="iphone" if name == BOND_SHARING else "second_phone", to="dfu")
    s.proc("leave_dfu")
    assert s.device.mode == "application"
    assert s.device.boots == 3
    assert [b.pack() for b in s.firmware.bonds.bonds] == before
    s.step("wait", seconds=0.1)
    s.proc("reconnect_bonded", peer="iphone")
    assert s.target.link is not None and s.target.link.encrypted


# --- retained RAM and flash ----------------------------------------------------------------------

def test_power_cycle_clears_retained_ram_but_keeps_flash_bonds():
    s = _bonded_session(BOND_SHARING)
    bonds = [b.pack() for b in s.firmware.bonds.bonds]
    s.step("disconnect")
    s.device.ram.gpregret = BOOTLOADER_DFU_START
    s.device.ram.noinit = pack_peer_data(_sample_bond())
    events = s.step("power_cycle")
    assert [e.kind for e in events] == [ev.RESET]
    assert s.device.ram.gpregret == 0
    assert s.device.ram.noinit == b""
    assert s.device.mode == "application"  # GPREGRET was gone before the bootloader read it
    assert [b.pack() for b in s.firmware.bonds.bonds] == bonds
    assert [b.pack() for b in BondStore(s.device.flash, "app_bonds").bonds] == bonds


def test_soft_reset_keeps_retained_ram():
    dev = Device(builtin(BOND_SHARING))
    dev.ram.noinit = b"peer data"
    dev.soft_reset()
    assert dev.ram.noinit == b"peer data"
    dev.power_cycle()
    assert dev.ram.noinit == b""


def test_power_cycle_while_connected_drops_the_link():
    s = Session(BOND_SHARING)
    s.connect(to="app")
    events = s.step("power_cycle")
    assert any(e.kind == ev.DISCONNECT for e in events)
    assert not s.target.connected
    assert s.adv().info["name"] == "Nordic_HRM"


# --- DFU inactivity timeout ----------------------------------------------------------------------

def test_dfu_inactivity_timeout_on_the_virtual_clock(tmp_path):
    path = write_profile(tmp_path, "quick", bootloader={"dfu_timeout_s": 5})
    dev = Device(resolve_profile(str(path)))
    dev.ram.gpregret = BOOTLOADER_DFU_START
    dev.soft_reset()
    assert dev.mode == "bootloader"
    started = time.monotonic()
    dev.clock.advance(5_000_000 - 1)
    assert dev.mode == "bootloader"
    dev.clock.advance(1)
    assert dev.mode == "application"
    assert time.monotonic() - started < 1.0


def test_dfu_inactivity_timeout_through_wait_steps():
    s = Session(CUSTOM_BOOTLOADER)
    timeout = s.device.profile.bootloader.dfu_timeout_s
    assert timeout == 120  # the profile default
    s.enter_bootloader()
    started = time.monotonic()
    s.step("wait", seconds=timeout - 1)
    assert s.adv().info["name"] == "DfuTarg"
    s.step("wait", seconds=2)
    assert s.adv().info["name"] == "Nordic_HRM"
    assert s.device.mode == "application"
    assert s.target.now_us >= timeout * 1_000_000
    assert time.monotonic() - started < 2.0


def test_control_point_activity_restarts_the_inactivity_timer():
    s = Session(CUSTOM_BOOTLOADER)
    s.enter_bootloader()
    s.step("wait", seconds=100)
    s.connect(to="dfu")
    cp = next(d["value_handle"] for d in discover_characteristics(s.runner)
              if d["uuid"] == nordic_dfu.CONTROL_POINT_UUID)
    s.att("Write Request", attribute_handle=cp, value=bytes((nordic_dfu.INITIALIZE_DFU,)))
    s.step("wait", seconds=60)  # 160 s after the reset, 60 s after the last activity
    assert s.device.mode == "bootloader"
    s.step("wait", seconds=61)
    assert s.device.mode == "application"


# --- bonds ---------------------------------------------------------------------------------------

def test_peer_data_round_trip():
    bond = _sample_bond()
    raw = pack_peer_data(bond)
    back = unpack_peer_data(raw)
    assert back is not None
    for f in ("peer_address", "peer_address_type", "ltk", "ediv", "rand", "key_size",
              "authenticated", "peer_irk", "sys_attr"):
        assert getattr(back, f) == getattr(bond, f), f
    assert back == bond


@pytest.mark.parametrize("key_size,authenticated", [(7, False), (16, False), (16, True)])
def test_peer_data_key_info_octet(key_size, authenticated):
    bond = dataclasses.replace(_sample_bond(), key_size=key_size, authenticated=authenticated)
    back = unpack_peer_data(pack_peer_data(bond))
    assert back is not None
    assert (back.key_size, back.authenticated) == (key_size, authenticated)


def test_peer_data_rejects_wrong_length_and_absent():
    raw = pack_peer_data(_sample_bond())
    assert unpack_peer_data(b"") is None
    assert unpack_peer_data(raw[:-1]) is None
    assert unpack_peer_data(raw + b"\0") is None


def test_bond_record_round_trip_through_flash():
    dev = Device(builtin(BOND_SHARING))
    store = BondStore(dev.flash, "test_bonds")
    bond = dataclasses.replace(_sample_bond(), peer_ltk=bytes(range(100, 116)),
                               secure_connections=True)
    store.add(bond)
    again = BondStore(dev.flash, "test_bonds")
    assert again.bonds == [bond]
    # the same peer replaces its old bond
    store.add(dataclasses.replace(bond, ltk=bytes(16)))
    assert [b.ltk for b in BondStore(dev.flash, "test_bonds").bonds] == [bytes(16)]


def test_bond_sharing_entry_needs_an_encrypted_link():
    """With bond sharing an unbonded central cannot start DFU: there would be no bond to share."""
    from fuzzer.engine.runner import ProcedureFailed

    s = Session(BOND_SHARING)
    s.connect(to="app")
    with pytest.raises(ProcedureFailed, match="refused"):
        s.proc("enter_dfu")
    assert s.device.mode == "application"
    s.proc("pair")
    s.proc("enter_dfu")
    assert s.device.mode == "bootloader"


def test_attribute_copy_for_copies_every_field_and_rebinds_callbacks() -> None:
    """copy_for builds its copy field by field: a field added to Attribute must be copied too,
    and the copy's callbacks call the new owner."""
    from fuzzer.emulator.gatt import Attribute
    from fuzzer.emulator.weak import WeakCallback

    class Owner:
        def __init__(self, tag: bytes) -> None:
            self.tag = tag

        def on_read(self, attr: Attribute, security: object) -> bytes:
            return self.tag

    first, second = Owner(b"first"), Owner(b"second")
    values = {f.name: f"value of {f.name}" for f in dataclasses.fields(Attribute)}
    values["on_read"] = WeakCallback(first.on_read)
    values["on_write"] = None
    original = Attribute(**values)
    copy = original.copy_for(second)
    for f in dataclasses.fields(Attribute):
        if f.name != "on_read":
            assert getattr(copy, f.name) == getattr(original, f.name), f.name
    assert copy.on_read(copy, None) == b"second"
    assert original.on_read(original, None) == b"first"



def test_weak_callback_bound_to_is_the_method_bound_anew_and_stays_weak() -> None:
    """bound_to builds its copy slot by slot: it must hold every slot a WeakCallback made
    from the bound method holds, call the new object, and not keep it alive."""
    import gc

    from fuzzer.emulator.weak import WeakCallback

    class Owner:
        def __init__(self, tag: str) -> None:
            self.tag = tag

        def hello(self, who: str) -> str:
            return f"{self.tag} greets {who}"

    first, second = Owner("first"), Owner("second")
    made = WeakCallback(second.hello)
    rebound = WeakCallback(first.hello).bound_to(second)
    for slot in WeakCallback.__slots__:
        assert hasattr(rebound, slot), slot
    assert rebound.func is made.func
    assert rebound.owner is second and rebound("you") == made("you") == "second greets you"
    del second, made
    gc.collect()
    assert rebound.owner is None and rebound("you") is None

def _nordic_crc16(data: bytes, crc: int = 0xFFFF) -> int:
    """Nordic's ``crc16_compute`` (components/libraries/crc16/crc16.c), byte by byte."""
    for byte in data:
        crc = ((crc >> 8) & 0xFF) | ((crc << 8) & 0xFFFF)
        crc ^= byte
        crc ^= (crc & 0xFF) >> 4
        crc ^= (crc << 12) & 0xFFFF
        crc ^= ((crc & 0xFF) << 5) & 0xFFFF
    return crc & 0xFFFF


def test_crc16_is_nordics_crc16_compute():
    assert crc16_ccitt(b"123456789") == 0x29B1  # the CRC-16/CCITT-FALSE check value
    rng = random.Random(7)
    for _ in range(500):
        data = rng.randbytes(rng.randrange(0, 100))
        crc = rng.choice((0xFFFF, 0, rng.getrandbits(16)))
        assert crc16_ccitt(data, crc) == _nordic_crc16(data, crc)
