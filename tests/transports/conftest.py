"""Fixtures for transport tests: a pty pair standing in for a serial port."""

from __future__ import annotations

import os
import select
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from mpharness.deadline import Deadline
from mpharness.transports.base import Transport


@dataclass
class PtyPort:
    """The board's end of a pty pair (``master``) and the names the host opens."""

    master: int
    path: str  # /dev/pts/N, the "serial port"
    link: str  # a symlink to it, like a user's /dev/ttyACM0
    _closed: list[bool] = field(default_factory=lambda: [False])

    def send(self, data: bytes) -> None:
        """The board sends ``data`` to the host."""
        os.write(self.master, data)

    def receive(self, size: int, timeout: float = 5.0) -> bytes:
        """Read exactly ``size`` bytes the host wrote (fewer if ``timeout`` passes)."""
        out = bytearray()
        end = time.monotonic() + timeout
        while len(out) < size:
            left = end - time.monotonic()
            ready, _, _ = select.select([self.master], [], [], max(0.0, left))
            if not ready:
                break
            out += os.read(self.master, size - len(out))
        return bytes(out)

    def unplug(self) -> None:
        """Close the board's end: the host's port reports the device gone."""
        if not self._closed[0]:
            self._closed[0] = True
            os.close(self.master)


def make_pty(directory: Path, name: str = "ttyACM0") -> PtyPort:
    master, slave = os.openpty()
    path = os.ttyname(slave)
    os.close(slave)  # the transport opens its own descriptor
    link = directory / name
    link.symlink_to(path)
    return PtyPort(master, path, str(link))


@pytest.fixture
def pty_port(tmp_path: Path) -> Iterator[PtyPort]:
    """A fresh pty pair; the host side is reachable as ``.path`` and ``.link``."""
    port = make_pty(tmp_path)
    try:
        yield port
    finally:
        port.unplug()


def read_exactly(link: Transport, size: int, timeout: float = 5.0) -> bytes:
    """Read until ``size`` bytes arrived (fewer if ``timeout`` passes)."""
    deadline = Deadline.after(timeout)
    out = b""
    while len(out) < size and not deadline.expired():
        out += link.read(deadline, size - len(out))
    return out
