"""An OpenSSH server on loopback for ``ssh://`` board tests, with keys made by the test.

sshd runs unprivileged-style on a free port with a temporary host key, an ``AuthorizedKeysFile``
in a temporary directory and no PAM; the client side uses a throw-away ssh config
(``$MPHARNESS_SSH_CONFIG``). Skips when sshd is not installed, except in CI
(``MPHARNESS_REQUIRE_VIRTUAL=1``, where ``scripts/install-virtual-boards`` installs it).
"""

from __future__ import annotations

import getpass
import os
import select
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import pytest

SSHD_PATHS = ("/usr/sbin/sshd", "/usr/local/sbin/sshd", "/sbin/sshd")
START_TIMEOUT = 10.0


def find_sshd() -> str | None:
    found = shutil.which("sshd")
    return found or next((p for p in SSHD_PATHS if os.access(p, os.X_OK)), None)


def require_sshd() -> tuple[str, str]:
    sshd, keygen = find_sshd(), shutil.which("ssh-keygen")
    reason = None
    if sshd is None or keygen is None or shutil.which("ssh") is None:
        reason = "OpenSSH server/client not installed (run scripts/install-virtual-boards)"
    if reason is not None:
        if os.environ.get("MPHARNESS_REQUIRE_VIRTUAL") == "1":
            pytest.fail(f"sshd required but unavailable: {reason}")
        pytest.skip(reason)
    assert sshd is not None and keygen is not None
    return sshd, keygen


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def keygen(tool: str, path: Path) -> str:
    subprocess.run([tool, "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)
    return path.with_suffix(".pub").read_text()


def wait_listening(proc: subprocess.Popen[bytes]) -> None:
    assert proc.stderr is not None
    end, seen = time.monotonic() + START_TIMEOUT, b""
    while b"Server listening" not in seen:
        left = end - time.monotonic()
        ready, _, _ = select.select([proc.stderr], [], [], max(0.0, left))
        chunk = os.read(proc.stderr.fileno(), 4096) if ready else b""
        if not chunk:
            proc.kill()
            pytest.fail(f"sshd did not start: {seen.decode(errors='replace')}")
        seen += chunk
    threading.Thread(target=drain, args=(proc.stderr,), daemon=True).start()


def drain(stream: IO[bytes]) -> None:
    """Keep reading sshd's log so it never blocks on a full pipe."""
    while stream.read(4096):
        pass


@pytest.fixture(scope="module")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, int]]:
    """A running sshd and an ssh config that reaches it; yields (config path, port)."""
    sshd_bin, keygen_bin = require_sshd()
    tmp = tmp_path_factory.mktemp("sshd")
    host_pub = keygen(keygen_bin, tmp / "host_key")
    (tmp / "authorized_keys").write_text(keygen(keygen_bin, tmp / "user_key"))
    port = free_port()
    (tmp / "sshd_config").write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {tmp / 'host_key'}\n"
        f"AuthorizedKeysFile {tmp / 'authorized_keys'}\nPidFile {tmp / 'sshd.pid'}\n"
        "StrictModes no\nUsePAM no\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n"
        "PermitRootLogin prohibit-password\nLogLevel INFO\n"
    )
    (tmp / "known_hosts").write_text(f"[127.0.0.1]:{port} {host_pub}")
    (tmp / "ssh_config").write_text(
        f"Host *\n  IdentityFile {tmp / 'user_key'}\n  IdentitiesOnly yes\n"
        f"  UserKnownHostsFile {tmp / 'known_hosts'}\n  StrictHostKeyChecking yes\n"
        "  LogLevel ERROR\n"
    )
    if os.geteuid() == 0:
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)  # sshd's privilege separation dir
    proc = subprocess.Popen(
        [sshd_bin, "-D", "-e", "-f", str(tmp / "sshd_config")], stderr=subprocess.PIPE
    )
    try:
        wait_listening(proc)
        yield tmp / "ssh_config", port
    finally:
        proc.terminate()
        proc.wait(5)


@pytest.fixture
def ssh_url(sshd: tuple[Path, int], monkeypatch: pytest.MonkeyPatch) -> str:
    config, port = sshd
    monkeypatch.setenv("MPHARNESS_SSH_CONFIG", str(config))
    return f"ssh://{getpass.getuser()}@127.0.0.1:{port}{sys.executable}"
