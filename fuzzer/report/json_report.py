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


def invariant_result(invariant: Any, verdict: Any, steps: list[dict[str, Any]]) -> dict[str, Any]:
    """One entry of ``results[]`` for an invariant and its verdict."""
    evidence = [v.to_dict(steps) for v in verdict.violations]
    if not evidence and verdict.support:
        evidence = [{"message": "supporting events", "step": e.step,
                     "step_detail": steps[e.step] if 0 <= e.step < len(steps) else None,
                     "events": [_ev(e)]} for e in verdict.support[:5]]
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
