"""Conformance suites (specs/conformance/*.yaml): named cases modeled on the Bluetooth SIG test
suites (``SM/PER/JW/BV-02-C``, ``LL/SEC/PER/BV-01-C`` …), each run on a fresh device and judged
by declarative expectations. Adding a case is editing YAML; nothing here changes.

A suite file::

    suite: smp
    title: Security Manager, peripheral (responder) role
    centrals:               # optional central models of its own, as in specs/centrals/*.yaml
      keyboard_mitm: {io_capability: KeyboardOnly, mitm: true}
    peers:                  # as in specs/suites/story.yaml; a model from centrals or specs/centrals
      tester: {address: "4C:57:CA:10:20:30", model: ios}
    cases:
      - id: SM/PER/EKS/BI-02-C
        title: key size below the minimum
        spec: Core v5.4 Vol 3 Part H 2.3.4, 3.5.5
        procedure: words for a person
        expected: words for a person
        requires: [secure_connections]      # optional device features (see below)
        steps: [...]
        expect: [...]

**Steps** are program steps (``fuzzer.engine.program``): primitives (``connect disconnect scan
wait ll smp att l2cap encrypt power_cycle``) and procedures of an honest central (``connect pair
read hang_up reconnect_bonded`` …). Steps are numbered from 1. The ``pdu`` of an ``smp``, ``ll``
or ``att`` step is hex octets or a PDU name of the fast codec (``fuzzer.protocol.smp.SMP``,
``ll.LL_CONTROL``, ``att.ATT``) with ``fields`` (integers; octet fields as hex). A few PDUs have
default fields (:data:`PDU_DEFAULTS`, e.g. a Pairing Request of a NoInputNoOutput central that
asks for bonding and a 16-octet key), so a step names only what it varies. ``truncate: N`` keeps
the first N octets of the encoded PDU, ``append: "hex"`` adds octets after it.

A string value ``$device.NAME`` (optionally ``+ n`` / ``- n``) is a fact of the device under
test (its displayed ``passkey``, ``min_key_size``, ``max_key_size``, ``ll_version``, …, given by
whoever runs the suite); ``$bond.NAME`` is a field (``ltk ediv rand key_size``) of the last bond
the tester stored in this case. They are resolved when the step runs.

**Expectations** (``expect``): a list of mappings; ``step: N`` limits one to what happened during
step N (without it: the whole case) and states after step N. Each has exactly one check:

``device_sends: {layer, pdu, fields, encrypted}``
    some PDU the device sent on ``layer`` (``smp ll att``) matches: ``pdu`` a name or a list of
    names (any of them), ``fields`` a mapping of field -> matcher, ``encrypted: true`` the PDU
    crossed the air encrypted (link encrypted, plaintext absent from the air octets).
``device_never_sends: {layer, pdu, fields}``
    no device PDU matches (without ``pdu``: the device sent nothing on the layer).
``device_silent: LAYER``
    the device sent nothing on LAYER.
``link: encrypted | unencrypted | down``
    the link after the step.
``key_size: N``
    the link's encryption key size after the step.
``encryption: {state: on|failed|off, reason}``
    an encryption change with those properties happened.
``disconnected: {reason, by}`` (or ``true``)
    the link ended (``by``: device, tester or timeout).
``advertising: true``
    the device was seen advertising (the runner's liveness scan after a step without a link).
``bonded: true | false | {method, key_size, secure_connections}``
    the tester stored a bond (with those properties) / did not.
``ltk_key_size: N``
    the LTK the device distributed (Encryption Information) has its 16 - N most significant
    octets zero (Vol 3 Part H 2.3.4).
``distributes: [enc, id, sign]``
    exactly these keys came from the device: enc = Encryption Information + Central
    Identification, id = Identity Information + Identity Address Information, sign = Signing
    Information.
``key_distribution: agreed``
    the Pairing Response's key distribution fields are subsets of the Pairing Request's, and the
    device distributed exactly the keys its Pairing Response named, in the order of 3.6.1.
``note_contains: TEXT``
    a procedure's note (e.g. why ``pair`` stopped) contains TEXT.

A field matcher is a value (integer, hex string for octets, bool), a list (any of them), or a
mapping ``{bits_set: N, bits_clear: N, min: N, max: N}`` (octet strings compare as
little-endian integers).

**Verdicts**: ``pass`` every expectation held; ``fail`` one did not (the evidence names the step
and the PDUs); ``inconclusive`` the device lacks a feature the case ``requires`` (not
applicable); ``error`` the tester could not perform a step (a bad step or a procedure this
version lacks).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fuzzer.engine.central import MODEL_SCHEMA, CentralModel
from fuzzer.engine.procedures import PROCEDURES
from fuzzer.engine.program import PeerSpec, Program, ProgramStep, parse_peers, parse_step
from fuzzer.engine.runner import Runner
from fuzzer.oracles.base import ERROR, FAIL, INCONCLUSIVE, PASS, Monitor, Verdict
from fuzzer.protocol import att, ll, smp
from fuzzer.protocol.codec import Codec
from fuzzer.schema import Field, SpecError, load_yaml, validate
from fuzzer.targets.base import PRIMITIVES, Target, TargetError
from fuzzer.trace import events as ev
from fuzzer.trace.describe import decode, evidence_event
from fuzzer.trace.events import Event, Trace

CODECS: dict[str, Codec] = {"smp": smp.SMP, "ll": ll.LL_CONTROL, "att": att.ATT}

#: Fields a PDU step may leave out (what an ordinary tester sends).
PDU_DEFAULTS: dict[str, dict[str, Any]] = {
    "Pairing Request": {
        "io_capability": smp.NO_INPUT_NO_OUTPUT, "oob_data_flag": 0,
        "authreq": smp.AUTHREQ_BONDING, "max_encryption_key_size": 16,
        "initiator_key_distribution": smp.KEY_DIST_ENC_KEY | smp.KEY_DIST_ID_KEY,
        "responder_key_distribution": smp.KEY_DIST_ENC_KEY | smp.KEY_DIST_ID_KEY},
    "LL_VERSION_IND": {"version": ll.VERSION_5_4, "company": 0x000F, "subversion": 0x0001},
    "LL_FEATURE_REQ": {"feature_set": "0100000000000000"},
    "LL_LENGTH_REQ": {"max_rx_octets": 251, "max_rx_time": 2120, "max_tx_octets": 251,
                      "max_tx_time": 2120},
}

SUITE_SCHEMA = {
    "suite": Field(str, required=True),
    "title": Field(str, default=""),
    "description": Field(str, default=""),
    "centrals": Field(dict, default=dict),
    "peers": Field(dict, required=True),
    "cases": Field(list, required=True),
}
CASE_SCHEMA = {
    "id": Field(str, required=True),
    "title": Field(str, required=True),
    "spec": Field(str, required=True),
    "procedure": Field(str, required=True),
    "expected": Field(str, required=True),
    "requires": Field(list, default=list, items=Field(str)),
    "steps": Field(list, required=True),
    "expect": Field(list, required=True),
}
CHECKS = ("device_sends", "device_never_sends", "device_silent", "link", "key_size",
          "encryption", "disconnected", "advertising", "bonded", "ltk_key_size", "distributes",
          "key_distribution", "note_contains")
_KEY_PDUS = {
    "enc": ("Encryption Information", "Central Identification"),
    "id": ("Identity Information", "Identity Address Information"),
    "sign": ("Signing Information",),
}
_KEY_ORDER = ("Encryption Information", "Central Identification", "Identity Information",
              "Identity Address Information", "Signing Information")
_PLACEHOLDER = re.compile(r"^\$(device|bond)\.(\w+)\s*(?:([+-])\s*(\d+))?$")


@dataclass
class DeviceInfo:
    """What the runner of a suite knows of the device: its features (for ``requires``) and
    facts (for ``$device.NAME``)."""

    features: set[str] = field(default_factory=set)
    facts: dict[str, Any] = field(default_factory=dict)


@dataclass
class Case:
    id: str
    title: str
    spec: str
    procedure: str
    expected: str
    requires: list[str]
    steps: list[ProgramStep]
    expect: list[dict[str, Any]]


@dataclass
class ConformanceSuite:
    name: str
    title: str
    peers: dict[str, PeerSpec]
    models: dict[str, CentralModel]
    cases: list[Case]
    source: str


@dataclass
class CaseResult:
    """A case's verdict with its evidence, its steps as run, its trace and the invariant
    monitors' verdicts over that trace."""

    suite: str
    case: Case
    status: str
    message: str
    evidence: list[dict[str, Any]]
    steps: list[dict[str, Any]]
    trace: Trace
    verdicts: dict[str, Verdict] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        c = self.case
        return {"kind": "conformance", "suite": self.suite, "id": c.id, "title": c.title,
                "spec": c.spec, "procedure": " ".join(c.procedure.split()),
                "expected": " ".join(c.expected.split()), "requires": c.requires,
                "status": self.status, "message": self.message, "evidence": self.evidence,
                "steps": self.steps}


# --- loading -------------------------------------------------------------------------------

def _model(name: str, data: Any, source: str | Path, key: str) -> CentralModel:
    """A central model declared inside a suite (same keys as specs/centrals/*.yaml)."""
    import dataclasses

    from fuzzer.engine.central import IO_CODES, KEY_BITS

    data = dict(data or {})
    data.setdefault("name", name)
    v = validate(data, MODEL_SCHEMA, source, key + ".")
    v["io_capability"] = IO_CODES[v["io_capability"]]
    for k in ("initiator_keys", "responder_keys"):
        v[k] = sum(KEY_BITS[x] for x in set(v[k]))
    names = {f.name for f in dataclasses.fields(CentralModel)}
    return CentralModel(**{k: val for k, val in v.items() if k in names})


def _is_placeholder(value: Any) -> bool:
    return isinstance(value, str) and value.startswith("$")


def _has_placeholder(value: Any) -> bool:
    if isinstance(value, dict):
        return any(_has_placeholder(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_placeholder(v) for v in value)
    return _is_placeholder(value)


def encode_pdu(layer: str, pdu: Any, fields: dict[str, Any] | None = None,
               truncate: int | None = None, append: str = "") -> str:
    """The hex octets of a PDU step's ``pdu``: hex as given, or a codec name encoded with
    ``fields`` over :data:`PDU_DEFAULTS`; then truncated and extended."""
    codec = CODECS[layer]
    if isinstance(pdu, str) and pdu in codec:
        values = dict(PDU_DEFAULTS.get(pdu, {}))
        values.update(fields or {})
        kinds = dict(codec.fields_of(pdu))
        for k, v in list(values.items()):
            if isinstance(kinds.get(k), tuple) or kinds.get(k) == "rest":
                values[k] = bytes.fromhex(str(v).replace(" ", "")) if isinstance(v, str) \
                    else bytes(v)
        raw = codec.encode(pdu, **values)
    else:
        if fields:
            raise ValueError(f"'fields' needs a {codec.family} PDU name, not hex")
        raw = bytes.fromhex(str(pdu).replace(" ", ""))
    if truncate is not None:
        raw = raw[:int(truncate)]
    return (raw + bytes.fromhex(append.replace(" ", ""))).hex()


def _load_step(raw: Any, source: str | Path, key: str, peers: dict[str, PeerSpec]) -> ProgramStep:
    step = parse_step(raw, source, key, PRIMITIVES | set(PROCEDURES), peers)
    op, args, label = step.op, step.args, step.label
    if op in CODECS and "pdu" in args:
        extra = set(args) - {"pdu", "fields", "truncate", "append"}
        if extra:
            raise SpecError(source, f"{key}.{sorted(extra)[0]}",
                            "unknown key; expected pdu, fields, truncate, append")
        if not label and isinstance(args["pdu"], str) and args["pdu"] in CODECS[op]:
            label = args["pdu"] + "".join(f" {k}={v}" for k, v in (args.get("fields") or {})
                                          .items())
            label += f" (first {args['truncate']} octets)" if "truncate" in args else ""
            label += f" + {args['append']}" if "append" in args else ""
        if not _has_placeholder(args):
            try:
                args = {"pdu": encode_pdu(op, args["pdu"], args.get("fields"),
                                          args.get("truncate"), args.get("append", ""))}
            except (ValueError, TypeError) as exc:
                raise SpecError(source, key + ".pdu", str(exc)) from exc
    return ProgramStep(op, args, label)


def _check_expect(item: Any, source: str | Path, key: str, n_steps: int) -> dict[str, Any]:
    if not isinstance(item, dict):
        raise SpecError(source, key, "expected a mapping")
    checks = [k for k in item if k in CHECKS]
    unknown = [k for k in item if k not in CHECKS and k != "step"]
    if unknown:
        raise SpecError(source, f"{key}.{unknown[0]}",
                        f"unknown expectation; expected one of: step, {', '.join(CHECKS)}")
    if len(checks) != 1:
        raise SpecError(source, key, f"expected exactly one check of: {', '.join(CHECKS)}")
    step = item.get("step")
    if step is not None and (not isinstance(step, int) or not 1 <= step <= n_steps):
        raise SpecError(source, key + ".step", f"expected a step number 1..{n_steps}")
    return dict(item)


def load_conformance_suite(path: str | Path) -> ConformanceSuite:
    """One suite file, validated; errors name the file and the key."""
    v = validate(load_yaml(path), SUITE_SCHEMA, path)
    models = {str(n): _model(str(n), d, path, f"centrals.{n}") for n, d in v["centrals"].items()}
    peers = parse_peers(v["peers"], path)
    cases, seen = [], set()
    for i, raw in enumerate(v["cases"]):
        key = f"cases[{i}]"
        c = validate(raw, CASE_SCHEMA, path, key + ".")
        if c["id"] in seen:
            raise SpecError(path, key + ".id", f"duplicate case id {c['id']!r}")
        seen.add(c["id"])
        steps = [_load_step(s, path, f"{key}.steps[{j}]", peers) for j, s in enumerate(c["steps"])]
        if not steps:
            raise SpecError(path, key + ".steps", "at least one step is needed")
        expect = [_check_expect(e, path, f"{key}.expect[{j}]", len(steps))
                  for j, e in enumerate(c["expect"])]
        cases.append(Case(c["id"], c["title"], c["spec"], c["procedure"], c["expected"],
                          c["requires"], steps, expect))
    return ConformanceSuite(v["suite"], v["title"], peers, models, cases, str(path))


def load_conformance(directory: Path, names: list[str] | None = None) -> list[ConformanceSuite]:
    """The suites in ``directory`` by name (``suite:``, or the file stem); all when None."""
    suites = [load_conformance_suite(p) for p in sorted(directory.glob("*.yaml"))]
    if names is None:
        return suites
    by_name = {s.name: s for s in suites}
    return [by_name[n] for n in names if n in by_name]


# --- running -------------------------------------------------------------------------------

class _Resolver:
    """Resolves ``$device.*`` and ``$bond.*`` in step arguments and expectations."""

    def __init__(self, facts: dict[str, Any], trace: Trace) -> None:
        self.facts = facts
        self.trace = trace

    def bond(self) -> dict[str, Any]:
        for e in reversed(self.trace.events):
            if e.kind == ev.BOND:
                return e.info
        raise TargetError("$bond: the tester holds no bond in this case")

    def value(self, value: Any) -> Any:
        if isinstance(value, dict):
            return {k: self.value(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.value(v) for v in value]
        if not _is_placeholder(value):
            return value
        m = _PLACEHOLDER.match(value)
        if m is None:
            raise TargetError(f"{value!r}: expected $device.NAME or $bond.NAME [+|- N]")
        where, name, sign, n = m.groups()
        source = self.facts if where == "device" else self.bond()
        if name not in source or source[name] is None:
            raise TargetError(f"{value}: the {'device' if where == 'device' else 'bond'} has no "
                              f"{name!r} (known: {', '.join(sorted(source))})")
        out = source[name]
        if sign:
            out = out + int(n) if sign == "+" else out - int(n)
        return out


def _resolve_step(step: ProgramStep, res: _Resolver) -> ProgramStep:
    if not _has_placeholder(step.args):
        return step
    args = res.value(dict(step.args))
    if step.op in CODECS and "pdu" in args:
        try:
            args = {"pdu": encode_pdu(step.op, args["pdu"], args.get("fields"),
                                      args.get("truncate"), args.get("append", ""))}
        except (ValueError, TypeError) as exc:
            raise TargetError(f"pdu: {exc}") from exc
    return ProgramStep(step.op, args, step.label)


def _program(suite: ConformanceSuite, case: Case) -> Program:
    return Program(case.id, suite.peers, case.steps, case.title)


def run_case(suite: ConformanceSuite, case: Case, make_target: Callable[[], Target],
             models: dict[str, CentralModel], device: DeviceInfo, seed: int = 0,
             monitors: Callable[[], dict[str, Monitor]] | None = None) -> CaseResult:
    """Run one case on a fresh target from ``make_target`` and judge its expectations."""
    trace = Trace()
    missing = [f for f in case.requires if f not in device.features]
    if missing:
        return CaseResult(suite.name, case, INCONCLUSIVE,
                          f"not applicable: the device does not support {', '.join(missing)}",
                          [], [], trace)
    mons = monitors() if monitors is not None else {}
    for m in mons.values():
        m.subscribe(trace)
    target = make_target()
    runner = Runner(target, {**models, **suite.models}, seed, trace)
    res = _Resolver(device.facts, trace)
    after: dict[int, dict[str, Any]] = {}
    steps: list[dict[str, Any]] = []
    error = None
    try:
        runner.add_peers(_program(suite, case))
        for n, step in enumerate(case.steps, 1):
            try:
                resolved = _resolve_step(step, res)
            except TargetError as exc:
                error = f"step {n} ({step.op}): {exc}"
                break
            steps.append({"index": n, **resolved.to_dict()})
            try:
                runner.run_step(n, resolved)
            except TargetError as exc:
                error = str(exc)
                break
            link = target.link
            after[n] = {"connected": target.connected,
                        "encrypted": bool(link is not None and link.encrypted),
                        "key_size": link.key_size if link is not None else 0}
        trace.step = len(case.steps) + 1
        runner.probe()
    except (TargetError, ValueError) as exc:
        error = error or str(exc)
    finally:
        target.close()
    verdicts = {k: m.finish() for k, m in mons.items()}
    if error is not None:
        return CaseResult(suite.name, case, ERROR, f"the tester could not run the case: {error}",
                          [], steps, trace, verdicts)
    judge = _Judge(trace, steps, after, res)
    failures, support = [], []
    for item in case.expect:
        ok, evidence = judge.check(item)
        (support if ok else failures).append(evidence)
    if failures:
        return CaseResult(suite.name, case, FAIL, failures[0]["message"], failures + support,
                          steps, trace, verdicts)
    return CaseResult(suite.name, case, PASS, f"{len(case.expect)} expectation(s) held",
                      support, steps, trace, verdicts)


# --- judging -------------------------------------------------------------------------------

def _as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, (bytes, bytearray)):
        return int.from_bytes(value, "little")
    return None


def _matches(actual: Any, want: Any) -> bool:
    if isinstance(want, list):
        return any(_matches(actual, w) for w in want)
    if isinstance(want, dict):
        a = _as_int(actual)
        if a is None:
            return False
        return ((want.get("bits_set") is None or a & want["bits_set"] == want["bits_set"])
                and (want.get("bits_clear") is None or not a & want["bits_clear"])
                and (want.get("min") is None or a >= want["min"])
                and (want.get("max") is None or a <= want["max"]))
    if isinstance(actual, (bytes, bytearray)) and isinstance(want, str):
        return actual.hex() == want.replace(" ", "").lower()
    if isinstance(want, bool) or isinstance(actual, bool):
        return bool(actual) == bool(want)
    return actual == want


def _fmt(value: Any) -> str:
    if isinstance(value, list):
        return " or ".join(_fmt(v) for v in value)
    if isinstance(value, dict):
        return ", ".join(f"{k} {_fmt(v)}" for k, v in value.items())
    if isinstance(value, int) and not isinstance(value, bool):
        return f"0x{value:02x}"
    return str(value)


def _on_air_encrypted(e: Event) -> bool:
    """Whether a PDU crossed the air encrypted: each air PDU carries a 4-octet MIC after the
    payload (Vol 6 Part B 2.4), so the air payloads exceed the plaintext (with its L2CAP basic
    header for SMP and ATT) by 4 octets per PDU."""
    if not e.air:
        return False
    plain = len(e.data) + (4 if e.layer in ("smp", "att") else 0)
    return sum(len(a) - 2 for a in e.air) == plain + 4 * len(e.air)


class _Judge:
    def __init__(self, trace: Trace, steps: list[dict[str, Any]],
                 after: dict[int, dict[str, Any]], res: _Resolver) -> None:
        self.trace = trace
        self.steps = steps
        self.after = after
        self.res = res

    def events(self, step: int | None) -> list[Event]:
        if step is None:
            return list(self.trace.events)
        return [e for e in self.trace.events if e.step == step]

    def device_pdus(self, step: int | None, layer: str) -> list[Event]:
        return [e for e in self.events(step) if e.kind == ev.PDU and e.src == ev.DEVICE
                and e.layer == layer]

    def evidence(self, message: str, step: int | None, events: list[Event]) -> dict[str, Any]:
        d: dict[str, Any] = {"message": message, "step": step,
                             "events": [evidence_event(e) for e in events[:16]]}
        if step is not None and 0 < step <= len(self.steps):
            d["step_detail"] = self.steps[step - 1]
        return d

    def check(self, item: dict[str, Any]) -> tuple[bool, dict[str, Any]]:
        item = self.res.value(item)
        step = item.get("step")
        (name,) = [k for k in item if k in CHECKS]
        where = f"step {step}" if step is not None else "the case"
        if step is not None and step not in self.after and name in (
                "link", "key_size"):
            return False, self.evidence(f"{where} did not run", step, [])
        ok, message, events = getattr(self, "_" + name)(item[name], step)
        return ok, self.evidence(f"{where}: {message}", step, events)

    def _pdu_match(self, spec: dict[str, Any], e: Event) -> bool:
        dec = decode(e)
        if dec is None:
            return False
        if spec.get("pdu") is not None and not _matches(dec.name, spec["pdu"]):
            return False
        for k, want in (spec.get("fields") or {}).items():
            if k not in dec.fields or not _matches(dec.fields[k], want):
                return False
        if spec.get("encrypted") is not None and _on_air_encrypted(e) != bool(spec["encrypted"]):
            return False
        return True

    def _describe(self, spec: dict[str, Any]) -> str:
        what = _fmt(spec.get("pdu") or "a PDU")
        if spec.get("fields"):
            what += f" with {_fmt(spec['fields'])}"
        if spec.get("encrypted"):
            what += " encrypted on air"
        return what

    def _device_sends(self, spec: dict[str, Any], step: int | None):
        pdus = self.device_pdus(step, spec.get("layer", "smp"))
        hits = [e for e in pdus if self._pdu_match(spec, e)]
        if hits:
            return True, f"the device sent {self._describe(spec)}", hits[:1]
        got = "; ".join(evidence_event(e)["summary"] for e in pdus) or "nothing"
        return False, (f"expected the device to send {self._describe(spec)} on "
                       f"{spec.get('layer', 'smp')}; it sent {got}"), self._context(step)

    def _device_never_sends(self, spec: dict[str, Any], step: int | None):
        pdus = self.device_pdus(step, spec.get("layer", "smp"))
        hits = [e for e in pdus if self._pdu_match(spec, e)]
        if hits:
            return False, (f"the device sent {evidence_event(hits[0])['summary']}, which it "
                           f"must not"), self._context(step)
        return True, f"the device did not send {self._describe(spec)}", []

    def _device_silent(self, layer: str, step: int | None):
        return self._device_never_sends({"layer": layer}, step)

    def _context(self, step: int | None) -> list[Event]:
        return [e for e in self.events(step)
                if e.kind in (ev.PDU, ev.DISCONNECT, ev.ENCRYPTION, ev.NOTE, ev.BOND)]

    def _state(self, step: int | None) -> dict[str, Any]:
        if step is None:
            step = max(self.after) if self.after else 0
        return self.after.get(step, {"connected": False, "encrypted": False, "key_size": 0})

    def _link(self, want: str, step: int | None):
        s = self._state(step)
        got = "down" if not s["connected"] else "encrypted" if s["encrypted"] else "unencrypted"
        return got == want, f"the link is {got} (expected {want})", self._context(step)

    def _key_size(self, want: int, step: int | None):
        s = self._state(step)
        return (s["encrypted"] and s["key_size"] == want,
                f"the link's key size is {s['key_size'] if s['encrypted'] else 'none'} "
                f"(expected {want})", self._context(step))

    def _info_event(self, kind: str, spec: Any, step: int | None) -> list[Event]:
        spec = spec if isinstance(spec, dict) else {}
        return [e for e in self.events(step) if e.kind == kind
                and all(_matches((e.info or {}).get(k), w) for k, w in spec.items())]

    def _encryption(self, spec: dict[str, Any], step: int | None):
        hits = self._info_event(ev.ENCRYPTION, spec, step)
        if hits:
            return True, f"encryption {_fmt(spec)}", hits[:1]
        return False, f"expected encryption {_fmt(spec)}", self._context(step)

    def _disconnected(self, spec: Any, step: int | None):
        if spec is False:
            hits = self._info_event(ev.DISCONNECT, {}, step)
            return (not hits, "the link stayed up" if not hits else "the link ended",
                    hits or [])
        hits = self._info_event(ev.DISCONNECT, spec, step)
        want = _fmt(spec) if isinstance(spec, dict) else "any reason"
        if hits:
            return True, f"the link ended ({_fmt(hits[0].info)})", hits[:1]
        return False, f"expected the link to end ({want})", self._context(step)

    def _advertising(self, want: bool, step: int | None):
        hits = [e for e in self.events(step) if e.kind == ev.ADV]
        return bool(hits) == bool(want), ("the device advertises" if hits else
                                          "the device was not seen advertising"), hits[:1]

    def _bonded(self, spec: Any, step: int | None):
        hits = self._info_event(ev.BOND, spec if isinstance(spec, dict) else {}, step)
        if spec is False:
            return (not hits, "no bond was stored" if not hits else "a bond was stored",
                    hits or self._context(step))
        if hits:
            return True, "the tester stored a bond " + _fmt(
                {k: hits[0].info.get(k) for k in ("method", "key_size")}), hits[:1]
        bonds = self._info_event(ev.BOND, {}, step)
        got = _fmt({k: bonds[0].info.get(k) for k in spec}) if bonds and isinstance(
            spec, dict) else "none"
        return False, (f"expected a bond{' with ' + _fmt(spec) if isinstance(spec, dict) else ''}"
                       f"; got {got}"), self._context(step)

    def _key_pdus(self, step: int | None) -> list[tuple[str, Event]]:
        out = []
        for e in self.device_pdus(step, "smp"):
            dec = decode(e)
            if dec is not None and dec.name in _KEY_ORDER:
                out.append((dec.name, e))
        return out

    def _ltk_key_size(self, n: int, step: int | None):
        for name, e in self._key_pdus(step):
            if name == "Encryption Information":
                ltk = decode(e).fields["long_term_key"]
                ok = not any(ltk[n:])
                return ok, (f"the distributed LTK {ltk.hex()} "
                            f"{'is' if ok else 'is not'} masked to {n} octets"), [e]
        return False, "the device distributed no LTK", self._context(step)

    def _distributes(self, want: list[str], step: int | None):
        names = [n for n, _ in self._key_pdus(step)]
        expected = [p for k in want for p in _KEY_PDUS[k]]
        ok = sorted(names) == sorted(expected)
        return ok, (f"the device distributed {', '.join(names) or 'no keys'}"
                    f"{'' if ok else ' (expected ' + (', '.join(expected) or 'none') + ')'}"
                    ), [e for _, e in self._key_pdus(step)] or self._context(step)

    def _key_distribution(self, _want: str, step: int | None):
        events = self.events(step)
        req = next((e for e in events if e.kind == ev.PDU and e.src == ev.TESTER
                    and e.layer == "smp" and decode(e) and decode(e).name == "Pairing Request"),
                   None)
        rsp = next((e for e in self.device_pdus(step, "smp")
                    if decode(e).name == "Pairing Response"), None)
        if req is None or rsp is None:
            return False, "no Pairing Request and Response to compare", self._context(step)
        q, r = decode(req).fields, decode(rsp).fields
        problems = []
        for k in ("initiator_key_distribution", "responder_key_distribution"):
            if r[k] & ~q[k]:
                problems.append(f"{k} 0x{r[k]:02x} is not within the request's 0x{q[k]:02x}")
        names = [n for n, _ in self._key_pdus(step)]
        bits = r["responder_key_distribution"]
        expected = [p for bit, k in ((smp.KEY_DIST_ENC_KEY, "enc"), (smp.KEY_DIST_ID_KEY, "id"),
                                     (smp.KEY_DIST_SIGN_KEY, "sign")) if bits & bit
                    for p in _KEY_PDUS[k]]
        if names != expected:
            problems.append(f"distributed {', '.join(names) or 'nothing'} but the Pairing "
                            f"Response named {', '.join(expected) or 'nothing'}")
        evidence = [req, rsp] + [e for _, e in self._key_pdus(step)]
        if problems:
            return False, "; ".join(problems), evidence
        return True, (f"the device distributed what its Pairing Response named "
                      f"({', '.join(names) or 'nothing'})"), evidence

    def _note_contains(self, text: str, step: int | None):
        hits = [e for e in self.events(step) if e.kind == ev.NOTE
                and text.lower() in str((e.info or {}).get("text", "")).lower()]
        if hits:
            return True, f"noted: {hits[0].info['text']}", hits[:1]
        notes = [str(e.info.get("text")) for e in self.events(step) if e.kind == ev.NOTE]
        return False, (f"expected a note containing {text!r}; notes: "
                       f"{'; '.join(notes) or 'none'}"), self._context(step)
