"""A WebREPL virtual board: MicroPython's WebREPL server in front of a unix board.

Theory of operation
-------------------
:class:`WebReplServer` listens on a TCP port and behaves like a board running
``webrepl.start()`` (micropython-lib ``webrepl.py`` + ``extmod/modwebrepl.c``, protocols.md
§6), with a :class:`~mpharness.virtual.unix_board.UnixBoardTransport` as the board:

* The HTTP upgrade is handled by :mod:`mpharness.virtual.ws_device`. One client at a time:
  a second client gets the ``101`` and then an immediate close.
* The session sends ``Password: `` and collects up to 10 password characters until ``\\r``
  or ``\\n`` (from any frame type), then answers ``\\r\\nWebREPL connected\\r\\n>>> `` or
  ``\\r\\nAccess denied\\r\\n`` and closes. Board output is dropped until then.
* Text frames are REPL input, written to the board (a Ctrl-C as a write of its own, so it
  becomes an interrupt); binary frames feed the file-protocol state machine
  (:class:`FileProtocol`) acting on the board's ``root_dir``. Like the real device, an open
  failure (a missing file on GET, a missing directory on PUT) ends the session.
* One pump thread reads the board and sends each read as one text frame. When the board
  soft-resets (the unix board switches interpreters, so its ``pid`` changes) the output up
  to ``MPY: soft reboot\\r\\n`` is sent and the connection is dropped, as a real board's
  socket dies with its VM; the client reconnects and logs in again.

:func:`open_webrepl_board` (the ``webrepl:`` URL, built-in board ``webrepl``) starts a unix
board and a server on 127.0.0.1 with a random port and password and returns a logged-in
:class:`~mpharness.transports.webrepl.WebReplTransport` that stops both when closed.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import select
import socket
import threading
from typing import Any

from mpharness.deadline import Deadline
from mpharness.errors import ConfigError, TransportClosed
from mpharness.protocol.constants import CTRL_C
from mpharness.secret import Secret
from mpharness.transports.base import Transport
from mpharness.virtual.webrepl_files import FileProtocol, SessionKilled, firmware_version
from mpharness.virtual.ws_device import (
    OP_BINARY,
    OP_TEXT,
    DeviceSocket,
    WsClosed,
    frame_bytes,
    server_handshake,
)

__all__ = ["VIRTUAL_URLS", "FileProtocol", "WebReplServer", "open_webrepl_board"]

log = logging.getLogger(__name__)

PASSWORD_PROMPT = b"Password: "
CONNECTED = b"\r\nWebREPL connected\r\n>>> "
DENIED = b"\r\nAccess denied\r\n"
#: URLs naming the virtual board (the unix board behind a WebREPL server)
VIRTUAL_URLS = ("webrepl:", "webrepl:unix")
SOFT_REBOOT_LINE = b"MPY: soft reboot\r\n"
MAX_PASSWORD_CHARS = 10  #: characters the device keeps of what is typed
STOP_CHECK = 0.25  #: s the pump blocks in the board's read before checking for a stop
HANDSHAKE_TIMEOUT = 5.0


class _Client:
    """One accepted, upgraded connection."""

    def __init__(self, ws: DeviceSocket, addr: Any) -> None:
        self.ws = ws
        self.addr = addr
        self.logged_in = False

    def drop(self) -> None:
        self.ws.close()


class WebReplServer:
    """A WebREPL server in front of a board transport (see the module docstring).

    Args:
        board: the board (usually a unix board); closed by :meth:`close` if ``own_board``.
        password: the WebREPL password (the device keeps at most 9 characters).
        host, port: where to listen (port 0: a free port; see :attr:`port`).
        root_dir: the directory file operations act on (default ``board.root_dir``).
        own_board: close the board with the server.
    """

    def __init__(
        self,
        board: Transport,
        password: str,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        root_dir: str | None = None,
        own_board: bool = True,
    ) -> None:
        self.board = board
        self._password = Secret(password)
        self.root_dir = root_dir if root_dir is not None else getattr(board, "root_dir", "")
        self.own_board = own_board
        self._listen = socket.create_server((host, port), backlog=1)
        self.host, self.port = self._listen.getsockname()[:2]
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._client: _Client | None = None
        self._stopping = threading.Event()
        self._stop_r, self._stop_w = os.pipe()
        self._threads: list[threading.Thread] = []
        self._board_pid = getattr(board, "pid", None)
        self.error: str | None = None
        #: logged-in sessions so far (a reconnect after a soft reset adds one)
        self.sessions = 0

    def __repr__(self) -> str:
        return f"<WebReplServer ws://{self.host}:{self.port}/>"

    @property
    def url(self) -> str:
        """The ``ws://`` URL to connect to."""
        return f"ws://{self.host}:{self.port}/"

    def start(self) -> WebReplServer:
        """Start accepting clients and pumping board output."""
        for target, name in ((self._accept_loop, "accept"), (self._pump_loop, "pump")):
            thread = threading.Thread(target=target, name=f"webrepl-{name}", daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def close(self) -> None:
        """Stop the server, drop the client and (if owned) close the board. Idempotent."""
        if self._stopping.is_set():
            return
        self._stopping.set()
        with contextlib.suppress(OSError):
            os.write(self._stop_w, b"x")
        self._drop_client(None)
        for thread in self._threads:
            if thread is not threading.current_thread():
                thread.join(timeout=2.0)
        self._listen.close()
        os.close(self._stop_r)
        os.close(self._stop_w)
        if self.own_board:
            self.board.close()

    def wait_idle(self, timeout: float | None = 5.0) -> bool:
        """Wait until no client is connected (the slot is free); False on timeout."""
        with self._idle:
            return self._idle.wait_for(lambda: self._client is None, timeout)

    def __enter__(self) -> WebReplServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- accepting ----------------------------------------------------------------------------
    def _accept_loop(self) -> None:
        while not self._stopping.is_set():
            try:
                ready, _, _ = select.select([self._listen, self._stop_r], [], [])
            except (OSError, ValueError):
                return
            if self._stop_r in ready or self._stopping.is_set():
                return
            try:
                sock, addr = self._listen.accept()
            except OSError:
                continue
            thread = threading.Thread(
                target=self._serve, args=(sock, addr), name="webrepl-client", daemon=True
            )
            thread.start()

    def _serve(self, sock: socket.socket, addr: Any) -> None:
        sock.settimeout(HANDSHAKE_TIMEOUT)
        try:
            reader = server_handshake(sock)
        except (WsClosed, OSError):
            reader = None
        if reader is None:
            sock.close()
            return
        sock.settimeout(None)
        client = _Client(DeviceSocket(sock, reader), addr)
        with self._lock:
            busy = self._client is not None or self._stopping.is_set() or self.error is not None
            if not busy:
                self._client = client
        if busy:
            log.info("Concurrent WebREPL connection from %s rejected", addr)
            client.drop()
            return
        log.info("WebREPL connection from: %s", addr)
        farewell = b""
        try:
            self._session(client)
        except (WsClosed, SessionKilled) as err:
            log.debug("WebREPL session from %s ended: %s", addr, err)
            farewell = getattr(err, "farewell", b"")
        finally:
            self._drop_client(client, farewell)

    # -- one session --------------------------------------------------------------------------
    def _session(self, client: _Client) -> None:
        client.ws.send(PASSWORD_PROMPT)
        typed = bytearray()
        files = FileProtocol(
            self.root_dir,
            lambda data: client.ws.send(data, OP_BINARY),
            firmware_version(getattr(self.board, "executable", None)),
        )
        try:
            while True:
                opcode, payload = client.ws.recv()
                if not client.logged_in:
                    payload = self._login(client, typed, payload)
                if not payload:
                    continue
                if opcode == OP_TEXT:
                    self._to_board(payload)
                else:
                    files.feed(payload)
        finally:
            files.close()

    def _login(self, client: _Client, typed: bytearray, payload: bytes) -> bytes:
        """Feed password bytes; returns what follows the end of the password, if any."""
        for index, byte in enumerate(payload):
            if byte not in (0x0D, 0x0A):
                if len(typed) < MAX_PASSWORD_CHARS:
                    typed.append(byte)
                continue
            if not secrets.compare_digest(bytes(typed), self._password.reveal().encode("utf-8")):
                raise WsClosed("access denied", farewell=frame_bytes(DENIED, OP_TEXT))
            typed.clear()
            client.logged_in = True
            self.sessions += 1
            client.ws.send(CONNECTED)
            return payload[index + 1 :]
        return b""

    def _to_board(self, data: bytes) -> None:
        """REPL input; a Ctrl-C goes as a write of its own so it becomes an interrupt."""
        try:
            for part in _split_ctrl_c(data):
                self.board.write(part)
        except TransportClosed as err:
            raise WsClosed(f"board gone: {err}") from None

    def _drop_client(self, client: _Client | None, farewell: bytes = b"") -> None:
        """Forget and close ``client`` (None: whoever is connected).

        The slot is free before ``farewell`` (last bytes) is sent and the socket closed, so
        a client that reconnects as soon as it sees them is not refused as concurrent.
        """
        with self._lock:
            current = self._client
            if client is None:
                client = current
            if client is not None and client is current:
                self._client = None
                self._idle.notify_all()
        if client is not None:
            if farewell:
                with contextlib.suppress(WsClosed):
                    client.ws.send_raw(farewell)
            client.drop()

    # -- board output -------------------------------------------------------------------------
    def _pump_loop(self) -> None:
        while not self._stopping.is_set():
            try:
                data = self.board.read(Deadline.after(STOP_CHECK))
            except TransportClosed as err:
                self.error = str(err)
                log.info("WebREPL board gone: %s", err)
                self._drop_client(None)
                return
            if data:
                self._forward(data)

    def _forward(self, data: bytes) -> None:
        pid = getattr(self.board, "pid", None)
        rebooted = pid != self._board_pid
        self._board_pid = pid
        cut = data.rfind(SOFT_REBOOT_LINE) if rebooted else -1
        if cut >= 0:
            data = data[: cut + len(SOFT_REBOOT_LINE)]
        with self._lock:
            client = self._client
        if client is not None and client.logged_in and data:
            try:
                client.ws.send(data, OP_TEXT)
            except WsClosed:
                self._drop_client(client)
        if rebooted:
            log.info("WebREPL board restarted: dropping the connection")
            self._drop_client(None)


def _split_ctrl_c(data: bytes) -> list[bytes]:
    parts: list[bytes] = []
    for index, piece in enumerate(data.split(CTRL_C)):
        if index:
            parts.append(CTRL_C)
        if piece:
            parts.append(piece)
    return parts


def open_webrepl_board(url: str = "webrepl:", *, timeout: float | None = 10.0) -> Transport:
    """Start a unix board behind a WebREPL server and connect to it.

    ``url`` is ``webrepl:`` (or ``webrepl:unix``).

    The server listens on 127.0.0.1 on a free port with a random password; the returned
    :class:`~mpharness.transports.webrepl.WebReplTransport` stops the server and the board
    when it is closed (``transport.server`` is the :class:`WebReplServer`).

    Raises:
        ConfigError: another ``webrepl:`` URL (real boards use ``ws://``).
        ConnectError: the board or the server did not start.
    """
    from mpharness.transports.webrepl import open_webrepl
    from mpharness.virtual.unix_board import open_unix_board

    if url.strip().lower() not in VIRTUAL_URLS:
        raise ConfigError(
            f"unknown WebREPL URL {url!r}: the virtual board is 'webrepl:'; "
            "real boards' WebREPL URLs start with ws://"
        )
    deadline = Deadline.after(timeout)
    board = open_unix_board(None, timeout=deadline.remaining())
    password = secrets.token_urlsafe(6)[:9]
    try:
        server = WebReplServer(board, password).start()
    except BaseException:
        board.close()
        raise
    try:
        transport = open_webrepl(server.url, password=password, timeout=deadline.remaining())
    except BaseException:
        server.close()
        raise
    transport.on_close.append(server.close)
    transport.server = server
    return transport


def main(argv: list[str] | None = None) -> int:
    """``python -m mpharness.virtual.webrepl_board [--host H] [--port N]``: serve a virtual
    WebREPL board for other tools until Ctrl-C. The password is taken from
    ``$MPHARNESS_WEBREPL_PASSWORD`` (never printed), so ``mpharness`` clients in the same
    environment log in with ``ws://HOST:PORT``."""
    import argparse
    import signal
    import sys

    from mpharness.rigs.boardspec import PASSWORD_ENV
    from mpharness.virtual.unix_board import open_unix_board

    parser = argparse.ArgumentParser(prog="python -m mpharness.virtual.webrepl_board")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=8266, help="TCP port (0: any free one)")
    args = parser.parse_args(argv)
    password = os.environ.get(PASSWORD_ENV, "")
    if not 4 <= len(password) <= 9:
        sys.stderr.write(f"set {PASSWORD_ENV} to the WebREPL password (4 to 9 characters)\n")
        return 2
    board = open_unix_board(None, timeout=30.0)
    try:
        server = WebReplServer(board, password, host=args.host, port=args.port).start()
    except OSError as err:
        board.close()
        sys.stderr.write(f"cannot listen on {args.host}:{args.port}: {err}\n")
        return 1
    sys.stdout.write(f"virtual WebREPL board at {server.url} (Ctrl-C stops)\n")
    sys.stdout.flush()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
