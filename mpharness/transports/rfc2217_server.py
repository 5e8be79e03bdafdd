"""An RFC 2217 server for one transport: a board's serial link shared over TCP.

Theory of operation
-------------------
:class:`Rfc2217Server` listens on a TCP port and serves one client at a time (a serial port has
one user; a connection arriving while one is served is told ``board in use by HOST:PORT since
...`` and closed). Whatever one client does (resetting its connection before it is accepted,
sending bytes the Telnet parser chokes on) ends that client only, logged without a traceback;
the accept thread never dies of it. RFC 2217 has no authentication: whoever reaches the port
drives the board (see ``mpharness.tools.serve`` for what that means and the default bind).

pyserial's :class:`serial.rfc2217.PortManager` does the Telnet/RFC 2217 work: it filters option
traffic out of the bytes the client sends and applies port settings (baud rate, DTR, RTS, ...) to
the object it is given, acknowledging each. Three daemon threads:

* *accept* blocks in ``select`` on the listening socket and a stop pipe;
* *net -> board* blocks in ``select`` on the client socket and the stop pipe, feeds what arrives
  through ``PortManager.filter`` and writes the data bytes to the transport;
* *board -> net* blocks in ``transport.read`` (at most :data:`STOP_CHECK` s, so a stop is seen),
  doubles IAC bytes and sends to the client, and lets the manager report modem-line changes.
  Board output while no client is connected is dropped, as on a line with no listener.

The object handed to the manager is a :class:`ServedLines`. Over a local serial port it forwards
every setting to the real pyserial port, so DTR/RTS sequences (esptool's resets) reach the board's
wires. Over anything else (virtual boards) it keeps the settings and emulates the ESP auto-reset
circuit (protocols.md §4.1): EN is low while ``RTS and not DTR``; when EN rises again the
transport's :meth:`~mpharness.transports.base.Transport.hard_reset` runs (the unix board restarts
its interpreter, the QEMU board restarts the machine). A bootloader entry (IO0 low as EN rises)
also just restarts: virtual boards have no ROM bootloader. The reset runs before the manager
acknowledges the line change, so the client's next step sees the restarted board. Every line
change is recorded in order (:attr:`ServedLines.changes`) for tests and logs.
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import socket
import threading
import time
from typing import Any

import serial
import serial.rfc2217

from mpharness.deadline import Deadline
from mpharness.errors import TransportError
from mpharness.transports.base import Transport
from mpharness.transports.reset_sequences import SetLine
from mpharness.transports.serial_link import BUSY_GREETING

__all__ = ["Rfc2217Server", "ServedLines"]

log = logging.getLogger(__name__)

STOP_CHECK = 0.25  #: s the board -> net thread may block in ``transport.read``
ACCEPT_BACKOFF = 0.05  #: s to pause after a failed ``accept`` (e.g. out of descriptors)
REFUSE_TIMEOUT = 1.0  #: s allowed to tell a second client who uses the board
HARD_RESET_BUDGET = 10.0  #: s allowed for a virtual board's restart after EN rises
IAC = b"\xff"  #: Telnet "interpret as command"; doubled in data
RECV_SIZE = 65536
_SETTINGS = {
    "baudrate": 115200,
    "bytesize": serial.EIGHTBITS,
    "parity": serial.PARITY_NONE,
    "stopbits": serial.STOPBITS_ONE,
    "xonxoff": False,
    "rtscts": False,
    "break_condition": False,
}


class ServedLines:
    """The port object the RFC 2217 manager configures (see the module docstring).

    Args:
        transport: the served board's transport.
        port: the real pyserial port behind it, or None to emulate the lines.
    """

    def __init__(self, transport: Transport, port: Any = None) -> None:
        object.__setattr__(self, "_transport", transport)
        object.__setattr__(self, "_port", port)
        object.__setattr__(self, "_values", dict(_SETTINGS, dtr=False, rts=False))
        object.__setattr__(self, "changes", [])  # list[SetLine], in arrival order
        object.__setattr__(self, "resets", 0)  # emulated EN-low -> high restarts

    def __getattr__(self, name: str) -> Any:
        values = object.__getattribute__(self, "_values")
        if name not in values:
            raise AttributeError(name)
        port = object.__getattribute__(self, "_port")
        return getattr(port, name) if port is not None else values[name]

    def __setattr__(self, name: str, value: Any) -> None:
        if name not in self._values:
            raise AttributeError(f"cannot set {name!r} on a served port")
        if name in ("dtr", "rts"):
            self._set_line(name, bool(value))
        elif self._port is not None:
            setattr(self._port, name, value)
        else:
            self._values[name] = value

    def _set_line(self, line: str, level: bool) -> None:
        self.changes.append(SetLine(line, level))  # type: ignore[arg-type]
        was_en_low = self._values["rts"] and not self._values["dtr"]
        self._values[line] = level
        if self._port is not None:
            try:
                setattr(self._port, line, level)
            except (serial.SerialException, OSError) as exc:  # a pty has no modem lines
                log.debug("cannot set %s on %s: %s", line, self._transport.url, exc)
            return
        en_low = self._values["rts"] and not self._values["dtr"]
        if was_en_low and not en_low:
            self._restart()

    def _restart(self) -> None:
        object.__setattr__(self, "resets", self.resets + 1)
        if not self._transport.can_hard_reset:
            log.info("EN released, but %s cannot hard-reset", self._transport.url)
            return
        log.info("EN released: hard-resetting %s", self._transport.url)
        try:
            self._transport.hard_reset(Deadline.after(HARD_RESET_BUDGET))
        except (TransportError, TimeoutError) as exc:
            log.warning("hard reset of %s failed: %s", self._transport.url, exc)

    # Modem status lines: a virtual board is always "there".
    @property
    def cts(self) -> bool:
        """Clear To Send (asserted on virtual boards)."""
        return self._status("cts", True)

    @property
    def dsr(self) -> bool:
        """Data Set Ready (asserted on virtual boards)."""
        return self._status("dsr", True)

    @property
    def ri(self) -> bool:
        """Ring Indicator (never on virtual boards)."""
        return self._status("ri", False)

    @property
    def cd(self) -> bool:
        """Carrier Detect (asserted on virtual boards)."""
        return self._status("cd", True)

    def _status(self, name: str, virtual: bool) -> bool:
        if self._port is None:
            return virtual
        try:
            return bool(getattr(self._port, name))
        except (serial.SerialException, OSError, ValueError):
            return False

    def reset_input_buffer(self) -> None:
        """Purge request from the client: drop unread input of a real port."""
        if self._port is not None:
            self._port.reset_input_buffer()

    def reset_output_buffer(self) -> None:
        """Purge request from the client: drop unsent output of a real port."""
        if self._port is not None:
            self._port.reset_output_buffer()


class _Client:
    """One connected client: a socket whose writes are serialised (two threads send).

    ``peer`` comes from ``accept`` (a client that already reset has no ``getpeername``).
    """

    def __init__(self, sock: socket.socket, peer: str) -> None:
        self.sock = sock
        self.lock = threading.Lock()
        self.peer = peer
        self.since = time.time()

    def write(self, data: bytes) -> None:
        with self.lock:
            self.sock.sendall(data)


class Rfc2217Server:
    """Shares ``transport`` as an RFC 2217 port on ``host:port`` (0 picks a free port).

    Use as a context manager, or :meth:`start` / :meth:`stop`. :attr:`address` is the bound
    ``(host, port)``; :attr:`lines` the :class:`ServedLines` (line changes, emulated resets).
    """

    def __init__(
        self,
        transport: Transport,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        serial_port: Any = None,
    ) -> None:
        self.transport = transport
        self.lines = ServedLines(transport, serial_port)
        self.error: TransportError | None = None
        self._listener = socket.create_server((host, port))
        self.address: tuple[str, int] = self._listener.getsockname()[:2]
        self._stop_r, self._stop_w = os.pipe()
        self._stopping = threading.Event()
        self._client: _Client | None = None
        self._manager: serial.rfc2217.PortManager | None = None
        self._client_lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._stopped = threading.Event()

    @property
    def url(self) -> str:
        """The ``rfc2217://host:port`` URL clients open."""
        return f"rfc2217://{self.address[0]}:{self.address[1]}"

    def start(self) -> Rfc2217Server:
        """Start accepting clients and forwarding board output."""
        for target, name in ((self._accept_loop, "accept"), (self._board_to_net, "out")):
            thread = threading.Thread(target=target, name=f"mpharness-rfc2217-{name}", daemon=True)
            self._threads.append(thread)
            thread.start()
        log.info("serving %s on %s", self.transport.url, self.url)
        return self

    def wait(self, timeout: float | None = None) -> bool:
        """Block until serving stopped (transport failure or :meth:`stop`); True if it did."""
        return self._stopped.wait(timeout)

    def stop(self) -> None:
        """Disconnect the client, stop listening and join the threads. Idempotent."""
        self._stopping.set()
        with contextlib.suppress(OSError):
            os.write(self._stop_w, b"x")
        for thread in self._threads:
            if thread is not threading.current_thread():
                thread.join(STOP_CHECK * 4)
        self._threads.clear()
        self._drop_client()
        for fd in (self._stop_r, self._stop_w):
            with contextlib.suppress(OSError):
                os.close(fd)
        self._stop_r = self._stop_w = -1
        self._listener.close()
        self._stopped.set()

    def __enter__(self) -> Rfc2217Server:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- threads ------------------------------------------------------------------------------

    def _accept_loop(self) -> None:
        while not self._stopping.is_set():
            try:
                ready, _, _ = select.select([self._listener, self._stop_r], [], [])
                if self._stop_r in ready:
                    return
                sock, address = self._listener.accept()
            except (OSError, ValueError) as exc:  # e.g. a client that reset while queued
                if self._stopping.is_set():
                    return
                log.debug("accept failed: %s", exc)
                self._stopping.wait(ACCEPT_BACKOFF)  # never spin on a lasting failure
                continue
            peer = _peer_name(address)
            try:
                self._take(sock, peer)
            except Exception as exc:  # one client's trouble stays with that client
                log.info("client %s dropped while connecting: %s", peer, exc)
                with contextlib.suppress(OSError):
                    sock.close()

    def _take(self, sock: socket.socket, peer: str) -> None:
        """Serve a new connection, or tell it who uses the board and close it."""
        with self._client_lock:
            current = self._client
        if current is not None:
            log.info("refused %s: the board is in use by %s", peer, current.peer)
            _refuse(sock, current)
            return
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        client = _Client(sock, peer)
        manager = serial.rfc2217.PortManager(self.lines, client, logger=None)  # sends options
        with self._client_lock:
            self._client, self._manager = client, manager
        log.info("client %s connected", client.peer)
        thread = threading.Thread(
            target=self._net_to_board,
            args=(client, manager),
            name="mpharness-rfc2217-in",
            daemon=True,
        )
        self._threads = [t for t in self._threads if t.is_alive()]
        self._threads.append(thread)
        thread.start()

    def _net_to_board(self, client: _Client, manager: serial.rfc2217.PortManager) -> None:
        try:
            while not self._stopping.is_set():
                ready, _, _ = select.select([client.sock, self._stop_r], [], [])
                if self._stop_r in ready:
                    return
                data = client.sock.recv(RECV_SIZE)
                if not data:
                    break
                payload = b"".join(manager.filter(data))
                if payload:
                    self.transport.write(payload)
        except TransportError as exc:
            self._fail(exc)
        except (OSError, ValueError) as exc:
            log.debug("client %s: %s", client.peer, exc)
        except Exception as exc:  # what garbage makes the Telnet parser raise: drop the client
            log.info(
                "client %s sent something unusable (%s: %s)", client.peer, type(exc).__name__, exc
            )
        finally:
            log.info("client %s disconnected", client.peer)
            self._drop_client(client)

    def _board_to_net(self) -> None:
        try:
            while not self._stopping.is_set():
                data = self.transport.read(Deadline.after(STOP_CHECK))
                with self._client_lock:
                    client, manager = self._client, self._manager
                if client is None or manager is None:
                    continue
                try:
                    if data:
                        client.write(data.replace(IAC, IAC + IAC))
                    manager.check_modem_lines()
                except OSError as exc:
                    log.debug("client %s: %s", client.peer, exc)
                except Exception as exc:  # this client's trouble: it goes, serving goes on
                    log.info("client %s dropped: %s: %s", client.peer, type(exc).__name__, exc)
                    self._drop_client(client)
        except TransportError as exc:
            self._fail(exc)

    def _drop_client(self, client: _Client | None = None) -> None:
        with self._client_lock:
            if self._client is None or (client is not None and client is not self._client):
                return
            gone, self._client, self._manager = self._client, None, None
        with contextlib.suppress(OSError):
            gone.sock.shutdown(socket.SHUT_RDWR)
        gone.sock.close()

    def _fail(self, exc: TransportError) -> None:
        if self._stopping.is_set():
            return
        log.warning("serving %s stopped: %s", self.transport.url, exc)
        self.error = exc
        self._stopping.set()
        with contextlib.suppress(OSError):
            os.write(self._stop_w, b"x")
        self._drop_client()
        self._stopped.set()


def _peer_name(address: Any) -> str:
    """``HOST:PORT`` of an accepted connection (``[v6]:PORT`` for IPv6)."""
    try:
        host, port = address[0], address[1]
    except (TypeError, IndexError):
        return str(address)
    return f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"


def _refuse(sock: socket.socket, current: _Client) -> None:
    """Tell a connection that arrived while ``current`` is served who has the board; close it."""
    since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(current.since))
    try:
        sock.settimeout(REFUSE_TIMEOUT)
        sock.sendall(BUSY_GREETING + f"{current.peer} since {since}\r\n".encode())
        sock.shutdown(socket.SHUT_WR)
    except OSError as exc:
        log.debug("could not tell a refused client why: %s", exc)
    finally:
        sock.close()
