"""Moving file contents between host and board for :mod:`mpharness.fs`.

Theory of operation
-------------------
Three ways, chosen per board:

* **raw-paste boards** (:func:`write_paste`, :func:`read_paste`): data travels as base64
  (``binascii.a2b_base64``/``b2a_base64`` on the board; ``repr(bytes)`` when the firmware has no
  binascii). A write sends big execs (``Caps.write_chunk`` bytes of data each, as several
  ``_mfs_w(_mfs_a('...'))`` statements) into a temporary file; the last exec checks its size
  and SHA-256 on the board and renames it over the target, so a cut transfer never leaves a
  half-written target. A read is one exec that streams the file as lines.
* **boards without raw-paste** (the micro:bit; :func:`write_small`, :func:`read_small`): the
  63-byte input limit rules out big execs, and string literals would be interned for good, so
  data goes as ``input()`` lines to a tiny loader, flow controlled by their echo
  (``mpharness/upload.py``), in a printable encoding (``%XX`` for other bytes). Without rename
  or hashlib the written file is read back and compared.
* **WebREPL** (:func:`write_webrepl`, :func:`read_webrepl`): the transport's own file protocol,
  with the existence checks done through the REPL first (a failed GET kills the session).
"""

from __future__ import annotations

import ast
import base64
import hashlib
from collections.abc import Callable
from typing import TYPE_CHECKING

from mpharness._fsdevice import call, device_code, helper_source, os_error
from mpharness.deadline import Deadline
from mpharness.errors import RemoteError
from mpharness.upload import _upload_by_echo

if TYPE_CHECKING:
    from mpharness.fs import BoardFS

Progress = Callable[[int, int], None]

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
#: WebREPL's file protocol takes names of at most this many bytes
WEBREPL_NAME_MAX = 63


def _report(progress: Progress | None, done: int, total: int) -> None:
    if progress is not None:
        progress(min(done, total), total)


def write_paste(fs: BoardFS, path: str, data: bytes, progress: Progress | None) -> None:
    """Write ``data`` to ``path`` on a raw-paste board (temp file, verify, rename)."""
    caps = fs.caps()
    tmp = path + TMP_SUFFIX if caps.rename else path
    chunk = caps.write_chunk
    starts = list(range(0, len(data), chunk)) or [0]
    helpers = ("fs_ops", "fs_write") + (("fs_hash",) if caps.hashlib else ())
    try:
        for start in starts:
            piece = data[start : start + chunk]
            lines = [call("_mfs_wopen", path, tmp)] if start == 0 else []
            lines += [
                _write_statement(piece[i : i + LITERAL_DATA], caps.binascii)
                for i in range(0, len(piece), LITERAL_DATA)
            ]
            if start == starts[-1]:
                lines.append(_finish_call(path, tmp, data, caps.hashlib))
            fs._run(device_code(helpers if start == 0 else (), *lines), path)
            _report(progress, start + len(piece), len(data))
    except BaseException:
        fs._cleanup_write(tmp if tmp != path else None)
        raise


def write_batch(fs: BoardFS, files: list[tuple[str, bytes]], progress: Progress | None) -> None:
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
            lines: list[str] = []
            for i, p, t, d in batch:
                lines += [f"print({i})", call("_mfs_wopen", p, t)]
                lines += [
                    _write_statement(d[k : k + LITERAL_DATA], caps.binascii)
                    for k in range(0, len(d), LITERAL_DATA)
                ]
                lines.append(_finish_call(p, t, d, caps.hashlib))
            _run_batch(fs, device_code(helpers, *lines), [(p, t) for _, p, t, _ in batch])
            done += size
            _report(progress, done, total)
            batch, size = [], 0


def _run_batch(fs: BoardFS, code: str, targets: list[tuple[str, str]]) -> None:
    try:
        fs.board.exec(code, timeout=fs.timeout)
    except RemoteError as err:
        printed = [line for line in err.stdout.split("\n") if line.strip().isdigit()]
        failed = len(printed) - 1 if printed else 0
        path, tmp = targets[failed]
        fs._cleanup_write(tmp if tmp != path else None)
        raise os_error(err, path) from None


def _write_statement(data: bytes, b64: bool) -> str:
    """One write of ``data``: as a bytes literal when that is shorter (source text), else
    base64 decoded on the board (binary)."""
    literal = repr(data)
    if b64:
        encoded = base64.b64encode(data).decode("ascii")
        if len(encoded) + 8 < len(literal):
            return f"_mfs_w(_mfs_a({encoded!r}))"
    return f"_mfs_w({literal})"


def _finish_call(path: str, tmp: str, data: bytes, sha: bool) -> str:
    digest = hashlib.sha256(data).digest() if sha else None
    return f"_mfs_wend({path!r}, {tmp!r}, {len(data)}, {digest!r}, {'_mfs_sha' if sha else 'None'})"


def read_paste(fs: BoardFS, path: str, progress: Progress | None) -> bytes:
    """The contents of ``path`` on a raw-paste board, streamed in one exec."""
    caps = fs.caps()
    enc = "_mfs_b2a" if caps.binascii else "None"
    code = device_code(("fs_ops", "fs_read"), f"_mfs_read({path!r}, {caps.read_chunk}, {enc})")
    counter = _ReadCounter(progress, 0.75 if caps.binascii else 0.3)
    out = fs._run(code, path, on_output=counter)
    lines = out.split("\n")
    size = int(lines[0])
    decode = base64.b64decode if caps.binascii else ast.literal_eval
    data = b"".join(decode(line) for line in lines[1:] if line)
    return fs._checked(path, data, size, progress)


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
        _report(self.progress, int(self.chars * self.ratio), self.total)


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


def write_small(fs: BoardFS, name: str, data: bytes, progress: Progress | None) -> None:
    """Write on a board without raw-paste: input() lines with echo flow control, then a
    read-back (the micro:bit has no rename and no hashlib)."""
    board = fs.board
    fs._run(helper_source("fsm_write") + call("_mfs_ws", name), name)
    try:
        for start in range(0, len(data), SMALL_BATCH):
            deadline = Deadline.after(fs.timeout)
            board._ensure_ready(deadline)
            lines = encode_small(data[start : start + SMALL_BATCH])
            _upload_by_echo(board, lines, deadline, loader=SMALL_LOADER)
            _report(progress, start + SMALL_BATCH, len(data))
        fs._run("_mfs_we()", name)
    finally:
        fs._run("del _mfs_ws,_mfs_w,_mfs_we\nimport gc\ngc.collect()", name)
    fs._checked(name, fs.read_bytes(name), len(data), None, expect=data)


def read_small(fs: BoardFS, name: str, progress: Progress | None) -> bytes:
    """The contents of a file on a board without binascii (repr lines)."""
    code = helper_source("fsm_read") + f"try:\n {call('_mfs_rd', name, SMALL_READ_CHUNK)}\n"
    code += "finally:\n del _mfs_rd"
    counter = _ReadCounter(progress, 0.3)
    out = fs._run(code, name, on_output=counter)
    lines = out.split("\n")
    data = b"".join(ast.literal_eval(line) for line in lines[1:] if line)
    return fs._checked(name, data, int(lines[0]), progress)


def write_webrepl(fs: BoardFS, path: str, data: bytes, progress: Progress | None) -> bool:
    """Write through the WebREPL file protocol; False when it cannot take this name."""
    caps = fs.caps()
    tmp = path + TMP_SUFFIX if caps.rename else path
    if len(tmp.encode("utf-8")) > WEBREPL_NAME_MAX:
        return False
    parent = path.rsplit("/", 1)[0] or "/"
    if not fs.stat(parent).is_dir:
        raise NotADirectoryError(20, "Not a directory", parent)
    if fs.exists(path) and fs.stat(path).is_dir:
        raise IsADirectoryError(21, "Is a directory", path)
    deadline = Deadline.after(fs.timeout + len(data) / 2048)
    fs.board.transport.put_file(tmp, data, progress=progress, deadline=deadline)  # type: ignore[attr-defined]
    helpers = ("fs_ops", "fs_write") + (("fs_hash",) if caps.hashlib else ())
    fs._run(
        device_code(helpers, "_mfs_f = None", _finish_call(path, tmp, data, caps.hashlib)), path
    )
    return True


def read_webrepl(fs: BoardFS, path: str, progress: Progress | None) -> bytes | None:
    """Read through the WebREPL file protocol; None when it cannot take this name."""
    if len(path.encode("utf-8")) > WEBREPL_NAME_MAX:
        return None
    info = fs.stat(path)  # raises FileNotFoundError before a GET could kill the session
    if info.is_dir:
        raise IsADirectoryError(21, "Is a directory", path)
    deadline = Deadline.after(fs.timeout + info.size / 2048)
    data = fs.board.transport.get_file(path, progress=progress, deadline=deadline)  # type: ignore[attr-defined]
    return fs._checked(path, bytes(data), info.size, progress)
