"""The fuzz engine end to end: campaigns, findings that minimize and replay, determinism,
resume after SIGKILL, workers, bad input."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from fuzzer.cli import main
from fuzzer.engine.models import load_model, load_models
from fuzzer.engine.procedures import PROCEDURES
from fuzzer.engine.program import Program
from fuzzer.paths import specs_dir
from fuzzer.schema import SpecError

STORY = "nrf51-s110-custom-bootloader"


def _fuzz(out: Path, *extra: str, device: str = STORY) -> int:
    return main(["fuzz", "--device", device, "--out", str(out), "--quiet", *extra])


def _tree(directory: Path) -> dict[str, bytes]:
    return {str(p.relative_to(directory)): p.read_bytes()
            for p in sorted(directory.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def campaign(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("fuzz") / "run"
    assert _fuzz(out, "--steps", "6000", "--seed", "1") == 1
    return out


def test_campaign_finds_bond_enc_with_a_small_replayable_finding(campaign: Path, capsys) -> None:
    report = json.loads((campaign / "report.json").read_text())
    assert report["schema_version"] == 1 and report["command"] == "fuzz"
    assert report["stats"]["steps"] >= 6000 and report["stats"]["transitions"] > 0
    assert report["stats"]["corpus"] == len(list((campaign / "corpus").glob("*.yaml")))
    bond = [f for f in report["findings"] if f["invariant"] == "BOND-ENC"]
    assert bond, report["findings"]
    finding = Path(bond[0]["path"])
    data = yaml.safe_load((finding / "finding.yaml").read_text())
    assert len(data["program"]["steps"]) <= 10
    assert data["device"]["name"] == STORY and data["explanation"]
    assert (finding / "trace.jsonl").stat().st_size and (finding / "trace.pcap").stat().st_size
    capsys.readouterr()
    assert main(["replay", str(finding / "finding.yaml")]) == 1
    assert "reproduced BOND-ENC" in capsys.readouterr().out
    md = (campaign / "report.md").read_text()
    assert "BOND-ENC" in md and "blefuzz replay" in md


def test_replay_of_a_clean_device_does_not_reproduce(campaign: Path, capsys) -> None:
    finding = next((campaign / "findings").glob("bond-enc-*"))
    assert main(["replay", str(finding), "--device", "nrf51-s110-bond-sharing"]) == 0
    assert "not reproduced" in capsys.readouterr().out


def test_minimize_shrinks_an_edited_program(campaign: Path, tmp_path: Path) -> None:
    finding = next((campaign / "findings").glob("bond-enc-*"))
    data = yaml.safe_load((finding / "finding.yaml").read_text())
    steps = data["program"]["steps"]
    padded = [{"op": "read", "peer": "phone", "uuid": "2A00"}, steps[0],
              {"op": "wait", "seconds": 1}, *steps[1:], {"op": "wait", "seconds": 1}]
    data["program"]["steps"] = padded
    edited = tmp_path / "edited" / "finding.yaml"
    edited.parent.mkdir()
    edited.write_text(yaml.safe_dump(data, sort_keys=False))
    assert main(["minimize", str(edited), "--out", str(tmp_path / "small")]) == 1
    small = yaml.safe_load((tmp_path / "small" / "finding.yaml").read_text())
    assert len(small["program"]["steps"]) <= len(steps) < len(padded)
    assert main(["replay", str(tmp_path / "small")]) == 1


def test_same_seed_same_findings_and_traces(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    assert _fuzz(a, "--steps", "3000", "--seed", "5") == _fuzz(b, "--steps", "3000", "--seed", "5")
    ta, tb = _tree(a / "findings"), _tree(b / "findings")
    assert ta and ta == tb
    assert _tree(a / "corpus") == _tree(b / "corpus")


def test_two_workers_share_corpus_and_findings(tmp_path: Path) -> None:
    out = tmp_path / "w"
    assert _fuzz(out, "--steps", "4000", "--seed", "3", "--workers", "2") == 1
    report = json.loads((out / "report.json").read_text())
    assert report["workers"] == 2
    assert (out / "state-0.json").is_file() and (out / "state-1.json").is_file()
    assert report["stats"]["steps"] >= 4000
    ids = [f["id"] for f in report["findings"]]
    assert len(ids) == len(set(ids))


def test_random_strategy_keeps_no_corpus(tmp_path: Path) -> None:
    out = tmp_path / "r"
    _fuzz(out, "--steps", "2000", "--seed", "1", "--strategy", "random")
    report = json.loads((out / "report.json").read_text())
    assert report["strategy"] == "random" and report["stats"]["corpus"] == 0
    assert report["stats"]["steps"] >= 2000


def test_sigkill_then_resume_loses_nothing(tmp_path: Path) -> None:
    out = tmp_path / "k"
    proc = subprocess.Popen([sys.executable, "-m", "fuzzer", "fuzz", "--device", STORY,
                             "--time", "60", "--seed", "9", "--out", str(out), "--quiet"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if len(list((out / "corpus").glob("*.yaml"))) >= 30 and \
                list((out / "findings").glob("*/finding.yaml")):
            break
        time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    left = _tree(out / "corpus") | {f"findings/{k}": v for k, v in
                                    _tree(out / "findings").items()}
    # a write the kill interrupted exists only as a temporary file (.<name>.<pid>.<n>.tmp, or a
    # finding's .<id> folder), which the resumed run removes; every other file is complete
    before = {name: content for name, content in left.items()
              if not any(part.startswith(".") for part in Path(name).parts)}
    assert len(before) > 30
    for name, content in before.items():
        if name.endswith(".yaml"):
            assert yaml.safe_load(content), name
    assert main(["fuzz", "--device", STORY, "--resume", str(out), "--time", "2",
                 "--quiet"]) in (0, 1)
    assert not [p for p in out.rglob(".*.tmp")], "a half-written file was left"
    after = _tree(out / "corpus") | {f"findings/{k}": v for k, v in
                                     _tree(out / "findings").items()}
    for name, content in before.items():
        assert after.get(name) == content, name
    report = json.loads((out / "report.json").read_text())
    assert report["stats"]["corpus"] >= len(_tree(out / "corpus")) - 0


@pytest.mark.parametrize("workers", ["1", "2"])
def test_ctrl_c_stops_saves_and_reports(tmp_path: Path, workers: str) -> None:
    out = tmp_path / "i"
    proc = subprocess.Popen([sys.executable, "-m", "fuzzer", "fuzz", "--device", STORY,
                             "--time", "120", "--seed", "5", "--workers", workers,
                             "--out", str(out), "--quiet"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(list((out / "corpus").glob("*.yaml"))) < 30:
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)  # as Ctrl-C does (to this process only: it tells workers)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert "interrupted; continue with --resume" in stderr
    assert "Traceback" not in stderr
    report = json.loads((out / "report.json").read_text())
    assert 0 < report["stats"]["elapsed_s"] < 100
    # every corpus entry a worker's saved state counts is on disk (its writes were flushed)
    on_disk = len(list((out / "corpus").glob("*.yaml")))
    counted = [json.loads(p.read_text())["stats"]["corpus"] for p in out.glob("state-*.json")]
    assert len(counted) == int(workers) and on_disk > 30
    assert all(0 < n <= on_disk for n in counted)
    if workers == "1":
        assert counted == [on_disk]
    assert not [p for p in out.rglob(".*.tmp")]
    assert main(["fuzz", "--device", STORY, "--resume", str(out), "--steps", "500",
                 "--quiet"]) in (0, 1)


def test_program_yaml_round_trip_is_exact() -> None:
    data = {
        "format_version": 1, "name": "p", "title": "",
        "peers": {"phone": {"address": "4C:57:CA:10:20:30", "address_type": "public",
                            "model": "ios"}},
        "expectations": {"protected_characteristics": ["2A38"],
                         "authenticated_characteristics": []},
        "steps": [{"op": "connect", "peer": "phone", "to": "app"},
                  {"op": "pair", "peer": "phone", "sc": True, "stop_after": "random"},
                  {"op": "smp", "pdu": "0401020304"}, {"op": "wait", "seconds": 31}],
    }
    text = yaml.safe_dump(data, sort_keys=False)
    program = Program.from_dict(yaml.safe_load(text), "<t>", set(PROCEDURES))
    again = yaml.safe_dump(program.to_dict(), sort_keys=False)
    assert again == text
    assert Program.from_dict(yaml.safe_load(again), "<t>", set(PROCEDURES)).to_dict() == \
        program.to_dict()


def test_every_model_loads_and_walks() -> None:
    import random

    models = load_models(specs_dir() / "models", set(PROCEDURES))
    assert {"lifecycle", "legacy-pairing", "sc-pairing", "ll-encryption",
            "gatt-access"} <= set(models)
    for model in models.values():
        steps, state = model.walk(random.Random(1), 12)
        assert steps and state in model.states


@pytest.mark.parametrize("edit, key", [
    ({"transitions": [{"from": "a", "to": "b", "step": {"op": "teleport"}}]},
     "transitions[0].step.op"),
    ({"fuzz_from": ["nowhere"]}, "fuzz_from[0]"),
    ({"transitions": [{"from": "a", "to": "b"}]}, "transitions[0].step"),
])
def test_bad_model_names_file_and_key(tmp_path: Path, edit: dict, key: str) -> None:
    data = {"name": "m", "start": "a",
            "transitions": [{"from": "a", "to": "b", "step": {"op": "hang_up"}}]}
    data.update(edit)
    path = tmp_path / "m.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(SpecError) as err:
        load_model(path, set(PROCEDURES))
    assert err.value.key == key and str(path) in str(err.value)


@pytest.mark.parametrize("text, key", [
    ("name: c\ngenerate: lots\n", "generate"),
    ("name: c\nmutaton_weights: {}\n", "mutaton_weights"),
    ("name: c\nmodels: [no-such-model]\n", "models[0]"),
    ("name: c\ninvariants: [NO-SUCH]\n", "invariants[0]"),
    ("name: c\nmutation_weights: {teleport: 1}\n", "mutation_weights.teleport"),
])
def test_bad_campaign_exits_2_and_keeps_the_output(tmp_path: Path, capsys, text: str,
                                                   key: str) -> None:
    campaign = tmp_path / "c.yaml"
    campaign.write_text(text)
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("earlier")
    assert _fuzz(out, "--campaign", str(campaign), "--steps", "10") == 2
    err = capsys.readouterr().err
    assert str(campaign) in err and key in err
    assert (out / "keep.txt").read_text() == "earlier"
    assert not (out / "report.json").exists()


def test_bad_finding_exits_2(tmp_path: Path, capsys) -> None:
    bad = tmp_path / "finding.yaml"
    bad.write_text("format_version: 1\nid: x\n")
    assert main(["replay", str(bad)]) == 2
    assert "finding.yaml" in capsys.readouterr().err
    bad.write_text("{{{ not yaml")
    assert main(["minimize", str(bad)]) == 2


def test_resume_of_a_missing_folder_exits_2(tmp_path: Path) -> None:
    assert main(["fuzz", "--device", STORY, "--resume", str(tmp_path / "none"),
                 "--quiet"]) == 2


def test_engine_reads_no_profile_hints() -> None:
    """The engine package never imports the emulator or reads device profiles."""
    engine = Path(__file__).resolve().parents[1] / "fuzzer" / "engine"
    for path in engine.glob("*.py"):
        text = path.read_text()
        assert "fuzzer.emulator" not in text and ".flaws" not in text, path
    assert os.path.isdir(engine)


def test_seed_corpus_programs_run_and_the_story_one_violates() -> None:
    from fuzzer.engine.central import load_models as load_centrals
    from fuzzer.engine.execute import execute
    from fuzzer.oracles.invariants import load_invariants
    from fuzzer.paths import corpora_dir
    from fuzzer.profiles import resolve_profile
    from fuzzer.targets.emulator import EmulatorTarget

    invariants = load_invariants(specs_dir() / "invariants.yaml")
    centrals = load_centrals(specs_dir() / "centrals")
    programs = {p.stem: Program.load(p, set(PROCEDURES))
                for p in sorted(corpora_dir().glob("*.yaml"))}
    assert len(programs) >= 10
    clean = EmulatorTarget(resolve_profile("nrf52-reference"))
    for name, program in programs.items():
        run = execute(clean, program, invariants, centrals, 1)
        assert run.error is None and not run.violations, (name, run.violations)
        assert not [e for e in run.trace if e.kind == "note"
                    and "did not complete" in e.info["text"]], name
    story = EmulatorTarget(resolve_profile(STORY))
    run = execute(story, programs["lost-bond-bootloader"], invariants, centrals, 1)
    assert ("BOND-ENC", "LL_REJECT_IND:6") in run.signatures()


def test_report_renders_a_fuzz_folder_again(campaign: Path, tmp_path: Path) -> None:
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(campaign, copy)
    (copy / "report.md").unlink()
    assert main(["report", str(copy), "--junit", str(tmp_path / "j.xml")]) == 1
    assert (copy / "report.md").read_text() == (campaign / "report.md").read_text()
    assert "<testsuites" in (tmp_path / "j.xml").read_text()


def test_display_is_closed_when_the_workers_fail(tmp_path: Path, monkeypatch) -> None:
    from fuzzer import fuzzcmd

    closed = []
    monkeypatch.setattr(fuzzcmd._Progress, "close", lambda self: closed.append(True))

    def fail(*_args) -> None:
        raise RuntimeError("worker failed")

    monkeypatch.setattr(fuzzcmd, "_run_workers", fail)
    with pytest.raises(RuntimeError, match="worker failed"):
        main(["fuzz", "--device", "nrf52-reference", "--steps", "10", "--quiet", "--out",
              str(tmp_path / "out")])
    assert closed == [True]
