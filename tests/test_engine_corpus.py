"""The corpus: files that load back as the programs written (made from remembered parts),
bounded memory with every file kept, background writes on disk after a flush."""

from __future__ import annotations

import random

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fuzzer.engine.corpus import Corpus, ProgramText, dump
from fuzzer.engine.procedures import PROCEDURES
from fuzzer.engine.program import Program, ProgramStep
from fuzzer.strategies import programs


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(program=programs(max_steps=8), name=st.text(max_size=12))
def test_program_text_loads_back_as_the_program(program, name):
    text = ProgramText(size=4)  # small: exercises forgetting remembered parts too
    for program.name in (name, "default-0-17", "007", "1e3"):
        expected = program.to_dict()
        assert yaml.safe_load(text.program(program)) == expected
        assert yaml.safe_load(text.program(program)) == expected  # from remembered parts
    program.steps.reverse()
    assert yaml.safe_load(text.program(program)) == program.to_dict()


def test_program_text_tells_types_apart():
    text = ProgramText()
    a = Program("p", {}, [ProgramStep("wait", {"ms": 1})])
    b = Program("p", {}, [ProgramStep("wait", {"ms": "1"})])
    assert yaml.safe_load(text.program(a)) == a.to_dict()
    assert yaml.safe_load(text.program(b)) == b.to_dict()
    assert text.program(a) != text.program(b)
    assert text.program(Program("empty", {}, [])) == dump(Program("empty", {}, []).to_dict())


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.function_scoped_fixture])
@given(program=programs(max_steps=6))
def test_corpus_files_load_back(tmp_path_factory, program):
    directory = tmp_path_factory.mktemp("corpus")
    corpus = Corpus(directory, set(PROCEDURES))
    entry_id = corpus.add(program, 3, 7)
    corpus.flush()
    data = yaml.safe_load((directory / f"{entry_id}.yaml").read_text())
    assert data.pop("meta") == {"new_transitions": 3, "iteration": 7}
    loaded = Program.from_dict(data, "x", set(PROCEDURES))
    assert (loaded.name, loaded.peers, loaded.steps) == (program.name, program.peers,
                                                         program.steps)
    again = Corpus(directory, set(PROCEDURES))
    assert again.sync() == 1 and again.entries[entry_id].program.steps == program.steps


def test_memory_stays_bounded_and_files_stay(tmp_path):
    corpus = Corpus(tmp_path, set(PROCEDURES), in_memory=50)
    for i in range(200):
        corpus.add(Program(f"p{i}", {}, [ProgramStep("wait", {"ms": i})]), 1 + i % 5, i)
    corpus.flush()
    assert len(corpus.entries) <= 50
    assert len(corpus) == 200 == len(list(tmp_path.glob("*.yaml")))
    rng = random.Random(1)
    picked = [corpus.pick(rng, 200).iteration for _ in range(500)]
    assert sum(picked) / len(picked) > 100  # recent finds are favoured


def test_files_not_yet_written_stay_bounded(tmp_path, monkeypatch):
    monkeypatch.setattr(Corpus, "BATCH", 3)
    monkeypatch.setattr(Corpus, "BACKLOG", 7)
    corpus = Corpus(tmp_path, set(PROCEDURES))
    for i in range(40):
        corpus.add(Program(f"p{i}", {}, [ProgramStep("wait", {"ms": i})]), 1, i)
        assert i + 1 - len(list(tmp_path.glob("*.yaml"))) < Corpus.BACKLOG + Corpus.BATCH
    corpus.flush()
    assert len(list(tmp_path.glob("*.yaml"))) == 40
