"""Findings: a violated invariant with the program that shows it, saved as
``findings/<id>/finding.yaml`` with its ``trace.jsonl`` and ``trace.pcap``, written atomically.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from fuzzer.engine.program import Program
from fuzzer.schema import Field, SpecError, load_yaml, validate
from fuzzer.trace.atomic import write_atomic
from fuzzer.trace.describe import evidence_event
from fuzzer.trace.events import Trace
from fuzzer.trace.jsonl import write_jsonl
from fuzzer.trace.pcap import write_pcap

FINDING_VERSION = 1

FINDING_SCHEMA = {
    "format_version": Field(int, required=True, choices=(FINDING_VERSION,)),
    "id": Field(str, required=True),
    "invariant": Field(str, required=True),
    "signature": Field(str, required=True),
    "message": Field(str, default=""),
    "explanation": Field(str, default=""),
    "device": Field(dict, required=True, schema={
        "name": Field(str, required=True),
        "source": Field(str, default=""),
    }),
    "seed": Field(int, required=True),
    "found": Field(dict, default=dict),
    "evidence": Field(list, default=list),
    "program": Field(dict, required=True),
}


def finding_id(invariant: str, signature: str) -> str:
    digest = hashlib.sha1(f"{invariant}\0{signature}".encode()).hexdigest()[:10]
    return f"{invariant.lower()}-{digest}"


@dataclass
class Finding:
    """One distinct violation: the invariant, its signature, and a program that shows it."""

    invariant: str
    signature: str
    message: str
    program: Program
    seed: int
    device: dict[str, str]
    explanation: str = ""
    evidence: list[dict[str, Any]] = field(default_factory=list)
    found: dict[str, Any] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return finding_id(self.invariant, self.signature)

    def to_dict(self) -> dict[str, Any]:
        return {
            "format_version": FINDING_VERSION, "id": self.id, "invariant": self.invariant,
            "signature": self.signature, "message": self.message,
            "explanation": " ".join(self.explanation.split()), "device": self.device,
            "seed": self.seed, "found": self.found, "evidence": self.evidence,
            "program": self.program.to_dict(),
        }


def evidence_of(violation: Any) -> list[dict[str, Any]]:
    return [evidence_event(e) for e in violation.events]


def save_finding(findings_dir: Path, finding: Finding, trace: Trace) -> Path | None:
    """Write the finding folder atomically; None if another worker already wrote it."""
    findings_dir.mkdir(parents=True, exist_ok=True)
    final = findings_dir / finding.id
    if final.exists():
        return None
    tmp = Path(tempfile.mkdtemp(prefix=f".{finding.id}.", dir=findings_dir))
    try:
        write_atomic(tmp / "finding.yaml", yaml.safe_dump(finding.to_dict(), sort_keys=False,
                                                          allow_unicode=True, width=100))
        write_jsonl(tmp / "trace.jsonl", trace.events)
        write_pcap(tmp / "trace.pcap", trace.events)
        try:
            os.rename(tmp, final)  # atomic; fails if the folder appeared meanwhile
        except OSError:
            shutil.rmtree(tmp, ignore_errors=True)
            return None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final


def load_finding(path: str | Path, procedures: set[str]) -> Finding:
    """A finding.yaml (or its folder); errors name the file and the key at fault."""
    path = Path(path)
    if path.is_dir():
        path = path / "finding.yaml"
    data = validate(load_yaml(path), FINDING_SCHEMA, path)
    program = Program.from_dict(data["program"], f"{path} (program)", procedures)
    if finding_id(data["invariant"], data["signature"]) != data["id"]:
        raise SpecError(path, "id", "does not match the invariant and signature")
    return Finding(data["invariant"], data["signature"], data["message"], program,
                   data["seed"], data["device"], data["explanation"], data["evidence"],
                   data["found"])
