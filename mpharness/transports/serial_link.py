"""Serial links through pyserial: local ports and every pyserial URL.

Theory of operation
-------------------
``open_serial(url)`` accepts a device path (``/dev/ttyUSB0``, ``/dev/serial/by-id/...``, any
symlink or character device, ``COM3``) or any ``serial.serial_for_url`` URL (``rfc2217://``,
``socket://``, ``loop://``, ``spy://``, ``hwgrep://``).

Opening (protocols.md §4.3, §11): the port object is created with ``do_not_open=True``, DTR and
RTS are set to asserted *before* ``open()`` so both come up together (USB-CDC firmware needs DTR;
RTS is never pulsed on open), and local ports are opened ``exclusive=True`` (``flock`` on POSIX),
so a second harness, or mpremote, gets "busy" instead of sharing the port. 1200 baud is refused:
opening at 1200 baud resets many boards into their bootloader. Each failure becomes one
:class:`~mpharness.errors.ConnectError` with a message saying what to do.

Reading never sleep-polls. Ports with a file descriptor (POSIX device ports, ``spy://``,
``socket://``) block in ``select`` for the deadline's remaining time, then take what is waiting
(the pyserial object has ``timeout=0``, so its ``read`` does one ``os.read``). Handlers without a
descriptor (``rfc2217://``, ``loop://``, Windows ports) read one byte with the pyserial timeout set
to the remaining time, then whatever ``in_waiting`` reports. A link that is gone (EIO, "device
reports readiness to read but returned no data", peer closed) raises
:class:`~mpharness.errors.TransportClosed` naming the port, and the port is released at once so a
re-enumerated device can take its name back.

Resets and reconnects: ports whose modem lines work get a DTR/RTS hard reset chosen from
:mod:`~mpharness.transports.reset_sequences` by USB VID:PID (none for native-USB boards, which
cannot be reset that way; none for ptys, which have no modem lines). On close RTS drops before DTR
(a Windows close drops DTR first, which briefly resets ESP boards). A local port with a USB serial
number can be found again after re-enumeration under a new name (see
:mod:`~mpharness.transports.usb_ports`); network URLs reconnect by reopening the URL.
"""

from __future__ import annotations

import errno
import logging
import os
import select
import socket
import stat
import sys
import threading
from typing import Any
from urllib.parse import urlsplit

import serial
import serial.rfc2217  # loaded lazily by pyserial; _set_read_timeout needs the class

from mpharness.deadline import Deadline
from mpharness.errors import ConfigError, ConnectError, TransportClosed
from mpharness.transports import url_scheme
from mpharness.transports.base import Transport
from mpharness.transports.reset_sequences import (
    ESPRESSIF_VID,
    HARD_RESET,
    NATIVE_USB_VIDS,
    ResetSequence,
    apply_sequence,
    hard_reset_sequence_for,
)
from mpharness.transports.usb_ports import (
    DeviceWatcher,
    PortLister,
    describe_ports,
    find_port,
    identify,
    port_info,
    system_ports,
)

__all__ = ["TOUCH_BAUDRATE", "SerialTransport", "is_pseudo_terminal", "open_serial"]

log = logging.getLogger(__name__)

#: Opening a port at this speed resets many boards into their bootloader ("1200-baud touch").
TOUCH_BAUDRATE = 1200
#: Silicon Labs CP210x: on Windows its driver can reset an ESP when the port first opens.
_CP210X_VID = 0x10C4
_NETWORK_SCHEMES = frozenset({"rfc2217", "socket"})
_BUSY_ERRNOS = frozenset({errno.EBUSY, errno.EAGAIN, errno.EWOULDBLOCK})
_DIALOUT_HINT = (
    "add your user to the 'dialout' group (Arch: 'uucp'), e.g. "
    "'sudo usermod -aG dialout $USER', then log in again"
)


def open_serial(
    url: str, *, baudrate: int = 115200, timeout: float | None = 10.0
) -> SerialTransport:
    """Open a serial port or pyserial URL.

    Args:
        url: a device path (``/dev/ttyUSB0``, a symlink, ``COM3``) or a pyserial URL.
        baudrate: line speed; 1200 is refused.
        timeout: budget for opening. Local ports open at once or fail; pyserial's network
            handlers apply their own connect timeouts (5 s).

    Raises:
        ConfigError: 1200 baud, an unknown URL scheme or bad URL options.
        ConnectError: the port is missing, busy, not permitted, or the server refused.
    """
    del timeout  # opening a local port does not wait; see Args
    return SerialTransport(url, baudrate=baudrate)


class SerialTransport(Transport):
    """A byte link over a pyserial port (see the module docstring)."""

    def __init__(
        self, url: str, *, baudrate: int = 115200, port_lister: PortLister = system_ports
    ) -> None:
        """Open ``url`` (see :func:`open_serial`); ``port_lister`` stands in for list_ports."""
        if baudrate == TOUCH_BAUDRATE:
            raise ConfigError(
                f"refusing to open {url} at {TOUCH_BAUDRATE} baud: that resets many boards (samd, "
                "rp2 Arduino, nRF52) into their bootloader; use another speed",
                key="baudrate",
            )
        self.url = url
        self._baudrate = baudrate
        self._lister = port_lister
        self._scheme = url_scheme(url)
        self._lock = threading.Lock()
        self._serial: Any = None
        self._fd: int | None = None
        self._port_name = url
        self._info = port_info(url, port_lister) if self._scheme is None else None
        self._identity = identify(self._info)
        self._reset: ResetSequence | None = None
        self._has_lines = False
        self._open(url)

    # -- opening -------------------------------------------------------------------------------

    def _open(self, port: str) -> None:
        if self._scheme is None:
            _check_char_device(port)
        ser = self._make_port(port)
        quirk = os.name == "nt" and getattr(self._info, "vid", None) == _CP210X_VID
        ser.dtr = not quirk  # set before open(): both lines come up together
        ser.rts = not quirk
        try:
            ser.open()
        except (serial.SerialException, OSError) as exc:
            raise self._connect_error(port, exc) from exc
        if quirk:
            ser.dtr = True
            ser.rts = True
        self._serial, self._port_name = ser, port
        self._fd = _fileno(ser)
        self._has_lines = self._scheme == "rfc2217" or (
            isinstance(ser, serial.Serial) and _has_modem_lines(ser)
        )
        self._reset = self._choose_reset()
        log.debug("opened %s (fd=%s, reset=%s)", port, self._fd, self._reset and self._reset.name)

    def _make_port(self, port: str) -> Any:
        try:
            return serial.serial_for_url(
                port, baudrate=self._baudrate, timeout=0, exclusive=True, do_not_open=True
            )
        except (ValueError, serial.SerialException) as exc:
            raise ConfigError(f"cannot use {port!r} as a serial port: {exc}") from exc

    def _choose_reset(self) -> ResetSequence | None:
        if self._scheme == "rfc2217":
            return HARD_RESET  # the server drives the real port's lines
        if not self._has_lines:
            return None  # socket://, loop://, or a pty
        info = self._info
        return hard_reset_sequence_for(getattr(info, "vid", None), getattr(info, "pid", None))

    def _connect_error(self, port: str, exc: BaseException) -> ConnectError:
        code = _errno_of(exc)
        text = str(exc)
        if self._scheme in _NETWORK_SCHEMES:
            if code == errno.ECONNREFUSED:
                return ConnectError(f"connection refused by {port} (is the serial server running?)")
            busy = _server_busy_reason(port) if self._scheme == "rfc2217" else None
            if busy is not None:
                return ConnectError(f"{port} is busy: {busy}")
            return ConnectError(f"could not connect to {port}: {_reason(exc)}")
        # pyserial on Windows gives no errno, only the Windows error's repr in the message.
        denied = code in (errno.EACCES, errno.EPERM) or "PermissionError" in text
        if code == errno.ENOENT or "FileNotFoundError" in text:
            return ConnectError(f"no such port {port}; {describe_ports(self._lister)}")
        if code in _BUSY_ERRNOS or "exclusively lock" in text or (os.name == "nt" and denied):
            return ConnectError(f"port {port} is busy (opened by another program)")
        if denied:
            return ConnectError(f"permission denied opening {port}: {_DIALOUT_HINT}")
        return ConnectError(f"could not open {port}: {_reason(exc)}")

    # -- Transport -----------------------------------------------------------------------------

    @property
    def port(self) -> str:
        """The device or URL currently open (may differ from ``url`` after a reconnect)."""
        return self._port_name

    @property
    def serial_port(self) -> Any:
        """The open pyserial port object (None once closed); the RFC 2217 server drives it."""
        return self._serial

    @property
    def closed(self) -> bool:
        """True once the port was closed or found gone."""
        return self._serial is None

    def write(self, data: bytes) -> None:
        """Send all of ``data``; raises TransportClosed if the port is gone."""
        ser = self._require_open()
        try:
            ser.write(data)
        except (serial.SerialException, OSError, ValueError, TypeError) as exc:
            raise self._gone("write", exc) from exc

    def read(self, deadline: Deadline, size: int = 65536) -> bytes:
        """Up to ``size`` bytes; blocks until one arrives or the deadline passes (then ``b""``)."""
        ser, fd = self._require_open(), self._fd
        try:
            if fd is not None:
                return self._read_select(ser, fd, deadline, size)
            return self._read_timed(ser, deadline, size)
        except (serial.SerialException, OSError, ValueError, TypeError) as exc:
            raise self._gone("read", exc) from exc

    def _read_select(self, ser: Any, fd: int, deadline: Deadline, size: int) -> bytes:
        while True:
            ready, _, _ = select.select([fd], [], [], deadline.remaining())
            if ready:
                data: bytes = ser.read(size)  # timeout=0: one os.read of what is waiting
                if data:
                    return data
            if deadline.expired():
                return b""

    def _read_timed(self, ser: Any, deadline: Deadline, size: int) -> bytes:
        while True:
            _set_read_timeout(ser, deadline.remaining())
            first: bytes = ser.read(1)
            if first:
                break
            if deadline.expired():
                return b""
            if not ser.is_open:
                raise serial.SerialException("port closed while reading")
        waiting = ser.in_waiting
        if waiting and size > 1:
            _set_read_timeout(ser, 0)
            first += ser.read(min(waiting, size - 1))
        return first

    def close(self) -> None:
        """Close the port, dropping RTS before DTR. Idempotent."""
        self._release(lines=True)

    # -- hard reset and reconnect ----------------------------------------------------------------

    @property
    def may_corrupt(self) -> bool:
        """False when the board's own MCU is the USB device (rp2, pyboard, Adafruit, Espressif
        native USB and USB-Serial/JTAG): USB checks every packet end to end; and for a
        pseudo-terminal with no USB identity (``socat``, ``mpharness pty``, QEMU's
        ``-serial pty``), which is memory, not a wire, whatever its name or symlink. True for
        anything else: a UART behind a USB bridge, RFC 2217, sockets, unknown ports."""
        vid = getattr(self._info, "vid", None)
        if vid is None and self._scheme is None and is_pseudo_terminal(self._port_name):
            return False
        return not (vid in NATIVE_USB_VIDS or vid == ESPRESSIF_VID)

    @property
    def can_hard_reset(self) -> bool:
        """True when DTR/RTS can reset the board (bridges, USB-Serial/JTAG, RFC 2217)."""
        return self._reset is not None

    @property
    def reset_sequence(self) -> ResetSequence | None:
        """The line sequence :meth:`hard_reset` plays, if any."""
        return self._reset

    def hard_reset(self, deadline: Deadline) -> None:
        """Restart the board through DTR/RTS; the sequence always runs to its end (0.1 to 0.2 s)."""
        if self._reset is None:
            raise NotImplementedError(f"{self._port_name} cannot be reset through DTR/RTS")
        ser = self._require_open()
        if (left := deadline.remaining()) is not None and left < self._reset.duration:
            log.debug("hard reset of %s runs past the deadline by design", self._port_name)
        try:
            apply_sequence(ser, self._reset)
        except (serial.SerialException, OSError) as exc:
            raise self._gone("hard reset", exc) from exc

    @property
    def can_reconnect(self) -> bool:
        """True for ports with a USB serial number and for network URLs."""
        return self._identity is not None or self._scheme in _NETWORK_SCHEMES

    def reconnect(self, deadline: Deadline) -> None:
        """Reopen the link, finding a USB device again by serial number (it may have a new name).

        Raises:
            ConnectError: the device or server did not come back before the deadline.
        """
        if not self.can_reconnect:
            raise NotImplementedError(f"{self.url} cannot be found again (no USB serial number)")
        self._release(lines=False)
        last: ConnectError | None = None
        with DeviceWatcher() as watcher:
            while True:
                port = self._find_again()
                if port is not None:
                    try:
                        self._open(port)
                    except ConnectError as exc:  # e.g. udev has not set permissions yet
                        last = exc
                    else:
                        if port != self.url:
                            log.info("%s came back as %s", self._identity, port)
                        return
                if deadline.expired():
                    raise self._not_back(deadline, last)
                watcher.wait(deadline)

    def _find_again(self) -> str | None:
        if self._identity is None:
            return self.url  # a network URL: just reopen it
        return find_port(self._identity, self._lister)

    def _not_back(self, deadline: Deadline, last: ConnectError | None) -> ConnectError:
        what = self.url if self._identity is None else f"the board with {self._identity}"
        budget = "" if deadline.budget is None else f" within {deadline.budget:g} s"
        detail = f": {last}" if last is not None else f"; {describe_ports(self._lister)}"
        return ConnectError(f"{what} did not come back{budget}{detail}")

    # -- helpers -------------------------------------------------------------------------------

    def _require_open(self) -> Any:
        ser = self._serial
        if ser is None:
            raise TransportClosed(f"serial port {self._port_name} is closed")
        return ser

    def _gone(self, action: str, exc: BaseException) -> TransportClosed:
        self._release(lines=False)
        return TransportClosed(f"serial port {self._port_name} is gone ({action} failed: {exc})")

    def _release(self, *, lines: bool) -> None:
        with self._lock:
            ser, self._serial, self._fd = self._serial, None, None
        if ser is None:
            return
        try:
            if lines and self._has_lines:
                ser.rts = False  # RTS before DTR: never (RTS && !DTR), which is "reset" on ESP
                ser.dtr = False
        except (serial.SerialException, OSError) as exc:
            log.debug("could not drop lines on %s: %s", self._port_name, exc)
        finally:
            try:
                ser.close()
            except (serial.SerialException, OSError) as exc:
                log.debug("closing %s: %s", self._port_name, exc)

    def __repr__(self) -> str:
        state = "closed" if self.closed else "open"
        return f"<SerialTransport {self._port_name} {state}>"


#: Linux character-device majors of pty slaves (UNIX98_PTY_SLAVE_MAJOR and the 7 after it)
_PTY_SLAVE_MAJORS = range(136, 144)
#: where other systems keep pty slaves (macOS, the BSDs: /dev/ttys001 ...)
_PTY_SLAVE_PREFIXES = ("/dev/pts/", "/dev/ttys")


def is_pseudo_terminal(path: str) -> bool:
    """Whether ``path`` (after symlinks) is the slave side of a pseudo-terminal.

    Decided by what the device is, not by its name: on Linux by the device number's major
    (136 to 143); elsewhere by the real path (``/dev/pts/N``, ``/dev/ttysNNN``).
    """
    if os.name == "nt":
        return False
    try:
        real = os.path.realpath(path)
        info = os.stat(real)
    except OSError:
        return False
    if not stat.S_ISCHR(info.st_mode):
        return False
    if sys.platform.startswith("linux"):
        return os.major(info.st_rdev) in _PTY_SLAVE_MAJORS
    return real.startswith(_PTY_SLAVE_PREFIXES)


def _check_char_device(path: str) -> None:
    """Refuse an existing path that is not a character device (a typo'd regular file)."""
    if os.name == "nt":
        return
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return  # missing or unreadable: the open reports it
    if not stat.S_ISCHR(mode):
        raise ConnectError(f"{path} is not a serial port (not a character device)")


def _fileno(ser: Any) -> int | None:
    try:
        fd = ser.fileno()
    except (AttributeError, NotImplementedError, serial.SerialException, OSError):
        return None
    return fd if isinstance(fd, int) else None


def _has_modem_lines(ser: Any) -> bool:
    """Whether the port has modem control lines (a pty has none: TIOCMGET fails)."""
    try:
        _ = ser.cts
    except (serial.SerialException, OSError, ValueError):
        return False
    return True


def _set_read_timeout(ser: Any, timeout: float | None) -> None:
    if isinstance(ser, serial.rfc2217.Serial):
        # The public setter renegotiates every port setting with the server (and sleeps); the
        # handler's read() only consults this attribute.
        ser._timeout = timeout
    elif ser.timeout != timeout:
        ser.timeout = timeout


def _errno_of(exc: BaseException) -> int | None:
    """The errno behind a pyserial error (pyserial keeps it on the exception or its context)."""
    seen: BaseException | None = exc
    while seen is not None:
        code = getattr(seen, "errno", None)
        if isinstance(code, int):
            return code
        seen = seen.__cause__ or seen.__context__
    return None


def _reason(exc: BaseException) -> str:
    inner = exc.__cause__ or exc.__context__
    return str(inner if isinstance(inner, OSError) else exc)


#: How an ``mpharness serve`` server answers a connection while it serves another client.
BUSY_GREETING = b"board in use by "
BUSY_PROBE_TIMEOUT = 1.0  #: s allowed for asking an RFC 2217 server why it refused us


def _server_busy_reason(url: str) -> str | None:
    """What an ``mpharness serve`` server says to a second client (``board in use by HOST:PORT
    since ...``), or None if it says something else or nothing in time."""
    try:
        parts = urlsplit(url)
        address = (parts.hostname or "", parts.port or 0)
        with socket.create_connection(address, timeout=BUSY_PROBE_TIMEOUT) as sock:
            data = sock.recv(200)
    except (OSError, ValueError):
        return None
    if not data.startswith(BUSY_GREETING):
        return None
    text = data.decode("ascii", "replace").strip()
    return "".join(c if c.isprintable() else "?" for c in text)  # a network peer's words
