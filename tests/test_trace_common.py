"""A hand-built, protocol-correct trace shared by the trace writer tests (no tests here).

Advertising, CONNECT_IND, legacy SMP pairing (Pairing Request/Response, Confirm, Random) as
LLID=2 L2CAP frames on CID 6, LL_ENC_REQ / LL_ENC_RSP / LL_START_ENC_REQ in the clear, then
encrypted LL_START_ENC_RSP from both sides, an encrypted ATT Read Request and an encrypted
LL_TERMINATE_IND, each as ciphertext + 4-octet MIC of the right length. SN/NESN follow the
acknowledgement scheme and every PDU goes in the direction the spec requires.
"""

from __future__ import annotations

import random
import struct

from fuzzer.trace.events import (
    ADV,
    CONNECT,
    DEVICE,
    DISCONNECT,
    ENCRYPTION,
    PDU,
    STEP,
    TESTER,
    Link,
    Trace,
)

ACCESS_ADDRESS = 0x50654C3A
CRC_INIT = 0x9A1B2C  # octets differ, so a CRC init in the wrong order shows up
CENTRAL = "F1:22:33:44:55:66"
PERIPHERAL = "C0:11:22:33:44:55"
DEVICE_NAME = "blefuzz-dut"

PAIRING_REQUEST = bytes.fromhex("01" "03" "00" "01" "10" "07" "07")
PAIRING_RESPONSE = bytes.fromhex("02" "03" "00" "01" "10" "01" "01")
LL_ENC_REQ = bytes([0x03]) + bytes(range(1, 9)) + b"\x34\x12" + bytes(range(0x10, 0x18)) \
    + b"\xa0\xa1\xa2\xa3"
LL_ENC_RSP = bytes([0x04]) + bytes(range(0x20, 0x28)) + b"\xb0\xb1\xb2\xb3"
LL_START_ENC_REQ = b"\x05"
LL_START_ENC_RSP = b"\x06"
ATT_READ_REQUEST = b"\x0a\x03\x00"
LL_TERMINATE_IND = b"\x02\x13"


def adv_data(name: str = DEVICE_NAME) -> bytes:
    """Flags (LE General Discoverable, BR/EDR not supported) and the complete local name."""
    encoded = name.encode()
    return b"\x02\x01\x06" + bytes([len(encoded) + 1, 0x09]) + encoded


def l2cap(cid: int, payload: bytes) -> bytes:
    """A basic L2CAP frame."""
    return struct.pack("<HH", len(payload), cid) + payload


class _Air:
    """Data PDU headers with correct SN/NESN for one connection."""

    def __init__(self) -> None:
        self.sn = {True: 0, False: 0}
        self.last = {True: None, False: None}

    def pdu(self, central: bool, llid: int, payload: bytes) -> bytes:
        peer = self.last[not central]
        nesn = 0 if peer is None else peer ^ 1
        sn = self.sn[central]
        self.sn[central] ^= 1
        self.last[central] = sn
        return bytes([llid | nesn << 2 | sn << 3, len(payload)]) + payload


def ciphertext(rng: random.Random, plaintext_len: int, llid: int) -> bytes:
    """Random octets standing for ciphertext + MIC of a plaintext of ``plaintext_len`` octets.

    Wireshark has no notion of LL encryption and dissects ciphertext as if it were plaintext, so
    a random first octet that happens to be an LL opcode with a longer body is reported as a
    Malformed Packet. The first octet of an LL control PDU is therefore kept in the unassigned
    range 0x80-0xff, and for an L2CAP start the length field is kept above the payload length
    (Wireshark shows an L2CAP fragment start).
    """
    data = bytearray(rng.randbytes(plaintext_len + 4))
    if llid == 3:
        data[0] |= 0x80
    elif llid == 2 and len(data) >= 2:
        data[1] |= 0x80
    return bytes(data)


def build_trace(seed: int = 2024) -> Trace:
    """The synthetic trace described in the module docstring."""
    rng = random.Random(seed)
    air = _Air()
    trace = Trace()
    t = 0

    trace.step = 0
    trace.add(t, STEP, info={"index": 0, "op": "scan", "args": {}, "label": "find the device"})
    t += 100
    trace.add(t, ADV, DEVICE, data=adv_data(), info={
        "address": PERIPHERAL, "address_type": "random", "name": DEVICE_NAME,
        "pdu_type": "ADV_IND"})
    t += 150
    trace.step = 1
    trace.add(t, STEP, info={"index": 1, "op": "connect", "args": {"address": PERIPHERAL},
                             "label": "connect"})
    trace.add(t, CONNECT, info={
        "central_address": CENTRAL, "central_address_type": "random",
        "peripheral_address": PERIPHERAL, "peripheral_address_type": "random",
        "access_address": ACCESS_ADDRESS, "crc_init": CRC_INIT, "win_size": 2,
        "win_offset": 0, "interval": 24, "latency": 0, "timeout": 72,
        "chm": "ffffffff1f", "hop": 7, "sca": 5})
    link = Link(1, TESTER, CENTRAL, PERIPHERAL, ACCESS_ADDRESS, CRC_INIT)

    def send(central: bool, layer: str, data: bytes, llid: int, payload: bytes) -> None:
        nonlocal t
        t += 1250 if central else 150
        trace.add(t, PDU, TESTER if central else DEVICE, layer=layer, data=data,
                  air=(air.pdu(central, llid, payload),), link=link)

    trace.step = 2
    trace.add(t, STEP, info={"index": 2, "op": "pair", "args": {"method": "legacy"},
                             "label": "pair"})
    send(True, "smp", PAIRING_REQUEST, 2, l2cap(6, PAIRING_REQUEST))
    send(False, "smp", PAIRING_RESPONSE, 2, l2cap(6, PAIRING_RESPONSE))
    for opcode in (0x03, 0x04):  # Pairing Confirm, Pairing Random: central, then peripheral
        for central in (True, False):
            smp = bytes([opcode]) + rng.randbytes(16)
            send(central, "smp", smp, 2, l2cap(6, smp))
    trace.add(t, "key", info={"type": "STK", "value": rng.randbytes(16)})

    trace.step = 3
    trace.add(t, STEP, info={"index": 3, "op": "encrypt", "args": {}, "label": "encrypt"})
    send(True, "ll", LL_ENC_REQ, 3, LL_ENC_REQ)
    send(False, "ll", LL_ENC_RSP, 3, LL_ENC_RSP)
    send(False, "ll", LL_START_ENC_REQ, 3, LL_START_ENC_REQ)
    link = link.with_encryption(True, 16)
    send(True, "ll", LL_START_ENC_RSP, 3, ciphertext(rng, len(LL_START_ENC_RSP), 3))
    send(False, "ll", LL_START_ENC_RSP, 3, ciphertext(rng, len(LL_START_ENC_RSP), 3))
    trace.add(t, ENCRYPTION, info={"state": "on", "key_size": 16})

    trace.step = 4
    trace.add(t, STEP, info={"index": 4, "op": "read", "args": {"handle": 3}, "label": "read"})
    send(True, "att", ATT_READ_REQUEST, 2,
         ciphertext(rng, len(l2cap(4, ATT_READ_REQUEST)), 2))
    send(True, "ll", LL_TERMINATE_IND, 3, ciphertext(rng, len(LL_TERMINATE_IND), 3))
    trace.add(t + 10, DISCONNECT, info={"reason": 0x13, "by": "tester"})
    return trace
