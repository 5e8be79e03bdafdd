"""The board a pytest run uses: opened lazily, reset between tests, marked broken for good.

Theory of operation
-------------------
One :class:`BoardSession` per pytest run (kept in ``config.stash``) when ``--device`` is
given. Nothing touches a port until the first board test is set up; then the board is opened
(no soft reset: isolation does it), its firmware facts read for the reports, and the rig's
resources copied if asked. Before each board test, :meth:`BoardSession.prepare` isolates it
according to the isolation scope (``test``: reset before every test; ``module``: when the test
module changes; ``session``: once) and the rig entry's ``reset`` mode (soft/hard/none). A test
that lost the board (crash, reboot, dead link) sets ``needs_recovery``: the next preparation
climbs the engine's recovery ladder first. When the board cannot be opened or recovered the
session is *broken*: every later board test errors in setup with the same reason.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest

from pytest_mpharness.report import BoardFailure, BoardSetupError

if TYPE_CHECKING:
    from mpharness import Board
    from mpharness.boardspec import BoardSpec
    from pytest_mpharness.shipping import ModuleSource

log = logging.getLogger("pytest_mpharness")

ISOLATION_SCOPES = ("test", "module", "session")
DEFAULT_TIMEOUT = 60.0
#: Budget for opening the board (connect + raw REPL) when the rig gives none.
OPEN_TIMEOUT = 30.0


@dataclass(frozen=True)
class Settings:
    """The plugin's options, from the command line or the ini file.

    Attributes:
        device: board name or URL; None disables the plugin.
        rig: rig file paths (empty: the engine's default search).
        timeout: per-test budget in seconds.
        isolation: ``test``, ``module`` or ``session``.
        sync: copy the rig entry's resources to the board before the first test.
    """

    device: str | None
    rig: tuple[str, ...] = ()
    timeout: float = DEFAULT_TIMEOUT
    isolation: str = "test"
    sync: bool = False

    @classmethod
    def from_config(cls, config: pytest.Config) -> Settings:
        """Read and check the options.

        Raises:
            pytest.UsageError: a bad timeout or isolation scope.
        """
        device = config.getoption("mpharness_device") or config.getini("mpharness_device")
        rig = config.getoption("mpharness_rig") or [str(p) for p in config.getini("mpharness_rig")]
        raw_timeout = config.getoption("mpharness_board_timeout")
        if raw_timeout is None:
            raw_timeout = config.getini("mpharness_board_timeout") or DEFAULT_TIMEOUT
        try:
            timeout = float(raw_timeout)
        except ValueError:
            raise pytest.UsageError(
                f"board timeout must be a number of seconds, not {raw_timeout!r}"
            ) from None
        if not timeout > 0:
            raise pytest.UsageError(f"board timeout must be positive, not {raw_timeout!r}")
        isolation = config.getoption("mpharness_isolation") or config.getini("mpharness_isolation")
        if isolation not in ISOLATION_SCOPES:
            raise pytest.UsageError(
                f"board isolation must be one of {', '.join(ISOLATION_SCOPES)}, not {isolation!r}"
            )
        sync = bool(config.getoption("mpharness_sync") or config.getini("mpharness_sync"))
        name = str(device).strip() if device else ""
        return cls(name or None, tuple(rig), timeout, isolation, sync)


class BoardSession:
    """The run's board: lazy opening, per-test isolation, recovery and broken state."""

    def __init__(self, config: pytest.Config, settings: Settings) -> None:
        from mpharness import ConfigError
        from mpharness.rig import Rig

        assert settings.device is not None
        self.config = config
        self.settings = settings
        try:
            self.rig = Rig.load(list(settings.rig) or None)
            self.spec: BoardSpec = self.rig.resolve(settings.device)
        except ConfigError as err:
            raise pytest.UsageError(f"--device {settings.device}: {err}") from None
        self.board: Board | None = None
        self.url: str | None = None  #: the URL the board was opened at, once it was
        self.info: dict[str, Any] = {}
        self.broken: str | None = None
        self.needs_recovery = False
        self._scope_key: object = None
        self._prepared: object = None
        self._modules: dict[str, ModuleSource] = {}
        self._recorded = False
        self._synced = False

    @property
    def name(self) -> str:
        """The board's name (rig name, built-in name or URL)."""
        return self.spec.name

    # ------------------------------------------------------------------ per test
    def prepare(self, item: pytest.Item) -> Board:
        """The open board, isolated for ``item`` (once per test, however often called).

        Raises:
            BoardSetupError: the board is broken or cannot be opened/reset.
        """
        token = item.stash.get(_TOKEN_KEY, None)
        if token is None:
            token = item.stash[_TOKEN_KEY] = object()
        if self.broken is not None:
            raise self._setup_error(item, self.broken)
        if self._prepared is token and self.board is not None:
            return self.board
        board = self.board or self._open(item)
        key = self._isolation_key(item, token)
        if self.needs_recovery or key != self._scope_key:
            self._isolate(item, board)
            self._scope_key = key
        self._prepared = token
        return board

    def _isolation_key(self, item: pytest.Item, token: object) -> object:
        if self.settings.isolation == "module":
            return str(item.path)
        if self.settings.isolation == "session":
            return "session"
        return token

    def _isolate(self, item: pytest.Item, board: Board) -> None:
        from mpharness import BoardBroken, MPHarnessError

        started = time.perf_counter()
        try:
            if self.needs_recovery:
                board.recover()
                self.needs_recovery = False
            boot = self._reset(board)
        except BoardBroken as err:
            self.mark_broken(f"board {self.name!r} is broken: {err}")
            raise self._setup_error(item, self.broken or "") from None
        except MPHarnessError as err:
            try:
                board.recover()
                boot = self._reset(board)
            except MPHarnessError as again:
                self.mark_broken(
                    f"board {self.name!r} could not be reset ({type(err).__name__}: {err}) "
                    f"nor recovered ({type(again).__name__}: {again})"
                )
                raise self._setup_error(item, self.broken or "") from None
        elapsed = (time.perf_counter() - started) * 1000
        if self.spec.reset == "none":
            text = f"board {self.name!r} not reset (its rig entry says reset: none)\n"
        else:
            text = f"{self.spec.reset} reset of board {self.name!r} in {elapsed:.1f} ms\n"
        if boot.strip():
            text += boot if boot.endswith("\n") else boot + "\n"
        item.add_report_section("setup", "board log", text)

    def _reset(self, board: Board) -> str:
        mode = self.spec.reset
        if mode == "none":
            return ""
        if mode == "hard":
            return board.hard_reset()
        return board.soft_reset()

    # ------------------------------------------------------------------ life cycle
    def _open(self, item: pytest.Item) -> Board:
        import mpharness

        timeout = self.spec.timeout_s if self.spec.timeout_s is not None else OPEN_TIMEOUT
        try:
            board = mpharness.open_board(
                self.settings.device or "", rig=self.rig, timeout=timeout, soft_reset=False
            )
        except mpharness.MPHarnessError as err:
            self.mark_broken(f"cannot open board {self.name!r}: {type(err).__name__}: {err}")
            raise self._setup_error(item, self.broken or "") from None
        self.board = board
        self.url = board.url
        self._scope_key = None
        try:
            self.info = dict(board.info())
        except (mpharness.MPHarnessError, ValueError) as err:
            log.warning("cannot read firmware facts of %s: %s", self.name, err)
        if not self._recorded:
            self._record_suite_properties()
            self._recorded = True
        if self.settings.sync and not self._synced:
            self._sync_resources(item, board)
            self._synced = True
        return board

    def _sync_resources(self, item: pytest.Item, board: Board) -> None:
        from pytest_mpharness.resources import sync_resources

        try:
            lines = sync_resources(board, self.spec)
        except (OSError, ValueError, NotImplementedError, ImportError) as err:
            self.mark_broken(f"cannot copy the rig resources to board {self.name!r}: {err}")
            raise self._setup_error(item, self.broken or "") from None
        item.add_report_section("setup", "board sync", "\n".join(lines) + "\n")

    def _record_suite_properties(self) -> None:
        """Board name, URL and firmware as JUnit XML ``<testsuite>`` properties."""
        try:
            from _pytest.junitxml import xml_key
        except ImportError:  # pragma: no cover - pytest without junitxml
            return
        xml = self.config.stash.get(xml_key, None)
        if xml is None or self.board is None:
            return
        for name, value in self.properties().items():
            xml.add_global_property(name, value)

    def properties(self) -> dict[str, str]:
        """Facts about the board for reports: name, URL, firmware."""
        props = {"mpharness_board": self.name}
        if self.url is not None:
            props["mpharness_url"] = self.url
        for key in ("implementation", "version", "sys_version", "platform", "machine"):
            if self.info.get(key):
                props[f"mpharness_{key}"] = str(self.info[key])
        return props

    def describe(self) -> str:
        """One line about the board for the terminal summary."""
        if self.url is None:
            return f"board {self.name!r} was not used"
        info = self.info
        firmware = f"{info.get('implementation', '?')} {info.get('version', '?')}"
        machine = f" on {info['machine']}" if info.get("machine") else ""
        return f"board {self.name!r} at {self.url}: {firmware}{machine}"

    def mark_broken(self, reason: str) -> None:
        """Remember that the board is unusable; later board tests error with ``reason``."""
        if self.broken is None:
            self.broken = reason
            log.info("%s", reason)

    def close(self) -> None:
        """Close the board's link (idempotent); a later :meth:`prepare` opens it again."""
        if self.board is not None:
            self.board.close()
            self.board = None
            self._scope_key = None
            self._prepared = None

    def module_source(self, path: str) -> ModuleSource:
        """The parsed test module at ``path`` (parsed once per run)."""
        from pytest_mpharness.shipping import ModuleSource

        if path not in self._modules:
            self._modules[path] = ModuleSource(path)
        return self._modules[path]

    def _setup_error(self, item: pytest.Item, reason: str) -> BoardSetupError:
        path, line = _item_location(item)
        return BoardSetupError(
            BoardFailure("BoardError", [f"BoardError: {reason}"], where=(path, line))
        )


def _item_location(item: pytest.Item) -> tuple[str, int]:
    path, line, _ = item.reportinfo()
    return str(path), (line or 0) + 1


_TOKEN_KEY = pytest.StashKey[object]()
