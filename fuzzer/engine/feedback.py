"""Target-independent feedback: the (abstract state, step kind, answer kind) transitions a
program exercised, AFLNet-style, computed from the trace alone.

The abstract state is what the tester can see: whether a link is up and encrypted, whether the
device advertised itself as an application or a DFU bootloader, the last SMP PDU on the link and
whether the tester holds a bond for the device. A step kind is the tester's action (an op and
the PDU name); an answer kind is the set of PDU names the device sent back plus link changes.
"""

from __future__ import annotations

import json
from bisect import bisect_left

from fuzzer.protocol.codec import Decoded
from fuzzer.protocol.nordic_dfu import advertises_dfu
from fuzzer.trace import events as ev
from fuzzer.trace.describe import decode
from fuzzer.trace.events import Event

#: Tester actions besides the PDUs it sends (a tester DISCONNECT is an action but not a step).
STEP_ACTIONS = frozenset({ev.CONNECT, ev.CONNECT_FAIL, ev.RESET})
#: Link changes that are part of the device's answer.
_ANSWERS = frozenset({ev.DISCONNECT, ev.ENCRYPTION, ev.SCAN_EMPTY, ev.NO_ANSWER})
#: Every kind of event besides PDUs that is an action, part of an answer or changes the abstract
#: state (``walk`` skips the others: step marks, keys, notes, white-box snapshots).
_WATCHED = STEP_ACTIONS | _ANSWERS | {ev.ADV, ev.BOND}

#: layer -> decoded name -> decode error -> (PDU name for feedback, the SMP phase it sets: None
#: when not a well-formed SMP PDU), for all programs alike: keyed by the decoded form rather
#: than the octets, as PDUs with random fields (confirm and random values, keys, nonces) would
#: each miss a cache by content; the trace holds most PDUs decoded already (``Event.memo``).
#: Nested rather than by (layer, name, error): three look-ups by a string (or None) cost less
#: than one by a new tuple, and ``walk`` makes one for every PDU.
_PDU_NAMES: dict[str | None, dict[str, dict[str | None, tuple[str, str | None]]]] = {}
#: decode errors remembered for one PDU name (they say where a PDU was cut short, so they vary)
_PDU_NAMES_CAP = 1 << 10


def _pdu_name(layer: str | None, dec: Decoded | None) -> tuple[str, str | None]:
    """The name of a PDU of ``layer`` decoded as ``dec`` (None: no codec reads it):
    ``layer:Name`` (``!`` when malformed, ``layer?`` when not decodable) and, for a well-formed
    SMP PDU, its name (the SMP phase it sets; None otherwise)."""
    if dec is None:
        return (f"{layer}?", None)
    by_error = _PDU_NAMES.setdefault(layer, {}).setdefault(dec.name, {})
    named = by_error.get(dec.error)
    if named is None:
        named = (f"{layer}:{dec.name}{'!' if dec.error else ''}",
                 dec.name if dec.error is None and layer == "smp" else None)
        if len(by_error) >= _PDU_NAMES_CAP:
            by_error.clear()
        by_error[dec.error] = named
    return named


#: the device's answer to a step, as the names in the order they came -> the answer kind
#: (the set of names, sorted, comma-separated; "silence" when empty), for all programs alike
_ANSWER_KINDS: dict[tuple[str, ...], str] = {}
_ANSWER_KINDS_CAP = 1 << 16


def _answer(answer: tuple[str, ...]) -> str:
    """The answer kind of the names the device answered with, in order."""
    kind = _ANSWER_KINDS.get(answer)
    if kind is None:
        kind = ",".join(sorted(set(answer))) or "silence"
        if len(_ANSWER_KINDS) >= _ANSWER_KINDS_CAP:
            _ANSWER_KINDS.clear()
        _ANSWER_KINDS[answer] = kind
    return kind


#: (link, mode, SMP phase, bonded) -> the abstract state's text, for all programs alike: the
#: same few states recur (3 links x 3 modes x the SMP PDU names x 2 at most), so transitions
#: share their strings (hashed once, equal ones compared by identity) instead of new ones
_STATES: dict[tuple[str, str, str, bool], str] = {}


def _state(key: tuple[str, str, str, bool]) -> str:
    """The text of the abstract state ``key``: ``link|mode|smp phase|b`` (``-`` when not
    bonded)."""
    link, mode, smp_phase, bonded = key
    text = _STATES[key] = f"{link}|{mode}|{smp_phase}|{'b' if bonded else '-'}"
    return text


def walk(events: list[Event]) -> tuple[set[tuple[str, str, str]], int]:
    """Every (state before, tester action, device answer) the events show, and the number of
    steps (tester PDUs, connection attempts and power cycles; see ``execute.count_steps``)."""
    out: set[tuple[str, str, str]] = set()
    add = out.add
    steps = 0
    link = "down"
    mode = "?"
    smp_phase = "-"
    bonded: set[str] = set()
    device = ""
    state = "down|?|-|-"
    changed = False  # whether state must be looked up again before the next action
    action: str | None = None
    answer: tuple[str, ...] = ()  # the names of the device's answer, in order
    names = _PDU_NAMES
    kinds = _ANSWER_KINDS
    states = _STATES
    watched = _WATCHED
    PDU, TESTER, DISCONNECT = ev.PDU, ev.TESTER, ev.DISCONNECT  # noqa: N806 - the loop's constants

    for e in events:
        kind = e.kind
        if kind == PDU:
            dec = e.memo
            if dec is None:  # not decoded yet, or not decodable
                name, phase = _pdu_name(e.layer, decode(e))
            else:
                try:
                    name, phase = names[e.layer][dec.name][dec.error]
                except KeyError:
                    name, phase = _pdu_name(e.layer, dec)
            if e.src != TESTER:  # the device's PDU: part of the answer; the state after it
                answer += (name,)
                if phase is not None:
                    smp_phase = phase
                    changed = True
                continue
            tester_action = True
        elif kind not in watched:
            continue
        else:
            tester_action = kind in STEP_ACTIONS or (kind == DISCONNECT and e.src == TESTER)
        if tester_action:
            if kind != DISCONNECT:
                steps += 1
            if action is not None:
                try:
                    add((state, action, kinds[answer]))
                except KeyError:
                    add((state, action, _answer(answer)))
            if changed:
                key = (link, mode, smp_phase, device in bonded)
                try:
                    state = states[key]
                except KeyError:
                    state = _state(key)
                changed = False
            action = name if kind == PDU else kind
            answer = ()
        elif kind in _ANSWERS:
            answer += (f"{kind}:{(e.info or {}).get('state', '')}",)
        # the state after this event
        if kind == PDU:
            if phase is not None:
                smp_phase = phase
                changed = True
        elif kind == ev.ADV:
            mode = "dfu" if advertises_dfu(e.data) else "app"
            changed = True
        elif kind == ev.CONNECT:
            link, smp_phase = "up", "-"
            device = e.info.get("peripheral_address", "")
            changed = True
        elif kind == DISCONNECT or kind == ev.RESET:
            link, smp_phase = "down", "-"
            changed = True
        elif kind == ev.ENCRYPTION:
            state_info = e.info.get("state")
            if state_info == "on":
                link = "enc"
            elif state_info == "off":
                link = "up"
            changed = True
        elif kind == ev.BOND:
            bonded.add(e.info.get("device_address", ""))
            bonded.add(e.info.get("connection_address", ""))
            changed = True
    if action is not None:
        add((state, action, _answer(answer)))
    return out, steps


class Coverage:
    """The transitions seen so far in a campaign."""

    def __init__(self) -> None:
        self.seen: set[tuple[str, str, str]] = set()
        # the transitions as saved (:meth:`to_json`): sorted, with the JSON text of each
        self._saved_of: set[tuple[str, str, str]] | None = None  # the ``seen`` they list
        self._sorted: list[tuple[str, str, str]] = []
        self._texts: list[str] = []
        self._unsaved: list[tuple[str, str, str]] = []  # added to ``seen`` since

    def add(self, found: set[tuple[str, str, str]]) -> int:
        """Record ``found``; return how many were new."""
        new = found - self.seen  # most programs find nothing new: an empty set
        if new:
            self.seen |= new
            self._unsaved += new
        return len(new)

    def to_json(self) -> str:
        """``json.dumps(sorted(seen))``, kept up to date as transitions are added: a campaign
        saves them every 2 s, and sorting and encoding them all anew each time would cost more
        and more as coverage grows."""
        if self._saved_of is not self.seen or (
                len(self._sorted) + len(self._unsaved) != len(self.seen)):
            # ``seen`` replaced (a resumed campaign): list it all again
            self._saved_of = self.seen
            self._sorted = sorted(self.seen)
            self._texts = [json.dumps(t) for t in self._sorted]
        else:
            for t in self._unsaved:
                i = bisect_left(self._sorted, t)
                self._sorted.insert(i, t)
                self._texts.insert(i, json.dumps(t))
        self._unsaved = []
        return "[" + ", ".join(self._texts) + "]"

    def __len__(self) -> int:
        return len(self.seen)
