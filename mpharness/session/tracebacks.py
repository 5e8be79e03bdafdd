"""Board tracebacks as if the code had been sent whole and plainly.

The engine sometimes runs user code one level down: the micro:bit's uploaded code runs as
``exec(...)`` of a board-side string, checked execs run it inside the integrity helper. The
board then reports the program's frames as ``<string>`` under a frame of the engine's own.
:func:`as_sent_whole` gives the traceback a plain run would give: the engine's frame goes,
the program's frames become ``<stdin>``, and code the program itself ran with ``exec`` keeps
its ``<string>``.
"""

from __future__ import annotations

_LOADER_FRAME = b'  File "<stdin>", line 1, in <module>'
_FRAME_HEAD = b'  File "'
_STRING_FILE = b'  File "<string>"'
_STDIN_FILE = b'  File "<stdin>"'


def as_sent_whole(error: bytes) -> bytes:
    """The traceback of an uploaded or enveloped run as if the code had been sent whole: a
    first frame that is the micro:bit loader's (``<stdin>`` line 1) is dropped; the program's
    top-level frame and the frames of functions it calls become ``<stdin>``, up to the next
    top-level (``in <module>``) frame: code the program ran with ``exec`` itself, which keeps
    its ``<string>`` (and so do the frames after it)."""
    out: list[bytes] = []
    first, program, nested = True, False, False
    for line in error.split(b"\n"):
        if line.startswith(_FRAME_HEAD) and not nested:
            frame = line.rstrip(b"\r")
            if first:
                first = False
                if frame == _LOADER_FRAME:
                    continue
            if program and frame.endswith(b", in <module>"):
                nested = True
            elif line.startswith(_STRING_FILE):
                line = _STDIN_FILE + line[len(_STRING_FILE) :]
                program = True
        out.append(line)
    return b"\n".join(out)
