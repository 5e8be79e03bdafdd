"""Finding serial ports by USB identity, and waiting for one to come back.

Theory of operation
-------------------
Native-USB boards drop off the bus on every reset and may come back under another name
(``/dev/ttyACM0`` -> ``/dev/ttyACM1``, protocols.md §4.2). What stays the same is the USB serial
number (plus VID:PID and the USB interface number). :func:`identify` records that identity for the
port a user opened (following symlinks such as ``/dev/serial/by-id/...``), and :func:`find_port`
finds the port carrying it now.

:class:`DeviceWatcher` waits for the device to reappear without sleep-polling where the OS lets us:
on Linux it blocks in ``select`` on an inotify descriptor watching ``/dev`` (a node is created when
the device enumerates, and its attributes change when udev applies the group permissions), and
rescans after each event. A slow safety rescan (:data:`RESCAN_INTERVAL`) covers events we cannot
watch (other OSes, names outside ``/dev``).
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import logging
import os
import select
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from mpharness.deadline import Deadline

__all__ = [
    "RESCAN_INTERVAL",
    "DeviceWatcher",
    "PortLister",
    "UsbIdentity",
    "describe_ports",
    "find_port",
    "identify",
    "port_info",
    "resolve_usb_serial",
    "system_ports",
]

log = logging.getLogger(__name__)

#: Seconds between rescans when no inotify event arrives (the fallback on non-Linux systems).
RESCAN_INTERVAL = 0.25

# inotify(7) constants (linux/inotify.h)
_IN_ATTRIB = 0x00000004
_IN_MOVED_TO = 0x00000080
_IN_CREATE = 0x00000100
_IN_NONBLOCK = 0o4000
_IN_CLOEXEC = 0o2000000

#: A callable returning the ports present, like ``serial.tools.list_ports.comports``.
PortLister = Callable[[], Iterable[Any]]


def system_ports() -> list[Any]:
    """The serial ports the OS lists (pyserial ``ListPortInfo`` objects)."""
    from serial.tools import list_ports

    return list(list_ports.comports())


@dataclass(frozen=True)
class UsbIdentity:
    """What identifies a USB serial device across re-enumeration."""

    serial_number: str
    vid: int | None = None
    pid: int | None = None
    interface: str | None = None  # the ":1.0" tail of pyserial's ``location``

    def matches(self, info: Any) -> bool:
        """Whether a ``ListPortInfo`` is this device (serial number, VID:PID, interface)."""
        if getattr(info, "serial_number", None) != self.serial_number:
            return False
        if self.vid is not None and getattr(info, "vid", None) not in (None, self.vid):
            return False
        if self.pid is not None and getattr(info, "pid", None) not in (None, self.pid):
            return False
        theirs = _interface_of(getattr(info, "location", None))
        return self.interface is None or theirs is None or theirs == self.interface

    def __str__(self) -> str:
        ids = f" {self.vid:04x}:{self.pid:04x}" if self.vid is not None and self.pid else ""
        return f"USB serial number {self.serial_number}{ids}"


def _interface_of(location: str | None) -> str | None:
    if not location or ":" not in location:
        return None
    return location.rsplit(":", 1)[1]


def _same_device(path: str, device: str) -> bool:
    if os.name == "nt":
        return path.upper() == device.upper()
    return os.path.realpath(path) == os.path.realpath(device)


def port_info(path: str, lister: PortLister = system_ports) -> Any | None:
    """The listed port that ``path`` is (symlinks followed), or None (also if listing fails)."""
    try:
        infos = list(lister())
    except Exception as exc:  # listing is a nicety on open: never let it stop the open
        log.debug("could not list serial ports: %s", exc)
        return None
    return next((info for info in infos if _same_device(path, info.device)), None)


def identify(info: Any | None) -> UsbIdentity | None:
    """The USB identity of a listed port, or None when it has no serial number."""
    serial_number = getattr(info, "serial_number", None)
    if info is None or not serial_number:
        return None
    return UsbIdentity(
        serial_number,
        getattr(info, "vid", None),
        getattr(info, "pid", None),
        _interface_of(getattr(info, "location", None)),
    )


def find_port(identity: UsbIdentity, lister: PortLister = system_ports) -> str | None:
    """The device name that currently carries ``identity`` (first in sorted order), or None."""
    names = sorted(info.device for info in lister() if identity.matches(info))
    return names[0] if names else None


def resolve_usb_serial(serial_number: str, lister: PortLister = system_ports) -> str | None:
    """The device carrying a USB serial number (``usb-serial:`` URLs; case-insensitive), or None."""
    wanted = serial_number.strip().lower()
    names = sorted(
        info.device
        for info in lister()
        if (getattr(info, "serial_number", None) or "").lower() == wanted and wanted
    )
    return names[0] if names else None


def describe_ports(lister: PortLister = system_ports) -> str:
    """A short list of the ports present, for error messages."""
    try:
        infos = sorted(lister(), key=lambda info: info.device)
    except Exception as exc:  # listing is best effort in an error path
        return f"(could not list serial ports: {exc})"
    if not infos:
        return "no serial ports are present"
    parts = []
    for info in infos:
        extra = getattr(info, "description", None)
        parts.append(info.device + (f" ({extra})" if extra and extra != "n/a" else ""))
    return "ports present: " + ", ".join(parts)


class DeviceWatcher:
    """Blocks until something in ``/dev`` may have changed, or a timeout passes.

    Use as a context manager; :meth:`wait` returns when an inotify event arrived or after
    :data:`RESCAN_INTERVAL` (or the deadline, if sooner). Without inotify it just waits.
    """

    def __init__(self, directory: str = "/dev", rescan_interval: float | None = None) -> None:
        self._rescan = RESCAN_INTERVAL if rescan_interval is None else rescan_interval
        self._fd = _inotify_open(directory)
        self._idle = threading.Event()  # never set: the wait when inotify is unavailable

    def wait(self, deadline: Deadline) -> None:
        """Block until a change event, the rescan interval, or the deadline, whichever is first."""
        remaining = deadline.remaining()
        timeout = self._rescan if remaining is None else min(self._rescan, remaining)
        if self._fd is None:
            self._idle.wait(timeout)
            return
        ready, _, _ = select.select([self._fd], [], [], timeout)
        if ready:
            with contextlib.suppress(BlockingIOError):
                os.read(self._fd, 65536)  # drain: we rescan everything anyway

    def close(self) -> None:
        """Release the inotify descriptor. Idempotent."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> DeviceWatcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _inotify_open(directory: str) -> int | None:
    """An inotify fd watching ``directory`` for new or changed entries, or None if unsupported."""
    if not hasattr(os, "uname") or os.uname().sysname != "Linux":
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        fd = libc.inotify_init1(_IN_NONBLOCK | _IN_CLOEXEC)
        if fd < 0:
            return None
        mask = _IN_CREATE | _IN_ATTRIB | _IN_MOVED_TO
        if libc.inotify_add_watch(fd, os.fsencode(directory), mask) < 0:
            os.close(fd)
            return None
        return int(fd)
    except (OSError, AttributeError) as exc:
        log.debug("inotify unavailable (%s); rescanning every %.2f s", exc, RESCAN_INTERVAL)
        return None
