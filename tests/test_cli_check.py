"""End to end through the command line: `blefuzz check` on the three built-in story profiles."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from fuzzer.cli import main

STORY_INVARIANTS = {"BOND-ENC", "BOND-GATE", "LTK-LEAK", "LIVENESS"}


def _check(tmp_path: Path, device: str, name: str = "out", *extra: str) -> tuple[int, Path]:
    out = tmp_path / name
    code = main(["check", "--device", device, "--out", str(out), *extra])
    return code, out


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, tuple[int, Path]]:
    base = tmp_path_factory.mktemp("check")
    return {d: _check(base, f"nrf51-s110-{d}", d)
            for d in ("custom-bootloader", "bond-sharing", "new-identity")}


def _results(out: Path) -> dict[str, dict]:
    report = json.loads((out / "report.json").read_text())
    assert report["schema_version"] == 1
    assert report["command"] == "check"
    return {r["id"]: r for r in report["results"] if r["kind"] == "invariant"}


def test_custom_bootloader_fails_bond_enc_in_dfu_mode(runs) -> None:
    code, out = runs["custom-bootloader"]
    assert code == 1
    report = json.loads((out / "report.json").read_text())
    assert report["device"]["name"] == "nrf51-s110-custom-bootloader"
    results = _results(out)
    assert STORY_INVARIANTS <= set(results)
    bond = results["BOND-ENC"]
    assert bond["status"] == "fail"
    ev = bond["evidence"][0]
    assert "DFU mode" in ev["step_detail"]["label"]
    summaries = [e["summary"] for e in ev["events"]]
    assert any("LL_ENC_REQ" in s and s.startswith("tester") for s in summaries)
    assert any("LL_REJECT_IND" in s and "error_code=0x06" in s for s in summaries)
    assert report["summary"]["fail"] >= 1
    assert report["summary"]["total"] == len(report["results"])
    md = (out / "report.md").read_text()
    assert "BOND-ENC failed" in md
    assert "PIN or Key Missing" in md
    assert "Share the bond" in md and "Change identity" in md


@pytest.mark.parametrize("device", ["bond-sharing", "new-identity"])
def test_nordic_fixes_pass(runs, device: str) -> None:
    code, out = runs[device]
    results = _results(out)
    assert STORY_INVARIANTS <= set(results)
    assert results["BOND-ENC"]["status"] == "pass"
    assert all(r["status"] in ("pass", "inconclusive") for r in results.values()), results
    assert all(results[i]["status"] == "pass" for i in STORY_INVARIANTS)
    assert code == 0


def test_output_files(runs) -> None:
    for _code, out in runs.values():
        for name in ("report.json", "report.md", "trace.jsonl", "trace.pcap"):
            assert (out / name).stat().st_size > 0
        lines = (out / "trace.jsonl").read_text().splitlines()
        events = [json.loads(line) for line in lines]
        pdus = [e for e in events if e["kind"] == "pdu"]
        assert {e["src"] for e in pdus} == {"tester", "device"}
        assert all(e["decoded"] for e in pdus if e["hex"])
        assert any(e["link"] and e["link"]["encrypted"] for e in pdus)


def _tshark(path: Path, *args: str) -> str:
    tshark = shutil.which("tshark")
    assert tshark, "tshark is not installed (apt-get install tshark); .ci/run installs it"
    proc = subprocess.run([tshark, "-r", str(path), *args], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def _encrypted_frames(out: Path) -> set[int]:
    """pcap frame numbers (1-based) that carry ciphertext, from trace.jsonl, in the order the
    pcap writer emits records (an ADV or CONNECT is one record, a PDU one per air PDU)."""
    frames: set[int] = set()
    n = 0
    for line in (out / "trace.jsonl").read_text().splitlines():
        e = json.loads(line)
        if e["kind"] in ("adv", "connect"):
            n += 1
        elif e["kind"] == "pdu":
            plain = len(e["hex"]) // 2 + (4 if e["layer"] in ("smp", "att") else 0)
            on_air = sum(len(a) // 2 - 2 for a in e["air"])
            for _ in e["air"]:
                n += 1
                if on_air > plain:
                    frames.add(n)
    return frames


def _malformed_frames(verbose: str) -> set[int]:
    bad, frame = set(), 0
    for line in verbose.splitlines():
        if line.startswith("Frame "):
            frame = int(line.split()[1].rstrip(":"))
        if "Malformed" in line or "Expert Info (Error" in line:
            bad.add(frame)
    return bad


def test_pcap_dissects_cleanly_with_smp_and_encryption(runs) -> None:
    """Every frame dissects cleanly but ciphertext: Wireshark 4.0 cannot tell an encrypted PDU
    from a plaintext one and dissects the ciphertext of an encrypted control PDU as if it were
    an opcode (see README, Known limits)."""
    for _code, out in runs.values():
        summary = _tshark(out / "trace.pcap")
        verbose = _tshark(out / "trace.pcap", "-V")
        encrypted = _encrypted_frames(out)
        assert encrypted, "the story encrypts links"
        assert _malformed_frames(verbose) <= encrypted
        assert "Incorrect CRC" not in verbose
        for name in ("Pairing Request", "Pairing Response", "Pairing Confirm", "Pairing Random",
                     "LL_ENC_REQ", "LL_ENC_RSP", "LL_START_ENC_REQ", "CONNECT_IND", "ADV_IND"):
            assert name in summary, name


def test_same_seed_same_trace(tmp_path: Path) -> None:
    a = _check(tmp_path, "nrf51-s110-bond-sharing", "a", "--seed", "7")[1]
    b = _check(tmp_path, "nrf51-s110-bond-sharing", "b", "--seed", "7")[1]
    for name in ("trace.jsonl", "trace.pcap"):
        assert (a / name).read_bytes() == (b / name).read_bytes()
    c = _check(tmp_path, "nrf51-s110-bond-sharing", "c", "--seed", "8")[1]
    assert (a / "trace.jsonl").read_bytes() != (c / "trace.jsonl").read_bytes()


def test_unknown_device_exits_2_with_names(tmp_path: Path, capsys) -> None:
    code = main(["check", "--device", "no-such-device", "--out", str(tmp_path / "x")])
    assert code == 2
    err = capsys.readouterr().err
    assert "nrf51-s110-custom-bootloader" in err and "nrf51-s110-new-identity" in err
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize("edit, key, expected", [
    ("bootloader:\n  bond_policy: sometimes\n", "bootloader.bond_policy", "expected one of"),
    ("security:\n  min_key_size: seven\n", "security.min_key_size", "expected an integer"),
    ("bootloder:\n  kind: legacy\n", "bootloder", "did you mean 'bootloader'"),
])
def test_bad_profile_exits_2_naming_file_and_key(tmp_path: Path, capsys, edit, key,
                                                 expected) -> None:
    profile = tmp_path / "mine.yaml"
    profile.write_text('name: mine\naddress: "C2:00:00:00:00:01"\n' + edit)
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("earlier results")
    code = main(["check", "--device", str(profile), "--out", str(out)])
    assert code == 2
    err = capsys.readouterr().err
    assert str(profile) in err and key in err and expected in err
    assert (out / "keep.txt").read_text() == "earlier results"


def test_devices_lists_profiles(capsys) -> None:
    assert main(["devices"]) == 0
    text = capsys.readouterr().out
    for name in ("nrf51-s110-custom-bootloader", "nrf51-s110-bond-sharing",
                 "nrf51-s110-new-identity"):
        assert name in text


def test_report_rerenders(runs, tmp_path: Path) -> None:
    src = runs["custom-bootloader"][1]
    dst = tmp_path / "copy"
    shutil.copytree(src, dst)
    (dst / "report.md").unlink()
    assert main(["report", str(dst)]) == 1
    assert (dst / "report.md").read_text() == (src / "report.md").read_text()


def test_python_dash_m(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "fuzzer", "check", "--device",
                           "nrf51-s110-new-identity", "--out", str(tmp_path / "m")],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "m" / "report.json").is_file()


def test_suite_with_bad_step_argument_exits_2(tmp_path: Path, capsys, monkeypatch) -> None:
    specs = tmp_path / "specs"
    shutil.copytree(Path(__file__).resolve().parents[1] / "specs", specs)
    (specs / "suites" / "story.yaml").write_text(
        "name: story\npeers: {p: {address: '4C:57:CA:10:20:30'}}\n"
        "steps:\n  - {op: connect, peer: p, too: app}\n")
    monkeypatch.setenv("BLEFUZZ_SPECS", str(specs))
    code = main(["check", "--device", "nrf51-s110-new-identity", "--out", str(tmp_path / "o")])
    assert code == 2
    assert "too" in capsys.readouterr().err
