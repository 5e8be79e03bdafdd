"""Board pools, leases and pytest-xdist: pytest runs in subprocesses against named unix boards.

Each test writes a rig file with several ``unix:`` boards (``u1``..``u4``): each open of one
is a fresh interpreter, and leases by rig name make them behave like a shelf of real boards.
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Iterator

import pytest

import mpharness
from tests.plugin.helpers import QUIET, need

pytestmark = pytest.mark.unix_board

RIG = """boards:
  u1:
    url: 'unix:'
  u2:
    url: 'unix:'
  u3:
    url: 'unix:'
    features: [wifi]
  u4:
    url: 'unix:'
"""


@pytest.fixture(autouse=True)
def lock_dir(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A private lock directory, inherited by the pytest subprocesses."""
    path = tempfile.mkdtemp(prefix="mphl-", dir="/tmp")
    monkeypatch.setenv("MPHARNESS_LOCK_DIR", path)
    monkeypatch.delenv("MPHARNESS_LEASE_WAIT_S", raising=False)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def rig(pytester: pytest.Pytester) -> str:
    need("unix")
    return str(pytester.makefile(".yaml", rig=RIG))


def xdist() -> None:
    pytest.importorskip("xdist", reason="pytest-xdist is not installed")


def boards_by_test(xml_path: str) -> dict[str, list[str]]:
    """test name -> the values of its ``mpharness_board`` JUnit properties."""
    result: dict[str, list[str]] = {}
    for case in ET.parse(xml_path).getroot().iter("testcase"):
        values = [
            prop.get("value", "")
            for prop in case.iter("property")
            if prop.get("name") == "mpharness_board"
        ]
        result.setdefault(case.get("name", ""), []).extend(values)
    return result


def test_n4_over_four_boards_runs_each_test_once_on_one_board(pytester, rig):
    xdist()
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.on_board
        @pytest.mark.parametrize("i", range(8))
        def test_on_board(i):
            assert i * 2 == i + i

        @pytest.mark.parametrize("i", range(4))
        def test_host_driven(board, i):
            assert board.eval("7 * 6") == 42
        """
    )
    result = pytester.runpytest_subprocess(
        "--device", "u1,u2,u3,u4", "--rig", rig, "-n", "4", "--junitxml=out.xml", *QUIET
    )
    result.assert_outcomes(passed=12)
    boards = boards_by_test(str(pytester.path / "out.xml"))
    assert len(boards) == 12
    assert all(len(values) == 1 for values in boards.values()), boards
    used = Counter(values[0] for values in boards.values())
    assert set(used) == {"u1", "u2", "u3", "u4"}  # every worker leased its own board


def test_two_runs_against_one_board_take_turns(pytester, rig):
    log = pytester.path / "log.txt"
    pytester.makepyfile(
        f"""
        import os, time
        import pytest

        @pytest.mark.parametrize("i", range(3))
        def test_step(board, i):
            with open({str(log)!r}, "a") as out:
                out.write(os.environ["RUN"] + "\\n")
            assert board.eval("6 * 7") == 42
            time.sleep(0.05)
        """
    )
    procs = []
    for run_name in ("A", "B"):
        env = dict(os.environ, RUN=run_name)
        cmd = [sys.executable, "-m", "pytest", "--device", "u1", "--rig", rig, "-q", *QUIET]
        procs.append(
            subprocess.Popen(cmd, cwd=pytester.path, env=env, stdout=subprocess.PIPE, text=True)
        )
    outputs = [proc.communicate(timeout=120)[0] for proc in procs]
    assert all(proc.returncode == 0 for proc in procs), outputs
    assert all("3 passed" in out for out in outputs), outputs
    order = log.read_text().split()
    assert order in (["A"] * 3 + ["B"] * 3, ["B"] * 3 + ["A"] * 3)  # one after the other


def test_pool_without_xdist_routes_feature_tests_to_a_board_with_them(pytester, rig):
    pytester.makepyfile(
        """
        import pytest

        def test_any(board):
            assert board.name == "u1"

        @pytest.mark.board(features=["wifi"])
        def test_wifi(board):
            assert board.name == "u3"

        @pytest.mark.board(features=["bluetooth"])
        def test_nobody_has_it(board):
            pass
        """
    )
    result = pytester.runpytest_subprocess("--device", "u1,u3", "--rig", rig, "-rs", *QUIET)
    result.assert_outcomes(passed=2, skipped=1)
    result.stdout.fnmatch_lines(["*no board of the pool (u1, u3) has feature(s) bluetooth*"])


def test_tag_pool_and_multi_board_test(pytester, rig):
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.boards(server={"features": ["wifi"]}, client={})
        def test_pair(boards):
            assert boards["server"].name == "u3"
            assert boards["client"].name != "u3"
            boards.broadcast(port=8080, host="10.0.0.1")
            out = boards.exec_together(
                {"server": "print('listen', port)", "client": "print('connect', host, port)"}
            )
            assert out == {"server": "listen 8080\\n", "client": "connect 10.0.0.1 8080\\n"}
            assert boards.exec_each("print(port + 1)") == {
                "server": "8081\\n", "client": "8081\\n"
            }

        @pytest.mark.boards(a={"features": ["wifi"]}, b={"features": ["wifi"]})
        def test_two_wifi_boards(boards):
            pass
        """
    )
    result = pytester.runpytest_subprocess(
        "--device", "u3,u4", "--rig", rig, "-rs", "--junitxml=out.xml", *QUIET
    )
    result.assert_outcomes(passed=1, skipped=1)
    result.stdout.fnmatch_lines(["*has no distinct boards for a (wifi), b (wifi)*"])
    boards = boards_by_test(str(pytester.path / "out.xml"))
    assert boards["test_pair"] == ["server=u3,client=u4"]
    result = pytester.runpytest_subprocess("--device", "tag:wifi", "--rig", rig, *QUIET)
    result.assert_outcomes(skipped=2)  # a pool of one board: no pair


def test_a_dead_board_errors_its_workers_tests_and_the_others_go_on(pytester, rig):
    xdist()
    pytester.makepyfile(
        """
        import pytest

        def test_kill(board):
            board.transport.close()  # the board is gone for good

        @pytest.mark.on_board
        @pytest.mark.parametrize("i", range(10))
        def test_after(i):
            pass
        """
    )
    result = pytester.runpytest_subprocess(
        "--device", "u1,u2", "--rig", rig, "-n", "2", "--junitxml=out.xml", *QUIET
    )
    boards = boards_by_test(str(pytester.path / "out.xml"))
    dead = boards["test_kill"][0]
    root = ET.parse(str(pytester.path / "out.xml")).getroot()
    errors = 0
    for case in root.iter("testcase"):
        board = boards[case.get("name", "")][0]
        error = case.find("error")
        if error is not None:
            errors += 1
            assert board == dead
            assert f"board '{dead}'" in error.get("message", "")
            assert "TransportClosed" in error.get("message", "")
        elif case.get("name") != "test_kill":
            assert case.find("failure") is None
    outcomes = result.parseoutcomes()
    assert outcomes.get("passed", 0) + errors == 11
    assert outcomes.get("passed", 0) >= 1  # the other worker's board went on


def test_a_killed_run_leaves_no_lock_that_blocks_the_next(pytester, rig):
    pytester.makepyfile(
        """
        import time

        def test_hold(board):
            print("holding", flush=True)
            time.sleep(60)
        """
    )
    cmd = [sys.executable, "-m", "pytest", "-s", "--device", "u2", "--rig", rig, *QUIET]
    proc = subprocess.Popen(
        cmd, cwd=pytester.path, stdout=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            if "holding" in line:
                break
        with pytest.raises(mpharness.BoardBusy, match=r"\(pytest\)"):
            mpharness.open_board("u2", rig=[rig], lease_wait_s=0)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    with mpharness.open_board("u2", rig=[rig], lease_wait_s=0) as board:
        assert board.eval("1 + 1") == 2


def test_workers_swap_boards_for_features_and_pairs(pytester, rig):
    """With ``--dist each`` both workers run every test, but only u3 has wifi."""
    xdist()
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.parametrize("i", range(3))
        def test_plain(board, i):
            assert board.eval("1") == 1

        @pytest.mark.board(features=["wifi"])
        @pytest.mark.parametrize("i", range(2))
        def test_wifi(board, i):
            assert board.name == "u3"

        @pytest.mark.boards(server={"features": ["wifi"]}, client={})
        def test_pair(boards):
            assert sorted(b.name for b in boards.values()) == ["u1", "u3"]
        """
    )
    result = pytester.runpytest_subprocess(
        "--device",
        "u1,u3",
        "--rig",
        rig,
        "-n",
        "2",
        "--dist",
        "each",
        "--lease-wait",
        "20",
        *QUIET,
    )
    result.assert_outcomes(passed=12)
    assert result.duration < 20


def test_a_worker_hands_its_board_to_a_sibling_that_waits_for_it(pytester, rig):
    """Both workers start with a wifi test; only u3 has wifi. The worker holding u3 hands it
    over after its test (its later tests fit u1) instead of keeping it while it runs the plain
    tests: without the hand-over the other worker would wait out --lease-wait and error."""
    xdist()
    pytester.makepyfile(
        """
        import time
        import pytest

        @pytest.mark.board(features=["wifi"])
        def test_wifi_a(board):
            assert board.name == "u3"

        def test_plain_a(board):
            time.sleep(0.25)

        @pytest.mark.board(features=["wifi"])
        def test_wifi_b(board):
            assert board.name == "u3"

        @pytest.mark.parametrize("i", range(30))
        def test_plain(board, i):
            time.sleep(0.25)
        """
    )
    # Without the hand-over the holder keeps u3 while it runs the plain tests (7.5 s alone):
    # well past the 5 s wait, which leaves room for a loaded machine.
    result = pytester.runpytest_subprocess(
        "--device", "u1,u3", "--rig", rig, "-n", "2", "--lease-wait", "5", *QUIET
    )
    result.assert_outcomes(passed=33)


def test_reports_under_xdist_are_as_good_as_without(pytester, rig):
    """Short summary, JUnit failure message and suite properties, mpharness summary line."""
    xdist()
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.on_board
        def test_fails():
            x = 2
            assert x * 3 == 7

        @pytest.mark.on_board
        def test_passes():
            pass
        """
    )
    result = pytester.runpytest_subprocess(
        "--device", "u1,u2", "--rig", rig, "-n", "2", "-rf", "--junitxml=out.xml", *QUIET
    )
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        ["*- mpharness -*", "board 'u*' (*): micropython*", "FAILED *::test_fails - asser*"]
    )
    root = ET.parse(pytester.path / "out.xml").getroot()
    failure = next(root.iter("failure"))
    assert failure.get("message") == "assert 6 == 7"
    suite = next(root.iter("testsuite"))
    names = {p.get("name") for p in suite.find("properties").iter("property")}
    assert {"mpharness_board", "mpharness_implementation", "mpharness_version"} <= names


@pytest.mark.parametrize("workers", [None, "2"])
def test_html_report_environment_names_board_and_firmware(pytester, rig, workers):
    """pytest-html's Environment table (pytest-metadata) lists the board and its firmware,
    with and without pytest-xdist (the controller writes the report)."""
    pytest.importorskip("pytest_html", reason="pytest-html is not installed")
    if workers:
        xdist()
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.on_board
        @pytest.mark.parametrize("i", range(4))
        def test_passes(i):
            pass
        """
    )
    args = ["--device", "u1,u2" if workers else "u1", "--rig", rig, "--html=report.html"]
    if workers:
        args += ["-n", workers]
    result = pytester.runpytest_subprocess(*args, "--self-contained-html", *QUIET)
    result.assert_outcomes(passed=4)
    page = html.unescape((pytester.path / "report.html").read_text())
    blob = re.search(r'data-jsonblob="(.*?)"></div>', page, re.S)
    assert blob is not None, "pytest-html's data not found in the report"
    environment = json.loads(blob.group(1))["environment"]
    assert re.fullmatch(r"u[12] \(unix:\)(, u[12] \(unix:\))?", environment["mpharness board"])
    assert environment["mpharness firmware"].startswith("micropython 1.")
