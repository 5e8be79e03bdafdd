"""The SSH agent run here as a subprocess (no ssh): raw-REPL framing and Board behaviour."""

from __future__ import annotations

import shutil
import struct
from collections.abc import Iterator
from pathlib import Path

import pytest

import mpharness
from mpharness.board import Board, Timeouts
from mpharness.deadline import Deadline
from mpharness.errors import ConfigError, ConnectError
from mpharness.session import recovery
from mpharness.transports.ssh import (
    SshTransport,
    local_agent_command,
    parse_ssh_url,
    ssh_command,
)
from tests.conftest import require_virtual_board

RAW_BANNER = b"raw REPL; CTRL-B to exit\r\n>"


def read_until(transport: SshTransport, marker: bytes, timeout: float = 5.0) -> bytes:
    deadline = Deadline.after(timeout)
    out = b""
    while not out.endswith(marker):
        chunk = transport.read(deadline)
        assert chunk, f"waiting for {marker!r}, got {out!r}"
        out += chunk
    return out


@pytest.fixture
def agent() -> Iterator[SshTransport]:
    transport = SshTransport("agent:local", None, command=local_agent_command)
    yield transport
    transport.close()


@pytest.fixture
def agent_board(agent: SshTransport) -> Iterator[Board]:
    board = Board(agent, name="agent", url=agent.url, timeouts=Timeouts())
    recovery.enter_raw(board, Deadline.after(5))
    yield board
    board.close()


def test_raw_repl_framing_byte_exact(agent: SshTransport) -> None:
    agent.write(b"print(1+1)\x04")
    assert read_until(agent, b">") == b"OK2\r\n\x04\x04>"
    agent.write(b"1/0\x04")
    assert read_until(agent, b">") == (
        b'OK\x04Traceback (most recent call last):\r\n  File "<stdin>", line 1, in <module>\r\n'
        b"ZeroDivisionError: division by zero\r\n\x04>"
    )
    agent.write(b"print('lost')\x03print('kept')\x04")
    assert read_until(agent, b">") == b"OKkept\r\n\x04\x04>"
    agent.write(b"\x05B\x01")
    assert read_until(agent, b">") == b"R\x00>"
    agent.write(b"\x04")
    assert read_until(agent, RAW_BANNER) == b"OK\r\nsoft reboot\r\n" + RAW_BANNER


def test_raw_paste_window_credits_and_abort(agent: SshTransport) -> None:
    agent.write(b"\x05A\x01")
    head = read_until(agent, b"\x01")
    assert head[:2] == b"R\x01" and len(head) == 5
    window = struct.unpack("<H", head[2:4])[0]
    code = b"x = 0\n" + b"x += 1\n" * (window // 7 + 1)  # more than one window
    agent.write(code)
    assert read_until(agent, b"\x01") == b"\x01"  # one more credit after a full window
    agent.write(b"print(x)\x04")
    assert read_until(agent, b">") == b"\x04" + str(window // 7 + 1).encode() + b"\r\n\x04\x04>"
    agent.write(b"\x05A\x01")
    read_until(agent, b"\x01")
    agent.write(b"print(1\x03")
    assert read_until(agent, b">") == b"\x04\x04KeyboardInterrupt: \r\n\x04>"


def test_friendly_repl_and_back(agent: SshTransport) -> None:
    agent.write(b"\x02")
    assert read_until(agent, b">>> ").startswith(b"\r\nCPython ")
    agent.write(b"6*7\r")
    assert read_until(agent, b">>> ") == b"6*7\r\n42\r\n>>> "
    agent.write(b"\x01")
    assert read_until(agent, RAW_BANNER) == b"\r\n" + RAW_BANNER


def test_board_exec_eval_soft_reset_errors(agent_board: Board) -> None:
    assert agent_board.exec("print('h\\xe9', end='')") == "h\xe9"
    assert agent_board.eval("{'a': (1, 2.5, None, b'\\x00')}") == {"a": (1, 2.5, None, b"\x00")}
    agent_board.exec("x = 1")
    assert agent_board.soft_reset() == ""
    assert agent_board.eval("'x' in globals()") is False
    with pytest.raises(mpharness.RemoteError) as info:
        agent_board.exec("def f():\n    raise KeyError('k')\nf()")
    assert info.value.exc_type == "KeyError" and "line 2, in f" in info.value.traceback
    with pytest.raises(mpharness.RemoteError) as info:
        agent_board.exec("def (")
    assert info.value.exc_type == "SyntaxError"


def test_timeout_interrupts_a_sleep_and_board_stays_usable(agent_board: Board) -> None:
    with pytest.raises(mpharness.BoardTimeout):
        agent_board.exec("import time\ntime.sleep(30)", timeout=0.3)
    assert agent_board.eval("1 + 1") == 2


def test_sys_exit_soft_resets(agent_board: Board) -> None:
    agent_board.exec("y = 2")
    with pytest.raises(mpharness.RemoteError, match="soft-rebooted"):  # as on MicroPython
        agent_board.exec("import sys\nsys.exit()")
    assert agent_board.eval("'y' in globals()") is False


def test_large_code_and_output(agent_board: Board) -> None:
    code = "t = 0\n" + "t += 1\n" * 20000 + "print('.' * 100000, t)"
    assert agent_board.exec(code) == "." * 100000 + " 20000\n"


def test_soft_reset_reimports_modules_from_the_board_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MPHARNESS_AGENT_ROOT", str(tmp_path / "root"))
    with Board(
        SshTransport("agent:root", None, command=local_agent_command), name="a", url="agent:root"
    ) as board:
        recovery.enter_raw(board, Deadline.after(5))
        assert board.eval("__import__('os').getcwd()") == str(tmp_path / "root")
        board.fs.write_bytes(f"{tmp_path}/root/mod_a.py", b"V = 1\n")
        assert board.eval("__import__('mod_a').V + len(__import__('json').dumps(1))") == 2
        board.fs.write_bytes(f"{tmp_path}/root/mod_a.py", b"V = 2\n")
        assert board.eval("__import__('mod_a').V") == 1  # cached until a soft reset
        board.soft_reset()
        assert board.eval("__import__('mod_a').V") == 2
        assert board.eval("'json' in __import__('sys').modules")  # library modules stay


def test_fs_round_trip_in_a_directory(agent_board: Board, tmp_path: Path) -> None:
    path = f"{tmp_path}/data.bin"
    agent_board.fs.write_bytes(path, bytes(range(256)) * 10)
    assert agent_board.fs.read_bytes(path) == bytes(range(256)) * 10
    assert (tmp_path / "data.bin").read_bytes() == bytes(range(256)) * 10


def test_hard_reset_starts_a_new_agent(agent_board: Board) -> None:
    agent_board.exec("z = 3")
    agent_board.hard_reset()
    assert agent_board.eval("'z' in globals()") is False


@pytest.mark.parametrize(
    ("url", "destination", "port", "python", "root"),
    [
        ("ssh://pi@rpi.local", "pi@rpi.local", None, "python3", None),
        (
            "ssh://pi@10.0.0.5:2222/usr/bin/python3.11",
            "pi@10.0.0.5",
            2222,
            "/usr/bin/python3.11",
            None,
        ),
        ("ssh://host/opt/py/bin/python?root=board", "host", None, "/opt/py/bin/python", "board"),
    ],
)
def test_parse_ssh_url(
    url: str, destination: str, port: int | None, python: str, root: str | None
) -> None:
    target = parse_ssh_url(url)
    assert (target.destination, target.port, target.python, target.root) == (
        destination,
        port,
        python,
        root,
    )
    cmd = ssh_command(target, 1234, 5.0)
    assert "BatchMode=yes" in cmd and cmd[-2] == destination and cmd[-1].endswith(" 1234")


def test_bad_ssh_urls() -> None:
    with pytest.raises(ConfigError, match="no host"):
        parse_ssh_url("ssh:///usr/bin/python3")
    with pytest.raises(ConfigError, match="unknown option"):
        parse_ssh_url("ssh://h?colour=red")
    assert parse_ssh_url("ssh://h?micropython").micropython == "micropython"
    assert parse_ssh_url("ssh://h?micropython=/opt/mpy").micropython == "/opt/mpy"
    assert parse_ssh_url("ssh://h").micropython is None


def test_unix_port_under_the_agent(monkeypatch: pytest.MonkeyPatch) -> None:
    require_virtual_board("unix")
    monkeypatch.setenv("MPHARNESS_AGENT_MICROPYTHON", shutil.which("micropython") or "micropython")
    transport = SshTransport("agent:mpy", None, command=local_agent_command)
    with Board(transport, name="mpy", url="agent:mpy", timeouts=Timeouts()) as board:
        recovery.enter_raw(board, Deadline.after(5))
        assert board.info()["implementation"] == "micropython"
        board.exec("x = 1")
        board.soft_reset()  # the interpreter exits; the agent starts another
        assert board.eval("'x' in globals()") is False
        with pytest.raises(mpharness.BoardTimeout):
            board.exec("while True: pass", timeout=0.3)
        assert board.eval("6 * 7") == 42


def test_missing_unix_port_is_a_connect_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MPHARNESS_AGENT_MICROPYTHON", "/nonexistent/micropython")
    with pytest.raises(ConnectError, match="micropython did not start"):
        SshTransport("agent:mpy", None, command=local_agent_command, timeout=5)
