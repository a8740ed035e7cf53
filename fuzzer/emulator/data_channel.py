"""One end of an LL data channel: header, SN/NESN, fragmentation and encryption.

Core Vol 6 Part B 2.4 (data channel PDU), 4.5.9 (acknowledgement and flow control) and 5.1.3
(encryption: packet counters per direction, AES-CCM with a 4-octet MIC, Part E). Both the emulated
peripheral and the tester's emulated central use it, so both ends speak the same air format.
"""

from __future__ import annotations

from fuzzer.crypto.session import LinkCipher
from fuzzer.protocol import l2cap
from fuzzer.protocol.ll import LLID_CONTROL

MIC_SIZE = 4
MAX_PAYLOAD = 27  # octets of LL payload before Data Length Extension (Vol 6 Part B 2.4)


class MicFailure(Exception):
    """A received encrypted PDU failed its MIC check (Vol 6 Part B 5.1.3.1: disconnect 0x3D)."""


class DataChannel:
    """Builds and parses LL data channel PDUs for one end (central or peripheral)."""

    __slots__ = (
        "is_central", "sn", "nesn", "cipher", "tx_encrypted", "rx_encrypted",
        "tx_counter", "rx_counter", "reassembler", "max_payload",
    )

    def __init__(self, is_central: bool, max_payload: int = MAX_PAYLOAD) -> None:
        self.is_central = is_central
        self.sn = 0
        self.nesn = 0
        self.cipher: LinkCipher | None = None
        self.tx_encrypted = False
        self.rx_encrypted = False
        self.tx_counter = 0
        self.rx_counter = 0
        self.reassembler = l2cap.Reassembler()
        self.max_payload = max_payload

    def set_cipher(self, cipher: LinkCipher | None) -> None:
        """Install a new session (counters restart at zero) or remove it."""
        self.cipher = cipher
        self.tx_counter = 0
        self.rx_counter = 0
        if cipher is None:
            self.tx_encrypted = False
            self.rx_encrypted = False

    def build(self, llid: int, payload: bytes) -> bytes:
        """One air PDU (header + payload, + MIC when transmit encryption is on)."""
        header0 = llid | (self.nesn << 2) | (self.sn << 3)
        if self.tx_encrypted and self.cipher is not None and payload:
            # An empty PDU is never encrypted (Vol 6 Part B 5.1.3).
            body = self.cipher.encrypt(header0, payload, self.tx_counter, self.is_central)
            self.tx_counter += 1
        else:
            body = payload
        self.sn ^= 1  # the peer acknowledges every PDU on the emulated air
        return bytes((header0, len(body))) + body

    def build_l2cap(self, frame: bytes) -> list[bytes]:
        """Air PDUs that carry one L2CAP frame (LLID start, then continuation fragments)."""
        return [self.build(llid, chunk) for llid, chunk in l2cap.fragment(frame, self.max_payload)]

    def build_control(self, pdu: bytes) -> bytes:
        return self.build(LLID_CONTROL, pdu)

    def parse(self, air: bytes) -> tuple[int, bytes]:
        """(LLID, plaintext payload) of a received air PDU; raises MicFailure or ValueError."""
        if len(air) < 2:
            raise ValueError("data channel PDU shorter than its 2-octet header")
        header0, length = air[0], air[1]
        body = air[2:]
        if len(body) != length:
            raise ValueError(f"length field {length} but {len(body)} payload octets")
        self.nesn ^= 1
        llid = header0 & 0x03
        if self.rx_encrypted and self.cipher is not None and body:
            plain = self.cipher.decrypt(header0, body, self.rx_counter, not self.is_central)
            if plain is None:
                raise MicFailure(f"MIC failure at packet counter {self.rx_counter}")
            self.rx_counter += 1
            return llid, plain
        return llid, body
