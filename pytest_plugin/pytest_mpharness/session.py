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

``--device`` may name a pool (``a,b,c`` or ``tag:FEATURE``, see ``pool.py``): the session
then leases the first free board of the pool that has the test's features, and swaps boards
when a test needs features its board lacks. Each pytest-xdist worker has its own session, so
each worker leases its own board. The board that ran a test is a JUnit property of the test
case (``mpharness_board``). ``--board-flash`` flashes before the first open; under xdist the
controller flashes the whole pool before starting the workers instead (``flashing.py``).
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pytest

from pytest_mpharness.board_cache import BoardFileCache
from pytest_mpharness.flashing import FLASH_INPUT
from pytest_mpharness.report import BoardFailure, BoardSetupError
from pytest_mpharness.settings import DEFAULT_TIMEOUT, ISOLATION_SCOPES, Settings

__all__ = [
    "DEFAULT_TIMEOUT",
    "ENVIRONMENT_BOARD",
    "ENVIRONMENT_FIRMWARE",
    "ISOLATION_SCOPES",
    "OPEN_TIMEOUT",
    "BoardSession",
    "Settings",
    "describe_firmware",
]

if TYPE_CHECKING:
    from mpharness import Board
    from mpharness.rigs.boardspec import BoardSpec
    from pytest_mpharness.pool import BoardSet
    from pytest_mpharness.shipping import TestModule

log = logging.getLogger("pytest_mpharness")

#: Budget for opening the board (connect + raw REPL) when the rig gives none.
OPEN_TIMEOUT = 30.0
#: Extra keyword arguments for :func:`mpharness.tools.flash.flash_board` (tests put a fake esptool,
#: probe and port lister here; empty in real runs).
FLASH_TOOLS: dict[str, Any] = {}


class BoardSession:
    """The run's board: lazy opening, per-test isolation, recovery and broken state."""

    def __init__(self, config: pytest.Config, settings: Settings) -> None:
        from mpharness import ConfigError
        from mpharness.rigs.rig import Rig
        from mpharness.sharing.leases import Handover
        from pytest_mpharness.pool import parse_pool

        assert settings.device is not None
        self.config = config
        self.settings = settings
        try:
            self.rig = Rig.load(list(settings.rig) or None)
            self.pool: list[BoardSpec] = parse_pool(settings.device, self.rig)
        except ConfigError as err:
            raise pytest.UsageError(f"--device {settings.device}: {err}") from None
        #: the board in use (before the first open: the pool's first)
        self.spec: BoardSpec = self.pool[0]
        workerinput = getattr(config, "workerinput", {})
        worker = workerinput.get("workerid")
        #: what the holder record says this session is
        self.purpose = f"pytest {worker}" if worker else "pytest"
        #: the test run (shared by the xdist workers of one run): sent as the lease "want"
        self.run_id = str(workerinput.get("testrunuid") or uuid.uuid4().hex).encode()
        self._state = threading.Lock()
        self._in_test = False
        self._may_yield = True
        self._yield_asked = False
        self._handover = Handover(self.run_id, self._on_want)
        self.board: Board | None = None
        self.url: str | None = None  #: the URL the board was opened at, once it was
        self.info: dict[str, Any] = {}
        self.broken: str | None = None
        self.needs_recovery = False
        self._scope_key: object = None
        self._prepared: object = None
        self._modules: dict[tuple[str, str | None], TestModule] = {}
        self._host_tests: dict[str, frozenset[str]] = {}
        #: module files on the board (pytest stand-in, test module images, helpers)
        self.files = BoardFileCache()
        #: modules and classes whose xunit setup ran on the board since its last reset
        self.xunit_started: set[str] = set()
        self._recorded = False
        self._synced: set[str] = set()
        #: boards this process flashed (or found up to date) for ``--board-flash``
        self.flashed: set[str] = set()
        #: what ``--board-flash`` did, one line per board, for the terminal summary
        self.flash_log: list[str] = []
        #: under pytest-xdist (controller): each worker's board facts (plugin.py)
        self.worker_reports: list[dict[str, Any]] = []
        #: under pytest-xdist the controller flashed the pool: "" or why it failed (flashing.py)
        self.flashed_by_controller: str | None = workerinput.get(FLASH_INPUT)
        if self.flashed_by_controller:
            self.mark_broken(self.flashed_by_controller)

    @property
    def name(self) -> str:
        """The board's name (rig name, built-in name or URL)."""
        return self.spec.name

    @property
    def reset_mode(self) -> str:
        """How a test is isolated: ``--board-reset`` if given, else the rig entry's ``reset``."""
        return self.settings.reset or self.spec.reset

    @property
    def flash_tools(self) -> dict[str, Any]:
        """Keyword arguments for :func:`mpharness.tools.flash.flash_board`
        (:data:`FLASH_TOOLS`, read at each use so tests can replace it)."""
        return FLASH_TOOLS

    @property
    def pool_names(self) -> str:
        """The pool's board names, comma-separated."""
        return ", ".join(spec.name for spec in self.pool)

    def candidates(self, features: list[str]) -> list[BoardSpec]:
        """The pool's boards that have every feature."""
        from pytest_mpharness.pool import fits

        return [spec for spec in self.pool if fits(spec, features)]

    # ------------------------------------------------------------------ per test
    def prepare(self, item: pytest.Item) -> Board:
        """The open board, isolated for ``item`` (once per test, however often called).

        Raises:
            BoardSetupError: the board is broken or cannot be opened/reset.
        """
        with self._state:  # from now on the board is not handed over (see _on_want)
            self._in_test = True
        token = item.stash.get(_TOKEN_KEY, None)
        if token is None:
            token = item.stash[_TOKEN_KEY] = object()
        if self.broken is not None:
            item.user_properties.append(("mpharness_board", self.name))
            raise self._setup_error(item, self.broken)
        features = required_features(item)
        fitting = {spec.name for spec in self.candidates(features)}
        if self.board is not None and self.name not in fitting:
            self.close()  # swap: hold nothing while waiting for a board that fits
        if self._prepared is token and self.board is not None:
            return self.board
        board = self.board or self._open(item, features)
        item.user_properties.append(("mpharness_board", self.name))
        key = self._isolation_key(item, token)
        if self.needs_recovery or key != self._scope_key:
            self._isolate(item, board)
            self._scope_key = key
        self._prepared = token
        return board

    def open_board_set(self, item: pytest.Item, choices: list[dict[str, BoardSpec]]) -> BoardSet:
        """Lease and open boards for a multi-board test (the session's own board is released
        first, so the process holds nothing while it waits).

        Raises:
            BoardSetupError: the boards could not be leased or opened (this test errors).
        """
        import mpharness
        from mpharness.sharing.leases import Handover
        from pytest_mpharness.pool import open_board_set

        self.close()
        try:
            board_set = open_board_set(
                choices,
                wait_s=self.settings.lease_wait,
                purpose=self.purpose,
                timeout=OPEN_TIMEOUT,
                handover=Handover(self.run_id),  # ask for boards; held only for this test
            )
        except mpharness.MPHarnessError as err:
            raise self._setup_error(
                item, f"cannot open the boards: {type(err).__name__}: {err}"
            ) from None
        names = [f"{role}={board.name}" for role, board in board_set.items()]
        item.user_properties.append(("mpharness_board", ",".join(names)))
        return board_set

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
        if self.reset_mode == "none":
            text = f"board {self.name!r} not reset (reset: none)\n"
        else:
            text = f"{self.reset_mode} reset of board {self.name!r} in {elapsed:.1f} ms\n"
        if boot.strip():
            text += boot if boot.endswith("\n") else boot + "\n"
        item.add_report_section("setup", "board log", text)

    def _reset(self, board: Board) -> str:
        mode = self.reset_mode
        if mode == "none":
            return ""
        self.xunit_started.clear()  # the board forgot what module/class setups did
        if mode == "hard":
            return board.hard_reset()
        return board.soft_reset()

    # ------------------------------------------------------------------ life cycle
    def _open(self, item: pytest.Item, features: list[str]) -> Board:
        import mpharness
        from mpharness.connect import open_first_free

        candidates = self.candidates(features)
        if self.settings.flash:
            self._flash(item, candidates)
        try:
            board = open_first_free(
                candidates,
                timeout=OPEN_TIMEOUT,
                soft_reset=False,
                lease_wait_s=self.settings.lease_wait,
                purpose=self.purpose,
                handover=self._handover,
            )
        except mpharness.BoardBusy as err:  # this test errors; a later one may find a board
            raise self._setup_error(item, f"BoardBusy: {err}") from None
        except mpharness.MPHarnessError as err:
            what = f"board {candidates[0].name!r}" if len(candidates) == 1 else "a pool board"
            self.mark_broken(f"cannot open {what}: {type(err).__name__}: {err}")
            raise self._setup_error(item, self.broken or "") from None
        self.board = board
        self.spec = board.spec
        self.url = board.url
        self.needs_recovery = False
        self._scope_key = None
        try:
            self.info = dict(board.info())
        except (mpharness.MPHarnessError, ValueError) as err:
            log.warning("cannot read firmware facts of %s: %s", self.name, err)
        if not self._recorded:
            self._record_suite_properties()
            add_environment(self.config, self.environment())
            self._recorded = True
        if self.settings.sync and self.name not in self._synced:
            self._sync_resources(item, board)
            self._synced.add(self.name)
        return board

    def _flash(self, item: pytest.Item, specs: list[BoardSpec]) -> None:
        """Flash the rig ``firmware`` of each board once per run (``--board-flash``); not in
        an xdist worker: the controller flashed the pool before starting it."""
        from pytest_mpharness.flashing import flash_boards

        if self.flashed_by_controller is None and not flash_boards(self, specs):
            raise self._setup_error(item, self.broken or "")

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

    def add_worker_report(self, report: dict[str, Any]) -> None:
        """Keep a pytest-xdist worker's board facts; its board's properties become JUnit
        ``<testsuite>`` properties here, in the controller that writes the XML."""
        self.worker_reports.append(report)
        environment = report.get("environment")
        if isinstance(environment, dict):
            add_environment(self.config, {str(k): str(v) for k, v in environment.items()})
        try:
            from _pytest.junitxml import xml_key
        except ImportError:  # pragma: no cover - pytest without junitxml
            return
        xml = self.config.stash.get(xml_key, None)
        properties = report.get("properties") or {}
        if xml is None or not isinstance(properties, dict):
            return
        have = {(name, value) for name, value in xml.global_properties}
        for name, value in properties.items():
            if (name, str(value)) not in have:
                xml.add_global_property(name, str(value))

    def environment(self) -> dict[str, str]:
        """The board and its firmware for pytest-html's Environment table (empty before the
        board was opened)."""
        if self.url is None:
            return {}
        return {
            ENVIRONMENT_BOARD: f"{self.name} ({self.url})",
            ENVIRONMENT_FIRMWARE: describe_firmware(self.info),
        }

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
        return f"board {self.name!r} ({self.url}): {describe_firmware(self.info)}"

    def mark_broken(self, reason: str) -> None:
        """Remember that the board is unusable; later board tests error with ``reason``."""
        if self.broken is None:
            self.broken = reason
            log.info("%s", reason)

    # ------------------------------------------------------------------ handing boards over
    def _on_want(self, token: bytes) -> None:
        """Another worker of this run waits for our board: hand it over when idle.

        Runs in the lease's listener thread. Only workers of the same run are served: they
        cannot finish while we, idle, keep the board (xdist ends idle workers only at the end
        of the run); another run waits for ours to end, so runs take turns as wholes.
        """
        if token != self.run_id:
            return
        with self._state:
            if self._in_test or not self._may_yield:
                self._yield_asked = True
                return
            log.info("handing board %s over to another worker", self.name)
            self.close()

    def after_test(self, item: pytest.Item, nextitem: pytest.Item | None) -> None:
        """The test is over: hand the board over if asked and the isolation scope allows."""
        if self.settings.isolation == "module":
            may_yield = nextitem is None or nextitem.path != item.path
        else:
            may_yield = self.settings.isolation == "test" or nextitem is None
        with self._state:
            self._in_test = False
            self._may_yield = may_yield
            if self._yield_asked and may_yield and self.board is not None:
                log.info("handing board %s over to another worker", self.name)
                self.close()
            self._yield_asked = False

    def close(self) -> None:
        """Close the board's link (idempotent); a later :meth:`prepare` opens it again."""
        if self.board is not None:
            self.board.close()
            self.board = None
            self._scope_key = None
            self._prepared = None
            self.xunit_started.clear()

    def test_module(
        self,
        item: pytest.Item,
        host_tests: Callable[[pytest.Item], frozenset[str]],
        only: str | None = None,
    ) -> TestModule:
        """The board modules of ``item``'s test file (built once per run).

        Args:
            item: a test of the file.
            host_tests: gives the top-level names of the file's tests that run on the host
                (called once per file).
            only: build the image of this one test (function or class) of the file.
        """
        from pytest_mpharness.shipping import build_test_module

        path = str(item.path)
        key = (path, only)
        if key not in self._modules:
            if path not in self._host_tests:
                self._host_tests[path] = host_tests(item)
            self._modules[key] = build_test_module(
                path, self._host_tests[path], item.config.rootpath, only
            )
        return self._modules[key]

    def _setup_error(self, item: pytest.Item, reason: str) -> BoardSetupError:
        path, line = _item_location(item)
        return BoardSetupError(
            BoardFailure("BoardError", [f"BoardError: {reason}"], where=(path, line))
        )


#: keys of the board facts in pytest-metadata's table (pytest-html's Environment section)
ENVIRONMENT_BOARD = "mpharness board"
ENVIRONMENT_FIRMWARE = "mpharness firmware"


def add_environment(config: pytest.Config, facts: dict[str, str]) -> None:
    """Add board facts to pytest-metadata's dict, which pytest-html shows as its Environment
    table when it writes the report at the end of the run (the same dict object, so facts
    learned mid-run still appear). Several boards (a pool, xdist workers) are listed
    comma-separated. Nothing happens without pytest-metadata."""
    try:
        from pytest_metadata.plugin import metadata_key
    except ImportError:
        return
    metadata = config.stash.get(metadata_key, None)
    if metadata is None:
        return
    for key, value in facts.items():
        have = [v for v in str(metadata.get(key, "")).split(", ") if v]
        if value not in have:
            metadata[key] = ", ".join([*have, value])


def required_features(item: pytest.Item) -> list[str]:
    """The features the item's ``board(features=...)`` marks ask for."""
    features: list[str] = []
    for mark in item.iter_markers("board"):
        value = mark.kwargs.get("features", mark.args[0] if mark.args else ())
        features.extend([value] if isinstance(value, str) else list(value))
    return features


def _item_location(item: pytest.Item) -> tuple[str, int]:
    path, line, _ = item.reportinfo()
    return str(path), (line or 0) + 1


_TOKEN_KEY = pytest.StashKey[object]()


#: The unix port's machine string ends in the word its banner continues with
#: ("linux [GCC 14.2.1] version"); it is not part of the machine's name.
_BANNER_TAIL = " version"


def describe_firmware(info: dict[str, Any]) -> str:
    """``micropython 1.29.0-preview on linux [GCC 14.2.1]`` from ``Board.info()``."""
    parts = str(info.get("version", "?")).split(".")
    version = ".".join(parts[:3]) + "".join(f"-{p}" for p in parts[3:] if p)
    machine = str(info.get("machine") or "").strip()
    if machine.endswith(_BANNER_TAIL):
        machine = machine[: -len(_BANNER_TAIL)].rstrip()
    text = f"{info.get('implementation', '?')} {version}"
    return text + (f" on {machine}" if machine else "")
