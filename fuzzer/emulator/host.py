"""The emulated host stack above the Link Layer: L2CAP fixed channels, SMP and ATT.

Routes the LE fixed channels (Core Vol 3 Part A 2.1: ATT 0x0004, LE signaling 0x0005, SMP 0x0006),
answers the controller's LTK requests from the pairing in progress or the bond store (the
SoftDevice's BLE_GAP_EVT_SEC_INFO_REQUEST), and keeps the ATT server's view of link security.
"""

from __future__ import annotations

from collections.abc import Callable

from fuzzer.emulator.bonds import Bond, BondStore
from fuzzer.emulator.controller import LinkLayer
from fuzzer.emulator.gatt import AttServer, LinkSecurity
from fuzzer.emulator.smp import LinkInfo, SecurityManager
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
        self.connected_callbacks: list[Callable[[], None]] = []
        self.disconnected_callbacks: list[Callable[[int], None]] = []
        self.encryption_callbacks: list[Callable[[bool], None]] = []
        ll.host = self

    def send_smp(self, pdu: bytes) -> None:
        self.ll.send_l2cap(l2cap.CID_SMP, pdu)

    def send_att(self, pdu: bytes) -> None:
        self.ll.send_l2cap(l2cap.CID_ATT, pdu)

    # --- HostInterface --------------------------------------------------------------------------

    def on_connected(self, peer_address: bytes, peer_address_type: int) -> None:
        self.peer_address = peer_address
        self.peer_address_type = peer_address_type
        self.current_bond = self.bonds.find_by_peer(peer_address, peer_address_type)
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

    def lookup_bond(self, rand: bytes, ediv: int) -> Bond | None:
        """The bond whose LTK answers this EDIV and Rand."""
        return self.bonds.find_by_master_id(ediv, rand)

    def on_bonded(self, bond: Bond) -> None:
        """Pairing on this link ended in a bond: the link is now a bonded peer's."""
        self.current_bond = bond
        self.security.bonded = True

    def on_encryption_change(self, enabled: bool, key_size: int) -> None:
        bond = self.pending_bond
        self.security.encrypted = enabled
        self.security.key_size = key_size if enabled else 0
        self.security.authenticated = enabled and self.pending_authenticated
        if enabled and bond is not None:
            self.current_bond = bond
            self.security.bonded = True
        if self.smp is not None:
            self.smp.on_encryption_change(enabled)
        for cb in self.encryption_callbacks:
            cb(enabled)
