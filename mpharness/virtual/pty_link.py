"""Pseudo-terminal pairs for virtual boards.

A virtual board's interpreter gets the slave side as its controlling terminal (see
:func:`mpharness.virtual.zygote.configure_slave` for the line discipline); the transport keeps the
master side, non-blocking, and moves opaque bytes through it. Once every slave fd is closed
(the interpreter exited), reading the master fails with EIO after the buffered output: that is
the definitive end of that interpreter's byte stream.
"""

from __future__ import annotations

import errno
import os

from mpharness.virtual.zygote import configure_slave

__all__ = ["open_pty", "read_some", "write_some"]


def open_pty() -> tuple[int, int]:
    """A new pty pair ``(master, slave)``: master non-blocking, slave configured, both CLOEXEC."""
    master, slave = os.openpty()
    try:
        configure_slave(slave)
        os.set_blocking(master, False)
    except BaseException:
        os.close(master)
        os.close(slave)
        raise
    return master, slave


def read_some(master: int, size: int = 65536) -> bytes | None:
    """Read what the master has now: bytes, ``b""`` if nothing yet, ``None`` at end of stream."""
    try:
        return os.read(master, size) or None
    except BlockingIOError:
        return b""
    except OSError as exc:
        if exc.errno == errno.EIO:
            return None
        raise


def write_some(master: int, data: bytes | memoryview) -> int | None:
    """Write what fits now: the count written (0 if full), ``None`` if no slave is open."""
    try:
        return os.write(master, data)
    except BlockingIOError:
        return 0
    except OSError as exc:
        if exc.errno == errno.EIO:
            return None
        raise
