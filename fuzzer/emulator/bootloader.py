"""The legacy DFU bootloader (nRF5 SDK 11 ``bootloader_dfu`` over BLE) and its bond policies.

After a buttonless entry (GPREGRET = BOOTLOADER_DFU_START) or with no valid application, it
advertises the Legacy DFU service. What it does about the application's bond is the profile's
``bond_policy``:

- ``none``: same address, no bond (the custom bootloader of the seed story; a bonded iPhone
  starts encryption and gets LL_REJECT_IND 0x06);
- ``shared``: the application hands its peer data over in ``.noinit`` RAM with a CRC
  (SDK 11 ``dfu_ble_peer_data_t``); same address; encryption with the shared LTK;
- ``new-identity``: address with its first (least significant) octet + 1 and name ``DfuTarg``,
  no bond (SDK 11 ``dfu_transport_ble.c`` ``gap_address_change``).

Leaving DFU mode (Control Point RESET_SYSTEM, or the inactivity timeout) resets into the
application, whose bonds in flash are untouched.
"""

from __future__ import annotations

from fuzzer.emulator.application import BOOTLOADER_DFU_START
from fuzzer.emulator.bonds import BondStore, unpack_peer_data
from fuzzer.emulator.firmware import Firmware
from fuzzer.emulator.gatt import OPEN, Attribute, LinkSecurity
from fuzzer.emulator.smp import SecurityConfig
from fuzzer.emulator.weak import WeakCallback
from fuzzer.protocol import gatt, ll, nordic_dfu

BOOTLOADER_DFU_REVISION = 0x0008  # DFU Version in bootloader mode (SDK 7 and later)
_BOOTLOADER_DFU_REVISION = BOOTLOADER_DFU_REVISION.to_bytes(2, "little")
_SERVICES_AD = ll.encode_ad(ll.COMPLETE_128, nordic_dfu.SERVICE_UUID_BYTES)


class LegacyBootloader(Firmware):
    """Legacy DFU bootloader; the control point here handles what leaving DFU mode needs."""

    kind = "bootloader"
    STATIC_BUILD = True
    FLAWS = {
        "bootloader-keeps-gpregret": "does not clear GPREGRET, so every reset re-enters DFU mode",
        "bootloader-no-whitelist": "after bond sharing, lets any central connect instead of only "
                                   "the shared peer",
    }

    def should_enter_dfu(self) -> bool:
        """Bootloader start-up decision (SDK 11 bootloader main.c)."""
        ram = self.device.ram
        enter = ram.gpregret == BOOTLOADER_DFU_START or not self.device.app_valid()
        if "bootloader-keeps-gpregret" not in self.flaws:
            ram.gpregret = 0
        return enter

    def identity(self) -> tuple[bytes, int]:
        address = self.device.address
        if self.profile.bootloader.bond_policy == "new-identity":
            address = bytes([(address[0] + 1) & 0xFF]) + address[1:]
        return address, self.device.address_type

    def local_name(self) -> str:
        return self.profile.bootloader.name

    def adv_uuids(self) -> bytes:
        return _SERVICES_AD

    def make_bonds(self) -> BondStore:
        store = self.device.components["bonds"](None, "bootloader_bonds")
        if self.profile.bootloader.bond_policy == "shared":
            bond = unpack_peer_data(self.device.ram.noinit)
            if bond is not None:
                store.add(bond)
        return store

    def security_config(self) -> SecurityConfig:
        cfg = self.device.security_config()
        cfg.pairing = self.profile.bootloader.pairing
        return cfg

    def build_gatt(self, db) -> None:
        db.add_service(nordic_dfu.SERVICE_UUID_BYTES)
        db.add_characteristic(nordic_dfu.PACKET_UUID_BYTES, gatt.PROP_WRITE_WITHOUT_RESPONSE,
                              write=OPEN)
        self.control_point = db.add_characteristic(
            nordic_dfu.CONTROL_POINT_UUID_BYTES, gatt.PROP_WRITE | gatt.PROP_NOTIFY, write=OPEN,
            on_write=WeakCallback(self._on_control_point), read="never", cccd=True)
        db.add_characteristic(nordic_dfu.VERSION_UUID_BYTES, gatt.PROP_READ,
                              _BOOTLOADER_DFU_REVISION)

    def start(self) -> None:
        super().start()
        if (self.profile.bootloader.bond_policy == "shared" and self.bonds.bonds
                and "bootloader-no-whitelist" not in self.flaws):
            # SDK 11 dfu_transport_ble.c with bond sharing: advertise with a whitelist of the
            # shared peer, so only the phone that started the update can connect.
            peer = self.bonds.bonds[0]
            self.ll.whitelist = {(peer.peer_address, peer.peer_address_type)}
        self._timer = None
        self._restart_inactivity_timer()

    def _restart_inactivity_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        timeout = self.profile.bootloader.dfu_timeout_s * 1_000_000
        self._timer = self.device.clock.schedule(timeout, self._on_inactivity)

    def _on_inactivity(self) -> None:
        # SDK 11 dfu_transport_ble.c: DFU timeout -> reset; the application starts if valid
        if self.device.firmware is self:
            self._leave()

    def _on_control_point(self, attr: Attribute, value: bytes, sec: LinkSecurity) -> int | None:
        self._restart_inactivity_timer()
        if not value:
            return None
        opcode = value[0]
        if opcode == nordic_dfu.RESET_SYSTEM:
            self.device.clock.schedule(20_000, self._leave)
            return None
        # The image transfer itself (START_DFU ... ACTIVATE) arrives with the DFU issue.
        self.att.notify(attr, bytes((nordic_dfu.RESPONSE, opcode, nordic_dfu.RESP_NOT_SUPPORTED)))
        return None

    def _leave(self) -> None:
        if self.device.firmware is not self:
            return
        if self._timer is not None:
            self._timer.cancel()
        if self.ll is not None and self.ll.connection is not None:
            self.ll.disconnect(ll.REMOTE_USER_TERMINATED)
        self.device.soft_reset()
