"""Random well-formed steps: the words of programs the engine generates and inserts.

PDUs are built from the fast codecs' own tables with boundary and interesting values per field
kind, so every layer's every PDU type is reachable without hand-written lists. Nothing here knows
about any device: only the protocol surface and the target's capabilities.
"""

from __future__ import annotations

import random
from itertools import accumulate
from typing import Any

from fuzzer.crypto.rand import random_octets
from fuzzer.engine import weighted
from fuzzer.engine.program import ProgramStep
from fuzzer.protocol import att, ll, smp
from fuzzer.protocol.codec import Codec

CODECS: dict[str, Codec] = {"ll": ll.LL_CONTROL, "smp": smp.SMP, "att": att.ATT}

INTERESTING = {
    "u8": (0, 1, 2, 3, 4, 5, 6, 7, 8, 15, 16, 17, 0x20, 0x3F, 0x7F, 0x80, 0xFE, 0xFF),
    "u16": (0, 1, 2, 3, 0x0C, 0x0E, 0x11, 0x7F, 0x80, 0xFF, 0x100, 0x7FFF, 0x8000, 0xFFFE,
            0xFFFF),
    "u24": (0, 1, 0x7FFFFF, 0x800000, 0xFFFFFF),
    "u32": (0, 1, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF),
    "u64": (0, 1, 2**63, 2**64 - 1),
}
UUIDS = ("2A38", "2A25", "2A00", "2A05", "00001531-1212-EFDE-1523-785FEABCD123")
PAIR_OPTIONS: dict[str, tuple] = {
    "sc": (True, False),
    "mitm": (True, False),
    "bond": (True, False),
    "key_size": (7, 8, 12, 16, 6, 1, 17),
    "io_capability": ("DisplayOnly", "DisplayYesNo", "KeyboardOnly", "NoInputNoOutput",
                      "KeyboardDisplay"),
    "public_key": ("honest", "invalid", "reflect"),
    "dhkey_check": ("honest", "invalid"),
    "confirm": ("honest", "invalid"),
    "debug_key": (True, False),
    "keypress": (True, False),
    "passkey": (0, 123456, 999999, 111111),
    "stop_after": ("request", "public_key", "confirm", "random", "dhkey_check", "encryption"),
    "numeric_comparison": ("accept", "reject"),
}


def field_value(rng: random.Random, kind: Any) -> Any:
    """A value for a codec field kind: a boundary value most of the time, else random."""
    if isinstance(kind, tuple):  # ("bytes", N)
        n = kind[1]
        return rng.choice((bytes(n), b"\xff" * n, random_octets(rng, n),
                           bytes(range(n))))
    if kind == "rest":
        n = rng.choice((0, 1, 2, 4, 16, 22, 40))
        return random_octets(rng, n)
    values = INTERESTING[kind]
    if rng.random() < 0.7:
        return rng.choice(values)
    return rng.randrange(values[-1] + 1)


#: layer -> its PDU type names, sorted (what ``random_pdu`` picks among)
_SORTED_NAMES: dict[str, list[str]] = {
    layer: sorted(codec.names) for layer, codec in CODECS.items()}


def random_pdu(rng: random.Random, layer: str, name: str | None = None) -> bytes:
    """A well-formed PDU of ``layer`` (of type ``name``, or any type)."""
    codec = CODECS[layer]
    name = name or rng.choice(_SORTED_NAMES[layer])
    fields = {f: field_value(rng, kind) for f, kind in codec.fields_of(name)}
    return codec.encode(name, **fields)


#: capabilities -> the kinds of step a target with them performs and their cumulative weights
_STEP_KINDS: dict[frozenset[str], tuple[tuple[str, ...], list[float]]] = {}


def _step_kinds(capabilities: frozenset[str]) -> tuple[tuple[str, ...], list[float]]:
    """The kinds of step ``random_step`` chooses among, for ``capabilities``, and their
    cumulative weights (remembered for a frozenset)."""
    choices: list[tuple[float, str]] = [
        (3, "procedure"), (1, "connect"), (1, "hang_up"), (0.3, "wait")]
    for layer in ("smp", "att", "ll"):
        if layer in capabilities:
            choices.append((3, layer))
    if "encrypt" in capabilities:
        choices.append((1, "encrypt"))
    if "power_cycle" in capabilities:
        choices.append((0.3, "power_cycle"))
    kinds = _STEP_KINDS[capabilities] = (
        tuple(c for _, c in choices), list(accumulate(w for w, _ in choices)))
    return kinds


def random_step(rng: random.Random, capabilities: frozenset[str], peers: list[str]
                ) -> ProgramStep:
    """Any one step the target can perform: a PDU, a link action or an honest procedure."""
    peer = rng.choice(peers)
    kinds, cum_weights = _STEP_KINDS.get(capabilities) or _step_kinds(capabilities)
    kind = weighted.pick(rng, kinds, cum_weights)
    if kind in CODECS:
        return ProgramStep(kind, {"pdu": random_pdu(rng, kind).hex()})
    if kind == "connect":
        return ProgramStep("connect", {"peer": peer, "to": rng.choice(("app", "dfu", "any",
                                                                       "bonded"))})
    if kind == "hang_up":
        return ProgramStep("hang_up", {})
    if kind == "wait":
        return ProgramStep("wait", {"seconds": rng.choice((0.1, 1, 31, 121))})
    if kind == "power_cycle":
        return ProgramStep("power_cycle", {})
    if kind == "encrypt":
        key = rng.choice((bytes(16), random_octets(rng, 16)))
        return ProgramStep("encrypt", {"ltk": key.hex(), "ediv": rng.choice((0, 1, 0xFFFF)),
                                       "rand": "00" * 8})
    return random_procedure(rng, peer)


def random_procedure(rng: random.Random, peer: str) -> ProgramStep:
    """An honest procedure with random options."""
    op = rng.choice(("pair", "pair", "pair", "reconnect_bonded", "read", "enter_dfu",
                     "leave_dfu"))
    if op == "pair":
        args: dict[str, Any] = {"peer": peer}
        for key in rng.sample(sorted(PAIR_OPTIONS), rng.randrange(0, 4)):
            args[key] = rng.choice(PAIR_OPTIONS[key])
        return ProgramStep("pair", args)
    if op == "read":
        return ProgramStep("read", {"peer": peer, "uuid": rng.choice(UUIDS)})
    return ProgramStep(op, {"peer": peer})
