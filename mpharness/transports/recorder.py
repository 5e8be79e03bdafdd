"""Recording a transport's bytes to a transcript file, and loading transcripts back.

Theory of operation
-------------------
:class:`RecordingTransport` wraps any transport and passes every call through. Alongside, it
writes a transcript in JSON lines, one object per line, diffable and readable:

.. code-block:: text

    {"transcript": "mpharness", "version": 1, "url": "/dev/ttyACM0"}
    {"t": 0.000105, "dir": "host", "data": "\\r\\u0003\\r\\u0001"}
    {"t": 0.012871, "dir": "device", "data": "raw REPL; CTRL-B to exit\\r\\n>"}
    {"t": 0.530012, "event": "hard_reset"}

``t`` is seconds since the recorder was created, taken at the first chunk of a run. ``dir`` is
``host`` (written by us), ``device`` (read from the board) or ``closed`` (the link dropped).
``data`` holds the bytes one character per byte (latin-1), so JSON escapes control bytes as
``\\u0003`` and the text stays readable; decoding is exact. Consecutive chunks in the same
direction are merged into one line: a transcript does not depend on how the OS happened to split
reads. Host bytes are recorded before they are sent, so an answer is never logged before its
question, even when another thread reads. ``event`` lines (hard reset, reconnect) are notes for
people; :func:`load_transcript` skips them.

Secrets: each merged run is redacted before it reaches the file. Every ``secrets`` byte string
is replaced by ``***``, then the optional ``redact`` hook may rewrite the bytes further. Merging
first means a password written byte by byte is still caught. A replay of a redacted transcript
expects the host to write ``***`` where the secret was.

:func:`load_transcript` returns the ``(dir, bytes)`` steps that
:class:`~mpharness.transports.scripted.ScriptedTransport` plays.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any, TextIO

from mpharness.deadline import Deadline
from mpharness.errors import TransportClosed
from mpharness.transports.base import Transport

__all__ = ["REDACTED", "RecordingTransport", "load_transcript"]

#: What a secret is replaced with in the file.
REDACTED = b"***"
_FORMAT = "mpharness"
_VERSION = 1
_DIRECTIONS = ("host", "device", "closed")


class RecordingTransport(Transport):
    """Passes everything through to ``inner`` and writes a transcript to ``path``."""

    def __init__(
        self,
        inner: Transport,
        path: str | os.PathLike[str],
        *,
        secrets: Iterable[bytes | str] = (),
        redact: Callable[[bytes], bytes] | None = None,
    ) -> None:
        """Start recording.

        Args:
            inner: the transport to wrap (it is closed with this one).
            path: the transcript file (overwritten).
            secrets: byte strings (or str, encoded as UTF-8) never to write to the file.
            redact: an extra hook applied to each merged run of bytes before it is written.
        """
        self.inner = inner
        self.url = inner.url
        self.path = os.fspath(path)
        encoded = (s.encode() if isinstance(s, str) else bytes(s) for s in secrets)
        self._secrets = sorted((s for s in encoded if s), key=len, reverse=True)
        self._redact = redact
        self._lock = threading.Lock()
        self._start = time.monotonic()
        self._pending_dir: str | None = None
        self._pending = bytearray()
        self._pending_t = 0.0
        self._file: TextIO | None = open(self.path, "w", encoding="utf-8")  # noqa: SIM115
        self._write_line({"transcript": _FORMAT, "version": _VERSION, "url": inner.url})

    # -- Transport -----------------------------------------------------------------------------

    def write(self, data: bytes) -> None:
        """Record ``data`` as host bytes, then send it."""
        self._record("host", data)
        try:
            self.inner.write(data)
        except TransportClosed:
            self._record("closed", b"")
            raise

    def read(self, deadline: Deadline, size: int = 65536) -> bytes:
        """Read from ``inner`` and record what came."""
        try:
            data = self.inner.read(deadline, size)
        except TransportClosed:
            self._record("closed", b"")
            raise
        if data:
            self._record("device", data)
        return data

    def close(self) -> None:
        """Close ``inner`` and finish the transcript file. Idempotent."""
        try:
            self.inner.close()
        finally:
            with self._lock:
                self._flush()
                if self._file is not None:
                    self._file.close()
                    self._file = None

    @property
    def closed(self) -> bool:
        """Whether ``inner`` is closed."""
        return self.inner.closed

    @property
    def may_corrupt(self) -> bool:
        """Whether ``inner`` can damage bytes."""
        return self.inner.may_corrupt

    @property
    def binary_clean(self) -> bool:
        """Whether ``inner`` carries any byte value."""
        return self.inner.binary_clean

    @property
    def can_hard_reset(self) -> bool:
        """Whether ``inner`` can hard-reset."""
        return self.inner.can_hard_reset

    def hard_reset(self, deadline: Deadline) -> None:
        """Hard-reset through ``inner``; noted in the transcript as an event."""
        self._event("hard_reset")
        self.inner.hard_reset(deadline)

    @property
    def can_reconnect(self) -> bool:
        """Whether ``inner`` can reconnect."""
        return self.inner.can_reconnect

    def reconnect(self, deadline: Deadline) -> None:
        """Reconnect through ``inner``; noted in the transcript as an event."""
        self.inner.reconnect(deadline)
        self._event("reconnect")

    def flush(self) -> None:
        """Write the pending run to the file now (it is written anyway on direction change)."""
        with self._lock:
            self._flush()

    # -- transcript ----------------------------------------------------------------------------

    def _record(self, direction: str, data: bytes) -> None:
        with self._lock:
            if self._file is None:
                return
            if direction != self._pending_dir or direction == "closed":
                self._flush()
                self._pending_dir = direction
                self._pending_t = time.monotonic() - self._start
            self._pending += data

    def _event(self, name: str) -> None:
        with self._lock:
            self._flush()
            self._write_line({"t": round(time.monotonic() - self._start, 6), "event": name})

    def _flush(self) -> None:
        if self._pending_dir is None:
            return
        data = self._scrub(bytes(self._pending))
        entry = {"t": round(self._pending_t, 6), "dir": self._pending_dir, "data": _encode(data)}
        self._pending_dir = None
        self._pending.clear()
        self._write_line(entry)

    def _scrub(self, data: bytes) -> bytes:
        for secret in self._secrets:
            data = data.replace(secret, REDACTED)
        return self._redact(data) if self._redact is not None else data

    def _write_line(self, entry: dict[str, Any]) -> None:
        if self._file is not None:
            self._file.write(json.dumps(entry) + "\n")
            self._file.flush()

    def __repr__(self) -> str:
        return f"<RecordingTransport {self.inner!r} -> {self.path}>"


def _encode(data: bytes) -> str:
    return data.decode("latin-1")


def load_transcript(path: str | os.PathLike[str]) -> list[tuple[str, bytes]]:
    """The ``(dir, bytes)`` steps of a transcript file, ready for ScriptedTransport.

    The header and ``event`` lines are skipped; consecutive steps in one direction are merged.

    Raises:
        ValueError: a line is not valid transcript JSON (the message names the line).
    """
    steps: list[tuple[str, bytes]] = []
    with open(path, encoding="utf-8") as file:
        for number, line in enumerate(file, 1):
            if not line.strip():
                continue
            try:
                entry = json.loads(line)
                direction = entry.get("dir")
                if direction is None:
                    continue  # header or event
                if direction not in _DIRECTIONS:
                    raise ValueError(f"unknown dir {direction!r}")
                data = str(entry.get("data", "")).encode("latin-1")
            except (ValueError, AttributeError, UnicodeEncodeError) as exc:
                raise ValueError(
                    f"{os.fspath(path)}:{number}: not a transcript line: {exc}"
                ) from exc
            if steps and steps[-1][0] == direction != "closed":
                steps[-1] = (direction, steps[-1][1] + data)
            else:
                steps.append((direction, data))
    return steps
