"""8-bit file transfers for raw-paste boards whose firmware has ``sys.stdout.buffer``.

Theory of operation
-------------------
Base64 costs a third more bytes on the wire; on a 115200-baud link that caps a transfer at
75% of the line rate. MicroPython's lexer keeps the bytes of a bytes literal as they are,
and ``sys.stdout.buffer`` writes bytes without line-end translation, so data can travel
almost as itself:

* **writes**: ``_mfs_w(b'...')`` statements whose literal holds the data byte for byte but
  for a few escapes (:func:`mpharness.session.literals.bytes_literal`). The write protocol around
  the
  statements is unchanged (temporary file, size and SHA-256 checked on the board, rename).
  On a board in checked-integrity mode the data execs skip the integrity envelope (it would
  escape the literals a second time) and carry a digest per literal instead
  (:func:`mpharness.files.transfers.write_pieces`).
* **reads** (:func:`decode_read`): the board writes ``<size>\\n``, the data with three bytes
  escaped by C-speed ``bytes.replace`` (:data:`ESC` -> ESC ``e``, 0x04 -> ESC ``d``,
  ``>`` -> ESC ``g``), then ESC ``z`` and the escaped SHA-256 digest of what it sent (empty
  without ``hashlib``). 0x04 would end the reply's stdout section; ``>`` is escaped so that
  no friendly prompt (``>>> ``) in the data looks like a board reset. ESC ``z`` cannot occur
  in escaped data, so it separates the digest unambiguously. The host undoes the escapes
  and checks size and digest: a byte flipped on the link is found, not returned.

WebREPL carries the REPL in text frames, so it never gets this path
(:attr:`~mpharness.transports.base.Transport.binary_clean`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import TYPE_CHECKING

from mpharness.session.results import raise_for_error

if TYPE_CHECKING:
    from mpharness.session.repl_session import ReplSession

__all__ = [
    "ESC",
    "TransferCheckError",
    "decode_read",
    "escape",
    "exec_bytes",
    "unescape",
]

#: the escape byte of the read stream (DLE: rare in text)
ESC = b"\x10"
#: escape pairs of the read stream, in the order the host undoes them (ESC itself last)
_PAIRS = ((ESC + b"d", b"\x04"), (ESC + b"g", b">"), (ESC + b"e", ESC))
#: separates the data from the digest in the read stream
END_OF_DATA = ESC + b"z"


class TransferCheckError(ValueError):
    """Data read from a board failed its size or SHA-256 check (or was cut short)."""


def escape(data: bytes) -> bytes:
    """What the board's ``_mfs_esc`` makes of ``data`` (for tests and host-side tools)."""
    return data.replace(ESC, ESC + b"e").replace(b"\x04", ESC + b"d").replace(b">", ESC + b"g")


def unescape(data: bytes) -> bytes:
    """The inverse of :func:`escape`."""
    for pair, raw in _PAIRS:
        data = data.replace(pair, raw)
    return data


def decode_read(stream: bytes) -> bytes:
    """The file contents from a binary read's output, checked.

    Raises:
        TransferCheckError: no size line, no end-of-data mark, a size that differs, or a
            SHA-256 digest that does not match the data.
    """
    head, newline, rest = stream.partition(b"\n")
    if not newline or not head.strip().isdigit():
        raise TransferCheckError(f"no size line at the start of the read: {head[:40]!r}")
    body, mark, tail = rest.partition(END_OF_DATA)
    if not mark:
        raise TransferCheckError("the read was cut short (no end-of-data mark)")
    data = unescape(body)
    if len(data) != int(head):
        raise TransferCheckError(f"read {len(data)} bytes, the board sent {int(head)}")
    digest = unescape(tail)
    if digest and hashlib.sha256(data).digest() != digest:
        raise TransferCheckError("SHA-256 of the data read differs from the board's")
    return data


def exec_bytes(
    board: ReplSession,
    code: bytes,
    *,
    timeout: float | None,
    on_bytes: Callable[[bytes], None] | None = None,
    checked: bool | None = None,
) -> bytes:
    """:meth:`Board.exec` for source bytes, returning stdout as bytes (no decoding).

    ``checked``: as in :meth:`Board.exec_raw` (None: the board's integrity mode).

    Raises:
        RemoteError: as :meth:`Board.exec` does.
    """
    result = board.exec_raw(
        code, timeout=timeout, on_bytes=on_bytes, checked=checked, keep_output=None
    )
    raise_for_error(result)
    return result.stdout
