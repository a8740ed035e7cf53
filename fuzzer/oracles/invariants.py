"""Invariants (specs/invariants.yaml): id, statement, references, explanation, and the monitor
that checks each. A monitor is named by a short name registered here or by ``module:Class``, so
a new invariant needs no change to the engine."""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fuzzer.oracles.auth_level import AuthLevel
from fuzzer.oracles.base import Monitor
from fuzzer.oracles.bond_enc import BondedReconnection
from fuzzer.oracles.bond_gate import EncryptedAttributeGate
from fuzzer.oracles.debug_key import DebugKey
from fuzzer.oracles.dhkey_first import DhkeyFirst
from fuzzer.oracles.key_size import KeySize
from fuzzer.oracles.liveness import Liveness
from fuzzer.oracles.ltk_leak import LtkLeak
from fuzzer.oracles.no_downgrade import NoDowngrade
from fuzzer.oracles.no_reflection import NoReflection
from fuzzer.oracles.pubkey_valid import PubkeyValid
from fuzzer.oracles.repeated_attempts import RepeatedAttempts
from fuzzer.oracles.smp_order import SmpOrder
from fuzzer.oracles.zero_ltk import ZeroLtk
from fuzzer.schema import Field, SpecError, load_yaml, validate

MONITORS: dict[str, type[Monitor]] = {
    "bonded_reconnection": BondedReconnection,
    "encrypted_attribute_gate": EncryptedAttributeGate,
    "ltk_leak": LtkLeak,
    "liveness": Liveness,
    # pairing and key invariants (SMP, LL encryption)
    "zero_ltk": ZeroLtk,
    "key_size": KeySize,
    "dhkey_first": DhkeyFirst,
    "pubkey_valid": PubkeyValid,
    "no_reflection": NoReflection,
    "smp_order": SmpOrder,
    "repeated_attempts": RepeatedAttempts,
    "auth_level": AuthLevel,
    "no_downgrade": NoDowngrade,
    "debug_key": DebugKey,
}

INVARIANT_SCHEMA = {
    "id": Field(str, required=True),
    "title": Field(str, required=True),
    "statement": Field(str, required=True),
    "references": Field(list, default=list, items=Field(str)),
    "monitor": Field(str, required=True),
    "params": Field(dict, default=dict),
    "black_box": Field(bool, default=True),
    "explanation": Field(str, default=""),
    "fixes": Field(list, default=list, items=Field(str)),
}


@dataclass
class Invariant:
    """One security invariant and how to check it."""

    id: str
    title: str
    statement: str
    references: list[str]
    monitor: type[Monitor]
    params: dict[str, Any] = field(default_factory=dict)
    black_box: bool = True
    explanation: str = ""
    fixes: list[str] = field(default_factory=list)

    def new_monitor(self, context: dict[str, Any] | None = None) -> Monitor:
        return self.monitor(self.id, self.params, context)


def _monitor_class(ref: str, source: str | Path, key: str) -> type[Monitor]:
    if ref in MONITORS:
        return MONITORS[ref]
    if ":" not in ref:
        raise SpecError(source, key, f"unknown monitor {ref!r}; built-in: "
                                     f"{', '.join(sorted(MONITORS))}, or 'module:Class'")
    module_name, _, name = ref.partition(":")
    try:
        cls = getattr(importlib.import_module(module_name), name)
    except (ImportError, AttributeError) as exc:
        raise SpecError(source, key, f"cannot load monitor {ref!r}: {exc}") from exc
    if not (isinstance(cls, type) and issubclass(cls, Monitor)):
        raise SpecError(source, key, f"{ref} is not a Monitor subclass")
    return cls


def load_invariants(path: str | Path) -> list[Invariant]:
    """Every invariant in the file, validated; ids are unique."""
    data = load_yaml(path)
    if not isinstance(data, dict) or not isinstance(data.get("invariants"), list):
        raise SpecError(path, "invariants", "expected a list under 'invariants'")
    out: list[Invariant] = []
    seen: set[str] = set()
    for i, raw in enumerate(data["invariants"]):
        key = f"invariants[{i}]"
        v = validate(raw, INVARIANT_SCHEMA, path, key + ".")
        if v["id"] in seen:
            raise SpecError(path, key + ".id", f"duplicate invariant id {v['id']!r}")
        seen.add(v["id"])
        monitor = _monitor_class(v["monitor"], path, key + ".monitor")
        out.append(Invariant(v["id"], v["title"], v["statement"], v["references"], monitor,
                             v["params"], v["black_box"], v["explanation"], v["fixes"]))
    return out
