"""pytest plugin: ``pytest --device NAME`` runs board tests on a MicroPython board.

Theory of operation
-------------------
Registered through the ``pytest11`` entry point, so it is imported by every pytest run: this
module imports only pytest at import time, and without ``--device`` (or the ini key
``mpharness_device``) it opens nothing and skips the board tests with that reason.

*Board tests* are tests marked ``on_board`` (their body runs on the board), tests using the
``board`` fixture (host-driven) and tests marked ``board(features=...)``. Their setup
(:func:`pytest_runtest_setup`) checks the rig entry's features, then has the
:class:`~pytest_mpharness.session.BoardSession` open the board on first use and isolate the
test (soft reset by default). For ``on_board`` tests :func:`pytest_pyfunc_call` replaces the
host call: the function is shipped (``shipping.py``), run (``runner.py``) and its outcome
turned into pytest's (pass, ``pytest.skip``, or :class:`BoardTestFailure`).
:func:`pytest_runtest_makereport` swaps pytest's traceback of our own exceptions for the board
failure (:func:`~pytest_mpharness.report.exception_repr`), so the report shows the test
file's lines and the compared values, and ``xfail``, ``-x``, ``--lf`` and JUnit XML all work as
for any failing test.
"""

from __future__ import annotations

import functools
import inspect
import os
from collections.abc import Generator, Iterator
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from mpharness import Board
    from pytest_mpharness.board_files import BoardFiles
    from pytest_mpharness.pool import BoardSet
    from pytest_mpharness.session import BoardSession

NO_DEVICE_REASON = (
    "board test: no board selected (pass --device NAME_OR_URL, or set mpharness_device in the "
    "ini file)"
)
_SESSION_KEY = pytest.StashKey["BoardSession | None"]()
#: as settings.RESET_MODES (not imported: this module imports only pytest at import time)
RESET_MODES = ("soft", "hard", "none")

MARKERS = (
    "on_board(timeout=None): run this test's body on the board given by --device "
    "(after a soft reset); arguments must be literal values",
    "board_timeout(seconds): per-test time budget on the board (default: --board-timeout)",
    "board(features=[...]): needs a board with these rig features (from the --device pool); "
    "skipped when no board of the pool has them",
    "mpharness_no_device: set by the plugin: a board test without a device under --require-device",
    "boards(**roles): a multi-board test: role=dict(features=[...]) per role; the 'boards' "
    "fixture gives role -> Board, leased together from the --device pool",
)


def pytest_addoption(parser: pytest.Parser) -> None:
    """The plugin's command-line options and ini keys."""
    group = parser.getgroup("mpharness", "MicroPython boards (mpharness)")
    group.addoption(
        "--device",
        dest="mpharness_device",
        metavar="NAME_OR_URL",
        default=None,
        help="board to run board tests on: a rig name, a built-in (unix, microbit) or a URL; "
        "or a pool: several, comma-separated, or tag:FEATURE (every rig board with it); "
        "with pytest-xdist each worker leases its own board of the pool",
    )
    group.addoption(
        "--lease-wait",
        dest="mpharness_lease_wait",
        metavar="SECONDS",
        default=None,
        help="how long to wait for a board another session holds (default "
        "$MPHARNESS_LEASE_WAIT_S or 3600; inf: for ever)",
    )
    group.addoption(
        "--rig",
        dest="mpharness_rig",
        metavar="PATH",
        action="append",
        default=[],
        help="rig file, directory or glob (repeatable; default $MPHARNESS_RIG or hil_rigs/*.yaml)",
    )
    group.addoption(
        "--board-timeout",
        dest="mpharness_board_timeout",
        metavar="SECONDS",
        default=None,
        help="time budget of one board test in seconds (default 60; marker board_timeout)",
    )
    group.addoption(
        "--board-isolation",
        dest="mpharness_isolation",
        default=None,
        choices=("test", "module", "session"),
        help="reset the board before every test (default), every module, or once",
    )
    group.addoption(
        "--board-reset",
        dest="mpharness_reset",
        default=None,
        choices=RESET_MODES,
        help="how the board is reset before each test (scope: --board-isolation): soft, hard "
        "(the MCU itself: clears running peripherals too; needs a board that can) or none; "
        "default: the rig entry's reset, else soft",
    )
    group.addoption(
        "--board-sync",
        dest="mpharness_sync",
        action="store_true",
        default=False,
        help="copy the rig entry's resources to the board before the first board test",
    )
    group.addoption(
        "--board-flash",
        dest="mpharness_flash",
        action="store_true",
        default=False,
        help="flash the rig entry's firmware before the board is first opened "
        "(skipped when the board already runs that build)",
    )
    group.addoption(
        "--require-device",
        dest="mpharness_require_device",
        action="store_true",
        default=False,
        help="without --device, board tests fail instead of being skipped (for CI jobs)",
    )
    parser.addini("mpharness_device", "board for board tests (as --device)", default="")
    parser.addini(
        "mpharness_require_device",
        "board tests fail when no device is given (as --require-device)",
        type="bool",
        default=False,
    )
    parser.addini("mpharness_rig", "rig files (as --rig)", type="paths", default=[])
    parser.addini(
        "mpharness_board_modules",
        "board-only modules the host stands in for while importing test files (default: "
        "MicroPython's port modules such as machine, network, micropython; empty: none)",
        type="args",
        default=None,
    )
    parser.addini("mpharness_board_timeout", "per-test board budget in seconds", default="")
    parser.addini("mpharness_lease_wait", "seconds to wait for a busy board", default="")
    parser.addini("mpharness_isolation", "test, module or session", default="test")
    parser.addini("mpharness_reset", "soft, hard or none (as --board-reset)", default="")
    parser.addini(
        "mpharness_sync", "copy rig resources before the first test", type="bool", default=False
    )
    parser.addini("mpharness_flash", "flash rig firmware first", type="bool", default=False)


#: Warnings of libraries we use that say nothing about the user's tests: pyserial 3.5's RFC 2217
#: client calls Thread.setDaemon/setName, deprecated since Python 3.10, whenever it opens.
QUIET_WARNINGS = (
    r"ignore:setDaemon\(\) is deprecated:DeprecationWarning:serial\.rfc2217",
    r"ignore:setName\(\) is deprecated:DeprecationWarning:serial\.rfc2217",
)


def pytest_configure(config: pytest.Config) -> None:
    """Register the markers; set up the board session if a device is given."""
    for line in MARKERS:
        config.addinivalue_line("markers", line)
    for line in QUIET_WARNINGS:
        config.addinivalue_line("filterwarnings", line)
    config.stash[_SESSION_KEY] = None
    if not (config.getoption("mpharness_device") or config.getini("mpharness_device")):
        return  # cheap path: nothing of mpharness is imported
    from pytest_mpharness.session import BoardSession, Settings

    settings = Settings.from_config(config)
    session = BoardSession(config, settings) if settings.device else None
    config.stash[_SESSION_KEY] = session
    if session is not None and settings.flash and not hasattr(config, "workerinput"):
        from pytest_mpharness.flashing import ControllerFlash

        # used only if this is a pytest-xdist controller: it flashes before the workers start
        config.pluginmanager.register(ControllerFlash(session), "mpharness-controller-flash")


def pytest_unconfigure(config: pytest.Config) -> None:
    """Close the board."""
    session = config.stash.get(_SESSION_KEY, None)
    if session is not None:
        session.close()


def release_board(config: pytest.Config) -> None:
    """Close the run's board so another client (e.g. a notebook kernel) can open its port.

    The next board test opens it again (and resets it before running).
    """
    session = config.stash.get(_SESSION_KEY, None)
    if session is not None:
        session.close()


def pytest_report_header(config: pytest.Config) -> str | None:
    """One header line naming the board and the settings."""
    session = config.stash.get(_SESSION_KEY, None)
    if session is None:
        return None
    s = session.settings
    if len(session.pool) > 1:
        return (
            f"mpharness: board pool {session.pool_names}, "
            f"isolation={s.isolation}, timeout={s.timeout:g}s"
        )
    return (
        f"mpharness: board {session.name!r} ({', '.join(session.spec.urls) or 'no url'}), "
        f"isolation={s.isolation}, reset={session.reset_mode}, timeout={s.timeout:g}s"
    )


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    """Say which board and firmware ran the tests (under pytest-xdist: every worker's)."""
    session = config.stash.get(_SESSION_KEY, None)
    if session is None:
        return
    lines = [(line, False) for line in session.flash_log]
    if session.url is not None:
        lines.append((session.describe(), False))
    if session.broken:
        lines.append((session.broken, True))
    for report in session.worker_reports:
        lines.extend((line, False) for line in report.get("flash_log", ()))
        if report.get("describe"):
            lines.append((report["describe"], False))
        if report.get("broken"):
            lines.append((report["broken"], True))
    seen: set[str] = set()
    lines = [(t, red) for t, red in lines if not (t in seen or seen.add(t))]  # type: ignore[func-returns-value]
    if not lines:
        return
    terminalreporter.write_sep("-", "mpharness")
    for text, red in lines:
        terminalreporter.write_line(text, red=red)


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session: pytest.Session) -> None:
    """In a pytest-xdist worker: send the board facts to the controller (``workeroutput``),
    which writes the summary and the JUnit suite properties."""
    workeroutput = getattr(session.config, "workeroutput", None)
    board_session = session.config.stash.get(_SESSION_KEY, None)
    if workeroutput is None or board_session is None:
        return
    workeroutput["mpharness"] = {
        "properties": board_session.properties() if board_session.url else {},
        "describe": board_session.describe() if board_session.url else "",
        "broken": board_session.broken or "",
        "flash_log": list(board_session.flash_log),
        "environment": board_session.environment(),
    }


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: Any) -> None:
    """pytest-xdist controller: a worker finished; keep its board facts (see above)."""
    config = node.config
    session = config.stash.get(_SESSION_KEY, None)
    report = getattr(node, "workeroutput", {}).get("mpharness")
    if session is None or not isinstance(report, dict):
        return
    session.add_worker_report(report)


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(collector: pytest.Collector) -> Generator[None, Any, Any]:
    """Test files may import board-only modules at their top: while pytest imports one, the
    missing ones of ``mpharness_board_modules`` are stood in for (``stubs.py``)."""
    if not isinstance(collector, pytest.Module):
        return (yield)
    from pytest_mpharness.stubs import DEFAULT_BOARD_MODULES, stubbed

    names = collector.config.getini("mpharness_board_modules")
    with stubbed(DEFAULT_BOARD_MODULES if names is None else names):
        return (yield)


# ---------------------------------------------------------------------------- selection
def is_on_board(item: pytest.Item) -> bool:
    """Whether the test's body runs on the board."""
    return item.get_closest_marker("on_board") is not None


def needs_board(item: pytest.Item) -> bool:
    """Whether the test needs a board at all."""
    fixtures = getattr(item, "fixturenames", ())
    return (
        is_on_board(item)
        or item.get_closest_marker("board") is not None
        or item.get_closest_marker("boards") is not None
        or "board" in fixtures
        or "boards" in fixtures
    )


def device_required(config: pytest.Config) -> bool:
    """``--require-device`` or the ini key ``mpharness_require_device``."""
    return bool(
        config.getoption("mpharness_require_device", False)
        or config.getini("mpharness_require_device")
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Without a device, board tests are skipped with the reason (fail if a device is
    required)."""
    if config.stash.get(_SESSION_KEY, None) is not None:
        return
    if device_required(config):
        missing = pytest.mark.mpharness_no_device
        for item in items:
            if needs_board(item):
                item.add_marker(missing)
        return
    skip = pytest.mark.skip(reason=NO_DEVICE_REASON)
    for item in items:
        if needs_board(item):
            item.add_marker(skip)


def pytest_runtest_setup(item: pytest.Item) -> None:
    """Feature skips, then open and isolate the board for on-board tests.

    Not ``tryfirst``: pytest's skip/xfail marks are evaluated first (a skipped test never
    touches the board), and this runs before the fixtures are set up (the reset happens before
    any fixture prepares the board).
    """
    session = item.config.stash.get(_SESSION_KEY, None)
    if session is None and item.get_closest_marker("mpharness_no_device") is not None:
        pytest.fail(f"{NO_DEVICE_REASON}; a device is required (--require-device)", False)
    if session is None or not needs_board(item):
        return
    from pytest_mpharness.session import required_features

    features = required_features(item)
    if not session.candidates(features):
        if len(session.pool) == 1:
            missing = [f for f in features if not session.spec.has_feature(f)]
            have = ", ".join(session.spec.features) or "none"
            pytest.skip(
                f"board {session.name!r} lacks feature(s) {', '.join(missing)} "
                f"(rig features: {have})"
            )
        pytest.skip(
            f"no board of the pool ({session.pool_names}) has feature(s) {', '.join(features)}"
        )
    if is_on_board(item):
        session.prepare(item)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    """After the test's teardown the board is idle: another worker may have it now."""
    yield
    session = item.config.stash.get(_SESSION_KEY, None)
    if session is not None:
        session.after_test(item, nextitem)


_NEXT_KEY = pytest.StashKey["pytest.Item | None"]()


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> None:
    """Remember the next test: a module's or class's xunit teardown runs on the board after
    its last test (``xunit.py``)."""
    item.stash[_NEXT_KEY] = nextitem


@pytest.hookimpl(tryfirst=True)
def pytest_fixture_setup(fixturedef: Any, request: pytest.FixtureRequest) -> object | None:
    """pytest's xunit fixtures of on-board tests run on the board, not on the host: the host
    leaves them out (``xunit.host_skips``)."""
    name = fixturedef.argname
    if not name.startswith("_xunit_setup_"):
        return None
    if request.config.stash.get(_SESSION_KEY, None) is None:
        return None
    from pytest_mpharness.xunit import host_skips

    node = request.node  # the test, or the module or class of a module/class fixture
    if isinstance(node, pytest.Item):
        on_board, all_on_board = is_on_board(node), False
    else:
        prefix = node.nodeid + "::"
        peers = [i for i in request.session.items if i.nodeid.startswith(prefix)]
        on_board, all_on_board = False, bool(peers) and all(is_on_board(i) for i in peers)
    if not host_skips(name, on_board, all_on_board):
        return None
    fixturedef.cached_result = (None, fixturedef.cache_key(request), None)
    return True


def board_budget(item: pytest.Item, default: float) -> float:
    """The item's time budget: marker ``board_timeout``, ``on_board(timeout=)``, else default."""
    mark = item.get_closest_marker("board_timeout")
    if mark is not None:
        value = mark.args[0] if mark.args else mark.kwargs.get("seconds", default)
        return float(value)
    mark = item.get_closest_marker("on_board")
    if mark is not None and mark.kwargs.get("timeout") is not None:
        return float(mark.kwargs["timeout"])
    return default


# ---------------------------------------------------------------------------- fixtures
@pytest.fixture
def board(request: pytest.FixtureRequest) -> Iterator[Board]:
    """The open board, isolated for this test (soft reset by default), for host-driven tests.

    Board calls without an explicit ``timeout`` get the test's budget (``--board-timeout``).
    """
    session = request.config.stash.get(_SESSION_KEY, None)
    if session is None:
        pytest.skip(NO_DEVICE_REASON)
    the_board = session.prepare(request.node)
    saved = the_board.timeouts
    the_board.timeouts = replace(saved, exec=board_budget(request.node, session.settings.timeout))
    try:
        yield the_board
    finally:
        the_board.timeouts = saved


@pytest.fixture
def board_files(board: Board) -> Iterator[BoardFiles]:
    """Place data files on the board for this test: ``board_files.write(path, data)`` returns
    ``path``; every path is put back as it was after the test (``board_files.py``). For a
    fixture of yours that gives an on-board test the path of its data."""
    from pytest_mpharness.board_files import BoardFiles

    files = BoardFiles(board)
    yield files
    failed = files.restore()
    if failed:
        pytest.fail(
            f"board_files: could not put back on board {board.name!r}: " + "; ".join(failed),
            pytrace=False,
        )


@pytest.fixture
def boards(request: pytest.FixtureRequest) -> Iterator[BoardSet]:
    """role -> Board for a test marked ``boards(role=dict(features=[...]), ...)``.

    The boards are distinct boards of the ``--device`` pool, leased together (all or none)
    and soft-reset; they are closed and released after the test. Board calls without an
    explicit ``timeout`` get the test's budget.
    """
    from pytest_mpharness.pool import assignments, role_features

    session = request.config.stash.get(_SESSION_KEY, None)
    if session is None:
        pytest.skip(NO_DEVICE_REASON)
    roles = role_features(request.node)
    if not roles:
        raise pytest.UsageError(
            f"{request.node.nodeid}: the 'boards' fixture needs a boards(role=...) marker"
        )
    choices = assignments(roles, session.pool)
    if not choices:
        wanted = ", ".join(f"{r} ({', '.join(f) or 'any'})" for r, f in roles.items())
        pytest.skip(f"the pool ({session.pool_names}) has no distinct boards for {wanted}")
    board_set = session.open_board_set(request.node, choices)
    budget = board_budget(request.node, session.settings.timeout)
    for the_board in board_set.values():
        the_board.timeouts = replace(the_board.timeouts, exec=budget)
    try:
        yield board_set
    finally:
        board_set.close()


# ---------------------------------------------------------------------------- on-board call
@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    """Run an ``on_board`` test's body on the board instead of on the host."""
    if not is_on_board(pyfuncitem):
        return None
    session = pyfuncitem.config.stash.get(_SESSION_KEY, None)
    if session is None:  # pragma: no cover - skipped at collection
        pytest.skip(NO_DEVICE_REASON)
    _run_on_board(pyfuncitem, session)
    return True


def _board_arguments(item: pytest.Function) -> dict[str, str]:
    from pytest_mpharness.program import literal_source
    from pytest_mpharness.shipping import ShippingError

    names = list(inspect.signature(item.obj).parameters)
    args: dict[str, str] = {}
    for name in names:
        if name not in item.funcargs:
            continue
        if name in ("board", "boards", "board_files"):
            raise ShippingError(
                f"an on_board test cannot take the {name!r} fixture (it is host-only; a "
                "fixture of yours may use it and give the test a literal value)"
            )
        args[name] = literal_source(name, item.funcargs[name])
    return args


def _host_tests(item: pytest.Item) -> frozenset[str]:
    """Top-level names (functions, classes) of the tests of ``item``'s file that run on the
    host: they stay out of the module image."""
    board_names: set[str] = set()
    host_names: set[str] = set()
    for other in item.session.items:
        if other.path != item.path:
            continue
        cls = getattr(other, "cls", None)
        name = cls.__name__ if cls is not None else getattr(other, "originalname", other.name)
        (board_names if is_on_board(other) else host_names).add(name)
    return frozenset(host_names - board_names)


def _call_target(item: pytest.Function) -> tuple[str | None, bool, bool]:
    """(class name, has setup_method, has teardown_method) of a test method; (None, ...) for
    a module-level test function."""
    cls = getattr(item, "cls", None)
    if cls is None:
        return None, False, False
    from pytest_mpharness.shipping import ShippingError

    if "." in cls.__qualname__:
        raise ShippingError(
            f"{cls.__qualname__} is a nested class: only test classes at the module's top "
            "level can run on the board"
        )
    return cls.__name__, hasattr(cls, "setup_method"), hasattr(cls, "teardown_method")


def _run_on_board(item: pytest.Function, session: BoardSession) -> None:
    from mpharness import MPHarnessError
    from pytest_mpharness.program import BoardCall, build_program
    from pytest_mpharness.report import BoardFailure, BoardTestFailure, failure_exception
    from pytest_mpharness.runner import new_nonce, run_on_board
    from pytest_mpharness.shipping import ShippingError
    from pytest_mpharness.xunit import board_calls

    board = session.prepare(item)
    path, line, _ = item.reportinfo()
    where = (str(path), (line or 0) + 1)
    nonce = new_nonce()
    try:
        class_name, setup, teardown = _call_target(item)
        session.files.prepare(board)
        only = (class_name or item.originalname) if session.files.small else None
        module = session.test_module(item, _host_tests, only)
        if class_name is None:
            module.source.check_decorators(item.originalname)
        test = BoardCall(item.originalname, _board_arguments(item), class_name, setup, teardown)
        test.setups, test.teardowns = board_calls(
            item,
            module.source.tree,
            session.xunit_started,
            item.stash.get(_NEXT_KEY, None),
            reset_each_test=session.settings.isolation == "test" and session.reset_mode != "none",
        )
        written = session.files.ensure(board, module.modules)
        program = build_program(module, test, nonce, folder=session.files.where)
    except (ShippingError, SyntaxError, OSError, MPHarnessError) as err:
        kind = "ShippingError" if isinstance(err, ShippingError) else type(err).__name__
        raise BoardTestFailure(BoardFailure(kind, [f"{kind}: {err}"], where=where)) from None
    if written:
        item.add_report_section("call", "board files", "\n".join(written) + "\n")
    budget = board_budget(item, session.settings.timeout)
    live = item.config.getoption("capture", "fd") == "no"
    one_exec = board.machine.paste_supported is not False  # else one exec per statement
    run = functools.partial(
        run_on_board,
        board,
        module,
        program,
        nonce,
        where=where,
        timeout=budget,
        live=live,
        one_exec=one_exec,
    )
    outcome = run()
    if _lost_module_file(outcome, module):
        # something removed a module file since it was listed (a sync with delete, a
        # host-driven test): list the board again, write what is missing, run once more
        session.files.forget()
        written = session.files.ensure(board, module.modules)
        item.add_report_section("call", "board files", "\n".join(written) + "\n")
        outcome = run()
    _attach_output(item, session, outcome, live)
    if outcome.broken is not None:
        session.mark_broken(f"board {session.name!r} is broken: {outcome.broken}")
    elif outcome.lost:
        session.needs_recovery = True
    if outcome.status == "pass":
        return
    if outcome.status == "skip":
        pytest.skip(outcome.reason)
    if outcome.status == "xfail":
        pytest.xfail(outcome.reason)
    assert outcome.failure is not None
    raise failure_exception(outcome.failure)


def _lost_module_file(outcome: Any, module: Any) -> bool:
    """The test failed because the board lacks one of the module files written for it."""
    failure = outcome.failure
    if outcome.status != "fail" or failure is None or failure.exc_type != "ImportError":
        return False
    text = " ".join(failure.lines)
    return any(repr(m.name) in text or f" {m.name}" in text for m in module.modules)


def _attach_output(item: pytest.Item, session: BoardSession, outcome: Any, live: bool) -> None:
    """The test's board stdout as captured output, and the device log."""
    if outcome.stdout and not live:
        item.add_report_section("call", "stdout", outcome.stdout)
    log = (
        f"on-board test ran {outcome.seconds * 1000:.1f} ms on {session.name!r}: {outcome.status}\n"
    )
    if outcome.board_error and item.config.getoption("verbose", 0) >= 2:
        log += "board traceback (the program as sent, shown with -vv):\n" + outcome.board_error
    elif outcome.board_error and outcome.failure is not None:
        from pytest_mpharness.report import format_board_traceback, relative_to

        rel = relative_to(str(item.config.invocation_params.dir))
        log += "board traceback (your files; -vv shows the program as sent):\n"
        log += format_board_traceback(outcome.failure, rel)
    item.add_report_section("call", "board log", log)


# ---------------------------------------------------------------------------- reporting
def _is_ours(path: str) -> bool:
    return os.path.basename(os.path.dirname(str(path))) == "pytest_mpharness"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, Any, None]:
    """Show board failures as the board saw them, against the test file's lines."""
    outcome = yield
    report: pytest.TestReport = outcome.get_result()
    excinfo = call.excinfo
    longrepr = report.longrepr
    if report.skipped and isinstance(longrepr, tuple) and _is_ours(longrepr[0]):
        # a feature skip, or pytest.skip() on the board: point at the test, not at the plugin
        path, line, _ = item.reportinfo()
        report.longrepr = (str(path), (line or 0) + 1, longrepr[2])
    if report.failed and excinfo is not None:
        from pytest_mpharness.report import BoardTestFailure, exception_repr, relative_to

        if isinstance(excinfo.value, BoardTestFailure):
            style = item.config.getoption("tbstyle", "auto")
            rel = relative_to(str(item.config.invocation_params.dir))
            report.longrepr = exception_repr(excinfo.value.failure, style, rel)
