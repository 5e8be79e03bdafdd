"""Checked execs on the real virtual boards: same results and tracebacks as plain execs, code
that fails its check never runs, and the helper comes back after a reset."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import mpharness
from mpharness.deadline import Deadline
from mpharness.protocol import make_marker, new_nonce
from mpharness.session import integrity
from mpharness.session.output import TextSink
from mpharness.virtual.shaped_urls import shaped_url
from mpharness.virtual.shaper import ShapedTransport
from tests.conftest import require_virtual_board
from tests.faults.helpers import fault_timeouts

CASES = [
    "print(6 * 7)",
    "x = 1\ndef f():\n    return 1 / 0\nf()",
    "print('é' * 3)\nraise ValueError('bad\\nvalue')",
    "import sys\nsys.exit(0)\n",
    "for i in range(3):\n    print(i, end=' ')",
]


def _outcome(board: mpharness.Board, code: str) -> tuple[str, str, str]:
    try:
        return ("ok", board.exec(code), "")
    except mpharness.RemoteError as err:
        return (err.exc_type, err.stdout, err.traceback)


@pytest.fixture
def checked(vboard: mpharness.Board) -> Iterator[mpharness.Board]:
    vboard.integrity = "checked"
    try:
        yield vboard
    finally:
        vboard.integrity = "off"


@pytest.mark.parametrize("code", CASES)
def test_checked_exec_answers_like_a_plain_one(vboard: mpharness.Board, code: str) -> None:
    vboard.integrity = "off"
    plain = _outcome(vboard, code)
    vboard.integrity = "checked"
    try:
        assert _outcome(vboard, code) == plain
    finally:
        vboard.integrity = "off"


def test_checked_values_and_streaming(checked: mpharness.Board) -> None:
    assert checked.eval("[1, 'a\\x1d', {2: (3.5, None)}]") == [1, "a\x1d", {2: (3.5, None)}]
    pieces: list[str] = []
    assert checked.exec("print('a')\nprint('b')", on_output=pieces.append) == "a\nb\n"
    assert "".join(pieces) == "a\nb\n"  # the start tag is not streamed


def test_long_code_is_checked_too(checked: mpharness.Board) -> None:
    code = "\n".join(f"v = {i}" for i in range(200)) + "\nprint(v)"
    assert checked.exec(code) == "199\n"


def test_code_that_fails_its_check_does_not_run(checked: mpharness.Board) -> None:
    """Send an envelope whose code was changed after its checksum was taken (what a flipped
    byte does): the board refuses it, prints no start tag, and the code never ran."""
    checked.exec("pass")  # the helper is on the board now
    checked.exec("hit = 0")
    nonce = new_nonce()
    frame = integrity.envelope(b"hit = 1", nonce, with_helper=False).replace(b"1", b"7", 1)
    result = checked._exec_frame(frame, make_marker(nonce), Deadline.after(5), TextSink(None))
    assert not result.completed
    assert integrity.FAILED in result.error
    assert not integrity.ran(result.stdout, result.error)
    assert checked.eval("hit") == 0


def test_helper_returns_after_a_reset_and_after_removal(checked: mpharness.Board) -> None:
    assert checked.exec("print(1)") == "1\n"
    checked.soft_reset()
    assert not checked.helper_ready
    assert checked.exec("print(2)") == "2\n"
    assert checked.helper_ready
    checked.exec("del _mph_x")  # user code removed it: the next exec sends it again
    assert checked.exec("print(3)") == "3\n"


def test_unchecked_exec_on_request(checked: mpharness.Board) -> None:
    result = checked.exec_raw("print('plain')", checked=False)
    assert result.completed and result.stdout.replace(b"\r\n", b"\n") == b"plain\n"


def test_long_code_on_a_noisy_link_to_a_small_board_is_exact_or_refused() -> None:
    """The micro:bit behind a link that damages 0.3% of the bytes to it: a long checked
    program (uploaded by the input() loader, its echo compared) gives the exact result or an
    error (damage can still hit the engine's own short statements), never a wrong result."""
    require_virtual_board("microbit")
    code = "t = 0\n" + "".join(f"t += {i}\n" for i in range(150)) + "print(t)"
    url = shaped_url("qemu:microbit")
    with mpharness.open_board(url, rig=[]) as board, fault_timeouts(board):
        shaper = board.transport
        assert isinstance(shaper, ShapedTransport) and board.integrity == "checked"
        outcomes = []
        for seed in range(1):
            shaper.set_noise(corrupt_rate=0.003, seed=seed, down=False)
            try:
                outcomes.append(board.exec(code, timeout=8))
            except mpharness.MPHarnessError as err:  # damage may hit the engine's own steps
                outcomes.append(type(err).__name__)
                board.broken = None
            shaper.set_noise(0.0, 0.0)
            board.recover()
        wrong = [o for o in outcomes if o.endswith("\n") and o != f"{sum(range(150))}\n"]
        assert not wrong, outcomes
