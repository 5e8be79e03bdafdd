"""Running code as a checked exec (see :mod:`mpharness.session.integrity` for the scheme).

Theory of operation
-------------------
:func:`run_checked` sends the envelope, and looks at how the board answered: a result, or an
error raised inside the helper (the user's code ran), is final and gets its traceback cleaned;
an error from the envelope itself (a failed check, a syntax error or mangled name from damaged
bytes) means nothing ran, so the envelope goes again, at most ``integrity.RESENDS`` times, and
then :class:`~mpharness.errors.LinkCorrupted` says the link is too noisy. The board-side helper
is defined once per interpreter: in the same frame as the first checked exec on raw-paste
boards, uploaded separately on boards without raw-paste (it is longer than their 63-byte
input). A helper that vanished (a reset the host did not see) shows as a NameError from the
envelope, and is sent again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from mpharness.deadline import Deadline
from mpharness.errors import BoardTimeout, LinkCorrupted
from mpharness.protocol import make_marker, new_nonce
from mpharness.protocol.machine import refuse_control_bytes
from mpharness.session import integrity
from mpharness.session.frame_exec import run_frame, run_quiet
from mpharness.session.link import Link
from mpharness.session.output import TextSink
from mpharness.session.results import ExecResult
from mpharness.session.small_upload import echo_uploadable, run_uploaded, upload_code

log = logging.getLogger("mpharness.board")

#: board-side variable that holds uploaded code on boards without raw-paste
STORED = "_mph"


def run_checked(
    link: Link,
    body: bytes,
    deadline: Deadline,
    sink: TextSink,
    upload: Callable[[], None] | None = None,
) -> ExecResult:
    """Run ``body`` through the board's integrity helper, resending while the envelope
    arrives damaged. ``upload``: puts the code into the board-side :data:`STORED` first (boards
    without raw-paste, long code), and the envelope then names that variable."""
    refuse_control_bytes(body)  # as a plain exec would: the same code, the same answer
    small = link.machine.paste_supported is False
    for attempt in range(1, integrity.RESENDS + 2):
        if attempt > 1:
            link.ensure_ready(deadline)
        if small:
            install_helper_small(link, deadline)
        if upload is not None:
            upload()
        nonce = new_nonce()
        sending_helper = upload is None and not link.helper_ready
        if upload is not None:
            frame = integrity.stored_call(STORED, body.decode("utf-8"), nonce)
        else:
            frame = integrity.envelope(body, nonce, with_helper=not link.helper_ready)
        try:
            result = run_frame(
                link,
                frame,
                make_marker(nonce),
                deadline,
                _StartTagFilter(sink),  # type: ignore[arg-type]
            )
        except BoardTimeout as timeout:
            timeout.partial_output = _without_start_tag(timeout.partial_output.encode()).decode()
            raise
        link.helper_ready = not integrity.helper_broken(result.error, sending_helper)
        if not result.error or integrity.ran(result.stdout, result.error, link.interrupt_sent):
            return ExecResult(
                _without_start_tag(result.stdout),
                integrity.clean_traceback(result.error),
                result.completed,
                result.exited,
                result.rebooted,
            )
        log.warning("%s: code arrived damaged (attempt %d), resending", link.name, attempt)
    raise LinkCorrupted(
        f"board {link.name!r}: the link damaged the code {integrity.RESENDS + 1} times in a "
        "row; it did not run",
        ran=False,
    )


def run_small_checked(link: Link, code: str, deadline: Deadline, sink: TextSink) -> ExecResult:
    """A checked exec on a board without raw-paste: the envelope in one write when it fits;
    else the code is uploaded by the input() loader and its echo compared with what was sent
    (no board memory spent on a checksum: 32 KB programs still fit), uploaded again while the
    echo differs; code the loader cannot take is checked by the helper."""
    body = code.encode("utf-8")
    sample = integrity.envelope(body, new_nonce(), with_helper=False)
    if len(sample) < link.small_input:
        return run_checked(link, body, deadline, sink)
    if not echo_uploadable(code):
        upload = lambda: upload_code(link, code, deadline)  # noqa: E731
        return run_checked(link, body, deadline, sink, upload=upload)
    install_helper_small(link, deadline)  # the code may use it (Board.eval does)
    for attempt in range(1, integrity.RESENDS + 2):
        try:
            upload_code(link, code, deadline, verify=True)
        except LinkCorrupted:
            log.warning("%s: upload arrived damaged (attempt %d), resending", link.name, attempt)
            link.ensure_ready(deadline)
            continue
        return run_uploaded(link, deadline, sink)
    raise LinkCorrupted(
        f"board {link.name!r}: the link damaged the uploaded code {integrity.RESENDS + 1} "
        "times in a row; it did not run",
        ran=False,
    )


def install_helper_small(link: Link, deadline: Deadline) -> None:
    """Boards without raw-paste: upload the integrity helper and define it (once)."""
    if link.helper_ready:
        return
    source = integrity.helper()
    upload_code(link, source.decode(), deadline)
    # Two statements: together they would not fit in the 63-byte input.
    run_quiet(link, f"_k=int.from_bytes({STORED},'little')%{integrity.MODULUS}", deadline)
    run_quiet(
        link, f"if _k=={integrity.checksum(source)}:exec({STORED})\n{STORED}=_k=None", deadline
    )
    link.helper_ready = True


def _without_start_tag(stdout: bytes) -> bytes:
    at = stdout.find(integrity.STARTED)
    return stdout if at < 0 else stdout[:at] + stdout[at + 1 :]


class _StartTagFilter:
    """A sink that passes stdout on without the helper's start tag (its first occurrence)."""

    def __init__(self, sink: TextSink) -> None:
        self._sink = sink
        self._seen = False

    def feed(self, data: bytes) -> None:
        if not self._seen and integrity.STARTED in data:
            self._seen = True
            data = _without_start_tag(data)
        if data:
            self._sink.feed(data)

    def flush(self) -> None:
        self._sink.flush()
