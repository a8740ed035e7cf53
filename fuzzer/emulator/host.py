"""The emulated host stack above the Link Layer: L2CAP fixed channels, SMP and ATT.

Routes the LE fixed channels (Core Vol 3 Part A 2.1: ATT 0x0004, LE signaling 0x0005, SMP 0x0006),
answers the controller's LTK requests from the pairing in progress or the bond store (the
SoftDevice's BLE_GAP_EVT_SEC_INFO_REQUEST), and keeps the ATT server's view of link security.

A central that connects with a resolvable private address is recognised as the bonded peer whose
IRK resolves it (Vol 6 Part B 1.3.2.3, Vol 3 Part H 2.2.2). Legacy LTKs are found by EDIV and
Rand; an LE Secure Connections LTK (EDIV = Rand = 0, Vol 3 Part H 2.4.4.1) by the peer's identity.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable

from fuzzer.crypto.rpa import is_rpa, resolve_rpa
from fuzzer.emulator.bonds import Bond, BondStore
from fuzzer.emulator.controller import LinkLayer
from fuzzer.emulator.gatt import AttServer, LinkSecurity
from fuzzer.emulator.smp import LinkInfo, SecurityManager
from fuzzer.protocol import address as bdaddr
from fuzzer.protocol import l2cap

# LE signaling: Command Reject, reason Command not understood (Vol 3 Part A 4.1)
_COMMAND_REJECT = 0x01


class Host:
    """One firmware image's host: owns the SMP and ATT servers for the link."""

    def __init__(self, ll: LinkLayer, bonds: BondStore) -> None:
        self.ll = ll
        self.bonds = bonds
        self.smp: SecurityManager | None = None
        self.att: AttServer | None = None
        self.security = LinkSecurity()
        self.current_bond: Bond | None = None
        self.pending_bond: Bond | None = None
        self.pending_authenticated = False
        self.peer_address = b""
        self.peer_address_type = 0
        self.peer_identity: tuple[bytes, int] = (b"", 0)  # resolved identity address and type
        self.connected_callbacks: list[Callable[[], None]] = []
        self.disconnected_callbacks: list[Callable[[int], None]] = []
        self.encryption_callbacks: list[Callable[[bool], None]] = []
        ll.host = weakref.proxy(self)  # the firmware owns its host; the Link Layer calls it

    # --- HostInterface --------------------------------------------------------------------------

    def on_connected(self, peer_address: bytes, peer_address_type: int) -> None:
        self.peer_address = peer_address
        self.peer_address_type = peer_address_type
        self.current_bond = self.resolve_peer(peer_address, peer_address_type)
        bond = self.current_bond
        self.peer_identity = ((bond.peer_address, bond.peer_address_type) if bond is not None
                              else (peer_address, peer_address_type))
        self.security = LinkSecurity(bonded=self.current_bond is not None,
                                     peer_address=peer_address)
        if self.smp is not None:
            self.smp.on_connected(LinkInfo(peer_address, peer_address_type, self.ll.address,
                                           self.ll.address_type))
        if self.att is not None:
            self.att.on_connected(self.security)
        for cb in self.connected_callbacks:
            cb()

    def on_disconnected(self, reason: int) -> None:
        if self.smp is not None:
            self.smp.on_disconnected()
        self.security = LinkSecurity()
        for cb in self.disconnected_callbacks:
            cb(reason)

    def on_l2cap(self, cid: int, payload: bytes) -> None:
        if cid == l2cap.CID_SMP:
            if self.smp is not None:
                self.smp.on_pdu(payload)
        elif cid == l2cap.CID_ATT:
            if self.att is not None:
                self.att.on_pdu(payload)
        elif cid == l2cap.CID_SIGNALING:
            if len(payload) >= 2 and payload[0] != _COMMAND_REJECT:
                # Command Reject, reason 0x0000 Command not understood, same identifier
                self.ll.send_l2cap(l2cap.CID_SIGNALING,
                                   bytes((_COMMAND_REJECT, payload[1], 2, 0, 0, 0)))

    def on_ltk_request(self, rand: bytes, ediv: int) -> tuple[bytes, int] | None:
        if self.smp is not None:
            stk = self.smp.stk_for(rand, ediv)
            if stk is not None:
                self.pending_bond = None
                self.pending_authenticated = self.smp.authenticated
                return stk
        bond = self.lookup_bond(rand, ediv)
        self.pending_bond = bond
        if bond is None:
            return None
        self.pending_authenticated = bond.authenticated
        return bond.ltk, bond.key_size

    def resolve_peer(self, address: bytes, address_type: int) -> Bond | None:
        """The bond of the peer using this connection address: by identity address, or, for a
        resolvable private address, the bond whose peer IRK resolves it (Vol 6 Part B 1.3.2.3)."""
        bond = self.bonds.find_by_peer(address, address_type)
        if bond is not None or address_type != bdaddr.RANDOM or not is_rpa(address):
            return bond
        for candidate in reversed(self.bonds.bonds):
            if any(candidate.peer_irk) and resolve_rpa(candidate.peer_irk, address):
                return candidate
        return None

    def lookup_bond(self, rand: bytes, ediv: int) -> Bond | None:
        """The bond whose LTK answers this EDIV and Rand: a legacy LTK by its EDIV and Rand, an
        LE Secure Connections LTK (EDIV and Rand zero, Vol 3 Part H 2.4.4.1) by the peer."""
        if ediv == 0 and not any(rand):
            sc = self.sc_bond()
            if sc is not None:
                return sc
        return self.bonds.find_by_master_id(ediv, rand)

    def sc_bond(self) -> Bond | None:
        """The LE Secure Connections bond of the connected peer's identity, if any."""
        address, address_type = self.peer_identity
        for bond in reversed(self.bonds.bonds):
            if (bond.secure_connections and bond.peer_address == address
                    and bond.peer_address_type == address_type):
                return bond
        return None

    def on_bonded(self, bond: Bond) -> None:
        """Pairing on this link ended in a bond: the link is now a bonded peer's."""
        self.current_bond = bond
        self.peer_identity = (bond.peer_address, bond.peer_address_type)
        self.security.bonded = True

    def on_encryption_change(self, enabled: bool, key_size: int) -> None:
        bond = self.pending_bond
        self.security.encrypted = enabled
        self.security.key_size = key_size if enabled else 0
        self.security.authenticated = enabled and self.pending_authenticated
        if enabled and bond is not None:
            self.current_bond = bond
            self.peer_identity = (bond.peer_address, bond.peer_address_type)
            self.security.bonded = True
        if self.smp is not None:
            self.smp.on_encryption_change(enabled)
        for cb in self.encryption_callbacks:
            cb(enabled)
