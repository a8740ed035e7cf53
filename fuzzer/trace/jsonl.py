"""JSON Lines form of a trace: one self-describing JSON object per event.

Each line holds, in this order::

    {"seq", "t_us", "kind", "src", "step", "layer", "hex", "decoded", "air", "link", "info"}

``hex`` is the event's data, ``air`` the LL PDUs as transmitted (hex strings), ``link`` the
``Link.to_dict()`` of the connection or null, ``info`` the event's info with its keys sorted and
bytes rendered as hex. ``decoded`` is the data dissected with scapy (null when the event carries
no data), one entry per scapy layer in dissection order, keyed by the scapy class name::

    {"summary": "Pairing Request",
     "SM_Hdr": {"sm_command": 1},
     "SM_Pairing_Request": {"iocap": "NoInputNoOutput", "oob": "Not Present", ...}}

Field values are ints, strings, hex strings for bytes, enum names where scapy knows them, lists,
or nested decodes (same form) for packet-valued fields. Undissected trailing bytes show as a
"Raw" or "Padding" layer, and the summary says "(truncated)", "(+N extra octets)" or
"(+N octets undecoded)". Advertising data is split into its AD structures:
``{"summary": "AdvData: Flags, Complete Local Name", "ad": [{"summary": "Flags", ...}, ...]}``.
Bytes scapy cannot dissect at all give ``{"error": "..."}``; decoding never raises.

The output depends only on the events: the same events give the same file byte for byte.
"""

from __future__ import annotations

import enum
import json
import math
import os
from collections.abc import Iterable, Mapping
from typing import Any

from fuzzer.trace.atomic import atomic_open
from fuzzer.trace.events import ADV, Event

__all__ = [
    "decode_adv_data",
    "decode_layer",
    "event_to_dict",
    "event_to_line",
    "read_jsonl",
    "write_jsonl",
]

# Which scapy class dissects the data of each PDU layer; resolved lazily (scapy is slow to import).
_LAYER_CLASSES = {
    "ll": ("scapy.layers.bluetooth4LE", "BTLE_CTRL"),
    "smp": ("scapy.layers.bluetooth", "SM_Hdr"),
    "att": ("scapy.layers.bluetooth", "ATT_Hdr"),
    "l2cap": ("scapy.layers.bluetooth", "L2CAP_Hdr"),
}

# Headers whose payload is chosen by one field: if dissection stops at one of these, the summary
# names the header and that field's value instead of a PDU name.
_DISPATCH_FIELDS = {
    "BTLE_CTRL": "opcode",
    "SM_Hdr": "sm_command",
    "ATT_Hdr": "opcode",
    "L2CAP_Hdr": "cid",
    "L2CAP_CmdHdr": "code",
    "EIR_Hdr": "type",
}

_FILLER_LAYERS = ("Raw", "Padding")

# scapy 2.8 layers whose display name is wrong (copied from a neighbour).
_NAME_FIXES = {
    "ATT_Write_Command": "Write Command",
    "LL_CHANNEL_REPORTING_IND": "LL_CHANNEL_REPORTING_IND",
}


def _scapy_class(layer: str) -> Any:
    """The scapy packet class that dissects PDUs of ``layer``."""
    import importlib

    module, name = _LAYER_CLASSES[layer]
    return getattr(importlib.import_module(module), name)


# ---------------------------------------------------------------------------------------------
# JSON-safe values


def _jsonable(value: Any) -> Any:
    """``value`` as plain JSON data: bytes to hex, mappings with sorted string keys, and so on."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    if isinstance(value, Mapping):
        items = [(str(k), _jsonable(v)) for k, v in value.items()]
        return dict(sorted(items, key=lambda kv: kv[0]))
    if isinstance(value, set | frozenset):
        converted = [_jsonable(v) for v in value]
        return sorted(converted, key=lambda v: json.dumps(v, sort_keys=True))
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    to_dict = getattr(value, "to_dict", None)
    if callable(to_dict):
        return _jsonable(to_dict())
    if isinstance(value, enum.Enum):
        return value.name
    return str(value)


# ---------------------------------------------------------------------------------------------
# scapy dissection to JSON


def _field_value(pkt: Any, fld: Any, value: Any) -> Any:
    """One scapy field value in JSON form; enum values become their names when scapy has one."""
    from scapy.fields import FlagValue, MultipleTypeField, _EnumField
    from scapy.packet import Packet

    if isinstance(fld, MultipleTypeField):
        fld = fld._find_fld_pkt(pkt)
    if isinstance(value, Packet):
        return _packet_to_dict(value)
    if isinstance(value, list):
        return [_field_value(pkt, fld, v) if not isinstance(v, Packet) else _packet_to_dict(v)
                for v in value]
    if isinstance(value, FlagValue):
        return int(value)
    if isinstance(fld, _EnumField) and isinstance(value, int) and not isinstance(value, bool):
        try:
            shown = fld.i2repr_one(pkt, value)
        except Exception:  # an odd enum must not break the trace
            shown = None
        if isinstance(shown, str) and shown != repr(value) and shown:
            return shown
        return int(value)
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return int(value)
    return _jsonable(value)


def _layer_name(layer: Any) -> str:
    """The readable name scapy gives a layer, trimmed (some have stray spaces) and corrected."""
    cls = type(layer).__name__
    if cls in _NAME_FIXES:
        return _NAME_FIXES[cls]
    return str(getattr(layer, "name", cls)).strip()


def _summary(layers: list[Any]) -> str:
    """A short name for a dissected PDU: its innermost named layer, marked when malformed.

    If dissection stopped at a header (LL control, SM, ATT, L2CAP...), the PDU is named after
    the layer scapy binds to the header's code, with "(truncated)" when that layer has fields
    scapy could not fill; without a binding, after the code itself.
    """
    meaningful = [layer for layer in layers if type(layer).__name__ not in _FILLER_LAYERS]
    if not meaningful:
        return "raw"
    inner = meaningful[-1]
    position = next(i for i, layer in enumerate(layers) if layer is inner)
    rest = b"".join(bytes(layer.getfieldval("load") or b"") for layer in layers[position + 1:]
                    if type(layer).__name__ in _FILLER_LAYERS)
    dispatch = _DISPATCH_FIELDS.get(type(inner).__name__)
    if dispatch is None:
        name = _layer_name(inner)
        return f"{name} (+{len(rest)} extra octets)" if rest else name
    value = inner.getfieldval(dispatch)
    if value is None:
        return f"{_layer_name(inner)} (empty)"
    try:
        bound = inner.guess_payload_class(rest)
    except Exception:
        bound = None
    if bound is not None and bound.__name__ not in _FILLER_LAYERS:
        name = _layer_name(bound())
        return f"{name} (truncated)" if rest or bound.fields_desc else name
    shown = _field_value(inner, inner.get_field(dispatch), value)
    if not isinstance(shown, str):
        shown = f"{_layer_name(inner)} {dispatch}=0x{int(value):02x}"
    return f"{shown} (+{len(rest)} octets undecoded)" if rest else shown


def _packet_to_dict(pkt: Any) -> dict[str, Any]:
    """A dissected scapy packet as ``{"summary": ..., "<scapy class>": {field: value}, ...}``.

    Layers appear in dissection order; a class seen twice in one chain gets "#2", "#3"...
    """
    layers = list(pkt.iterpayloads())
    out: dict[str, Any] = {"summary": _summary(layers)}
    for layer in layers:
        key = type(layer).__name__
        n = 2
        while key in out:
            key = f"{type(layer).__name__}#{n}"
            n += 1
        out[key] = {
            fld.name: _field_value(layer, fld, layer.getfieldval(fld.name))
            for fld in layer.fields_desc
        }
    return out


def _error(exc: BaseException) -> dict[str, Any]:
    return {"error": f"{type(exc).__name__}: {exc}"}


def decode_layer(layer: str | None, data: bytes) -> dict[str, Any] | None:
    """Dissect ``data`` of a PDU event of ``layer`` ("ll", "smp", "att", "l2cap") with scapy.

    Returns None for empty data, ``{"error": ...}`` when the layer is unknown or scapy fails.
    """
    if not data:
        return None
    if layer not in _LAYER_CLASSES:
        return {"error": f"no decoder for layer {layer!r}"}
    try:
        return _packet_to_dict(_scapy_class(layer)(bytes(data)))
    except Exception as exc:  # decoding is best effort, never fatal
        return _error(exc)


def decode_adv_data(data: bytes) -> dict[str, Any] | None:
    """Dissect advertising data into its AD structures (length, type, value) with scapy.

    A zero length octet ends the data (the rest is padding); a structure that runs past the end
    is reported as ``{"error": ..., "hex": ...}`` in the list.
    """
    if not data:
        return None
    try:
        from scapy.layers.bluetooth import EIR_Hdr

        structures: list[dict[str, Any]] = []
        names: list[str] = []
        pos = 0
        while pos < len(data):
            length = data[pos]
            if length == 0:
                if any(data[pos:]):
                    structures.append({"error": "non-zero octets after a zero-length structure",
                                       "hex": data[pos:].hex()})
                    names.append("error")
                break
            chunk = data[pos:pos + 1 + length]
            if len(chunk) < 1 + length:
                structures.append({"error": f"AD structure of length {length} truncated to "
                                            f"{len(chunk) - 1} octets", "hex": chunk.hex()})
                names.append("error")
                break
            decoded = _packet_to_dict(EIR_Hdr(chunk))
            structures.append(decoded)
            names.append(decoded["summary"])
            pos += 1 + length
        summary = "AdvData: " + (", ".join(names) if names else "(empty)")
        return {"summary": summary, "ad": structures}
    except Exception as exc:
        return _error(exc)


def _decoded(ev: Event) -> dict[str, Any] | None:
    """The on-demand decode of one event's data."""
    if ev.kind == ADV:
        return decode_adv_data(ev.data)
    if not ev.data:
        return None
    return decode_layer(ev.layer, ev.data)


# ---------------------------------------------------------------------------------------------
# events to lines and back


def event_to_dict(ev: Event) -> dict[str, Any]:
    """One event as a JSON-safe dict, keys in the fixed order of the JSONL format."""
    return {
        "seq": ev.seq,
        "t_us": ev.t,
        "kind": ev.kind,
        "src": ev.src,
        "step": ev.step,
        "layer": ev.layer,
        "hex": bytes(ev.data).hex(),
        "decoded": _decoded(ev),
        "air": [bytes(pdu).hex() for pdu in ev.air],
        "link": ev.link.to_dict() if ev.link is not None else None,
        "info": _jsonable(ev.info) if ev.info is not None else {},
    }


def event_to_line(ev: Event) -> str:
    """One event as its JSONL line (without the newline): compact, ASCII, deterministic."""
    return json.dumps(event_to_dict(ev), ensure_ascii=True, separators=(",", ":"),
                      allow_nan=False)


def write_jsonl(path: str | os.PathLike[str], events: Iterable[Event]) -> int:
    """Write ``events`` to ``path`` as JSON Lines, atomically; returns the number of lines."""
    count = 0
    with atomic_open(path, "w") as f:
        for ev in events:
            f.write(event_to_line(ev))
            f.write("\n")
            count += 1
    return count


def read_jsonl(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """The objects of a JSONL file, in order; blank lines are skipped.

    Raises ValueError naming the file and the 1-based line number when a line is not a JSON
    object.
    """
    records: list[dict[str, Any]] = []
    with open(path, "rb") as f:
        for lineno, raw in enumerate(f, start=1):
            if not raw.strip():
                continue
            try:
                obj = json.loads(raw.decode("utf-8"))
            except UnicodeDecodeError as exc:
                raise ValueError(f"{os.fspath(path)}:{lineno}: not UTF-8: {exc.reason} "
                                 f"(octet {exc.start + 1})") from exc
            except json.JSONDecodeError as exc:
                raise ValueError(f"{os.fspath(path)}:{lineno}: bad JSON: {exc.msg} "
                                 f"(column {exc.colno})") from exc
            if not isinstance(obj, dict):
                raise ValueError(f"{os.fspath(path)}:{lineno}: expected a JSON object, "
                                 f"got {type(obj).__name__}")
            records.append(obj)
    return records
