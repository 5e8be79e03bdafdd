"""``--board-flash``: the rig ``firmware`` of the run's boards, flashed once per pytest run.

Theory of operation
-------------------
Without pytest-xdist the run's only :class:`~pytest_mpharness.session.BoardSession` flashes
lazily: before it first opens a board it flashes the pool boards that could run the test
(:func:`flash_boards`), each at most once, with :func:`mpharness.tools.flash.flash_board` (which
skips a board already running that build, and waits up to ``--lease-wait`` for a board another
run holds, as opening one does).

With pytest-xdist every worker has its own session, so flashing there would race: workers
would probe and flash the same board, and a worker finding a board leased by a sibling (that
flashes it, or runs tests on it) would get ``BoardBusy`` and break its whole session. So the
xdist controller flashes instead. :class:`ControllerFlash` (registered in the controller only)
flashes every pool board that has a ``firmware`` in ``pytest_xdist_setupnodes``, before any
worker process exists, in pool order, stopping at the first failure. Nothing of the run holds
a board then, so the outcome depends neither on worker start order nor on timing. Each worker
gets the outcome in its ``workerinput`` (:data:`FLASH_INPUT`: ``""`` or the failure): a worker
that has it never flashes, and a failure breaks its session with the controller's reason, as
it would break a single-process run. The controller keeps the flash log; it prints the
terminal summary, so the summary says what was flashed or skipped.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol

import pytest

if TYPE_CHECKING:
    from mpharness.rigs.boardspec import BoardSpec
    from mpharness.rigs.rig import Rig
    from pytest_mpharness.settings import Settings

__all__ = ["FLASH_INPUT", "ControllerFlash", "flash_boards"]

log = logging.getLogger("pytest_mpharness")

#: ``workerinput`` key: the controller flashed the pool; ``""`` (all went well) or why not
FLASH_INPUT = "mpharness_flash_error"


class FlashingSession(Protocol):
    """What flashing needs of the run's board session
    (:class:`pytest_mpharness.session.BoardSession` is one)."""

    flashed: set[str]
    flash_log: list[str]
    rig: Rig | None
    settings: Settings
    pool: list[BoardSpec]
    pool_names: str
    broken: str | None

    @property
    def flash_tools(self) -> dict[str, Any]:
        """Keyword arguments for :func:`mpharness.tools.flash.flash_board` (tests put
        doubles of esptool and the port lister here)."""
        ...

    def mark_broken(self, reason: str) -> None:
        """Fail every later board test of the run with ``reason``."""
        ...


def flash_boards(session: FlashingSession, specs: Sequence[BoardSpec]) -> bool:
    """Flash the rig ``firmware`` of each board not yet flashed by this process.

    Returns:
        False when a board could not be flashed: the session is then marked broken.
    """
    import mpharness
    from mpharness.tools.flash import flash_board

    for spec in specs:
        firmware = spec.firmware_file()
        if firmware is None or spec.name in session.flashed:
            continue
        session.flashed.add(spec.name)
        try:
            result = flash_board(
                spec.name,
                firmware,
                erase=spec.firmware_erase,
                rig=session.rig,
                lease_wait_s=session.settings.lease_wait,
                **session.flash_tools,
            )
        except mpharness.MPHarnessError as err:
            session.mark_broken(f"cannot flash board {spec.name!r}: {type(err).__name__}: {err}")
            return False
        if result.action == "skipped":
            line = f"board {spec.name!r}: not flashed, already runs {result.before}"
        else:
            line = f"board {spec.name!r}: flashed {firmware}, now runs {result.after}"
        session.flash_log.append(line)
        log.info("%s", line)
    return True


class ControllerFlash:
    """pytest-xdist controller hooks: flash the pool before the workers start."""

    def __init__(self, session: FlashingSession) -> None:
        self.session = session
        self.done = False

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_setupnodes(self, config: pytest.Config, specs: Any) -> None:
        """Flash every pool board with a ``firmware`` (once, before any worker exists)."""
        if self.done:
            return
        self.done = True
        if not any(spec.firmware_file() is not None for spec in self.session.pool):
            return
        reporter = config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None and config.option.verbose >= 0:
            reporter.write_line(
                f"mpharness: --board-flash: flashing {self.session.pool_names} "
                "before the workers start"
            )
        flash_boards(self.session, self.session.pool)

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node: Any) -> None:
        """Tell the worker that the pool is flashed (or why not): it does not flash."""
        node.workerinput[FLASH_INPUT] = self.session.broken or ""
