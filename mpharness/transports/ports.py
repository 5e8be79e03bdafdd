"""Attached serial ports, as pyserial's ``list_ports`` sees them."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class SerialPortInfo:
    """One attached serial port."""

    device: str
    vid: int | None
    pid: int | None
    serial_number: str | None
    description: str
    location: str | None

    @property
    def vid_pid(self) -> str:
        """``vvvv:pppp`` in hex, or ``-`` for ports without USB ids."""
        if self.vid is None or self.pid is None:
            return "-"
        return f"{self.vid:04x}:{self.pid:04x}"


def list_serial_ports(lister: Callable[[], Iterable[Any]] | None = None) -> list[SerialPortInfo]:
    """Serial ports with USB ids first (real boards), sorted by device name.

    Args:
        lister: stand-in for ``serial.tools.list_ports.comports`` (tests).
    """
    if lister is None:
        from serial.tools import list_ports

        lister = list_ports.comports
    ports = [
        SerialPortInfo(
            p.device,
            p.vid,
            p.pid,
            p.serial_number,
            p.description or "",
            getattr(p, "location", None),
        )
        for p in lister()
    ]
    return sorted(ports, key=lambda p: (p.vid is None, p.device))
