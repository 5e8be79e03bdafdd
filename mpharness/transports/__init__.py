"""Transports chosen by URL.

``open_transport(url)`` maps a board URL (design.md §4) to a connected
:class:`~mpharness.transports.base.Transport`:

=========================  ===============================================
``unix:`` / ``unix:PATH``  unix-port MicroPython on a pty (virtual board)
``qemu:microbit``          micro:bit MicroPython in QEMU (virtual board)
``qemu:microbit?serial=pty``  the same behind QEMU's own ``-serial pty`` (input arrives late)
``shaped:OPTS;URL``        the board URL behind a link shaper (``mpharness.virtual.shaped_urls``)
``usb-serial:SERIAL``      the serial port whose USB serial number is SERIAL
``ws://host[:port]``       WebREPL
``ssh://user@host[...]``   CPython (Linux boards) through an SSH agent (``transports/ssh.py``)
``webrepl:``               virtual board: a unix board behind a local WebREPL server
``rfc2217://``, ``socket://``, ``loop://``, other pyserial URLs, and serial
device paths (``/dev/ttyUSB0``, ``COM3``, symlinks)   pyserial
=========================  ===============================================

Modules are imported lazily so that importing mpharness stays cheap. This dispatcher is the
one place in ``transports/`` that imports ``virtual/``; virtual boards import transport
modules (``transports.base``...) but never the dispatcher.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from mpharness.errors import ConfigError, ConnectError
from mpharness.secret import Secret, redact_url
from mpharness.transports.base import Transport

__all__ = ["PYSERIAL_SCHEMES", "Transport", "check_authority", "open_transport", "url_scheme"]

# pyserial's URL handlers (serial.protocol_handler_*), plus "socket" and friends.
PYSERIAL_SCHEMES = {"rfc2217", "socket", "loop", "spy", "alt", "hwgrep", "cp2110"}
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
    password: str | Secret | None = None,
    timeout: float | None = 10.0,
) -> Transport:
    """Open the link a board URL names.

    Args:
        url: a board URL (see the module docstring).
        baudrate: serial speed for serial links (default 115200).
        password: WebREPL password (never logged; carried as a
            :class:`~mpharness.secret.Secret` from here on).
        timeout: budget in seconds for opening the link.

    Raises:
        ConfigError: the URL's scheme is unknown.
        ConnectError: the link could not be opened, or its host or port does not parse (the
            message names the URL without credentials).
    """
    password = None if password is None else Secret(password)
    scheme = url_scheme(url)
    if scheme in _AUTHORITY_SCHEMES:
        check_authority(url)
    if scheme == "shaped":
        from mpharness.virtual.shaped_urls import open_shaped

        return open_shaped(
            url,
            baudrate=baudrate,
            password=password,
            timeout=timeout,
            open_inner=open_transport,
        )
    if scheme == "unix":
        from mpharness.virtual.unix_board import open_unix_board

        return open_unix_board(url[len("unix:") :] or None, timeout=timeout)
    if scheme == "qemu" and "?" in url:
        from mpharness.virtual.qemu_pty import open_qemu_pty

        return open_qemu_pty(url, timeout=timeout, open_inner=open_transport)
    if scheme == "qemu":
        from mpharness.virtual.qemu_microbit import open_qemu_board

        return open_qemu_board(url[len("qemu:") :], timeout=timeout)
    if scheme == "webrepl":
        from mpharness.virtual.webrepl_board import open_webrepl_board

        return open_webrepl_board(url, timeout=timeout)
    if scheme in ("ws", "wss"):
        from mpharness.transports.webrepl import open_webrepl

        return open_webrepl(url, password=password, timeout=timeout)
    if scheme == "usb-serial":
        url = _resolve_usb_serial(url)
        scheme = None
    if scheme == "ssh":
        from mpharness.transports.ssh import open_ssh

        return open_ssh(url, timeout=timeout)
    if scheme is None or scheme in PYSERIAL_SCHEMES:
        from mpharness.transports.serial_link import open_serial

        return open_serial(url, baudrate=baudrate or 115200, timeout=timeout)
    raise ConfigError(
        f"unknown URL scheme {scheme!r} in {url!r}: expected a serial port path, a pyserial URL "
        "(rfc2217://, socket://, loop://), ws://host[:port], ssh://user@host, unix: or "
        "qemu:microbit"
    )


#: Schemes whose URLs have a ``//host[:port]`` part that is parsed before anything is opened.
_AUTHORITY_SCHEMES = {"ws", "wss", "ssh", "rfc2217", "socket"}


def check_authority(url: str) -> None:
    """Check that the host and port of ``//host[:port]`` URL parse.

    Raises:
        ConnectError: they do not; the message names the URL without credentials and never
            chains the parser's error (whose frames hold the URL).
    """
    try:
        parts = urlsplit(url)
        port = parts.port  # raises ValueError when out of range or not a number
        host = parts.hostname
    except ValueError as err:
        raise ConnectError(f"bad URL {redact_url(url)}: {err}") from None
    if not host:
        raise ConnectError(f"bad URL {redact_url(url)}: no host")
    del port


def _resolve_usb_serial(url: str) -> str:
    """The device path of a ``usb-serial:SERIAL`` URL (raises ConnectError if none is attached)."""
    from mpharness.errors import ConnectError
    from mpharness.transports.usb_ports import describe_ports, resolve_usb_serial

    serial_number = url.split(":", 1)[1]
    device = resolve_usb_serial(serial_number)
    if device is None:
        raise ConnectError(
            f"no attached serial port has USB serial number {serial_number!r}; {describe_ports()}"
        )
    return device
