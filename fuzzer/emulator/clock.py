"""The virtual clock: microseconds that advance only when the tester says so.

Timeouts (SMP's 30 s, supervision, the DFU inactivity timer) are timers on this clock, so they
elapse instantly and deterministically; nothing sleeps.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable


class Timer:
    """A scheduled callback; ``cancel()`` stops it from firing."""

    __slots__ = ("due", "seq", "callback", "cancelled")

    def __init__(self, due: int, seq: int, callback: Callable[[], None]) -> None:
        self.due = due
        self.seq = seq
        self.callback = callback
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True

    def __lt__(self, other: Timer) -> bool:
        return (self.due, self.seq) < (other.due, other.seq)


class VirtualClock:
    """Monotonic virtual time in microseconds with one-shot timers."""

    def __init__(self) -> None:
        self.now = 0
        self._timers: list[Timer] = []
        self._seq = 0

    def schedule(self, delay_us: int, callback: Callable[[], None]) -> Timer:
        """Call ``callback`` once when the clock reaches now + ``delay_us``."""
        self._seq += 1
        timer = Timer(self.now + max(0, int(delay_us)), self._seq, callback)
        heapq.heappush(self._timers, timer)
        return timer

    def advance(self, delta_us: int) -> None:
        """Move time forward by ``delta_us``, firing due timers in order."""
        self.advance_to(self.now + max(0, int(delta_us)))

    def advance_to(self, t_us: int) -> None:
        """Move time forward to ``t_us`` (never backwards), firing due timers in order."""
        timers = self._timers
        while timers and timers[0].due <= t_us:
            timer = heapq.heappop(timers)
            if timer.cancelled:
                continue
            self.now = max(self.now, timer.due)
            timer.callback()
        self.now = max(self.now, t_us)

    def next_due(self) -> int | None:
        """When the next live timer fires, or None."""
        while self._timers and self._timers[0].cancelled:
            heapq.heappop(self._timers)
        return self._timers[0].due if self._timers else None
