"""One end of an LL data channel: header, SN/NESN, fragmentation and encryption.

Core Vol 6 Part B 2.4 (data channel PDU), 4.5.9 (acknowledgement and flow control), 4.5.10 (data
PDU length: the effective maximum payload per direction) and 5.1.3 (encryption: a 39-bit packet
counter per direction, AES-CCM with a 4-octet MIC, Part E). Both the emulated peripheral and the
tester's emulated central use it, so both ends speak the same air format.
"""

from __future__ import annotations

import struct

from fuzzer.crypto.session import LinkCipher
from fuzzer.protocol import l2cap
from fuzzer.protocol.ll import LLID_CONTROL, LLID_START

MIC_SIZE = 4
MAX_PAYLOAD = 27  # octets of LL payload before Data Length Extension (Vol 6 Part B 2.4)
AIR_MAX_PAYLOAD = 255  # what the 8-bit Length field can carry (Vol 6 Part B 2.4)

# Data length limits (Vol 6 Part B 4.5.10): octets 27..251; times in microseconds, 328 (27 octets
# on LE 1M) up to 2120 (251 octets on LE 1M), or 17040 from 5.0 on (LE Coded)
MIN_OCTETS, MAX_OCTETS = 27, 251
MIN_TIME_US, MAX_TIME_1M_US, MAX_TIME_CODED_US = 328, 2120, 17040

# the 2-octet header (Vol 6 Part B 2.4): LLID, NESN, SN, MD and RFU bits, then Length
_pack_header = struct.Struct("BB").pack


def octets_in_time_1m(time_us: int) -> int:
    """The largest payload whose packet, MIC included, fits in ``time_us`` on LE 1M: 8 µs per
    octet over preamble, access address, header, payload, MIC and CRC (Vol 6 Part B 2.1, 4.5.10)."""
    return time_us // 8 - 14


def effective_octets(local_octets: int, local_time_us: int, remote_octets: int,
                     remote_time_us: int) -> int:
    """connEffectiveMax{Tx,Rx}Octets for one direction (Vol 6 Part B 4.5.10): the smaller of our
    maximum and the peer's for that direction, limited by the effective time on LE 1M, and
    never below 27."""
    octets = min(local_octets, remote_octets)
    time_us = max(MIN_TIME_US, min(local_time_us, remote_time_us))
    return max(MIN_OCTETS, min(octets, octets_in_time_1m(time_us)))


class MicFailure(Exception):
    """A received encrypted PDU failed its MIC check (Vol 6 Part B 5.1.3.1: disconnect 0x3D)."""


class DataChannel:
    """Builds and parses LL data channel PDUs for one end (central or peripheral)."""

    __slots__ = (
        "is_central", "sn", "nesn", "cipher", "tx_encrypted", "rx_encrypted",
        "tx_counter", "rx_counter", "reassembler", "max_payload", "max_rx_payload",
    )

    def __init__(self, is_central: bool, max_payload: int = MAX_PAYLOAD,
                 max_rx_payload: int = MAX_PAYLOAD) -> None:
        self.is_central = is_central
        self.sn = 0
        self.nesn = 0
        self.cipher: LinkCipher | None = None
        self.tx_encrypted = False
        self.rx_encrypted = False
        self.tx_counter = 0
        self.rx_counter = 0
        self.reassembler = l2cap.Reassembler()
        self.max_payload = max_payload  # connEffectiveMaxTxOctets: transmit fragmentation
        self.max_rx_payload = max_rx_payload  # connEffectiveMaxRxOctets: longer PDUs are lost

    def set_lengths(self, max_tx: int, max_rx: int) -> None:
        """Apply new effective maximum payloads (Vol 6 Part B 4.5.10, after 5.1.9)."""
        self.max_payload = max_tx
        self.max_rx_payload = max_rx

    def set_cipher(self, cipher: LinkCipher | None) -> None:
        """Install a new session (both packet counters restart at zero, Vol 6 Part B 5.1.3.1)
        or remove it."""
        self.cipher = cipher
        self.tx_counter = 0
        self.rx_counter = 0
        if cipher is None:
            self.tx_encrypted = False
            self.rx_encrypted = False

    def build(self, llid: int, payload: bytes) -> bytes:
        """One air PDU (header + payload, + MIC when transmit encryption is on)."""
        header0 = llid | (self.nesn << 2) | (self.sn << 3)
        if self.tx_encrypted and payload and self.cipher is not None:
            # An empty PDU is never encrypted (Vol 6 Part B 5.1.3).
            payload = self.cipher.encrypt(header0, payload, self.tx_counter, self.is_central)
            self.tx_counter += 1
        self.sn ^= 1  # the peer acknowledges every PDU on the emulated air
        try:
            return _pack_header(header0, len(payload)) + payload
        except struct.error:  # over 255 octets: the ValueError bytes() gives, as before
            return bytes((header0, len(payload))) + payload

    def build_l2cap(self, frame: bytes) -> tuple[bytes, ...]:
        """Air PDUs that carry one L2CAP frame (LLID start, then continuation fragments)."""
        if len(frame) <= self.max_payload:
            return (self.build(LLID_START, frame),)  # fits in one PDU (Vol 6 Part B 2.4)
        return tuple([self.build(llid, chunk)
                      for llid, chunk in l2cap.fragment(frame, self.max_payload)])

    def build_control(self, pdu: bytes) -> bytes:
        """One air PDU carrying an LL control PDU."""
        return self.build(LLID_CONTROL, pdu)

    def parse(self, air: bytes) -> tuple[int, bytes]:
        """(LLID, plaintext payload) of a received air PDU; raises MicFailure or ValueError."""
        size = len(air)
        if size < 2:
            raise ValueError("data channel PDU shorter than its 2-octet header")
        header0, length = air[0], air[1]
        if size - 2 != length:
            raise ValueError(f"length field {length} but {size - 2} payload octets")
        # The receiver is set up for connEffectiveMaxRxOctets (4.5.10); a longer PDU is not
        # received (as an nRF5 radio truncates at PCNF1.MAXLEN and fails the CRC).
        if self.rx_encrypted and length and self.cipher is not None:
            if length - MIC_SIZE > self.max_rx_payload:
                raise ValueError(f"payload of {length - MIC_SIZE} octets exceeds the receive "
                                 f"maximum {self.max_rx_payload}")
            self.nesn ^= 1
            plain = self.cipher.decrypt(header0, air[2:], self.rx_counter, not self.is_central)
            if plain is None:
                raise MicFailure(f"MIC failure at packet counter {self.rx_counter}")
            self.rx_counter += 1
            return header0 & 0x03, plain
        if length > self.max_rx_payload:
            raise ValueError(f"payload of {length} octets exceeds the receive maximum "
                             f"{self.max_rx_payload}")
        self.nesn ^= 1
        return header0 & 0x03, air[2:]
