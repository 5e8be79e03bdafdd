"""``mpharness run``/``exec`` end with the program's SystemExit code (issue 11 §3)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli.test_cli import run_cli
from tests.conftest import require_virtual_board


@pytest.mark.parametrize(
    ("exit_call", "status"),
    [("sys.exit(0)", 0), ("sys.exit()", 0), ("sys.exit(3)", 3), ("sys.exit(7)", 7)],
)
def test_run_exits_with_the_programs_code(tmp_path: Path, exit_call: str, status: int) -> None:
    require_virtual_board("unix")
    script = tmp_path / "leave.py"
    script.write_text(f"import sys\nprint('before')\n{exit_call}\nprint('not reached')\n")
    result = run_cli("run", "unix", str(script), cwd=tmp_path)
    assert (result.returncode, result.stdout) == (status, "before\n")
    assert result.stderr == ""


def test_exec_exits_with_the_programs_code(tmp_path: Path) -> None:
    require_virtual_board("unix")
    result = run_cli("exec", "unix", "import sys\nsys.exit(5)", cwd=tmp_path)
    assert (result.returncode, result.stdout, result.stderr) == (5, "", "")


def test_unknown_exit_code_is_a_failure_that_says_so(tmp_path: Path) -> None:
    """The micro:bit (no raw-paste) cannot report the code: not claimed as a success."""
    require_virtual_board("microbit")
    result = run_cli("exec", "microbit", "import sys\nsys.exit(0)", cwd=tmp_path)
    assert result.returncode == 1
    assert "SystemExit" in result.stderr and "unknown" in result.stderr
