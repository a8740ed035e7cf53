"""State models (specs/models/*.yaml): graphs whose edges are program steps, so the engine can
walk honestly to a deep protocol state (bonded and in DFU mode; between Pairing Confirm and
Pairing Random; after LL_PAUSE_ENC…) and mutate from there. A new model file needs no engine
change.

A model file::

    name: legacy-pairing
    description: ...
    requires: [smp]                  # target capabilities its steps need
    start: disconnected
    transitions:
      - {from: disconnected, to: connected, step: {op: connect, peer: phone, to: app}}
      - {from: connected, to: confirmed, step: {op: pair, peer: phone, sc: false,
                                                stop_after: confirm}}
    fuzz_from: [connected, confirmed]   # states to mutate from (default: every state)

Steps are program steps (primitives or honest procedures, see fuzzer.engine.program); ``peer``
names are roles the campaign maps to the central it plays.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from itertools import accumulate
from pathlib import Path

from fuzzer.engine import weighted
from fuzzer.engine.program import ProgramStep, parse_step
from fuzzer.schema import Field, SpecError, load_yaml, validate
from fuzzer.targets.base import PRIMITIVES

MODEL_SCHEMA = {
    "name": Field(str, required=True),
    "description": Field(str, default=""),
    "requires": Field(list, default=list, items=Field(str)),
    "start": Field(str, required=True),
    "transitions": Field(list, required=True),
    "fuzz_from": Field(list, default=list, items=Field(str)),
}
TRANSITION_SCHEMA = {
    "from": Field(str, required=True),
    "to": Field(str, required=True),
    "step": Field(dict, required=True),
    "weight": Field((int, float), default=1, min=0),
}


@dataclass
class Transition:
    source: str
    target: str
    step: ProgramStep
    weight: float = 1.0


@dataclass
class StateModel:
    """A protocol's states and the honest steps between them."""

    name: str
    description: str
    requires: list[str]
    start: str
    transitions: list[Transition]
    fuzz_from: list[str]
    source: str = ""
    out: dict[str, list[Transition]] = field(default_factory=dict)
    _paths: dict[tuple[str, str], tuple[list[Transition], list[float] | None]] = field(
        default_factory=dict, repr=False, compare=False)
    _goals: list[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        for t in self.transitions:
            self.out.setdefault(t.source, []).append(t)
        # the states a walk may end in: those to fuzz from, else every state
        self._goals = self.fuzz_from or sorted(self.states)

    @property
    def states(self) -> set[str]:
        return {self.start} | {t.source for t in self.transitions} | {
            t.target for t in self.transitions}

    def walk(self, rng: random.Random, max_steps: int = 12) -> tuple[list[ProgramStep], str]:
        """An honest path from the start to a state to fuzz from: (steps, state)."""
        goal = rng.choice(self._goals)
        state = self.start
        path: list[ProgramStep] = []
        for _ in range(max_steps):
            if state == goal and (not path or rng.random() < 0.7):
                break
            towards, cum_weights = self._toward(state, goal)
            if not towards:
                break
            t = towards[0] if cum_weights is None else weighted.pick(rng, towards, cum_weights)
            path.append(ProgramStep(t.step.op, dict(t.step.args), t.step.label))
            state = t.target
        return path, state

    def _toward(self, state: str, goal: str) -> tuple[list[Transition], list[float] | None]:
        """The transitions out of ``state`` that can still reach ``goal`` (all of them if none
        can) and their cumulative weights (None when they are all zero); computed once per
        pair."""
        key = (state, goal)
        found = self._paths.get(key)
        if found is None:
            choices = self.out.get(state, [])
            towards = [t for t in choices if self._reaches(t.target, goal)] or choices
            weights = [t.weight for t in towards]
            found = self._paths[key] = (
                towards, list(accumulate(weights)) if sum(weights) > 0 else None)
        return found

    def _reaches(self, source: str, goal: str) -> bool:
        seen, todo = set(), [source]
        while todo:
            s = todo.pop()
            if s == goal:
                return True
            if s in seen:
                continue
            seen.add(s)
            todo.extend(t.target for t in self.out.get(s, []))
        return False

    def steps(self) -> list[ProgramStep]:
        """Every step the model knows (the vocabulary of "a step from another state")."""
        return [t.step for t in self.transitions]


def load_model(path: str | Path, procedures: set[str]) -> StateModel:
    """A validated model; errors name the file and the key at fault."""
    v = validate(load_yaml(path), MODEL_SCHEMA, path)
    known_ops = PRIMITIVES | procedures
    transitions = []
    for i, raw in enumerate(v["transitions"]):
        key = f"transitions[{i}]"
        t = validate(raw, TRANSITION_SCHEMA, path, key + ".")
        step = parse_step(t["step"], path, key + ".step", known_ops)
        transitions.append(Transition(t["from"], t["to"], step, float(t["weight"])))
    model = StateModel(v["name"], v["description"], v["requires"], v["start"], transitions,
                       v["fuzz_from"], str(path))
    states = model.states
    for i, s in enumerate(v["fuzz_from"]):
        if s not in states:
            raise SpecError(path, f"fuzz_from[{i}]", f"unknown state {s!r}; states: "
                                                     f"{', '.join(sorted(states))}")
    if v["start"] not in {t.source for t in transitions}:
        raise SpecError(path, "start", f"no transition leaves the start state {v['start']!r}")
    return model


def load_models(directory: Path, procedures: set[str]) -> dict[str, StateModel]:
    """Every model in ``directory`` by name."""
    models: dict[str, StateModel] = {}
    for path in sorted(directory.glob("*.yaml")):
        m = load_model(path, procedures)
        if m.name in models:
            raise SpecError(path, "name", f"duplicate model name {m.name!r}")
        models[m.name] = m
    return models
