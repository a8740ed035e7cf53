"""L2CAP basic frames over the LE-U logical link (Core Vol 3 Part A), fast path, no scapy.

Basic information frame (B-frame, Vol 3 Part A 3.1): Length (2 octets, LE,
payload length only) | Channel ID (2 octets, LE) | Information payload.
On LE the frame is carried in LL data PDUs: the first fragment with
LLID_START, the others with LLID_CONTINUATION (Vol 6 Part B 2.4;
Vol 3 Part A 7.2).
"""

from __future__ import annotations

import struct

from fuzzer.protocol.ll import LLID_CONTINUATION, LLID_START

# Fixed channel identifiers on LE-U (Vol 3 Part A 2.1, Table 2.3)
CID_ATT = 0x0004
CID_SIGNALING = 0x0005  # LE signaling channel
CID_SMP = 0x0006

HEADER_LEN = 4
_HDR = struct.Struct("<HH")


def frame(cid: int, payload: bytes) -> bytes:
    """Basic L2CAP frame: length u16 LE, cid u16 LE, payload (Vol 3 Part A 3.1)."""
    if type(payload) is not bytes:
        payload = bytes(payload)
    try:
        return _HDR.pack(len(payload), cid) + payload  # the u16 fields check both ranges
    except struct.error:
        n = len(payload)
        if not 0 <= cid <= 0xFFFF or n > 0xFFFF:
            raise ValueError(f"bad L2CAP frame cid={cid} len={n}") from None
        raise


def parse(frame: bytes) -> tuple[int, bytes] | None:
    """``(cid, payload)`` of a complete basic frame; None if shorter than the
    header or if the length field does not equal the payload length."""
    n = len(frame)
    if n < HEADER_LEN:
        return None
    length, cid = _HDR.unpack_from(frame)
    if length != n - HEADER_LEN:
        return None
    return cid, bytes(frame[HEADER_LEN:])


def fragment(frame: bytes, max_payload: int = 27) -> list[tuple[int, bytes]]:
    """Split a frame into LL data PDU payloads of at most ``max_payload`` octets.

    Returns ``[(llid, payload), ...]``: the first LLID_START, the rest
    LLID_CONTINUATION (Vol 6 Part B 2.4.1).  An empty frame gives one empty START.
    """
    if max_payload < 1:
        raise ValueError("max_payload must be >= 1")
    frame = bytes(frame)
    n = len(frame)
    if n <= max_payload:
        return [(LLID_START, frame)]
    out = [(LLID_START, frame[:max_payload])]
    for i in range(max_payload, n, max_payload):
        out.append((LLID_CONTINUATION, frame[i:i + max_payload]))
    return out


class Reassembler:
    """Rebuilds L2CAP frames from LL data PDU payloads (Vol 3 Part A 7.2).

    :meth:`push` returns a frame once the L2CAP length field says it is
    complete.  Robust to fuzzed input, never raises:

    * a START while a frame is pending discards the partial frame
      (counted in ``discarded``);
    * a CONTINUATION with nothing pending is dropped (counted in ``dropped``);
    * an empty CONTINUATION (the LL empty PDU) is ignored, not counted;
    * LLIDs other than START/CONTINUATION are not L2CAP: ignored and counted
      in ``dropped``;
    * if the fragments overshoot the length field, the whole overlong buffer is
      returned (so :func:`parse` returns None for it and the caller sees it).
    """

    __slots__ = ("_buf", "_need", "dropped", "discarded")

    def __init__(self) -> None:
        self._buf = bytearray()
        self._need = -1  # total frame length once the header is known; -1: none pending
        self.dropped = 0
        self.discarded = 0

    @property
    def pending(self) -> bool:
        """True while a partial frame is buffered."""
        return self._need != -1

    def reset(self) -> None:
        """Forget any partial frame (e.g. on disconnection); counters are kept."""
        self._buf.clear()
        self._need = -1

    def push_parsed(self, llid: int, payload: bytes) -> tuple[int, bytes] | None:
        """Feed one LL data PDU payload; return ``(cid, payload)`` of a complete basic frame.

        As :meth:`push` then :func:`parse`: a completed frame whose length field does not
        match its size is dropped (None).
        """
        if llid == LLID_START and self._need == -1:
            n = len(payload)
            if n >= HEADER_LEN:
                length, cid = _HDR.unpack_from(payload)
                if n == HEADER_LEN + length:  # the whole frame in one PDU, as most are
                    return cid, bytes(payload[HEADER_LEN:])
        frame = self.push(llid, payload)
        return None if frame is None else parse(frame)

    def push(self, llid: int, payload: bytes) -> bytes | None:
        """Feed one LL data PDU payload; return a whole L2CAP frame when complete."""
        if llid == LLID_START:
            if self._need != -1:
                self.discarded += 1
            n = len(payload)
            if n >= HEADER_LEN and n >= HEADER_LEN + (payload[0] | payload[1] << 8):
                self._need = -1
                return bytes(payload)  # the whole frame in one PDU, as most are
            self._buf = bytearray(payload)
            self._need = 0  # header not yet complete
        elif llid == LLID_CONTINUATION:
            if not payload:
                return None  # empty PDU: flow control / keep-alive, not data
            if self._need == -1:
                self.dropped += 1
                return None
            self._buf += payload
        else:
            self.dropped += 1
            return None
        buf = self._buf
        n = len(buf)
        need = self._need
        if need == 0:
            if n < HEADER_LEN:
                return None
            need = self._need = HEADER_LEN + (buf[0] | buf[1] << 8)
        if n >= need:
            out = bytes(buf)
            self._buf = bytearray()
            self._need = -1
            return out
        return None
