"""Deadlines: one absolute point in time shared by nested calls.

Every blocking call in mpharness accepts ``timeout`` (float seconds or ``None`` for
"no limit") and turns it into a :class:`Deadline`. Nested calls pass the deadline on, so
the total time of an operation is bounded by the outermost budget.
"""

from __future__ import annotations

import time
from dataclasses import dataclass


@dataclass(frozen=True)
class Deadline:
    """An absolute deadline on the monotonic clock (``at is None`` means never)."""

    at: float | None
    budget: float | None = None

    @classmethod
    def after(cls, timeout: float | None) -> Deadline:
        """A deadline ``timeout`` seconds from now (``None``: no deadline)."""
        if timeout is None:
            return cls(None, None)
        return cls(time.monotonic() + max(0.0, timeout), timeout)

    def remaining(self) -> float | None:
        """Seconds left (never negative), or ``None`` when unbounded."""
        if self.at is None:
            return None
        return max(0.0, self.at - time.monotonic())

    def expired(self) -> bool:
        """True once the deadline has passed."""
        return self.at is not None and time.monotonic() >= self.at

    def sooner(self, timeout: float | None) -> Deadline:
        """The earlier of this deadline and ``timeout`` seconds from now."""
        other = Deadline.after(timeout)
        if other.at is None:
            return self
        if self.at is None or other.at < self.at:
            return other
        return self
