"""report.md, rendered from report.json for a person to read."""

from __future__ import annotations

from typing import Any

_MARK = {"pass": "PASS", "fail": "FAIL", "inconclusive": "INCONCLUSIVE", "error": "ERROR"}


def _cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def _evidence(r: dict[str, Any]) -> list[str]:
    out: list[str] = []
    for i, ev in enumerate(r.get("evidence", []), 1):
        step = ev.get("step_detail") or {}
        label = step.get("label") or step.get("op", "")
        case = f" in case {ev['case']}" if ev.get("case") else ""
        out += [f"**Evidence {i}**{case} — step {ev.get('step')}: {label}", "",
                f"{ev.get('message', '')}", "", "```"]
        for e in ev.get("events", []):
            out.append(f"#{e['seq']:<5} t={e['t_us'] / 1e6:10.6f}s  {e['summary']}")
        out += ["```", ""]
    return out


def render(report: dict[str, Any]) -> str:
    dev = report.get("device", {})
    s = report.get("summary", {})
    out = [f"# blefuzz {report.get('command', '')}: {dev.get('name', '')}", ""]
    if dev.get("description"):
        out += [dev["description"], ""]
    out += [
        f"- Target: {report.get('target', {}).get('name', '')}",
        f"- Seed: {report.get('seed')}",
        f"- Suites: {', '.join(x['name'] for x in report.get('suites', []))}",
        f"- Result: **{s.get('fail', 0)} failed**, {s.get('pass', 0)} passed, "
        f"{s.get('inconclusive', 0)} inconclusive, {s.get('error', 0)} errors "
        f"of {s.get('total', 0)}",
        "",
    ]
    results = report.get("results", [])
    cases = [r for r in results if r.get("kind") == "conformance"]
    invariants = [r for r in results if r.get("kind", "invariant") == "invariant"]
    if cases:
        out += ["## Conformance", "", "| Case | Title | Spec | Status | What was seen |",
                "| --- | --- | --- | --- | --- |"]
        for r in cases:
            out.append(f"| {r['id']} | {_cell(r['title'])} | {_cell(r.get('spec', ''))} | "
                       f"{_MARK[r['status']]} | {_cell(r.get('message', ''))} |")
        out.append("")
    out += ["## Invariants", "", "| Invariant | Status | What was seen |", "| --- | --- | --- |"]
    for r in invariants:
        out.append(f"| {r['id']} — {r['title']} | {_MARK[r['status']]} | "
                   f"{_cell(r.get('message', ''))} |")
    out.append("")
    for r in cases:
        if r["status"] not in ("fail", "error"):
            continue
        out += [f"## {r['id']} {'failed' if r['status'] == 'fail' else 'could not run'}: "
                f"{r['title']}", "", f"**Spec.** {r.get('spec', '')}", "",
                f"**Procedure.** {r.get('procedure', '')}", "",
                f"**Expected.** {r.get('expected', '')}", ""]
        out += _evidence(r)
        if r.get("trace"):
            out += [f"Trace: `{r['trace']}`", ""]
    for r in invariants:
        if r["status"] not in ("fail", "error"):
            continue
        out += [f"## {r['id']} failed: {r['title']}", "", f"**Invariant.** {r['statement']}", ""]
        if r.get("explanation"):
            out += [f"**What this means.** {r['explanation']}", ""]
        out += _evidence(r)
        if r.get("fixes"):
            out += ["**Known fixes.**", ""]
            out += [f"{n}. {fix}" for n, fix in enumerate(r["fixes"], 1)]
            out.append("")
        if r.get("references"):
            out += ["**References.**", ""] + [f"- {ref}" for ref in r["references"]] + [""]
    out += ["## Steps", "", "| # | Step | Label |", "| --- | --- | --- |"]
    for st in report.get("steps", []):
        args = ", ".join(f"{k}={v}" for k, v in st.items()
                         if k not in ("index", "op", "label", "suite"))
        out.append(f"| {st['index']} | {st['op']} {args} | {st.get('label', '')} |")
    out += ["", f"Files: {', '.join(report.get('files', []))}", ""]
    return "\n".join(out)
