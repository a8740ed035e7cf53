"""The GATT server: an attribute database with per-attribute security, served over ATT.

Core Vol 3 Part F (ATT: PDUs 3.4, permissions and security checks 3.2.5, errors 3.4.1.1) and
Part G (GATT: service, characteristic and descriptor declarations 3.1–3.3, discovery 4.4–4.7).
An attribute that requires encryption is refused on an unencrypted link with Insufficient
Authentication when the peer has no bond, or Insufficient Encryption when it has one
(Vol 3 Part C 10.3.1), as the SoftDevice does.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass, field

from fuzzer.emulator.weak import WeakCallback
from fuzzer.protocol import att, gatt

# Security an access needs (Vol 3 Part C 10.2: LE security mode 1 levels)
OPEN = "open"  # level 1: no security
ENCRYPTED = "encrypted"  # level 2: encryption, unauthenticated keys suffice
AUTHENTICATED = "authenticated"  # level 3: encryption with MITM-protected keys
NEVER = "never"  # not permitted
LEVELS = {OPEN: 1, ENCRYPTED: 2, AUTHENTICATED: 3}

DEFAULT_MTU = 23

# Attribute types of GATT declarations (Vol 3 Part G 3.1-3.3)
PRIMARY_SERVICE_UUID = gatt.uuid16(gatt.PRIMARY_SERVICE)
SECONDARY_SERVICE_UUID = gatt.uuid16(gatt.SECONDARY_SERVICE)
CHARACTERISTIC_UUID = gatt.uuid16(gatt.CHARACTERISTIC)
CCCD_UUID = gatt.uuid16(gatt.CCCD)

# Write Response has no parameters (Vol 3 Part F 3.4.5.2): encoded once
_WRITE_RESPONSE = att.ATT.encode("Write Response")

_new = object.__new__


@dataclass
class Attribute:
    """One attribute: handle, type (16 or 128-bit UUID, octets as on air), value, permissions."""

    handle: int
    type: bytes
    value: bytes = b""
    read: str = OPEN
    write: str = NEVER
    on_write: Callable[[Attribute, bytes, LinkSecurity], int | None] | None = None
    on_read: Callable[[Attribute, LinkSecurity], bytes] | None = None
    max_length: int = 512
    group_end: int = 0  # for service declarations: the last handle of the service

    def changes(self) -> bool:
        """Whether this attribute's value can change (it is writable) or depends on its owner
        (it has callbacks)."""
        return self.write != NEVER or self.on_write is not None or self.on_read is not None

    def copy_for(self, owner: object) -> Attribute:
        """A copy of this attribute whose (weak) callbacks are bound to ``owner``."""
        on_write, on_read = self.on_write, self.on_read
        if on_write is not None:
            on_write = on_write.bound_to(owner)  # type: ignore[attr-defined]
        if on_read is not None:
            on_read = on_read.bound_to(owner)  # type: ignore[attr-defined]
        # Attribute(...) spelled out, field by field in __init__'s order: calling the class
        # costs more (a few attributes are copied on every boot)
        copy = _new(Attribute)
        copy.handle = self.handle
        copy.type = self.type
        copy.value = self.value
        copy.read = self.read
        copy.write = self.write
        copy.on_write = on_write
        copy.on_read = on_read
        copy.max_length = self.max_length
        copy.group_end = self.group_end
        return copy


@dataclass
class LinkSecurity:
    """The link as the ATT server sees it when checking permissions."""

    encrypted: bool = False
    authenticated: bool = False
    key_size: int = 0
    bonded: bool = False
    peer_address: bytes = b""
    extra: dict = field(default_factory=dict)


class GattDatabase:
    """Builds an attribute table in handle order, as a SoftDevice's GATTS does."""

    def __init__(self, attributes: list[Attribute] | None = None) -> None:
        self.attributes: list[Attribute] = [] if attributes is None else attributes
        # the service that characteristics added from now on belong to
        self._service: Attribute | None = None

    def add_service(self, uuid: bytes, primary: bool = True) -> Attribute:
        """A service declaration (Vol 3 Part G 3.1); later attributes belong to it."""
        handle = len(self.attributes) + 1
        attr = Attribute(handle, PRIMARY_SERVICE_UUID if primary else SECONDARY_SERVICE_UUID,
                         uuid, group_end=handle)
        self.attributes += (attr,)
        self._service = attr
        return attr

    def add_characteristic(
        self,
        uuid: bytes,
        properties: int,
        value: bytes = b"",
        read: str = OPEN,
        write: str = NEVER,
        on_write: Callable | None = None,
        on_read: Callable | None = None,
        cccd: bool = False,
        cccd_write: str = OPEN,
    ) -> Attribute:
        """A characteristic declaration, its value and optionally a CCCD (Vol 3 Part G 3.3)."""
        value_handle = len(self.attributes) + 2
        # Characteristic Properties, Value Handle (LE), UUID (Vol 3 Part G 3.3.1)
        declaration = Attribute(value_handle - 1, CHARACTERISTIC_UUID, bytes(
            (properties, value_handle & 0xFF, value_handle >> 8)) + uuid)
        attr = Attribute(value_handle, uuid, value, read, write, on_write, on_read)
        if cccd:
            self.attributes += (declaration, attr,
                                Attribute(value_handle + 1, CCCD_UUID, b"\x00\x00", OPEN,
                                          cccd_write))
        else:
            self.attributes += (declaration, attr)
        if self._service is not None:
            self._service.group_end = self.attributes[-1].handle
        return attr

    def find(self, uuid: bytes) -> Attribute | None:
        """The first attribute of type ``uuid``."""
        for attr in self.attributes:
            if attr.type == uuid:
                return attr
        return None

    def get(self, handle: int) -> Attribute | None:
        if 1 <= handle <= len(self.attributes):
            return self.attributes[handle - 1]
        return None


class GattTemplate:
    """A database as one owner built it, instantiated again for other owners of the same build.

    Attributes that never change (read-only, no callbacks) are shared by every instance; the
    others, and the last service declaration (later characteristics extend its group), are
    copied per instance with their callbacks bound to the new owner.
    """

    def __init__(self, attributes: tuple[Attribute, ...], copied: tuple[int, ...],
                 service: int | None) -> None:
        self.attributes = attributes
        self.copied = copied  # indices of the attributes each instance gets its own copy of
        self.service = service  # index of the last service declaration

    @classmethod
    def of(cls, db: GattDatabase, owner: object) -> GattTemplate | None:
        """The template of ``db`` as ``owner`` has just built it, or None when it has callbacks
        other than weak ones bound to ``owner`` (it could not be instantiated for another)."""
        attributes = db.attributes
        service = None if db._service is None else attributes.index(db._service)
        copied = tuple(i for i, attr in enumerate(attributes) if attr.changes() or i == service)
        for i in copied:
            for callback in (attributes[i].on_write, attributes[i].on_read):
                if callback is not None and not (
                        isinstance(callback, WeakCallback) and callback.owner is owner):
                    return None
        own = list(attributes)
        for i in copied:
            own[i] = attributes[i].copy_for(owner)  # unchanged by what ``owner`` does next
        return cls(tuple(own), copied, service)

    def instantiate(self, owner: object) -> GattDatabase:
        """A database of this build for ``owner``."""
        attributes = list(self.attributes)
        for i in self.copied:
            attributes[i] = attributes[i].copy_for(owner)
        db = GattDatabase(attributes)
        if self.service is not None:
            db._service = attributes[self.service]
        return db


class AttServer:
    """ATT server role (Vol 3 Part F 3.4) over one database; replaceable by name in a profile."""

    FLAWS = {
        "gatt-ignores-encryption": "serves attributes that require encryption on any link",
    }

    def __init__(self, db: GattDatabase, send: Callable[[bytes], None],
                 flaws: frozenset[str] = frozenset(), mtu: int = DEFAULT_MTU) -> None:
        self.db = db
        self.send = send
        self.flaws = flaws
        self.local_mtu = mtu
        self.mtu = DEFAULT_MTU
        self.security = LinkSecurity()
        self.prepared: list[tuple[int, int, bytes]] = []

    def on_connected(self, security: LinkSecurity) -> None:
        self.mtu = DEFAULT_MTU
        self.security = security
        self.prepared = []

    # --- helpers --------------------------------------------------------------------------------

    def _error(self, opcode: int, handle: int, code: int) -> None:
        self.send(att.error_response(opcode, handle, code))

    def _check(self, needed: str, write: bool) -> int | None:
        """The ATT error for an access needing ``needed`` on this link, or None if allowed."""
        if needed == NEVER:
            return att.WRITE_NOT_PERMITTED if write else att.READ_NOT_PERMITTED
        if "gatt-ignores-encryption" in self.flaws:
            return None
        sec = self.security
        level = LEVELS[needed]
        if level >= 2 and not sec.encrypted:
            return att.INSUFFICIENT_ENCRYPTION if sec.bonded else att.INSUFFICIENT_AUTHENTICATION
        if level >= 3 and not sec.authenticated:
            return att.INSUFFICIENT_AUTHENTICATION
        return None

    def _read_value(self, attr: Attribute) -> bytes:
        return attr.on_read(attr, self.security) if attr.on_read else attr.value

    # --- requests ---------------------------------------------------------------------------------

    def on_pdu(self, pdu: bytes) -> None:
        if not pdu:
            return
        opcode = pdu[0]
        dec = att.ATT.decode(pdu)
        name, fields, error = dec.name, dec.fields, dec.error
        handler = _HANDLERS[name] if name in _HANDLERS else None
        if handler is None:
            # Commands (bit 6 set) are ignored; unknown requests get Request Not Supported.
            if not opcode & 0x40 and name not in _SERVER_PDUS:
                self._error(opcode, 0, att.REQUEST_NOT_SUPPORTED)
            return
        if error is not None:
            if not opcode & 0x40:
                self._error(opcode, 0, att.INVALID_PDU)
            return
        handler(self, opcode, fields)

    def _exchange_mtu(self, opcode: int, f: dict) -> None:
        self.mtu = max(DEFAULT_MTU, min(f["mtu"], self.local_mtu))
        self.send(att.ATT.encode("Exchange MTU Response", mtu=self.local_mtu))

    def _range_ok(self, opcode: int, start: int, end: int) -> bool:
        if start == 0 or start > end:
            self._error(opcode, start, att.INVALID_HANDLE)
            return False
        return True

    def _find_information(self, opcode: int, f: dict) -> None:
        start, end = f["starting_handle"], f["ending_handle"]
        if not self._range_ok(opcode, start, end):
            return
        out = b""
        fmt = 0
        for attr in self.db.attributes[start - 1:end]:
            this_fmt = 1 if len(attr.type) == 2 else 2
            if fmt and this_fmt != fmt:
                break
            entry = struct.pack("<H", attr.handle) + attr.type
            if 2 + len(out) + len(entry) > self.mtu:
                break
            fmt = this_fmt
            out += entry
        if not out:
            self._error(opcode, start, att.ATTRIBUTE_NOT_FOUND)
            return
        self.send(att.ATT.encode("Find Information Response", format=fmt, data=out))

    def _find_by_type_value(self, opcode: int, f: dict) -> None:
        start, end = f["starting_handle"], f["ending_handle"]
        if not self._range_ok(opcode, start, end):
            return
        uuid = struct.pack("<H", f["attribute_type"])
        out = b""
        for attr in self.db.attributes[start - 1:end]:
            if attr.type == uuid and attr.value == f["attribute_value"]:
                entry = struct.pack("<HH", attr.handle, attr.group_end or attr.handle)
                if 1 + len(out) + len(entry) > self.mtu:
                    break
                out += entry
        if not out:
            self._error(opcode, start, att.ATTRIBUTE_NOT_FOUND)
            return
        self.send(att.ATT.encode("Find By Type Value Response", data=out))

    def _read_by_type(self, opcode: int, f: dict) -> None:
        start, end = f["starting_handle"], f["ending_handle"]
        if not self._range_ok(opcode, start, end):
            return
        uuid = f["attribute_type"]
        if len(uuid) not in (2, 16):
            self._error(opcode, 0, att.INVALID_PDU)
            return
        out = b""
        length = 0
        max_value = min(self.mtu - 4, 253)
        for attr in self.db.attributes[start - 1:end]:
            if attr.type != uuid:
                continue
            err = self._check(attr.read, write=False)
            if err is not None:
                if not out:
                    self._error(opcode, attr.handle, err)
                    return
                break
            value = self._read_value(attr)[:max_value]
            size = len(value)
            if length and size != length:
                break
            length = size
            if 2 + len(out) + 2 + size > self.mtu:
                break
            out += struct.pack("<H", attr.handle) + value
        if not out:
            self._error(opcode, start, att.ATTRIBUTE_NOT_FOUND)
            return
        self.send(att.read_by_type_response(length + 2, out))

    def _read_by_group_type(self, opcode: int, f: dict) -> None:
        start, end = f["starting_handle"], f["ending_handle"]
        if not self._range_ok(opcode, start, end):
            return
        group = f["attribute_group_type"]
        if group not in (PRIMARY_SERVICE_UUID, SECONDARY_SERVICE_UUID):
            self._error(opcode, start, att.UNSUPPORTED_GROUP_TYPE)
            return
        out = b""
        length = 0
        for attr in self.db.attributes[start - 1:end]:
            if attr.type != group:
                continue
            value = attr.value
            if length and len(value) != length:
                break
            length = len(value)
            entry = struct.pack("<HH", attr.handle, attr.group_end) + value
            if 2 + len(out) + len(entry) > self.mtu:
                break
            out += entry
        if not out:
            self._error(opcode, start, att.ATTRIBUTE_NOT_FOUND)
            return
        self.send(att.ATT.encode("Read By Group Type Response", length=length + 4, data=out))

    def _read(self, opcode: int, f: dict) -> None:
        handle = f["attribute_handle"]
        attr = self.db.get(handle)
        if attr is None:
            self._error(opcode, handle, att.INVALID_HANDLE)
            return
        err = self._check(attr.read, write=False)
        if err is not None:
            self._error(opcode, handle, err)
            return
        self.send(att.ATT.encode("Read Response", value=self._read_value(attr)[: self.mtu - 1]))

    def _read_blob(self, opcode: int, f: dict) -> None:
        handle, offset = f["attribute_handle"], f["value_offset"]
        attr = self.db.get(handle)
        if attr is None:
            self._error(opcode, handle, att.INVALID_HANDLE)
            return
        err = self._check(attr.read, write=False)
        if err is not None:
            self._error(opcode, handle, err)
            return
        value = self._read_value(attr)
        if offset > len(value):
            self._error(opcode, handle, att.INVALID_OFFSET)
            return
        self.send(att.ATT.encode("Read Blob Response",
                                 value=value[offset: offset + self.mtu - 1]))

    def _write(self, opcode: int, f: dict, respond: bool = True) -> None:
        handle, value = f["attribute_handle"], f["value"]
        attr = self.db.get(handle)
        if attr is None:
            if respond:
                self._error(opcode, handle, att.INVALID_HANDLE)
            return
        err = self._check(attr.write, write=True)
        if err is None and len(value) > attr.max_length:
            err = att.INVALID_ATTRIBUTE_VALUE_LENGTH
        if err is not None:
            if respond:
                self._error(opcode, handle, err)
            return
        status = attr.on_write(attr, value, self.security) if attr.on_write else None
        if status:
            if respond:
                self._error(opcode, handle, status)
            return
        if attr.on_write is None:
            attr.value = bytes(value)
        if respond:
            self.send(_WRITE_RESPONSE)

    def _write_command(self, opcode: int, f: dict) -> None:
        self._write(opcode, f, respond=False)

    def _handle_value_confirmation(self, opcode: int, f: dict) -> None:
        return None

    def notify(self, attr: Attribute, value: bytes) -> None:
        """A Handle Value Notification, if the peer enabled notifications in the CCCD."""
        cccd = self.db.get(attr.handle + 1)
        if cccd is not None and cccd.type == CCCD_UUID and cccd.value[:1] == b"\x01":
            self.send(att.ATT.encode("Handle Value Notification", attribute_handle=attr.handle,
                                     value=value[: self.mtu - 3]))


_HANDLERS: dict[str, Callable] = {
    "Exchange MTU Request": AttServer._exchange_mtu,
    "Find Information Request": AttServer._find_information,
    "Find By Type Value Request": AttServer._find_by_type_value,
    "Read By Type Request": AttServer._read_by_type,
    "Read By Group Type Request": AttServer._read_by_group_type,
    "Read Request": AttServer._read,
    "Read Blob Request": AttServer._read_blob,
    "Write Request": AttServer._write,
    "Write Command": AttServer._write_command,
    "Handle Value Confirmation": AttServer._handle_value_confirmation,
}
# PDUs only a server sends: a client sending them to us is ignored (Vol 3 Part F 3.4.9)
_SERVER_PDUS = {
    "Error Response", "Exchange MTU Response", "Find Information Response",
    "Find By Type Value Response", "Read By Type Response", "Read Response", "Read Blob Response",
    "Read Multiple Response", "Read By Group Type Response", "Write Response",
    "Prepare Write Response", "Execute Write Response", "Handle Value Notification",
    "Handle Value Indication",
}
