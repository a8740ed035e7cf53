"""The conformance suites (specs/conformance/*.yaml): loading, the step and expectation
vocabulary, and the verdicts on the clean reference profile and the nRF51 profiles."""

from __future__ import annotations

from pathlib import Path

import pytest

from fuzzer.cli import device_info
from fuzzer.engine.central import load_models
from fuzzer.engine.check import run_conformance, select_suites
from fuzzer.engine.conformance import encode_pdu, load_conformance, load_conformance_suite
from fuzzer.paths import specs_dir
from fuzzer.profiles import resolve_profile
from fuzzer.protocol import smp
from fuzzer.schema import SpecError
from fuzzer.targets.emulator import EmulatorTarget

SPECS = specs_dir()


def _run(device: str, names: list[str] | None = None):
    profile = resolve_profile(device)
    _stories, suites = select_suites(SPECS, names or ["smp", "ll"])
    cases = run_conformance(suites, lambda: EmulatorTarget(profile, seed=0),
                            load_models(SPECS / "centrals"), device_info(profile))
    return {c.case.id: c for c in cases}


@pytest.fixture(scope="module")
def reference():
    return _run("nrf52-reference")


@pytest.fixture(scope="module")
def nrf51():
    return _run("nrf51-s110-bond-sharing")


def _sc(case) -> bool:
    return "secure_connections" in case.case.requires


def test_at_least_forty_named_cases_with_spec_and_words() -> None:
    suites = load_conformance(SPECS / "conformance")
    assert {s.name for s in suites} >= {"smp", "ll"}
    cases = [c for s in suites for c in s.cases]
    assert len(cases) >= 40
    assert len([c for c in cases if "secure_connections" not in c.requires]) >= 40
    for c in cases:
        assert c.id.startswith(("SM/PER/", "LL/")) and c.id.endswith("-C"), c.id
        assert c.spec.startswith("Core v5.4 Vol"), c.id
        assert c.procedure and c.expected and c.steps and c.expect, c.id
    assert len({c.id for c in cases}) == len(cases)


def test_legacy_and_ll_cases_pass_on_the_reference(reference) -> None:
    bad = {i: (c.status, c.message) for i, c in reference.items()
           if not _sc(c) and c.status != "pass"}
    assert not bad
    assert "SM/PER/EKS/BI-02-C" in reference and "LL/SEC/PER/BV-01-C" in reference


def test_sc_cases_are_not_applicable_without_secure_connections(nrf51) -> None:
    sc = [c for c in nrf51.values() if _sc(c)]
    assert sc
    for c in sc:
        assert c.status == "inconclusive"
        assert c.message.startswith("not applicable")
    assert not [i for i, c in nrf51.items() if c.status in ("fail", "error")]


def test_evidence_names_the_step_and_the_pdus(reference) -> None:
    case = reference["SM/PER/EKS/BI-03-C"]
    assert case.status == "pass"
    ev = case.evidence[0]
    assert ev["step"] == 2 and ev["step_detail"]["op"] == "smp"
    assert any("Pairing Failed" in e["summary"] and "reason=0x0a" in e["summary"]
               for e in ev["events"])
    d = case.to_dict()
    assert d["kind"] == "conformance" and d["spec"] and d["procedure"] and d["expected"]


def test_ltk_masking_case_checks_the_distributed_key(reference) -> None:
    case = reference["SM/PER/EKS/BV-02-C"]
    ltk = [e for e in case.trace.events if e.layer == "smp" and e.src == "device"
           and e.data[:1] == bytes([smp.ENCRYPTION_INFORMATION])]
    assert ltk and not any(ltk[0].data[1 + 7:])


def test_each_case_runs_on_a_fresh_device(reference) -> None:
    # a fresh device has no bond: the wrong-EDIV case must pair first to have one
    for case in reference.values():
        assert case.trace.events[0].kind == "step"
        assert case.trace.events[0].info["index"] == 1


def _write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "x.yaml"
    path.write_text("suite: x\npeers:\n  t: {address: '4C:57:CA:10:20:30'}\ncases:\n" + body)
    return path


def test_a_failing_expectation_fails_with_evidence(tmp_path: Path) -> None:
    path = _write(tmp_path, """
  - id: X/1
    title: wrong on purpose
    spec: Core v5.4 Vol 3 Part H 3.5.1
    procedure: p
    expected: e
    steps:
      - {op: connect, peer: t}
      - {op: smp, pdu: Pairing Request, fields: {max_encryption_key_size: 17}}
    expect:
      - {step: 2, device_sends: {layer: smp, pdu: Pairing Response}}
""")
    suite = load_conformance_suite(path)
    profile = resolve_profile("nrf52-reference")
    (case,) = run_conformance([suite], lambda: EmulatorTarget(profile),
                              load_models(SPECS / "centrals"), device_info(profile))
    assert case.status == "fail"
    assert "Pairing Failed" in case.message and "step 2" in case.message
    assert case.evidence[0]["events"]


def test_a_step_the_tester_cannot_run_is_an_error(tmp_path: Path) -> None:
    path = _write(tmp_path, """
  - id: X/2
    title: bad argument
    spec: s
    procedure: p
    expected: e
    steps:
      - {op: connect, peer: t}
      - {op: pair, peer: t, no_such_argument: 1}
    expect:
      - {bonded: true}
""")
    profile = resolve_profile("nrf52-reference")
    (case,) = run_conformance([load_conformance_suite(path)], lambda: EmulatorTarget(profile),
                              load_models(SPECS / "centrals"), device_info(profile))
    assert case.status == "error"


@pytest.mark.parametrize("body, key", [
    ("  - {id: A, title: t, spec: s, procedure: p, expected: e, steps: [{op: fly}], "
     "expect: []}\n", "cases[0].steps[0].op"),
    ("  - {id: A, title: t, spec: s, procedure: p, expected: e, steps: [{op: scan}], "
     "expect: [{step: 3, link: encrypted}]}\n", "cases[0].expect[0].step"),
    ("  - {id: A, title: t, spec: s, procedure: p, expected: e, steps: [{op: scan}], "
     "expect: [{smells: ok}]}\n", "cases[0].expect[0].smells"),
    ("  - {id: A, title: t, spec: s, procedure: p, expected: e, "
     "steps: [{op: smp, pdu: No Such PDU}], expect: []}\n", "cases[0].steps[0].pdu"),
])
def test_bad_suites_name_the_key(tmp_path: Path, body: str, key: str) -> None:
    with pytest.raises(SpecError) as info:
        load_conformance_suite(_write(tmp_path, body))
    assert info.value.key == key


def test_pdu_steps_encode_with_the_fast_codecs() -> None:
    assert encode_pdu("smp", "Pairing Request") == "01030001100303"
    assert encode_pdu("smp", "Pairing Request", {"max_encryption_key_size": 7},
                      truncate=4) == "01030001"
    assert encode_pdu("ll", "LL_PING_REQ", append="00") == "1200"
    assert encode_pdu("smp", "1f00") == "1f00"


def test_unknown_suite_is_bad_usage() -> None:
    with pytest.raises(SpecError) as info:
        select_suites(SPECS, ["smp", "nope"])
    assert "story" in str(info.value) and "ll" in str(info.value)
