"""Table-driven fast-path PDU codec (no scapy).

A PDU type is declared as plain data -- a spec name, an opcode and an ordered
list of ``(field_name, kind)`` pairs -- and :class:`Codec` compiles each type
into one precompiled :class:`struct.Struct` so that encoding and decoding cost
a couple of microseconds instead of the 100-340 us scapy needs.  scapy stays
the reference for display, dissection and pcap; property tests in
``tests/test_protocol_*.py`` prove the two agree on every PDU type.

Field kinds (all integers are little-endian, as every multi-octet field of
the BLE Link Layer, L2CAP, ATT and SMP is -- Core Vol 6 Part B 1.2 and Vol 3
Part A 3 / Part F 3.3 / Part H 3.3):

``"u8" "u16" "u24" "u32" "u64"``
    unsigned little-endian integers (Python ``int``).
``("bytes", N)``
    exactly *N* octets (``bytes``), e.g. keys, nonces, BD_ADDRs.
``"rest"``
    variable-length octets running to the end of the PDU, minus any fixed
    fields declared after it (e.g. the 12-octet signature that trails the
    value of an ATT Signed Write Command).  At most one per type.

``decode`` never raises on arbitrary input: it is fed fuzzed and
target-generated octets.  Problems are reported in :attr:`Decoded.error`.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, NamedTuple

__all__ = ["Codec", "Decoded", "FieldKind", "PduType", "UNKNOWN"]

#: A field kind: ``"u8"``, ``"u16"``, ``"u24"``, ``"u32"``, ``"u64"``,
#: ``"rest"`` or ``("bytes", N)``.
FieldKind = str | tuple[str, int]

#: Name given by :meth:`Codec.decode` to PDUs whose opcode is not in the table.
UNKNOWN = "unknown"

# kind -> (struct code, size in octets, max value or None for bytes)
_INT_KINDS: dict[str, tuple[str, int]] = {
    "u8": ("B", 1),
    "u16": ("H", 2),
    "u24": ("3s", 3),  # no native 24-bit struct code: packed via int.to_bytes
    "u32": ("I", 4),
    "u64": ("Q", 8),
}
_OPCODE_CODES = {1: "B", 2: "H", 4: "I"}
_MISSING = object()
_BYTES_LIKE = (bytes, bytearray, memoryview)
_DECODED_CAP = 1 << 14  # PDUs whose decoded form each codec keeps


class Decoded:
    """Result of :meth:`Codec.decode`.

    ``name`` is the spec name of the PDU type (``"unknown"`` for an opcode not
    in the table), ``opcode`` the opcode value (``-1`` if the PDU is too short
    to even hold one), ``fields`` the field values that could be parsed and
    ``error`` ``None`` for a well-formed PDU, otherwise a short description
    (``"truncated: need N octets, got M"`` or ``"N extra octets"``).

    A slotted record rather than a NamedTuple: the fuzz loop reads these fields several times
    per PDU, and CPython 3.11 specializes attribute reads of slots but not of a NamedTuple's
    fields. It compares as the tuple ``(name, opcode, fields, error)``.
    """

    __slots__ = ("name", "opcode", "fields", "error")

    def __init__(self, name: str, opcode: int, fields: dict[str, Any],
                 error: str | None = None) -> None:
        self.name = name
        self.opcode = opcode
        self.fields = fields
        self.error = error

    def _tuple(self) -> tuple[str, int, dict[str, Any], str | None]:
        return (self.name, self.opcode, self.fields, self.error)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Decoded):
            return NotImplemented
        return self._tuple() == other._tuple()

    __hash__ = None  # type: ignore[assignment] - fields is a dict

    def __repr__(self) -> str:
        return (f"Decoded(name={self.name!r}, opcode={self.opcode!r}, fields={self.fields!r}, "
                f"error={self.error!r})")


def _decoded(name: str, opcode: int, fields: dict[str, Any]) -> Decoded:
    """A well-formed PDU's Decoded, made without the Python-level __init__ (the fuzz loop's
    decoding makes one per PDU)."""
    d = _new_decoded(Decoded)
    d.name = name
    d.opcode = opcode
    d.fields = fields
    d.error = None
    return d


_new_decoded = object.__new__


class PduType(NamedTuple):
    """Declaration of one PDU type: spec name, opcode and ordered fields."""

    name: str
    opcode: int
    fields: tuple[tuple[str, FieldKind], ...] = ()


def _kind_info(field: str, kind: FieldKind) -> tuple[str, int, str]:
    """Return ``(struct code, size, tag)`` for a kind; tag is int/u24/bytes/rest."""
    if isinstance(kind, tuple):
        if len(kind) != 2 or kind[0] != "bytes" or not isinstance(kind[1], int) or kind[1] < 1:
            raise ValueError(f"field {field!r}: bad kind {kind!r}")
        return f"{kind[1]}s", kind[1], "bytes"
    if kind == "rest":
        return "", 0, "rest"
    if kind not in _INT_KINDS:
        raise ValueError(f"field {field!r}: unknown kind {kind!r}")
    code, size = _INT_KINDS[kind]
    return code, size, ("u24" if kind == "u24" else "int")


class _Compiled:
    """A :class:`PduType` compiled for speed (internal)."""

    __slots__ = (
        "ptype", "name", "opcode", "names", "defaults", "field_set", "kinds",
        "head", "tail", "head_n", "tail_n", "min_len", "has_rest", "rest_name",
        "u24", "bytes_len", "pieces", "simple", "bytes_items", "body", "wire_names",
        "wire_defaults", "u24_at", "rest_at", "head_size", "tail_size",
    )

    def __init__(self, ptype: PduType, opcode_size: int) -> None:
        self.ptype = ptype
        self.name = ptype.name
        self.opcode = ptype.opcode
        head: list[str] = []
        tail: list[str] = []
        names: list[str] = []
        kinds: dict[str, FieldKind] = {}
        self.has_rest = False
        self.rest_name: str | None = None
        self.u24: list[str] = []
        self.bytes_len: dict[str, int] = {}
        # (name, size, tag) in wire order, for the slow field-by-field decoder
        self.pieces: list[tuple[str, int, str]] = []
        for fname, kind in ptype.fields:
            if fname in kinds:
                raise ValueError(f"{ptype.name}: duplicate field {fname!r}")
            code, size, tag = _kind_info(fname, kind)
            kinds[fname] = kind
            self.pieces.append((fname, size, tag))
            if tag == "rest":
                if self.has_rest:
                    raise ValueError(f"{ptype.name}: more than one 'rest' field")
                self.has_rest = True
                self.rest_name = fname
                continue
            names.append(fname)
            (tail if self.has_rest else head).append(code)
            if tag == "u24":
                self.u24.append(fname)
            elif tag == "bytes":
                self.bytes_len[fname] = size
        self.kinds = kinds
        self.names = tuple(names)  # fixed fields only, head then tail
        self.field_set = frozenset(kinds)
        self.defaults = tuple(
            (n, b"" if t == "rest" else (b"\x00" * s if t == "bytes" else 0))
            for n, s, t in self.pieces
        )
        ocode = _OPCODE_CODES[opcode_size]
        self.head = struct.Struct("<" + ocode + "".join(head))
        self.tail = struct.Struct("<" + "".join(tail))
        self.head_n = len(head)
        self.tail_n = len(tail)
        # the sizes as plain attributes: a Struct's size is a descriptor, slower to read
        self.head_size = self.head.size
        self.tail_size = self.tail.size
        self.min_len = self.head_size + self.tail_size
        # the head fields without the opcode, unpacked from just after it
        self.body = struct.Struct("<" + "".join(head))
        # only int and ("bytes", N) fields: struct packs them all in one go
        self.simple = not self.u24 and not self.has_rest
        self.bytes_items = tuple(self.bytes_len.items())
        # every field (the 'rest' one too) and its default, in wire order
        self.wire_names = tuple(n for n, _ in self.defaults)
        self.wire_defaults = tuple(d for _, d in self.defaults)
        # where the u24 fields and the 'rest' field are among them
        self.u24_at = tuple(i for i, (_n, _s, t) in enumerate(self.pieces) if t == "u24")
        self.rest_at = next((i for i, (_n, _s, t) in enumerate(self.pieces) if t == "rest"), -1)


class Codec:
    """Encode/decode one family of opcode-dispatched PDUs (LL control, SMP, ATT, ...).

    ``Codec(opcode_size=1, types=[PduType(...), ...])``; types may also be
    given as plain ``(name, opcode, fields)`` tuples.  Names and opcodes must
    be unique within a codec.
    """

    def __init__(
        self,
        opcode_size: int = 1,
        types: Iterable[PduType | tuple[str, int, Sequence[tuple[str, FieldKind]]]] = (),
        *,
        family: str = "",
    ) -> None:
        if opcode_size not in _OPCODE_CODES:
            raise ValueError(f"opcode_size must be one of {sorted(_OPCODE_CODES)}")
        self.opcode_size = opcode_size
        self.family = family
        self._by_name: dict[str, _Compiled] = {}
        self._by_op: dict[int, _Compiled] = {}
        self._op_struct = struct.Struct("<" + _OPCODE_CODES[opcode_size])
        #: PDU octets -> what :meth:`decode` made of them (bounded: cleared when full)
        self._decoded: dict[bytes, Decoded] = {}
        for t in types:
            pt = PduType(t[0], t[1], tuple((f, k) for f, k in t[2]))
            if pt.name in self._by_name or pt.name == UNKNOWN:
                raise ValueError(f"duplicate or reserved PDU name {pt.name!r}")
            if pt.opcode in self._by_op:
                raise ValueError(f"duplicate opcode 0x{pt.opcode:02X} ({pt.name})")
            if not 0 <= pt.opcode < 1 << (8 * opcode_size):
                raise ValueError(f"{pt.name}: opcode out of range")
            c = _Compiled(pt, opcode_size)
            self._by_name[pt.name] = c
            self._by_op[pt.opcode] = c
        # one-octet opcodes: the types indexed by opcode (None where there is none)
        self._by_octet: tuple[_Compiled | None, ...] = tuple(
            self._by_op.get(op) for op in range(256)) if opcode_size == 1 else ()

    # ------------------------------------------------------------------ tables
    def __contains__(self, name: object) -> bool:
        """True if ``name`` is a PDU type name of this codec."""
        return name in self._by_name

    def __iter__(self) -> Iterator[PduType]:
        """Iterate over the declared PDU types in declaration order."""
        return (c.ptype for c in self._by_name.values())

    def __len__(self) -> int:
        """Number of declared PDU types."""
        return len(self._by_name)

    @property
    def names(self) -> tuple[str, ...]:
        """All PDU type names in declaration order."""
        return tuple(self._by_name)

    def type_of(self, name: str) -> PduType:
        """Declaration of PDU type ``name`` (ValueError if unknown)."""
        return self._compiled(name).ptype

    def opcode_of(self, name: str) -> int:
        """Opcode of PDU type ``name`` (ValueError if unknown)."""
        return self._compiled(name).opcode

    def name_of(self, opcode: int) -> str:
        """Spec name for ``opcode``, or ``"unknown"``."""
        c = self._by_op.get(opcode)
        return c.name if c is not None else UNKNOWN

    def fields_of(self, name: str) -> tuple[tuple[str, FieldKind], ...]:
        """Ordered ``(field_name, kind)`` pairs of PDU type ``name``."""
        return self._compiled(name).ptype.fields

    def min_length(self, name: str) -> int:
        """Smallest valid PDU length (opcode included) of type ``name``."""
        return self._compiled(name).min_len

    def _compiled(self, name: str) -> _Compiled:
        try:
            return self._by_name[name]
        except KeyError:
            raise ValueError(f"unknown {self.family or 'PDU'} type {name!r}") from None

    # ------------------------------------------------------------------ encode
    def encode(self, name: str, **fields: Any) -> bytes:
        """Build PDU ``name`` (opcode + fields); missing fields default to 0 / zero octets.

        Raises ValueError naming the field on an unknown field, a wrong type,
        an out-of-range integer or a ``("bytes", N)`` value of the wrong length.
        """
        c = self._by_name.get(name)
        if c is None:
            c = self._compiled(name)  # raises: an unknown type
        if not c.field_set.issuperset(fields):
            bad = sorted(set(fields) - c.field_set)
            raise ValueError(f"{name}: unknown field(s) {', '.join(bad)}")
        if not c.simple:
            return self._encode(c, fields)
        for fname, size in c.bytes_items:
            if fname in fields:
                v = fields[fname]
                if type(v) is not bytes or len(v) != size:
                    self._check_octets(c, fname, size, v)
        try:
            # each field in wire order: the value given, else its default
            return c.head.pack(c.opcode, *map(fields.get, c.wire_names, c.wire_defaults))
        except (struct.error, TypeError, OverflowError):
            raise self._explain(c, fields) from None

    def packer(self, name: str) -> Callable[..., bytes]:
        """An encoder of PDU ``name`` that takes every field's value, in wire order, as
        positional arguments: ``packer(name)(*values)`` builds what ``encode`` builds from the
        same values as keywords, and raises what it raises, without the keywords' handling
        (for PDUs built again and again).
        """
        c = self._compiled(name)
        names = c.wire_names
        encode = self.encode

        def by_name(*values: Any) -> bytes:
            if len(values) != len(names):
                raise TypeError(f"{name}: {len(names)} field values, got {len(values)}")
            return encode(name, **dict(zip(names, values)))  # noqa: B905 - same lengths

        if c.u24:
            return by_name
        pack, opcode, rest_at, tail = c.head.pack, c.opcode, c.rest_at, c.tail.pack
        octets = tuple((i, c.bytes_len[n]) for i, n in enumerate(names) if n in c.bytes_len)
        n_values, has_tail = len(names), c.tail_n > 0

        def pack_ints(*values: Any) -> bytes:
            if len(values) == n_values:
                try:
                    return pack(opcode, *values)
                except (struct.error, TypeError, OverflowError):
                    pass
            return by_name(*values)  # the error, as ``encode`` reports it

        def pack_values(*values: Any) -> bytes:
            if len(values) == n_values:
                # ("bytes", N) fields must be N octets: struct would pad or cut them
                for i, size in octets:
                    v = values[i]
                    if type(v) is not bytes or len(v) != size:
                        break
                else:
                    try:
                        if rest_at < 0:
                            return pack(opcode, *values)
                        rest = values[rest_at]
                        if type(rest) is bytes:
                            if not has_tail:  # 'rest' last (most are): nothing after it
                                return pack(opcode, *values[:rest_at]) + rest
                            return (pack(opcode, *values[:rest_at]) + rest
                                    + tail(*values[rest_at + 1:]))
                    except (struct.error, TypeError, OverflowError):
                        pass
            return by_name(*values)  # the error, as ``encode`` reports it

        # integer fields only (no octets to check, no 'rest'): one struct.pack
        return pack_ints if rest_at < 0 and not octets else pack_values

    def encode_fields(self, name: str, fields: Mapping[str, Any]) -> bytes:
        """Same as :meth:`encode` but with the fields in a mapping (e.g. ``Decoded.fields``)."""
        return self.encode(name, **fields)

    @staticmethod
    def _check_octets(c: _Compiled, fname: str, size: int, v: Any) -> None:
        """Raise ValueError unless ``v`` is ``size`` octets (a ``("bytes", N)`` field)."""
        if not isinstance(v, _BYTES_LIKE):
            raise ValueError(f"{c.name}.{fname}: expected {size} octets, got {type(v).__name__}")
        if len(v) != size:
            raise ValueError(f"{c.name}.{fname}: expected {size} octets, got {len(v)}")

    def _encode(self, c: _Compiled, fields: Mapping[str, Any]) -> bytes:
        """Encode a type with u24 or 'rest' fields (``fields`` all known)."""
        get = fields.get
        for fname, size in c.bytes_items:
            v = get(fname, _MISSING)
            if v is not _MISSING:
                self._check_octets(c, fname, size, v)
        vals = list(map(get, c.wire_names, c.wire_defaults))
        for i in c.u24_at:
            v = vals[i]
            if not isinstance(v, int):
                raise ValueError(f"{c.name}.{c.wire_names[i]}: expected int, got "
                                 f"{type(v).__name__}")
            if not 0 <= v <= 0xFFFFFF:
                raise ValueError(f"{c.name}.{c.wire_names[i]}: {v} out of range for u24")
            vals[i] = v.to_bytes(3, "little")
        try:
            if not c.has_rest:
                return c.head.pack(c.opcode, *vals)
            rest = vals.pop(c.rest_at)  # the fixed fields before it are the head's
            if type(rest) is not bytes:
                if not isinstance(rest, _BYTES_LIKE):
                    raise ValueError(f"{c.name}.{c.rest_name}: expected bytes, got "
                                     f"{type(rest).__name__}")
                rest = bytes(rest)
            if not c.tail_n:
                return c.head.pack(c.opcode, *vals) + rest
            return (c.head.pack(c.opcode, *vals[: c.head_n]) + rest
                    + c.tail.pack(*vals[c.head_n:]))
        except (struct.error, TypeError, OverflowError):
            raise self._explain(c, fields) from None

    @staticmethod
    def _explain(c: _Compiled, fields: Mapping[str, Any]) -> ValueError:
        """Build the ValueError naming the offending field after struct.pack failed."""
        for fname, size, tag in c.pieces:
            v = fields.get(fname, 0)
            if tag == "int":
                if not isinstance(v, int):
                    return ValueError(f"{c.name}.{fname}: expected int, got {type(v).__name__}")
                if not 0 <= v < 1 << (8 * size):
                    return ValueError(f"{c.name}.{fname}: {v} out of range for u{8 * size}")
        return ValueError(f"{c.name}: cannot encode fields {dict(fields)!r}")

    def encode_raw(self, opcode: int, body: bytes = b"") -> bytes:
        """Opcode followed by arbitrary octets -- for fuzzing unknown/malformed PDUs."""
        try:
            return self._op_struct.pack(opcode) + bytes(body)
        except struct.error:
            raise ValueError(f"opcode {opcode!r} out of range") from None

    # ------------------------------------------------------------------ decode
    def decode(self, pdu: bytes) -> Decoded:
        """Parse one PDU (opcode first).  Never raises on any input octets.

        The result is shared by every decode of the same octets, so it must be treated as
        read-only (copy ``fields`` to change them): in the fuzz loop the device decodes each PDU
        the tester's trace decoded already."""
        if type(pdu) is bytes:
            dec = self._decoded.get(pdu)
            if dec is None:
                dec = self._parse(pdu)
                if len(self._decoded) >= _DECODED_CAP:
                    self._decoded.clear()
                self._decoded[pdu] = dec
            return dec
        return self._parse(pdu)

    def _parse(self, pdu: bytes) -> Decoded:
        """:meth:`decode` without the memo."""
        if type(pdu) is not bytes:
            if not isinstance(pdu, (bytes, bytearray, memoryview)):
                return Decoded(UNKNOWN, -1, {"data": b""}, f"not bytes: {type(pdu).__name__}")
            pdu = bytes(pdu)
        n = len(pdu)
        osz = self.opcode_size
        if n < osz:
            return Decoded(UNKNOWN, -1, {"data": pdu},
                           f"truncated: need {osz} octets, got {n}")
        if osz == 1:
            op = pdu[0]
            c = self._by_octet[op]
        else:
            op = self._op_struct.unpack_from(pdu)[0]
            c = self._by_op.get(op)
        if c is None:
            return _decoded(UNKNOWN, op, {"data": pdu[osz:]})
        if n == c.min_len and not c.has_rest:
            fields = dict(zip(c.names, c.body.unpack_from(pdu, osz)))  # noqa: B905 - same lengths
        elif c.has_rest and n >= c.min_len:
            hs = c.head_size
            end = n - c.tail_size
            fields = dict(zip(c.names, c.body.unpack_from(pdu, osz)))  # noqa: B905 - same lengths
            fields[c.rest_name] = pdu[hs:end]  # type: ignore[index]
            if c.tail_n:
                fields.update(zip(c.names[c.head_n:], c.tail.unpack_from(pdu, end), strict=True))
        else:
            return self._decode_slow(c, op, pdu)
        for f in c.u24:
            fields[f] = int.from_bytes(fields[f], "little")
        return _decoded(c.name, op, fields)

    def _decode_slow(self, c: _Compiled, op: int, pdu: bytes) -> Decoded:
        """Field-by-field parse for truncated or over-long PDUs of a known type."""
        n = len(pdu)
        if n > c.min_len:  # only possible without a 'rest' field
            vals = c.head.unpack_from(pdu)
            fields = dict(zip(c.names, vals[1:], strict=True))
            for f in c.u24:
                fields[f] = int.from_bytes(fields[f], "little")
            return Decoded(c.name, op, fields, f"{n - c.min_len} extra octets")
        fields: dict[str, Any] = {}
        pos = self.opcode_size
        for fname, size, tag in c.pieces:
            if tag == "rest":
                # the fixed fields after 'rest' cannot be located in a short
                # PDU: give everything left to 'rest' and stop
                fields[fname] = pdu[pos:]
                break
            if pos + size > n:
                break
            chunk = pdu[pos:pos + size]
            if tag == "bytes":
                fields[fname] = chunk
            else:
                fields[fname] = int.from_bytes(chunk, "little")
            pos += size
        return Decoded(c.name, op, fields, f"truncated: need {c.min_len} octets, got {n}")
