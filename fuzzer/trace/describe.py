"""Short, human-readable names for trace events, from the fast codecs (no scapy)."""

from __future__ import annotations

from typing import Any

from fuzzer.protocol import att, ll, smp
from fuzzer.protocol.codec import Decoded
from fuzzer.trace import events as ev
from fuzzer.trace.events import Event

_CODECS = {"ll": ll.LL_CONTROL, "smp": smp.SMP, "att": att.ATT}

#: layer -> octets -> decoded PDU (None: no codec reads it), shared by every trace (a fuzz
#: campaign sends and gets the same PDUs again and again; ``Trace.add`` gives a new event its
#: decoded form from here); decoded PDUs are read-only.
_DECODED: dict[str | None, dict[bytes, Decoded | None]] = ev.DECODED
_DECODED_CAP = 1 << 16  # PDUs remembered, of all layers; then they are forgotten
_decoded_count = 0  # PDUs remembered now
_NOT_DECODED = object()


def decode(event: Event) -> Decoded | None:
    """The event's PDU decoded with the fast codec of its layer (cached on the event)."""
    global _decoded_count
    memo = event.memo
    if memo is not None:
        return memo  # type: ignore[return-value]
    if event.kind != ev.PDU:
        return None
    layer, data = event.layer, event.data
    # look-ups, not a KeyError caught: most PDUs decoded here are new (random fields), and an
    # exception costs several look-ups
    by_octets = _DECODED.get(layer)
    if by_octets is None:
        by_octets = _DECODED[layer] = {}
    dec = by_octets.get(data, _NOT_DECODED)
    if dec is _NOT_DECODED:
        codec = _CODECS.get(layer or "")
        dec = codec.decode(data) if codec is not None and data else None
        if _decoded_count >= _DECODED_CAP:
            for remembered in _DECODED.values():
                remembered.clear()
            _decoded_count = 0
        by_octets[data] = dec
        _decoded_count += 1
    event.memo = dec
    return dec


def _fmt(value: Any) -> str:
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, int):
        return f"0x{value:02x}"
    return str(value)


def summarize(event: Event) -> str:
    """One line: who sent what, e.g. ``device LL_REJECT_IND error_code=0x06 (PIN or Key
    Missing)``."""
    if event.kind != ev.PDU:
        info = event.info or {}
        text = ", ".join(f"{k}={_fmt(v)}" for k, v in info.items() if k not in ("args",))
        return f"{event.kind} {text}".strip()
    dec = decode(event)
    if dec is None:
        if event.info and event.info.get("mic_failure"):
            return f"{event.src} {event.layer} PDU that failed its MIC check"
        return f"{event.src} {event.layer} {event.data.hex()}"
    fields = " ".join(f"{k}={_fmt(v)}" for k, v in dec.fields.items())
    extra = ""
    if dec.name in ("LL_REJECT_IND", "LL_REJECT_EXT_IND", "LL_TERMINATE_IND"):
        extra = f" ({ll.error_name(dec.fields.get('error_code', 0))})"
    elif dec.name == "Pairing Failed":
        extra = f" ({smp.REASON_NAMES.get(dec.fields.get('reason', 0), 'unknown')})"
    elif dec.name == "Error Response":
        extra = f" ({att.ERROR_NAMES.get(dec.fields.get('error_code', 0), 'unknown')})"
    if dec.error:
        extra += f" [malformed: {dec.error}]"
    return f"{event.src} {dec.name} {fields}".strip() + extra


def evidence_event(event: Event) -> dict[str, Any]:
    """A JSON-safe description of one event for a report's evidence."""
    d: dict[str, Any] = {
        "seq": event.seq, "t_us": event.t, "kind": event.kind, "src": event.src,
        "summary": summarize(event),
    }
    if event.kind == ev.PDU:
        d["layer"] = event.layer
        d["hex"] = event.data.hex()
        if event.link is not None:
            d["encrypted_link"] = event.link.encrypted
    return d
