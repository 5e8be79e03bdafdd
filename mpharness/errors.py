"""The mpharness exception hierarchy.

Every error the engine raises on purpose is an ``MPHarnessError``. Callers branch on
the class, never on message text. Filesystem failures on the board are raised as the
built-in ``OSError`` subclasses instead (see ``mpharness.files.board_fs``).
"""

from __future__ import annotations


class MPHarnessError(Exception):
    """Base class of every error raised by mpharness."""


class ConfigError(MPHarnessError):
    """A rig file, board name or URL is wrong.

    Attributes:
        path: the file the problem is in, if any.
        line: 1-based line number in that file, if known.
        key: the offending key (dotted path such as ``boards.esp32.url``), if any.
    """

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        line: int | None = None,
        key: str | None = None,
    ) -> None:
        self.path = path
        self.line = line
        self.key = key
        where = ""
        if path is not None:
            where = path if line is None else f"{path}:{line}"
            where += ": "
        if key is not None:
            where += f"{key}: "
        super().__init__(where + message)
        self.bare_message = message


class TransportError(MPHarnessError):
    """The byte link to a board failed."""


class ConnectError(TransportError):
    """The link could not be opened (missing port, busy port, refused, bad password)."""


class TransportClosed(TransportError):
    """The link went away while in use (board unplugged, process died, socket closed)."""


class LinkCorrupted(TransportError):
    """The link changed bytes in transit, as a checked exec or a checked value found out.

    ``ran`` says whether the code ran on the board (its output or value came back damaged)
    or not (the code failed its check every time it was sent).
    """

    def __init__(self, message: str, *, ran: bool) -> None:
        super().__init__(message)
        self.ran = ran


class ProtocolError(MPHarnessError):
    """The board answered with bytes the raw-REPL protocol does not allow."""


class BoardReset(ProtocolError):
    """The board rebooted into its friendly REPL while code ran (``machine.reset()``, a
    watchdog, a crash): the exec's result is lost and the interpreter state is gone."""


class BoardTimeout(MPHarnessError, TimeoutError):
    """A board operation did not finish within its deadline.

    Attributes:
        phase: what was being waited for ("enter raw REPL", "exec", "soft reset", ...).
        timeout: the budget in seconds that ran out.
        partial_output: whatever stdout the board produced before the deadline.
    """

    def __init__(self, phase: str, timeout: float | None, partial_output: str = "") -> None:
        self.phase = phase
        self.timeout = timeout
        self.partial_output = partial_output
        #: the board's traceback of the interrupt that ended the code, when there was one
        self.traceback = ""
        budget = "" if timeout is None else f" after {timeout:g} s"
        super().__init__(f"board timed out during {phase}{budget}")


class BoardBroken(MPHarnessError):
    """The board could not be brought back to a usable raw REPL.

    Attributes:
        attempts: the recovery steps that were tried, in order, with their outcome.
    """

    def __init__(self, message: str, attempts: list[str] | None = None) -> None:
        self.attempts = list(attempts or [])
        tried = "; ".join(self.attempts)
        super().__init__(message + (f" (tried: {tried})" if tried else ""))


class RemoteError(MPHarnessError):
    """Code running on the board raised an exception.

    Attributes:
        exc_type: the device exception's class name, e.g. ``"ZeroDivisionError"``.
        message: the exception's message as the device printed it.
        traceback: the device traceback text, as printed.
        stdout: what the code printed before it raised.
        exit_code: for ``SystemExit``, the code it exited with (0 for ``sys.exit()``); None
            when unknown (the raw REPL does not report it unless asked: ``Board.exec(...,
            exit_code=True)``) and for other exceptions.
        note: what the engine adds to the board's report (e.g. which part of the code had
            already run when a later piece did not compile); part of ``str(error)``.
    """

    def __init__(
        self,
        exc_type: str,
        message: str,
        traceback: str,
        stdout: str = "",
        *,
        exit_code: int | None = None,
        note: str = "",
    ) -> None:
        self.exc_type = exc_type
        self.message = message
        self.traceback = traceback
        self.stdout = stdout
        self.exit_code = exit_code
        self.note = note
        super().__init__((f"{exc_type}: {message}" if message else exc_type) + note)


class BoardBusy(ConnectError):
    """Another session holds the board's lease (see ``mpharness.sharing.leases``).

    Attributes:
        key: the lease key of the board.
        holder: the holder's record (``pid``, ``host``, ``since``, ``purpose``), or {} if unknown.
    """

    def __init__(self, message: str, *, key: str = "", holder: dict[str, object] | None = None):
        self.key = key
        self.holder = dict(holder or {})
        super().__init__(message)


class LeaseError(ConnectError):
    """The lease machinery cannot be used safely: the lock directory or a lock file is unsafe,
    or another user's file blocks it (see ``mpharness.sharing.lock_dir``). The message names
    the path, its owner, what is wrong and what to do."""
