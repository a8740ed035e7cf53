"""report.json and report.md of a fuzzing campaign, from the folder the workers left."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from fuzzer.report.json_report import SCHEMA_VERSION


def _worker_states(out: Path) -> list[dict[str, Any]]:
    states = []
    for path in sorted(out.glob("state-*.json")):
        try:
            states.append(json.loads(path.read_text(encoding="utf-8")))
        except ValueError:
            continue
    return states


def build(out: Path, common: dict[str, Any], profile: Any, args: Any, argv: list[str],
          wall_s: float, version: str) -> dict[str, Any]:
    """The report of the campaign in ``out``."""
    states = _worker_states(out)
    stats = [s["stats"] for s in states]
    steps = sum(s["steps"] for s in stats)
    elapsed = max((s["elapsed"] for s in stats), default=0.0)
    transitions = set()
    for s in states:
        transitions |= {tuple(t) for t in s.get("transitions", [])}
    time_in: dict[str, float] = {}
    for s in stats:
        for k, v in s.get("time_in", {}).items():
            time_in[k] = time_in.get(k, 0.0) + v
    findings = []
    for path in sorted((out / "findings").glob("*/finding.yaml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        findings.append({
            "id": data["id"], "invariant": data["invariant"], "signature": data["signature"],
            "message": data.get("message", ""), "steps": len(data["program"]["steps"]),
            "seed": data["seed"], "found": data.get("found", {}),
            "path": str(path.parent), "evidence": data.get("evidence", []),
            "explanation": data.get("explanation", ""),
        })
    config = common["config"]
    results = [{
        "kind": "finding", "id": f["id"], "title": f["invariant"], "status": "fail",
        "message": f["message"], "evidence": [{"message": f["message"], "step": None,
                                               "events": f["evidence"]}],
    } for f in findings]
    return {
        "schema_version": SCHEMA_VERSION,
        "tool": {"name": "blefuzz", "version": version},
        "command": "fuzz",
        "argv": ["blefuzz", *argv],
        "seed": args.seed,
        "strategy": args.strategy,
        "device": {"name": profile.name, "source": profile.source},
        "campaign": {"name": config.name, "source": config.source,
                     "models": [m.name for m in common["models"]],
                     "invariants": [i.id for i in common["invariants"]]},
        "workers": args.workers,
        "stats": {
            "iterations": sum(s["iterations"] for s in stats), "steps": steps,
            "elapsed_s": round(elapsed, 3), "wall_s": round(wall_s, 3),
            "steps_per_s": round(steps / elapsed, 1) if elapsed else 0.0,
            "transitions": len(transitions),
            "corpus": len(list((out / "corpus").glob("*.yaml"))),
            "errors": sum(s.get("errors", 0) for s in stats),
            "time_in_s": {k: round(v, 3) for k, v in time_in.items()},
        },
        "findings": findings,
        "results": results,
        "summary": {"findings": len(findings), "fail": len(findings), "pass": 0,
                    "inconclusive": 0, "error": 0, "total": len(findings)},
        "files": ["report.json", "report.md", "corpus/", "findings/"],
    }


def render(report: dict[str, Any]) -> str:
    """report.md for a campaign."""
    s = report["stats"]
    out = [f"# blefuzz fuzz: {report['device']['name']}", "",
           f"- Campaign: {report['campaign']['name']} (strategy {report['strategy']}, seed "
           f"{report['seed']}, {report['workers']} worker(s))",
           f"- {s['steps']} steps in {s['elapsed_s']:.1f} s ({s['steps_per_s']:.0f} steps/s), "
           f"{s['iterations']} programs, {s['transitions']} transitions, corpus {s['corpus']}",
           f"- **{len(report['findings'])} finding(s)**", ""]
    if report["findings"]:
        out += ["| Finding | Invariant | Steps | What was seen |", "| --- | --- | --- | --- |"]
        for f in report["findings"]:
            msg = f["message"].replace("|", "\\|")
            out.append(f"| `{f['id']}` | {f['invariant']} | {f['steps']} | {msg} |")
        out.append("")
        for f in report["findings"]:
            out += [f"## {f['invariant']}: `{f['id']}`", "", f["message"], ""]
            if f["explanation"]:
                out += [f"**What this means.** {f['explanation']}", ""]
            out += ["```"] + [f"#{e['seq']:<5} {e['summary']}" for e in f["evidence"]] + [
                "```", "", f"Replay: `blefuzz replay {f['path']}/finding.yaml`", ""]
    return "\n".join(out)
