"""Ctrl-C for the unix port when its terminal does not turn the byte into SIGINT.

The unix port takes Ctrl-C as SIGINT, which the pty raises from a ``\\x03`` byte only while
the terminal's ISIG flag is set. Raw-paste mode leaves the terminal raw (ISIG off) while the
code runs, so the byte would sit unread and ``while True: pass`` could not be stopped. In
that case, and only when the interpreter has its SIGINT handler armed (it arms it while
executing code; outside execution SIGINT would kill it), the signal is sent directly.
"""

from __future__ import annotations

import contextlib
import os
import signal
import termios

_SIGINT_BIT = 1 << (signal.SIGINT - 1)


def sigint_handler_armed(pid: int) -> bool:
    """True if process ``pid`` catches SIGINT (per /proc/PID/status ``SigCgt``)."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("SigCgt:"):
                    return bool(int(line.split()[1], 16) & _SIGINT_BIT)
    except (OSError, ValueError):
        return False
    return False


def deliver_ctrl_c(pid: int | None, master_fd: int) -> bool:
    """Signal SIGINT to ``pid`` if the pty would not; True when it was signalled."""
    if pid is None:
        return False
    try:
        lflag = termios.tcgetattr(master_fd)[3]
    except (termios.error, OSError):
        return False
    if lflag & termios.ISIG or not sigint_handler_armed(pid):
        return False
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGINT)
        return True
    return False
