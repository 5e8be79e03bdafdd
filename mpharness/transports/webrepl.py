"""WebREPL transport: the REPL over a websocket, plus WebREPL's binary file protocol.

Theory of operation
-------------------
The board's WebREPL server (protocols.md §6) speaks a websocket. We use websocket-client
with UTF-8 validation off (the raw-paste window bytes ``\\x80\\x00\\x01`` arrive in *text*
frames) and only its byte-level calls: REPL bytes go out as text frames (``ws.send(data,
opcode=OPCODE_TEXT)``, below 64 KiB each, since a 64-bit length makes the device drop the
socket) and come back as many small text frames read with ``recv_data``. Binary frames
belong to the file protocol (82-byte ``<2sBBQLH64s`` header, ``WB\\x00\\x00`` replies).

Receiving is ours, not websocket-client's (which reads a whole frame, believing any length):
:meth:`WebReplTransport.read` blocks in ``select`` on the socket for the deadline's remaining
time, takes what the socket has, and feeds it to a :class:`~mpharness.transports.ws_frames.
FrameParser`. A frame cut by the deadline continues on the next read, so every read ends by its
deadline however the peer sends, and memory stays bounded: text payload goes to the REPL byte
buffer as it arrives (a frame of any length is a stream), binary messages (the file calls'
replies) are held up to :data:`~mpharness.transports.ws_frames.MAX_BINARY` each and
:data:`MAX_BINARY_QUEUED` in all, and a frame announcing more than
:data:`~mpharness.transports.ws_frames.MAX_ANNOUNCED` bytes is refused (the link is dropped
with a message naming the length). Sends keep the socket's fixed :data:`IO_TIMEOUT`: a peer
that stops reading counts as a lost link. Text frames always land in the REPL byte buffer,
binary frames in a queue for the file calls, so output printed during a transfer is not lost.

Login: the device sends ``Password: ``; we answer ``<password>\\r`` and expect
``\\r\\nWebREPL connected\\r\\n>>> `` (stripped from the stream) or ``\\r\\nAccess denied\\r\\n``
(a :class:`ConnectError` at once). The login ends by its deadline whatever the peer sends, and
keeps only the last :data:`LOGIN_WINDOW` bytes of text while it looks for those answers. The
password is kept in one private attribute and never
logged, shown in a repr, put in a message or in :attr:`url`.

A soft reset tears the device's socket down: reads then raise :class:`TransportClosed`,
and :meth:`reconnect` connects and logs in again, retrying until its deadline (the board
needs a moment to restart its server; there is nothing to block on meanwhile, so it backs
off briefly between tries).
"""

from __future__ import annotations

import collections
import contextlib
import logging
import select
import socket
import ssl
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import websocket
from websocket import ABNF

from mpharness.deadline import Deadline
from mpharness.errors import ConnectError, TransportClosed
from mpharness.secret import Secret, redact_url
from mpharness.transports.base import Transport
from mpharness.transports.webrepl_files import WebReplFileOps, file_header
from mpharness.transports.ws_frames import (
    BinaryMessage,
    Close,
    FrameError,
    FrameParser,
    Ping,
    TextData,
)

__all__ = [
    "PASSWORD_PROMPT",
    "Secret",
    "WebReplTransport",
    "file_header",
    "open_webrepl",
]

log = logging.getLogger(__name__)

PASSWORD_PROMPT = b"Password: "
CONNECTED = b"\r\nWebREPL connected\r\n>>> "
DENIED = b"Access denied"
DEFAULT_PORT = 8266
#: s a started frame (or a send) may stall before the link counts as dead
IO_TIMEOUT = 10.0
#: largest frame we send: a 16-bit websocket length (the device drops 64-bit ones)
MAX_FRAME = 0xFFFF
CLOSE_WAIT = 0.5  #: s to wait for the board's answer to our close frame
#: s during which a "another client is connected" refusal is retried when opening (our own
#: previous session may still be closing on the board)
BUSY_GRACE = 1.0
RETRY_BACKOFF = (0.05, 0.1, 0.2, 0.4)  #: s between reconnect tries
RECV_SIZE = 65536  #: bytes taken from the socket at a time
#: binary bytes held unasked (the file protocol asks for one reply at a time)
MAX_BINARY_QUEUED = 1024 * 1024
#: bytes of text kept while looking for the password prompt or the login answer
LOGIN_WINDOW = 4096
#: bytes read at most while waiting for the answer to our close frame
CLOSE_DRAIN = 256 * 1024


def safe_url(url: str) -> str:
    """``url`` without any user-info part (``ws://user:pw@host`` -> ``ws://host``)."""
    return redact_url(url)


class WebReplTransport(WebReplFileOps, Transport):
    """A logged-in WebREPL session (see the module docstring).

    Use :func:`open_webrepl`. Not for concurrent use except :meth:`write` of a Ctrl-C from
    another thread while one thread reads.
    """

    def __init__(self, url: str, password: str | Secret, *, io_timeout: float = IO_TIMEOUT) -> None:
        self.url = safe_url(url)
        self._password = Secret(password)
        self._io_timeout = io_timeout
        self._ws: websocket.WebSocket | None = None
        self._buf = bytearray()  # REPL bytes not yet read
        self._binary: collections.deque[bytes] = collections.deque()
        self._parser = FrameParser()
        self._closed = False
        self._lock = threading.Lock()
        #: called once by :meth:`close` (e.g. to stop a virtual board's server)
        self.on_close: list[Callable[[], None]] = []
        #: the local server of a virtual board (``webrepl:``), else None
        self.server: Any = None

    def __repr__(self) -> str:
        state = "closed" if self.closed else "open"
        return f"<WebReplTransport {self.url} {state}>"

    # -- Transport API ------------------------------------------------------------------------
    @property
    def closed(self) -> bool:
        return self._closed or self._ws is None

    @property
    def binary_clean(self) -> bool:
        """False: the REPL travels in text frames, which must be UTF-8."""
        return False

    @property
    def can_reconnect(self) -> bool:
        return not self._closed

    def write(self, data: bytes) -> None:
        ws = self._require_ws()
        view = memoryview(data)
        try:
            for start in range(0, len(view), MAX_FRAME):
                ws.send(bytes(view[start : start + MAX_FRAME]), opcode=ABNF.OPCODE_TEXT)
        except (websocket.WebSocketException, OSError) as err:
            raise self._lost(err) from err

    def read(self, deadline: Deadline, size: int = 65536) -> bytes:
        while not self._buf:
            progressed = self._next_frame(deadline)
            if not self._buf and (not progressed or deadline.expired()):
                return b""
        data = bytes(self._buf[:size])
        del self._buf[:size]
        return data

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._drop()
        callbacks, self.on_close = self.on_close, []
        for callback in callbacks:
            try:
                callback()
            except Exception:  # a failing cleanup must not hide the others
                log.exception("WebREPL close callback failed")

    def reconnect(self, deadline: Deadline) -> None:
        """Connect and log in again (after a soft reset dropped the socket).

        Retries refused or dropped connections until the deadline; a refused password fails
        at once.

        Raises:
            ConnectError: no session by the deadline, or the password was refused.
        """
        if self._closed:
            raise TransportClosed(f"WebREPL transport to {self.url} is closed")
        self._drop()
        self._buf.clear()
        self._binary.clear()
        tries = 0
        while True:
            try:
                self.connect(deadline)
                return
            except _PasswordRefused:
                raise
            except ConnectError as err:
                remaining = deadline.remaining()
                pause = RETRY_BACKOFF[min(tries, len(RETRY_BACKOFF) - 1)]
                if remaining is not None and remaining <= pause:
                    raise ConnectError(f"WebREPL reconnect to {self.url} failed: {err}") from err
                log.debug("WebREPL reconnect to %s: %s; retrying", self.url, err)
                tries += 1
                time.sleep(pause)  # the board's server is down: nothing to block on

    # -- connecting ---------------------------------------------------------------------------
    def connect(self, deadline: Deadline) -> None:
        """Open the websocket and log in.

        Raises:
            ConnectError: no connection, no password prompt, or the password was refused.
        """
        timeout = deadline.remaining()
        if timeout is not None:
            timeout = max(0.05, timeout)
        try:
            ws = websocket.create_connection(
                self.url,
                timeout=self._io_timeout
                if timeout is None
                else max(0.05, min(timeout, self._io_timeout)),
                skip_utf8_validation=True,
                enable_multithread=True,
            )
        except (websocket.WebSocketException, OSError) as err:
            raise ConnectError(f"cannot connect to WebREPL at {self.url}: {err}") from None
        ws.settimeout(self._io_timeout)
        self._parser = FrameParser()
        self._ws = ws
        try:
            self._login(deadline)
        except BaseException:
            self._drop()
            raise
        log.debug("WebREPL session open at %s", self.url)

    def _login(self, deadline: Deadline) -> None:
        self._await_text(PASSWORD_PROMPT, deadline, "the password prompt")
        self._buf.clear()
        assert self._ws is not None
        try:
            self._ws.send(self._password.reveal().encode("utf-8") + b"\r", opcode=ABNF.OPCODE_TEXT)
        except (websocket.WebSocketException, OSError) as err:
            raise ConnectError(f"WebREPL at {self.url} dropped during login: {err}") from None
        self._await_text(CONNECTED, deadline, "the login answer")
        del self._buf[: self._buf.find(CONNECTED) + len(CONNECTED)]

    def _await_text(self, marker: bytes, deadline: Deadline, what: str) -> None:
        while marker not in self._buf:
            del self._buf[:-LOGIN_WINDOW]  # a chattering peer: keep the tail only
            if DENIED in self._buf:
                raise _PasswordRefused(
                    f"WebREPL password refused by {self.url} (WebREPL passwords have 4 to 9 "
                    "characters)"
                )
            try:
                got = self._next_frame(deadline)
            except TransportClosed as err:
                if isinstance(err.__cause__, FrameError):
                    raise ConnectError(f"WebREPL at {self.url}, before {what}: {err}") from None
                if DENIED in self._buf:
                    continue
                if marker == PASSWORD_PROMPT:
                    raise _Busy(
                        f"WebREPL at {self.url} closed the connection before {what} (is "
                        "another WebREPL client connected?)"
                    ) from None
                raise ConnectError(
                    f"WebREPL at {self.url} closed the connection before {what}"
                ) from None

            if marker in self._buf:
                break
            if not got or deadline.expired():
                raise ConnectError(
                    f"WebREPL at {self.url}: {what} did not come within {deadline.budget:.3g} s"
                )

    # -- frames -------------------------------------------------------------------------------
    def _require_ws(self) -> websocket.WebSocket:
        ws = self._ws
        if ws is None:
            raise TransportClosed(f"WebREPL link to {self.url} is closed")
        return ws

    def _lost(self, err: BaseException) -> TransportClosed:
        self._drop()
        detail = f"{type(err).__name__}: {err}" if str(err) else type(err).__name__
        return TransportClosed(f"WebREPL link to {self.url} dropped ({detail})")

    def _drop(self) -> None:
        with self._lock:
            ws, self._ws = self._ws, None
        if ws is None:
            return
        sock = ws.sock
        with contextlib.suppress(Exception):  # the board answers 88 00 and frees its slot
            if sock is not None:
                sock.settimeout(CLOSE_WAIT)
                ws.send_close()
                self._await_close(sock, Deadline.after(CLOSE_WAIT))
        with contextlib.suppress(Exception):
            ws.shutdown()

    def _await_close(self, sock: socket.socket, deadline: Deadline) -> None:
        """Read (and discard) until the peer's close frame, EOF, the deadline or
        :data:`CLOSE_DRAIN` bytes: never websocket-client's whole-frame reads."""
        parser = FrameParser()
        drained = 0
        while drained < CLOSE_DRAIN:
            ready, _, _ = select.select([sock], [], [], deadline.remaining())
            if not ready:
                return
            data = sock.recv(RECV_SIZE)
            drained += len(data)
            if not data or any(isinstance(e, Close) for e in parser.feed(data)):
                return

    def _wait_readable(self, ws: websocket.WebSocket, deadline: Deadline) -> bool:
        sock = ws.sock
        if sock is None:
            raise TransportClosed(f"WebREPL link to {self.url} is closed")
        pending = getattr(sock, "pending", None)  # TLS may hold decrypted bytes
        if pending is not None and pending():
            return True
        try:
            ready, _, _ = select.select([sock], [], [], deadline.remaining())
        except (OSError, ValueError) as err:
            raise self._lost(err) from err
        return bool(ready)

    def _next_frame(self, deadline: Deadline) -> bool:
        """Take what the socket has (waiting at most until the deadline) and parse it: text to
        the REPL buffer, binary messages to their queue. False if nothing came."""
        ws = self._require_ws()
        if not self._wait_readable(ws, deadline):
            return False
        data = self._recv(ws, deadline)
        if data is None:
            return True  # a TLS record still incomplete: nothing to parse yet
        try:
            events = self._parser.feed(data)
        except FrameError as err:
            raise self._lost(err) from err
        if not events and self._parser.error is not None:
            raise self._lost(self._parser.error)
        for event in events:
            if isinstance(event, TextData):
                self._buf += event.data
            elif isinstance(event, BinaryMessage):
                self._queue_binary(event.data)
            elif isinstance(event, Ping):
                self._pong(ws, event.data)
            elif isinstance(event, Close):
                raise self._lost(ConnectionResetError("closed by the board"))
        return True

    def _recv(self, ws: websocket.WebSocket, deadline: Deadline) -> bytes | None:
        """Bytes from a readable socket; None if a TLS record is still incomplete."""
        sock = ws.sock
        if sock is None:
            raise TransportClosed(f"WebREPL link to {self.url} is closed")
        try:
            if isinstance(sock, ssl.SSLSocket):  # a partial record must not block past it
                remaining = deadline.remaining()
                if remaining is not None:
                    sock.settimeout(max(0.01, min(remaining, self._io_timeout)))
                try:
                    data = sock.recv(RECV_SIZE)
                finally:
                    sock.settimeout(self._io_timeout)
            else:
                data = sock.recv(RECV_SIZE)
        except (ssl.SSLWantReadError, BlockingIOError, TimeoutError):
            return None
        except OSError as err:
            raise self._lost(err) from err
        if not data:
            raise self._lost(ConnectionResetError("the connection closed"))
        return data

    def _queue_binary(self, data: bytes) -> None:
        if sum(map(len, self._binary)) + len(data) > MAX_BINARY_QUEUED:
            raise self._lost(
                FrameError(f"more than {MAX_BINARY_QUEUED} bytes of unasked binary frames")
            )
        self._binary.append(data)

    def _pong(self, ws: websocket.WebSocket, data: bytes) -> None:
        try:
            ws.pong(data)
        except (websocket.WebSocketException, OSError) as err:
            raise self._lost(err) from err

    # -- file protocol ------------------------------------------------------------------------
    def _send_binary(self, data: bytes) -> None:
        ws = self._require_ws()
        try:
            ws.send(data, opcode=ABNF.OPCODE_BINARY)
        except (websocket.WebSocketException, OSError) as err:
            raise self._lost(err) from err

    def _binary_frame(self, deadline: Deadline, what: str) -> bytes:
        while not self._binary:
            if deadline.expired():
                raise TimeoutError(f"WebREPL at {self.url}: no answer to {what} in time")
            try:
                got = self._next_frame(deadline)
            except TransportClosed as err:
                raise TransportClosed(
                    f"{err}; during {what} (a missing file or a failed open makes a real board "
                    "drop the WebREPL connection)"
                ) from None
            if not got:
                raise TimeoutError(f"WebREPL at {self.url}: no answer to {what} in time")
        return self._binary.popleft()


class _PasswordRefused(ConnectError):
    """The board answered ``Access denied``."""


class _Busy(ConnectError):
    """The board closed the connection at once: it serves another client."""


def open_webrepl(
    url: str, *, password: str | Secret | None = None, timeout: float | None = 10.0
) -> WebReplTransport:
    """Connect to a board's WebREPL and log in.

    Args:
        url: ``ws://host[:port][/]`` (port 8266 if none) or ``wss://...``.
        password: the WebREPL password (from the rig's ``password`` or
            ``$MPHARNESS_WEBREPL_PASSWORD``); never logged.
        timeout: budget in seconds for connecting and logging in.

    Returns:
        A logged-in transport; the device's greeting is already consumed, so the next bytes
        are what the REPL prints.

    Raises:
        ConnectError: no password, no connection, another client is connected, or the
            password was refused.
    """
    clean = safe_url(url)
    if not password:
        raise ConnectError(
            f"WebREPL at {clean} needs a password: set the board's 'password' key in the rig "
            "file or the MPHARNESS_WEBREPL_PASSWORD environment variable"
        )
    parts = urlsplit(clean)
    if parts.port is None and parts.hostname:
        clean = urlunsplit(parts._replace(netloc=f"{parts.netloc}:{DEFAULT_PORT}"))
    transport = WebReplTransport(clean, password)
    deadline = Deadline.after(timeout)
    grace = deadline.sooner(BUSY_GRACE)
    for pause in (*RETRY_BACKOFF, None):
        try:
            transport.connect(deadline)
            return transport
        except _Busy:
            remaining = grace.remaining()
            if pause is None or (remaining is not None and remaining < pause):
                raise
            time.sleep(pause)  # maybe our own previous session is still closing
    raise AssertionError("unreachable")
