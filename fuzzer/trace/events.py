"""Trace events: cheap records of everything that crossed the air or happened to the link.

An event is created for every PDU in the fuzz loop, so it is a slotted record holding raw bytes;
decoding and serialization happen only on demand (see ``fuzzer.trace.jsonl`` and
``fuzzer.trace.pcap``).
"""

from __future__ import annotations

from typing import Any

# Event kinds.
STEP = "step"  # the tester began a step; info = {"index", "op", "args", "label"}
ADV = "adv"  # the device was seen advertising; info = {"address", "address_type", "name"}
SCAN_EMPTY = "scan_empty"  # a scan found no advertising device
CONNECT = "connect"  # a connection was created; info = the CONNECT_IND parameters
CONNECT_FAIL = "connect_fail"  # a connection attempt was not answered; info = {"address"}
PDU = "pdu"  # a PDU crossed the air; layer, data (plaintext), air (LL PDUs as sent)
ENCRYPTION = "encryption"  # link encryption changed; info = {"state": "on"|"off"|"failed", ...}
DISCONNECT = "disconnect"  # the link ended; info = {"reason": int, "by": tester|device|timeout}
KEY = "key"  # key material the tester holds; info = {"type": "LTK"|"STK"|..., "value": hex}
BOND = "bond"  # the tester stored a bond; info = {"device": address, "ltk", "ediv", "rand", ...}
NO_ANSWER = "no_answer"  # a request got no answer within the protocol's timeout; info = {"what"}
RESET = "reset"  # the tester power-cycled or reset the device; info = {"how"}
NOTE = "note"  # free-form remark from a procedure; info = {"text"}
DEVICE_STATE = "device_state"  # white-box snapshot (emulator only); info = dict

TESTER = "tester"
DEVICE = "device"


class Link:
    """The state of one connection as the tester sees it; shared by events until it changes."""

    __slots__ = (
        "conn_id", "peer", "peer_address", "device_address", "access_address", "crc_init",
        "encrypted", "key_size",
    )

    def __init__(
        self,
        conn_id: int,
        peer: str,
        peer_address: str,
        device_address: str,
        access_address: int,
        crc_init: int,
        encrypted: bool = False,
        key_size: int = 0,
    ) -> None:
        self.conn_id = conn_id
        self.peer = peer
        self.peer_address = peer_address
        self.device_address = device_address
        self.access_address = access_address
        self.crc_init = crc_init
        self.encrypted = encrypted
        self.key_size = key_size

    def with_encryption(self, encrypted: bool, key_size: int = 0) -> Link:
        """A copy of this link with another encryption state."""
        return Link(
            self.conn_id, self.peer, self.peer_address, self.device_address,
            self.access_address, self.crc_init, encrypted, key_size,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "conn_id": self.conn_id,
            "peer": self.peer,
            "peer_address": self.peer_address,
            "device_address": self.device_address,
            "access_address": f"0x{self.access_address:08x}",
            "encrypted": self.encrypted,
            "key_size": self.key_size,
        }


class Event:
    """One thing that happened, at virtual time ``t`` (microseconds).

    Without ``__init__``: :meth:`Trace.add` makes each event of the fuzz loop blank, as
    ``Event()`` (an object is made cheapest so, by a few hundred instructions), and fills in its
    fields; :func:`make_event` makes one from its fields."""

    __slots__ = ("seq", "t", "kind", "src", "layer", "data", "air", "link", "info", "step", "memo")

    seq: int
    t: int
    kind: str
    src: str
    layer: str | None
    data: bytes
    air: tuple[bytes, ...]
    link: Link | None
    info: dict[str, Any] | None
    step: int
    memo: object  # a decoded form, filled by whoever decodes first

    def __repr__(self) -> str:
        return (
            f"Event(#{self.seq} t={self.t} {self.kind} {self.src} {self.layer or ''} "
            f"{self.data.hex()} {self.info or ''})"
        )


def make_event(
    seq: int,
    t: int,
    kind: str,
    src: str = TESTER,
    layer: str | None = None,
    data: bytes = b"",
    air: tuple[bytes, ...] = (),
    link: Link | None = None,
    info: dict[str, Any] | None = None,
    step: int = -1,
) -> Event:
    """An event with these fields, not decoded yet (a trace's events: :meth:`Trace.add`)."""
    ev = Event()
    ev.seq = seq
    ev.t = t
    ev.kind = kind
    ev.src = src
    ev.layer = layer
    ev.data = data
    ev.air = air
    ev.link = link
    ev.info = info
    ev.step = step
    ev.memo = None
    return ev


#: layer -> octets -> the PDU decoded (None: no codec reads it), filled by
#: ``fuzzer.trace.describe.decode`` and shared by every trace: a fuzz campaign sends and gets the
#: same PDUs again and again, and a PDU decoded before has its decoded form from the start.
#: By layer, then octets, rather than by (layer, octets): a look-up with a new tuple as its key
#: costs about twice as much, and ``Trace.add`` makes one for every PDU.
DECODED: dict[str | None, dict[bytes, Any]] = {}

Spec = tuple[frozenset[str] | None, frozenset[str] | None, frozenset[str] | None]


class _Routing:
    """For one sequence of subscriptions (kinds, layers, sources of each listener, in order) and
    the listeners muted among them: which listeners get each (kind, layer, src) of event, as
    indices. Shared by every trace subscribed alike (the fuzz loop subscribes the same monitors
    to each program's trace), so routing is worked out once; the sequences form a tree, one
    subscription or one muting switch per step.

    The routes are by source, then kind (``routes``) or, for PDUs, layer (``pdu_routes``):
    ``Trace.add`` looks one up for every event, and two look-ups by a string cost less than one
    by a new (kind, layer, src) tuple."""

    __slots__ = ("specs", "muted", "routes", "pdu_routes", "after", "switched")

    def __init__(self, specs: tuple[Spec, ...], muted: frozenset[int] = frozenset()) -> None:
        self.specs = specs
        self.muted = muted
        #: src -> kind -> route, for events other than PDUs
        self.routes: dict[str, dict[str, tuple[int, ...]]] = {}
        #: src -> layer -> route, for PDUs
        self.pdu_routes: dict[str, dict[str | None, tuple[int, ...]]] = {}
        self.after: dict[Spec, _Routing] = {}
        self.switched: dict[int, _Routing] = {}  # the routing with one listener (un)muted

    def then(self, spec: Spec) -> _Routing:
        """The routing after one more subscription."""
        nxt = self.after.get(spec)
        if nxt is None:
            nxt = self.after[spec] = _Routing((*self.specs, spec), self.muted)
        return nxt

    def switch(self, index: int) -> _Routing:
        """The routing with listener ``index`` muted if it is not, unmuted if it is."""
        nxt = self.switched.get(index)
        if nxt is None:
            nxt = self.switched[index] = _Routing(self.specs, self.muted ^ {index})
            nxt.switched[index] = self
        return nxt

    def route(self, kind: str, layer: str | None, src: str) -> tuple[int, ...]:
        """The listeners (indices) an event of ``kind``, ``layer`` and ``src`` goes to."""
        route = tuple(i for i, (kinds, layers, sources) in enumerate(self.specs)
                      if i not in self.muted
                      and (kinds is None or kind in kinds)
                      and (kind != PDU or layers is None or layer in layers)
                      and (sources is None or src in sources))
        if kind == PDU:
            self.pdu_routes.setdefault(src, {})[layer] = route
        else:
            self.routes.setdefault(src, {})[kind] = route
        return route


_NO_SUBSCRIPTIONS = _Routing(())


class Subscriptions:
    """A trace's listeners and their routing, for giving another trace the same subscriptions
    with listeners of its own (:meth:`Trace.subscribe_like`)."""

    __slots__ = ("listeners", "routing")

    def __init__(self, listeners: list, routing: _Routing) -> None:
        self.listeners = listeners
        self.routing = routing


class Trace:
    """An append-only list of events with a step cursor; listeners see each event as it arrives.

    A listener may say which event kinds (and, for PDUs, which layers) from which sources it
    wants, so the fuzz loop calls each monitor only for what concerns it; a listener that has
    nothing to do for a while may be muted (:meth:`mute`)."""

    __slots__ = ("events", "step", "_listeners", "_routing", "_next_seq", "shared",
                 "__weakref__")

    def __init__(self) -> None:
        self.events: list[Event] = []
        self._next_seq = 0  # len(self.events), kept: this saves a call per event
        self.step = -1
        #: listeners' shared helpers, by key (e.g. one pairing tracker for every pairing monitor)
        self.shared: dict[Any, Any] = {}
        self._listeners: list = []
        self._routing = _NO_SUBSCRIPTIONS

    def subscribe(self, listener, kinds: frozenset[str] | None = None,
                  layers: frozenset[str] | None = None,
                  sources: frozenset[str] | None = None) -> None:
        """Call ``listener(event)`` for every event added from now on (of ``kinds``; PDUs of
        ``layers``; from ``sources``; None means all)."""
        self._listeners.append(listener)
        spec = (kinds, layers, sources)
        self._routing = self._routing.after.get(spec) or self._routing.then(spec)

    def mute(self, listener) -> None:
        """Stop calling ``listener`` (subscribed) until :meth:`unmute`."""
        i = self._listeners.index(listener)
        if i not in self._routing.muted:
            self._routing = self._routing.switched.get(i) or self._routing.switch(i)

    def unmute(self, listener) -> None:
        """Call ``listener`` again for the events it subscribed to."""
        i = self._listeners.index(listener)
        if i in self._routing.muted:
            self._routing = self._routing.switched.get(i) or self._routing.switch(i)

    def subscriptions(self) -> Subscriptions:
        """The listeners and their routing (muted ones included) as they stand."""
        return Subscriptions(list(self._listeners), self._routing)

    def subscribe_like(self, subscriptions: Subscriptions, listeners: list) -> None:
        """Subscribe ``listeners`` (a new list) as ``subscriptions``' listeners at the same
        places are, muted alike; for a trace without subscriptions."""
        self._listeners = listeners
        self._routing = subscriptions.routing

    def detach(self) -> list:
        """Stop calling any listener and drop their shared helpers; the listeners that were
        subscribed."""
        listeners = self._listeners
        self._listeners = []
        self._routing = _NO_SUBSCRIPTIONS
        self.shared = {}
        return listeners

    def add(
        self,
        t: int,
        kind: str,
        src: str = TESTER,
        layer: str | None = None,
        data: bytes = b"",
        air: tuple[bytes, ...] = (),
        link: Link | None = None,
        info: dict[str, Any] | None = None,
    ) -> Event:
        # make_event(...) spelled out: this runs for every event of the fuzz loop
        ev = Event()
        ev.seq = seq = self._next_seq
        self._next_seq = seq + 1
        ev.t = t
        ev.kind = kind
        ev.src = src
        ev.layer = layer
        ev.data = data
        ev.air = air
        ev.link = link
        ev.info = info
        ev.step = self.step
        routing = self._routing
        try:
            if kind == PDU:
                ev.memo = DECODED[layer].get(data)
                route = routing.pdu_routes[src][layer]
            else:
                ev.memo = None
                route = routing.routes[src][kind]
        except KeyError:  # a layer not decoded yet, or an event not routed yet
            if kind == PDU:
                ev.memo = DECODED.setdefault(layer, {}).get(data)
            route = routing.route(kind, layer, src)
        self.events.append(ev)
        if route:
            listeners = self._listeners
            for i in route:
                listeners[i](ev)
        return ev

    def __len__(self) -> int:
        return len(self.events)

    def __iter__(self):
        return iter(self.events)
