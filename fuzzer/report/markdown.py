"""report.md, rendered from report.json for a person to read."""

from __future__ import annotations

from typing import Any

_MARK = {"pass": "PASS", "fail": "FAIL", "inconclusive": "INCONCLUSIVE", "error": "ERROR"}


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
        "| Invariant | Status | What was seen |",
        "| --- | --- | --- |",
    ]
    for r in report.get("results", []):
        msg = r.get("message", "").replace("|", "\\|")
        out.append(f"| {r['id']} — {r['title']} | {_MARK[r['status']]} | {msg} |")
    out.append("")
    for r in report.get("results", []):
        if r["status"] not in ("fail", "error"):
            continue
        out += [f"## {r['id']} failed: {r['title']}", "", f"**Invariant.** {r['statement']}", ""]
        if r.get("explanation"):
            out += [f"**What this means.** {r['explanation']}", ""]
        for i, ev in enumerate(r.get("evidence", []), 1):
            step = ev.get("step_detail") or {}
            label = step.get("label") or step.get("op", "")
            out += [f"**Evidence {i}** — step {ev.get('step')}: {label}", "",
                    f"{ev.get('message', '')}", "", "```"]
            for e in ev.get("events", []):
                out.append(f"#{e['seq']:<5} t={e['t_us'] / 1e6:10.6f}s  {e['summary']}")
            out += ["```", ""]
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
