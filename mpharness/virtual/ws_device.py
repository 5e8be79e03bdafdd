"""The device side of a websocket, as MicroPython's WebREPL server speaks it.

Theory of operation
-------------------
:func:`server_handshake` reads the HTTP request the way micropython-lib ``webrepl.py`` does:
skip the request line, split each header line once at ``:``, compare names case-sensitively
(``Sec-WebSocket-Key`` required, ``Connection`` must contain ``Upgrade``, ``Upgrade`` must be
exactly ``websocket``) and answer ``101`` with the accept key. Anything else gets the small
HTTP/1.0 page and a close.

:class:`DeviceSocket` then reads frames like ``modwebsocket.c``: masked or unmasked, 7- or
16-bit lengths (a 64-bit length is an I/O error: the device closes), pings and pongs
ignored (no pong is ever sent), a close answered with ``88 00`` and then EOF. Continuation
frames keep the type of the data frame they continue. It writes unmasked, unfragmented
frames, text (``0x81``) for REPL output and binary (``0x82``) for file-protocol replies.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import socket
import struct
import threading

__all__ = ["DeviceSocket", "WsClosed", "accept_key", "frame_bytes", "server_handshake"]

WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
FIN = 0x80
MASKED = 0x80
LEN16, LEN64 = 126, 127
CLOSE_REPLY = b"\x88\x00"
MAX_PAYLOAD = 0xFFFF  #: the device never sends more in one frame
MAX_HEADER_LINE = 4096
STATIC_HOST = "https://micropython.org/webrepl/"


class WsClosed(Exception):
    """The connection ended (EOF, a close frame, an I/O error or a 64-bit length).

    Attributes:
        farewell: raw bytes to send before closing (the close reply, a last frame).
    """

    def __init__(self, message: str, farewell: bytes = b"") -> None:
        super().__init__(message)
        self.farewell = farewell


def frame_bytes(data: bytes, opcode: int) -> bytes:
    """``data`` as unmasked, unfragmented frames of at most 65535 bytes each."""
    out = bytearray()
    for start in range(0, max(len(data), 1), MAX_PAYLOAD):
        chunk = data[start : start + MAX_PAYLOAD]
        if len(chunk) < LEN16:
            out += struct.pack(">BB", FIN | opcode, len(chunk))
        else:
            out += struct.pack(">BBH", FIN | opcode, LEN16, len(chunk))
        out += chunk
    return bytes(out)


def accept_key(key: bytes) -> bytes:
    """``Sec-WebSocket-Accept`` for a ``Sec-WebSocket-Key``."""
    return base64.b64encode(hashlib.sha1(key + WS_GUID).digest())


class _Reader:
    """Exact reads from a blocking socket (with a small look-ahead buffer)."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buf = bytearray()

    def _fill(self) -> None:
        try:
            data = self.sock.recv(65536)
        except OSError as err:
            raise WsClosed(f"socket error: {err}") from None
        if not data:
            raise WsClosed("EOF")
        self.buf += data

    def exact(self, size: int) -> bytes:
        while len(self.buf) < size:
            self._fill()
        data = bytes(self.buf[:size])
        del self.buf[:size]
        return data

    def line(self) -> bytes:
        while b"\n" not in self.buf:
            if len(self.buf) > MAX_HEADER_LINE:
                raise WsClosed("header line too long")
            self._fill()
        end = self.buf.index(b"\n") + 1
        data = bytes(self.buf[:end])
        del self.buf[:end]
        return data


def server_handshake(sock: socket.socket) -> _Reader | None:
    """Do the HTTP upgrade; the frame reader on success, None after answering with the page.

    Raises:
        WsClosed: the client went away (or sent a header line without ``:``).
    """
    reader = _Reader(sock)
    reader.line()  # request line, not looked at
    key, upgrade, websocket = b"", False, False
    while True:
        line = reader.line()
        if line == b"\r\n":
            break
        if b":" not in line:
            raise WsClosed("malformed header line")
        name, value = (part.strip() for part in line.split(b":", 1))
        if name == b"Sec-WebSocket-Key":
            key = value
        elif name == b"Connection" and b"Upgrade" in value:
            upgrade = True
        elif name == b"Upgrade" and value == b"websocket":
            websocket = True
    if not (upgrade and websocket and key):
        page = (
            b'HTTP/1.0 200 OK\r\n\r\n<base href="' + STATIC_HOST.encode() + b'"></base>\r\n'
            b'<script src="webrepl_content.js"></script>\r\n'
        )
        sock.sendall(page)
        return None
    sock.sendall(
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: " + accept_key(key) + b"\r\n\r\n"
    )
    return reader


class DeviceSocket:
    """Frames on an upgraded connection, device side. Sends are thread-safe."""

    def __init__(self, sock: socket.socket, reader: _Reader) -> None:
        self.sock = sock
        self._reader = reader
        self._send_lock = threading.Lock()
        self._data_type = OP_TEXT

    def recv(self) -> tuple[int, bytes]:
        """The next data frame as ``(OP_TEXT or OP_BINARY, payload)``.

        Raises:
            WsClosed: EOF, a close frame (``farewell`` is the ``88 00`` reply) or a 64-bit
                length.
        """
        while True:
            head = self._reader.exact(2)
            opcode, length = head[0] & 0x0F, head[1] & 0x7F
            if length == LEN64:
                raise WsClosed("64-bit frame length (EIO)")
            if length == LEN16:
                length = struct.unpack(">H", self._reader.exact(2))[0]
            mask = self._reader.exact(4) if head[1] & MASKED else b""
            payload = self._reader.exact(length)
            if mask:
                payload = _unmask(payload, mask)
            if opcode == OP_CLOSE:
                raise WsClosed("close frame", farewell=CLOSE_REPLY)
            if opcode in (OP_TEXT, OP_BINARY):
                self._data_type = opcode
            elif opcode != OP_CONT:
                continue  # ping, pong, reserved: ignored, never answered
            if payload:
                return self._data_type, payload

    def send(self, data: bytes, opcode: int = OP_TEXT) -> None:
        """Send ``data`` as unmasked frames of at most 65535 bytes.

        Raises:
            WsClosed: the socket is gone.
        """
        self.send_raw(frame_bytes(data, opcode))

    def send_raw(self, data: bytes) -> None:
        """Send bytes as they are (already framed)."""
        with self._send_lock:
            try:
                self.sock.sendall(data)
            except OSError as err:
                raise WsClosed(f"send failed: {err}") from None

    def close(self) -> None:
        """Close the connection at once (idempotent)."""
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()


def _unmask(payload: bytes, mask: bytes) -> bytes:
    count = len(payload)
    key = int.from_bytes((mask * (count // 4 + 1))[:count], "big")
    return (int.from_bytes(payload, "big") ^ key).to_bytes(count, "big")
