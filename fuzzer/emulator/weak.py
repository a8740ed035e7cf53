"""Back-references that do not keep their target alive.

An emulated device owns its parts (clock, firmware, Link Layer, host, servers) strongly; wherever
a part points back at an owner or a sibling (a callback, the Link Layer's host, the clock the
servers schedule on) it does so weakly, so a discarded device or firmware image is freed at once
by reference counting instead of waiting for Python's cyclic garbage collector.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any

_new = object.__new__


class WeakCallback:
    """A bound method that does not keep its object alive: while the object lives, calling this
    calls the method; once the object is gone it does nothing and returns None."""

    __slots__ = ("func", "_ref")

    def __init__(self, method: Callable[..., Any]) -> None:
        self.func: Callable[..., Any] = method.__func__  # type: ignore[attr-defined]
        self._ref = weakref.ref(method.__self__)  # type: ignore[attr-defined]

    def __call__(self, *args: Any) -> Any:
        obj = self._ref()
        return None if obj is None else self.func(obj, *args)

    @property
    def owner(self) -> Any:
        """The object the method is bound to, or None once it is gone."""
        return self._ref()

    def bound_to(self, obj: object) -> WeakCallback:
        """The same method bound (weakly) to ``obj``."""
        # WeakCallback(self.func.__get__(obj)) without the bound method (GATT databases copy
        # their callbacks on every boot)
        callback = _new(WeakCallback)
        callback.func = self.func
        callback._ref = weakref.ref(obj)
        return callback


def weak_attribute(obj: object, name: str) -> Callable[[], Any]:
    """A callable returning ``obj.<name>`` as it is at the time of the call, without keeping
    ``obj`` alive."""
    ref = weakref.ref(obj)

    def get() -> Any:
        owner = ref()
        return None if owner is None else getattr(owner, name)

    return get
