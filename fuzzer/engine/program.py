"""Programs: the unit of work, replay and reporting — peers the tester plays and ordered steps.

A step is a primitive the target performs (see ``fuzzer.targets.base``) or a scripted procedure
of an honest central (``fuzzer.engine.procedures``) that expands into primitives as it runs.
Programs are plain data and serialize to readable YAML.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fuzzer.schema import Field, SpecError, bd_addr_check, load_yaml, validate, validate_value
from fuzzer.targets.base import PRIMITIVES

FORMAT_VERSION = 1

PEER_SCHEMA = {
    "address": Field(str, required=True, check=bd_addr_check),
    "address_type": Field(str, default="public", choices=("public", "random")),
    "model": Field(str, default="ios"),
}


# What the product requires, for the oracles (never hints about flaws): attributes that need
# encryption or MITM-protected keys, the product's minimum key size, and its pairing policies.
EXPECTATIONS_SCHEMA = {
    "protected_characteristics": Field(list, default=list, items=Field(str)),
    "authenticated_characteristics": Field(list, default=list, items=Field(str)),
    "min_key_size": Field(int, min=7, max=16),
    "debug_mode": Field(bool),
    "allow_downgrade": Field(bool),
}


@dataclass
class ProgramStep:
    """One step: an op, its arguments and an optional label a person reads in reports."""

    op: str
    args: dict[str, Any] = field(default_factory=dict)
    label: str = ""

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"op": self.op}
        d.update(self.args)
        if self.label:
            d["label"] = self.label
        return d

    def describe(self) -> str:
        args = " ".join(f"{k}={v}" for k, v in self.args.items())
        return f"{self.op} {args}".strip()


@dataclass
class PeerSpec:
    """A central the tester plays: its address and behaviour model (specs/centrals/*.yaml)."""

    name: str
    address: str
    address_type: str = "public"
    model: str = "ios"


def parse_step(raw: Any, source: str | Path, key: str, known_ops: set[str] | frozenset[str],
               peers: dict[str, PeerSpec] | None = None) -> ProgramStep:
    """One step mapping (``op``, ``label`` and arguments), validated: a known op and, when
    ``peers`` is given, a declared peer."""
    if not isinstance(raw, dict) or "op" not in raw:
        raise SpecError(source, key, "expected a mapping with an 'op'")
    args = dict(raw)
    op = args.pop("op")
    label = args.pop("label", "")
    validate_value(op, Field(str), source, key + ".op")
    validate_value(label, Field(str), source, key + ".label")
    if op not in known_ops:
        raise SpecError(source, key + ".op", f"unknown step {op!r}; expected one of: "
                                             f"{', '.join(sorted(known_ops))}")
    peer = args.get("peer")
    if peers is not None and peer is not None and peer not in peers:
        raise SpecError(source, key + ".peer",
                        f"unknown peer {peer!r}; declared: {', '.join(peers)}")
    return ProgramStep(op, args, label)


def parse_peers(data: dict, source: str | Path) -> dict[str, PeerSpec]:
    """The ``peers`` mapping of a program, suite or campaign, validated (at least one)."""
    peers = {}
    for name, spec in data.items():
        p = validate(spec, PEER_SCHEMA, source, f"peers.{name}.")
        peers[str(name)] = PeerSpec(str(name), p["address"].upper(), p["address_type"],
                                    p["model"])
    if not peers:
        raise SpecError(source, "peers", "at least one peer is needed")
    return peers


@dataclass
class Program:
    """Peers and steps; what the tester does to the device, in order."""

    name: str
    peers: dict[str, PeerSpec]
    steps: list[ProgramStep]
    title: str = ""
    expectations: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "format_version": FORMAT_VERSION,
            "name": self.name,
            "title": self.title,
            "peers": {n: {"address": p.address, "address_type": p.address_type,
                          "model": p.model} for n, p in self.peers.items()},
            "expectations": self.expectations,
            "steps": [s.to_dict() for s in self.steps],
        }

    @classmethod
    def from_dict(cls, data: Any, source: str | Path, procedures: set[str]) -> Program:
        """Validate a program mapping; errors name ``source`` and the key at fault."""
        schema = {
            "format_version": Field(int, default=FORMAT_VERSION, choices=(FORMAT_VERSION,)),
            "name": Field(str, required=True),
            "title": Field(str, default=""),
            "peers": Field(dict, required=True),
            "expectations": Field(dict, default=dict, schema=EXPECTATIONS_SCHEMA),
            "steps": Field(list, required=True),
        }
        v = validate(data, schema, source)
        peers = parse_peers(v["peers"], source)
        steps = [parse_step(raw, source, f"steps[{i}]", PRIMITIVES | procedures, peers)
                 for i, raw in enumerate(v["steps"])]
        return cls(v["name"], peers, steps, v["title"], v["expectations"])

    @classmethod
    def load(cls, path: str | Path, procedures: set[str]) -> Program:
        return cls.from_dict(load_yaml(path), path, procedures)
