"""``mpharness serve`` under attack (issue 12, findings 2 and 3): loopback by default, a loud
warning for any other bind, and one client's resets or garbage never end the serving."""

from __future__ import annotations

import os
import re
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import mpharness
from mpharness.tools.serve import exposure, served_board
from mpharness.transports.rfc2217_server import Rfc2217Server
from mpharness.transports.serial_link import open_serial
from tests.conftest import require_virtual_board

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:serial.rfc2217")
#: Telnet subnegotiations that make pyserial's PortManager raise (found by fuzzing it):
#: SET_BAUDRATE without its 4 bytes (struct.error), SET_DATASIZE 14 (KeyError), and an
#: empty subnegotiation of option 10 (TypeError).
GARBAGE = [
    b"\xff\xfa\x2c\x01\x1f\xff\xf0",
    b"\xff\xfa\x2c\x03\x0e\xff\xf0",
    b"\xff\xfa\x2c\x0a\xff\xf0",
    bytes(range(256)) * 8,
]
BUSY = re.compile(rb"board in use by 127\.0\.0\.1:\d+ since \d{4}-\d\d-\d\d \d\d:\d\d:\d\d\r\n")


@pytest.fixture
def thread_crashes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Exceptions that escape any thread (what would print a traceback)."""
    seen: list[str] = []
    monkeypatch.setattr(
        threading, "excepthook", lambda args: seen.append(f"{args.exc_type.__name__}")
    )
    return seen


@pytest.fixture
def server() -> Iterator[Rfc2217Server]:
    require_virtual_board("unix")
    with served_board("unix") as srv:
        yield srv


def _reset_connects(address: tuple[str, int], count: int = 10) -> None:
    """Connect and close with SO_LINGER 0: the server's queue holds connections already reset."""
    for _ in range(count):
        sock = socket.create_connection(address)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()


def _send_garbage(address: tuple[str, int], data: bytes) -> None:
    """Send ``data`` and wait until the server hangs up on us (or 5 s)."""
    with socket.create_connection(address, timeout=5) as sock:
        sock.sendall(data)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                if not sock.recv(4096):
                    return
            except OSError:  # reset by the server, or the 5 s read timeout
                return


def _open_when_free(url: str) -> mpharness.Board:
    """Open ``url``, retrying for 10 s while the server may still be dropping the last client
    (it notices a client has gone only when its socket says so)."""
    deadline = time.monotonic() + 10
    while True:
        try:
            return mpharness.open_board(url, timeout=10)
        except mpharness.ConnectError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def test_resets_before_accept_do_not_kill_the_server(server, thread_crashes):
    _reset_connects(server.address)
    time.sleep(0.3)  # let the accept thread meet them all
    assert thread_crashes == []
    with mpharness.open_board(server.url) as board:
        assert board.eval("6 * 7") == 42


def test_garbage_ends_only_that_client_and_prints_nothing(server, thread_crashes, caplog):
    for data in GARBAGE:
        _send_garbage(server.address, data)
    assert thread_crashes == []
    assert not [r for r in caplog.records if r.exc_info], "a traceback was logged"
    with _open_when_free(server.url) as board:
        assert board.eval("1 + 1") == 2


def test_second_client_is_told_who_uses_the_board(server):
    with mpharness.open_board(server.url) as board:
        with socket.create_connection(server.address, timeout=5) as raw:
            assert BUSY.fullmatch(raw.recv(200))
        # a client on another host (here: past the lease, at the transport) hears the same
        busy = pytest.raises(mpharness.ConnectError, match=r"is busy: board in use by 127\.0\.0")
        with busy:
            open_serial(server.url)
        assert board.eval("3") == 3  # the first client never noticed


def test_default_bind_is_loopback(server):
    assert server.address[0] == "127.0.0.1"
    assert exposure("127.0.0.1", 1, "unix") is None
    assert exposure("::1", 1, "unix") is None
    warning = exposure("0.0.0.0", 7000, "unix")
    assert warning is not None and "every interface" in warning and "run code" in warning


def _outside_address() -> str | None:
    """An address of this host that is not loopback (no packet is sent), or None."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # TEST-NET-1: only picks a route
        except OSError:
            return None
        address = probe.getsockname()[0]
    return None if address.startswith("127.") else address


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _serve(*extra: str) -> tuple[subprocess.Popen[str], int]:
    port = _free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mpharness.cli.main",
            "serve",
            "unix",
            "--rfc2217",
            str(port),
            *extra,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )
    return proc, port


def _stop(proc: subprocess.Popen[str]) -> str:
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
    assert proc.stderr is not None
    return proc.stderr.read()


def test_cli_serves_loopback_only_and_survives_attacks_without_tracebacks():
    require_virtual_board("unix")
    proc, port = _serve()
    try:
        assert proc.stdout is not None
        assert f"rfc2217://127.0.0.1:{port}" in proc.stdout.readline()
        outside = _outside_address()
        if outside is not None:  # not reachable from the network
            with pytest.raises(OSError):
                socket.create_connection((outside, port), timeout=2).close()
        _reset_connects(("127.0.0.1", port))
        for data in GARBAGE:
            _send_garbage(("127.0.0.1", port), data)
        with _open_when_free(f"rfc2217://127.0.0.1:{port}") as board:
            assert board.eval("2 + 5") == 7
    finally:
        stderr = _stop(proc)
    assert proc.returncode == 0
    assert "Traceback" not in stderr and "WARNING" not in stderr, stderr


def test_cli_other_binds_are_printed_with_the_risk():
    require_virtual_board("unix")
    proc, port = _serve("--bind", "0.0.0.0")
    try:
        assert proc.stdout is not None
        assert f":{port}" in proc.stdout.readline()
    finally:
        stderr = _stop(proc)
    warning = [line for line in stderr.splitlines() if "WARNING" in line]
    assert len(warning) == 1
    assert "every interface" in warning[0] and "without authentication" in warning[0]
