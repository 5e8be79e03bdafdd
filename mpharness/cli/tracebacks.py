"""Board tracebacks of ``mpharness run FILE`` shown against FILE, as ``python FILE`` shows them.

Theory of operation
-------------------
``run`` sends the file's text as it is, so line N of the code the board calls ``<stdin>`` is
line N of the file (the engine already reports code it uploaded in pieces, or ran through the
checked-exec helper, as ``<stdin>`` with the code's own line numbers). :func:`map_stdin_frames`
rewrites each ``File "<stdin>", line N`` frame to name the file and adds the file's line N
beneath it, as CPython does; frames of modules on the board keep the board's names.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

__all__ = ["map_stdin_frames"]

_STDIN_FRAME = re.compile(r'^(?P<indent>\s*)File "<stdin>", line (?P<line>\d+)(?P<rest>.*)$')


def map_stdin_frames(traceback: str, path: str, source_lines: Sequence[str]) -> str:
    """``traceback`` with its ``<stdin>`` frames pointing at ``path`` and showing its lines.

    Args:
        traceback: the board's traceback text.
        path: the file name to show (as the user typed it).
        source_lines: the file's lines (without line ends).
    """
    out: list[str] = []
    for text in traceback.splitlines():
        match = _STDIN_FRAME.match(text)
        if match is None:
            out.append(text)
            continue
        lineno = int(match.group("line"))
        out.append(f'{match.group("indent")}File "{path}", line {lineno}{match.group("rest")}')
        if 0 < lineno <= len(source_lines) and source_lines[lineno - 1].strip():
            out.append(f"{match.group('indent')}  {source_lines[lineno - 1].strip()}")
    return "\n".join(out) + ("\n" if traceback.endswith("\n") or out else "")
