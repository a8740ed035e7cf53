"""report.json: the source of truth every other format is rendered from."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

SCHEMA_VERSION = 1
STATUSES = ("pass", "fail", "inconclusive", "error")


def summary(results: list[dict[str, Any]]) -> dict[str, int]:
    counts = {s: 0 for s in STATUSES}
    for r in results:
        counts[r["status"]] += 1
    counts["total"] = len(results)
    return counts


def invariant_result(invariant: Any, verdict: Any, steps: list[dict[str, Any]],
                     runs: list[tuple[str, Any, list[dict[str, Any]]]] | None = None
                     ) -> dict[str, Any]:
    """One entry of ``results[]`` for an invariant and its verdict. With ``runs`` — (label,
    verdict, steps) of each run the invariant was watched over: the story suites (label "")
    and each conformance case (label = case id) — ``verdict`` is their combination and the
    evidence names the case it comes from."""
    if runs is None:
        runs = [("", verdict, steps)]
    evidence = []
    for label, v, st in runs:
        for violation in v.violations:
            d = violation.to_dict(_by_index(st))
            if label:
                d["case"] = label
            evidence.append(d)
    if not evidence:
        for label, v, st in runs:
            by_index = _by_index(st)
            for e in v.support[:5 - len(evidence)]:
                d = {"message": "supporting events", "step": e.step,
                     "step_detail": by_index.get(e.step), "events": [_ev(e)]}
                if label:
                    d["case"] = label
                evidence.append(d)
    return {
        "kind": "invariant",
        "id": invariant.id,
        "title": invariant.title,
        "statement": " ".join(invariant.statement.split()),
        "references": invariant.references,
        "black_box": invariant.black_box,
        "status": verdict.status,
        "message": verdict.message,
        "checked": verdict.checked,
        "evidence": evidence,
        "explanation": " ".join(invariant.explanation.split()),
        "fixes": [" ".join(f.split()) for f in invariant.fixes],
    }


class _StepIndex(dict):
    """Steps by their ``index`` (story steps count from 0, a case's from 1); ``to_dict`` of a
    violation looks steps up by position, so this answers both ways."""

    def __len__(self) -> int:
        return max(self, default=-1) + 1

    def __getitem__(self, key: int) -> Any:
        return self.get(key)


def _by_index(steps: list[dict[str, Any]]) -> _StepIndex:
    return _StepIndex({s.get("index", i): s for i, s in enumerate(steps)})


def conformance_result(case: dict[str, Any], trace_file: str) -> dict[str, Any]:
    """One entry of ``results[]`` for a conformance case (``CaseResult.to_dict()``)."""
    return dict(case, trace=trace_file)


def _ev(event: Any) -> dict[str, Any]:
    from fuzzer.trace.describe import evidence_event

    return evidence_event(event)


def write_json(path: Path, report: dict[str, Any]) -> None:
    from fuzzer.trace.atomic import write_atomic

    write_atomic(path, json.dumps(report, indent=2, sort_keys=False) + "\n")


def read_json(path: Path) -> dict[str, Any]:
    """A report.json, checked for its schema version."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ValueError(f"{path}: not a readable report.json: {exc}") from exc
    if not isinstance(data, dict) or data.get("schema_version") != SCHEMA_VERSION:
        raise ValueError(f"{path}: schema_version: expected {SCHEMA_VERSION}")
    return data
