"""The corpus: programs that found new transitions, on disk (one YAML file each, written
atomically by a background writer, in batches, and flushed before the campaign saves its state),
shared by workers, scheduled favouring those that found new transitions recently.
"""

from __future__ import annotations

import hashlib
import random
import re
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from math import floor
from pathlib import Path
from typing import Any

import yaml

from fuzzer.engine import weighted
from fuzzer.engine.program import Program
from fuzzer.schema import SpecError
from fuzzer.trace.atomic import write_atomic

_Dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)  # libyaml when present: 10x faster
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def dump(data: object) -> str:
    """YAML text as every corpus file is written."""
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, width=100)


_PLAIN_NAME = re.compile(r"[A-Za-z0-9_.-]+")

#: an entry's weight halves every this many iterations after it was found (Corpus._weight)
_HALF_LIFE = 2000
#: an entry's weight is divided by 1 + picks / this (Corpus._weight)
_PICK_DAMPING = 50
_NAME_MARK = "blefuzz-program-name"

_HEX = re.compile(r"[0-9a-f]+")
_PDU_MARK = "blefuzz-pdu-octets"
_PDU_PLAIN = f": {_PDU_MARK}\n"
#: the dumper's resolver, when it is the stock one: whether a string dumps plain (unquoted)
_RESOLVER = (yaml.resolver.Resolver() if _Dumper.yaml_implicit_resolvers is
             yaml.resolver.Resolver.yaml_implicit_resolvers and not _Dumper.yaml_path_resolvers
             else None)


def _plain_str(text: str) -> bool:
    """Whether the dumper writes ``text``, hex digits (none a character YAML quotes for),
    plain: when, read plain, it is a string again (not an int such as ``0123`` or ``0b101``);
    the dumper asks the same resolver."""
    return _RESOLVER is not None and _RESOLVER.resolve(
        yaml.ScalarNode, text, (True, False)) == "tag:yaml.org,2002:str"


class ProgramText:
    """A program's YAML, loading back as ``program.to_dict()``, made from parts remembered by
    content: each step's YAML (the same text a whole dump gives; mutated programs share most of
    their steps) and the part before the steps, which in a campaign differs only by name."""

    def __init__(self, size: int = 8192) -> None:
        self.size = size
        self._parts: dict[str, str] = {}

    def _remember(self, key: str, make) -> str:
        text = self._parts.get(key)
        if text is None:
            if len(self._parts) >= self.size:
                self._parts.clear()
            text = self._parts[key] = make()
        return text

    def _step(self, d: dict[str, Any]) -> str:
        """The YAML of a step given as its ``to_dict()``."""
        # repr: the content with its types (a str "1" differs from the int 1)
        return self._remember(repr(d), lambda: self._new_step(d))

    def _new_step(self, d: dict[str, Any]) -> str:
        """The YAML of a step not remembered. Most are PDUs whose octets are new (mutated or
        random), so a PDU's hex, when YAML writes it plain, goes into the remembered YAML of
        the same step with a mark in its place (a dump costs as much as dozens of steps
        remembered); any other step is dumped."""
        pdu = d.get("pdu")
        if type(pdu) is str and _HEX.fullmatch(pdu) and _plain_str(pdu):
            marked = {**d, "pdu": _PDU_MARK}
            text = self._remember(repr(marked), lambda: dump([marked]))
            if text.count(_PDU_MARK) == 1 and _PDU_PLAIN in text:  # the mark is the value alone
                return text.replace(_PDU_PLAIN, f": {pdu}\n", 1)
        return dump([d])

    def program(self, program: Program) -> str:
        data = program.to_dict()
        if not program.steps or not _PLAIN_NAME.fullmatch(program.name):
            return dump(data)
        steps = data.pop("steps")  # the last key: its items follow the rest, unindented
        data["name"] = _NAME_MARK
        head = self._remember(repr(data), lambda: dump(data))
        # a name of plain characters double-quoted is that string in YAML (and never a number)
        head = head.replace(f"name: {_NAME_MARK}\n", f'name: "{program.name}"\n', 1)
        return head + "steps:\n" + "".join(map(self._step, steps))


def _write_files(files: list[tuple[Path, str]]) -> None:
    """Write each (path, text) atomically, in order."""
    for path, text in files:
        write_atomic(path, text, durable=False)


@dataclass(slots=True)
class Entry:
    """A kept program and what its scheduling weighs (slots: a pick reads several entries at
    random, each without an attribute dict to fetch too)."""

    id: str
    program: Program
    new_transitions: int
    iteration: int
    picked: int = 0


class Corpus:
    """Programs kept for mutation, persisted in ``directory``."""

    #: how many entries a weighted pick compares (a tournament keeps picking O(1))
    TOURNAMENT = 8
    #: how many files the writer is handed at once: waking it costs the fuzz loop more than a
    #: file's write (they share a core), so it is woken once per batch, not once per file
    BATCH = 32
    #: how many files may wait to be written before :meth:`add` waits for them (bounds memory)
    BACKLOG = 256

    def __init__(self, directory: Path, procedures: set[str], in_memory: int = 2000) -> None:
        self.directory = directory
        self.procedures = procedures
        self.entries: dict[str, Entry] = {}
        self._list: list[Entry] = []  # the entries, for picking
        self.in_memory = in_memory  # beyond this the weakest entries stay on disk only
        self.on_disk = 0
        self._seen_files: set[str] = set()
        self._yaml = ProgramText()
        self._writer: ThreadPoolExecutor | None = None
        self._batch: list[tuple[Path, str]] = []  # files not yet handed to the writer
        self._pending: list[Future] = []  # the writer's batches not known to be written
        directory.mkdir(parents=True, exist_ok=True)

    def __len__(self) -> int:
        return len(self.entries) + self.on_disk

    def _keep(self, entry: Entry, iteration: int) -> None:
        self.entries[entry.id] = entry
        self._list.append(entry)
        if len(self.entries) > self.in_memory:
            self._evict(iteration)

    def _evict(self, iteration: int) -> None:
        """Keep memory flat: drop the tenth of the entries least likely to be picked (their
        files remain), so eviction costs O(log n) per entry added."""
        ranked = sorted(self._list, key=lambda e: self._weight(e, iteration), reverse=True)
        keep = ranked[: self.in_memory * 9 // 10]
        self.on_disk += len(ranked) - len(keep)
        self._list = sorted(keep, key=lambda e: e.iteration)  # independent of weight ties
        self.entries = {e.id: e for e in self._list}

    @staticmethod
    def _weight(e: Entry, iteration: int) -> float:
        """How likely ``e`` is picked: by the transitions it found, halved every
        ``_HALF_LIFE`` iterations since, damped by how often it was picked."""
        return (1 + e.new_transitions) * 0.5 ** ((iteration - e.iteration) / _HALF_LIFE) / (
            1 + e.picked / _PICK_DAMPING)

    def add(self, program: Program, new_transitions: int, iteration: int) -> str:
        """Keep ``program`` (written atomically); returns its id."""
        text = self._yaml.program(program)
        entry_id = hashlib.sha1(text.encode()).hexdigest()[:12]
        if entry_id not in self._seen_files:
            self._seen_files.add(entry_id)
            meta = f"meta: {{new_transitions: {new_transitions}, iteration: {iteration}}}\n"
            self._write(self.directory / f"{entry_id}.yaml", meta + text)
            self._keep(Entry(entry_id, program, new_transitions, iteration), iteration)
        return entry_id

    def _write(self, path: Path, text: str) -> None:
        """Write an entry's file atomically, in the background: the fuzz loop does not wait for
        the disk. :meth:`flush` waits for every write so far."""
        self._batch.append((path, text))
        if len(self._batch) >= self.BATCH:
            self._hand_over()
            if len(self._pending) * self.BATCH >= self.BACKLOG:  # files handed over
                self.flush()

    def _hand_over(self) -> None:
        """Hand the files of the batch to the writer."""
        batch, self._batch = self._batch, []
        if self._writer is None:
            self._writer = ThreadPoolExecutor(1, thread_name_prefix="corpus-writer")
        self._pending.append(self._writer.submit(_write_files, batch))

    def flush(self) -> None:
        """Wait until every entry added so far is on disk (raises what a write raised)."""
        if self._batch:
            self._hand_over()
        pending, self._pending = self._pending, []
        for future in pending:
            future.result()

    def sync(self) -> int:
        """Load entries other workers (or an earlier run) wrote; returns how many."""
        added = 0
        known = set(self.entries) | self._seen_files
        for path in sorted(self.directory.glob("*.yaml")):
            if path.stem in known:
                continue
            self._seen_files.add(path.stem)
            try:
                data = yaml.load(path.read_text(encoding="utf-8"), Loader=_Loader)
                meta = data.pop("meta", {}) if isinstance(data, dict) else {}
                program = Program.from_dict(data, path, self.procedures)
            except (OSError, yaml.YAMLError, SpecError):
                continue  # a partial or foreign file: atomic writes make this rare; skip it
            iteration = int(meta.get("iteration", 0))
            self._keep(Entry(path.stem, program, int(meta.get("new_transitions", 1)),
                             iteration), iteration)
            added += 1
        return added

    def pick(self, rng: random.Random, iteration: int) -> Entry:
        """An entry, favouring those that found many new transitions recently: a weighted
        choice among a random tournament."""
        # rng.choices(entries, k=TOURNAMENT), then rng.choices(entries, weights)[0] with the
        # weights of _weight, spelled out: the same draws, without the calls per entry
        draw = rng.random
        entries = self._list
        n = len(entries)
        if n > self.TOURNAMENT:
            entries = [entries[floor(draw() * n)] for _ in range(self.TOURNAMENT)]
        cum_weights = []
        total = 0.0
        for e in entries:  # _weight, inlined: a loop, not a generator for accumulate
            total += (1 + e.new_transitions) * 0.5 ** ((iteration - e.iteration) / _HALF_LIFE) / (
                1 + e.picked / _PICK_DAMPING)
            cum_weights.append(total)
        entry = weighted.pick(rng, entries, cum_weights)
        entry.picked += 1
        return entry
