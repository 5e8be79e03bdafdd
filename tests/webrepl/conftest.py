"""Fixtures for the WebREPL tests: a virtual WebREPL board with a known password, and a
byte-level websocket client for checking the server's bytes exactly."""

from __future__ import annotations

import base64
import os
import socket
import struct
from collections.abc import Iterator

import pytest

from mpharness.virtual.unix_board import open_unix_board
from mpharness.virtual.webrepl_board import WebReplServer
from tests.conftest import require_virtual_board

PASSWORD = "Pw-7x9qZ"  # 8 characters: WebREPL passwords have 4 to 9


@pytest.fixture(scope="module")
def server() -> Iterator[WebReplServer]:
    """A WebREPL server in front of a unix board, shared by a module's tests."""
    require_virtual_board("unix")
    board = open_unix_board(None, timeout=30.0)
    with WebReplServer(board, PASSWORD) as srv:
        yield srv


class RawClient:
    """A websocket client at the byte level (frames built and parsed by hand)."""

    def __init__(self, port: int, *, timeout: float = 5.0) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buf = b""

    def close(self) -> None:
        self.sock.close()

    def recv_exact(self, size: int) -> bytes:
        while len(self.buf) < size:
            data = self.sock.recv(65536)
            if not data:
                raise EOFError(f"EOF after {self.buf!r}")
            self.buf += data
        out, self.buf = self.buf[:size], self.buf[size:]
        return out

    def at_eof(self) -> bool:
        """True if the server closed the connection (after any pending bytes: output the
        board sent before the close is read and kept, not taken for an open connection).
        False if the connection is still open when the socket's timeout passes."""
        while True:
            try:
                data = self.sock.recv(65536)
            except ConnectionResetError:
                return True
            except TimeoutError:
                return False
            if not data:
                return True
            self.buf += data

    def upgrade(self, headers: str | None = None) -> bytes:
        """Send an upgrade request; returns the server's response head (or all it sent)."""
        key = base64.b64encode(os.urandom(16)).decode()
        if headers is None:
            headers = (
                f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                "Sec-WebSocket-Version: 13\r\n"
            )
        self.sock.sendall(f"GET / HTTP/1.1\r\nHost: x\r\n{headers}\r\n".encode())
        while b"\r\n\r\n" not in self.buf:
            data = self.sock.recv(4096)
            if not data:
                return self.buf
            self.buf += data
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        return head + b"\r\n\r\n"

    def send_frame(self, payload: bytes, opcode: int = 1, *, mask: bool = True) -> None:
        head = bytes([0x80 | opcode])
        bit = 0x80 if mask else 0
        if len(payload) < 126:
            head += bytes([bit | len(payload)])
        elif len(payload) < 65536:
            head += bytes([bit | 126]) + struct.pack(">H", len(payload))
        else:
            head += bytes([bit | 127]) + struct.pack(">Q", len(payload))
        if mask:
            key = os.urandom(4)
            payload = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
            head += key
        self.sock.sendall(head + payload)

    def recv_frame(self) -> tuple[int, bytes, bytes]:
        """(first header byte, raw header, payload)."""
        head = self.recv_exact(2)
        length = head[1] & 0x7F
        assert not head[1] & 0x80, "server frames are never masked"
        ext = b""
        if length == 126:
            ext = self.recv_exact(2)
            length = struct.unpack(">H", ext)[0]
        assert length != 127, "server never sends 64-bit lengths"
        return head[0], head + ext, self.recv_exact(length)

    def recv_binary(self) -> tuple[bytes, bytes]:
        """The next binary frame (header, payload), skipping REPL text frames."""
        while True:
            first, head, payload = self.recv_frame()
            if first != 0x81:
                assert first == 0x82
                return head, payload

    def login(self, password: str = PASSWORD) -> bytes:
        self.upgrade()
        assert self.recv_frame()[2] == b"Password: "
        self.send_frame(password.encode() + b"\r")
        return self.recv_frame()[2]

    def read_text_until(self, marker: bytes) -> bytes:
        out = b""
        while marker not in out:
            first, _, payload = self.recv_frame()
            assert first == 0x81
            out += payload
        return out


@pytest.fixture
def raw(server: WebReplServer) -> Iterator[RawClient]:
    """A byte-level client of ``server``; closed after the test (freeing the slot)."""
    clients: list[RawClient] = []

    def make() -> RawClient:
        client = RawClient(server.port)
        clients.append(client)
        return client

    yield make  # type: ignore[misc]
    for client in clients:
        client.close()
    assert server.wait_idle(5.0)
