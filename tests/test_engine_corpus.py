"""The corpus: files that load back as the programs written, step YAML remembered by content
giving the very text a whole-program dump gives, bounded memory with every file kept."""

from __future__ import annotations

import random

import yaml
from hypothesis import HealthCheck, given, settings

from fuzzer.engine.corpus import Corpus, ProgramText, dump
from fuzzer.engine.procedures import PROCEDURES
from fuzzer.engine.program import Program, ProgramStep
from fuzzer.strategies import programs


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(program=programs(max_steps=8))
def test_program_text_is_the_whole_dump(program):
    text = ProgramText(size=4)  # small: exercises clearing the remembered steps too
    expected = dump(program.to_dict())
    assert text.program(program) == expected
    assert text.program(program) == expected  # from remembered steps
    program.steps.reverse()
    assert text.program(program) == dump(program.to_dict())


def test_program_text_tells_types_apart():
    text = ProgramText()
    a = Program("p", {}, [ProgramStep("wait", {"ms": 1})])
    b = Program("p", {}, [ProgramStep("wait", {"ms": "1"})])
    assert text.program(a) == dump(a.to_dict())
    assert text.program(b) == dump(b.to_dict())
    assert text.program(a) != text.program(b)
    assert text.program(Program("empty", {}, [])) == dump(Program("empty", {}, []).to_dict())


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.function_scoped_fixture])
@given(program=programs(max_steps=6))
def test_corpus_files_load_back(tmp_path_factory, program):
    directory = tmp_path_factory.mktemp("corpus")
    corpus = Corpus(directory, set(PROCEDURES))
    entry_id = corpus.add(program, 3, 7)
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
    assert len(corpus.entries) <= 50
    assert len(corpus) == 200 == len(list(tmp_path.glob("*.yaml")))
    rng = random.Random(1)
    picked = [corpus.pick(rng, 200).iteration for _ in range(500)]
    assert sum(picked) / len(picked) > 100  # recent finds are favoured
