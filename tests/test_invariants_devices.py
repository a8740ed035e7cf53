"""Each pairing invariant against a device whose Security Manager has the matching real-world flaw
(a class named in a profile, tests/fixtures/flawed_smp.py), and against the clean
nrf52-reference profile running the same program: fail on the flawed one, pass on the clean one.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from test_emulator_common import FIXTURES, write_profile

from fuzzer.engine.central import load_models
from fuzzer.engine.check import run_check
from fuzzer.engine.procedures import PROCEDURES
from fuzzer.engine.program import Program
from fuzzer.oracles.invariants import load_invariants
from fuzzer.paths import specs_dir
from fuzzer.profiles import resolve_profile
from fuzzer.targets.emulator import EmulatorTarget

INVARIANTS = {inv.id: inv for inv in load_invariants(specs_dir() / "invariants.yaml")}
MODELS = load_models(specs_dir() / "centrals")
PHONE = {"phone": {"address": "4C:57:CA:10:20:30"}}


def _steps(*steps: dict) -> list[dict]:
    return [{"op": "connect", "peer": "phone", "to": "app"}, *steps]


# invariant id -> (flawed Security Manager, profile security overrides, steps, expectations)
CASES = {
    "ZERO-LTK": ("ZeroLtkSecurityManager", {}, _steps(
        {"op": "encrypt", "ltk": "00" * 16, "ediv": 0, "rand": "00" * 8},
        {"op": "pair", "peer": "phone"}), {}),
    "KEY-SIZE": ("KnobSecurityManager", {}, _steps(
        {"op": "pair", "peer": "phone", "sc": False, "key_size": 1}), {}),
    "DHKEY-FIRST": ("NoDhkeyCheckSecurityManager", {}, _steps(
        {"op": "pair", "peer": "phone", "dhkey_check": "invalid"}), {}),
    "PUBKEY-VALID": ("NoPublicKeyValidationSecurityManager", {}, _steps(
        {"op": "pair", "peer": "phone", "public_key": "invalid"}), {}),
    "NO-REFLECTION": ("StaticKeyReflectionSecurityManager", {}, _steps(
        {"op": "pair", "peer": "phone", "bond": False},
        {"op": "hang_up"},
        {"op": "connect", "peer": "phone", "to": "app"},
        {"op": "pair", "peer": "phone", "public_key": "reflect"}), {}),
    "SMP-ORDER": ("OutOfOrderSecurityManager", {}, _steps(
        {"op": "smp", "pdu": "01030001100307"},  # Pairing Request, legacy, no MITM
        {"op": "smp", "pdu": "04" + "11" * 16}), {}),  # Pairing Random before any Confirm
    "REPEATED-ATTEMPTS": ("NoRepeatedAttemptsSecurityManager", {}, _steps(
        # the device (KeyboardDisplay) shows 123456; the tester types
        {"op": "pair", "peer": "phone", "io_capability": "KeyboardOnly", "passkey": 111111},
        {"op": "pair", "peer": "phone", "io_capability": "KeyboardOnly", "passkey": 123456}),
        {}),
    "AUTH-LEVEL": ("JustWorksIsAuthenticatedSecurityManager", {}, _steps(
        {"op": "pair", "peer": "phone", "mitm": False},
        {"op": "read", "peer": "phone", "uuid": "2A25"}),
        {"authenticated_characteristics": ["2A25"]}),
    "NO-DOWNGRADE": ("DowngradeSecurityManager", {}, _steps(
        {"op": "pair", "peer": "phone", "io_capability": "KeyboardOnly", "passkey": 123456},
        {"op": "hang_up"},
        {"op": "reconnect_bonded", "peer": "phone"},
        {"op": "pair", "peer": "phone", "mitm": False}), {}),
    "DEBUG-KEY": ("DebugKeyBondSecurityManager", {}, _steps(
        {"op": "pair", "peer": "phone", "debug_key": True},
        {"op": "hang_up"},
        # an iOS-like central encrypts at once with what it stored from that pairing
        {"op": "connect", "peer": "phone", "to": "app"}), {}),
}


def _run(profile_path: Path | str, invariant: str) -> tuple[str, str]:
    _cls, _sec, steps, expectations = CASES[invariant]
    program = Program.from_dict({"name": invariant, "peers": PHONE, "steps": steps,
                                 "expectations": expectations}, "<test>", set(PROCEDURES))
    profile = resolve_profile(str(profile_path))
    run = run_check(EmulatorTarget(profile, seed=11), [program], [INVARIANTS[invariant]],
                    MODELS, seed=11)
    verdict = run.verdicts[invariant]
    return verdict.status, verdict.message


@pytest.mark.parametrize("invariant", sorted(CASES))
def test_flawed_device_violates(tmp_path: Path, invariant: str) -> None:
    cls, sec, _steps_, _exp = CASES[invariant]
    path = write_profile(tmp_path, f"flawed-{invariant.lower()}", base="nrf52-reference",
                         components={"smp": f"{FIXTURES / 'flawed_smp.py'}:{cls}"},
                         security=sec)
    status, message = _run(path, invariant)
    assert status == "fail", message


@pytest.mark.parametrize("invariant", sorted(CASES))
def test_clean_reference_holds(invariant: str) -> None:
    status, message = _run("nrf52-reference", invariant)
    assert status == "pass", message
