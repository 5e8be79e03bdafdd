"""``ssh://`` boards against a real OpenSSH server on loopback (see tests/sshd_server.py)."""
# ruff: noqa: F811  (fixtures imported from tests.sshd_server are parameters here)

from __future__ import annotations

import getpass
import sys
from pathlib import Path

import pytest

import mpharness
from mpharness.errors import ConnectError
from tests.conftest import require_virtual_board
from tests.sshd_server import ssh_url, sshd  # noqa: F401 - fixtures


def test_exec_eval_soft_reset_over_ssh(ssh_url: str) -> None:
    with mpharness.open_board(ssh_url) as board:
        assert board.info()["implementation"] == "cpython"
        assert board.exec("print(6 * 7)") == "42\n"
        board.exec("x = 1")
        board.soft_reset()
        assert board.eval("'x' in globals()") is False
        with pytest.raises(mpharness.RemoteError) as info:
            board.exec("[][1]")
        assert info.value.exc_type == "IndexError"
        with pytest.raises(mpharness.BoardTimeout):
            board.exec("import time\ntime.sleep(30)", timeout=0.3)
        assert board.eval("2 ** 8") == 256


def test_files_over_ssh(ssh_url: str, tmp_path: Path) -> None:
    with mpharness.open_board(f"{ssh_url}?root={tmp_path}") as board:
        board.fs.write_bytes(f"{tmp_path}/lib_b.py", b"def f():\n    return 'b'\n")
        assert board.eval("__import__('lib_b').f()") == "b"
        assert sorted(board.fs.listdir(str(tmp_path))) == ["lib_b.py"]
    assert (tmp_path / "lib_b.py").exists()


def test_hard_reset_starts_a_new_session(ssh_url: str) -> None:
    with mpharness.open_board(ssh_url) as board:
        pid = board.eval("__import__('os').getpid()")
        board.hard_reset()
        assert board.eval("__import__('os').getpid()") != pid


def test_refused_key_is_a_clear_connect_error(
    sshd: tuple[Path, int], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    config, port = sshd
    other = tmp_path / "config"
    other.write_text(config.read_text().replace("user_key", "no_such_key"))
    monkeypatch.setenv("MPHARNESS_SSH_CONFIG", str(other))
    with pytest.raises(ConnectError, match="Permission denied"):
        mpharness.open_board(f"ssh://{getpass.getuser()}@127.0.0.1:{port}", timeout=5)


def test_unix_port_over_ssh(ssh_url: str) -> None:
    require_virtual_board("unix")
    exe = Path(sys.executable).with_name("micropython")
    if not exe.exists():
        pytest.skip(f"no micropython next to {sys.executable}")
    with mpharness.open_board(f"{ssh_url}?micropython={exe}") as board:
        assert board.info()["implementation"] == "micropython"
        board.exec("x = 1")
        board.soft_reset()
        assert board.eval("'x' in globals()") is False
