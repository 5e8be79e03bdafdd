"""``python -m mpharness.virtual.webrepl_board``: a virtual WebREPL board for other tools."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import mpharness
from mpharness.virtual.webrepl_board import main
from tests.conftest import require_virtual_board


def test_needs_password_env(monkeypatch, capsys) -> None:
    monkeypatch.delenv("MPHARNESS_WEBREPL_PASSWORD", raising=False)
    assert main(["--port", "0"]) == 2
    assert "MPHARNESS_WEBREPL_PASSWORD" in capsys.readouterr().err


def test_serve_until_sigterm(monkeypatch) -> None:
    require_virtual_board("unix")
    env = dict(os.environ, MPHARNESS_WEBREPL_PASSWORD="srv-pw42")
    proc = subprocess.Popen(
        [sys.executable, "-m", "mpharness.virtual.webrepl_board", "--port", "0"],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        url = line.split(" at ", 1)[1].split()[0]
        assert url.startswith("ws://127.0.0.1:") and "srv-pw42" not in line
        monkeypatch.setenv("MPHARNESS_WEBREPL_PASSWORD", "srv-pw42")
        with mpharness.open_board(url, timeout=20) as board:
            assert board.eval("6 * 7") == 42
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
