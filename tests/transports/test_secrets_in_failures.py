"""A WebREPL password never shows in failures (issue 12, finding 5): bad URLs are a
ConnectError naming the URL without credentials, and ``pytest --tb=long -l`` output and JUnit
XML of a failing open hold no password, whatever frame locals they print."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import mpharness
from mpharness.rigs.boardspec import BoardSpec
from mpharness.secret import Secret, redact_url
from mpharness.transports import open_transport

REPO = Path(__file__).resolve().parents[2]
PASSWORD = "Hunter2Pw"  # distinctive: any occurrence in the output is a leak


@pytest.mark.parametrize(
    ("url", "shown", "why"),
    [
        ("ws://host:99999", "ws://host:99999", "Port out of range"),
        ("ws://[zz]/", "ws://[zz]/", "does not appear to be an IPv4 or IPv6 address"),
        ("ssh://[::1;id]/", "ssh://[::1;id]/", "does not appear to be an IPv4 or IPv6 address"),
        (f"ws://admin:{PASSWORD}@host:99999/", "ws://host:99999/", "Port out of range"),
        (f"rfc2217://u:{PASSWORD}@[zz]:1", "rfc2217://[zz]:1", "IPv6"),
    ],
)
def test_bad_urls_are_connect_errors_without_credentials(url: str, shown: str, why: str) -> None:
    with pytest.raises(mpharness.ConnectError) as err:
        open_transport(url, password=PASSWORD, timeout=2)
    assert str(err.value).startswith(f"bad URL {shown}: ")
    assert why in str(err.value)
    assert PASSWORD not in str(err.value)
    assert err.value.__cause__ is None and err.value.__suppress_context__


def test_secret_masks_itself() -> None:
    secret = Secret(PASSWORD)
    for text in (repr(secret), str(secret), f"{secret}", repr([secret]), repr({"pw": secret})):
        assert PASSWORD not in text
    assert secret.reveal() == PASSWORD and secret == PASSWORD and secret == Secret(PASSWORD)
    spec = BoardSpec(name="w", urls=("ws://h",), password=PASSWORD)
    assert isinstance(spec.password, Secret) and PASSWORD not in repr(spec)
    assert isinstance(spec.webrepl_password({}), Secret)
    assert redact_url(f"ws://admin:{PASSWORD}@[zz]/x") == "ws://[zz]/x"


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_pytest_long_tracebacks_with_locals_and_junit_hold_no_password(tmp_path: Path) -> None:
    rig = tmp_path / "rig.yaml"
    rig.write_text(
        "boards:\n"
        f"  refused:\n    url: ws://127.0.0.1:{_closed_port()}\n    password: {PASSWORD}\n"
        f"  badport:\n    url: ws://127.0.0.1:99999\n    password: {PASSWORD}\n"
        f"  badhost:\n    url: 'ws://[zz]/'\n    password: {PASSWORD}\n"
        f"  inurl:\n    url: 'ws://admin:{PASSWORD}@[zz]/'\n"
        "  fromenv:\n    url: ws://127.0.0.1:99999\n"
    )
    tests = tmp_path / "test_open.py"
    tests.write_text(
        textwrap.dedent(
            """
            import os
            import pytest
            import mpharness

            @pytest.mark.parametrize(
                "name", ["refused", "badport", "badhost", "inurl", "fromenv"]
            )
            def test_open(name):
                rig = [os.environ["LEAK_TEST_RIG"]]
                board = mpharness.open_board(name, rig=rig, timeout=3)
                board.close()
            """
        )
    )
    junit = tmp_path / "junit.xml"
    env = dict(os.environ)
    env["LEAK_TEST_RIG"] = str(rig)
    env["MPHARNESS_WEBREPL_PASSWORD"] = PASSWORD  # used by the "fromenv" board
    env["PYTHONPATH"] = os.pathsep.join(
        [str(REPO), str(REPO / "pytest_plugin"), str(REPO / "kernel"), env.get("PYTHONPATH", "")]
    )
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "--tb=long",
            "-l",
            "-p",
            "no:cacheprovider",
            f"--junitxml={junit}",
            "-o",
            "junit_logging=all",
            str(tests),
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=120,
    )
    output = result.stdout + result.stderr
    assert "5 failed" in output, output[-2000:]  # every open really failed, with locals shown
    assert output.count("ConnectError") >= 5
    assert "bad URL ws://[zz]/" in output and "Port out of range" in output
    report = junit.read_text()
    assert report.count("<failure") == 5
    assert PASSWORD not in output, "the password is in pytest's output"
    assert PASSWORD not in report, "the password is in the JUnit XML"
