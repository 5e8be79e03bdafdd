"""The device side of WebREPL's binary file protocol, on a host directory.

Theory of operation: :class:`FileProtocol` is the byte-driven state machine of
``modwebrepl.c``: it collects the 82-byte header across frames, answers GET_VER with three
version bytes, and for PUT/GET opens the file (``wb``/``rb``) and answers ``WB\\x00\\x00``.
PUT data goes to the file until the header's size is reached; each ``\\x00`` request of a
GET is answered with ``u16 length + up to 256 bytes``, a zero length ending the transfer.
An open failure raises :class:`SessionKilled`: the real device's dupterm read raises, which
detaches WebREPL and closes the connection. An unknown op leaves the machine ignoring
binary data for the rest of the session, as on the device.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import posixpath
import struct
import subprocess
from typing import Any, BinaryIO

from mpharness.transports.webrepl_files import (
    GET_FILE,
    GET_VER,
    HEADER_FORMAT,
    HEADER_SIZE,
    OK_REPLY,
    PUT_FILE,
)

__all__ = ["FileProtocol", "SessionKilled", "firmware_version"]

log = logging.getLogger("mpharness.virtual.webrepl_board")

GET_CHUNK = 256  #: bytes per GET reply, as the device's buffer


class SessionKilled(Exception):
    """The device would drop the connection (a failed open, a bad request byte)."""


@functools.lru_cache(maxsize=4)
def firmware_version(executable: str | None) -> tuple[int, int, int]:
    """(major, minor, micro) of a unix-port MicroPython, asked once per executable."""
    argv = [executable or "micropython", "-c", "import sys;print(sys.implementation.version)"]
    try:
        out = subprocess.run(argv, capture_output=True, timeout=10, check=True).stdout
        fields = out.decode().strip("()\r\n ").split(",")
        return int(fields[0]), int(fields[1]), int(fields[2])
    except (OSError, subprocess.SubprocessError, ValueError, IndexError):
        return (0, 0, 0)


class FileProtocol:
    """The binary-frame state machine of ``modwebrepl.c``, on a host directory as ``/``.

    Args:
        root_dir: the directory the board sees as ``/`` (relative names start there too).
        send: sends one binary frame to the client.
        version: the GET_VER answer.
    """

    def __init__(self, root_dir: str, send: Any, version: tuple[int, int, int]) -> None:
        self.root_dir = root_dir
        self._send = send
        self._version = version
        self._header = bytearray()
        self._op = 0
        self._to_recv = 0  # PUT bytes still expected, or 1 while a GET waits for a request
        self._file: BinaryIO | None = None
        self._stuck = False  # an unknown op: the device ignores binary data from then on

    def feed(self, data: bytes) -> None:
        """Process binary bytes from the client.

        Raises:
            SessionKilled: the device would drop the connection.
        """
        view = memoryview(data)
        while view and not self._stuck:
            if self._to_recv == 0:
                take = HEADER_SIZE - len(self._header)
                self._header += view[:take]
                view = view[take:]
                if len(self._header) == HEADER_SIZE:
                    self._handle_op(bytes(self._header))
                    self._header.clear()
            elif self._op == PUT_FILE:
                take = min(self._to_recv, len(view))
                assert self._file is not None
                self._file.write(view[:take])
                view, self._to_recv = view[take:], self._to_recv - take
                self._maybe_finish()
            else:
                self._get_request(view[0])
                view = view[1:]

    def close(self) -> None:
        """Close an open file (the session ended)."""
        if self._file is not None:
            with contextlib.suppress(OSError):
                self._file.close()
            self._file = None

    def _handle_op(self, header: bytes) -> None:
        _sig, op, _flags, _offset, size, _name_len, raw_name = struct.unpack(HEADER_FORMAT, header)
        if op == GET_VER:
            self._send(bytes(self._version))
            return
        name = raw_name.split(b"\x00", 1)[0].decode("utf-8", "surrogateescape")
        self._file = self._open(name, "wb" if op == PUT_FILE else "rb")
        self._op = op
        self._send(OK_REPLY)
        if op == PUT_FILE:
            self._to_recv = size
            self._maybe_finish()
        elif op == GET_FILE:
            self._to_recv = 1
        else:
            self._stuck = True

    def _open(self, name: str, mode: str) -> BinaryIO:
        path = self._host_path(name)
        try:
            if path is None:
                raise FileNotFoundError(f"no such file: {name!r}")
            return open(path, mode)  # closed when the op finishes
        except OSError as err:
            log.info("dupterm: Exception in read() method, deactivating: OSError: %s", err)
            raise SessionKilled(str(err)) from None

    def _host_path(self, name: str) -> str | None:
        board_path = posixpath.normpath(posixpath.join("/", name))
        if board_path.startswith("//"):
            board_path = board_path[1:]
        if not name or board_path == "/":
            return None
        return os.path.join(self.root_dir, board_path.lstrip("/"))

    def _get_request(self, byte: int) -> None:
        if byte != 0:
            raise SessionKilled("GET request byte is not 0 (device assertion)")
        assert self._file is not None
        chunk = self._file.read(GET_CHUNK)
        self._send(struct.pack("<H", len(chunk)) + chunk)
        if not chunk:
            self._to_recv = 0
            self._maybe_finish()

    def _maybe_finish(self) -> None:
        if self._to_recv == 0:
            self.close()
            self._send(OK_REPLY)
