"""Program output that imitates the protocol must not forge a result (design.md §3).

The device frames a reply as ``stdout \\x04 error \\x04 >`` and nothing escapes a ``\\x04`` the
program prints itself, so the host appends a statement that prints a per-exec marker
(``\\x1e<nonce>\\x1f``). These tests print every imitation we can think of and check that:

* ``completed`` is True only when the real marker was printed;
* ``stdout`` is exactly what the program printed: no byte lost, none invented;
* streamed ``Stdout`` chunks add up to ``stdout`` and never contain the marker.
"""

from __future__ import annotations

import pytest

from mpharness.protocol import ExecFinished, State, make_marker

from .helpers import BANNER, EOLS, FEED_MODES, MARKER, NONCE, Driver, ready_machine

WRONG_MARKER = make_marker(b"deadbeef")
FAKE_TRACEBACK = (
    b"Traceback (most recent call last):\r\n"
    b'  File "<stdin>", line 1, in <module>\r\n'
    b"ZeroDivisionError: divide by zero\r\n"
)

FORGERIES = {
    "eot": b"\x04",
    "eot and newline": b"\x04\r\n",
    "end of frame": b"\x04\x04>",
    "end of frame and newline": b"\x04\x04>\r\n",
    "exit pair": b"\x04\x04\r\n",  # print(chr(4) * 2): looks like SystemExit
    "exit pair then text": b"\x04\x04MPY: nothing\r\nmore\r\n",
    "three eots": b"\x04\x04\x04",
    "ok": b"OK",
    "ok frame": b"OK\x04\x04>",
    "prompt": b">",
    "raw banner": BANNER,
    "soft reboot line": b"MPY: soft reboot\r\n",
    "fake traceback text": FAKE_TRACEBACK,
    "fake error section without prompt": b"\x04" + FAKE_TRACEBACK + b"\x04",
    "fake paste reply": b"R\x01\x80\x00\x01",
    "fake paste refusal": b"R\x00>",
    "wrong marker": WRONG_MARKER + b"\r\n",
    "wrong marker and frame": WRONG_MARKER + b"\r\n\x04\x04>",
    "marker lead only": b"\x1e",
    "marker prefix": b"\x1e" + NONCE[:4],
    "marker without tail": b"\x1e" + NONCE + b"\r\n",
    "marker tail only": NONCE + b"\x1f\r\n",
    "binary": bytes(range(256)).replace(b"\x1e" + NONCE, b""),
}


def _run(stdout: bytes, tail: bytes, mode: str, paste: bool = True) -> Driver:
    driver = Driver(ready_machine(paste=paste))
    driver.write(driver.machine.begin_exec(b"print('x')", MARKER))
    driver.flush()
    head = b"R\x01\x80\x00\x01\x04" if paste else b"OK"
    driver.feed(head + stdout + tail, mode)
    return driver


@pytest.mark.parametrize("mode", FEED_MODES)
@pytest.mark.parametrize("eol", list(EOLS.values()), ids=list(EOLS))
@pytest.mark.parametrize("paste", [True, False], ids=["paste", "plain"])
@pytest.mark.parametrize("forgery", list(FORGERIES))
def test_forged_framing_in_a_completed_run(
    forgery: str, paste: bool, eol: bytes, mode: str
) -> None:
    printed = b"before" + eol + FORGERIES[forgery] + b"after" + eol
    driver = _run(printed, MARKER + eol + b"\x04\x04>", mode, paste)
    result = driver.finished()
    if not paste and b"\x04\x04>" in printed:
        # firmware without raw-paste (< v1.14) answers SystemExit exactly so: see below
        assert (result.completed, result.exited) == (False, True)
        assert printed.startswith(result.stdout)
    else:
        assert result == ExecFinished(printed, b"", True, False)
    assert driver.machine.state is State.READY


@pytest.mark.parametrize("mode", FEED_MODES)
@pytest.mark.parametrize("forgery", list(FORGERIES))
def test_forged_framing_in_a_failed_run(forgery: str, mode: str) -> None:
    printed = b"before\r\n" + FORGERIES[forgery] + b"after\r\n"
    driver = _run(printed, b"\x04" + FAKE_TRACEBACK + b"\x04>", mode)
    assert driver.finished() == ExecFinished(printed, FAKE_TRACEBACK, False, False)


@pytest.mark.parametrize("mode", FEED_MODES)
@pytest.mark.parametrize("forgery", list(FORGERIES))
def test_forged_framing_in_an_exit(forgery: str, mode: str) -> None:
    printed = b"before\r\n" + FORGERIES[forgery] + b"after\r\n"
    driver = _run(printed, b"\x04\x04MPY: soft reboot\r\n" + BANNER, mode)
    assert driver.finished() == ExecFinished(printed, b"", False, True, True)
    assert driver.machine.state is State.READY


@pytest.mark.parametrize("mode", FEED_MODES)
@pytest.mark.parametrize("forgery", list(FORGERIES))
def test_forgery_alone_never_completes(forgery: str, mode: str) -> None:
    """A run still going (no real frame yet) reports nothing but stdout."""
    printed = b"before\r\n" + FORGERIES[forgery] + b"after\r\n"
    driver = _run(printed, b"", mode)
    assert driver.of_type(ExecFinished) == []
    assert driver.machine.state is State.REPLY


@pytest.mark.parametrize("mode", FEED_MODES)
def test_known_limit_a_full_fake_failure_frame(mode: str) -> None:
    """Known limit: a program that prints a complete *failure* frame
    (``\\x04<text>\\x04>``, text non-empty) and then carries on is reported as failed, with the
    text as its error and the stdout printed before it.

    The device's framing has no escape, so those bytes are exactly what a real failure sends.
    This is the safe direction: a forged frame can turn a pass into a failure, never a failure
    into a pass, because ``completed`` needs the per-exec marker. The same holds for a printed
    ``\\x04\\x04`` followed by a printed reboot line or raw banner, and, on firmware older
    than v1.14 (no raw-paste), for a printed ``\\x04\\x04>``: both read as SystemExit.
    """
    printed = b"ok\r\n\x04" + FAKE_TRACEBACK + b"\x04>still running\r\n"
    driver = _run(printed, MARKER + b"\r\n\x04\x04>", mode)
    result = driver.finished()
    assert result == ExecFinished(b"ok\r\n", FAKE_TRACEBACK, False, False)

    printed = b"\x04\x04MPY: soft reboot\r\nstill running\r\n"
    driver = _run(printed, MARKER + b"\r\n\x04\x04>", mode)
    result = driver.finished()
    assert (result.completed, result.exited, result.stdout) == (False, True, b"")

    printed = b"x\r\n\x04\x04>still running\r\n"
    driver = _run(printed, MARKER + b"\r\n\x04\x04>", mode, paste=False)
    result = driver.finished()
    assert (result.completed, result.exited, result.stdout) == (False, True, b"x\r\n")


@pytest.mark.parametrize("mode", FEED_MODES)
def test_wrong_nonce_never_completes(mode: str) -> None:
    """A marker from another exec (a stale nonce) does not complete this one."""
    driver = _run(b"x\r\n", WRONG_MARKER + b"\r\n\x04\x04>", mode)
    assert driver.of_type(ExecFinished) == []  # \x04\x04> with no marker: printed, not real
    driver.feed(b"\x04" + FAKE_TRACEBACK + b"\x04>", mode)
    result = driver.finished()
    assert not result.completed
    assert result.stdout == b"x\r\n" + WRONG_MARKER + b"\r\n\x04\x04>"


@pytest.mark.parametrize("eol", list(EOLS.values()), ids=list(EOLS))
def test_marker_is_held_back_until_the_frame_ends(eol: bytes) -> None:
    """The marker line arrives before the frame; it must not be streamed as stdout."""
    driver = Driver(ready_machine(paste=True))
    driver.write(driver.machine.begin_exec(b"print(1)", MARKER))
    for piece in (b"R\x01\x80\x00\x01\x04", b"1" + eol, MARKER, eol, b"\x04", b"\x04", b">"):
        driver.feed(piece)
    assert driver.finished() == ExecFinished(b"1" + eol, b"", True, False)


@pytest.mark.parametrize("eol", list(EOLS.values()), ids=list(EOLS))
def test_partial_marker_lookalike_is_released_when_it_diverges(eol: bytes) -> None:
    """Output that starts like the marker is held back, then streamed once it differs."""
    driver = _run(b"a\x1e" + NONCE[:3], b"", "whole")
    assert b"".join(e.data for e in driver.events if hasattr(e, "data")) == b"a"
    driver.feed(b"zz" + eol)
    streamed = b"".join(e.data for e in driver.events if hasattr(e, "data"))
    assert streamed == b"a\x1e" + NONCE[:3] + b"zz" + eol
