"""SMP spec layouts and constants (Vol 3 Part H 3.3-3.6); scapy agreement is in
test_protocol_scapy_agreement.py."""

from __future__ import annotations

from fuzzer.protocol import smp
from fuzzer.protocol.smp import SMP


def test_pairing_request_layout() -> None:
    pdu = SMP.encode("Pairing Request", io_capability=smp.NO_INPUT_NO_OUTPUT,
                     oob_data_flag=smp.OOB_NOT_PRESENT,
                     authreq=smp.BONDING | smp.MITM | smp.SC,
                     max_encryption_key_size=16,
                     initiator_key_distribution=smp.ENC_KEY | smp.ID_KEY,
                     responder_key_distribution=smp.ENC_KEY | smp.ID_KEY)
    assert pdu == bytes.fromhex("01 03 00 0d 10 03 03")
    assert SMP.decode(pdu).fields["authreq"] == 0x0D


def test_other_layouts() -> None:
    assert SMP.encode("Pairing Failed", reason=smp.CONFIRM_VALUE_FAILED) == b"\x05\x04"
    assert SMP.encode("Security Request", authreq=smp.BONDING) == b"\x0b\x01"
    assert SMP.encode("Central Identification", ediv=0x1234, rand=bytes(range(8))) \
        == b"\x07\x34\x12" + bytes(range(8))
    assert SMP.encode("Identity Address Information", addr_type=smp.ADDR_STATIC_RANDOM,
                      bd_addr=bytes.fromhex("665544332211")) == bytes.fromhex("0901665544332211")
    pk = SMP.encode("Pairing Public Key", public_key_x=b"x" * 32, public_key_y=b"y" * 32)
    assert len(pk) == 65 and SMP.min_length("Pairing Public Key") == 65
    assert SMP.decode(pk[:40]).error == "truncated: need 65 octets, got 40"
    assert SMP.decode(pk[:40]).fields == {"public_key_x": b"x" * 32}


def test_constants() -> None:
    assert (smp.BONDING, smp.MITM, smp.SC, smp.KEYPRESS, smp.CT2) == (1, 4, 8, 0x10, 0x20)
    assert (smp.ENC_KEY, smp.ID_KEY, smp.SIGN_KEY, smp.LINK_KEY) == (1, 2, 4, 8)
    assert sorted(smp.REASON_NAMES) == list(range(1, 16))
    for code, name in smp.REASON_NAMES.items():
        assert getattr(smp, name) == code
    assert smp.KEY_REJECTED == 0x0F and smp.PASSKEY_ENTRY_FAILED == 1
    assert smp.reason_name(0x20) == "0x20"
    assert [SMP.opcode_of(n) for n in SMP.names] == list(range(1, 15))
