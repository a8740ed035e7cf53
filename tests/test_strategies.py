"""fuzzer.strategies: PDU strategies from the codec tables, steps and programs, and the
rule-based state machine against the emulator (clean and with the story's flaw)."""

from __future__ import annotations

import inspect

import pytest
import yaml
from hypothesis import HealthCheck, Phase, find, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import run_state_machine_as_test

from fuzzer import strategies as fst
from fuzzer.engine.models import load_models as load_state_models
from fuzzer.engine.procedures import PROCEDURES
from fuzzer.engine.program import Program, ProgramStep
from fuzzer.engine.runner import Runner
from fuzzer.paths import specs_dir
from fuzzer.protocol import att, ll, nordic_dfu, smp
from fuzzer.protocol.codec import UNKNOWN
from fuzzer.targets.base import PRIMITIVES

CODECS = {"ll": ll.LL_CONTROL, "smp": smp.SMP, "att": att.ATT, "dfu_cp": nordic_dfu.DFU_CP}
BY_LAYER = {"ll": fst.ll_control_pdus, "smp": fst.smp_pdus, "att": fst.att_pdus,
            "dfu_cp": fst.dfu_control_point_pdus}
IPHONE = {"iphone": fst.DEFAULT_PEERS["iphone"]}
MODELS = load_state_models(specs_dir() / "models", set(PROCEDURES))
QUICK = settings(max_examples=60, deadline=None, database=None,
                 suppress_health_check=[HealthCheck.too_slow])


def _emulator(profile: str):
    from fuzzer.profiles import resolve_profile
    from fuzzer.targets.emulator import EmulatorTarget

    loaded = resolve_profile(profile)
    return lambda: EmulatorTarget(loaded)


# --- PDUs ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("layer", sorted(CODECS))
def test_well_formed_pdus_decode_without_error(layer):
    codec = CODECS[layer]

    @QUICK
    @given(fst.pdus(layer), BY_LAYER[layer]())
    def check(pdu, pdu2):
        for b in (pdu, pdu2):
            assert isinstance(b, bytes)
            d = codec.decode(b)
            assert d.error is None, (b.hex(), d)
            assert d.name in codec.names

    check()


@pytest.mark.parametrize("layer", sorted(CODECS))
def test_every_pdu_type_is_drawn_and_its_fields_round_trip(layer):
    codec = CODECS[layer]

    @settings(QUICK, max_examples=100)
    @given(st.data())
    def check(data):
        name = data.draw(st.sampled_from(codec.names))
        fields = data.draw(fst.pdu_fields(codec, name))
        assert {f for f, _ in codec.fields_of(name)} == set(fields)
        d = codec.decode(codec.encode_fields(name, fields))
        assert (d.name, d.error, d.fields) == (name, None, fields)
        pdu = data.draw(fst.pdus_of(codec, [name]))
        assert codec.decode(pdu).name == name

    check()


def test_boundary_values_and_overrides():
    # integers favour their boundaries: the maximum of a u16 is found at once
    assert find(fst.field_values("u16"), lambda v: v == 0xFFFF) == 0xFFFF
    assert find(fst.field_values(("bytes", 4)), lambda v: v == b"\xff" * 4) == b"\xff" * 4
    fields = find(fst.pdu_fields(smp.SMP, "Pairing Request", max_encryption_key_size=1,
                                 authreq=st.sampled_from([smp.BONDING])), lambda d: True)
    assert fields["max_encryption_key_size"] == 1 and fields["authreq"] == smp.BONDING
    with pytest.raises(ValueError, match="nonsense"):
        fst.pdu_fields(smp.SMP, "Pairing Request", nonsense=1)
    with pytest.raises(ValueError, match="unknown layer"):
        fst.pdus("hci")
    with pytest.raises(ValueError, match="unknown"):
        fst.pdus_of(att.ATT, ["Read Request", "Nope"])


@pytest.mark.parametrize("layer", sorted(CODECS))
def test_malformed_pdus_mix_errors_unknown_opcodes_and_well_formed(layer):
    codec = CODECS[layer]
    seen = set()

    @settings(QUICK, max_examples=300)
    @given(fst.pdus(layer, malformed=True))
    def collect(pdu):
        d = codec.decode(pdu)  # never raises
        if d.error is None:
            seen.add("unknown opcode" if d.name == UNKNOWN else "well-formed")
        else:
            seen.add("error")
            seen.add("truncated" if d.error.startswith("truncated") else
                     "extended" if d.error.endswith("extra octets") else d.error)

    collect()
    assert {"well-formed", "unknown opcode", "error", "truncated"} <= seen, seen
    if any(not any(k == "rest" for _, k in codec.fields_of(n)) for n in codec.names):
        assert "extended" in seen, seen


# --- steps and programs ---------------------------------------------------------------------------

@QUICK
@given(fst.programs())
def test_programs_round_trip_through_yaml(program):
    data = yaml.safe_load(yaml.safe_dump(program.to_dict(), sort_keys=False))
    again = Program.from_dict(data, "<hypothesis>", set(PROCEDURES))
    assert again.steps == program.steps
    assert again.peers == program.peers
    assert 1 <= len(program.steps) <= 12


@QUICK
@given(fst.programs(IPHONE, capabilities={"connect", "scan", "att", "disconnect"},
                    max_steps=5))
def test_programs_use_only_what_the_target_can_do(program):
    for step in program.steps:
        if step.op in PROCEDURES:
            assert fst.PROCEDURE_NEEDS[step.op] <= {"connect", "scan", "att", "disconnect"}
        else:
            assert step.op in {"att", "disconnect"}  # no scan: the runner probes by itself
        assert step.args.get("peer", "iphone") == "iphone"


@QUICK
@given(fst.procedure_steps())
def test_procedure_steps_bind_to_the_procedures(step):
    assert step.op in PROCEDURES
    inspect.signature(PROCEDURES[step.op]).bind(None, **step.args)


@QUICK
@given(fst.primitive_steps(PRIMITIVES, ["iphone"]))
def test_primitive_steps_are_primitives_with_hex_pdus(step):
    assert isinstance(step, ProgramStep) and step.op in PRIMITIVES
    if step.op == "connect":  # the procedure runs it: peer and where to
        assert step.args["to"] in ("app", "dfu", "any", "bonded")
    for key in ("pdu", "payload", "ltk", "rand"):
        if key in step.args:
            bytes.fromhex(step.args[key])


def test_steps_need_something_to_draw_from():
    with pytest.raises(ValueError, match="no primitive"):
        fst.primitive_steps({"white_box"}, ["iphone"])
    with pytest.raises(ValueError, match="unknown procedure"):
        fst.procedure_steps(["iphone"], ops=["dance"])
    with pytest.raises(ValueError, match="no rule"):
        fst.make_state_machine(_emulator("nrf52-reference"), primitives=(), procedures=())


@settings(QUICK, max_examples=15)
@given(fst.programs(IPHONE, max_steps=8))
def test_drawn_programs_run_on_the_emulator(program):
    from fuzzer.engine.central import load_models

    runner = Runner(_emulator("nrf52-reference")(), load_models(specs_dir() / "centrals"))
    runner.run_program(program)  # every step runs or is noted; nothing escapes
    steps = [e for e in runner.trace.events if e.kind == "step"]
    assert [e.info["op"] for e in steps] == [s.op for s in program.steps]


@pytest.mark.parametrize("name", sorted(MODELS))
def test_programs_over_each_state_model_start_with_an_honest_walk(name):
    model = MODELS[name]
    first = {t.step.op for t in model.out[model.start]}

    @settings(QUICK, max_examples=30)
    @given(fst.programs_over_model(model, max_steps=6, tail_steps=2))
    def check(program):
        assert program.steps and program.steps[0].op in first
        data = yaml.safe_load(yaml.safe_dump(program.to_dict()))
        assert Program.from_dict(data, name, set(PROCEDURES)).steps == program.steps

    check()


def test_programs_over_a_model_reach_its_deep_states_and_run():
    from fuzzer.engine.central import load_models

    lifecycle = MODELS["lifecycle"]
    # the shortest walk that goes into DFU mode and out again: found and shrunk by hypothesis
    program = find(fst.programs_over_model(lifecycle, tail_steps=0),
                   lambda p: [s.op for s in p.steps][-1:] == ["leave_dfu"])
    ops = [s.op for s in program.steps]
    assert ops[0] == "connect" and "enter_dfu" in ops and len(ops) <= 5, ops
    runner = Runner(_emulator("nrf52-reference")(), load_models(specs_dir() / "centrals"))
    runner.run_program(program)
    with pytest.raises(ValueError, match="requires"):
        fst.programs_over_model(lifecycle, capabilities={"connect", "att"})


# --- the state machine --------------------------------------------------------------------------

CleanMachine = fst.make_state_machine(_emulator("nrf52-reference"))
TestCleanReference = CleanMachine.TestCase
TestCleanReference.settings = settings(max_examples=10, stateful_step_count=10, deadline=None,
                                       database=None, derandomize=True)


def test_story_machine_finds_the_bootloader_without_the_bond():
    story = fst.make_state_machine(_emulator("nrf51-s110-custom-bootloader"), peers=IPHONE,
                                   primitives=(), procedures=("connect", "pair", "enter_dfu"))
    with pytest.raises(AssertionError, match="invariant BOND-ENC violated: .*PIN_OR_KEY"):
        run_state_machine_as_test(story, settings=settings(
            max_examples=50, stateful_step_count=8, deadline=None, database=None,
            derandomize=True, phases=[Phase.generate]))


def test_hand_driven_machine_fails_as_soon_as_the_invariant_breaks():
    machine = fst.make_state_machine(_emulator("nrf51-s110-custom-bootloader"), peers=IPHONE)()
    for op, args in [("connect", {"to": "app"}), ("pair", {}), ("enter_dfu", {})]:
        machine.run(ProgramStep(op, {"peer": "iphone", **args}))
        machine.invariants_hold()
    machine.run(ProgramStep("connect", {"peer": "iphone", "to": "dfu"}))
    with pytest.raises(AssertionError) as info:
        machine.invariants_hold()
    text = str(info.value)
    assert text.startswith("invariant BOND-ENC violated: peer 'iphone' is bonded")
    assert "[3] connect peer=iphone to=dfu" in text
    program = machine.program()
    again = Program.from_dict(program.to_dict(), "<machine>", set(PROCEDURES))
    assert [s.op for s in again.steps] == ["connect", "pair", "enter_dfu", "connect"]
    machine.teardown()  # already reported: closes the target without raising again
