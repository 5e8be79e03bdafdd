"""The unix-port virtual board at transport level: raw bytes in, raw bytes out."""

from __future__ import annotations

import importlib
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from mpharness.deadline import Deadline
from mpharness.errors import ConnectError, TransportClosed
from mpharness.transports import open_transport
from mpharness.virtual.unix_board import UnixBoardTransport, open_unix_board

pytestmark = pytest.mark.unix_board

RAW_BANNER = b"raw REPL; CTRL-B to exit\r\n>"
FRIENDLY_END = b'Type "help()" for more information.\r\n>>> '
REBOOT = b"MPY: soft reboot\r\n"
REPO = Path(__file__).resolve().parents[2]


def read_until(board: UnixBoardTransport, marker: bytes, timeout: float = 5.0) -> bytes:
    deadline = Deadline.after(timeout)
    out = b""
    while not out.endswith(marker):
        chunk = board.read(deadline)
        if not chunk:
            raise AssertionError(f"no {marker!r} within {timeout} s; got {out!r}")
        out += chunk
    return out


def enter_raw(board: UnixBoardTransport) -> None:
    read_until(board, b">>> ")
    board.write(b"\x01")
    assert read_until(board, RAW_BANNER) == b"\r\n" + RAW_BANNER


def run(board: UnixBoardTransport, code: str) -> bytes:
    """Execute ``code`` at the raw prompt; the reply after OK, up to and including ``\\x04>``."""
    board.write(code.encode() + b"\x04")
    reply = read_until(board, b"\x04>")
    assert reply.startswith(b"OK")
    return reply[2:]


def not_running(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def wait_for_pids(board: UnixBoardTransport, count: int) -> tuple[int, ...]:
    """The board's interpreter pids, once ``count`` of them are known (reading meanwhile)."""
    deadline = Deadline.after(5)
    while len(board.pids) < count and not deadline.expired():
        board.read(Deadline.after(0.01))
    assert len(board.pids) >= count, board.pids
    return board.pids


@pytest.fixture
def unix() -> Iterator[UnixBoardTransport]:
    transport = open_unix_board(None)
    assert isinstance(transport, UnixBoardTransport)
    yield transport
    transport.close()


@pytest.fixture
def raw(unix: UnixBoardTransport) -> UnixBoardTransport:
    enter_raw(unix)
    return unix


def test_boots_to_friendly_repl_and_enters_raw(unix: UnixBoardTransport) -> None:
    assert read_until(unix, b">>> ").endswith(FRIENDLY_END)
    unix.write(b"\x01")
    assert read_until(unix, RAW_BANNER) == b"\r\n" + RAW_BANNER


def test_open_transport_dispatches_unix_url() -> None:
    with open_transport("unix:") as transport:
        assert isinstance(transport, UnixBoardTransport)
        assert transport.url == "unix:"
        assert read_until(transport, b">>> ").startswith(b"MicroPython")


def test_exec_framing(raw: UnixBoardTransport) -> None:
    assert run(raw, "print(1 + 1)") == b"2\n\x04\x04>"
    error = run(raw, "1/0")
    assert error.startswith(b"\x04Traceback (most recent call last):")
    assert error.endswith(b"ZeroDivisionError: divide by zero\n\x04>")


def test_read_returns_empty_at_deadline(raw: UnixBoardTransport) -> None:
    assert raw.read(Deadline.after(0.05)) == b""


def test_root_is_a_fresh_private_directory(raw: UnixBoardTransport) -> None:
    assert run(raw, "import os\nprint(os.listdir('/'), os.getcwd())") == b"[] /\n\x04\x04>"
    assert run(raw, "open('/etc/passwd')").endswith(b"ENOENT\n\x04>")
    run(raw, "open('/hello.txt', 'w').write('hi')")
    assert (Path(raw.root_dir) / "hello.txt").read_text() == "hi"


def test_soft_reset_gives_clean_interpreter_and_keeps_files(raw: UnixBoardTransport) -> None:
    run(raw, "x = 42\nopen('/kept.txt', 'w').write('kept')")
    old_pid = raw.pid
    raw.write(b"\x04")
    assert read_until(raw, RAW_BANNER) == b"OK\r\n" + REBOOT + RAW_BANNER
    assert raw.pid != old_pid
    assert run(raw, "print('x' in globals())") == b"False\n\x04\x04>"
    assert run(raw, "print(open('/kept.txt').read())") == b"kept\n\x04\x04>"
    assert (Path(raw.root_dir) / "kept.txt").exists()


@pytest.mark.parametrize(
    "code", ["import sys\nprint('bye')\nsys.exit(3)", "import machine\nmachine.soft_reset()"]
)
def test_exit_from_code_reboots_into_raw_repl(raw: UnixBoardTransport, code: str) -> None:
    raw.write(code.encode() + b"\x04")
    out = read_until(raw, RAW_BANNER)
    assert out.endswith(b"\x04\x04" + REBOOT + RAW_BANNER)
    assert run(raw, "print(2)") == b"2\n\x04\x04>"


def test_many_soft_resets_in_a_row(raw: UnixBoardTransport) -> None:
    for i in range(10):
        raw.write(b"\x04")
        assert read_until(raw, RAW_BANNER).endswith(REBOOT + RAW_BANNER)
        assert run(raw, f"print({i})") == f"{i}\n".encode() + b"\x04\x04>"


def test_soft_reset_in_friendly_mode_stays_friendly(unix: UnixBoardTransport) -> None:
    read_until(unix, b">>> ")
    unix.write(b"\x04")
    out = read_until(unix, b">>> ")
    assert out.startswith(b"\r\n" + REBOOT + b"MicroPython ")
    assert out.endswith(FRIENDLY_END)
    assert RAW_BANNER not in out
    unix.write(b"\x01")  # and it still works
    read_until(unix, RAW_BANNER)


def test_raw_then_friendly_then_reset_tracks_mode(raw: UnixBoardTransport) -> None:
    raw.write(b"\x02")
    read_until(raw, b">>> ")
    raw.write(b"\x04")
    assert read_until(raw, b">>> ").endswith(FRIENDLY_END)


def test_ctrl_c_interrupts_busy_loop(raw: UnixBoardTransport) -> None:
    # Wait for output from the running code: on the unix port a Ctrl-C written in the instant
    # between "OK" and the start of execution arrives while the tty is still raw (no SIGINT).
    raw.write(b"print('looping')\nwhile True: pass\x04")
    assert read_until(raw, b"looping\n") == b"OKlooping\n"
    raw.write(b"\x03")
    out = read_until(raw, b"\x04>")
    assert out.startswith(b"\x04Traceback")
    assert b"KeyboardInterrupt" in out
    assert run(raw, "print('alive')") == b"alive\n\x04\x04>"


def test_ctrl_c_from_another_thread_while_reading(raw: UnixBoardTransport) -> None:
    raw.write(b"print('looping')\nwhile True: pass\x04")
    read_until(raw, b"looping\n")
    interrupter = threading.Timer(0.05, raw.write, args=(b"\x03",))
    interrupter.start()  # fires while this thread is blocked in read()
    try:
        out = read_until(raw, b"\x04>")
    finally:
        interrupter.join()
    assert b"KeyboardInterrupt" in out


def test_sigkill_closes_transport_promptly(raw: UnixBoardTransport) -> None:
    pid = raw.pid
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    start = time.monotonic()
    with pytest.raises(TransportClosed, match=f"process {pid} was killed by SIGKILL"):
        read_until(raw, RAW_BANNER, timeout=30)
    assert time.monotonic() - start < 10  # at once, not at the deadline
    assert raw.closed
    with pytest.raises(TransportClosed, match="SIGKILL"):
        raw.write(b"print(1)\x04")


def test_sigkill_seen_by_write(raw: UnixBoardTransport) -> None:
    pid = raw.pid
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    with pytest.raises(TransportClosed, match="SIGKILL"):
        for _ in range(100):  # the first writes may land before the kernel tore the pty down
            raw.write(b"x")
            raw.read(Deadline.after(0.05))


def test_hard_reset_restarts_in_friendly_mode(raw: UnixBoardTransport) -> None:
    run(raw, "y = 1\nopen('/survives.txt', 'w').write('1')")
    old_pid = raw.pid
    assert raw.can_hard_reset
    raw.hard_reset(Deadline.after(5))
    out = read_until(raw, b">>> ")
    assert out.startswith(b"MicroPython ") and out.endswith(FRIENDLY_END)
    assert b"soft reboot" not in out
    assert raw.pid != old_pid and not_running(old_pid)  # type: ignore[arg-type]
    raw.write(b"\x01")
    read_until(raw, RAW_BANNER)
    assert run(raw, "print('y' in globals(), open('/survives.txt').read())") == (
        b"False 1\n\x04\x04>"
    )


def test_hard_reset_revives_killed_board(raw: UnixBoardTransport) -> None:
    os.kill(raw.pid, signal.SIGKILL)  # type: ignore[arg-type]
    with pytest.raises(TransportClosed):
        read_until(raw, RAW_BANNER)
    raw.hard_reset(Deadline.after(5))
    assert not raw.closed
    enter_raw(raw)
    assert run(raw, "print(3)") == b"3\n\x04\x04>"


def test_close_leaves_no_processes_and_removes_root() -> None:
    board = open_unix_board(None)
    assert isinstance(board, UnixBoardTransport)
    enter_raw(board)
    board.write(b"\x04")
    read_until(board, RAW_BANNER)
    pids = wait_for_pids(board, 3)  # the current interpreter and two spares
    root = Path(board.root_dir)
    assert root.is_dir()
    board.close()
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    assert not root.exists()
    with pytest.raises(TransportClosed):
        board.write(b"\x01")
    board.close()  # idempotent


def test_two_boards_have_separate_roots() -> None:
    with open_unix_board(None) as a, open_unix_board(None) as b:
        assert isinstance(a, UnixBoardTransport) and isinstance(b, UnixBoardTransport)
        assert a.root_dir != b.root_dir
        enter_raw(a)
        enter_raw(b)
        run(a, "open('/only_a.txt', 'w').write('a')")
        assert run(b, "import os\nprint(os.listdir('/'))") == b"[]\n\x04\x04>"
        assert (Path(a.root_dir) / "only_a.txt").exists()
        assert not (Path(b.root_dir) / "only_a.txt").exists()


def test_missing_executable_is_a_connect_error(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-micropython"
    with pytest.raises(ConnectError, match=str(missing)):
        open_unix_board(str(missing))


def test_interpreter_that_fails_to_start_reports_its_output(tmp_path: Path) -> None:
    script = tmp_path / "broken-micropython"
    script.write_text("#!/bin/sh\necho 'cannot start: no heap' >&2\nexit 3\n")
    script.chmod(0o755)
    with pytest.raises(ConnectError, match=r"exited with code 3.*cannot start: no heap"):
        open_unix_board(str(script), timeout=10)


def test_executable_path_mode(tmp_path: Path) -> None:
    # A wrapper script that runs the wheel's port in a new CPython: slow to start, but real.
    script = tmp_path / "micropython"
    script.write_text(
        f"#!{sys.executable}\nimport sys\nfrom micropython_run import run_main\n"
        "sys.exit(run_main(sys.argv))\n"
    )
    script.chmod(0o755)
    with open_unix_board(str(script), timeout=20) as board:
        assert isinstance(board, UnixBoardTransport)
        assert board.url == f"unix:{script}"
        enter_raw(board)
        run(board, "open('/p.txt', 'w').write('p')")
        board.write(b"\x04")
        assert read_until(board, RAW_BANNER, timeout=20).endswith(REBOOT + RAW_BANNER)
        assert run(board, "print(open('/p.txt').read())") == b"p\n\x04\x04>"


def test_harness_death_kills_fork_server_and_interpreters_and_removes_root() -> None:
    code = textwrap.dedent(
        """
        import sys
        from mpharness.virtual import forkserver
        from mpharness.virtual.unix_board import open_unix_board
        from mpharness.deadline import Deadline
        board = open_unix_board(None)
        while len(board.pids) < 2:
            board.read(Deadline.after(0.01))
        print(board.root_dir, forkserver.fork_server().pid, *board.pids, flush=True)
        sys.stdin.read()
        """
    )
    harness = subprocess.Popen(
        [sys.executable, "-c", code], cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    assert harness.stdout is not None
    root, *words = harness.stdout.readline().split()
    pids = [int(word) for word in words]
    assert len(pids) >= 3, pids
    assert os.path.isdir(root)
    harness.kill()
    harness.wait()
    deadline = Deadline.after(5)
    while not all(not_running(pid) for pid in pids) and not deadline.expired():
        time.sleep(0.01)
    assert all(not_running(pid) for pid in pids)
    while os.path.exists(root) and not deadline.expired():  # removed by the dying fork server
        time.sleep(0.01)
    assert not os.path.exists(root)


def test_one_fork_server_per_process_even_after_reimport() -> None:
    import mpharness.virtual
    from mpharness.virtual import forkserver

    pid = forkserver.fork_server().pid
    saved = sys.modules.pop("mpharness.virtual.forkserver")
    try:
        fresh = importlib.import_module("mpharness.virtual.forkserver")
        assert fresh is not saved
        assert fresh.fork_server().pid == pid
    finally:
        sys.modules["mpharness.virtual.forkserver"] = saved
        mpharness.virtual.forkserver = saved
