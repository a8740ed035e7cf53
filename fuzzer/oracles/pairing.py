"""Following SMP pairings in the trace, per link, for the pairing invariants (black-box).

A pairing starts with the tester's Pairing Request on a link (Core Vol 3 Part H 3.5.1) and lasts
until the next Pairing Request on that link or the link's end; a Pairing Failed from either side
marks it failed but it is still watched, so that what the device does after refusing (sending its
DHKey Check, distributing keys, encryption coming on) is attributed to the right pairing.

:class:`PairingTracker` does the bookkeeping once per event for every pairing monitor of a
trace and calls the hooks each :class:`PairingMonitor` overrides: which link an event belongs to
(events without a link — KEY, BOND, ENCRYPTION in hand-made traces — belong to the current link,
the last one an SMP or ATT PDU or a link event named), the pairing in progress, the Pairing
Request and Response fields, whether it is LE Secure Connections, the keys the tester holds and
when it got them. Every event costs O(1): one dict look-up per link and one cached decode per PDU.
Which hooks an event calls is worked out once per sequence of monitor classes (:class:`HookPlan`):
a monitor's SMP hooks get only the PDU names it declares, plus every device PDU on a link it
watches (:meth:`LinkState.watch`).
"""

from __future__ import annotations

import functools
import weakref
from collections import defaultdict
from collections.abc import Callable
from types import MethodType
from typing import Any

from fuzzer.oracles.base import Monitor
from fuzzer.protocol import smp
from fuzzer.protocol.codec import Decoded
from fuzzer.trace import events as ev
from fuzzer.trace.describe import decode
from fuzzer.trace.events import Event, Link, Trace

#: Key distribution PDUs (Vol 3 Part H 3.6.2-3.6.6).
KEY_DISTRIBUTION = frozenset({
    "Encryption Information", "Central Identification", "Identity Information",
    "Identity Address Information", "Signing Information",
})

_PDU, _KEY = frozenset({ev.PDU}), frozenset({ev.KEY})
_LINK_EVENTS = frozenset({ev.ENCRYPTION, ev.BOND, ev.CONNECT, ev.DISCONNECT, ev.RESET})
_SMP, _ATT = frozenset({"smp"}), frozenset({"att"})

#: How many PDUs of one pairing are kept as evidence.
EVIDENCE_CAP = 24

#: The hooks a PairingMonitor may override (see PairingMonitor).
_HOOKS = ("on_reset", "on_pairing_start", "on_pairing_end", "on_tester_smp", "on_device_smp",
          "on_encryption", "on_key", "on_bond", "on_connect", "on_disconnect", "on_att")


def key_bytes(value: Any) -> bytes | None:
    """A key given as hex (trace info) as octets in on-air order; None when it is not hex."""
    if isinstance(value, bytes):
        return value
    if not isinstance(value, str):
        return None
    try:
        return bytes.fromhex(value)
    except ValueError:
        return None


def peer_of(link: Link | None, info: dict[str, Any] | None = None) -> str:
    """The peer's identity as the device sees it: its address, else the tester's name for it."""
    if link is not None:
        return link.peer_address or link.peer
    return str((info or {}).get("peer", ""))


class Pairing:
    """One pairing attempt on one link."""

    __slots__ = ("request", "start_seq", "preq", "response", "pres", "sc", "key_size", "failed",
                 "events", "keys", "data", "conn_id")

    def __init__(self, request: Event | None, preq: dict[str, Any] | None, conn_id: int) -> None:
        self.request = request  # the tester's Pairing Request (None: PDUs without one)
        self.start_seq = request.seq if request is not None else -1
        self.preq = preq or {}
        self.response: Event | None = None  # the device's Pairing Response
        self.pres: dict[str, Any] = {}
        #: LE Secure Connections: both sides set the SC bit in AuthReq (Vol 3 Part H 2.3.5.1)
        self.sc = False
        #: the negotiated encryption key size: the smaller maximum (Vol 3 Part H 2.3.4); None
        #: before the Pairing Response or when a side's maximum is unknown
        self.key_size: int | None = None
        self.failed: Event | None = None  # the first Pairing Failed, from either side
        self.events: list[Event] = [request] if request is not None else []
        self.keys: set[bytes] = set()  # keys the tester recorded during this pairing
        #: each monitor's notes (PairingMonitor.notes), by its slot; created on first use
        self.data: defaultdict[int, dict[str, Any]] = defaultdict(dict)
        self.conn_id = conn_id

    def answered(self, response: Event, pres: dict[str, Any]) -> None:
        """The device's Pairing Response with its fields: fixes SC and the key size."""
        self.response = response
        self.pres = pres
        preq = self.preq
        self.sc = bool(preq.get("authreq", 0) & pres.get("authreq", 0) & smp.SC)
        a = preq.get("max_encryption_key_size")
        b = pres.get("max_encryption_key_size")
        self.key_size = min(a, b) if isinstance(a, int) and isinstance(b, int) else None

    def note(self, event: Event) -> None:
        if len(self.events) < EVIDENCE_CAP:
            self.events.append(event)

    def evidence(self, *more: Event) -> list[Event]:
        out = list(self.events)
        for e in more:
            if e not in out:
                out.append(e)
        return out


class LinkState:
    """What a monitor keeps about one connection."""

    __slots__ = ("conn_id", "link", "pairing", "data", "watchers")

    def __init__(self, conn_id: int, link: Link | None) -> None:
        self.conn_id = conn_id
        self.link = link
        self.pairing: Pairing | None = None
        #: each monitor's notes (PairingMonitor.notes), by its slot; created on first use
        self.data: defaultdict[int, dict[str, Any]] = defaultdict(dict)
        #: the slots of the monitors that get every device SMP PDU on this link (see
        #: PairingMonitor.DEVICE_SMP)
        self.watchers: list[int] = []

    def watch(self, monitor: PairingMonitor) -> None:
        """Give ``monitor`` every device SMP PDU on this link from now on, beyond the names it
        reads always."""
        if monitor.slot not in self.watchers:
            self.watchers.append(monitor.slot)


class HookPlan:
    """For one sequence of joined monitor classes: the hooks each event calls, as (function,
    index of the monitor in the tracker) pairs. Computed once per sequence of classes (the
    sequences form a tree, one class per step), so a trace's tracker costs nothing to set up;
    hooks a class does not override are left out, and the SMP hooks only get the PDU names the
    class reads (``TESTER_SMP``, ``DEVICE_SMP``)."""

    def __init__(self, classes: tuple[type[PairingMonitor], ...]) -> None:
        self.classes = classes
        self.size = len(classes)
        self.after: dict[type[PairingMonitor], HookPlan] = {}  # the plans with one more class

        def calls(name: str, wanted=lambda cls: True) -> tuple[tuple[Any, int], ...]:
            return tuple((getattr(cls, name), i) for i, cls in enumerate(classes)
                         if name in _overridden(cls) and wanted(cls))

        self.hooks: dict[str, tuple[tuple[Any, int], ...]] = {name: calls(name)
                                                               for name in _HOOKS}
        #: key type -> on_key for KEY events that hold no STK or LTK (key None)
        self.other_keys = self._by_name(classes, "on_key", lambda cls: _other_keys(cls.OTHER_KEYS))
        self.tester_smp = self._by_name(classes, "on_tester_smp", lambda cls: cls.TESTER_SMP)
        self.device_smp = self._by_name(classes, "on_device_smp", lambda cls: cls.DEVICE_SMP)

    def _by_name(self, classes: tuple[type[PairingMonitor], ...], hook: str,
                 names_of: Callable[[type[PairingMonitor]], frozenset[str] | None]) -> _ByName:
        """Name -> the calls of ``hook`` for the classes whose ``names_of`` lists it (None: every
        name); key None: names no class lists."""
        listed = {n for cls in classes for n in (names_of(cls) or ())}
        out = _ByName()
        for name in (*listed, None):
            out[name] = tuple(
                (getattr(cls, hook), i) for i, cls in enumerate(classes)
                if hook in _overridden(cls)
                and (names_of(cls) is None or name in names_of(cls)))  # type: ignore[operator]
        return out

    def then(self, cls: type[PairingMonitor]) -> HookPlan:
        """The plan once a monitor of ``cls`` joined too."""
        nxt = self.after.get(cls)
        if nxt is None:
            nxt = self.after[cls] = HookPlan((*self.classes, cls))
        return nxt


def _other_keys(wanted: bool | frozenset[str]) -> frozenset[str] | None:
    """``OTHER_KEYS`` as the key types read: None for all of them."""
    if wanted is True:
        return None
    return wanted or frozenset()


class _ByName(dict):
    """SMP PDU name (or key type) -> hook calls; a name no class lists gets the calls of key
    None."""

    def __missing__(self, name: str | None) -> tuple[tuple[Any, int], ...]:
        calls = self[name] = self[None]
        return calls


_NO_MONITORS = HookPlan(())


class _BoundByName(dict):
    """A :class:`_ByName` table with each hook bound to its monitor; a name no class lists
    gets the calls of key None."""

    def __missing__(self, name: str | None) -> tuple[Any, ...]:
        calls = self[name] = self[None]
        return calls


def _bind(calls: tuple[tuple[Any, int], ...], monitors: list[PairingMonitor]) -> tuple[Any, ...]:
    """Hook calls as (function, index of the monitor) pairs, as methods of those monitors."""
    return tuple(MethodType(hook, monitors[i]) for hook, i in calls)


class PairingTracker:
    """The link and pairing bookkeeping, done once per event for every pairing monitor of a
    trace; each monitor's overridden hooks are called in the order the monitors joined.

    The LinkState and Pairing objects are shared: a monitor keeps its own notes on them in
    :meth:`PairingMonitor.notes`, under its slot. Only the tracker holds its monitors (they
    refer to it weakly, and the shared objects name them by slot), so a finished trace's
    monitors and bookkeeping are freed without the cyclic garbage collector.

    The plan's hooks are bound to the tracker's monitors once (:meth:`_bind`; the fuzz loop
    reuses a tracker trace after trace): an event's hooks are then called as they are, without
    looking up each one's monitor."""

    KINDS = frozenset({ev.PDU, ev.ENCRYPTION, ev.KEY, ev.BOND, ev.CONNECT, ev.DISCONNECT,
                       ev.RESET})
    LAYERS = frozenset({"smp", "att"})

    def __init__(self) -> None:
        self.links: dict[int, LinkState] = {}
        self.current: LinkState | None = None
        self._anon = -1  # ids for links known only from a CONNECT without a Link
        self.held: dict[bytes, Event] = {}  # every key the tester holds -> first KEY/BOND event
        self.monitors: list[PairingMonitor] = []
        self._plan = _NO_MONITORS
        self._ref = weakref.ref(self)  # what its monitors hold
        self._bind()

    @classmethod
    def of(cls, trace: Trace) -> PairingTracker:
        """The tracker shared by the pairing monitors listening to ``trace``."""
        tracker = trace.shared.get(cls)
        if tracker is None:
            tracker = trace.shared[cls] = cls()
            # one listener per kind of event, so the trace calls the right one directly
            trace.subscribe(tracker._smp, _PDU, _SMP)
            trace.subscribe(tracker._att, _PDU, _ATT)
            trace.subscribe(tracker._key, _KEY)
            for kind, handler in _LINK_HANDLERS.items():
                trace.subscribe(MethodType(handler, tracker), frozenset({kind}))
        return tracker

    def join(self, monitor: PairingMonitor) -> None:
        """Call ``monitor``'s hooks from now on (only those it overrides)."""
        plan = self._plan
        self._seat(monitor, plan.size)
        self.monitors.append(monitor)
        cls = type(monitor)
        self._plan = plan.after.get(cls) or plan.then(cls)
        self._bind()

    def like(self, monitors: list[PairingMonitor]) -> PairingTracker:
        """A new tracker joined by ``monitors``: monitors of the classes that joined this one,
        in the same order."""
        tracker = PairingTracker()
        tracker._plan = self._plan
        tracker.monitors = monitors
        for slot, monitor in enumerate(monitors):
            tracker._seat(monitor, slot)
        tracker._bind()
        return tracker

    def _bind(self) -> None:
        """The plan's hook calls as methods of this tracker's monitors: by hook name (``hooks``),
        ``on_key`` for keys other than an STK or LTK, and by SMP PDU name for each side."""
        plan, monitors = self._plan, self.monitors
        self.hooks = {name: _bind(calls, monitors) for name, calls in plan.hooks.items()}
        self.other_keys = _BoundByName({kind: _bind(calls, monitors)
                                        for kind, calls in plan.other_keys.items()})
        self.tester_smp = _BoundByName({name: _bind(calls, monitors)
                                        for name, calls in plan.tester_smp.items()})
        self.device_smp = _BoundByName({name: _bind(calls, monitors)
                                        for name, calls in plan.device_smp.items()})

    def _seat(self, monitor: PairingMonitor, slot: int) -> None:
        """Give ``monitor`` its slot here, and the tracker's links and held keys."""
        monitor.slot = slot
        monitor.links = self.links
        monitor.held = self.held
        monitor._tracker = self._ref

    def restart(self) -> None:
        """Forget every link and key, keeping the joined monitors: a tracker that saw no event
        (its monitors restart on their own, see :meth:`PairingMonitor.restart`)."""
        self.links.clear()
        self.current = None
        self._anon = -1
        self.held.clear()

    # --- bookkeeping ---

    def _state(self, event: Event) -> LinkState | None:
        # the per-PDU handlers (_smp, _att) call this only for another link than the last
        # event's: the usual case, the same link, is checked first without the call
        link = event.link
        if link is None:
            return self.current
        cur = self.current
        if cur is not None and cur.link is link:
            return cur  # the same link as the last event's
        st = self.links.get(link.conn_id)
        if st is None:
            if cur is not None and cur.conn_id < 0 and cur.link is None:
                # the link a CONNECT without a Link announced
                del self.links[cur.conn_id]
                cur.conn_id = link.conn_id
                st = cur
            else:
                st = LinkState(link.conn_id, link)
            self.links[link.conn_id] = st
        st.link = link
        self.current = st
        return st

    def _hold(self, value: Any, event: Event, st: LinkState | None) -> bytes | None:
        key = key_bytes(value)
        if key is None:
            return None
        self.held.setdefault(key, event)
        if st is not None and st.pairing is not None:
            st.pairing.keys.add(key)
        return key

    def _end_pairing(self, st: LinkState) -> None:
        p = st.pairing
        if p is not None:
            st.pairing = None
            for hook in self.hooks["on_pairing_end"]:
                hook(st, p)

    def end_all(self) -> None:
        """Close every pairing still open."""
        for st in list(self.links.values()):
            self._end_pairing(st)

    def observe(self, event: Event) -> None:
        """Take one event (a tracker of a monitor fed alone; on a trace, each kind of event
        goes to its handler directly)."""
        kind = event.kind
        if kind == ev.PDU:
            if event.layer == "smp":
                self._smp(event)
            elif event.layer == "att":
                self._att(event)
        elif kind == ev.KEY:
            self._key(event)
        elif kind in _LINK_EVENTS:
            self._link_event(event)

    def _link_event(self, event: Event) -> None:
        """ENCRYPTION, BOND, CONNECT, DISCONNECT or RESET."""
        _LINK_HANDLERS[event.kind](self, event)

    def _smp(self, event: Event) -> None:
        st = self.current
        if event.link is not None and (st is None or st.link is not event.link):
            st = self._state(event)  # another link than the last event's
        dec = event.memo or decode(event)
        if st is None or dec is None:
            return
        p = st.pairing
        name = dec.name
        tester = event.src == ev.TESTER
        if tester and name == "Pairing Request":
            if p is not None:
                self._end_pairing(st)
            p = st.pairing = Pairing(event, dict(dec.fields) if dec.error is None else None,
                                     st.conn_id)
            for hook in self.hooks["on_pairing_start"]:
                hook(st, p, event)
            return
        if p is not None:
            if len(p.events) < EVIDENCE_CAP:  # p.note(event), without the call (every PDU)
                p.events.append(event)
            if name == "Pairing Failed":
                if p.failed is None:  # the first, from either side
                    p.failed = event
            elif (not tester and name == "Pairing Response" and p.response is None
                  and dec.error is None):
                p.answered(event, dict(dec.fields))
        if tester:
            by_name = self.tester_smp
        else:
            by_name = self.device_smp
            mons = self.monitors
            for i in st.watchers:
                m = mons[i]
                if name not in m.DEVICE_SMP:  # type: ignore[operator]
                    m.on_device_smp(st, p, dec, event)
        for hook in by_name[name]:
            hook(st, p, dec, event)

    def _att(self, event: Event) -> None:
        """An ATT PDU moves the current link too, whoever reads ATT."""
        st = self.current
        if event.link is not None and (st is None or st.link is not event.link):
            st = self._state(event)  # another link than the last event's
        for hook in self.hooks["on_att"]:
            hook(st, event)

    def _key(self, event: Event) -> None:
        st = self._state(event)
        info = event.info or {}
        kind = info.get("type")
        key = None
        if kind in ("STK", "LTK"):
            key = self._hold(info.get("value"), event, st)
        if key is not None:
            hooks = self.hooks["on_key"]
        else:
            try:
                hooks = self.other_keys[kind]
            except TypeError:  # not a type's name (an odd hand-made trace): as a type no one reads
                hooks = self.other_keys[None]
        for hook in hooks:
            hook(st, event, key)

    def _encryption(self, event: Event) -> None:
        st = self._state(event)
        info = event.info or {}
        if st is not None and st.pairing is not None:
            st.pairing.note(event)
        state, ltk = info.get("state"), key_bytes(info.get("ltk"))
        for hook in self.hooks["on_encryption"]:
            hook(st, event, state, ltk)

    def _bond(self, event: Event) -> None:
        st = self._state(event)
        key = self._hold((event.info or {}).get("ltk"), event, st)
        for hook in self.hooks["on_bond"]:
            hook(st, event, key)

    def _connect(self, event: Event) -> None:
        if event.link is not None:
            st = self._state(event)
        else:
            st = LinkState(self._anon, None)
            self.links[self._anon] = st
            self._anon -= 1
            self.current = st
        for hook in self.hooks["on_connect"]:
            hook(st, event)

    def _disconnect(self, event: Event) -> None:
        st = self._state(event)
        if st is not None:
            if st.pairing is not None:
                self._end_pairing(st)
            for hook in self.hooks["on_disconnect"]:
                hook(st, event)
            self.links.pop(st.conn_id, None)
        self.current = None

    def _reset(self, event: Event) -> None:
        for hook in self.hooks["on_reset"]:
            hook(event)


_LINK_HANDLERS = {ev.ENCRYPTION: PairingTracker._encryption, ev.BOND: PairingTracker._bond,
                  ev.CONNECT: PairingTracker._connect, ev.DISCONNECT: PairingTracker._disconnect,
                  ev.RESET: PairingTracker._reset}


@functools.cache
def _overridden(cls: type) -> tuple[str, ...]:
    """The hooks ``cls`` overrides (the others are not called)."""
    return tuple(name for name in _HOOKS if getattr(cls, name) is not getattr(PairingMonitor, name))


class PairingMonitor(Monitor):
    """Base of the pairing monitors: hooks called by the shared :class:`PairingTracker`.

    Subscribed to a trace, the monitor joins the trace's tracker; fed events one by one through
    :meth:`observe`, it has a tracker of its own. Events outside the bookkeeping that a monitor
    also reads (``EXTRA_KINDS``, PDUs of ``EXTRA_LAYERS``) go to :meth:`see`."""

    KINDS = PairingTracker.KINDS
    LAYERS = PairingTracker.LAYERS
    EXTRA_KINDS: frozenset[str] = frozenset()
    EXTRA_LAYERS: frozenset[str] = frozenset()
    #: the SMP PDU names ``on_tester_smp`` / ``on_device_smp`` read (None: every PDU); the
    #: tracker does not call them for the others. A monitor that reads every device PDU only
    #: at times (once it noted something on a pairing) calls ``st.watch(self)`` then.
    TESTER_SMP: frozenset[str] | None = None
    DEVICE_SMP: frozenset[str] | None = None
    #: whether ``on_key`` reads KEY events that hold no STK or LTK (``key`` None): all of them
    #: (True), none (False) or those of the key types listed
    OTHER_KEYS: bool | frozenset[str] = True

    checked = 0
    #: set when the monitor joins a tracker: its place there (the key of its notes), the
    #: tracker's links and held keys, the tracker itself (weakly: the tracker holds the monitor)
    slot = -1
    links: dict[int, LinkState] = {}  # noqa: RUF012 - read-only until the monitor joins
    held: dict[bytes, Event] = {}  # noqa: RUF012 - read-only until the monitor joins
    _tracker: weakref.ref[PairingTracker] | None = None
    _own_tracker: PairingTracker | None = None  # the tracker of a monitor fed alone

    @property
    def tracker(self) -> PairingTracker | None:
        """The tracker this monitor joined, if any."""
        return self._tracker() if self._tracker is not None else None

    def listen(self, trace: Trace) -> None:
        tracker = trace.shared.get(PairingTracker)
        (tracker if tracker is not None else PairingTracker.of(trace)).join(self)
        if self.EXTRA_KINDS:
            self.subscribe_see(trace)

    def restart(self) -> None:
        # attributes of its own only once set: back to the class's, as in a new monitor
        if self.checked:
            del self.checked
        if self._own_tracker is not None:
            del self._own_tracker
        Monitor.restart(self)

    def subscribe_see(self, trace: Trace) -> None:
        """Listen to ``trace`` for the events :meth:`see` reads."""
        trace.subscribe(self.see, self.EXTRA_KINDS, self.EXTRA_LAYERS)

    def observe(self, event: Event) -> None:
        """Take one event (a monitor used on its own, not subscribed to a trace)."""
        tracker = self._own_tracker
        if tracker is None:
            tracker = self._own_tracker = PairingTracker()
            tracker.join(self)
        if event.kind in self.EXTRA_KINDS and (event.kind != ev.PDU or
                                               event.layer in self.EXTRA_LAYERS):
            self.see(event)
        tracker.observe(event)

    def see(self, event: Event) -> None:
        """An event of ``EXTRA_KINDS`` (before the tracker's hooks for it, when fed alone)."""

    def notes(self, thing: Pairing | LinkState) -> dict[str, Any]:
        """This monitor's own notes on a pairing or link (the objects are shared); hot paths
        may read ``thing.data[self.slot]`` directly."""
        return thing.data[self.slot]

    def held_before(self, key: bytes, pairing: Pairing | None) -> bool:
        """Whether the tester held ``key`` before ``pairing`` began (a bond's key)."""
        first = self.held.get(key)
        if first is None:
            return False
        return pairing is None or first.seq < pairing.start_seq

    def end_all(self) -> None:
        """Close every pairing still open (call from ``verdict``)."""
        tracker = self.tracker
        if tracker is not None:
            tracker.end_all()

    # --- hooks ---

    def on_reset(self, event: Event) -> None:
        """The tester power-cycled the device (its RAM state is gone)."""

    def on_pairing_start(self, st: LinkState, p: Pairing, event: Event) -> None:
        pass

    def on_pairing_end(self, st: LinkState, p: Pairing) -> None:
        pass

    def on_tester_smp(self, st: LinkState, p: Pairing | None, dec: Decoded, event: Event) -> None:
        pass

    def on_device_smp(self, st: LinkState, p: Pairing | None, dec: Decoded, event: Event) -> None:
        pass

    def on_encryption(self, st: LinkState | None, event: Event, state: Any,
                      ltk: bytes | None) -> None:
        pass

    def on_key(self, st: LinkState | None, event: Event, key: bytes | None) -> None:
        pass

    def on_bond(self, st: LinkState | None, event: Event, key: bytes | None) -> None:
        pass

    def on_connect(self, st: LinkState, event: Event) -> None:
        pass

    def on_disconnect(self, st: LinkState, event: Event) -> None:
        pass

    def on_att(self, st: LinkState | None, event: Event) -> None:
        pass


#: Device SMP PDUs that do not move a pairing on: a refusal or a request.
NO_PROGRESS = frozenset({"Pairing Failed", "Security Request", "Pairing Keypress Notification",
                         "unknown"})


def progress_after(dec: Decoded) -> bool:
    """Whether a device SMP PDU moves a pairing on (anything but a refusal or a request)."""
    return dec.name not in NO_PROGRESS


def completes(monitor: PairingMonitor, p: Pairing | None, dec: Decoded | None = None,
              state: Any = None, ltk: bytes | None = None) -> bool:
    """Whether a device SMP PDU (``dec``) or an encryption event (``state``, ``ltk``) completes
    pairing ``p``: the device's DHKey Check, key distribution, or encryption coming on under a
    key that is not a bond the tester held before the pairing began."""
    if dec is not None:
        return dec.name == "Pairing DHKey Check" or dec.name in KEY_DISTRIBUTION
    if state != "on":
        return False
    return ltk is None or not monitor.held_before(ltk, p)
