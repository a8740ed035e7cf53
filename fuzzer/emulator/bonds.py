"""Bonds: the keys a peripheral keeps for a peer, stored in flash, and the peer data the legacy
SDK application hands to its bootloader.

A bond holds what SMP key distribution gave both ways (Core Vol 3 Part H 3.6): the LTK with its
EDIV and Rand (legacy pairing) or the LE Secure Connections LTK (EDIV = Rand = 0), the peer's IRK
and identity address, and the GATT system attributes (CCCD values) the SoftDevice keeps per peer.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field, replace

from fuzzer.emulator.memory import Flash, crc16_ccitt

_BOND = struct.Struct("<B6s16s16sBBB2s8s16s8s")  # see Bond.pack


@dataclass
class Bond:
    """The keys and attributes stored for one bonded peer (all octets as on air)."""

    peer_address: bytes  # the peer's identity address (or its connection address if no IdKey)
    peer_address_type: int
    ltk: bytes  # the LTK this device accepts from the peer (it distributed it, or SC)
    ediv: int = 0
    rand: bytes = bytes(8)
    key_size: int = 16
    authenticated: bool = False
    secure_connections: bool = False
    peer_irk: bytes = bytes(16)
    sys_attr: bytes = bytes(8)
    peer_ltk: bytes = b""  # the LTK the peer distributed (used when we are central; kept)
    extra: dict = field(default_factory=dict)

    def pack(self) -> bytes:
        """A fixed-size record for flash (layout of our own, like peer manager's)."""
        flags = (1 if self.authenticated else 0) | (2 if self.secure_connections else 0)
        return _BOND.pack(
            self.peer_address_type, self.peer_address, self.ltk, self.peer_irk, self.key_size,
            flags, 0, struct.pack("<H", self.ediv), self.rand,
            self.peer_ltk.ljust(16, b"\0"), self.sys_attr,
        )

    @classmethod
    def unpack(cls, raw: bytes) -> Bond:
        (atype, addr, ltk, irk, key_size, flags, _rfu, ediv, rand, peer_ltk,
         sys_attr) = _BOND.unpack(raw)
        return cls(
            peer_address=addr, peer_address_type=atype, ltk=ltk, ediv=struct.unpack("<H", ediv)[0],
            rand=rand, key_size=key_size, authenticated=bool(flags & 1),
            secure_connections=bool(flags & 2), peer_irk=irk, sys_attr=sys_attr,
            peer_ltk=peer_ltk if any(peer_ltk) else b"",
        )


class BondStore:
    """The bonds of one firmware image, persisted in a flash region when it has one."""

    def __init__(self, flash: Flash | None = None, region: str = "bonds",
                 capacity: int = 8) -> None:
        self.flash = flash
        self.region = region
        self.capacity = capacity
        self.bonds: list[Bond] = []
        self.load()

    def load(self) -> None:
        """Read the bonds back from flash (after a reset or power cycle)."""
        self.bonds = []
        if self.flash is None:
            return
        raw = self.flash.read(self.region)
        size = _BOND.size
        for off in range(0, len(raw) - len(raw) % size, size):
            self.bonds.append(Bond.unpack(raw[off:off + size]))

    def save(self) -> None:
        if self.flash is not None:
            self.flash.write(self.region, b"".join(b.pack() for b in self.bonds))

    def add(self, bond: Bond) -> None:
        """Store a bond, replacing any bond with the same peer identity; oldest evicted."""
        self.bonds = [b for b in self.bonds if not self._same_peer(b, bond)]
        self.bonds.append(bond)
        if len(self.bonds) > self.capacity:
            self.bonds.pop(0)
        self.save()

    @staticmethod
    def _same_peer(a: Bond, b: Bond) -> bool:
        return a.peer_address == b.peer_address and a.peer_address_type == b.peer_address_type

    def find_by_master_id(self, ediv: int, rand: bytes) -> Bond | None:
        """Legacy LTK lookup by EDIV and Rand (the SoftDevice's SEC_INFO_REQUEST master_id)."""
        for bond in reversed(self.bonds):
            if not bond.secure_connections and bond.ediv == ediv and bond.rand == rand:
                return bond
        return None

    def find_by_peer(self, address: bytes, address_type: int) -> Bond | None:
        for bond in reversed(self.bonds):
            if bond.peer_address == address and bond.peer_address_type == address_type:
                return bond
        return None

    def clear(self) -> None:
        self.bonds = []
        self.save()

    def copy(self) -> list[Bond]:
        return [replace(b) for b in self.bonds]


# --- legacy SDK bond sharing: dfu_ble_peer_data_t in .noinit RAM ------------------------------
# nRF5 SDK 11 dfu_app_handler.c / dfu_ble_svc.c: the application writes the peer's address,
# IRK, encryption key (LTK + master id) and system attributes to a .noinit struct, protected by
# a CRC16 over the struct, then resets; the bootloader checks the CRC before using it.

_PEER_DATA = struct.Struct("<B6s16s16sBH8s8s")


def pack_peer_data(bond: Bond) -> bytes:
    """The application's side: the bond as ``dfu_ble_peer_data_t`` followed by its CRC16."""
    body = _PEER_DATA.pack(
        bond.peer_address_type, bond.peer_address, bond.peer_irk, bond.ltk,
        bond.key_size | (0x80 if bond.authenticated else 0), bond.ediv, bond.rand, bond.sys_attr,
    )
    return body + struct.pack("<H", crc16_ccitt(body))


def unpack_peer_data(raw: bytes) -> Bond | None:
    """The bootloader's side: the shared bond, or None when absent or its CRC is wrong."""
    size = _PEER_DATA.size
    if len(raw) != size + 2:
        return None
    body, (crc,) = raw[:size], struct.unpack("<H", raw[size:])
    if crc16_ccitt(body) != crc:
        return None
    atype, addr, irk, ltk, info, ediv, rand, sys_attr = _PEER_DATA.unpack(body)
    return Bond(peer_address=addr, peer_address_type=atype, ltk=ltk, ediv=ediv, rand=rand,
                key_size=info & 0x1F, authenticated=bool(info & 0x80), peer_irk=irk,
                sys_attr=sys_attr)
