"""Choosing the integrity mode: rig key, environment, and what the link can do; and a link
too noisy for any code to pass its check."""

from __future__ import annotations

from pathlib import Path

import pytest

import mpharness
from mpharness.connect import INTEGRITY_ENV
from mpharness.virtual.pty_bridge import PtyBridge
from mpharness.virtual.shaped_urls import shaped_url
from mpharness.virtual.shaper import ShapedTransport
from mpharness.virtual.unix_board import open_unix_board
from tests.config.helpers import load, load_error, where
from tests.conftest import require_virtual_board
from tests.faults.helpers import fault_timeouts

_HIT_FILE = "integrity-hit"
_NOT_A_RESULT = (mpharness.LinkCorrupted, mpharness.BoardTimeout, mpharness.BoardBroken)


@pytest.mark.parametrize(
    ("text", "mode"),
    [("checked", "checked"), ("off", "off"), ("'off'", "off"), ("auto", "auto"), ("on", "checked")],
)
def test_rig_key(tmp_path: Path, text: str, mode: str) -> None:
    rig = load(tmp_path, f"boards:\n  b:\n    url: /dev/ttyUSB0\n    integrity: {text}\n")
    spec = rig.get("b")
    assert spec is not None and spec.integrity == mode


def test_rig_default_is_auto(tmp_path: Path) -> None:
    spec = load(tmp_path, "boards:\n  b:\n    url: /dev/ttyUSB0\n").get("b")
    assert spec is not None and spec.integrity == "auto"


@pytest.mark.parametrize("text", ["crc", "3", "[checked]"])
def test_bad_rig_value_names_line_and_key(tmp_path: Path, text: str) -> None:
    err = load_error(tmp_path, f"boards:\n  b:\n    url: /dev/ttyUSB0\n    integrity: {text}\n")
    assert where(err)[1:] == (4, "boards.b.integrity")
    assert "checked" in str(err) and "off" in str(err)


def test_auto_follows_the_link(monkeypatch: pytest.MonkeyPatch) -> None:
    require_virtual_board("unix")
    monkeypatch.delenv(INTEGRITY_ENV, raising=False)
    with mpharness.open_board("unix", rig=[]) as board:
        assert board.integrity == "off"  # a pty loses nothing
    with mpharness.open_board(shaped_url("unix:"), rig=[]) as board:
        assert board.integrity == "checked"  # plays a serial line
        assert board.eval("6 * 7") == 42


def test_environment_overrides_every_board(monkeypatch: pytest.MonkeyPatch) -> None:
    require_virtual_board("unix")
    monkeypatch.setenv(INTEGRITY_ENV, "checked")
    with mpharness.open_board("unix", rig=[]) as board:
        assert board.integrity == "checked"
        assert board.exec("print('x')") == "x\n"
    monkeypatch.setenv(INTEGRITY_ENV, "maybe")
    with pytest.raises(mpharness.ConfigError, match=INTEGRITY_ENV):
        mpharness.open_board("unix", rig=[])


def test_link_too_noisy_for_any_code_says_so_and_nothing_ran() -> None:
    """5% of the bytes to the board damaged (none on the way back, fixed seed): no envelope
    of this size arrives intact, so the exec ends in LinkCorrupted(ran=False), or a timeout
    (or a broken board) if the damage hit the protocol itself; never in a result. Once the
    link is clean, the code is found not to have run."""
    require_virtual_board("unix")
    with mpharness.open_board(shaped_url("unix:"), rig=[]) as board, fault_timeouts(board):
        shaper = board.transport
        assert isinstance(shaper, ShapedTransport)
        if board.fs.exists(_HIT_FILE):
            board.fs.remove(_HIT_FILE)
        # a file, not a variable: the recovery may hard-reset the board (files stay)
        code = f"open({_HIT_FILE!r}, 'w').close()\n" + "# padding that noise will hit\n" * 20
        shaper.set_noise(drop_rate=0.0, corrupt_rate=0.05, seed=3, down=False)
        try:
            with pytest.raises(_NOT_A_RESULT) as info:
                board.exec(code, timeout=1.5)
        finally:
            shaper.set_noise(0.0, 0.0)
        if isinstance(info.value, mpharness.LinkCorrupted):
            assert info.value.ran is False
        board.broken = None
        board.recover()
        assert not board.fs.exists(_HIT_FILE)


def test_auto_is_off_for_a_board_on_a_pty(monkeypatch: pytest.MonkeyPatch) -> None:
    """A board shared on a pty (``mpharness pty``, socat) is memory, not a wire: opened by the
    pty's path, ``auto`` leaves checked execs off."""
    require_virtual_board("unix")
    monkeypatch.delenv(INTEGRITY_ENV, raising=False)
    with (
        open_unix_board(None) as inner,
        PtyBridge(inner) as bridge,
        mpharness.open_board(bridge.slave_path, rig=[]) as board,
    ):
        assert board.integrity == "off"
        assert board.eval("6 * 7") == 42
