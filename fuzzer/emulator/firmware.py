"""What every firmware image (application or bootloader) does at boot: bring up the SoftDevice's
Link Layer and host with its own identity, GATT database and bonds, then advertise."""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING

from fuzzer.emulator.bonds import BondStore
from fuzzer.emulator.controller import LinkLayer
from fuzzer.emulator.gatt import AttServer, GattDatabase, GattTemplate
from fuzzer.emulator.host import Host
from fuzzer.emulator.smp import SecurityConfig
from fuzzer.emulator.weak import WeakCallback, weak_attribute
from fuzzer.protocol import gatt, l2cap, ll

if TYPE_CHECKING:
    from fuzzer.emulator.device import Device

# Advertising flags: LE General Discoverable, BR/EDR not supported (Core Supplement Part A 1.3)
ADV_FLAGS = 0x06
_FLAGS_AD = ll.encode_ad(ll.FLAGS, bytes([ADV_FLAGS]))

# Attribute types of the GAP and GATT services every image has (Vol 3 Part C 12, Part G 7)
GAP_SERVICE_UUID = gatt.uuid16(gatt.GAP_SERVICE)
DEVICE_NAME_UUID = gatt.uuid16(gatt.DEVICE_NAME)
APPEARANCE_UUID = gatt.uuid16(gatt.APPEARANCE)
GATT_SERVICE_UUID = gatt.uuid16(gatt.GATT_SERVICE)
SERVICE_CHANGED_UUID = gatt.uuid16(gatt.SERVICE_CHANGED)


@dataclass(frozen=True)
class _ImageBuild:
    """What an image class builds alike on every boot from one profile: its advertising data
    and GATT database (a template, and the image's attributes that name database attributes:
    (name, index) pairs); template None: the database is built on every boot."""

    adv_data: bytes
    gatt: GattTemplate | None
    fields: tuple[tuple[str, int], ...]


class Firmware:
    """Base of the application and bootloader images."""

    kind = "firmware"
    FLAWS: dict[str, str] = {}
    # Whether local_name, adv_uuids and build_gatt depend on the profile alone (and build_gatt
    # only adds attributes to the database and names some of them as attributes of the image):
    # then the first boot's advertising data and database serve later boots of the profile.
    STATIC_BUILD = False

    def __init__(self, device: Device) -> None:
        self.device = weakref.proxy(device)  # the device owns its firmware, not the reverse
        self.profile = device.profile
        self.flaws = device.flaws
        self.ll: LinkLayer | None = None
        self.host: Host | None = None

    # Subclasses say who they are --------------------------------------------------------------

    def identity(self) -> tuple[bytes, int]:
        """(address as on air, address type) to advertise with."""
        raise NotImplementedError

    def local_name(self) -> str:
        raise NotImplementedError

    def adv_uuids(self) -> bytes:
        """AD structures listing services (already encoded), or b""."""
        return b""

    def make_bonds(self) -> BondStore:
        raise NotImplementedError

    def security_config(self) -> SecurityConfig:
        raise NotImplementedError

    def build_gatt(self, db: GattDatabase) -> None:
        raise NotImplementedError

    # Boot ------------------------------------------------------------------------------------

    def adv_data(self) -> bytes:
        data = _FLAGS_AD + ll.encode_ad(ll.COMPLETE_LOCAL_NAME, self.local_name().encode())
        data += self.adv_uuids()
        if len(data) > 31:
            raise ValueError(f"advertising data of {len(data)} octets exceeds 31")
        return data

    def build_database(self) -> GattDatabase:
        """A new GATT database: the GAP and GATT services, then the image's own."""
        db = GattDatabase()
        db.add_service(GAP_SERVICE_UUID)
        db.add_characteristic(DEVICE_NAME_UUID, gatt.PROP_READ, self.local_name().encode())
        db.add_characteristic(APPEARANCE_UUID, gatt.PROP_READ, b"\x00\x00")
        db.add_service(GATT_SERVICE_UUID)
        self.service_changed = db.add_characteristic(
            SERVICE_CHANGED_UUID, gatt.PROP_INDICATE, b"", read="never", cccd=True)
        self.build_gatt(db)
        return db

    def _database(self, build: _ImageBuild | None, adv_data: bytes) -> GattDatabase:
        """This boot's GATT database: an instance of the profile's template, or built."""
        if build is not None and build.gatt is not None:
            return self._instantiate(build.gatt, build.fields)
        if not self.STATIC_BUILD or build is not None:
            return self.build_database()
        return self._first_build(adv_data)

    def _instantiate(self, template: GattTemplate, fields: tuple[tuple[str, int], ...]
                     ) -> GattDatabase:
        """The template's database for this image, with the image's attributes that name
        database attributes set as build_gatt would set them."""
        db = template.instantiate(self)
        attributes = db.attributes
        for name, index in fields:
            setattr(self, name, attributes[index])
        return db

    def _first_build(self, adv_data: bytes) -> GattDatabase:
        """The database built, and kept with the advertising data for later boots."""
        before = set(vars(self))
        db = self.build_database()
        position = {id(attr): i for i, attr in enumerate(db.attributes)}
        fields = tuple((name, position.get(id(value), -1)) for name, value in vars(self).items()
                       if name not in before)
        template = GattTemplate.of(db, self)
        if any(i < 0 for _name, i in fields):
            template = None  # build_gatt keeps something other than attributes
        self.profile.derived[("image", type(self))] = _ImageBuild(adv_data, template, fields)
        return db

    def start(self) -> None:
        """Bring up the stack and start advertising."""
        dev = self.device
        build = self.profile.derived.get(("image", type(self))) if self.STATIC_BUILD else None
        # the device owns its clock; the parts that schedule on it only refer to it
        clock = weakref.proxy(dev.clock)
        address, address_type = self.identity()
        adv_data = self.adv_data() if build is None else build.adv_data
        components = dev.components
        self.ll = components["controller"](clock, dev.rng, address, address_type, adv_data,
                                           **dev.controller_options())
        dev.firmware_started(self)
        self.bonds = self.make_bonds()
        self.host = Host(self.ll, self.bonds)
        self.db = db = self._database(build, adv_data)
        # the servers send straight down the link's L2CAP fixed channels (Vol 3 Part A 2.1)
        self.att: AttServer = components["gatt"](
            db, partial(self.ll.send_l2cap, l2cap.CID_ATT), flaws=self.flaws)
        self.host.att = self.att
        self.smp = components["smp"](
            self.security_config(), clock, dev.rng, self.bonds,
            partial(self.ll.send_l2cap, l2cap.CID_SMP), address, address_type, dev.irk,
            flaws=self.flaws)
        self.host.smp = self.smp
        # the host owns the SMP server, and this image its host: they are called back weakly
        self.smp.on_bonded = WeakCallback(self.host.on_bonded)
        self.smp.existing_bond = weak_attribute(self.host, "current_bond")
        self.host.disconnected_callbacks.append(WeakCallback(self.on_disconnected))
        self.ll.start_advertising()

    def on_disconnected(self, reason: int) -> None:
        """Advertise again after a disconnection (both images do)."""
        if self.device.firmware is self and self.ll is not None:
            self.ll.start_advertising()
