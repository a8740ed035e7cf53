"""The nRF5 application image: a bonded peripheral with a protected characteristic and the
legacy buttonless DFU entry (nRF5 SDK 11 ``ble_app_hrs`` with ``dfu_app_handler``)."""

from __future__ import annotations

from fuzzer.emulator.bonds import BondStore, pack_peer_data
from fuzzer.emulator.firmware import Firmware
from fuzzer.emulator.gatt import AUTHENTICATED, ENCRYPTED, OPEN, Attribute, LinkSecurity
from fuzzer.emulator.smp import SecurityConfig
from fuzzer.emulator.weak import WeakCallback
from fuzzer.protocol import gatt, ll, nordic_dfu

# nRF5 SDK 11 bootloader_types.h: GPREGRET value that makes the bootloader enter DFU mode
BOOTLOADER_DFU_START = 0xB1
# ble_dfu.c: a Control Point write with notifications disabled is refused with this ATT error
CCCD_IMPROPERLY_CONFIGURED = 0xFD
INSUFFICIENT_AUTHORIZATION = 0x08  # ATT error (Vol 3 Part F 3.4.1.1)
HEART_RATE_SERVICE = 0x180D
BODY_SENSOR_LOCATION = 0x2A38
SERIAL_NUMBER_STRING = 0x2A25
APP_DFU_REVISION = 0x0001  # DFU Version read in application mode (buttonless)
RESET_DELAY_US = 20_000
# Attribute types and advertising data as on air (Assigned Numbers; Core Supplement Part A 1.1)
HEART_RATE_SERVICE_UUID = gatt.uuid16(HEART_RATE_SERVICE)
BODY_SENSOR_LOCATION_UUID = gatt.uuid16(BODY_SENSOR_LOCATION)
DEVICE_INFORMATION_SERVICE_UUID = gatt.uuid16(gatt.DEVICE_INFORMATION_SERVICE)
SERIAL_NUMBER_STRING_UUID = gatt.uuid16(SERIAL_NUMBER_STRING)
_SERVICES_AD = ll.encode_ad(ll.COMPLETE_16, HEART_RATE_SERVICE_UUID)
_APP_DFU_REVISION = APP_DFU_REVISION.to_bytes(2, "little")


class NordicApplication(Firmware):
    """The product's application: bonds with phones and enters DFU mode on request."""

    kind = "application"
    STATIC_BUILD = True

    def identity(self) -> tuple[bytes, int]:
        return self.device.address, self.device.address_type

    def local_name(self) -> str:
        return self.profile.application.name

    def adv_uuids(self) -> bytes:
        return _SERVICES_AD

    def make_bonds(self) -> BondStore:
        device = self.device
        return device.components["bonds"](device.flash, "app_bonds")

    def security_config(self) -> SecurityConfig:
        return self.device.security_config()

    def build_gatt(self, db) -> None:
        db.add_service(HEART_RATE_SERVICE_UUID)
        # An attribute that requires an encrypted link (security mode 1 level 2)
        self.protected = db.add_characteristic(
            BODY_SENSOR_LOCATION_UUID, gatt.PROP_READ, b"\x01", read=ENCRYPTED)
        if self.profile.application.buttonless_dfu:
            db.add_service(nordic_dfu.SERVICE_UUID_BYTES)
            db.add_characteristic(nordic_dfu.PACKET_UUID_BYTES, gatt.PROP_WRITE_WITHOUT_RESPONSE,
                                  write=OPEN)
            # With bond sharing only a bonded, encrypted peer may start DFU: otherwise there is
            # no bond to hand over and the bootloader would refuse every bonded phone.
            entry = ENCRYPTED if self.profile.bootloader.bond_policy == "shared" else OPEN
            self.control_point = db.add_characteristic(
                nordic_dfu.CONTROL_POINT_UUID_BYTES, gatt.PROP_WRITE | gatt.PROP_NOTIFY,
                write=entry, on_write=WeakCallback(self._on_control_point), read="never", cccd=True)
            db.add_characteristic(nordic_dfu.VERSION_UUID_BYTES, gatt.PROP_READ,
                                  _APP_DFU_REVISION)
        # An attribute that needs MITM-protected keys (security mode 1 level 3)
        db.add_service(DEVICE_INFORMATION_SERVICE_UUID)
        self.authenticated_only = db.add_characteristic(
            SERIAL_NUMBER_STRING_UUID, gatt.PROP_READ, b"SN-0001", read=AUTHENTICATED)

    def _on_control_point(self, attr: Attribute, value: bytes, sec: LinkSecurity) -> int | None:
        cccd = self.db.get(attr.handle + 1)
        if cccd is None or cccd.value[:1] != b"\x01":
            return CCCD_IMPROPERLY_CONFIGURED
        if self.profile.bootloader.bond_policy == "shared" and (
                not sec.encrypted or self.host is None or self.host.current_bond is None):
            # Bond sharing hands the peer's bond to the bootloader: only a bonded peer on an
            # encrypted link is authorized to start DFU (an unbonded one would leave nothing to
            # share); the application's own authorization, not a security level.
            return INSUFFICIENT_AUTHORIZATION
        if value[:1] == bytes([nordic_dfu.START_DFU]):
            # dfu_app_handler.c bootloader_start(): prepare, hand over, reset into the bootloader
            self.device.clock.schedule(RESET_DELAY_US, self._enter_bootloader)
            return None
        # Any other opcode in application mode: answered with Not Supported
        self.att.notify(attr, bytes((nordic_dfu.RESPONSE, value[0] if value else 0,
                                     nordic_dfu.RESP_NOT_SUPPORTED)))
        return None

    def share_bond(self) -> None:
        """Hand the current peer's bond to the bootloader (bond-sharing builds only)."""
        # dfu_app_handler.c: the device manager's keys of the connected peer, if it is bonded
        bond = self.host.current_bond if self.host else None
        if bond is not None:
            self.device.ram.noinit = pack_peer_data(bond)

    def _enter_bootloader(self) -> None:
        if self.device.firmware is not self:
            return
        if self.profile.bootloader.bond_policy == "shared":
            self.share_bond()
        self.device.ram.gpregret = BOOTLOADER_DFU_START
        if self.ll is not None and self.ll.connection is not None:
            self.ll.disconnect(ll.REMOTE_USER_TERMINATED)
        self.device.soft_reset()
