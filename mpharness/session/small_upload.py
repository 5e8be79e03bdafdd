"""Moving source code onto boards without raw-paste, leak-free and never overrunning them.

Theory of operation
-------------------
The micro:bit's UART ring buffer holds 63 bytes and drops the rest, and plain raw mode has no
flow control. So code too long for one small write is uploaded into a board-side list
``_mph`` and then run with ``exec``. Two ways:

* **input() loader** (preferred): one raw exec runs a tiny loop that appends ``input()``
  lines to ``_mph`` until a ``~~`` line. ``input()`` echoes every character, and the host
  waits for the echo of each piece (at most :data:`ECHO_PIECE` bytes) before sending the next:
  flow control by echo. The lines arrive as data, not as string literals, so nothing is
  interned: MicroPython interns short string literals (qstrs) for good, and uploading source
  as literals would slowly eat a 10 KB heap. Only lines of printable ASCII qualify.
* **literal appends** (fallback for other characters): ``_mph.append('...')`` execs of at
  most 63 bytes each.

The program must see exactly the globals it would see if it had been sent whole, so the
loader leaves nothing behind: the loop keeps its lines in ``_mph`` alone (no loop variable,
``gc`` reached by ``__import__``), and the run takes ``_mph`` out of the globals as it starts
(``exec(globals().pop('_mph'))``). ``_mph`` is the engine's reserved name. The traceback of
the run is rewritten to read as if the code had been sent whole: the loader's own frame goes,
and the program's frames (``<string>``, from the exec) become ``<stdin>``; frames of code the
program itself runs with ``exec`` keep their ``<string>``.
"""

from __future__ import annotations

from mpharness.deadline import Deadline
from mpharness.errors import BoardTimeout, LinkCorrupted, ProtocolError
from mpharness.protocol import ExecFinished, State, Stdout, make_marker, new_nonce, with_end_marker
from mpharness.session.chunking import source_literals
from mpharness.session.frame_exec import run_code, run_frame, run_quiet
from mpharness.session.link import Link
from mpharness.session.output import TextSink
from mpharness.session.results import ExecResult
from mpharness.session.tracebacks import as_sent_whole

#: reads lines into ``_mph`` until the end line (kept as the list's last item)
LOADER = "_mph=[input()]\nwhile _mph[-1]!='~~':_mph.append(input())"
#: frees the loader's garbage without binding ``gc`` in the program's globals
COLLECT = "__import__('gc').collect()"
#: runs the uploaded code; ``_mph`` leaves the globals before the code starts
RUN_UPLOADED = "exec(globals().pop('_mph'))"
END_LINE = "~~"
#: bytes sent before waiting for their echo (the ring buffer holds 63)
ECHO_PIECE = 48


def _printable(line: str) -> bool:
    return all(" " <= ch <= "~" for ch in line)


def echo_uploadable(text: str) -> bool:
    """Whether ``text`` goes by the input() loader (so its echo can be checked)."""
    return all(_printable(line) and line != END_LINE for line in text.lstrip("\n").split("\n"))


def upload_source(link: Link, text: str, deadline: Deadline, verify: bool = False) -> None:
    """Leave ``text`` in the board-side global ``_mph`` (a str).

    Leading blank lines (the padding that keeps line numbers) are not sent one by one: the
    board prepends them itself. ``verify``: compare the echo with what was sent (raises
    :class:`~mpharness.errors.LinkCorrupted` when they differ; the loader still ends cleanly).
    """
    body = text.lstrip("\n")
    pad = len(text) - len(body)
    lines = body.split("\n")
    if echo_uploadable(text):
        feed_lines(link, lines, deadline, verify=verify)
        run_quiet(link, f"_mph.pop()\n_mph='\\n'*{pad}+'\\n'.join(_mph)", deadline)
        run_quiet(link, COLLECT, deadline)
        return
    limit = link.small_input - len("_mph.append()") - 1
    for literal in source_literals(body, limit):
        run_quiet(link, f"_mph.append({literal})", deadline)
    run_quiet(link, f"_mph='\\n'*{pad}+''.join(_mph)", deadline)
    run_quiet(link, COLLECT, deadline)


def _feed(
    link: Link, deadline: Deadline, echo: bytearray | None = None
) -> tuple[int, ExecFinished | None]:
    """Read once; give the bytes to the machine; returns how many arrived, and the loader's
    end if it came. A loader that ended with an error is raised as ProtocolError. ``echo``
    collects the loader's output (the echo)."""
    if deadline.expired():  # checked before reading: a chatty board never reads empty
        raise BoardTimeout("code upload", deadline.budget)
    data = link.transport.read(deadline)
    if not data:
        return 0, None
    for event in link.machine.receive(data):
        if echo is not None and isinstance(event, Stdout):
            echo += event.data
        if isinstance(event, ExecFinished):
            if event.error:
                detail = event.error.decode("utf-8", "replace").strip()
                raise ProtocolError(f"board {link.name!r} failed to load code: {detail[-300:]}")
            return len(data), event
    return len(data), None


def feed_lines(
    link: Link, lines: list[str], deadline: Deadline, loader: str = LOADER, verify: bool = False
) -> None:
    """Run ``loader`` (≤ 63 bytes, a loop that reads ``input()`` lines until ``~~``) and send
    it ``lines`` (printable ASCII, never ``~~``), flow controlled by their echo. ``verify``:
    the echo must equal what was sent, else LinkCorrupted once the loader has ended. The board
    must be at an idle raw REPL."""
    echo = bytearray() if verify else None
    link.write(link.machine.begin_exec(loader.encode(), b""))
    link.flush_code()
    while link.machine.state is not State.REPLY:
        _feed(link, deadline)
    # Lines are packed back to back: flow control counts echoed bytes, not lines.
    data = "".join(line + "\r" for line in lines).encode("ascii")
    for i in range(0, len(data), ECHO_PIECE):
        piece = data[i : i + ECHO_PIECE]
        link.write(piece)
        expected = len(piece) + piece.count(b"\r")  # "\r" echoes as "\r\n"
        while expected > 0:
            count, finished = _feed(link, deadline, echo)
            if finished is not None:
                raise ProtocolError(f"board {link.name!r} stopped taking code early")
            expected -= count
    link.write((END_LINE + "\r").encode("ascii"))
    while _feed(link, deadline, echo)[1] is None:
        pass
    if echo is not None and bytes(echo) != (data + END_LINE.encode() + b"\r").replace(
        b"\r", b"\r\n"
    ):
        raise LinkCorrupted(f"board {link.name!r}: the link damaged uploaded code", ran=False)


def exec_small(link: Link, code: str, deadline: Deadline, sink: TextSink) -> ExecResult:
    """Exec on a board without raw-paste: never more than ``link.small_input`` bytes in
    flight. Short code goes in one write; longer code is uploaded into ``_mph`` and run with
    ``exec`` (checked execs: :func:`mpharness.session.checked_exec.run_small_checked`)."""
    nonce = new_nonce()
    body = with_end_marker(code, nonce)
    if len(body) < link.small_input:
        return run_frame(link, body, make_marker(nonce), deadline, sink)
    upload_code(link, code, deadline)
    return run_uploaded(link, deadline, sink)


def upload_code(link: Link, code: str, deadline: Deadline, verify: bool = False) -> None:
    """Leave ``code`` in the board-side str ``_mph`` (see :func:`upload_source`)."""
    run_quiet(link, f"_mph=None\n{COLLECT}\n_mph=[]", deadline)
    upload_source(link, code, deadline, verify=verify)


def run_uploaded(link: Link, deadline: Deadline, sink: TextSink) -> ExecResult:
    """Run the code uploaded into ``_mph`` (taking it out of the globals first), reported as
    ``<stdin>`` as if sent whole."""
    result = run_code(link, RUN_UPLOADED, deadline, sink)
    if not result.error:
        return result
    error = as_sent_whole(result.error)
    return ExecResult(result.stdout, error, result.completed, result.exited, result.rebooted)
