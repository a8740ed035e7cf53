"""Tests for the LINKTYPE_BLUETOOTH_LE_LL_WITH_PHDR pcap writer, checked with tshark and scapy.

tshark is required: the test fails with a clear message when it is missing (.ci/run installs
it); there is no way to skip the Wireshark checks.
"""

from __future__ import annotations

import os
import re
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from fuzzer.trace.events import ADV, CONNECT, DEVICE, PDU, TESTER, Link, make_event
from fuzzer.trace.pcap import (
    ADVERTISING_ACCESS_ADDRESS,
    ADVERTISING_CRC_INIT,
    FLAG_CRC_CHECKED,
    FLAG_CRC_VALID,
    FLAG_DECRYPTED,
    LINKTYPE_BLUETOOTH_LE_LL_WITH_PHDR,
    PDU_TYPE_DATA_C_TO_P,
    PDU_TYPE_DATA_P_TO_C,
    ble_crc,
    iter_pcap_records,
    rf_channel,
    write_pcap,
)

try:
    from test_trace_common import ACCESS_ADDRESS, CRC_INIT, build_trace
except ImportError:  # tests/ imported as a package
    from tests.test_trace_common import ACCESS_ADDRESS, CRC_INIT, build_trace

RF_HEADER = 10


# ---------------------------------------------------------------------------------------------
# helpers


def tshark() -> str:
    """Path of tshark; the test fails when it is not installed (.ci/run installs it)."""
    path = shutil.which("tshark")
    if path is None:
        pytest.fail("tshark is not installed: apt-get install tshark", pytrace=False)
    return path


def run_tshark(pcap: Path, *args: str) -> str:
    """tshark's output for ``pcap``; fails on a non-zero exit."""
    result = subprocess.run(
        [tshark(), "-n", "-r", str(pcap), *args],
        capture_output=True, text=True, timeout=120, check=False,
        env={**os.environ, "LC_ALL": "C.UTF-8"},
    )
    assert result.returncode == 0, f"tshark failed ({result.returncode}): {result.stderr}"
    return result.stdout


def assert_clean(verbose: str) -> None:
    """No malformed packet, no error or warning from any dissector, no bad CRC."""
    bad = [line for line in verbose.splitlines()
           if "Malformed" in line or "Expert Info (Error" in line
           or "Expert Info (Warning" in line or "Incorrect CRC" in line
           or "[incorrect" in line]
    assert not bad, "tshark complains:\n" + "\n".join(bad)


def reference_crc(pdu: bytes, crc_init: int) -> bytes:
    """The LL CRC straight from the spec's LFSR (Vol 6 Part B 3.1.1), not the writer's code.

    Position 0 of the 24-bit register holds the LSB of CRCInit, data enters LSB first, the
    polynomial is x^24 + x^10 + x^9 + x^6 + x^4 + x^3 + x + 1, and the register is sent from
    position 23 down, each octet on air LSB first.
    """
    state = crc_init & 0xFFFFFF
    for octet in pdu:
        for bit in range(8):
            feedback = (state >> 23 & 1) ^ (octet >> bit & 1)
            state = (state << 1) & 0xFFFFFF
            if feedback:
                state ^= 0x00065B
    sent_bits = [state >> (23 - i) & 1 for i in range(24)]
    return bytes(sum(sent_bits[8 * k + i] << i for i in range(8)) for k in range(3))


def records(pcap: Path) -> list[tuple[int, int, bytes]]:
    """(seconds, microseconds, frame) of each record, read with plain struct."""
    data = pcap.read_bytes()
    magic, major, minor, _zone, _sigfigs, snaplen, linktype = struct.unpack("<IHHiIII", data[:24])
    assert (magic, major, minor, linktype) == (0xA1B2C3D4, 2, 4, 256)
    assert snaplen >= 300
    out = []
    pos = 24
    while pos < len(data):
        sec, usec, caplen, wirelen = struct.unpack("<IIII", data[pos:pos + 16])
        assert caplen == wirelen
        out.append((sec, usec, data[pos + 16:pos + 16 + caplen]))
        pos += 16 + caplen
    return out


@pytest.fixture
def pcap(tmp_path: Path) -> Path:
    path = tmp_path / "trace.pcap"
    assert write_pcap(path, build_trace()) == 15
    return path


# ---------------------------------------------------------------------------------------------
# Wireshark's view


def test_tshark_dissects_the_trace_cleanly(pcap: Path) -> None:
    verbose = run_tshark(pcap, "-V")
    assert_clean(verbose)
    summary = run_tshark(pcap)
    for name in ("ADV_IND", "CONNECT_IND", "Pairing Request", "Pairing Response",
                 "Pairing Confirm", "Pairing Random", "LL_ENC_REQ", "LL_ENC_RSP",
                 "LL_START_ENC_REQ"):
        assert name in summary, f"{name!r} missing from tshark output:\n{summary}"
    # the CONNECT_IND taught Wireshark the connection: data PDUs carry both addresses
    assert verbose.count("Master Address: f1:22:33:44:55:66") == 13 or \
        verbose.count("Central Address: f1:22:33:44:55:66") == 13
    assert "CRC Init: 0x9a1b2c" in verbose
    assert "Access Address: 0x50654c3a" in verbose
    assert verbose.count("Decrypted: True") == 0


def test_tshark_sees_the_direction_of_each_pdu(pcap: Path) -> None:
    fields = run_tshark(pcap, "-T", "fields", "-e", "frame.number", "-e", "btle_rf.pdu_type",
                        "-e", "btle.control_opcode", "-e", "btsmp.opcode")
    rows = [line.split("\t") for line in fields.splitlines()]
    pdu_types = [int(row[1], 0) for row in rows]
    # ADV, CONNECT_IND, then SMP req/rsp, confirm x2, random x2 (central first), LL_ENC_REQ,
    # LL_ENC_RSP, LL_START_ENC_REQ, encrypted START_ENC_RSP x2, ATT request, TERMINATE
    c, p = PDU_TYPE_DATA_C_TO_P, PDU_TYPE_DATA_P_TO_C
    assert pdu_types == [0, 0, c, p, c, p, c, p, c, p, p, c, p, c, c]
    assert [row[2] for row in rows[8:11]] == ["0x03", "0x04", "0x05"]
    assert [row[3] for row in rows[2:4]] == ["0x01", "0x02"]


def test_tshark_checks_the_advertising_crc(tmp_path: Path, pcap: Path) -> None:
    """With the 'CRC checked' flags cleared, Wireshark computes advertising CRCs itself."""
    data = bytearray(pcap.read_bytes())
    pos = 24
    while pos < len(data):
        caplen = struct.unpack_from("<I", data, pos + 8)[0]
        frame = pos + 16
        flags = struct.unpack_from("<H", data, frame + 8)[0]
        struct.pack_into("<H", data, frame + 8, flags & ~(FLAG_CRC_CHECKED | FLAG_CRC_VALID))
        pos = frame + caplen
    unchecked = tmp_path / "unchecked.pcap"
    unchecked.write_bytes(bytes(data))
    verbose = run_tshark(unchecked, "-V", "-Y", "btle.access_address == 0x8e89bed6")
    assert verbose.count("CRC: 0x") == 2
    assert "Incorrect CRC" not in verbose

    # and it does notice a wrong one
    first_len = struct.unpack_from("<I", data, 24 + 8)[0]
    data[24 + 16 + first_len - 1] ^= 0x01
    unchecked.write_bytes(bytes(data))
    assert "Incorrect CRC" in run_tshark(unchecked, "-V", "-Y", "frame.number == 1")


def test_ciphertext_is_dissected_as_plaintext(pcap: Path) -> None:
    """Wireshark has no notion of LL encryption: ciphertext shows as odd opcodes/fragments."""
    summary = run_tshark(pcap).splitlines()
    assert "Control Opcode: Unknown" in summary[11]
    assert "Control Opcode: Unknown" in summary[12]
    assert "L2CAP Fragment Start" in summary[13]
    assert "Control Opcode: Unknown" in summary[14]


def test_plaintext_mode_shows_the_encrypted_pdus(tmp_path: Path) -> None:
    path = tmp_path / "plain.pcap"
    assert write_pcap(path, build_trace(), plaintext=True) == 15
    verbose = run_tshark(path, "-V")
    assert_clean(verbose)
    assert verbose.count("Decrypted: True") == 4
    summary = run_tshark(path).splitlines()
    assert "LL_START_ENC_RSP" in summary[11] and "LL_START_ENC_RSP" in summary[12]
    assert "Read Request" in summary[13]
    assert "LL_TERMINATE_IND" in summary[14]


def test_plaintext_mode_keeps_ciphertext_it_cannot_match(tmp_path: Path) -> None:
    trace = build_trace()
    link = trace.events[-2].link
    cipher = b"\x03\x09" + bytes(range(0x80, 0x89))
    trace.add(20_000, PDU, DEVICE, "ll", b"", (cipher,), link, {"mic_failure": True})
    trace.add(21_000, PDU, DEVICE, "ll", b"\x02\x13\x00", (cipher,), link)  # 3 + 4 != 9
    frames = [r.frame for r in iter_pcap_records(trace.events, plaintext=True)]
    for frame in frames[-2:]:
        assert frame[RF_HEADER + 4:-3] == cipher
        assert not struct.unpack_from("<H", frame, 8)[0] & FLAG_DECRYPTED


def test_pdus_recorded_without_air_are_synthesized(tmp_path: Path) -> None:
    trace = build_trace()
    for ev in trace.events:
        ev.air = ()
    path = tmp_path / "synth.pcap"
    assert write_pcap(path, trace) == 15
    verbose = run_tshark(path, "-V")
    assert_clean(verbose)
    assert "[Retransmit]" not in verbose and "[Request retransmit]" not in verbose
    assert verbose.count("Decrypted: True") == 4
    summary = run_tshark(path)
    for name in ("Pairing Request", "Pairing Response", "LL_ENC_REQ", "LL_ENC_RSP",
                 "LL_START_ENC_REQ", "LL_START_ENC_RSP", "Read Request", "LL_TERMINATE_IND"):
        assert name in summary
    assert write_pcap(tmp_path / "none.pcap", trace, synthesize=False) == 2


def test_long_l2cap_frames_are_fragmented_and_reassembled(tmp_path: Path) -> None:
    trace = build_trace()
    link = Link(1, TESTER, "F1:22:33:44:55:66", "C0:11:22:33:44:55", ACCESS_ADDRESS, CRC_INIT)
    events = [ev for ev in trace.events if ev.kind in (ADV, CONNECT)]
    public_key = b"\x0c" + bytes(range(64))  # SMP Pairing Public Key
    events.append(make_event(100, 20_000, PDU, TESTER, "smp", public_key, (), link))
    events.append(make_event(101, 20_200, PDU, DEVICE, "smp", public_key, (), link))
    path = tmp_path / "frag.pcap"
    # each 69-octet L2CAP frame goes in 27 + 27 + 15 octet LL PDUs
    assert write_pcap(path, events) == 2 + 3 + 3
    verbose = run_tshark(path, "-V")
    assert_clean(verbose)
    assert verbose.count("Reassembled L2CAP") >= 2
    assert run_tshark(path).count("Pairing Public Key") == 2


# ---------------------------------------------------------------------------------------------
# the bytes


def test_frames_carry_the_air_pdus_with_correct_crcs(pcap: Path) -> None:
    trace = build_trace()
    air = [(ev.src, pdu) for ev in trace.events if ev.kind == PDU for pdu in ev.air]
    frames = [frame for _, _, frame in records(pcap)]
    assert len(frames) == 2 + len(air)
    for frame in frames:
        aa = struct.unpack_from("<I", frame, RF_HEADER)[0]
        flags = struct.unpack_from("<H", frame, 8)[0]
        assert flags & 0x0C11 == 0x0C11  # dewhitened, ref AA valid, CRC checked and valid
        assert not flags & FLAG_DECRYPTED
        assert struct.unpack_from("<I", frame, 4)[0] == aa  # reference access address
        pdu, crc = frame[RF_HEADER + 4:-3], frame[-3:]
        init = ADVERTISING_CRC_INIT if aa == ADVERTISING_ACCESS_ADDRESS else CRC_INIT
        assert crc == reference_crc(pdu, init)
        assert len(pdu) == 2 + pdu[1]
    assert [frame[0] for frame in frames[:2]] == [0, 0]  # RF channel 0 = advertising ch. 37
    for (src, pdu), frame in zip(air, frames[2:], strict=True):
        assert frame[RF_HEADER + 4:-3] == pdu
        assert struct.unpack_from("<I", frame, RF_HEADER)[0] == ACCESS_ADDRESS
        pdu_type = struct.unpack_from("<H", frame, 8)[0] >> 7 & 7
        assert pdu_type == (PDU_TYPE_DATA_C_TO_P if src == TESTER else PDU_TYPE_DATA_P_TO_C)


def test_ble_crc_matches_the_reference_and_scapy() -> None:
    from scapy.layers.bluetooth4LE import BTLE

    for init in (0x555555, 0x9A1B2C, 0x000001, 0xFFFFFF, 0x123456):
        for pdu in (b"\x00\x00", bytes(range(40)), b"\x03\x01\x05"):
            assert ble_crc(pdu, init) == reference_crc(pdu, init)
    # scapy agrees only where the three octets of the init are equal (its octet order is off)
    pdu = bytes.fromhex("4012554433" "2211c0020106")
    assert ble_crc(pdu, 0x555555) == BTLE.compute_crc(pdu, 0x555555)


def test_scapy_reads_the_file_back(pcap: Path) -> None:
    from scapy.layers.bluetooth4LE import BTLE, BTLE_CONNECT_REQ, BTLE_RF
    from scapy.utils import PcapReader, rdpcap

    packets = rdpcap(str(pcap))
    assert len(packets) == 15
    with PcapReader(str(pcap)) as reader:
        assert reader.linktype == LINKTYPE_BLUETOOTH_LE_LL_WITH_PHDR
    assert all(BTLE_RF in pkt for pkt in packets)
    conn = packets[1][BTLE_CONNECT_REQ]
    assert conn.AA == ACCESS_ADDRESS
    assert conn.crc_init == CRC_INIT
    assert (conn.interval, conn.timeout, conn.hop, conn.SCA) == (24, 72, 7, 5)
    assert conn.chM == 0x1FFFFFFFFF
    assert conn.InitA == "f1:22:33:44:55:66" and conn.AdvA == "c0:11:22:33:44:55"
    assert all(pkt[BTLE].access_addr == ACCESS_ADDRESS for pkt in packets[2:])


def test_writing_is_deterministic(tmp_path: Path, pcap: Path) -> None:
    again = tmp_path / "again.pcap"
    write_pcap(again, build_trace())
    assert again.read_bytes() == pcap.read_bytes()


def test_time_stamps_are_the_virtual_time(pcap: Path) -> None:
    trace = build_trace()
    times = [ev.t for ev in trace.events if ev.kind in (ADV, CONNECT)]
    times += [ev.t for ev in trace.events if ev.kind == PDU for _ in ev.air]
    assert [sec * 1_000_000 + usec for sec, usec, _ in records(pcap)] == sorted(times) == times


def test_base_time_offsets_every_record(tmp_path: Path) -> None:
    path = tmp_path / "based.pcap"
    write_pcap(path, build_trace(), base_us=1_700_000_000_000_000)
    assert records(path)[0][:2] == (1_700_000_000, 100)


def test_data_channels_follow_channel_selection_1() -> None:
    frames = [r.frame for r in iter_pcap_records(build_trace().events)]
    channels = [frame[0] for frame in frames[2:]]
    index = {rf_channel(i): i for i in range(40)}
    # hop 7, all channels used: events 7, 14, 21, ...; the peripheral answers on the same one
    expected_events = [7, 14, 21, 28, 35, 5, 12, 19, 26]
    senders = ["c", "p", "c", "p", "c", "p", "c", "p", "c", "p", "p", "c", "p", "c", "c"][2:]
    event = -1
    expected = []
    for who in senders:
        if who == "c":
            event += 1
        expected.append(expected_events[event])
    assert [index[ch] for ch in channels] == expected


def test_rf_channel_mapping() -> None:
    assert [rf_channel(i) for i in (37, 0, 10, 38, 11, 36, 39)] == [0, 1, 11, 12, 13, 38, 39]
    with pytest.raises(ValueError):
        rf_channel(40)


def test_channel_map_remaps_unused_channels() -> None:
    trace = build_trace()
    connect = next(ev for ev in trace.events if ev.kind == CONNECT)
    assert connect.info is not None
    connect.info["chm"] = "0300000000"  # channels 0 and 1 only
    frames = [r.frame for r in iter_pcap_records(trace.events)]
    assert {frame[0] for frame in frames[2:]} <= {rf_channel(0), rf_channel(1)}


def test_events_without_a_connection_are_skipped_and_odd_info_tolerated(
        tmp_path: Path) -> None:
    events = [
        make_event(0, 0, PDU, TESTER, "ll", b"\x02\x13", (b"\x03\x02\x02\x13",), None),
        make_event(1, 10, ADV, DEVICE, data=b"\xff" * 300, info={"address": "not an address"}),
        make_event(2, 20, CONNECT, info={"access_address": "0x11223344", "crc_init": None,
                                    "chm": "zz", "hop": 99, "interval": 1 << 40}),
        make_event(3, 30, PDU, TESTER, "ll", b"\x02\x13", (b"\x03\x02\x02\x13", b""), None),
        make_event(4, -5, "note", info={"text": "ignored"}),
    ]
    path = tmp_path / "odd.pcap"
    assert write_pcap(path, events) == 4
    frames = [frame for _, _, frame in records(path)]
    assert struct.unpack_from("<I", frames[2], RF_HEADER)[0] == 0x11223344
    assert frames[2][RF_HEADER + 4:-3] == b"\x03\x02\x02\x13"


def test_empty_trace_gives_a_header_only_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.pcap"
    assert write_pcap(path, []) == 0
    assert records(path) == []
    assert re.fullmatch(rb"\xd4\xc3\xb2\xa1.{20}", path.read_bytes(), re.S)
