"""Control bytes and fixed byte strings of the MicroPython REPL protocols (protocols.md §0-3)."""

from __future__ import annotations

CTRL_A = b"\x01"  #: friendly -> raw REPL; in raw: re-banner; closes the raw-paste request
CTRL_B = b"\x02"  #: raw -> friendly REPL
CTRL_C = b"\x03"  #: interrupt running code / clear the line buffer
CTRL_D = b"\x04"  #: end of code in raw mode; soft reset at an empty prompt; frame separator
CTRL_E = b"\x05"  #: start of the raw-paste request

EOT = 0x04  #: the frame separator as an int, for bytes.find on memory views
RAW_PROMPT = b">"
RAW_BANNER = b"raw REPL; CTRL-B to exit\r\n>"
#: Suffix of every soft-reset text ("MPY: soft reboot", "PYB: ...", CircuitPython's).
SOFT_REBOOT = b"soft reboot\r\n"
RAW_OK = b"OK"

#: host -> device: ask for raw-paste mode (Ctrl-E, 'A', Ctrl-A)
PASTE_REQUEST = CTRL_E + b"A" + CTRL_A
PASTE_OK = b"R\x01"
PASTE_NOT_SUPPORTED = b"R\x00"
#: firmware older than v1.14 re-banners on the Ctrl-A: the reply starts with the banner itself
PASTE_OLD_FIRMWARE = b"ra"
PASTE_CREDIT = 0x01  #: device grants one more window
PASTE_ABORT = 0x04  #: device stopped receiving (or acks our end of data)

#: Bytes that must never appear inside code sent in plain raw mode (all are special there).
RAW_SPECIAL = frozenset(b"\x01\x02\x03\x04")
#: Bytes that must never appear inside code sent in raw-paste mode.
PASTE_SPECIAL = frozenset(b"\x03\x04")
