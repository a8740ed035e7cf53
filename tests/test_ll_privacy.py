"""Resolvable private addresses (Core Vol 6 Part B 1.3.2.2, 1.3.2.3; Vol 3 Part H 2.2.2) and LTK
lookup for legacy and LE Secure Connections bonds (Vol 3 Part H 2.4.4.1), through
EmulatorTarget primitives."""

from __future__ import annotations

import pytest
from test_emulator_common import BOND_SHARING, DEVICE_ADDRESS, Session

from fuzzer.crypto.rpa import is_rpa, make_rpa, resolve_rpa
from fuzzer.emulator.bonds import Bond
from fuzzer.protocol import address as bdaddr
from fuzzer.protocol import ll
from fuzzer.trace import events as ev

# Vol 3 Part H Appendix D.7 (ah): IRK, prand and hash, most significant octet first
SAMPLE_IRK = bytes.fromhex("ec0234a357c8ad05341010a60a397d9b")[::-1]
SAMPLE_PRAND = bytes.fromhex("708194")[::-1]
SAMPLE_HASH = bytes.fromhex("0dfbaa")[::-1]

PEER_IRK = bytes.fromhex("0f0e0d0c0b0a09080706050403020100")
OTHER_IRK = bytes.fromhex("ffeeddccbbaa99887766554433221100")
IDENTITY = bytes.fromhex("302010ca574c")  # 4C:57:CA:10:20:30 as on air
LEGACY_LTK = bytes.fromhex("000102030405060708090a0b0c0d0e0f")
SC_LTK = bytes.fromhex("a0a1a2a3a4a5a6a7a8a9aaabacadaeaf")


# --- the address format --------------------------------------------------------------------------

def test_make_rpa_puts_the_hash_below_prand():
    rpa = make_rpa(SAMPLE_IRK, SAMPLE_PRAND)
    assert rpa == SAMPLE_HASH + SAMPLE_PRAND
    assert is_rpa(rpa) and resolve_rpa(SAMPLE_IRK, rpa)
    assert not resolve_rpa(OTHER_IRK, rpa)


def test_make_rpa_marks_prand_and_refuses_a_constant_random_part():
    rpa = make_rpa(PEER_IRK, b"\xff\xff\xff"[:2] + b"\x00")
    assert rpa[5] >> 6 == 0b01 and resolve_rpa(PEER_IRK, rpa)
    for prand in (b"\x00\x00\x00", b"\xff\xff\xff", b"\x00\x00\x40"):
        with pytest.raises(ValueError):
            make_rpa(PEER_IRK, prand)


def test_a_static_or_public_address_never_resolves():
    assert not resolve_rpa(PEER_IRK, IDENTITY)
    rpa = make_rpa(PEER_IRK, b"\x01\x02\x03")
    static = rpa[:5] + bytes((rpa[5] | 0xC0,))
    assert not is_rpa(static) and not resolve_rpa(PEER_IRK, static)


# --- the device resolves the central -------------------------------------------------------------

def _device(*bonds: Bond) -> Session:
    s = Session(BOND_SHARING)
    for bond in bonds:
        s.firmware.bonds.add(bond)
    return s


def _legacy_bond(irk: bytes = PEER_IRK) -> Bond:
    return Bond(peer_address=IDENTITY, peer_address_type=0, ltk=LEGACY_LTK, ediv=0x2468,
                rand=bytes(range(8)), peer_irk=irk)


def _sc_bond(identity: bytes = IDENTITY, irk: bytes = PEER_IRK, ltk: bytes = SC_LTK) -> Bond:
    return Bond(peer_address=identity, peer_address_type=0, ltk=ltk, secure_connections=True,
                peer_irk=irk)


def _connect(s: Session, address: bytes, address_type: str = "random") -> list:
    events = s.step("connect", peer="iphone", address=DEVICE_ADDRESS,
                    peer_address=bdaddr.from_bytes(address), peer_address_type=address_type)
    assert s.target.connected
    return events


def _encryption_state(events: list) -> str | None:
    states = [e.info["state"] for e in events if e.kind == ev.ENCRYPTION]
    return states[-1] if states else None


def test_a_bonded_peer_with_a_resolvable_private_address_is_recognised():
    bond = _legacy_bond()
    s = _device(bond)
    rpa = make_rpa(PEER_IRK, b"\x10\x20\x30")
    events = _connect(s, rpa)
    [conn] = [e for e in events if e.kind == ev.CONNECT]
    assert conn.info["central_address"] == bdaddr.from_bytes(rpa)
    host = s.firmware.host
    assert host.current_bond == bond and host.security.bonded
    assert host.peer_identity == (IDENTITY, 0)
    events = s.step("encrypt", ltk=LEGACY_LTK.hex(), ediv=0x2468, rand=bytes(range(8)).hex())
    assert _encryption_state(events) == "on"


def test_an_address_from_another_irk_is_not_the_bonded_peer():
    s = _device(_legacy_bond())
    _connect(s, make_rpa(OTHER_IRK, b"\x10\x20\x30"))
    assert s.firmware.host.current_bond is None and not s.firmware.host.security.bonded


def test_a_bond_without_an_irk_resolves_nothing():
    s = _device(_legacy_bond(irk=bytes(16)))
    _connect(s, make_rpa(bytes(16), b"\x10\x20\x30"))
    assert s.firmware.host.current_bond is None


# --- LTK lookup ----------------------------------------------------------------------------------

def test_sc_ltk_is_found_by_the_resolved_identity():
    s = _device(_sc_bond())
    _connect(s, make_rpa(PEER_IRK, b"\x44\x55\x66"))
    events = s.step("encrypt", ltk=SC_LTK.hex(), ediv=0, rand="00" * 8)
    assert _encryption_state(events) == "on"
    assert s.firmware.host.security.encrypted and s.firmware.host.security.bonded


def test_sc_ltk_is_found_by_the_identity_address_itself():
    s = _device(_sc_bond())
    _connect(s, IDENTITY, "public")
    assert _encryption_state(s.step("encrypt", ltk=SC_LTK.hex())) == "on"


def test_sc_ltk_of_an_unknown_central_is_missing():
    s = _device(_sc_bond())
    _connect(s, make_rpa(OTHER_IRK, b"\x44\x55\x66"))
    events = s.step("encrypt", ltk=SC_LTK.hex())
    [failed] = [e for e in events if e.kind == ev.ENCRYPTION]
    assert failed.info["state"] == "failed" and failed.info["reason"] == ll.PIN_OR_KEY_MISSING


def test_sc_ltk_of_another_peer_does_not_encrypt():
    other_identity = bytes.fromhex("5544332211c0")
    other_ltk = bytes(range(16, 32))
    s = _device(_sc_bond(), _sc_bond(other_identity, OTHER_IRK, other_ltk))
    _connect(s, make_rpa(PEER_IRK, b"\x44\x55\x66"))
    events = s.step("encrypt", ltk=other_ltk.hex())  # the device uses this peer's own LTK
    assert _encryption_state(events) != "on"
    assert not s.firmware.host.security.encrypted


def test_legacy_ltk_is_still_found_by_ediv_and_rand():
    # the SC bond of another peer is not an answer to EDIV and Rand
    s = _device(_legacy_bond(), _sc_bond(bytes.fromhex("5544332211c0"), OTHER_IRK))
    _connect(s, IDENTITY, "public")
    events = s.step("encrypt", ltk=LEGACY_LTK.hex(), ediv=0x2468, rand=bytes(range(8)).hex())
    assert _encryption_state(events) == "on"
