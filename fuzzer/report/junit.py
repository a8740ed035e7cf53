"""JUnit XML, rendered from report.json, for CI systems: one <testsuite> per conformance suite
and one for the invariants; one <testcase> per conformance case and per invariant.

Status mapping: fail -> <failure>, error -> <error>, inconclusive -> <skipped>, pass -> nothing.
The failure text is the evidence: the step and the PDUs that crossed the air.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from fuzzer.trace.atomic import write_atomic


def _evidence_text(result: dict[str, Any]) -> str:
    lines = [result.get("message", "")]
    for ev in result.get("evidence", []):
        step = ev.get("step_detail") or {}
        label = step.get("label") or step.get("op", "")
        where = f"step {ev.get('step')}" + (f" ({label})" if label else "")
        case = f"[{ev['case']}] " if ev.get("case") else ""
        lines.append(f"{case}{where}: {ev.get('message', '')}")
        lines += [f"  #{e['seq']} t={e['t_us'] / 1e6:.6f}s {e['summary']}"
                  for e in ev.get("events", [])]
    return "\n".join(lines)


def _suite_of(result: dict[str, Any]) -> str:
    if result.get("kind") == "conformance":
        return str(result.get("suite", "conformance"))
    return "invariants"


def render(report: dict[str, Any]) -> str:
    """The JUnit XML document for a report.json mapping."""
    device = report.get("device", {}).get("name", "")
    root = ET.Element("testsuites",
                      name=f"blefuzz {report.get('command', 'check')} {device}".strip())
    groups: dict[str, list[dict[str, Any]]] = {}
    for r in report.get("results", []):
        groups.setdefault(_suite_of(r), []).append(r)
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    for name, results in groups.items():
        counts = {"tests": len(results),
                  "failures": sum(r["status"] == "fail" for r in results),
                  "errors": sum(r["status"] == "error" for r in results),
                  "skipped": sum(r["status"] == "inconclusive" for r in results)}
        for k, v in counts.items():
            totals[k] += v
        suite = ET.SubElement(root, "testsuite", name=name,
                              **{k: str(v) for k, v in counts.items()})
        props = ET.SubElement(suite, "properties")
        ET.SubElement(props, "property", name="device", value=device)
        ET.SubElement(props, "property", name="seed", value=str(report.get("seed", "")))
        for r in results:
            case = ET.SubElement(suite, "testcase", classname=name,
                                 name=f"{r['id']} {r.get('title', '')}".strip())
            status = r["status"]
            if status == "fail":
                ET.SubElement(case, "failure", message=r.get("message", ""),
                              type="fail").text = _evidence_text(r)
            elif status == "error":
                ET.SubElement(case, "error", message=r.get("message", ""),
                              type="error").text = _evidence_text(r)
            elif status == "inconclusive":
                ET.SubElement(case, "skipped", message=r.get("message", ""))
            detail = [f"{k}: {r[k]}" for k in ("spec", "procedure", "expected") if r.get(k)]
            if status == "pass":
                detail.append(r.get("message", ""))
            if detail:
                ET.SubElement(case, "system-out").text = "\n".join(detail)
    for k, v in totals.items():
        root.set(k, str(v))
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") \
        + "\n"


def write_junit(path: str | Path, report: dict[str, Any]) -> None:
    """Write the JUnit XML for ``report`` (a report.json mapping) to ``path`` atomically."""
    path = Path(path)
    if path.parent and not path.parent.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, render(report))
