"""Mutations of programs: field-aware (per codec field kind, lengths, truncation, extension)
and sequence-aware (drop, duplicate, reorder, insert, steps from another state, splicing,
replaying an earlier PDU, switching peer, power cycle or reset at a step).

The engine mutates only what it sees: programs, the codecs' PDU tables and the models' steps.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable

from fuzzer.crypto.rand import random_octets
from fuzzer.engine import weighted
from fuzzer.engine.program import ProgramStep
from fuzzer.engine.vocabulary import CODECS, PAIR_OPTIONS, UUIDS, field_value, random_step

DEFAULT_WEIGHTS = {
    "field": 6, "bytes": 2, "args": 4, "insert": 4, "delete": 2, "duplicate": 1, "swap": 1,
    "model_step": 3, "splice": 1, "replay": 1, "peer": 1, "interrupt": 1,
}
PDU_OPS = ("smp", "att", "ll")


class Mutator:
    """Applies weighted mutation operators; every random choice comes from ``rng``."""

    def __init__(self, rng: random.Random, capabilities: frozenset[str], peers: list[str],
                 model_steps: list[ProgramStep], weights: dict[str, float] | None = None,
                 max_steps: int = 24) -> None:
        self.rng = rng
        self.capabilities = capabilities
        self.peers = peers
        self.model_steps = model_steps
        self.weights = dict(DEFAULT_WEIGHTS)
        self.weights.update(weights or {})
        self.max_steps = max_steps
        self.ops: dict[str, Callable[[list[ProgramStep], list[ProgramStep]], list[ProgramStep]]]
        self.ops = {name: getattr(self, "_" + name) for name in DEFAULT_WEIGHTS}
        self._names = [n for n, w in self.weights.items() if w > 0]
        self._cum_weights = list(itertools.accumulate(self.weights[n] for n in self._names))

    def mutate(self, steps: list[ProgramStep], other: list[ProgramStep] | None = None,
               count: int = 1) -> tuple[list[ProgramStep], list[str]]:
        """A mutated copy of ``steps`` (``other`` is a second program for splicing) and the
        names of the operators applied."""
        out = list(steps)  # steps are shared with the original until an operator edits one
        applied = []
        rng, names, cum_weights = self.rng, self._names, self._cum_weights
        for _ in range(count):
            name = weighted.pick(rng, names, cum_weights)
            out = self.ops[name](out, other or [])
            applied.append(name)
        return out[: self.max_steps], applied

    # --- field-aware ------------------------------------------------------------------------

    @staticmethod
    def _edit(steps: list[ProgramStep], i: int) -> ProgramStep:
        """Step ``i`` as a copy of its own, to change in place (the original stays as it was)."""
        s = steps[i]
        steps[i] = s = ProgramStep(s.op, dict(s.args), s.label)
        return s

    def _pdu_positions(self, steps: list[ProgramStep]) -> list[int]:
        return [i for i, s in enumerate(steps) if s.op in PDU_OPS and "pdu" in s.args]

    def _field(self, steps, other):
        """Set one field of a PDU to a boundary or interesting value (keys: all-zero, all-ones)."""
        positions = self._pdu_positions(steps)
        if not positions:
            return self._insert(steps, other)
        i = self.rng.choice(positions)
        codec = CODECS[steps[i].op]
        raw = bytes.fromhex(steps[i].args["pdu"])
        dec = codec.decode(raw)
        if dec.name == "unknown" or not dec.fields:
            return self._bytes(steps, other)
        kinds = dict(codec.fields_of(dec.name))
        fields = dict(dec.fields)
        name = self.rng.choice(sorted(kinds))
        fields[name] = field_value(self.rng, kinds[name])
        self._edit(steps, i).args["pdu"] = codec.encode(dec.name, **{
            k: v for k, v in fields.items() if k in kinds}).hex()
        return steps

    def _bytes(self, steps, other):
        """Byte-level: truncate, extend, flip a bit, change the opcode."""
        positions = self._pdu_positions(steps)
        if not positions:
            return self._insert(steps, other)
        i = self.rng.choice(positions)
        raw = bytearray(bytes.fromhex(steps[i].args["pdu"]))
        how = self.rng.choice(("truncate", "extend", "flip", "opcode"))
        if how == "truncate" and raw:
            raw = raw[: self.rng.randrange(len(raw))]
        elif how == "extend":
            raw += random_octets(self.rng, self.rng.choice((1, 2, 16)))
        elif how == "flip" and raw:
            j = self.rng.randrange(len(raw))
            raw[j] ^= 1 << self.rng.randrange(8)
        elif raw:
            raw[0] = self.rng.randrange(256)
        self._edit(steps, i).args["pdu"] = bytes(raw).hex()
        return steps

    def _args(self, steps, other):
        """Change an argument of a procedure or a link step."""
        positions = [i for i, s in enumerate(steps) if s.op in ("pair", "connect", "read",
                                                                 "encrypt", "wait")]
        if not positions:
            return self._insert(steps, other)
        s = self._edit(steps, self.rng.choice(positions))
        if s.op == "pair":
            key = self.rng.choice(sorted(PAIR_OPTIONS))
            s.args[key] = self.rng.choice(PAIR_OPTIONS[key])
        elif s.op == "connect":
            s.args["to"] = self.rng.choice(("app", "dfu", "any", "bonded"))
        elif s.op == "read":
            s.args["uuid"] = self.rng.choice(UUIDS)
        elif s.op == "encrypt":
            s.args["ltk"] = self.rng.choice(("00" * 16, "ff" * 16, s.args.get("ltk", "00" * 16)))
            s.args["ediv"] = self.rng.choice((0, 1, 0xFFFF))
        else:
            s.args["seconds"] = self.rng.choice((0.1, 1, 31, 41, 121))
        return steps

    # --- sequence-aware -----------------------------------------------------------------------

    def _insert(self, steps, other):
        step = random_step(self.rng, self.capabilities, self.peers)
        steps.insert(self.rng.randrange(len(steps) + 1), step)
        return steps

    def _model_step(self, steps, other):
        """A step taken from any state of any model (a step from another state)."""
        if not self.model_steps:
            return self._insert(steps, other)
        s = self.rng.choice(self.model_steps)
        steps.insert(self.rng.randrange(len(steps) + 1), ProgramStep(s.op, dict(s.args)))
        return steps

    def _delete(self, steps, other):
        if len(steps) > 1:
            del steps[self.rng.randrange(len(steps))]
        return steps

    def _duplicate(self, steps, other):
        if steps:
            i = self.rng.randrange(len(steps))
            s = steps[i]
            steps.insert(i + 1, ProgramStep(s.op, dict(s.args)))
        return steps

    def _swap(self, steps, other):
        if len(steps) > 1:
            i = self.rng.randrange(len(steps) - 1)
            steps[i], steps[i + 1] = steps[i + 1], steps[i]
        return steps

    def _splice(self, steps, other):
        if not other:
            return self._duplicate(steps, other)
        cut = self.rng.randrange(len(steps) + 1)
        cut2 = self.rng.randrange(len(other) + 1)
        return steps[:cut] + [ProgramStep(s.op, dict(s.args)) for s in other[cut2:]]

    def _replay(self, steps, other):
        """Send an earlier PDU again, later."""
        positions = self._pdu_positions(steps)
        if not positions:
            return self._duplicate(steps, other)
        s = steps[self.rng.choice(positions)]
        steps.insert(self.rng.randrange(len(steps) + 1), ProgramStep(s.op, dict(s.args)))
        return steps

    def _peer(self, steps, other):
        """Switch the identity (address) a step is performed as."""
        positions = [i for i, s in enumerate(steps) if "peer" in s.args]
        if not positions or len(self.peers) < 2:
            return self._insert(steps, other)
        s = self._edit(steps, self.rng.choice(positions))
        s.args["peer"] = self.rng.choice([p for p in self.peers if p != s.args["peer"]])
        return steps

    def _interrupt(self, steps, other):
        """A power cycle, a disconnection or a long wait at some step."""
        choices = [ProgramStep("hang_up", {}), ProgramStep("wait", {"seconds": 31})]
        if "power_cycle" in self.capabilities:
            choices.append(ProgramStep("power_cycle", {}))
        steps.insert(self.rng.randrange(len(steps) + 1), self.rng.choice(choices))
        return steps
