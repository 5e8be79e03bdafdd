"""The client side of WebREPL's binary file protocol (PUT_FILE, GET_FILE, GET_VER).

Theory of operation: a request is one binary frame holding the 82-byte little-endian header
``<2sBBQLH64s`` (``WA``, op, flags, offset, size, name length, NUL-padded name); the device
answers ``WB\\x00\\x00``. PUT then streams the data and gets a second ``WB\\x00\\x00``; GET
asks for each chunk of at most 256 bytes with a one-byte ``\\x00`` request, the chunk coming
back as ``u16 length + bytes`` until a zero length, then ``WB\\x00\\x00``. GET_VER answers
three bytes. The device never reports a failure: it drops the connection (protocols.md §6.6).
:class:`WebReplFileOps` is mixed into the WebREPL transport, which supplies the frame I/O.
"""

from __future__ import annotations

import struct
from collections.abc import Callable

from mpharness.deadline import Deadline
from mpharness.errors import ProtocolError

__all__ = ["HEADER_FORMAT", "HEADER_SIZE", "WebReplFileOps", "file_header"]

# File protocol (modwebrepl.c)
HEADER_FORMAT = "<2sBBQLH64s"
HEADER_SIZE = struct.calcsize(HEADER_FORMAT)  # 82
PUT_FILE, GET_FILE, GET_VER = 1, 2, 3
OK_REPLY = b"WB\x00\x00"
NEXT_CHUNK = b"\x00"
PUT_CHUNK = 8192  #: bytes per binary frame of PUT data
MAX_NAME = 63  #: the device reads the name as a C string in a 64-byte field

Progress = Callable[[int, int], None]


def file_header(op: int, remote_path: str = "", size: int = 0) -> bytes:
    """The 82-byte file-protocol request header.

    Raises:
        ValueError: the path is longer than 63 bytes (UTF-8) or contains a NUL.
    """
    name = remote_path.encode("utf-8")
    if len(name) > MAX_NAME or b"\x00" in name:
        raise ValueError(
            f"WebREPL file names must be at most {MAX_NAME} bytes without NUL: {remote_path!r}"
        )
    return struct.pack(HEADER_FORMAT, b"WA", op, 0, 0, size, len(name), name)


class WebReplFileOps:
    """File transfer over a logged-in WebREPL session (mixed into the transport)."""

    _io_timeout: float

    def _send_binary(self, data: bytes) -> None:
        raise NotImplementedError

    def _binary_frame(self, deadline: Deadline, what: str) -> bytes:
        raise NotImplementedError

    def _expect_ok(self, deadline: Deadline, what: str) -> None:
        reply = self._binary_frame(deadline, what)
        if reply != OK_REPLY:
            raise ProtocolError(f"WebREPL {what}: expected {OK_REPLY!r}, got {reply[:20]!r}")

    def put_file(
        self,
        remote_path: str,
        data: bytes,
        *,
        progress: Progress | None = None,
        deadline: Deadline | None = None,
    ) -> None:
        """Write ``data`` to ``remote_path`` on the board (created or truncated).

        Args:
            remote_path: board path, at most 63 bytes; its directory must exist.
            data: the file's bytes.
            progress: called as ``progress(bytes_sent, total)``.
            deadline: limit for the whole transfer (default none).

        Raises:
            ValueError: the path is too long.
            TransportClosed: the board dropped the link (e.g. the directory is missing).
            TimeoutError: no answer by the deadline.
        """
        deadline = deadline or Deadline.after(None)
        what = f"PUT {remote_path!r}"
        self._send_binary(file_header(PUT_FILE, remote_path, len(data)))
        self._expect_ok(deadline, what)
        view = memoryview(data)
        for start in range(0, len(view), PUT_CHUNK):
            self._send_binary(bytes(view[start : start + PUT_CHUNK]))
            if progress is not None:
                progress(min(start + PUT_CHUNK, len(view)), len(view))
        self._expect_ok(deadline, what)
        if progress is not None and not data:
            progress(0, 0)

    def get_file(
        self,
        remote_path: str,
        *,
        progress: Progress | None = None,
        deadline: Deadline | None = None,
    ) -> bytes:
        """Read ``remote_path`` from the board (one round trip per 256-byte chunk).

        The file must exist: on real boards a GET of a missing file (or a directory) makes
        the device drop the WebREPL connection. Check existence through the REPL first (the
        ``board.fs`` helpers do).

        Args:
            remote_path: board path, at most 63 bytes.
            progress: called as ``progress(bytes_received, 0)`` (the size is not known).
            deadline: limit for the whole transfer (default none).

        Raises:
            ValueError: the path is too long.
            TransportClosed: the board dropped the link (missing file).
            TimeoutError: no answer by the deadline.
        """
        deadline = deadline or Deadline.after(None)
        what = f"GET {remote_path!r}"
        self._send_binary(file_header(GET_FILE, remote_path))
        self._expect_ok(deadline, what)
        out = bytearray()
        while True:
            self._send_binary(NEXT_CHUNK)
            chunk = self._binary_frame(deadline, what)
            if len(chunk) < 2 or struct.unpack_from("<H", chunk)[0] != len(chunk) - 2:
                raise ProtocolError(f"WebREPL {what}: bad chunk {chunk[:20]!r}")
            if len(chunk) == 2:
                break
            out += chunk[2:]
            if progress is not None:
                progress(len(out), 0)
        self._expect_ok(deadline, what)
        return bytes(out)

    def get_version(self, *, deadline: Deadline | None = None) -> tuple[int, int, int]:
        """The firmware version the WebREPL server reports (GET_VER), e.g. ``(1, 22, 0)``."""
        deadline = deadline or Deadline.after(self._io_timeout)
        self._send_binary(file_header(GET_VER))
        reply = self._binary_frame(deadline, "GET_VER")
        if len(reply) != 3:
            raise ProtocolError(f"WebREPL GET_VER: expected 3 bytes, got {reply[:20]!r}")
        return reply[0], reply[1], reply[2]
