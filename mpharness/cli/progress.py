"""A one-line progress bar for long transfers, on terminals only.

Theory of operation: a :class:`ProgressBar` is the ``progress(done, total)`` callback the file
transfers take. It draws nothing until the transfer has run for ``delay`` seconds (short
transfers stay quiet) and nothing at all when its stream is not a terminal (logs and pipes get
no ``\\r`` noise). Redraws are limited to ``max_rate`` per second; leaving the ``with`` block
ends the line the bar was drawn on.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TextIO

__all__ = ["SHOW_AFTER_S", "ProgressBar"]

SHOW_AFTER_S = 1.0  #: a transfer shorter than this shows no bar
_WIDTH = 30
_REDRAW_S = 0.1


class ProgressBar:
    """``progress(done, total)`` callback drawing ``[#####.....] 12/40 KiB 3 KiB/s`` on a tty."""

    def __init__(
        self,
        stream: TextIO,
        label: str = "",
        *,
        delay: float = SHOW_AFTER_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.stream, self.label, self.delay, self.clock = stream, label, delay, clock
        isatty = getattr(stream, "isatty", None)
        self.enabled = bool(isatty and isatty())
        self.start = clock()
        self.shown = False
        self._last_draw = float("-inf")
        self._last_len = 0

    def __enter__(self) -> ProgressBar:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.shown:
            self.stream.write("\n")
            self.stream.flush()

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled or total <= 0:
            return
        now = self.clock()
        elapsed = now - self.start
        if elapsed < self.delay or (now - self._last_draw < _REDRAW_S and done < total):
            return
        self.shown, self._last_draw = True, now
        filled = _WIDTH * min(done, total) // total
        rate = done / elapsed / 1024 if elapsed > 0 else 0.0
        label = f"{self.label} " if self.label else ""
        line = (
            f"{label}[{'#' * filled}{'.' * (_WIDTH - filled)}] "
            f"{done / 1024:.0f}/{total / 1024:.0f} KiB {rate:.1f} KiB/s"
        )
        # spaces cover what is left of a longer previous line
        self.stream.write("\r" + line.ljust(self._last_len))
        self._last_len = len(line)
        self.stream.flush()
