"""Linux boards over SSH: a CPython agent that speaks MicroPython's raw REPL.

Theory of operation
-------------------
``ssh://user@host[:port][/path/to/python][?options]`` runs the system ``ssh`` client (OpenSSH)
as a subprocess: ``ssh -T -e none -o BatchMode=yes ... user@host 'exec PYTHON -u -c LOADER N'``.
The loader reads N bytes of agent source (``mpharness/_device/ssh_agent.py``) from stdin and runs
it; from then on stdin/stdout carry the raw-REPL byte stream, and stderr (ssh's own messages,
the agent's crashes) is kept for error messages. Nothing is installed on the remote host.

Why the ``ssh`` binary and not paramiko: it honours the user's ``~/.ssh/config``, agent, keys,
``known_hosts``, ProxyJump and ControlMaster exactly as ``ssh`` on the command line does, and adds
no dependency. BatchMode makes a missing key or unknown host key fail at once instead of
prompting. ``$MPHARNESS_SSH_CONFIG`` names an ssh config file to use instead of the user's (the
tests use it for a throw-away key and host key); ``$MPHARNESS_SSH_OPTIONS`` adds arguments.

Options in the query: ``root=DIR`` makes DIR the agent's working directory (created if missing;
relative to the login directory); modules loaded from it are forgotten on soft reset.
``micropython[=PATH]`` runs the unix port (``micropython`` on the remote PATH, or PATH) on a pty
under the agent instead of CPython: the agent only forwards bytes, delivers Ctrl-C as SIGINT
when the pty would not (raw-paste turns ISIG off), and restarts the interpreter with
``soft reboot`` + raw banner whenever it exits (the unix port exits where a board soft-resets).
The remote host then needs both ``python3`` (for the agent) and ``micropython``.

The ``ssh`` child runs in a session of its own, so a SIGINT for the caller's process group
(jupyter_client interrupts the kernel's whole group) does not kill it; interrupts travel as
Ctrl-C bytes. The link: ``read`` blocks in ``select`` on ssh's stdout; EOF means the session ended
(:class:`TransportClosed`, with ssh's last error line). A hard reset (and a reconnect) ends the
session and starts a new one, i.e. a fresh interpreter, like a power cycle.
"""

from __future__ import annotations

import collections
import contextlib
import functools
import logging
import os
import select
import shlex
import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from urllib.parse import parse_qs, unquote, urlsplit

from mpharness.deadline import Deadline
from mpharness.errors import ConfigError, ConnectError, TransportClosed
from mpharness.secret import redact_url
from mpharness.transports.base import Transport

__all__ = [
    "SshTarget",
    "SshTransport",
    "agent_source",
    "local_agent_command",
    "open_ssh",
    "parse_ssh_url",
    "ssh_command",
]

log = logging.getLogger(__name__)

RAW_BANNER = b"raw REPL; CTRL-B to exit\r\n>"
DEFAULT_PYTHON = "python3"
CLOSE_WAIT = 2.0  #: s for the session to end after stdin closes, before it is killed
STDERR_KEEP = 4096  #: bytes of ssh's stderr kept for error messages
_LOADER = (
    "import sys;b=sys.stdin.buffer;n=int(sys.argv[1]);s=b.read(n);"
    "exec(compile(s,'mpharness-ssh-agent','exec'),{'__name__':'__main__'})"
)


@dataclass(frozen=True)
class SshTarget:
    """What an ``ssh://`` URL names."""

    destination: str  #: ``user@host`` or ``host`` (an ssh config alias works too)
    port: int | None
    python: str  #: interpreter on the remote host
    root: str | None  #: the agent's working directory
    micropython: str | None  #: unix-port executable to run instead of the CPython agent


def parse_ssh_url(url: str) -> SshTarget:
    """Split an ``ssh://`` board URL.

    Raises:
        ConfigError: no host, a bad port, or an unknown option.
    """
    shown = redact_url(url)
    try:
        parts = urlsplit(url)
        port = parts.port
        host = parts.hostname
    except ValueError as exc:
        raise ConfigError(f"bad host or port in {shown!r}: {exc}") from None
    if not host:
        raise ConfigError(f"no host in {shown!r}: expected ssh://user@host[:port][/python]")
    options = parse_qs(parts.query, keep_blank_values=True)
    unknown = set(options) - {"root", "micropython"}
    if unknown:
        raise ConfigError(
            f"unknown option(s) {sorted(unknown)} in {shown!r} (known: root, micropython)"
        )
    user = f"{unquote(parts.username)}@" if parts.username else ""
    return SshTarget(
        destination=f"{user}{host}",
        port=port,
        python=unquote(parts.path) if parts.path not in ("", "/") else DEFAULT_PYTHON,
        root=options["root"][-1] if "root" in options else None,
        micropython=(options["micropython"][-1] or "micropython")
        if "micropython" in options
        else None,
    )


def agent_source() -> bytes:
    """The agent program sent to the remote Python."""
    return resources.files("mpharness._device").joinpath("ssh_agent.py").read_bytes()


def ssh_command(target: SshTarget, payload_size: int, connect_timeout: float) -> list[str]:
    """The ``ssh`` argument list that starts the agent on ``target``."""
    cmd = ["ssh", "-T", "-e", "none", "-o", "BatchMode=yes"]
    cmd += [
        "-o",
        f"ConnectTimeout={max(1, round(connect_timeout))}",
        "-o",
        "ServerAliveInterval=15",
    ]
    if config := os.environ.get("MPHARNESS_SSH_CONFIG"):
        cmd += ["-F", config]
    cmd += shlex.split(os.environ.get("MPHARNESS_SSH_OPTIONS", ""))
    if target.port is not None:
        cmd += ["-p", str(target.port)]
    remote = f"exec {shlex.quote(target.python)} -u -c {shlex.quote(_LOADER)} {payload_size}"
    if target.micropython is not None:
        remote = f"MPHARNESS_AGENT_MICROPYTHON={shlex.quote(target.micropython)} {remote}"
    if target.root is not None:
        remote = f"MPHARNESS_AGENT_ROOT={shlex.quote(target.root)} {remote}"
    return [*cmd, "--", target.destination, remote]


def local_agent_command(payload_size: int, connect_timeout: float = 0.0) -> list[str]:
    """Run the agent on this host with this Python, no ssh (for tests and benchmarks)."""
    del connect_timeout
    return [sys.executable, "-u", "-c", _LOADER, str(payload_size)]


def open_ssh(url: str, *, timeout: float | None = 10.0) -> SshTransport:
    """Start the agent on the host an ``ssh://`` URL names and wait for its raw banner.

    Raises:
        ConfigError: a bad URL.
        ConnectError: ssh failed (no key, host down, no such Python) or the agent did not start.
    """
    return SshTransport(url, parse_ssh_url(url), timeout=timeout)


class SshTransport(Transport):
    """The byte link to an SSH agent session (see the module docstring)."""

    def __init__(
        self,
        url: str,
        target: SshTarget | None,
        *,
        timeout: float | None = 10.0,
        command: Callable[[int, float], list[str]] | None = None,
    ) -> None:
        """Start the session; ``command(payload_size, connect_timeout)`` overrides the ssh
        command line (e.g. :func:`local_agent_command` runs the agent here, without ssh)."""
        self.url = redact_url(url)
        self.target = target
        self._timeout = 10.0 if timeout is None else timeout
        self._proc: subprocess.Popen[bytes] | None = None
        self._stderr: collections.deque[bytes] = collections.deque(maxlen=64)
        self._stderr_reader: threading.Thread | None = None
        self._write_lock = threading.Lock()
        if command is None:
            if target is None:
                raise ValueError("SshTransport needs a target or a command")
            command = functools.partial(ssh_command, target)
        self._command = command
        self._start(Deadline.after(self._timeout))

    # -- session ------------------------------------------------------------------------------

    def _start(self, deadline: Deadline) -> None:
        payload = agent_source()
        left = deadline.remaining()
        cmd = self._command(len(payload), 10.0 if left is None else left)
        log.debug("starting %s", " ".join(cmd[:-1]))
        try:
            proc = subprocess.Popen(
                cmd,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                bufsize=0,
                # its own session: a SIGINT sent to the caller's process group (a Jupyter
                # interrupt, Ctrl-C in a terminal) must not end the ssh session; interrupts
                # reach the board as Ctrl-C bytes through the link
                start_new_session=True,
            )
        except OSError as exc:
            raise ConnectError(f"cannot run ssh for {self.url}: {exc.strerror}") from exc
        self._proc = proc
        self._stderr.clear()
        self._stderr_reader = threading.Thread(target=self._drain_stderr, args=(proc,), daemon=True)
        self._stderr_reader.start()
        try:
            self.write(payload)
            self._await_banner(deadline)
        except (TransportClosed, TimeoutError) as exc:
            self._stop()
            raise ConnectError(f"could not start the agent on {self.url}: {exc}") from exc

    def _await_banner(self, deadline: Deadline) -> None:
        seen = b""
        while not seen.endswith(RAW_BANNER):
            chunk = self.read(deadline)
            if not chunk:
                raise TimeoutError(f"no raw REPL banner within {self._timeout:g} s (got {seen!r})")
            seen += chunk

    def _drain_stderr(self, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stderr is not None
        for line in iter(proc.stderr.readline, b""):
            self._stderr.append(line)
            log.debug("%s stderr: %s", self.url, line.decode("utf-8", "replace").rstrip())

    def _why(self) -> str:
        """Why the session ended: ssh's exit status and the last of its stderr. Called once the
        pipe broke or hit EOF, so waiting a moment for ssh to exit costs a live session nothing."""
        proc = self._proc
        code = None
        if proc is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                code = proc.wait(CLOSE_WAIT)
        reader = self._stderr_reader
        if code is not None and reader is not None:
            # ssh has exited: its last words (e.g. "Permission denied") may still be in the
            # pipe, on their way to the reader thread; the pipe ends soon, so wait briefly
            reader.join(CLOSE_WAIT)
        text = b"".join(self._stderr).decode("utf-8", "replace").strip()[-STDERR_KEEP:]
        status = f"exit status {code}" if code is not None else "session ended"
        return f"{status}: {text}" if text else status

    def _stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        with contextlib.suppress(OSError):
            assert proc.stdin is not None
            proc.stdin.close()  # the agent sees EOF and exits
        try:
            proc.wait(CLOSE_WAIT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()

    # -- Transport ----------------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        """True once the session was closed or ended."""
        return self._proc is None

    def write(self, data: bytes) -> None:
        """Send ``data`` to the agent's stdin; raises TransportClosed if the session ended."""
        proc = self._proc
        if proc is None or proc.stdin is None:
            raise TransportClosed(f"{self.url} is closed")
        try:
            with self._write_lock:
                view = memoryview(data)
                while view:
                    view = view[proc.stdin.write(view) or 0 :]
        except (BrokenPipeError, ValueError, OSError) as exc:
            raise TransportClosed(f"ssh session to {self.url} ended ({self._why()})") from exc

    def read(self, deadline: Deadline, size: int = 65536) -> bytes:
        """Up to ``size`` bytes of agent output; ``b""`` when the deadline passes first."""
        proc = self._proc
        if proc is None or proc.stdout is None:
            raise TransportClosed(f"{self.url} is closed")
        fd = proc.stdout.fileno()
        while True:
            try:
                ready, _, _ = select.select([fd], [], [], deadline.remaining())
                data = os.read(fd, size) if ready else None
            except (OSError, ValueError) as exc:
                raise TransportClosed(f"ssh session to {self.url} ended ({exc})") from exc
            if data:
                return data
            if data == b"":
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(CLOSE_WAIT)
                raise TransportClosed(f"ssh session to {self.url} ended ({self._why()})")
            if deadline.expired():
                return b""

    def close(self) -> None:
        """End the session (the agent exits on EOF). Idempotent."""
        self._stop()

    @property
    def can_hard_reset(self) -> bool:
        """True: a new session is a fresh interpreter."""
        return True

    def hard_reset(self, deadline: Deadline) -> None:
        """End the session and start a new agent (like a power cycle)."""
        self._stop()
        self._start(deadline)

    @property
    def can_reconnect(self) -> bool:
        """True: a dropped session can be started again."""
        return True

    def reconnect(self, deadline: Deadline) -> None:
        """Start a new session after the old one dropped."""
        self.hard_reset(deadline)

    def __repr__(self) -> str:
        return f"<SshTransport {self.url} {'closed' if self.closed else 'open'}>"
