"""hypothesis strategies for blefuzz: PDUs of every layer, program steps, whole programs, and a
rule-based state machine that drives any target and checks every invariant as it goes.

For users' own property tests (DESIGN.md, "Settled choices"); needs ``hypothesis`` (the ``test``
extra). The campaign loop does not use this module.

**PDUs.** The strategies are built from the fast codecs' tables (``fuzzer.protocol.codec``):
every PDU type a codec declares, every field drawn by its kind — integers favour their boundary
values (0, 1, the sign bit, the maximum), ``("bytes", N)`` favours all-zero and all-ones, a
``rest`` field is bounded by ``max_rest``. A new PDU type in a codec is covered with no change
here. ``malformed=True`` also yields truncated PDUs, PDUs with trailing octets, unknown opcodes
and arbitrary octets::

    from hypothesis import given
    from fuzzer import strategies as fst
    from fuzzer.protocol.smp import SMP

    @given(fst.smp_pdus())
    def test_decodes(pdu):
        assert SMP.decode(pdu).error is None

**Steps and programs.** ``primitive_steps(capabilities, peers)`` draws the primitive steps a
target with those capabilities can perform (``fuzzer.targets.base.PRIMITIVES``),
``procedure_steps(peers)`` the honest central's procedures with their options
(``fuzzer.engine.procedures``), ``programs(peers, capabilities)`` whole
:class:`~fuzzer.engine.program.Program` objects that serialize to YAML and load back, and
``programs_over_model(model)`` programs that walk a state model (specs/models) honestly to a
deep state and go on from there.
``connect`` is both a primitive and a procedure; in a program the procedure runs (scan, connect
to the device in the wanted mode, re-encrypt when bonded), so a ``connect`` step is always drawn
with the procedure's arguments ``peer`` and ``to``.

**State machine.** ``make_state_machine(make_target)`` returns a
``hypothesis.stateful.RuleBasedStateMachine`` whose rules run primitive and procedure steps
against a fresh target per example, with fresh monitors of every invariant watching the trace;
an ``@invariant()`` fails, naming the invariant and the violation, as soon as one is broken, and
hypothesis shrinks the steps to a minimal reproduction::

    from hypothesis import settings
    from fuzzer.profiles import resolve_profile
    from fuzzer.strategies import make_state_machine
    from fuzzer.targets.emulator import EmulatorTarget

    Reference = make_state_machine(
        lambda: EmulatorTarget(resolve_profile("nrf52-reference")))
    Reference.TestCase.settings = settings(max_examples=20, stateful_step_count=15,
                                           deadline=None)
    TestReference = Reference.TestCase   # collected by pytest
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from fuzzer.engine.central import IO_CODES, CentralModel, load_models
from fuzzer.engine.models import StateModel
from fuzzer.engine.pairing import STOP_POINTS
from fuzzer.engine.procedures import PROCEDURES
from fuzzer.engine.program import PeerSpec, Program, ProgramStep
from fuzzer.engine.runner import Runner
from fuzzer.oracles.invariants import Invariant, load_invariants
from fuzzer.paths import specs_dir
from fuzzer.protocol import att, gatt, l2cap, ll, nordic_dfu, smp
from fuzzer.protocol.codec import Codec, FieldKind
from fuzzer.targets.base import PRIMITIVES, Target
from fuzzer.trace.events import Trace

__all__ = [
    "DEFAULT_PEERS", "LAYERS", "PROCEDURE_NEEDS", "att_pdus", "dfu_control_point_pdus",
    "field_values", "l2cap_frames", "ll_control_pdus", "make_state_machine", "pdu_fields",
    "pdus", "pdus_of", "primitive_steps", "procedure_steps", "programs",
    "programs_over_model", "smp_pdus",
]

SearchStrategy = st.SearchStrategy

#: The codec of each layer ``pdus(layer)`` knows.
LAYERS: dict[str, Codec] = {
    "ll": ll.LL_CONTROL,
    "smp": smp.SMP,
    "att": att.ATT,
    "dfu_cp": nordic_dfu.DFU_CP,
}

#: Two phones, as in the story suite (specs/suites/story.yaml), both iOS-like.
DEFAULT_PEERS: dict[str, PeerSpec] = {
    "iphone": PeerSpec("iphone", "4C:57:CA:10:20:30", "public", "ios"),
    "second_phone": PeerSpec("second_phone", "5A:11:22:33:44:55", "public", "ios"),
}

#: The primitives each honest procedure uses: it is drawn only for targets that have them all.
PROCEDURE_NEEDS: dict[str, frozenset[str]] = {
    "connect": frozenset({"scan", "connect"}),
    "reconnect_bonded": frozenset({"scan", "connect", "encrypt"}),
    "pair": frozenset({"smp", "encrypt"}),
    "read": frozenset({"att"}),
    "enter_dfu": frozenset({"att"}),
    "leave_dfu": frozenset({"att"}),
    "hang_up": frozenset({"disconnect"}),
}

#: Layer (``ll``, ``smp``, ``att``) -> the PDU type names to draw; None or a missing layer: all.
PduNames = Mapping[str, Iterable[str]] | None

_INT_SIZES = {"u8": 1, "u16": 2, "u24": 3, "u32": 4, "u64": 8}


def _choice(branches: list[SearchStrategy[Any]]) -> SearchStrategy[Any]:
    """One of ``branches``, each equally likely (a branch listed twice, twice as likely).
    Unlike ``st.one_of``, which flattens nested ``one_of`` (mapped ones too) into its own
    branches and so weighs an op by how many PDU types it has."""
    if len(branches) == 1:
        return branches[0]
    return st.sampled_from(branches).flatmap(lambda s: s)


# --- PDUs ---------------------------------------------------------------------------------------

def _int_values(size: int) -> SearchStrategy[int]:
    top = (1 << (8 * size)) - 1
    sign = 1 << (8 * size - 1)
    boundaries = sorted({0, 1, 2, sign - 1, sign, top - 1, top})
    return st.one_of(st.sampled_from(boundaries), st.integers(0, top))


def field_values(kind: FieldKind, max_rest: int = 32) -> SearchStrategy[Any]:
    """Values of one codec field kind: ints for ``u8``..``u64`` (boundaries favoured), exactly N
    octets for ``("bytes", N)``, at most ``max_rest`` octets for ``"rest"``."""
    if isinstance(kind, tuple):
        n = kind[1]
        return st.one_of(st.sampled_from([bytes(n), b"\xff" * n]),
                         st.binary(min_size=n, max_size=n))
    if kind == "rest":
        return st.binary(max_size=max_rest)
    if kind in _INT_SIZES:
        return _int_values(_INT_SIZES[kind])
    raise ValueError(f"unknown field kind {kind!r}")


def pdu_fields(codec: Codec, name: str, max_rest: int = 32,
               **overrides: Any) -> SearchStrategy[dict[str, Any]]:
    """Field dicts for PDU type ``name`` of ``codec`` (``codec.encode_fields(name, d)`` works
    for every one). An override fixes a field: a value, or a strategy drawing it."""
    parts: dict[str, SearchStrategy[Any]] = {}
    for fname, kind in codec.fields_of(name):
        if fname in overrides:
            v = overrides.pop(fname)
            parts[fname] = v if isinstance(v, SearchStrategy) else st.just(v)
        else:
            parts[fname] = field_values(kind, max_rest)
    if overrides:
        raise ValueError(f"{name}: unknown field(s) {', '.join(sorted(overrides))}")
    return st.fixed_dictionaries(parts)


def _well_formed(codec: Codec, names: Iterable[str], max_rest: int) -> SearchStrategy[bytes]:
    return st.one_of([pdu_fields(codec, n, max_rest).map(
        lambda d, n=n: codec.encode_fields(n, d)) for n in names])


def _malformed(codec: Codec, names: list[str], max_rest: int) -> SearchStrategy[bytes]:
    """PDUs the codec reports an error for, or cannot name: truncated below the type's minimum
    length, over-long fixed-size types, unknown opcodes, arbitrary octets."""
    osz = codec.opcode_size
    known = {codec.opcode_of(n) for n in names} | {codec.opcode_of(n) for n in codec.names}
    kinds: list[SearchStrategy[bytes]] = []

    truncatable = [n for n in names if codec.min_length(n) > 0]
    if truncatable:
        @st.composite
        def truncated(draw: Any) -> bytes:
            n = draw(st.sampled_from(truncatable))
            pdu = codec.encode_fields(n, draw(pdu_fields(codec, n, max_rest)))
            return pdu[:draw(st.integers(0, codec.min_length(n) - 1))]
        kinds.append(truncated())

    fixed = [n for n in names if not any(k == "rest" for _, k in codec.fields_of(n))]
    if fixed:
        kinds.append(st.tuples(_well_formed(codec, fixed, max_rest),
                               st.binary(min_size=1, max_size=8)).map(lambda t: t[0] + t[1]))

    top = (1 << (8 * osz)) - 1
    if len(known) <= top:
        unknown_ops = st.integers(0, top).filter(lambda op: op not in known)
        kinds.append(st.tuples(unknown_ops, st.binary(max_size=max_rest)).map(
            lambda t: codec.encode_raw(t[0], t[1])))
    kinds.append(st.binary(max_size=max_rest + osz))
    return st.one_of(kinds)


def pdus_of(codec: Codec, names: Iterable[str] | None = None, *, malformed: bool = False,
            max_rest: int = 32) -> SearchStrategy[bytes]:
    """PDUs of ``codec`` (every type it declares, or the ``names`` given) as octets.

    Well-formed by default: ``codec.decode`` names a known type and reports no error. With
    ``malformed=True`` about half are well-formed and the rest truncated, extended, of an
    unknown opcode or arbitrary."""
    chosen = list(codec.names if names is None else names)
    for n in chosen:
        codec.opcode_of(n)  # ValueError naming an unknown type
    if not chosen:
        raise ValueError("no PDU type to draw from")
    good = _well_formed(codec, chosen, max_rest)
    if not malformed:
        return good
    return _choice([good, _malformed(codec, chosen, max_rest)])


def ll_control_pdus(*, malformed: bool = False, names: Iterable[str] | None = None,
                    max_rest: int = 32) -> SearchStrategy[bytes]:
    """LL control PDUs (Core Vol 6 Part B 2.4.2), opcode first, as an ``ll`` step sends them."""
    return pdus_of(ll.LL_CONTROL, names, malformed=malformed, max_rest=max_rest)


def smp_pdus(*, malformed: bool = False, names: Iterable[str] | None = None,
             max_rest: int = 32) -> SearchStrategy[bytes]:
    """SMP commands (Core Vol 3 Part H 3.3), code first, as an ``smp`` step sends them."""
    return pdus_of(smp.SMP, names, malformed=malformed, max_rest=max_rest)


def att_pdus(*, malformed: bool = False, names: Iterable[str] | None = None,
             max_rest: int = 32) -> SearchStrategy[bytes]:
    """ATT PDUs (Core Vol 3 Part F 3.4), opcode first, as an ``att`` step sends them."""
    return pdus_of(att.ATT, names, malformed=malformed, max_rest=max_rest)


def dfu_control_point_pdus(*, malformed: bool = False, names: Iterable[str] | None = None,
                           max_rest: int = 16) -> SearchStrategy[bytes]:
    """Values written to the Nordic Legacy DFU Control Point (``ble_dfu.h``)."""
    return pdus_of(nordic_dfu.DFU_CP, names, malformed=malformed, max_rest=max_rest)


def pdus(layer: str, *, malformed: bool = False, max_rest: int = 32) -> SearchStrategy[bytes]:
    """PDUs of one layer by name: ``ll``, ``smp``, ``att`` or ``dfu_cp``."""
    try:
        codec = LAYERS[layer]
    except KeyError:
        raise ValueError(f"unknown layer {layer!r}; expected one of "
                         f"{', '.join(LAYERS)}") from None
    return pdus_of(codec, malformed=malformed, max_rest=max_rest)


def l2cap_frames(*, malformed: bool = False, pdu_names: PduNames = None,
                 ) -> SearchStrategy[tuple[int, bytes]]:
    """``(cid, payload)`` for an ``l2cap`` step: SMP and ATT PDUs on their fixed channels (of
    the types ``pdu_names`` gives for ``smp`` and ``att``, default all), arbitrary octets on
    the LE signaling channel and on any other channel id."""
    names = pdu_names or {}
    return st.one_of(
        st.tuples(st.just(l2cap.CID_SMP), smp_pdus(malformed=malformed, names=names.get("smp"))),
        st.tuples(st.just(l2cap.CID_ATT), att_pdus(malformed=malformed, names=names.get("att"))),
        st.tuples(st.sampled_from([l2cap.CID_SIGNALING, 0x0000, 0x0040, 0xFFFF])
                  | st.integers(0, 0xFFFF), st.binary(max_size=32)),
    )


# --- steps --------------------------------------------------------------------------------------

def _peer_names(peers: Mapping[str, Any] | Iterable[str] | None) -> list[str]:
    names = list(DEFAULT_PEERS if peers is None else peers)
    if not names:
        raise ValueError("at least one peer is needed")
    return names


def _hex(size: int) -> SearchStrategy[str]:
    return field_values(("bytes", size)).map(bytes.hex)


def _step(op: str, args: Mapping[str, SearchStrategy[Any]] | None = None,
          optional: Mapping[str, SearchStrategy[Any]] | None = None,
          ) -> SearchStrategy[ProgramStep]:
    """Steps ``op`` with the arguments drawn (hypothesis shows a failing one as its value)."""
    return st.builds(ProgramStep, st.just(op),
                     st.fixed_dictionaries(dict(args or {}), optional=dict(optional or {})))


def _connect_steps(peers: list[str]) -> SearchStrategy[ProgramStep]:
    return _step("connect", {"peer": st.sampled_from(peers),
                             "to": st.sampled_from(["app", "dfu", "any", "bonded"])})


def primitive_steps(capabilities: Iterable[str] = PRIMITIVES,
                    peers: Mapping[str, Any] | Iterable[str] | None = None, *,
                    malformed: bool = True, ops: Iterable[str] | None = None,
                    pdu_names: PduNames = None) -> SearchStrategy[ProgramStep]:
    """Primitive steps a target with ``capabilities`` can perform (restricted to ``ops`` when
    given), as :class:`ProgramStep`; PDUs are hex strings from the PDU strategies
    (``malformed`` lets them be truncated, extended or unknown; ``pdu_names`` maps a layer,
    ``ll``, ``smp`` or ``att``, to the PDU types to draw, default all).

    ``connect`` runs as the procedure in a program (procedures take precedence), so it is drawn
    with ``peer`` and ``to`` (``app``, ``dfu``, ``any``, ``bonded``)."""
    names = _peer_names(peers)
    types = pdu_names or {}
    allowed = set(capabilities) & PRIMITIVES
    if ops is not None:
        allowed &= set(ops)
    builders: dict[str, SearchStrategy[ProgramStep]] = {
        "scan": _step("scan"),
        "connect": _connect_steps(names),
        "disconnect": _step("disconnect", optional={
            "reason": st.sampled_from(sorted(ll.ERROR_NAMES))}),
        "wait": _step("wait", {"seconds": st.sampled_from([0.0, 0.1, 1.0, 2.0, 31.0])}),
        "ll": _step("ll", {"pdu": ll_control_pdus(
            malformed=malformed, names=types.get("ll")).map(bytes.hex)}),
        "smp": _step("smp", {"pdu": smp_pdus(
            malformed=malformed, names=types.get("smp")).map(bytes.hex)}),
        "att": _step("att", {"pdu": att_pdus(
            malformed=malformed, names=types.get("att")).map(bytes.hex)}),
        "l2cap": st.builds(ProgramStep, st.just("l2cap"), l2cap_frames(
            malformed=malformed, pdu_names=types).map(
                lambda t: {"cid": t[0], "payload": t[1].hex()})),
        "encrypt": _step("encrypt", {"ltk": _hex(16), "ediv": _int_values(2), "rand": _hex(8)},
                         # the tester's own key size claim (its side masks the key to it):
                         # 7..16, so that the oracles judge the device, not a lying tester
                         optional={"key_size": st.integers(smp.MIN_ENCRYPTION_KEY_SIZE,
                                                           smp.MAX_ENCRYPTION_KEY_SIZE)}),
        "power_cycle": _step("power_cycle"),
    }
    chosen = [builders[op] for op in sorted(allowed) if op in builders]
    if not chosen:
        raise ValueError(f"no primitive step among the capabilities {sorted(capabilities)}")
    return _choice(chosen)


_UUIDS = ["2A38", "2A37", "2A00", "2A01", "2A05", f"{gatt.CHARACTERISTIC:04X}",
          nordic_dfu.CONTROL_POINT_UUID_STR, nordic_dfu.VERSION_UUID_STR]


def _pair_options() -> dict[str, SearchStrategy[Any]]:
    return {
        "bond": st.booleans(),
        "key_size": st.one_of(st.sampled_from([1, 6, 7, 16]), st.integers(1, 16)),
        "passkey": st.one_of(st.sampled_from([0, 123456, 999999]), st.integers(0, 999999)),
        "sc": st.booleans(),
        "io_capability": st.sampled_from(list(IO_CODES)),
        "mitm": st.booleans(),
        "keypress": st.booleans(),
        "debug_key": st.booleans(),
        "public_key": st.sampled_from(["honest", "invalid", "reflect"]),
        "dhkey_check": st.sampled_from(["honest", "invalid"]),
        "confirm": st.sampled_from(["honest", "invalid"]),
        "numeric_comparison": st.sampled_from(["accept", "reject"]),
        "stop_after": st.sampled_from(STOP_POINTS),
    }


def _generic_procedure(name: str, peers: list[str]) -> SearchStrategy[ProgramStep] | None:
    """A procedure this module has no table for: drawn with ``peer`` only, if that is all it
    needs."""
    params = list(inspect.signature(PROCEDURES[name]).parameters.values())[1:]
    if any(p.default is inspect.Parameter.empty for p in params):
        return None
    if any(p.name == "peer" for p in params):
        return _step(name, {"peer": st.sampled_from(peers)})
    return st.just(ProgramStep(name))


def procedure_steps(peers: Mapping[str, Any] | Iterable[str] | None = None,
                    capabilities: Iterable[str] | None = None, *,
                    ops: Iterable[str] | None = None) -> SearchStrategy[ProgramStep]:
    """Steps of the honest central's procedures (``fuzzer.engine.procedures.PROCEDURES``) with
    their options: ``connect`` (``to``), ``pair`` (every option of the ``pair`` step, each
    sometimes left to its default), ``reconnect_bonded``, ``read`` (a ``uuid``), ``enter_dfu``,
    ``leave_dfu``, ``hang_up``; any other registered procedure whose arguments all have
    defaults is drawn with ``peer``. With ``capabilities``, only procedures whose primitives
    the target has (``PROCEDURE_NEEDS``); with ``ops``, only those named."""
    names = _peer_names(peers)
    peer = st.sampled_from(names)
    known: dict[str, SearchStrategy[ProgramStep]] = {
        "connect": _connect_steps(names),
        # an honest pairing with the defaults half the time, else some options changed
        "pair": _choice([_step("pair", {"peer": peer}),
                         _step("pair", {"peer": peer}, _pair_options())]),
        "reconnect_bonded": _step("reconnect_bonded", {"peer": peer}),
        "read": _step("read", {"peer": peer, "uuid": st.sampled_from(_UUIDS)
                               | st.integers(0, 0xFFFF).map("{:04X}".format)}),
        "enter_dfu": _step("enter_dfu", {"peer": peer}),
        "leave_dfu": _step("leave_dfu", {"peer": peer}),
        "hang_up": _step("hang_up", {"peer": peer}),
    }
    caps = None if capabilities is None else set(capabilities)
    wanted = set(PROCEDURES) if ops is None else set(ops)
    chosen = []
    for name in sorted(wanted):
        if name not in PROCEDURES:
            raise ValueError(f"unknown procedure {name!r}; known: {', '.join(sorted(PROCEDURES))}")
        if caps is not None and not PROCEDURE_NEEDS.get(name, frozenset()) <= caps:
            continue
        strategy = known[name] if name in known else _generic_procedure(name, names)
        if strategy is not None:
            chosen.append(strategy)
    if not chosen:
        raise ValueError("no procedure step to draw from")
    return _choice(chosen)


def _peer_specs(peers: Mapping[str, Any] | None) -> dict[str, PeerSpec]:
    if peers is None:
        return dict(DEFAULT_PEERS)
    out = {}
    for name, spec in peers.items():
        if isinstance(spec, PeerSpec):
            out[name] = PeerSpec(name, spec.address, spec.address_type, spec.model)
        else:
            out[name] = PeerSpec(name, str(spec["address"]).upper(),
                                 spec.get("address_type", "public"), spec.get("model", "ios"))
    if not out:
        raise ValueError("at least one peer is needed")
    return out


def programs(peers: Mapping[str, Any] | None = None, capabilities: Iterable[str] = PRIMITIVES,
             max_steps: int = 12, *, min_steps: int = 1, malformed: bool = True,
             procedures: bool = True, pdu_names: PduNames = None,
             name: str = "hypothesis") -> SearchStrategy[Program]:
    """Programs over ``peers`` (name -> :class:`PeerSpec` or ``{address, address_type,
    model}``; the story's two phones by default) of ``min_steps``..``max_steps`` steps, each a
    primitive the target's ``capabilities`` allow (but ``scan``, which the runner does itself
    whenever no link is up) or (with ``procedures``) an honest procedure. Every program
    round-trips through ``Program.to_dict`` / ``Program.from_dict``."""
    specs = _peer_specs(peers)
    caps = set(capabilities)
    # no `scan`: the runner probes with one after every step that leaves no link up, and one
    # during a link would read to LIVENESS as a device that stopped advertising
    kinds = [primitive_steps(caps, specs, malformed=malformed, ops=caps - {"scan"},
                             pdu_names=pdu_names)]
    if procedures:
        kinds.append(procedure_steps(specs, caps))
    return st.lists(_choice(kinds), min_size=min_steps, max_size=max_steps).map(
        lambda steps: Program(name, dict(specs), steps))


def programs_over_model(model: StateModel, peers: Mapping[str, Any] | None = None,
                        capabilities: Iterable[str] = PRIMITIVES, max_steps: int = 12,
                        tail_steps: int = 4, *, malformed: bool = True,
                        pdu_names: PduNames = None) -> SearchStrategy[Program]:
    """Programs that walk a state model (``fuzzer.engine.models``, specs/models/*.yaml)
    honestly from its start, choosing each transition, to one of its ``fuzz_from`` states (or
    wherever the walk ends after ``max_steps``), then go on with up to ``tail_steps`` drawn
    primitive and procedure steps: hypothesis shrinks toward the shortest honest prefix.

    The model's steps name peer roles (``phone``, ``other``); ``peers`` maps each role to a
    central (:class:`PeerSpec` or ``{address, address_type, model}``), by default the story's
    two phones' addresses in the order the roles first appear."""
    caps = set(capabilities)
    missing = set(model.requires) - caps
    if missing:
        raise ValueError(f"model {model.name} requires {', '.join(sorted(missing))}, which the "
                         f"target cannot do")
    if peers is None:
        roles = list(dict.fromkeys(
            str(t.step.args["peer"]) for t in model.transitions if "peer" in t.step.args))
        defaults = list(DEFAULT_PEERS.values())
        if len(roles) > len(defaults):
            raise ValueError(f"model {model.name} has {len(roles)} peer roles; give 'peers'")
        specs = {r: PeerSpec(r, d.address, d.address_type, d.model)
                 for r, d in zip(roles or ["phone"], defaults, strict=False)}
    else:
        specs = _peer_specs(peers)
    goals = set(model.fuzz_from or model.states)
    tail = _choice([primitive_steps(caps, specs, malformed=malformed, ops=caps - {"scan"},
                                    pdu_names=pdu_names), procedure_steps(specs, caps)])

    @st.composite
    def walk(draw: Any) -> Program:
        state, steps = model.start, []
        for _ in range(max_steps):
            choices = model.out.get(state)
            if not choices or (state in goals and steps and draw(st.booleans())):
                break
            t = draw(st.sampled_from(choices))
            steps.append(ProgramStep(t.step.op, dict(t.step.args), t.step.label))
            state = t.target
        steps += draw(st.lists(tail, max_size=tail_steps))
        return Program(model.name, dict(specs), steps)

    return walk()


# --- the state machine ----------------------------------------------------------------------------

class TargetStateMachine(RuleBasedStateMachine):
    """Base of the machines :func:`make_state_machine` builds: one target, one runner, fresh
    invariant monitors per example. ``program()`` gives what ran so far as a Program."""

    make_target: Callable[[], Target]
    invariant_list: list[Invariant] = []
    models: dict[str, CentralModel] = {}
    peer_specs: dict[str, PeerSpec] = {}
    context: dict[str, Any] = {}
    seed = 0

    def __init__(self) -> None:
        super().__init__()
        self.target = type(self).make_target()
        self.trace = Trace()
        self.monitors = {inv.id: inv.new_monitor(dict(self.context))
                         for inv in self.invariant_list}
        for m in self.monitors.values():
            m.subscribe(self.trace)
        self.runner = Runner(self.target, self.models, self.seed, self.trace)
        self.runner.add_peers(Program("state-machine", dict(self.peer_specs), []))
        self.steps: list[ProgramStep] = []
        self._reported = False

    def program(self) -> Program:
        """The steps run so far, as a program that can be saved and replayed."""
        return Program("state-machine", dict(self.peer_specs), list(self.steps))

    def run(self, step: ProgramStep) -> None:
        """Run one step on the target through the runner (procedures take precedence)."""
        self.steps.append(step)
        self.runner.run_step(len(self.steps) - 1, step)

    def _failure(self, inv_id: str, message: str) -> AssertionError:
        self._reported = True
        steps = "; ".join(f"[{i}] {s.describe()}" for i, s in enumerate(self.steps))
        return AssertionError(f"invariant {inv_id} violated: {message}\n  steps: {steps}")

    @invariant()
    def invariants_hold(self) -> None:
        for inv_id, monitor in self.monitors.items():
            if monitor.violations:
                raise self._failure(inv_id, monitor.violations[0].message)

    def teardown(self) -> None:
        """Judge the invariants whose monitors decide at the end (e.g. an attribute served
        unencrypted that the device refused elsewhere)."""
        try:
            if self._reported:
                return
            self.runner.probe()
            for inv_id, monitor in self.monitors.items():
                verdict = monitor.finish()
                if monitor.violations:
                    raise self._failure(inv_id, verdict.message)
        finally:
            self.target.close()


def make_state_machine(make_target: Callable[[], Target],
                       invariants: Iterable[Invariant] | None = None,
                       peers: Mapping[str, Any] | None = None, *,
                       models: Mapping[str, CentralModel] | None = None,
                       expectations: Mapping[str, Any] | None = None,
                       primitives: Iterable[str] | None = None,
                       procedures: Iterable[str] | None = None,
                       malformed: bool = True, pdu_names: PduNames = None, seed: int = 0,
                       ) -> type[TargetStateMachine]:
    """A :class:`TargetStateMachine` subclass over targets from ``make_target`` (called once per
    example). Run it from pytest with ``TestX = make_state_machine(...).TestCase``.

    ``invariants`` defaults to every one in specs/invariants.yaml; ``peers`` to the story's two
    iOS phones; ``models`` to specs/centrals; ``expectations`` is the product's (as in a
    program: ``protected_characteristics``, ``min_key_size``, ...). ``primitives`` and
    ``procedures`` restrict the ops the two rules draw (default: every primitive the target's
    capabilities allow, every procedure it can run), which is how to bias the search toward a
    story (e.g. ``primitives=(), procedures=("connect", "pair", "enter_dfu")``);
    ``malformed`` and ``pdu_names`` shape the PDUs as in :func:`primitive_steps`.

    Two rules, for the two states of the link, so that no step is wasted: ``connect`` while no
    link is up (``connect``, ``reconnect_bonded``), ``on_link`` while one is (PDUs, encryption,
    pairing, GATT, DFU entry and exit, disconnection); ``wait``, ``power_cycle`` and other
    procedures belong to both."""
    invs = list(load_invariants(specs_dir() / "invariants.yaml") if invariants is None
                else invariants)
    specs = _peer_specs(peers)
    model_map = dict(load_models(specs_dir() / "centrals") if models is None else models)
    capabilities = _capabilities_of(make_target)
    context = {"protected_characteristics": [], **dict(expectations or {})}

    prim_ops = (PRIMITIVES if primitives is None else set(primitives)) & capabilities
    proc_ops = {n for n in (PROCEDURES if procedures is None else set(procedures))
                if PROCEDURE_NEEDS.get(n, frozenset()) <= capabilities}
    per_op: dict[str, SearchStrategy[ProgramStep]] = {}
    for op in sorted((prim_ops | proc_ops) - _NEVER, key=_op_order):
        if op in prim_ops:  # `connect` is drawn the same way as a primitive and a procedure
            per_op[op] = primitive_steps(capabilities, specs, malformed=malformed, ops={op},
                                         pdu_names=pdu_names)
        else:
            per_op[op] = procedure_steps(specs, capabilities, ops={op})
    namespace: dict[str, Any] = {
        "make_target": staticmethod(make_target), "invariant_list": invs,
        "models": model_map, "peer_specs": specs, "context": context, "seed": seed,
    }
    for rule_name, (ops, link_up) in _RULES.items():
        branches = []
        for op in per_op:
            if op in ops or (op not in _LINK_OPS and op not in _OFF_LINK_OPS):
                branches.extend([per_op[op]] * _WEIGHTS.get((rule_name, op), 1))
        if branches:
            namespace[rule_name] = _make_rule(rule_name, _choice(branches), link_up)
    if not {"connect", "on_link"} & set(namespace):
        raise ValueError("no rule: no primitive or procedure step to draw from")
    return type("TargetStateMachine", (TargetStateMachine,), namespace)


#: The machine's two rules, for the two states of the link: ``connect`` while no link is up,
#: ``on_link`` while one is (PDUs, encryption, pairing, GATT, DFU entry and exit,
#: disconnection); ops in neither set (wait, power cycle, other procedures) belong to both.
#: No ``scan``: the runner probes with one after every step that leaves no link up, and one
#: during a link would read to LIVENESS as a device that stopped advertising.
_OFF_LINK_OPS = frozenset({"connect", "reconnect_bonded"})
_LINK_OPS = frozenset({"ll", "smp", "att", "l2cap", "encrypt", "disconnect", "pair", "read",
                       "enter_dfu", "leave_dfu", "hang_up"})
_NEVER = frozenset({"scan"})
_RULES = {"connect": (_OFF_LINK_OPS, False), "on_link": (_LINK_OPS, True)}
#: (rule, op) -> how many times the op is listed among the rule's choices (default once)
_WEIGHTS = {("connect", "connect"): 3}


#: The order of the ops among a rule's choices: hypothesis draws the first one more often than
#: the others (and shrinks toward it), so the honest procedures that walk to deep states
#: come first.
_FIRST = ("connect", "pair", "enter_dfu", "read", "reconnect_bonded", "leave_dfu", "hang_up")


def _op_order(op: str) -> tuple[int, str]:
    return (_FIRST.index(op) if op in _FIRST else len(_FIRST), op)


def _make_rule(name: str, steps: SearchStrategy[ProgramStep],
               link_up: bool) -> Callable[..., None]:
    def run_step(self: TargetStateMachine, step: ProgramStep) -> None:
        self.run(step)

    run_step.__name__ = run_step.__qualname__ = name
    return precondition(lambda self: self.target.connected == link_up)(rule(step=steps)(run_step))


def _capabilities_of(make_target: Callable[[], Target]) -> frozenset[str]:
    """The capabilities of the targets ``make_target`` builds (from the class when the factory
    is one, else from one target built and closed at once)."""
    if isinstance(make_target, type) and issubclass(make_target, Target):
        return frozenset(make_target.capabilities)
    target = make_target()
    try:
        return frozenset(target.capabilities)
    finally:
        target.close()
