"""Boards that never stop printing: every call still ends within its budget, memory stays
bounded, callbacks see every byte, and the board is usable afterwards."""

from __future__ import annotations

import resource
from collections.abc import Iterator

import pytest

import mpharness
from tests.conftest import require_virtual_board
from tests.faults.helpers import fault_timeouts, hang_budget, timed

FLOODS = {
    "plain": "while True: print('z' * 1000)",
    # a \x04 of its own first: the scan must not wait for that "frame" to end
    "eot first": "print('\\x04')\nwhile True: print('z' * 1000)",
}


@pytest.fixture(scope="module", params=["unix", "microbit"])
def flood_board(request: pytest.FixtureRequest) -> Iterator[mpharness.Board]:
    require_virtual_board(request.param)
    with (
        mpharness.open_board(request.param, rig=[], timeout=60) as opened,
        fault_timeouts(opened),
    ):
        yield opened


@pytest.mark.parametrize("kind", sorted(FLOODS))
def test_a_flood_ends_at_its_deadline(flood_board: mpharness.Board, kind: str, run: int) -> None:
    seen = [0]

    def count(text: str) -> None:
        seen[0] += len(text)

    with timed() as watch, pytest.raises(mpharness.BoardTimeout) as caught:
        flood_board.exec(FLOODS[kind], timeout=1.5, on_output=count)
    assert watch.seconds < hang_budget(flood_board, 1.5)
    partial = caught.value.partial_output
    assert len(partial) < 2 * 1024 * 1024  # head and tail, not the whole flood
    assert seen[0] > 10_000  # streaming went on the whole time
    assert flood_board.exec("print('after')") == "after\n"


def test_a_long_output_keeps_head_and_tail_and_streams_everything(
    flood_board: mpharness.Board,
) -> None:
    streamed = bytearray()
    result = flood_board.exec_raw(
        "for i in range(2500): print('%04d' % i + 'y' * 995)",
        timeout=60,
        on_bytes=streamed.extend,
    )
    assert result.completed and not result.error
    lines = bytes(streamed).replace(b"\r\n", b"\n").split(b"\n")
    assert len(lines) == 2501 and lines[-2].startswith(b"2499")  # every line streamed
    kept = result.stdout.replace(b"\r\n", b"\n")
    assert kept.startswith(b"0000y") and kept.endswith(b"2499" + b"y" * 995 + b"\n")
    assert b"bytes of output dropped" in kept
    assert len(kept) < 600 * 1024


def test_keep_output_none_keeps_everything(flood_board: mpharness.Board) -> None:
    result = flood_board.exec_raw("for i in range(600): print('x' * 999)", keep_output=None)
    assert result.stdout.replace(b"\r\n", b"\n") == (b"x" * 999 + b"\n") * 600


def test_memory_is_bounded_while_flooded(flood_board: mpharness.Board) -> None:
    flood_board.soft_reset()  # a fresh heap: the micro:bit has 16 KB
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(mpharness.BoardTimeout):
        flood_board.exec("q = 'q' * 1000\nwhile True: print(q)", timeout=4)
    grown_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    # a 4 s flood moves tens of MB through the link; the engine keeps about one MB
    assert grown_kib < 64 * 1024
