"""The Target interface: the one way the engine reaches a device, emulated or real.

A target runs primitive steps (the tester's actions) and records everything that crossed the air
as trace events. Each back end declares its capabilities, the layers it can inject, so the
engine only generates steps a target can perform:

- ``scan``, ``connect``, ``disconnect``, ``wait``: every target (``connect`` takes the
  central's address on air, ``peer_address``, which with ``peer_address_type: random`` may be a
  resolvable private address, Core Vol 6 Part B 1.3.2.2)
- ``att``: ATT PDUs (every target; through bleak only as GATT reads and writes)
- ``smp``, ``l2cap``: raw PDUs on L2CAP fixed channels (emulator, HCI)
- ``encrypt``: start encryption with a given LTK, EDIV and Rand; on an encrypted link, pause
  it and start again with the new key (a key refresh, Vol 6 Part B 5.1.3.2) (emulator, HCI)
- ``ll``: raw LL control PDUs (emulator); the central follows an LL_LENGTH_REQ it sent here
  to its LL_LENGTH_RSP and fragments at the new maximum (5.1.9)
- ``power_cycle``: power the device off and on (emulator; a real device needs a power switch)
- ``white_box``: DEVICE_STATE events with the device's internal state (emulator)
"""

from __future__ import annotations

import inspect
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from fuzzer.trace.events import Event, Link, Trace

PRIMITIVES = frozenset({
    "scan", "connect", "disconnect", "wait", "ll", "smp", "att", "l2cap", "encrypt",
    "power_cycle",
})


@dataclass
class Step:
    """One primitive tester action: an op from PRIMITIVES and its arguments (JSON-safe values)."""

    op: str
    args: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"op": self.op, **self.args}


class StepHandler:
    """A step's handler (its first parameter the target or runner, then the step's arguments)
    with the argument names it takes, so a step's arguments are checked without ``inspect``."""

    __slots__ = ("func", "accepted", "required", "plain", "first", "bare", "first_alone")

    def __init__(self, func: Callable[..., Any]) -> None:
        self.func = func
        params = list(inspect.signature(func).parameters.values())[1:]
        self.accepted = frozenset(p.name for p in params)
        self.required = frozenset(p.name for p in params if p.default is p.empty)
        # only named parameters: the two sets say everything ``bind`` would check
        self.plain = all(p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) for p in params)
        #: the first argument's name if it may be given by position, else None: a call with
        #: that argument alone passes it by position (a call with ``**args`` costs several
        #: times as much, and most steps have one argument or none)
        self.first = (params[0].name if params and params[0].kind == params[0].POSITIONAL_OR_KEYWORD
                      else None)
        #: whether it takes no arguments, and the first argument alone (see :meth:`accepts`)
        self.bare = self.plain and not self.required
        self.first_alone = (self.plain and self.first is not None
                            and self.required <= {self.first})

    def call(self, owner: object, args: dict[str, Any]) -> Any:
        """``func(owner, **args)``, with the argument by position when there is only the first
        (or none): most steps."""
        if not args:
            return self.func(owner)
        first = self.first
        if len(args) == 1 and first in args:
            return self.func(owner, args[first])
        return self.func(owner, **args)

    def accepts(self, args: dict[str, Any]) -> bool:
        """Whether the handler surely takes ``args``: ``plain and args.keys() <= accepted and
        required <= args.keys()`` (else :meth:`explain` tells). With the first argument alone
        or none (most steps) the answer was worked out beforehand: comparing key views with
        sets costs several times as much as this whole call."""
        if len(args) == 1 and self.first in args:
            return self.first_alone
        if not args:
            return self.bare
        # issuperset rather than ``<=`` between a key view and a set: half the cost
        return self.plain and self.accepted.issuperset(args) and (
            not self.required or self.required <= args.keys())

    def explain(self, args: dict[str, Any]) -> None:
        """Raise the TypeError ``inspect`` gives when the handler cannot take ``args``. Callers
        check :meth:`accepts` first: when it says yes, it can."""
        inspect.signature(self.func).bind(None, **dict.fromkeys(args))


class Clock(Protocol):
    """A target's clock as the engine reads it."""

    #: the time in microseconds (virtual for the emulator)
    now: int


class TargetError(RuntimeError):
    """The target cannot perform a step (missing capability, bad argument, not connected)."""


class Target(ABC):
    """A device under test, reached through primitive steps."""

    name = "target"
    capabilities: frozenset[str] = frozenset()
    #: The target's clock (``clock.now``, as ``now_us``); a plain attribute, not a property:
    #: the engine reads the time for every step and every event it records.
    clock: Clock

    def __init__(self) -> None:
        self.trace = Trace()

    @abstractmethod
    def open(self, trace: Trace) -> None:
        """Start a session that records into ``trace``."""

    @abstractmethod
    def close(self) -> None:
        """End the session and release the device."""

    @abstractmethod
    def run(self, step: Step) -> list[Event]:
        """Perform one primitive step; return the events it produced (also in the trace)."""

    def run_op(self, op: str, args: dict[str, Any]) -> list[Event]:
        """The same as ``run(Step(op, args))``; a target may run it without the Step."""
        return self.run(Step(op, args))

    @property
    def now_us(self) -> int:
        """The target's clock in microseconds (virtual for the emulator)."""
        return self.clock.now

    @property
    @abstractmethod
    def connected(self) -> bool:
        """Whether a link to the device is up."""

    def reset(self, seed: int) -> None:
        """Bring the device back to its initial state (the emulator: a fresh device built
        with ``seed``; a real device: a power cycle and erased bonds, where it can)."""
        raise TargetError(f"the {self.name} target cannot reset the device")

    @property
    def link(self) -> Link | None:
        """The link as the tester sees it (addresses, encryption), or None."""
        return None

    def describe(self) -> dict[str, Any]:
        """What the report says about this target."""
        return {"name": self.name, "capabilities": sorted(self.capabilities)}
