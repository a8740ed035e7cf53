"""pcap form of a trace, as LINKTYPE_BLUETOOTH_LE_LL_WITH_PHDR (256), for Wireshark.

Each record is the 10-octet RF pseudo-header followed by the LL packet as on air: access address,
PDU (header + payload) and the 3-octet CRC. Records are built with scapy (``BTLE_RF`` /
``BTLE``); the CRC is computed here (``ble_crc``) because scapy's ``BTLE.compute_crc`` only gives
the right answer for CRC inits whose three octets are equal, such as the advertising 0x555555.

What each event becomes:

* ADV: an ADV_IND (or the ``info["pdu_type"]`` ADV_NONCONN_IND / ADV_SCAN_IND / SCAN_RSP) from
  the device on advertising channel 37 (RF channel 0 in this link type).
* CONNECT: a CONNECT_IND from the central to the advertiser on channel 37, carrying the recorded
  access address, CRCInit, window, interval, latency, timeout, channel map, hop and SCA; it lets
  Wireshark tie the following data PDUs to the two addresses.
* PDU: one record per LL PDU in ``air``, on the connection's access address, with the CRC
  computed from the connection's CRCInit, on the data channel that channel selection algorithm #1
  gives for the connection event (a new event starts with each central PDU unless the last
  exchange had MD set). The pseudo-header's PDU type says the direction: "Data, Master to Slave"
  for the tester (central) and "Data, Slave to Master" for the device; Wireshark relies on it,
  it does not infer the direction from the CONNECT_IND.
  Encrypted PDUs stay ciphertext + MIC and are not flagged decrypted, unless ``plaintext=True``.
  A PDU event with empty ``air`` but with data (e.g. from an HCI target, where the air is not
  visible) is written as the LL PDUs that would carry it, fragmented at 27 octets, with SN/NESN
  continuing the connection's sequence, flagged decrypted if the link was encrypted
  (``synthesize=False`` skips such events).
* Every other kind (STEP, DISCONNECT, KEY, ...) writes nothing.

All records claim dewhitened, reference access address valid, CRC checked and CRC valid. Time
stamps are the events' virtual time in microseconds from ``base_us`` (epoch 0 by default), so the
file depends only on the events.
"""

from __future__ import annotations

import os
import re
import struct
from collections.abc import Iterable, Iterator
from typing import Any, NamedTuple

from fuzzer.trace.atomic import atomic_open
from fuzzer.trace.events import ADV, CONNECT, PDU, TESTER, Event

__all__ = [
    "ADVERTISING_ACCESS_ADDRESS",
    "ADVERTISING_CRC_INIT",
    "FLAG_CRC_CHECKED",
    "FLAG_CRC_VALID",
    "FLAG_DECRYPTED",
    "FLAG_DEWHITENED",
    "FLAG_REF_AA_VALID",
    "LINKTYPE_BLUETOOTH_LE_LL_WITH_PHDR",
    "PDU_TYPE_ADV_OR_UNKNOWN",
    "PDU_TYPE_DATA_C_TO_P",
    "PDU_TYPE_DATA_P_TO_C",
    "PcapRecord",
    "ble_crc",
    "iter_pcap_records",
    "rf_channel",
    "write_pcap",
]

LINKTYPE_BLUETOOTH_LE_LL_WITH_PHDR = 256
ADVERTISING_ACCESS_ADDRESS = 0x8E89BED6
ADVERTISING_CRC_INIT = 0x555555

# Pseudo-header flags (https://www.tcpdump.org/linktypes/LINKTYPE_BLUETOOTH_LE_LL_WITH_PHDR.html)
FLAG_DEWHITENED = 0x0001
FLAG_DECRYPTED = 0x0008
FLAG_REF_AA_VALID = 0x0010
FLAG_CRC_CHECKED = 0x0400
FLAG_CRC_VALID = 0x0800
_BASE_FLAGS = FLAG_DEWHITENED | FLAG_REF_AA_VALID | FLAG_CRC_CHECKED | FLAG_CRC_VALID

# Pseudo-header PDU type (flag bits 7-9).
PDU_TYPE_ADV_OR_UNKNOWN = 0
PDU_TYPE_DATA_C_TO_P = 2
PDU_TYPE_DATA_P_TO_C = 3

_ADV_PDU_TYPES = {"ADV_IND": 0, "ADV_NONCONN_IND": 2, "SCAN_RSP": 4, "ADV_SCAN_IND": 6}
_MAX_ADV_DATA = 255 - 6  # PDU length octet minus AdvA
_MAX_FRAGMENT = 27  # LL payload without the Data Length Extension
_L2CAP_CIDS = {"att": 0x0004, "smp": 0x0006}
_ADDRESS_RE = re.compile(r"^[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){5}$")
_ALL_CHANNELS = (1 << 37) - 1


class PcapRecord(NamedTuple):
    """One pcap record: time stamp (virtual µs), the event it came from, and the frame bytes."""

    t_us: int
    seq: int
    frame: bytes


def _reverse24(value: int) -> int:
    return int(f"{value & 0xFFFFFF:024b}"[::-1], 2)


def ble_crc(pdu: bytes, crc_init: int) -> bytes:
    """The 3 CRC octets, as they follow the PDU in the packet, of an LL PDU (header + payload).

    ``crc_init`` is the value as carried in CONNECT_IND (0x555555 on advertising channels);
    the result is what Wireshark and libbtbb expect in the capture.
    """
    state = _reverse24(crc_init)
    for octet in pdu:
        for _ in range(8):
            feedback = (state ^ octet) & 1
            octet >>= 1
            state >>= 1
            if feedback:
                state |= 0x800000
                state ^= 0x5A6000
    return state.to_bytes(3, "little")


def rf_channel(channel_index: int) -> int:
    """The RF channel (0-39, 2402 + 2k MHz) of a link-layer channel index (0-36 data, 37-39)."""
    if channel_index == 37:
        return 0
    if channel_index == 38:
        return 12
    if channel_index == 39:
        return 39
    if 0 <= channel_index <= 10:
        return channel_index + 1
    if 11 <= channel_index <= 36:
        return channel_index + 2
    raise ValueError(f"channel index {channel_index} is not 0..39")


def _frame(channel_index: int, access_address: int, pdu: bytes, crc_init: int,
           pdu_type: int = PDU_TYPE_ADV_OR_UNKNOWN, decrypted: bool = False) -> bytes:
    """A complete record: RF pseudo-header, access address, PDU and its CRC."""
    from scapy.layers.bluetooth4LE import BTLE, BTLE_RF
    from scapy.packet import Raw

    crc = ble_crc(pdu, crc_init)
    pkt = BTLE_RF(
        rf_channel=rf_channel(channel_index), signal=-128, noise=-128,
        access_address_offenses=0, reference_access_address=access_address,
        dewhitened=1, reference_access_address_valid=1, crc_checked=1, crc_valid=1,
        decrypted=int(decrypted), type=pdu_type,
    ) / BTLE(access_addr=access_address, crc=int.from_bytes(crc, "big")) / Raw(pdu)
    return bytes(pkt)


# ---------------------------------------------------------------------------------------------
# event fields, read leniently (a fuzzer records odd values)


def _address(value: Any) -> str:
    """A display-form address scapy accepts; anything malformed becomes all zeros."""
    if isinstance(value, str) and _ADDRESS_RE.match(value):
        return value.lower()
    return "00:00:00:00:00:00"


def _address_type(value: Any) -> int:
    """1 for a random address, else 0 (public)."""
    if isinstance(value, str):
        return 1 if value.lower().startswith("random") else 0
    return 1 if value == 1 else 0


def _int(info: dict[str, Any], key: str, default: int, mask: int) -> int:
    value = info.get(key, default)
    try:
        return int(value, 0) & mask if isinstance(value, str) else int(value) & mask
    except (TypeError, ValueError):
        return default & mask


def _chm(value: Any) -> int:
    """A channel map as the 40-bit little-endian integer of its 5 octets (octet 0 = ch 0-7)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value & ((1 << 40) - 1)
    try:
        raw = bytes(value) if isinstance(value, bytes | bytearray) else bytes.fromhex(str(value))
    except (TypeError, ValueError):
        return _ALL_CHANNELS
    return int.from_bytes(raw[:5], "little")


# ---------------------------------------------------------------------------------------------
# connection state: channel selection #1 and sequence numbers


class _Connection:
    """What the writer tracks about one connection (keyed by access address)."""

    __slots__ = (
        "access_address", "crc_init", "hop", "used", "unmapped", "channel",
        "central_md", "peripheral_md", "last_sn",
    )

    def __init__(self, access_address: int, crc_init: int, hop: int = 5,
                 chm: int = _ALL_CHANNELS) -> None:
        self.access_address = access_address
        self.crc_init = crc_init
        self.hop = hop if 5 <= hop <= 16 else (hop % 37 or 5)
        self.used = [ch for ch in range(37) if chm >> ch & 1] or list(range(37))
        self.unmapped = 0
        self.channel: int | None = None
        self.central_md = False
        self.peripheral_md = False
        self.last_sn: dict[bool, int | None] = {True: None, False: None}

    def _next_event(self) -> int:
        """Channel selection algorithm #1 for the next connection event."""
        self.unmapped = (self.unmapped + self.hop) % 37
        if self.unmapped in self.used:
            self.channel = self.unmapped
        else:
            self.channel = self.used[self.unmapped % len(self.used)]
        return self.channel

    def channel_for(self, central: bool, air: bytes) -> int:
        """The data channel index of this PDU, starting a connection event where one starts."""
        md = len(air) >= 1 and bool(air[0] & 0x10)
        channel = self.channel
        if channel is None or (central and not (self.central_md or self.peripheral_md)):
            channel = self._next_event()
        if central:
            self.central_md, self.peripheral_md = md, False
        else:
            self.peripheral_md = md
        return channel

    def note_sn(self, central: bool, air: bytes) -> None:
        """Remember the SN of a PDU actually sent, so synthesized PDUs continue the sequence."""
        if air:
            self.last_sn[central] = air[0] >> 3 & 1

    def header(self, central: bool, llid: int, length: int, md: bool) -> bytes:
        """A data PDU header for a synthesized PDU: next SN, NESN acknowledging the peer."""
        own = self.last_sn[central]
        peer = self.last_sn[not central]
        sn = 0 if own is None else own ^ 1
        nesn = 0 if peer is None else peer ^ 1
        self.last_sn[central] = sn
        return bytes([llid | nesn << 2 | sn << 3 | int(md) << 4, length])


# ---------------------------------------------------------------------------------------------
# PDU events to LL PDUs


def _plaintext_frame(layer: str | None, data: bytes) -> tuple[int, bytes] | None:
    """(LLID of the first PDU, LL payload stream) that carries ``data`` of ``layer``."""
    if layer == "ll":
        return 3, data
    if layer in _L2CAP_CIDS:
        return 2, struct.pack("<HH", len(data) & 0xFFFF, _L2CAP_CIDS[layer]) + data
    if layer == "l2cap":
        return 2, data
    return None


def _synthesize(conn: _Connection, central: bool, layer: str | None,
                data: bytes) -> list[bytes]:
    """LL PDUs carrying a PDU event's plaintext, for events recorded without their air PDUs."""
    carried = _plaintext_frame(layer, data)
    if carried is None or not data:
        return []
    llid, stream = carried
    if llid == 3:
        chunks = [stream[:255]]
    else:
        chunks = [stream[i:i + _MAX_FRAGMENT] for i in range(0, len(stream), _MAX_FRAGMENT)]
    pdus = []
    for i, chunk in enumerate(chunks):
        more = i + 1 < len(chunks)
        pdus.append(conn.header(central, llid if i == 0 else 1, len(chunk), more) + chunk)
    return pdus


def _decrypted_air(layer: str | None, data: bytes, air: tuple[bytes, ...]) -> list[bytes] | None:
    """``air`` with each ciphertext + MIC payload replaced by the matching plaintext octets.

    None unless ``air`` is exactly the encrypted form of ``data`` (every non-empty PDU 4 octets
    longer than its share of the plaintext).
    """
    carried = _plaintext_frame(layer, data)
    if carried is None or not data:  # e.g. a PDU whose MIC failed: no plaintext recorded
        return None
    stream = carried[1]
    nonempty = [pdu for pdu in air if len(pdu) >= 2 and pdu[1] > 0]
    if not nonempty or any(len(pdu) != 2 + pdu[1] or pdu[1] < 4 for pdu in nonempty):
        return None
    if sum(pdu[1] - 4 for pdu in nonempty) != len(stream):
        return None
    out = []
    pos = 0
    for pdu in air:
        if len(pdu) < 2 or pdu[1] == 0:
            out.append(bytes(pdu))
            continue
        n = pdu[1] - 4
        out.append(bytes([pdu[0], n]) + stream[pos:pos + n])
        pos += n
    return out


# ---------------------------------------------------------------------------------------------
# events to records


def _adv_record(ev: Event) -> bytes:
    from scapy.layers.bluetooth4LE import (
        BTLE_ADV,
        BTLE_ADV_IND,
        BTLE_ADV_NONCONN_IND,
        BTLE_ADV_SCAN_IND,
        BTLE_SCAN_RSP,
    )
    from scapy.packet import Raw

    info = ev.info or {}
    pdu_type = _ADV_PDU_TYPES.get(str(info.get("pdu_type", "ADV_IND")), 0)
    body_cls = {0: BTLE_ADV_IND, 2: BTLE_ADV_NONCONN_IND, 4: BTLE_SCAN_RSP,
                6: BTLE_ADV_SCAN_IND}[pdu_type]
    adv_data = bytes(ev.data)[:_MAX_ADV_DATA]
    pdu = bytes(
        BTLE_ADV(RxAdd=0, TxAdd=_address_type(info.get("address_type")), ChSel=0,
                 PDU_type=pdu_type, Length=6 + len(adv_data))
        / body_cls(AdvA=_address(info.get("address")))
        / Raw(adv_data)
    )
    return _frame(37, ADVERTISING_ACCESS_ADDRESS, pdu, ADVERTISING_CRC_INIT)


def _connect_record(ev: Event, access_address: int, crc_init: int, hop: int, chm: int) -> bytes:
    from scapy.layers.bluetooth4LE import BTLE_ADV, BTLE_CONNECT_REQ

    info = ev.info or {}
    pdu = bytes(
        BTLE_ADV(RxAdd=_address_type(info.get("peripheral_address_type")),
                 TxAdd=_address_type(info.get("central_address_type")), ChSel=0,
                 PDU_type=5, Length=34)
        / BTLE_CONNECT_REQ(
            InitA=_address(info.get("central_address")),
            AdvA=_address(info.get("peripheral_address")),
            AA=access_address, crc_init=crc_init,
            win_size=_int(info, "win_size", 2, 0xFF),
            win_offset=_int(info, "win_offset", 0, 0xFFFF),
            interval=_int(info, "interval", 24, 0xFFFF),
            latency=_int(info, "latency", 0, 0xFFFF),
            timeout=_int(info, "timeout", 200, 0xFFFF),
            chM=chm, hop=hop, SCA=_int(info, "sca", 0, 0x7),
        )
    )
    return _frame(37, ADVERTISING_ACCESS_ADDRESS, pdu, ADVERTISING_CRC_INIT)


def iter_pcap_records(events: Iterable[Event], *, plaintext: bool = False,
                      synthesize: bool = True) -> Iterator[PcapRecord]:
    """The pcap records of ``events``, in order (see the module docstring for the mapping).

    ``plaintext``: write encrypted PDUs as their recorded plaintext, flagged decrypted, with the
    MIC removed, where ``air`` is exactly the encrypted form of the event's data.
    ``synthesize``: write PDU events that have data but no ``air`` as synthesized LL PDUs.
    PDU events whose link is unknown (no ``link`` and no CONNECT before) are skipped.
    """
    connections: dict[int, _Connection] = {}
    current: _Connection | None = None
    for ev in events:
        t_us = max(int(ev.t), 0)
        if ev.kind == ADV:
            yield PcapRecord(t_us, ev.seq, _adv_record(ev))
        elif ev.kind == CONNECT:
            info = ev.info or {}
            link = ev.link
            aa = _int(info, "access_address",
                      link.access_address if link is not None else 0, 0xFFFFFFFF)
            crc_init = _int(info, "crc_init", link.crc_init if link is not None else 0, 0xFFFFFF)
            hop = _int(info, "hop", 5, 0x1F)
            chm = _chm(info.get("chm", "ffffffff1f"))
            current = connections[aa] = _Connection(aa, crc_init, hop, chm & _ALL_CHANNELS)
            yield PcapRecord(t_us, ev.seq, _connect_record(ev, aa, crc_init, hop, chm))
        elif ev.kind == PDU:
            if ev.link is not None:
                aa = ev.link.access_address & 0xFFFFFFFF
                conn = connections.get(aa)
                if conn is None or conn.crc_init != ev.link.crc_init & 0xFFFFFF:
                    conn = connections[aa] = _Connection(aa, ev.link.crc_init & 0xFFFFFF)
            elif current is not None:
                conn = current
            else:
                continue
            central = ev.src == TESTER
            decrypted = False
            air: list[bytes] = [bytes(pdu) for pdu in ev.air]
            if air and plaintext:
                plain = _decrypted_air(ev.layer, bytes(ev.data), ev.air)
                if plain is not None:
                    air, decrypted = plain, True
            if not air and synthesize:
                air = _synthesize(conn, central, ev.layer, bytes(ev.data))
                decrypted = bool(ev.link is not None and ev.link.encrypted)
            pdu_type = PDU_TYPE_DATA_C_TO_P if central else PDU_TYPE_DATA_P_TO_C
            for pdu in air:
                channel = conn.channel_for(central, pdu)
                conn.note_sn(central, pdu)
                frame = _frame(channel, conn.access_address, pdu, conn.crc_init, pdu_type,
                               decrypted)
                yield PcapRecord(t_us, ev.seq, frame)


def write_pcap(path: str | os.PathLike[str], events: Iterable[Event], *, plaintext: bool = False,
               synthesize: bool = True, base_us: int = 0) -> int:
    """Write ``events`` to ``path`` as a LINKTYPE 256 pcap, atomically; returns the record count.

    Time stamps are ``base_us`` + each event's ``t`` microseconds. See ``iter_pcap_records`` for
    ``plaintext`` and ``synthesize``.
    """
    from scapy.utils import PcapWriter

    count = 0
    with atomic_open(path, "wb") as f:
        writer = PcapWriter(f, linktype=LINKTYPE_BLUETOOTH_LE_LL_WITH_PHDR, endianness="<",
                            snaplen=65535)
        writer.write_header(None)
        for record in iter_pcap_records(events, plaintext=plaintext, synthesize=synthesize):
            sec, usec = divmod(base_us + record.t_us, 1_000_000)
            writer.write_packet(record.frame, sec=sec, usec=usec)
            count += 1
        writer.flush()  # not close(): atomic_open owns the file
    return count
