"""The virtual clock: microseconds that advance only when the tester says so.

Timeouts (SMP's 30 s, supervision, the DFU inactivity timer) are timers on this clock, so they
elapse instantly and deterministically; nothing sleeps.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable


class Timer:
    """The handle of a scheduled callback; ``cancel()`` stops it from firing.

    The callback itself stays with the clock, not with the handle: an object that keeps the
    handle of its own timer (to cancel it) makes no reference cycle with the callback bound to it.
    ``seq`` names the handle's one live schedule (VirtualClock.reschedule makes a new one).
    """

    __slots__ = ("due", "seq", "cancelled")

    def __init__(self, due: int, seq: int) -> None:
        self.due = due
        self.seq = seq
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True

    def __lt__(self, other: Timer) -> bool:
        return (self.due, self.seq) < (other.due, other.seq)


class VirtualClock:
    """Monotonic virtual time in microseconds with one-shot timers."""

    def __init__(self) -> None:
        self.now = 0
        # heap of (due, seq, timer, callback): ties on ``due`` fire in scheduling order
        self._timers: list[tuple[int, int, Timer, Callable[[], None]]] = []
        self._seq = 0

    def schedule(self, delay_us: int, callback: Callable[[], None]) -> Timer:
        """Call ``callback`` once when the clock reaches now + ``delay_us``."""
        if type(delay_us) is not int or delay_us < 0:
            delay_us = max(0, int(delay_us))
        self._seq = seq = self._seq + 1
        due = self.now + delay_us
        timer = Timer(due, seq)
        heapq.heappush(self._timers, (due, seq, timer, callback))
        return timer

    def reschedule(self, timer: Timer, delay_us: int, callback: Callable[[], None]) -> None:
        """Cancel ``timer`` and schedule ``callback`` on the same handle: it fires once when the
        clock reaches now + ``delay_us`` (as a new timer would, in scheduling order)."""
        if type(delay_us) is not int or delay_us < 0:
            delay_us = max(0, int(delay_us))
        self._seq = seq = self._seq + 1
        timer.due = due = self.now + delay_us
        timer.seq = seq  # the handle's earlier schedule is dead from now on
        timer.cancelled = False
        heapq.heappush(self._timers, (due, seq, timer, callback))

    def advance(self, delta_us: int) -> None:
        """Move time forward by ``delta_us``, firing due timers in order."""
        if type(delta_us) is not int:
            delta_us = int(delta_us)
        t_us = self.now + delta_us if delta_us > 0 else self.now
        timers = self._timers
        if timers and timers[0][0] <= t_us:
            self._fire_until(t_us)
        self.now = t_us if t_us > self.now else self.now

    def advance_to(self, t_us: int) -> bool:
        """Move time forward to ``t_us`` (never backwards), firing due timers in order; whether
        any fired."""
        timers = self._timers
        fired = timers and timers[0][0] <= t_us and self._fire_until(t_us)
        if t_us > self.now:
            self.now = t_us
        return bool(fired)

    def _fire_until(self, t_us: int) -> bool:
        """Fire, in order, every live timer due at or before ``t_us``; whether any fired."""
        timers = self._timers
        fired = False
        while timers and timers[0][0] <= t_us:
            due, seq, timer, callback = heapq.heappop(timers)
            if timer.cancelled or timer.seq != seq:
                continue
            if due > self.now:
                self.now = due
            fired = True
            callback()
        return fired

    def next_due(self) -> int | None:
        """When the next live timer fires, or None."""
        timers = self._timers
        while timers and (timers[0][2].cancelled or timers[0][2].seq != timers[0][1]):
            heapq.heappop(timers)
        return timers[0][0] if timers else None
