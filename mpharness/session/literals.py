"""Bytes literals for raw-paste source: data that travels (almost) as itself.

MicroPython's lexer keeps the bytes of a bytes literal as they are, 0x80-0xFF included, so a
literal only needs escapes for what the lexer or the raw REPL would change: backslash, quote,
CR and LF (two-character escapes) and 0x00-0x04 (octal escapes: the raw REPL takes 0x01-0x04
as commands, the lexer 0x00 as the end; three digits when an octal digit follows). Random data
grows by about 3.5%, text by a byte per line end, quote or backslash; base64 would cost 33%.
"""

from __future__ import annotations

import re

__all__ = ["bytes_literal"]

#: the raw REPL's command bytes and NUL: octal escapes
_CONTROL = [(bytes([byte]), b"\\%o" % byte) for byte in range(5)]
_CONTROL_BEFORE_OCTAL = re.compile(rb"[\x00-\x04](?=[0-7])")
#: the other bytes a single-quoted literal cannot hold as themselves (backslash first)
_SHORT = ((b"\\", b"\\\\"), (b"'", b"\\'"), (b"\n", b"\\n"), (b"\r", b"\\r"))


def bytes_literal(data: bytes) -> bytes:
    """``data`` as a bytes literal (``b'...'``) that is safe in raw-paste source."""
    for raw, escaped in _SHORT:
        data = data.replace(raw, escaped)
    data = _CONTROL_BEFORE_OCTAL.sub(lambda m: b"\\%03o" % m[0][0], data)
    for raw, escaped in _CONTROL:
        data = data.replace(raw, escaped)
    return b"b'" + data + b"'"
