"""Board stdout as text: decoding, line endings, and streaming to a callback."""

from __future__ import annotations

import codecs
from collections.abc import Callable

OutputCallback = Callable[[str], None]
#: receives stdout bytes exactly as they arrive (before decoding)
BytesCallback = Callable[[bytes], None]


def decode_output(data: bytes) -> str:
    """Device stdout as text: UTF-8 (invalid bytes replaced), ``\\r\\n`` turned into ``\\n``."""
    return data.decode("utf-8", "replace").replace("\r\n", "\n")


class BoundedOutput:
    """Output kept for a message (a timeout's partial output): the first and the last
    ``keep`` bytes, with the number left out in between."""

    def __init__(self, keep: int = 64 * 1024) -> None:
        self._keep = keep
        self._head = bytearray()
        self._tail = bytearray()
        self._dropped = 0

    def feed(self, data: bytes) -> None:
        room = self._keep - len(self._head)
        if room > 0:
            self._head += data[:room]
            data = data[room:]
        if not data:
            return
        self._tail += data
        excess = len(self._tail) - self._keep
        if excess > self._keep:  # trim in large steps: each trim copies the tail
            del self._tail[:excess]
            self._dropped += excess

    def tail(self, size: int) -> bytes:
        """The last ``size`` bytes kept."""
        return bytes((self._head + self._tail)[-size:])

    def endswith(self, suffix: bytes) -> bool:
        """Whether the output so far ends with ``suffix`` (looks at its last bytes only: it
        runs for every piece of output)."""
        size = len(suffix)
        last = bytes(self._tail[-size:])
        if len(last) < size:
            last = bytes(self._head[len(last) - size :]) + last
        return last.endswith(suffix)

    def text(self) -> str:
        """:meth:`getvalue` decoded as :func:`decode_output` does."""
        return decode_output(self.getvalue())

    def getvalue(self) -> bytes:
        """Head, a note saying how much was left out (if anything), tail."""
        if not self._dropped:
            return bytes(self._head + self._tail)
        note = b"\n[... %d bytes of output dropped ...]\n" % self._dropped
        return bytes(self._head) + note + bytes(self._tail)


class TextSink:
    """Decodes streamed stdout incrementally and passes text to a callback.

    ``\\r\\n`` becomes ``\\n`` even when a read splits the pair: a trailing ``\\r`` waits for
    the next chunk (or :meth:`flush`). ``raw`` (optional) gets the undecoded bytes first.
    """

    def __init__(self, callback: OutputCallback | None, raw: BytesCallback | None = None) -> None:
        self._callback = callback
        self._raw = raw
        self._decoder = codecs.getincrementaldecoder("utf-8")("replace")
        self._held_cr = False

    def feed(self, data: bytes) -> None:
        if self._raw is not None:
            self._raw(data)
        if self._callback is None:
            return
        text = ("\r" if self._held_cr else "") + self._decoder.decode(data)
        self._held_cr = text.endswith("\r")
        if self._held_cr:
            text = text[:-1]
        text = text.replace("\r\n", "\n")
        if text:
            self._callback(text)

    def flush(self) -> None:
        if self._callback is not None and self._held_cr:
            self._held_cr = False
            self._callback("\r")
