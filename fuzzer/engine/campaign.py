"""Campaigns: the fuzz loop. Pick a program (walk a state model to a deep state and add random
steps, or mutate one from the corpus), run it on a freshly reset target with every invariant
watching, keep it if it found new transitions, and turn each new kind of violation into a
minimized finding. Corpus, findings and progress live on disk, so a killed campaign resumes.

Campaign files (specs/campaigns/*.yaml)::

    name: default
    models: [lifecycle, legacy-pairing]     # state models (specs/models); default: all
    invariants: [BOND-ENC, ...]             # default: all
    time_s: 60                              # budget (the command line overrides)
    steps: null
    generate: 0.3                           # share of programs generated from a model
    mutations_per_program: [1, 4]
    max_program_steps: 24
    random_tail: [0, 4]                     # random steps after a model walk
    mutation_weights: {field: 6, ...}
    peers: {phone: {address: ..., model: ios}, other: {...}}
    expectations: {...}                     # the product's requirements, for the oracles
"""

from __future__ import annotations

import gc
import json
import random
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fuzzer.engine.central import CentralModel
from fuzzer.engine.corpus import Corpus
from fuzzer.engine.execute import ProgramRun, execute
from fuzzer.engine.feedback import Coverage
from fuzzer.engine.findings import Finding, evidence_of, finding_id, save_finding
from fuzzer.engine.minimize import minimize
from fuzzer.engine.models import StateModel
from fuzzer.engine.mutate import DEFAULT_WEIGHTS, Mutator
from fuzzer.engine.program import EXPECTATIONS_SCHEMA, PeerSpec, Program, parse_peers
from fuzzer.engine.vocabulary import random_step
from fuzzer.oracles.invariants import Invariant
from fuzzer.schema import Field, SpecError, load_yaml, validate
from fuzzer.targets.base import Target
from fuzzer.trace.atomic import write_atomic

STRATEGIES = ("model", "random")

#: what stands for the transitions in a state file's JSON until their text goes in its place
_TRANSITIONS = "<transitions>"

CAMPAIGN_SCHEMA = {
    "name": Field(str, required=True),
    "description": Field(str, default=""),
    "models": Field(list, default=list, items=Field(str)),
    "invariants": Field(list, default=list, items=Field(str)),
    "time_s": Field((int, float), min=0),
    "steps": Field(int, min=1),
    "generate": Field((int, float), default=0.3, min=0, max=1),
    "mutations_per_program": Field(list, default=lambda: [1, 4], items=Field(int, min=1)),
    "max_program_steps": Field(int, default=24, min=1, max=1000),
    "random_tail": Field(list, default=lambda: [0, 4], items=Field(int, min=0)),
    "mutation_weights": Field(dict, default=dict, values=Field((int, float), min=0)),
    "peers": Field(dict, default=lambda: {
        "phone": {"address": "4C:57:CA:10:20:30", "model": "ios"},
        "other": {"address": "5A:11:22:33:44:55", "model": "ios"}}),
    "expectations": Field(dict, default=dict, schema=EXPECTATIONS_SCHEMA),
}


@dataclass
class CampaignConfig:
    """A validated campaign file."""

    name: str
    models: list[str]
    invariants: list[str]
    time_s: float | None
    steps: int | None
    generate: float
    mutations: tuple[int, int]
    max_program_steps: int
    random_tail: tuple[int, int]
    mutation_weights: dict[str, float]
    peers: dict[str, PeerSpec]
    expectations: dict[str, Any]
    source: str = ""

    @classmethod
    def from_dict(cls, data: Any, source: str | Path) -> CampaignConfig:
        v = validate(data, CAMPAIGN_SCHEMA, source)
        for key in ("mutations_per_program", "random_tail"):
            if len(v[key]) != 2 or v[key][0] > v[key][1]:
                raise SpecError(source, key, "expected [low, high] with low <= high")
        for name in v["mutation_weights"]:
            if name not in DEFAULT_WEIGHTS:
                raise SpecError(source, f"mutation_weights.{name}",
                                f"unknown mutation; expected one of: "
                                f"{', '.join(DEFAULT_WEIGHTS)}")
        peers = parse_peers(v["peers"], source)
        return cls(v["name"], v["models"], v["invariants"], v.get("time_s"), v.get("steps"),
                   float(v["generate"]), tuple(v["mutations_per_program"]),
                   v["max_program_steps"], tuple(v["random_tail"]), v["mutation_weights"],
                   peers, v["expectations"], str(source))

    @classmethod
    def load(cls, path: str | Path) -> CampaignConfig:
        return cls.from_dict(load_yaml(path), path)


@dataclass
class Stats:
    """Progress of one worker."""

    iterations: int = 0
    steps: int = 0
    elapsed: float = 0.0
    transitions: int = 0
    corpus: int = 0
    findings: int = 0
    errors: int = 0
    time_in: dict[str, float] = field(default_factory=lambda: {
        "execute": 0.0, "engine": 0.0, "minimize": 0.0})

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def remove_leftovers(out: Path) -> None:
    """Remove what a kill in the middle of an atomic write left in a campaign folder: only
    temporary files and folders. Call before any worker starts (a worker's own writes in
    progress look the same)."""
    for leftover in out.rglob(".*.tmp"):
        leftover.unlink(missing_ok=True)
    for leftover in (out / "findings").glob(".*"):
        if leftover.is_dir():
            shutil.rmtree(leftover, ignore_errors=True)


#: The cyclic collector's thresholds while a campaign loops. The emulator, monitors and traces
#: form no reference cycles, so each program's objects are freed by reference counting alone;
#: with the default thresholds (700, 10, 10) the collector would still traverse the young
#: objects every few programs and, as the corpus and caches grow, the whole heap again and again
#: (2-3% of a campaign's time) to find next to nothing. The few cycles that do form are still
#: collected, only later.
LOOP_GC_THRESHOLD = (50_000, 20, 100)


@contextmanager
def fewer_collections() -> Iterator[None]:
    """Run the body with the collector at :data:`LOOP_GC_THRESHOLD`, then as it was."""
    before = gc.get_threshold()
    gc.set_threshold(*LOOP_GC_THRESHOLD)
    try:
        yield
    finally:
        gc.set_threshold(*before)


class StopRequest:
    """A request (e.g. from a SIGINT handler) that this process's campaigns end early: each
    finishes the program it is running, saves its state and returns, as at the end of its
    budget."""

    requested = False

    @classmethod
    def request(cls) -> None:
        cls.requested = True

    @classmethod
    def clear(cls) -> None:
        cls.requested = False


@dataclass
class Budget:
    time_s: float | None = None
    steps: int | None = None

    def spent(self, stats: Stats) -> bool:
        """Whether the campaign must end: its time or steps used up, or a stop requested."""
        if StopRequest.requested:
            return True
        if self.steps is not None and stats.steps >= self.steps:
            return True
        return self.time_s is not None and stats.elapsed >= self.time_s


class Campaign:
    """One worker's fuzz loop over one target."""

    def __init__(
        self,
        config: CampaignConfig,
        target: Target,
        device: dict[str, str],
        invariants: list[Invariant],
        central_models: dict[str, CentralModel],
        state_models: list[StateModel],
        procedures: set[str],
        out: Path,
        seed: int,
        budget: Budget,
        strategy: str = "model",
        worker: int = 0,
        progress: Callable[[Stats], None] | None = None,
    ) -> None:
        self.config = config
        self.target = target
        self.device = device
        self.invariants = invariants
        self.central_models = central_models
        self.state_models = state_models
        self.procedures = procedures
        self.out = out
        self.seed = seed
        self.budget = budget
        self.strategy = strategy
        self.worker = worker
        self.progress = progress
        self.peers = sorted(config.peers)
        self.capabilities = target.capabilities
        self.corpus = Corpus(out / "corpus", procedures)
        self.coverage = Coverage()
        self.found: dict[tuple[str, str], dict[str, Any]] = {}
        self.stats = Stats()
        model_steps = [s for m in state_models for s in m.steps()]
        # one mutator for the campaign; each iteration hands it that iteration's random stream
        self.mutator = Mutator(random.Random(0), self.capabilities, self.peers, model_steps,
                               config.mutation_weights, config.max_program_steps)
        self._start = time.perf_counter()
        self.state_file = out / f"state-{worker}.json"

    # --- persistence ----------------------------------------------------------------------------

    def resume(self) -> None:
        """Pick up where a killed run stopped: its corpus, findings and counters."""
        self.corpus.sync()
        if self.state_file.exists():
            try:
                state = json.loads(self.state_file.read_text(encoding="utf-8"))
            except ValueError as exc:
                raise SpecError(self.state_file, "", f"not readable JSON: {exc}") from exc
            s = state.get("stats", {})
            self.stats.iterations = int(s.get("iterations", 0))
            self.stats.steps = int(s.get("steps", 0))
            self.stats.elapsed = float(s.get("elapsed", 0.0))
            self.coverage.seen = {tuple(t) for t in state.get("transitions", [])}
        for path in sorted((self.out / "findings").glob("*/finding.yaml")):
            data = load_yaml(path)
            if isinstance(data, dict) and "invariant" in data and "signature" in data:
                self.found[(data["invariant"], data["signature"])] = {
                    "id": data.get("id"), "invariant": data["invariant"],
                    "message": data.get("message", ""), "path": str(path.parent),
                    "steps": len((data.get("program") or {}).get("steps", [])),
                    "found": data.get("found", {})}

    def seed_corpus(self, programs: list[Program]) -> None:
        """Start a fresh corpus from seed programs (corpora/), so mutation begins from honest
        sessions of every procedure."""
        if len(self.corpus) == 0:
            for program in programs:
                self.corpus.add(program, 1, 0)

    def save_state(self) -> None:
        """Write the counters and transitions, once the corpus they count is on disk."""
        self.corpus.flush()
        self.stats.transitions = len(self.coverage)
        self.stats.corpus = len(self.corpus)
        self.stats.findings = len(self.found)
        # json.dumps({... "transitions": sorted(self.coverage.seen)}, sort_keys=True), with
        # the transitions' JSON kept by the coverage (it grows; the rest is a few numbers)
        text = json.dumps({
            "stats": self.stats.to_dict(), "seed": self.seed, "worker": self.worker,
            "strategy": self.strategy, "transitions": _TRANSITIONS}, sort_keys=True)
        write_atomic(self.state_file, text.replace(f'"{_TRANSITIONS}"',
                                                   self.coverage.to_json(), 1),
                     durable=False)

    # --- the loop -------------------------------------------------------------------------------

    def run(self) -> Stats:
        start = time.perf_counter() - self.stats.elapsed
        self._start = start
        last_save = last_progress = time.perf_counter()
        with fewer_collections():
            while not self.budget.spent(self.stats):
                self.iterate()
                now = time.perf_counter()
                self.stats.elapsed = now - start
                if now - last_progress >= 0.5 and self.progress is not None:
                    self.stats.transitions = len(self.coverage)
                    self.stats.corpus = len(self.corpus)
                    self.stats.findings = len(self.found)
                    self.progress(self.stats)
                    last_progress = now
                if now - last_save >= 2.0:
                    self.save_state()
                    if self.stats.iterations % 50 == 0:
                        self.corpus.sync()
                    last_save = now
        self.save_state()
        if self.progress is not None:
            self.progress(self.stats)
        return self.stats

    def _rng(self) -> random.Random:
        """The random stream of this iteration (so a resumed run goes on, not over)."""
        return random.Random(f"blefuzz-{self.seed}-{self.worker}-{self.stats.iterations}")

    def next_program(self, rng: random.Random) -> Program:
        cfg = self.config
        mutator = self.mutator
        mutator.rng = rng
        if self.strategy == "random":
            n = rng.randint(1, cfg.max_program_steps)
            steps = [random_step(rng, self.capabilities, self.peers) for _ in range(n)]
        elif not self.corpus.entries or rng.random() < cfg.generate:
            model = rng.choice(self.state_models)
            steps, _state = model.walk(rng, cfg.max_program_steps)
            steps += [random_step(rng, self.capabilities, self.peers)
                      for _ in range(rng.randint(*cfg.random_tail))]
            if rng.random() < 0.5:
                steps, _ = mutator.mutate(steps, count=rng.randint(*cfg.mutations))
        else:
            entry = self.corpus.pick(rng, self.stats.iterations)
            other = self.corpus.pick(rng, self.stats.iterations).program.steps
            steps, _ = mutator.mutate(entry.program.steps, other,
                                      count=rng.randint(*cfg.mutations))
        return Program(f"{self.config.name}-{self.worker}-{self.stats.iterations}",
                       self.config.peers, steps[: cfg.max_program_steps],
                       expectations=self.config.expectations)

    def iterate(self) -> None:
        t0 = time.perf_counter()
        rng = self._rng()
        program = self.next_program(rng)
        program_seed = rng.getrandbits(32)
        t1 = time.perf_counter()
        run = execute(self.target, program, self.invariants, self.central_models, program_seed,
                      self.config.expectations)
        t2 = time.perf_counter()
        self.stats.time_in["engine"] += t1 - t0
        self.stats.time_in["execute"] += t2 - t1
        self.stats.iterations += 1
        self.stats.steps += run.steps
        if run.error:
            self.stats.errors += 1
        new = self.coverage.add(run.transitions)
        if new and self.strategy != "random":
            self.corpus.add(program, new, self.stats.iterations)
        for key in run.signatures():
            if key not in self.found:
                self._finding(key, program, program_seed, run)
        self.stats.time_in["minimize"] += time.perf_counter() - t2

    # --- findings -------------------------------------------------------------------------------

    def reproduces(self, steps, key: tuple[str, str], seed: int) -> bool:
        program = Program("candidate", self.config.peers, steps,
                          expectations=self.config.expectations)
        run = execute(self.target, program, self.invariants, self.central_models, seed,
                      self.config.expectations, feedback=False)
        self.stats.steps += run.steps  # minimizing runs count: they are steps the device did
        return key in run.signatures()

    def _finding(self, key: tuple[str, str], program: Program, seed: int,
                 run: ProgramRun) -> None:
        invariant_id, signature = key
        fid = finding_id(invariant_id, signature)
        existing = self.out / "findings" / fid
        if existing.exists():  # another worker found it first
            self.found[key] = {"id": fid, "invariant": invariant_id, "path": str(existing)}
            return
        small = minimize(program, lambda steps: self.reproduces(steps, key, seed))
        final = execute(self.target, small, self.invariants, self.central_models, seed,
                        self.config.expectations, feedback=False)
        violation = next((v for inv, v in final.violations if (inv, v.signature) == key), None)
        if violation is None:  # cannot happen: minimize keeps only reproducing programs
            small, final = program, run
            violation = next(v for inv, v in run.violations if (inv, v.signature) == key)
        small.name = fid
        inv = next(i for i in self.invariants if i.id == invariant_id)
        elapsed = time.perf_counter() - self._start
        # what goes in the file is deterministic for a seed; the wall time only in the report
        found = {"iteration": self.stats.iterations, "steps": self.stats.steps,
                 "worker": self.worker, "strategy": self.strategy,
                 "original_steps": len(program.steps)}
        finding = Finding(invariant_id, signature, violation.message, small, seed, self.device,
                          inv.explanation, evidence_of(violation), found)
        path = save_finding(self.out / "findings", finding, final.trace)
        self.found[key] = {"id": finding.id, "invariant": invariant_id,
                           "message": violation.message, "steps": len(small.steps),
                           "path": str(path or existing),
                           "found": dict(found, elapsed_s=round(elapsed, 3))}
