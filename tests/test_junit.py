"""`blefuzz check --junit`: JUnit XML rendered from report.json, same counts."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from fuzzer.cli import main
from fuzzer.report import junit


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    base = tmp_path_factory.mktemp("junit")
    code = main(["check", "--device", "nrf52-reference", "--suite", "smp,ll", "--out",
                 str(base / "out"), "--junit", str(base / "junit.xml")])
    return code, base


def test_acceptance_smp_ll_on_the_reference(reference) -> None:
    code, base = reference
    report = json.loads((base / "out" / "report.json").read_text())
    cases = [r for r in report["results"] if r["kind"] == "conformance"]
    assert len(cases) >= 40
    legacy = [r for r in cases if "secure_connections" not in r["requires"]]
    assert len(legacy) >= 40
    assert all(r["status"] == "pass" for r in legacy), [
        (r["id"], r["message"]) for r in legacy if r["status"] != "pass"]
    for r in cases:
        assert {"id", "title", "spec", "procedure", "expected", "status", "message",
                "evidence", "trace"} <= set(r)
        assert (base / "out" / r["trace"]).stat().st_size > 0
    assert {r["kind"] for r in report["results"]} == {"conformance", "invariant"}
    if all(r["status"] == "pass" for r in cases):
        assert code == 0
    md = (base / "out" / "report.md").read_text()
    assert "## Conformance" in md and "SM/PER/EKS/BI-02-C" in md


def test_junit_counts_equal_the_report(reference) -> None:
    _code, base = reference
    report = json.loads((base / "out" / "report.json").read_text())
    root = ET.parse(base / "junit.xml").getroot()
    assert root.tag == "testsuites"
    testcases = root.findall("./testsuite/testcase")
    s = report["summary"]
    assert len(testcases) == s["total"] == len(report["results"])
    assert len(root.findall("./testsuite/testcase/failure")) == s["fail"]
    assert len(root.findall("./testsuite/testcase/error")) == s["error"]
    assert len(root.findall("./testsuite/testcase/skipped")) == s["inconclusive"]
    assert int(root.get("tests")) == s["total"]
    names = {t.get("name") for t in testcases}
    for r in report["results"]:
        assert f"{r['id']} {r['title']}" in names
    classnames = {t.get("classname") for t in testcases}
    assert {"smp", "ll", "invariants"} <= classnames


def test_failure_error_and_skipped_carry_the_evidence(tmp_path: Path) -> None:
    ev = {"message": "step 2: expected Pairing Failed", "step": 2,
          "step_detail": {"index": 2, "op": "smp", "label": "Pairing Request"},
          "events": [{"seq": 7, "t_us": 1250, "summary": "device Pairing Response"}]}
    report = {"device": {"name": "d"}, "seed": 0, "results": [
        {"kind": "conformance", "suite": "smp", "id": "SM/1", "title": "a", "status": "fail",
         "message": "expected Pairing Failed", "evidence": [ev]},
        {"kind": "conformance", "suite": "smp", "id": "SM/2", "title": "b", "status": "error",
         "message": "could not run", "evidence": []},
        {"kind": "conformance", "suite": "smp", "id": "SM/3", "title": "c",
         "status": "inconclusive", "message": "not applicable", "evidence": []},
        {"kind": "invariant", "id": "INV", "title": "d", "status": "pass", "message": "ok",
         "evidence": []},
    ]}
    path = tmp_path / "sub" / "j.xml"
    junit.write_junit(path, report)
    root = ET.parse(path).getroot()
    failure = root.find(".//testcase[@name='SM/1 a']/failure")
    assert failure.get("message") == "expected Pairing Failed"
    assert "device Pairing Response" in failure.text and "step 2" in failure.text
    assert root.find(".//testcase[@name='SM/2 b']/error") is not None
    assert root.find(".//testcase[@name='SM/3 c']/skipped").get("message") == "not applicable"
    assert root.find(".//testcase[@name='INV d']").find("failure") is None
    assert (root.get("tests"), root.get("failures"), root.get("errors"),
            root.get("skipped")) == ("4", "1", "1", "1")


def test_nrf51_default_suites_keep_their_exit_codes(tmp_path: Path) -> None:
    code = main(["check", "--device", "nrf51-s110-custom-bootloader", "--out",
                 str(tmp_path / "a"), "--junit", str(tmp_path / "a.xml")])
    assert code == 1
    report = json.loads((tmp_path / "a" / "report.json").read_text())
    by_id = {r["id"]: r for r in report["results"]}
    assert by_id["BOND-ENC"]["status"] == "fail"
    assert [r["id"] for r in report["results"] if r["status"] == "fail"] == ["BOND-ENC"]
    sc = [r for r in report["results"] if "secure_connections" in r.get("requires", [])]
    assert sc and all(r["status"] == "inconclusive" for r in sc)
    root = ET.parse(tmp_path / "a.xml").getroot()
    assert root.find(".//testcase[@classname='invariants'][@name]/failure") is not None
    assert int(root.get("skipped")) == report["summary"]["inconclusive"]
