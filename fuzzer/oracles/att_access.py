"""Which attributes an ATT response served, given the request it answers (Core Vol 3 Part F
3.4.4, 3.4.5): shared by the monitors that judge attribute access."""

from __future__ import annotations

from fuzzer.protocol import att
from fuzzer.protocol.codec import Decoded

#: Responses that serve the one attribute their request named
SINGLE = ("Read Response", "Read Blob Response", "Write Response")


#: (request octets, response octets) -> what the response served, for every trace (a fuzz
#: campaign reads the same attributes again and again)
_SERVED: dict[tuple[bytes, bytes], tuple[tuple[int, bytes | None, bytes], ...]] = {}
_SERVED_CAP = 4096


def served_by(octets: tuple[bytes, bytes], request: Decoded,
              response: Decoded) -> tuple[tuple[int, bytes | None, bytes], ...]:
    """:func:`served`, for the request and response of ``octets`` (their PDUs' octets)."""
    out = _SERVED.get(octets)
    if out is None:
        out = tuple(served(request, response))
        if len(_SERVED) >= _SERVED_CAP:
            _SERVED.clear()
        _SERVED[octets] = out
    return out


def served(request: Decoded, response: Decoded) -> list[tuple[int, bytes | None, bytes]]:
    """(handle, attribute type or None, value) of each attribute ``response`` served."""
    rf = request.fields
    if response.name in SINGLE and "attribute_handle" in rf:
        return [(rf["attribute_handle"], None, b"")]
    if response.name == "Read By Type Response" and request.name == "Read By Type Request":
        kind = rf.get("attribute_type", b"")
        f = response.fields
        return [(handle, kind, value)
                for handle, value in att.read_by_type_entries(f.get("length", 0),
                                                              f.get("data", b""))]
    return []
