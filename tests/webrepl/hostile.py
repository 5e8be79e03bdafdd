"""A hostile WebREPL peer: a websocket server that never behaves, for transport and fault tests.

:class:`HostilePeer` listens on 127.0.0.1, does a genuine websocket upgrade
(:func:`mpharness.virtual.ws_device.server_handshake`) for each client, then plays one
:data:`BEHAVIOURS` script on it until the client goes away or :meth:`HostilePeer.close`:

``chatter``        text frames without end, never a password prompt
``chatter_login``  a password prompt, then text frames without end, never an answer
``huge_header``    after a good login, one frame header announcing 2**62 bytes, then bytes
``endless_frame``  after a good login, one 200 MB text frame, then frames without end
``endless_fragments`` after a good login, a text message whose fragments never end
``binary_flood``   after a good login, binary frames without end
``dribble``        after a good login, a 100-byte frame sent one byte every 0.2 s

:attr:`HostilePeer.sent` counts the payload bytes sent, so a test can show the client stopped
reading (bounded memory) rather than hold it all. :class:`HostilePeerProcess` runs one in a
process of its own (``python -m tests.webrepl.hostile BEHAVIOUR`` prints its URL).
"""

from __future__ import annotations

import contextlib
import os
import socket
import struct
import subprocess
import sys
import threading
import time

from mpharness.virtual.ws_device import (
    FIN,
    OP_BINARY,
    OP_CONT,
    OP_TEXT,
    DeviceSocket,
    frame_bytes,
    server_handshake,
)

PASSWORD = "hostile1"
BEHAVIOURS = (
    "chatter",
    "chatter_login",
    "huge_header",
    "endless_frame",
    "endless_fragments",
    "binary_flood",
    "dribble",
)
PROMPT = b"Password: "
CONNECTED = b"\r\nWebREPL connected\r\n>>> "
CHUNK = b"z" * 16384
HUGE = 2**62
ENDLESS = 200 * 1024 * 1024


def _header(opcode: int, length: int, fin: bool = True) -> bytes:
    first = (FIN if fin else 0) | opcode
    if length < 126:
        return struct.pack(">BB", first, length)
    if length < 0x10000:
        return struct.pack(">BBH", first, 126, length)
    return struct.pack(">BBQ", first, 127, length)


class HostilePeer:
    """A websocket server playing one misbehaviour on every connection (context manager)."""

    def __init__(self, behaviour: str) -> None:
        if behaviour not in BEHAVIOURS:
            raise ValueError(f"unknown behaviour {behaviour!r}")
        self.behaviour = behaviour
        self.sent = 0
        self._stop = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"ws://127.0.0.1:{self._listener.getsockname()[1]}"
        self._threads: list[threading.Thread] = []
        self._accept_thread = threading.Thread(target=self._accept, daemon=True)
        self._accept_thread.start()

    def close(self) -> None:
        self._stop.set()
        with contextlib.suppress(OSError):
            self._listener.close()
        for thread in [self._accept_thread, *self._threads]:
            thread.join(5.0)

    def __enter__(self) -> HostilePeer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _accept(self) -> None:
        self._listener.settimeout(0.1)
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            thread = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _send(self, conn: socket.socket, data: bytes, payload: int = 0) -> None:
        conn.sendall(data)
        self.sent += payload

    def _serve(self, conn: socket.socket) -> None:
        conn.settimeout(1.0)
        try:
            reader = server_handshake(conn)
            if reader is None:
                return
            if self.behaviour != "chatter":
                self._send(conn, frame_bytes(PROMPT, OP_TEXT))
            if self.behaviour in ("chatter", "chatter_login"):
                while not self._stop.is_set():  # never a prompt or answer: just noise
                    self._send(conn, frame_bytes(b"noise " * 100, OP_TEXT), 600)
                return
            DeviceSocket(conn, reader).recv()  # the password line, not looked at
            self._send(conn, frame_bytes(CONNECTED, OP_TEXT))
            getattr(self, f"_play_{self.behaviour}")(conn)
        except Exception:  # the client went away (or broke the protocol): done
            pass
        finally:
            with contextlib.suppress(OSError):
                conn.close()

    def _stream(self, conn: socket.socket) -> None:
        while not self._stop.is_set():
            self._send(conn, CHUNK, len(CHUNK))

    def _play_huge_header(self, conn: socket.socket) -> None:
        self._send(conn, _header(OP_TEXT, HUGE))
        self._stream(conn)

    def _play_endless_frame(self, conn: socket.socket) -> None:
        self._send(conn, _header(OP_TEXT, ENDLESS))
        for _ in range(ENDLESS // len(CHUNK)):
            if self._stop.is_set():
                return
            self._send(conn, CHUNK, len(CHUNK))
        while not self._stop.is_set():  # then ordinary frames, without end
            self._send(conn, _header(OP_TEXT, len(CHUNK)) + CHUNK, len(CHUNK))

    def _play_endless_fragments(self, conn: socket.socket) -> None:
        self._send(conn, _header(OP_TEXT, len(CHUNK), fin=False) + CHUNK, len(CHUNK))
        while not self._stop.is_set():
            self._send(conn, _header(OP_CONT, len(CHUNK), fin=False) + CHUNK, len(CHUNK))

    def _play_binary_flood(self, conn: socket.socket) -> None:
        while not self._stop.is_set():
            self._send(conn, _header(OP_BINARY, len(CHUNK)) + CHUNK, len(CHUNK))

    def _play_dribble(self, conn: socket.socket) -> None:
        self._send(conn, _header(OP_TEXT, 100))
        while not self._stop.is_set():
            self._send(conn, b"d", 1)
            time.sleep(0.2)


class HostilePeerProcess:
    """A :class:`HostilePeer` in a process of its own (context manager): its sending never waits
    for the GIL of the process under test, so a flood has no pauses."""

    def __init__(self, behaviour: str) -> None:
        self.behaviour = behaviour
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "tests.webrepl.hostile", behaviour],
            stdout=subprocess.PIPE,
            text=True,
            cwd=os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
        )
        assert self._proc.stdout is not None
        self.url = self._proc.stdout.readline().strip()
        if not self.url.startswith("ws://"):
            self.close()
            raise RuntimeError(f"the hostile peer did not start (said {self.url!r})")

    def close(self) -> None:
        self._proc.kill()
        self._proc.wait(5.0)
        if self._proc.stdout is not None:
            self._proc.stdout.close()

    def __enter__(self) -> HostilePeerProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


if __name__ == "__main__":
    with HostilePeer(sys.argv[1]) as _peer:
        print(_peer.url, flush=True)
        threading.Event().wait()  # until killed
