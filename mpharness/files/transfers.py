"""Moving file contents between host and board for :mod:`mpharness.files.board_fs`.

Theory of operation
-------------------
Four ways, chosen per board:

* **raw-paste boards, 8-bit** (:func:`write_paste`, :func:`read_binary`; firmware with
  ``sys.stdout.buffer`` on a link that is not WebREPL, ``Caps.binary``): data travels almost
  as itself (:mod:`mpharness.files.binary`): writes as ``_mfs_w(b'...')`` statements whose bytes
  literals hold the raw data with a few bytes escaped; a read is one exec that writes the
  file to ``sys.stdout.buffer`` with 0x04, ``>`` and the escape byte escaped, followed by its
  SHA-256, which the host checks along with the size. In checked-integrity mode
  (:func:`write_pieces`) only the execs that name paths go in the integrity envelope; data
  execs carry a digest per literal and are resent when the link damages them.
* **raw-paste boards, text** (other raw-paste firmware, and WebREPL reads): base64
  (``binascii.a2b_base64``/``b2a_base64`` on the board; ``repr(bytes)`` when the firmware has
  no binascii); a read streams the file as lines and is checked by size only.

  Either way a write sends big execs (``Caps.write_chunk`` bytes of data each, several
  literals of :data:`LITERAL_DATA` bytes) into a temporary file; the last exec checks its
  size and SHA-256 on the board and renames it over the target, so a cut transfer never
  leaves a half-written target.
* **boards without raw-paste** (the micro:bit; :func:`write_small`, :func:`read_small`): the
  63-byte input limit rules out big execs, and string literals would be interned for good, so
  data goes as ``input()`` lines to a tiny loader, flow controlled by their echo
  (``mpharness/session/small_upload.py``), in a printable encoding (``%XX`` for other bytes).
  Without rename
  or hashlib the written file is read back and compared.
* **WebREPL** (:func:`write_webrepl`, :func:`read_webrepl`): the transport's own file protocol,
  with the existence checks done through the REPL first (a failed GET kills the session).
"""

from __future__ import annotations

import ast
import base64
import errno
import hashlib
import logging
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from mpharness.deadline import Deadline
from mpharness.errors import BoardTimeout, RemoteError
from mpharness.files.binary import TransferCheckError, decode_read, exec_bytes
from mpharness.files.caps import Caps, FileStat, Progress
from mpharness.files.device import os_error, with_path
from mpharness.session.device_code import call, device_code, helper_source
from mpharness.session.literals import bytes_literal

if TYPE_CHECKING:
    from mpharness.session.repl_session import ReplSession


class FileAccess(Protocol):
    """What the transfer strategies use of ``board.fs``
    (:class:`~mpharness.files.board_fs.BoardFS` is one; it calls in, nothing here imports it).
    """

    board: ReplSession
    timeout: float

    def caps(self) -> Caps:
        """The firmware's filesystem features."""
        ...

    def run(self, code: str, path: str, on_output: Callable[[str], None] | None = None) -> str:
        """Exec ``code``; a board ``OSError`` is raised as the host ``OSError`` for ``path``."""
        ...

    def check_data(
        self,
        path: str,
        data: bytes,
        size: int,
        progress: Progress | None,
        expect: bytes | None = None,
    ) -> bytes:
        """``data`` if it has ``size`` bytes (and equals ``expect``), else ``OSError(EIO)``."""
        ...

    def cleanup_write(self, tmp: str | None) -> None:
        """After a failed write: close the board-side file, drop the temporary file."""
        ...

    def stat(self, path: str) -> FileStat:
        """Size, kind and modification time of a board path."""
        ...

    def exists(self, path: str) -> bool:
        """Whether a file or directory exists at ``path``."""
        ...

    def read_bytes(self, path: str, *, progress: Progress | None = None) -> bytes:
        """The contents of a board file (the read-back that checks a small board's write)."""
        ...


log = logging.getLogger("mpharness.files.board_fs")

#: data bytes per string literal in a write exec (each literal is decoded on its own)
LITERAL_DATA = 6144
#: suffix of the temporary file a write goes to before the rename
TMP_SUFFIX = ".mph~"
#: small boards: encoded characters per input() line, and data bytes per loader run
SMALL_LINE = 120
SMALL_BATCH = 1024
SMALL_LOADER = "l=input()\nwhile l!='~~':_mfs_w(l);l=input()"
SMALL_READ_CHUNK = 128
#: bytes that travel as themselves to small boards (printable ASCII but % and ~)
_PLAIN = frozenset(range(0x20, 0x7F)) - {ord("%"), ord("~")}
#: checked-integrity writes: how often a damaged data exec is resent, and the board errors
#: that are real (anything else there comes from damaged code: resend)
PIECE_RESENDS = 3
_REAL_ERRORS = ("OSError", "IOError", "MemoryError", "KeyboardInterrupt")
#: WebREPL's file protocol takes names of at most this many bytes
WEBREPL_NAME_MAX = 63


def report_progress(progress: Progress | None, done: int, total: int) -> None:
    """Tell ``progress`` (if any) how far a transfer got (never past ``total``)."""
    if progress is not None:
        progress(min(done, total), total)


def write_paste(fs: FileAccess, path: str, data: bytes, progress: Progress | None) -> None:
    """Write ``data`` to ``path`` on a raw-paste board (temp file, verify, rename)."""
    caps = fs.caps()
    tmp = path + TMP_SUFFIX if caps.rename else path
    if caps.binary and caps.hashlib and fs.board.integrity == "checked":
        write_pieces(fs, path, tmp, data, progress)
        return
    chunk = caps.write_chunk
    starts = list(range(0, len(data), chunk)) or [0]
    helpers = ("fs_ops", "fs_write") + (("fs_hash",) if caps.hashlib else ())
    try:
        for start in starts:
            piece = data[start : start + chunk]
            lines = [call("_mfs_wopen", path, tmp)] if start == 0 else []
            code = device_code(helpers if start == 0 else (), *lines).encode()
            code += _write_statements(piece, caps)
            if start == starts[-1]:
                code += _finish_call(path, tmp, data, caps.hashlib).encode() + b"\n"
            _run_bytes(fs, code, path)
            report_progress(progress, start + len(piece), len(data))
    except BaseException:
        fs.cleanup_write(tmp if tmp != path else None)
        raise


def write_pieces(
    fs: FileAccess, path: str, tmp: str, data: bytes, progress: Progress | None
) -> None:
    """Write on a board in checked-integrity mode without wrapping the data in the integrity
    envelope (which escapes it a second time): opening and finishing (the execs that name
    paths) stay checked; each data exec carries its own per-literal digest and is resent
    while the link damages it (see ``_device/fs_wpiece.py``)."""
    caps = fs.caps()
    helpers = ("fs_ops", "fs_write", "fs_hash", "fs_wpiece")
    try:
        _run_bytes(fs, device_code(helpers, call("_mfs_wopen", path, tmp)).encode(), path)
        for start in range(0, len(data), caps.write_chunk):
            piece = data[start : start + caps.write_chunk]
            _run_piece(fs, path, start, piece)
            report_progress(progress, start + len(piece), len(data))
        _run_bytes(fs, _finish_call(path, tmp, data, True).encode(), path)
    except BaseException:
        fs.cleanup_write(tmp if tmp != path else None)
        raise


def _run_piece(fs: FileAccess, path: str, start: int, piece: bytes) -> None:
    """One unenveloped data exec of :func:`write_pieces`, resent while it arrives damaged."""
    code = b""
    for at in range(start, start + len(piece), LITERAL_DATA):
        chunk = piece[at - start : at - start + LITERAL_DATA]
        digest = hashlib.sha256(b"%d" % at + chunk).digest()[:8]
        code += b"_mfs_wp(%d,%s,%s)\n" % (at, bytes_literal(chunk), bytes_literal(digest))
    for attempt in range(1, PIECE_RESENDS + 2):
        try:
            exec_bytes(fs.board, code, timeout=fs.timeout, checked=False)
            return
        except RemoteError as err:
            if err.exc_type in _REAL_ERRORS:
                raise os_error(err, path) from None
            log.warning(
                "%s: a piece of %s arrived damaged (%s), attempt %d",
                fs.board.name,
                path,
                err.exc_type,
                attempt,
            )
    raise OSError(
        errno.EIO,
        f"{os.strerror(errno.EIO)}: the link damaged a piece {PIECE_RESENDS + 1} times",
        path,
    )


def write_batch(fs: FileAccess, files: list[tuple[str, bytes]], progress: Progress | None) -> None:
    """Write several small files on a raw-paste board, as many per exec as fit in
    ``Caps.write_chunk`` (each file: temp file, verify, rename, as in :func:`write_paste`).
    A board error names the file it happened to: each file prints its index first."""
    caps = fs.caps()
    helpers = ("fs_ops", "fs_write") + (("fs_hash",) if caps.hashlib else ())
    total, done, batch, size = sum(len(d) for _, d in files), 0, [], 0
    for index, (path, data) in enumerate(files):
        tmp = path + TMP_SUFFIX if caps.rename else path
        batch.append((index, path, tmp, data))
        size += len(data)
        if size >= caps.write_chunk or index == len(files) - 1:
            code = device_code(helpers).encode()
            for i, p, t, d in batch:
                code += f"print({i})\n{call('_mfs_wopen', p, t)}\n".encode()
                code += _write_statements(d, caps)
                code += _finish_call(p, t, d, caps.hashlib).encode() + b"\n"
            _run_batch(fs, code, [(p, t) for _, p, t, _ in batch])
            done += size
            report_progress(progress, done, total)
            batch, size = [], 0


def _run_batch(fs: FileAccess, code: bytes, targets: list[tuple[str, str]]) -> None:
    try:
        exec_bytes(fs.board, code, timeout=fs.timeout)
    except RemoteError as err:
        path, tmp = targets[_failed_index(err.stdout)]
        fs.cleanup_write(tmp if tmp != path else None)
        raise os_error(err, path) from None
    except BoardTimeout as err:
        path, tmp = targets[_failed_index(err.partial_output)]
        fs.cleanup_write(tmp if tmp != path else None)
        with_path(err, path)
        raise


def _failed_index(stdout: str) -> int:
    """Which file of a batch the board was writing: the last index it printed."""
    printed = [line for line in stdout.split("\n") if line.strip().isdigit()]
    return len(printed) - 1 if printed else 0


def _run_bytes(
    fs: FileAccess, code: bytes, path: str, on_bytes: Callable[[bytes], None] | None = None
) -> bytes:
    """Exec source bytes; stdout as bytes; a board ``OSError`` raised as the host's."""
    try:
        return exec_bytes(fs.board, code, timeout=fs.timeout, on_bytes=on_bytes)
    except RemoteError as err:
        raise os_error(err, path) from None


def _write_statements(data: bytes, caps: Caps) -> bytes:
    """``_mfs_w(...)`` lines writing ``data``, :data:`LITERAL_DATA` bytes per literal."""
    return b"".join(
        _write_statement(data[i : i + LITERAL_DATA], caps) + b"\n"
        for i in range(0, len(data), LITERAL_DATA)
    )


def _write_statement(data: bytes, caps: Caps) -> bytes:
    """One write of ``data``: a raw 8-bit bytes literal on binary links, else a ``repr``
    literal when that is shorter (source text), else base64 decoded on the board."""
    if caps.binary:
        return b"_mfs_w(" + bytes_literal(data) + b")"
    literal = repr(data)
    if caps.binascii:
        encoded = base64.b64encode(data).decode("ascii")
        if len(encoded) + 8 < len(literal):
            return f"_mfs_w(_mfs_a({encoded!r}))".encode("ascii")
    return f"_mfs_w({literal})".encode("ascii")


def _finish_call(path: str, tmp: str, data: bytes, sha: bool) -> str:
    digest = hashlib.sha256(data).digest() if sha else None
    return f"_mfs_wend({path!r}, {tmp!r}, {len(data)}, {digest!r}, {'_mfs_sha' if sha else 'None'})"


def read_paste(fs: FileAccess, path: str, progress: Progress | None) -> bytes:
    """The contents of ``path`` on a raw-paste board, streamed in one exec."""
    caps = fs.caps()
    if caps.binary:
        return read_binary(fs, path, progress)
    enc = "_mfs_b2a" if caps.binascii else "None"
    code = device_code(("fs_ops", "fs_read"), f"_mfs_read({path!r}, {caps.read_chunk}, {enc})")
    counter = _ReadCounter(progress, 0.75 if caps.binascii else 0.3)
    out = fs.run(code, path, on_output=counter)
    lines = out.split("\n")
    size = int(lines[0])
    decode = base64.b64decode if caps.binascii else ast.literal_eval
    data = b"".join(decode(line) for line in lines[1:] if line)
    return fs.check_data(path, data, size, progress)


def read_binary(fs: FileAccess, path: str, progress: Progress | None) -> bytes:
    """The contents of ``path`` as escaped raw bytes, checked by size and (when the board
    has ``hashlib``) SHA-256: see :mod:`mpharness.files.binary`."""
    caps = fs.caps()
    helpers = ("fs_ops", "fs_bread") + (("fs_hash",) if caps.hashlib else ())
    code = device_code(helpers, call("_mfs_bread", path, caps.read_chunk, caps.hashlib))
    out = _run_bytes(fs, code.encode(), path, on_bytes=_BytesCounter(progress))
    try:
        data = decode_read(out)
    except TransferCheckError as err:
        raise OSError(errno.EIO, f"{os.strerror(errno.EIO)}: {err}", path) from None
    return fs.check_data(path, data, len(data), progress)


class _BytesCounter:
    """Progress while a binary read streams: the first line is the size, then data (a few
    escape bytes make the count run a little ahead; it stops short of the total until the
    data is checked)."""

    def __init__(self, progress: Progress | None) -> None:
        self.progress = progress
        self.head = b""
        self.total: int | None = None
        self.done = 0

    def __call__(self, data: bytes) -> None:
        if self.progress is None:
            return
        if self.total is None:
            self.head += data
            if b"\n" not in self.head:
                return
            head, _, data = self.head.partition(b"\n")
            self.total = int(head) if head.strip().isdigit() else 0
        self.done += len(data)
        report_progress(self.progress, max(0, min(self.done, self.total - 1)), self.total)


class _ReadCounter:
    """Progress while a read streams: the first line is the size, the rest data lines."""

    def __init__(self, progress: Progress | None, ratio: float) -> None:
        self.progress, self.ratio = progress, ratio
        self.text, self.chars = "", 0
        self.total: int | None = None

    def __call__(self, text: str) -> None:
        if self.progress is None:
            return
        if self.total is None:
            self.text += text
            if "\n" not in self.text:
                return
            head, _, text = self.text.partition("\n")
            self.total = int(head)
        self.chars += len(text)
        report_progress(self.progress, int(self.chars * self.ratio), self.total)


def encode_small(data: bytes) -> list[str]:
    """``data`` as printable lines for the small-board loader (``%XX`` for other bytes)."""
    lines: list[str] = []
    line: list[str] = []
    width = 0
    for byte in data:
        text = chr(byte) if byte in _PLAIN else f"%{byte:02X}"
        if width + len(text) > SMALL_LINE:
            lines.append("".join(line))
            line, width = [], 0
        line.append(text)
        width += len(text)
    if line:
        lines.append("".join(line))
    return lines


def write_small(
    fs: FileAccess, path: str, name: str, data: bytes, progress: Progress | None
) -> None:
    """Write on a board without raw-paste: input() lines with echo flow control, then a
    read-back (the micro:bit has no rename and no hashlib). ``name`` is what the board
    opens (a flat filesystem's name), ``path`` the board path errors name."""
    board = fs.board
    fs.run(helper_source("fsm_write") + call("_mfs_ws", name), path)
    try:
        for start in range(0, len(data), SMALL_BATCH):
            lines = encode_small(data[start : start + SMALL_BATCH])
            board.feed_lines(SMALL_LOADER, lines, timeout=fs.timeout)
            report_progress(progress, start + SMALL_BATCH, len(data))
        fs.run("_mfs_we()", path)
    finally:
        fs.run("del _mfs_ws,_mfs_w,_mfs_we\nimport gc\ngc.collect()", path)
    fs.check_data(path, fs.read_bytes(path), len(data), None, expect=data)


def read_small(fs: FileAccess, path: str, name: str, progress: Progress | None) -> bytes:
    """The contents of a file on a board without binascii (repr lines); ``name`` is what the
    board opens, ``path`` the board path errors name."""
    code = helper_source("fsm_read") + f"try:\n {call('_mfs_rd', name, SMALL_READ_CHUNK)}\n"
    code += "finally:\n del _mfs_rd"
    counter = _ReadCounter(progress, 0.3)
    out = fs.run(code, path, on_output=counter)
    lines = out.split("\n")
    data = b"".join(ast.literal_eval(line) for line in lines[1:] if line)
    return fs.check_data(path, data, int(lines[0]), progress)


def write_webrepl(fs: FileAccess, path: str, data: bytes, progress: Progress | None) -> bool:
    """Write through the WebREPL file protocol; False when it cannot take this name."""
    caps = fs.caps()
    tmp = path + TMP_SUFFIX if caps.rename else path
    if len(tmp.encode("utf-8")) > WEBREPL_NAME_MAX:
        return False
    parent = path.rsplit("/", 1)[0] or "/"
    try:
        parent_is_dir = fs.stat(parent).is_dir
    except FileNotFoundError:
        raise FileNotFoundError(
            errno.ENOENT, f"{os.strerror(errno.ENOENT)} (no directory {parent})", path
        ) from None
    if not parent_is_dir:
        raise NotADirectoryError(
            errno.ENOTDIR, f"{os.strerror(errno.ENOTDIR)} ({parent} is a file)", path
        )
    if fs.exists(path) and fs.stat(path).is_dir:
        raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), path)
    deadline = Deadline.after(fs.timeout + len(data) / 2048)
    helpers = ("fs_ops", "fs_write") + (("fs_hash",) if caps.hashlib else ())
    finish = device_code(helpers, "_mfs_f = None", _finish_call(path, tmp, data, caps.hashlib))
    try:
        fs.board.transport.put_file(tmp, data, progress=progress, deadline=deadline)  # type: ignore[attr-defined]
        fs.run(finish, path)
    except BaseException:
        fs.cleanup_write(tmp if tmp != path else None)
        raise
    return True


def read_webrepl(fs: FileAccess, path: str, progress: Progress | None) -> bytes | None:
    """Read through the WebREPL file protocol; None when it cannot take this name."""
    if len(path.encode("utf-8")) > WEBREPL_NAME_MAX:
        return None
    info = fs.stat(path)  # raises FileNotFoundError before a GET could kill the session
    if info.is_dir:
        raise IsADirectoryError(21, "Is a directory", path)
    deadline = Deadline.after(fs.timeout + info.size / 2048)
    data = fs.board.transport.get_file(path, progress=progress, deadline=deadline)  # type: ignore[attr-defined]
    return fs.check_data(path, bytes(data), info.size, progress)
