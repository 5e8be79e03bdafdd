"""WebREPL with a wrong password: a clear ConnectError, never a hang, the password nowhere.

The board is a unix board behind the virtual WebREPL server (``mpharness.virtual.webrepl_board``)
with a known password; the harness connects to its ``ws://`` URL through a rig entry.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

import mpharness
from mpharness.rigs.boardspec import BoardSpec
from mpharness.rigs.rig import Rig
from tests.conftest import require_virtual_board
from tests.faults.helpers import SLACK, timed

RIGHT = "R1ght-pw7"
WRONG = "Wr0ng-pw9"


@pytest.fixture(scope="module")
def server_url() -> Iterator[str]:
    require_virtual_board("unix")
    webrepl_board = pytest.importorskip("mpharness.virtual.webrepl_board")
    from mpharness.virtual.unix_board import open_unix_board

    server = webrepl_board.WebReplServer(open_unix_board(None), RIGHT).start()
    try:
        yield server.url
    finally:
        server.close()


def _open(url: str, password: str) -> mpharness.Board:
    rig = Rig.from_specs([BoardSpec(name="wifi-board", urls=(url,), password=password)])
    return mpharness.open_board("wifi-board", rig=rig, timeout=10)


@pytest.mark.parametrize("where", ["rig", "environment"])
def test_wrong_webrepl_password(
    server_url: str,
    where: str,
    run: int,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    caplog.set_level(logging.DEBUG)
    rig_password = WRONG
    if where == "environment":
        monkeypatch.setenv("MPHARNESS_WEBREPL_PASSWORD", WRONG)
        rig_password = ""  # empty: fall back to the environment variable
    with timed() as watch, pytest.raises(mpharness.ConnectError) as info:
        _open(server_url, rig_password).close()
    assert watch.seconds < 10 + SLACK
    message = str(info.value)
    assert "password" in message.lower() or "denied" in message.lower(), message
    assert WRONG not in message and WRONG not in repr(info.value)
    assert WRONG not in caplog.text
    with _open(server_url, RIGHT) as board:  # the server is free again: the right one works
        assert board.exec(f"print({run} * 11)") == f"{run * 11}\n"
    assert RIGHT not in caplog.text
