"""Transports chosen by URL.

``open_transport(url)`` maps a board URL (design.md §4) to a connected
:class:`~mpharness.transports.base.Transport`:

=========================  ===============================================
``unix:`` / ``unix:PATH``  unix-port MicroPython on a pty (virtual board)
``qemu:microbit``          micro:bit MicroPython in QEMU (virtual board)
``ws://host[:port]``       WebREPL
``rfc2217://``, ``socket://``, ``loop://``, other pyserial URLs, and serial
device paths (``/dev/ttyUSB0``, ``COM3``, symlinks)   pyserial
=========================  ===============================================

Modules are imported lazily so that importing mpharness stays cheap.
"""

from __future__ import annotations

import re

from mpharness.errors import ConfigError
from mpharness.transports.base import Transport

__all__ = ["Transport", "open_transport", "url_scheme"]

# pyserial's URL handlers (serial.protocol_handler_*), plus "socket" and friends.
_PYSERIAL_SCHEMES = {"rfc2217", "socket", "loop", "spy", "alt", "hwgrep", "cp2110"}
_SCHEME_RE = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.-]*):")


def url_scheme(url: str) -> str | None:
    """The URL's scheme in lower case, or None for a plain device path (incl. ``COM3``)."""
    match = _SCHEME_RE.match(url)
    if match is None:
        return None
    scheme = match.group(1).lower()
    if len(scheme) == 1 or re.fullmatch(r"com\d+", scheme):  # C:\... or COM3:
        return None
    return scheme


def open_transport(
    url: str,
    *,
    baudrate: int | None = None,
    password: str | None = None,
    timeout: float | None = 10.0,
) -> Transport:
    """Open the link a board URL names.

    Args:
        url: a board URL (see the module docstring).
        baudrate: serial speed for serial links (default 115200).
        password: WebREPL password (never logged).
        timeout: budget in seconds for opening the link.

    Raises:
        ConfigError: the URL's scheme is unknown.
        ConnectError: the link could not be opened.
    """
    scheme = url_scheme(url)
    if scheme == "unix":
        from mpharness.virtual.unix_board import open_unix_board

        return open_unix_board(url[len("unix:") :] or None, timeout=timeout)
    if scheme == "qemu":
        from mpharness.virtual.qemu_microbit import open_qemu_board

        return open_qemu_board(url[len("qemu:") :], timeout=timeout)
    if scheme in ("ws", "wss"):
        from mpharness.transports.webrepl import open_webrepl

        return open_webrepl(url, password=password, timeout=timeout)
    if scheme is None or scheme in _PYSERIAL_SCHEMES:
        from mpharness.transports.serial_link import open_serial

        return open_serial(url, baudrate=baudrate or 115200, timeout=timeout)
    raise ConfigError(
        f"unknown URL scheme {scheme!r} in {url!r}: expected a serial port path, a pyserial URL "
        "(rfc2217://, socket://, loop://), ws://host[:port], unix: or qemu:microbit"
    )
