"""Back-references that do not keep their target alive.

An emulated device owns its parts (clock, firmware, Link Layer, host, servers) strongly; wherever
a part points back at an owner or a sibling (a callback, the Link Layer's host, the clock the
servers schedule on) it does so through one of these, so a discarded device or firmware image is
freed at once by reference counting instead of waiting for Python's cyclic garbage collector.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any


def weak_method(method: Callable[..., Any]) -> Callable[..., Any]:
    """A callable that calls the bound ``method`` while its object lives, and does nothing
    (returns None) once the object is gone; it does not keep the object alive."""
    func = method.__func__  # type: ignore[attr-defined]
    ref = weakref.ref(method.__self__)  # type: ignore[attr-defined]

    def call(*args: Any) -> Any:
        obj = ref()
        return None if obj is None else func(obj, *args)

    return call


def weak_attribute(obj: object, name: str) -> Callable[[], Any]:
    """A callable returning ``obj.<name>`` as it is at the time of the call, without keeping
    ``obj`` alive."""
    ref = weakref.ref(obj)

    def get() -> Any:
        owner = ref()
        return None if owner is None else getattr(owner, name)

    return get
