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
