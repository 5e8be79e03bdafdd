"""The ``mpharness`` command: output, exit codes and one clear error per bad input."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import require_virtual_board


def run_cli(
    *args: str, cwd: Path | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env.pop("MPHARNESS_RIG", None)
    return subprocess.run(
        [sys.executable, "-m", "mpharness.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
        env=env,
        check=False,
    )


@pytest.fixture(autouse=True)
def _needs_unix() -> None:
    require_virtual_board("unix")


def test_exec_prints_board_stdout(tmp_path: Path) -> None:
    result = run_cli("exec", "unix", "print(6 * 7)", cwd=tmp_path)
    assert (result.returncode, result.stdout) == (0, "42\n")


def test_exec_that_raises_exits_1_with_device_traceback(tmp_path: Path) -> None:
    result = run_cli("exec", "unix", "print('a')\n1/0", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stdout == "a\n"
    assert "ZeroDivisionError" in result.stderr
    assert 'File "<stdin>", line 2' in result.stderr


def test_run_executes_a_local_file(tmp_path: Path) -> None:
    script = tmp_path / "hello.py"
    script.write_text("import sys\nprint(sys.implementation.name)\n")
    result = run_cli("run", "unix", str(script), cwd=tmp_path)
    assert (result.returncode, result.stdout) == (0, "micropython\n")


def test_run_missing_file_is_a_usage_error(tmp_path: Path) -> None:
    result = run_cli("run", "unix", str(tmp_path / "nope.py"), cwd=tmp_path)
    assert result.returncode == 2
    assert "nope.py" in result.stderr


def test_timeout_exits_3(tmp_path: Path) -> None:
    result = run_cli("exec", "unix", "print('x')\nwhile True: pass", "--timeout", "1", cwd=tmp_path)
    assert result.returncode == 3
    assert "timed out" in result.stderr
    assert result.stdout == "x\n"


def test_bad_rig_yaml_names_file_and_line(tmp_path: Path) -> None:
    rig = tmp_path / "hil_rigs"
    rig.mkdir()
    (rig / "lab.yaml").write_text("boards:\n  esp32:\n    url: /dev/ttyUSB0\n    baudrate: fast\n")
    result = run_cli("exec", "esp32", "print(1)", cwd=tmp_path)
    assert result.returncode == 2
    assert "lab.yaml:4" in result.stderr
    assert "baudrate" in result.stderr


def test_unknown_board_name_suggests(tmp_path: Path) -> None:
    rig = tmp_path / "hil_rigs"
    rig.mkdir()
    (rig / "lab.yaml").write_text("boards:\n  huzzah32:\n    url: /dev/ttyUSB0\n")
    result = run_cli("exec", "huzza32", "print(1)", cwd=tmp_path)
    assert result.returncode == 2
    assert "huzza32" in result.stderr
    assert "huzzah32" in result.stderr


def test_unknown_url_scheme(tmp_path: Path) -> None:
    result = run_cli("exec", "bluetooth://aa:bb", "print(1)", cwd=tmp_path)
    assert result.returncode == 2
    assert "unknown URL scheme 'bluetooth'" in result.stderr


def test_missing_port(tmp_path: Path) -> None:
    result = run_cli("exec", "/dev/ttyUSB99", "print(1)", cwd=tmp_path)
    assert result.returncode == 4
    assert "/dev/ttyUSB99" in result.stderr
    assert result.stderr.count("\n") <= 3, "one clear error, not a traceback"


def test_busy_port(tmp_path: Path) -> None:
    import serial

    master, slave = os.openpty()
    path = os.ttyname(slave)
    holder = serial.Serial(path, exclusive=True)
    try:
        result = run_cli("exec", path, "print(1)", cwd=tmp_path)
    finally:
        holder.close()
        os.close(master)
        os.close(slave)
    assert result.returncode == 4
    assert "busy" in result.stderr


def test_devices_lists_rig_boards(tmp_path: Path) -> None:
    rig = tmp_path / "hil_rigs"
    rig.mkdir()
    (rig / "lab.yaml").write_text("boards:\n  bench-esp32:\n    url: /dev/ttyUSB0\n")
    result = run_cli("devices", cwd=tmp_path)
    assert result.returncode == 0
    assert "bench-esp32" in result.stdout


def test_lease_wait_option(tmp_path: Path) -> None:
    """A rig board held by another session: the CLI waits ``--lease-wait`` seconds, then says
    who holds it (exit 4); free again, the same command runs."""
    import mpharness

    rig = tmp_path / "rig.yaml"
    rig.write_text("boards:\n  held:\n    url: 'unix:'\n")
    with mpharness.open_board("held", rig=[str(rig)], purpose="holder"):
        result = run_cli("--lease-wait", "0.3", "--rig", str(rig), "exec", "held", "print(1)")
    assert result.returncode == 4
    assert "after waiting 0.3 s" in result.stderr and "(holder)" in result.stderr
    result = run_cli("--lease-wait", "5", "--rig", str(rig), "exec", "held", "print(2)")
    assert (result.returncode, result.stdout) == (0, "2\n")


def test_devices_probe_shows_each_boards_status(tmp_path: Path) -> None:
    """An unplugged rig board is 'not found', a leased one 'busy' with its holder, a virtual one
    'reachable'."""
    import mpharness

    rig = tmp_path / "hil_rigs"
    rig.mkdir()
    (rig / "lab.yaml").write_text(
        "boards:\n  sim:\n    url: 'unix:'\n  held:\n    url: 'unix:'\n"
        "  unplugged:\n    url: /dev/serial/by-id/usb-no-such-board-if00\n"
    )
    with mpharness.open_board("held", rig=[str(rig / "lab.yaml")], purpose="holder"):
        result = run_cli("devices", "--probe", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    rows = {line.split()[0]: line for line in result.stdout.splitlines()}
    assert rows["BOARD"].split()[:3] == ["BOARD", "URL/PORT", "STATUS"]
    assert "reachable" in rows["sim"] and "micropython" in rows["sim"]
    assert "not found" in rows["unplugged"]
    assert f"busy (PID {os.getpid()} on" in rows["held"] and "holder" in rows["held"]


def test_run_traceback_names_the_file_and_its_lines(tmp_path: Path) -> None:
    """As ``python FILE`` does: the file's name, its line numbers and the lines themselves."""
    script = tmp_path / "blinky.py"
    script.write_text('x = 1\n\ndef f(a):\n    return 10 // a\n\nprint("before")\nf(0)\n')
    result = run_cli("run", "unix", "blinky.py", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stdout == "before\n"
    assert "<stdin>" not in result.stderr
    lines = result.stderr.splitlines()
    assert lines[:5] == [
        "Traceback (most recent call last):",
        '  File "blinky.py", line 7, in <module>',
        "    f(0)",
        '  File "blinky.py", line 4, in f',
        "    return 10 // a",
    ]
    assert lines[-1].startswith("ZeroDivisionError")


SUBCOMMANDS_WITH_BOARD = ["exec", "run", "repl", "sync", "pty", "flash", "serve"]


def test_help_describes_board_code_and_default_timeouts() -> None:
    main_help = run_cli("--help")
    assert main_help.returncode == 0
    text = " ".join(main_help.stdout.split())
    assert "BOARD is the board: a rig name" in text and "CODE is MicroPython source" in text
    for fact in ("raw REPL 15 s", "exec 60 s", "run: none", "--probe 8 s", "flash: 60 s"):
        assert fact in text, fact
    for command in SUBCOMMANDS_WITH_BOARD:
        result = run_cli(command, "--help")
        text = " ".join(result.stdout.split())
        assert result.returncode == 0
        assert "BOARD the board: a rig name" in text, command
        assert "15 s" in text, command  # the connect budget
    exec_help = " ".join(run_cli("exec", "--help").stdout.split())
    assert "CODE MicroPython source text" in exec_help and "(default 60)" in exec_help
    assert "(default: no limit)" in " ".join(run_cli("run", "--help").stdout.split())


def test_rig_option_also_after_the_subcommand(tmp_path: Path) -> None:
    rig = tmp_path / "lab.yaml"
    rig.write_text("boards:\n  mine:\n    url: 'unix:'\n")
    result = run_cli("exec", "mine", "print(5)", "--rig", str(rig), cwd=tmp_path)
    assert (result.returncode, result.stdout) == (0, "5\n"), result.stderr
    result = run_cli("devices", "--rig", str(rig), cwd=tmp_path)
    assert "mine" in result.stdout
