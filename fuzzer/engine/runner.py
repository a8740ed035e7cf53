"""Runs a program against a target: expands procedures, records steps, probes liveness."""

from __future__ import annotations

import random
from functools import cached_property
from typing import Any

from fuzzer.crypto.rand import random_octets
from fuzzer.engine.central import CentralModel, Peer
from fuzzer.engine.program import Program, ProgramStep
from fuzzer.targets.base import StepHandler, Target, TargetError
from fuzzer.trace import events as ev
from fuzzer.trace.events import Event, Trace

# the procedures' handlers by name (procedures imports this module, so it is loaded on first use)
_procedure_handlers: dict[str, StepHandler] | None = None


def _load_procedures() -> dict[str, StepHandler]:
    global _procedure_handlers
    from fuzzer.engine.procedures import PROCEDURE_HANDLERS

    _procedure_handlers = PROCEDURE_HANDLERS
    return PROCEDURE_HANDLERS


class ProcedureFailed(Exception):
    """An honest procedure could not go on (the device refused or did not answer)."""


class Runner:
    """Executes programs on one target with the peers they declare; every random choice comes
    from ``seed``."""

    def __init__(self, target: Target, models: dict[str, CentralModel], seed: int = 0,
                 trace: Trace | None = None) -> None:
        self.target = target
        self.models = models
        self.seed = seed
        self.trace = trace if trace is not None else Trace()
        self.peers: dict[str, Peer] = {}
        self.current_peer: Peer | None = None
        target.open(self.trace)

    @cached_property
    def rng(self) -> random.Random:
        """The tester's random source for this seed (made on first use: seeding is slow)."""
        return random.Random(f"blefuzz-tester-{self.seed}")

    def add_peers(self, program: Program) -> None:
        for name, spec in program.peers.items():
            if spec.model not in self.models:
                raise ValueError(f"peer {name}: unknown central model {spec.model!r}; "
                                 f"known: {', '.join(sorted(self.models))}")
            if name not in self.peers:
                self.peers[name] = Peer(spec, self.models[spec.model])

    def run_program(self, program: Program, offset: int = 0) -> None:
        """Run every step in order (numbered from ``offset``), then probe liveness."""
        self.add_peers(program)
        for index, step in enumerate(program.steps):
            self.run_step(offset + index, step)

    def run_step(self, index: int, step: ProgramStep) -> None:
        op, args = step.op, step.args
        trace = self.trace
        trace.step = index
        # every argument by position (a call with keywords costs several times as much)
        trace.add(self.target.clock.now, ev.STEP, ev.TESTER, None, b"", (), None, {
            "index": index, "op": op, "args": dict(args), "label": step.label})
        handler = (_procedure_handlers or _load_procedures()).get(op)
        if handler is not None and not handler.accepts(args):
            try:
                handler.explain(args)
            except TypeError as exc:
                raise TargetError(f"step {index} ({op}): {exc}") from exc
        try:
            if handler is not None:
                handler.call(self, args)
            elif op == "connect":
                self.primitive(op, **args)
            else:
                self.target.run_op(op, args)  # as ``primitive``, which changes only connect
        except ProcedureFailed as exc:
            self.note(f"{step.op} did not complete: {exc}")
        except TargetError as exc:
            self.note(f"{step.op} could not run: {exc}")
        if not self.target.connected:
            self.target.run_op("scan", {})  # the liveness probe, as ``probe``

    def primitive(self, op: str, **args: Any) -> list[Event]:
        """Run one primitive on the target; returns what came back."""
        if op == "connect" and "peer" in args and "peer_address" not in args:
            peer = self.peer(args["peer"])
            args = dict(args, peer_address=peer.spec.address,
                        peer_address_type=peer.spec.address_type)
        return self.target.run_op(op, args)

    def peer(self, name: str | None) -> Peer:
        if name is None:
            if self.current_peer is None:
                if len(self.peers) != 1:
                    raise TargetError("step needs 'peer' (several peers are declared)")
                return next(iter(self.peers.values()))
            return self.current_peer
        try:
            return self.peers[name]
        except KeyError as exc:
            raise TargetError(f"unknown peer {name!r}") from exc

    def note(self, text: str) -> None:
        self.trace.add(self.target.clock.now, ev.NOTE, ev.TESTER, info={"text": text})

    def probe(self) -> None:
        """Liveness probe: with no link up, the device must be advertising."""
        if not self.target.connected:
            self.target.run_op("scan", {})

    def random_bytes(self, n: int) -> bytes:
        """``n`` octets from the tester's random source."""
        return random_octets(self.rng, n)
