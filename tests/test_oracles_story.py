"""The story suite (specs/suites/story.yaml) run with every invariant on the built-in profiles
and on profiles with a flaw that breaks exactly one invariant each."""

from __future__ import annotations

import shutil
import struct

import pytest
from test_emulator_common import (
    BOND_SHARING,
    BUILTINS,
    CUSTOM_BOOTLOADER,
    FIXTURES,
    NEW_IDENTITY,
    write_profile,
)

from fuzzer.emulator.device import Device
from fuzzer.engine.central import load_models
from fuzzer.engine.check import CheckRun, load_suites, run_check
from fuzzer.oracles.base import FAIL, INCONCLUSIVE, PASS
from fuzzer.oracles.invariants import load_invariants
from fuzzer.paths import specs_dir
from fuzzer.profiles import resolve_profile
from fuzzer.protocol import att, ll
from fuzzer.targets.emulator import EmulatorTarget
from fuzzer.trace import events as ev
from fuzzer.trace.describe import decode

INVARIANTS = ("BOND-ENC", "BOND-GATE", "LTK-LEAK", "LIVENESS")


def run_story(device: str, seed: int = 0) -> CheckRun:
    specs = specs_dir()
    profile = resolve_profile(device)
    return run_check(EmulatorTarget(profile, seed=seed), load_suites(specs / "suites", ["story"]),
                     load_invariants(specs / "invariants.yaml"),
                     load_models(specs / "centrals"), seed=seed)


def statuses(run: CheckRun) -> dict[str, str]:
    """The story invariants' statuses; every other invariant must hold or be unexercised."""
    others = {k: v.status for k, v in run.verdicts.items() if k not in INVARIANTS}
    assert all(s in (PASS, INCONCLUSIVE) for s in others.values()), others
    return {k: v.status for k, v in run.verdicts.items() if k in INVARIANTS}


def step_of(run: CheckRun, index: int) -> dict:
    return run.steps[index]


# --- the built-in profiles -----------------------------------------------------------------------

EXPECTED = {
    BOND_SHARING: dict.fromkeys(INVARIANTS, PASS),
    NEW_IDENTITY: dict.fromkeys(INVARIANTS, PASS),
    CUSTOM_BOOTLOADER: {**dict.fromkeys(INVARIANTS, PASS), "BOND-ENC": FAIL},
}


@pytest.mark.parametrize("name", BUILTINS)
def test_builtin_profiles_story_verdicts(name):
    run = run_story(name)
    assert set(INVARIANTS) <= set(run.verdicts)
    assert statuses(run) == EXPECTED[name]
    for inv in INVARIANTS:
        assert run.verdicts[inv].checked > 0, inv
    assert len(run.steps) == 23


def test_story_run_is_deterministic():
    a, b = run_story(BOND_SHARING, seed=3), run_story(BOND_SHARING, seed=3)
    assert [(e.kind, e.data, e.air) for e in a.trace] == [(e.kind, e.data, e.air) for e in b.trace]


def test_bond_enc_fails_on_custom_bootloader_with_key_missing():
    run = run_story(CUSTOM_BOOTLOADER)
    verdict = run.verdicts["BOND-ENC"]
    assert verdict.status == FAIL
    assert len(verdict.violations) == 1
    v = verdict.violations[0]
    assert "DfuTarg" in v.message and "PIN_OR_KEY_MISSING" in v.message
    assert "iphone" in v.message
    detail = step_of(run, v.step)
    assert (detail["op"], detail["peer"], detail["to"]) == ("connect", "iphone", "dfu")
    rejects = [e for e in v.events if e.kind == ev.PDU and decode(e) is not None
               and decode(e).name == "LL_REJECT_IND"]
    assert len(rejects) == 1 and rejects[0].src == ev.DEVICE
    assert decode(rejects[0]).fields["error_code"] == ll.PIN_OR_KEY_MISSING
    # the other bonded reconnections (to the application) did encrypt
    assert verdict.checked > 1


def test_bond_enc_passes_where_the_bootloader_has_the_bond_or_a_new_identity():
    shared = run_story(BOND_SHARING).verdicts["BOND-ENC"]
    new_id = run_story(NEW_IDENTITY).verdicts["BOND-ENC"]
    assert shared.status == new_id.status == PASS
    # with the shared bond the iPhone's reconnection in DFU mode is one more encrypted link
    assert shared.checked == new_id.checked + 1
    assert all(e.kind == ev.ENCRYPTION and e.info["state"] == "on" for e in shared.support)


# --- BOND-GATE -----------------------------------------------------------------------------------

def test_bond_gate_fails_when_gatt_ignores_encryption(tmp_path):
    path = write_profile(tmp_path, "gate", flaws=["gatt-ignores-encryption"])
    run = run_story(str(path))
    assert statuses(run) == {**dict.fromkeys(INVARIANTS, PASS), "BOND-GATE": FAIL}
    verdict = run.verdicts["BOND-GATE"]
    handle = Device(resolve_profile(str(path))).firmware.protected.handle
    v = verdict.violations[0]
    assert f"handle 0x{handle:04x}" in v.message
    assert "C2:5A:3B:11:22:33" in v.message
    assert "suite declares it requires encryption" in v.message
    rsp = v.events[-1]
    assert rsp.src == ev.DEVICE and decode(rsp).name == "Read By Type Response"
    assert struct.unpack_from("<H", decode(rsp).fields["data"])[0] == handle
    assert rsp.link is not None and not rsp.link.encrypted
    assert f"{handle:04x}"[2:] + f"{handle:04x}"[:2] in v.to_dict()["events"][-1]["hex"]
    # both unencrypted reads of the story (iPhone before pairing, second phone) are caught
    assert [step_of(run, x.step)["peer"] for x in verdict.violations] == \
        ["iphone", "second_phone"]


def test_bond_gate_clean_profile_shows_the_refusals():
    verdict = run_story(BOND_SHARING).verdicts["BOND-GATE"]
    assert verdict.status == PASS
    codes = {decode(e).fields["error_code"] for e in verdict.support}
    assert codes <= {att.INSUFFICIENT_AUTHENTICATION, att.INSUFFICIENT_ENCRYPTION}
    assert len(verdict.support) == 2


# --- LTK-LEAK ------------------------------------------------------------------------------------

def test_ltk_leak_fails_when_the_bootloader_reuses_the_shared_ltk(tmp_path):
    path = write_profile(tmp_path, "leak", bootloader={"bond_policy": "shared", "pairing": True},
                         flaws=["reuse-bonded-ltk", "bootloader-no-whitelist"])
    run = run_story(str(path))
    verdict = run.verdicts["LTK-LEAK"]
    assert verdict.status == FAIL
    first = verdict.violations[0]
    assert first.message == "the device sent peer 'second_phone' the LTK bonded with 'iphone'"
    detail = step_of(run, first.step)
    assert (detail["op"], detail["peer"]) == ("pair", "second_phone")
    assert "bootloader" in detail["label"]
    held, sent = first.events
    assert held.info["peer"] == "iphone"
    assert sent.src == ev.DEVICE and decode(sent).name == "Encryption Information"
    assert decode(sent).fields["long_term_key"].hex() == held.info["value"]
    assert sent.link.peer == "second_phone"


def test_ltk_leak_passes_when_the_pairable_bootloader_makes_fresh_keys(tmp_path):
    path = write_profile(tmp_path, "fresh", bootloader={"bond_policy": "shared", "pairing": True},
                         flaws=["bootloader-no-whitelist"])
    run = run_story(str(path))
    assert run.verdicts["LTK-LEAK"].status == PASS
    keys = [e.info["value"] for e in run.trace if e.kind == ev.KEY and e.info["type"] == "LTK"
            and e.info["origin"] == "device"]
    # the iPhone's from the application and the second phone's from the bootloader, distinct
    assert len(keys) >= 2 and len(set(keys)) == len(keys)


@pytest.mark.parametrize("name", BUILTINS)
def test_ltk_leak_passes_on_builtins(name):
    verdict = run_story(name).verdicts["LTK-LEAK"]
    assert verdict.status == PASS
    assert verdict.checked > 20


# --- LIVENESS ------------------------------------------------------------------------------------

def test_liveness_fails_when_a_replacement_gatt_server_hangs(tmp_path):
    shutil.copy(FIXTURES / "hang_gatt.py", tmp_path / "hang.py")
    path = write_profile(tmp_path, "hang", components={"gatt": "hang.py:HangingAttServer"})
    profile = resolve_profile(str(path))
    assert profile.components["gatt"].__name__ == "HangingAttServer"
    run = run_story(str(path))
    verdict = run.verdicts["LIVENESS"]
    assert verdict.status == FAIL
    v = verdict.violations[0]
    assert v.message == "the device did not answer Read By Type Request"
    request = v.events[0]
    assert request.src == ev.TESTER
    assert decode(request).fields["attribute_type"] == bytes.fromhex("382a")
    # every read of 0x2A38 in the story hangs, and nothing else does
    assert {step_of(run, x.step)["op"] for x in verdict.violations} == {"read"}
    assert len(verdict.violations) == 5


@pytest.mark.parametrize("name", BUILTINS)
def test_liveness_passes_on_builtins(name):
    verdict = run_story(name).verdicts["LIVENESS"]
    assert verdict.status == PASS and verdict.violations == []
