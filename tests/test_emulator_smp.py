"""The emulated Security Manager (responder): legacy Just Works pairing end to end, Pairing
Failed reasons, out-of-sequence PDUs, the 30 s SMP timeout, and the bootloader's refusal."""

from __future__ import annotations

import pytest
from test_emulator_common import (
    BOND_SHARING,
    CUSTOM_BOOTLOADER,
    DEVICE_ADDRESS,
    IPHONE,
    Session,
    decoded,
    write_profile,
)

from fuzzer.crypto.legacy import c1, s1
from fuzzer.emulator.bonds import BondStore
from fuzzer.profiles import resolve_profile
from fuzzer.protocol import address as bdaddr
from fuzzer.protocol import pairing_methods as pm
from fuzzer.protocol import smp
from fuzzer.trace import events as ev

IA, IAT = bdaddr.to_bytes(IPHONE), 0
RA, RAT = bdaddr.to_bytes(DEVICE_ADDRESS), 1
TK = bytes(16)  # Just Works
MRAND = bytes(range(0x40, 0x50))


def _preq(max_key: int = 16, io: int = smp.NO_INPUT_NO_OUTPUT) -> bytes:
    return smp.SMP.encode("Pairing Request", io_capability=io, oob_data_flag=0,
                          authreq=smp.AUTHREQ_BONDING, max_encryption_key_size=max_key,
                          initiator_key_distribution=smp.ENC_KEY | smp.ID_KEY,
                          responder_key_distribution=smp.ENC_KEY | smp.ID_KEY)


def _answers(s: Session, pdu: bytes):
    return decoded(s.step("smp", pdu=pdu.hex()), "smp")


def _failed(answers, reason: int) -> None:
    assert [a.name for a in answers] == ["Pairing Failed"], answers
    assert answers[0].fields["reason"] == reason


def _feature_exchange(s: Session) -> tuple[bytes, bytes]:
    preq = _preq()
    [rsp] = _answers(s, preq)
    assert rsp.name == "Pairing Response"
    return preq, smp.SMP.encode("Pairing Response", **rsp.fields)


def _connected(profile=BOND_SHARING) -> Session:
    s = Session(profile)
    s.connect(to="any")
    assert s.target.connected
    return s


# --- the pair procedure --------------------------------------------------------------------------

def test_just_works_pairing_gives_the_same_stk_and_a_stored_bond():
    s = _connected()
    s.proc("pair")
    device_smp = s.firmware.smp
    stks = [e for e in s.events(ev.KEY) if e.info["type"] == "STK"]
    assert len(stks) == 1
    assert device_smp.stk is not None
    assert bytes.fromhex(stks[0].info["value"]) == device_smp.stk
    assert device_smp.method == pm.JUST_WORKS
    # the link was encrypted with the STK before the keys were distributed
    assert any(e.kind == ev.ENCRYPTION and e.info["state"] == "on" for e in s.trace.events)
    bonds = s.events(ev.BOND)
    assert len(bonds) == 1
    info = bonds[0].info
    stored = s.firmware.bonds.bonds
    assert len(stored) == 1
    assert stored[0].ltk.hex() == info["ltk"]
    assert stored[0].ediv == info["ediv"] and stored[0].rand.hex() == info["rand"]
    assert stored[0].peer_address == IA and stored[0].peer_address_type == IAT
    assert stored[0].key_size == info["key_size"] == 16
    assert not stored[0].authenticated
    assert info["device_address"] == DEVICE_ADDRESS
    # the LTK is not the STK, and the bond is in flash
    assert stored[0].ltk != device_smp.stk
    assert BondStore(s.device.flash, "app_bonds").bonds == stored


def test_manual_just_works_confirm_and_random_check_out():
    s = _connected()
    preq, pres = _feature_exchange(s)
    mconfirm = c1(TK, MRAND, preq, pres, IAT, RAT, IA, RA)
    [sconf] = _answers(s, smp.SMP.encode("Pairing Confirm", confirm_value=mconfirm))
    assert sconf.name == "Pairing Confirm"
    [srand] = _answers(s, smp.SMP.encode("Pairing Random", random_value=MRAND))
    assert srand.name == "Pairing Random"
    sr = srand.fields["random_value"]
    assert c1(TK, sr, preq, pres, IAT, RAT, IA, RA) == sconf.fields["confirm_value"]
    assert s.firmware.smp.stk == s1(TK, sr, MRAND)


# --- Pairing Failed reasons ----------------------------------------------------------------------

def test_confirm_that_does_not_match_the_random_fails_with_0x04():
    s = _connected()
    preq, pres = _feature_exchange(s)
    mconfirm = c1(TK, MRAND, preq, pres, IAT, RAT, IA, RA)
    [sconf] = _answers(s, smp.SMP.encode("Pairing Confirm", confirm_value=mconfirm))
    assert sconf.name == "Pairing Confirm"
    other = bytes(16)
    _failed(_answers(s, smp.SMP.encode("Pairing Random", random_value=other)),
            smp.CONFIRM_VALUE_FAILED)
    assert s.firmware.smp.stk is None
    assert s.firmware.bonds.bonds == []


def test_max_key_size_6_fails_with_invalid_parameters():
    s = _connected()
    _failed(_answers(s, _preq(max_key=6)), smp.INVALID_PARAMETERS)
    assert smp.INVALID_PARAMETERS == 0x0A


@pytest.mark.parametrize("max_key,expected", [(12, smp.ENCRYPTION_KEY_SIZE), (16, None)])
def test_min_key_size_16_refuses_a_smaller_key(tmp_path, max_key, expected):
    path = write_profile(tmp_path, "strict", security={"min_key_size": 16})
    s = Session(resolve_profile(str(path)))
    s.connect(to="app")
    answers = _answers(s, _preq(max_key=max_key))
    if expected is None:
        assert [a.name for a in answers] == ["Pairing Response"]
    else:
        _failed(answers, expected)
        assert expected == 0x06


def test_max_key_size_above_16_fails():
    s = _connected()
    _failed(_answers(s, _preq(max_key=17)), smp.INVALID_PARAMETERS)


@pytest.mark.parametrize("first", ["Pairing Random", "Pairing Confirm"])
def test_pdu_out_of_sequence_fails(first):
    s = _connected()
    field = "random_value" if first == "Pairing Random" else "confirm_value"
    answers = _answers(s, smp.SMP.encode(first, **{field: MRAND}))
    _failed(answers, smp.UNSPECIFIED_REASON)


def test_random_before_confirm_after_feature_exchange_fails():
    s = _connected()
    _feature_exchange(s)
    _failed(_answers(s, smp.SMP.encode("Pairing Random", random_value=MRAND)),
            smp.UNSPECIFIED_REASON)


def test_second_pairing_request_mid_pairing_fails():
    s = _connected()
    _feature_exchange(s)
    _failed(_answers(s, _preq()), smp.UNSPECIFIED_REASON)


def test_unknown_smp_command_fails_with_command_not_supported():
    s = _connected()
    _failed(_answers(s, bytes((0x3F, 0x00))), smp.COMMAND_NOT_SUPPORTED)


def test_pairing_failed_after_a_failure_restarts_cleanly():
    s = _connected()
    _failed(_answers(s, _preq(max_key=6)), smp.INVALID_PARAMETERS)
    [rsp] = _answers(s, _preq())
    assert rsp.name == "Pairing Response"


# --- SMP timeout ---------------------------------------------------------------------------------

def test_smp_timeout_mid_pairing_silences_smp():
    s = _connected()
    preq, pres = _feature_exchange(s)
    s.step("wait", seconds=31)
    assert s.target.connected
    assert s.firmware.smp.timed_out
    mconfirm = c1(TK, MRAND, preq, pres, IAT, RAT, IA, RA)
    assert _answers(s, smp.SMP.encode("Pairing Confirm", confirm_value=mconfirm)) == []
    assert _answers(s, _preq()) == []  # not even a new pairing on this link
    # a new link starts afresh
    s.step("disconnect")
    s.connect(to="app")
    assert [a.name for a in _answers(s, _preq())] == ["Pairing Response"]


def test_no_smp_timeout_before_30_s():
    s = _connected()
    preq, pres = _feature_exchange(s)
    s.step("wait", seconds=29)
    mconfirm = c1(TK, MRAND, preq, pres, IAT, RAT, IA, RA)
    answers = _answers(s, smp.SMP.encode("Pairing Confirm", confirm_value=mconfirm))
    assert [a.name for a in answers] == ["Pairing Confirm"]


# --- the bootloader ------------------------------------------------------------------------------

def test_bootloader_without_pairing_refuses_with_0x05():
    s = Session(CUSTOM_BOOTLOADER)
    s.enter_bootloader()
    s.connect(to="dfu")
    assert s.device.mode == "bootloader"
    _failed(_answers(s, _preq()), smp.PAIRING_NOT_SUPPORTED)
    assert smp.PAIRING_NOT_SUPPORTED == 0x05


def test_bootloader_with_pairing_enabled_answers(tmp_path):
    path = write_profile(tmp_path, "pairable", base=CUSTOM_BOOTLOADER,
                         bootloader={"pairing": True})
    s = Session(resolve_profile(str(path)))
    s.enter_bootloader()
    s.connect(to="dfu")
    assert [a.name for a in _answers(s, _preq())] == ["Pairing Response"]
