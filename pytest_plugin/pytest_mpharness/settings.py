"""The plugin's settings: command-line options and ini keys, read and checked once."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

ISOLATION_SCOPES = ("test", "module", "session")
RESET_MODES = ("soft", "hard", "none")
DEFAULT_TIMEOUT = 60.0
#: Seconds a run waits for a board another session holds (``--lease-wait``, default below
#: or ``$MPHARNESS_LEASE_WAIT_S``): long, so that runs started together take turns.
DEFAULT_LEASE_WAIT = 3600.0


@dataclass(frozen=True)
class Settings:
    """The plugin's options, from the command line or the ini file.

    Attributes:
        device: board name or URL; None disables the plugin.
        rig: rig file paths (empty: the engine's default search).
        timeout: per-test budget in seconds.
        isolation: ``test``, ``module`` or ``session``.
        sync: copy the rig entry's resources to the board before the first test.
        lease_wait: seconds to wait for a board another session holds (None: for ever).
        flash: flash the rig entry's ``firmware`` before the board is first opened.
        reset: ``soft``, ``hard`` or ``none`` for every board (None: each rig entry's own).
    """

    device: str | None
    rig: tuple[str, ...] = ()
    timeout: float = DEFAULT_TIMEOUT
    isolation: str = "test"
    sync: bool = False
    lease_wait: float | None = DEFAULT_LEASE_WAIT
    flash: bool = False
    reset: str | None = None

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
        flash = bool(config.getoption("mpharness_flash") or config.getini("mpharness_flash"))
        wait = _lease_wait(config)
        reset = config.getoption("mpharness_reset", None) or config.getini("mpharness_reset")
        if reset and reset not in RESET_MODES:
            raise pytest.UsageError(
                f"board reset must be one of {', '.join(RESET_MODES)}, not {reset!r}"
            )
        return cls(name or None, tuple(rig), timeout, isolation, sync, wait, flash, reset or None)


def _lease_wait(config: pytest.Config) -> float | None:
    from mpharness.sharing.leases import wait_from_env

    raw = config.getoption("mpharness_lease_wait", None) or config.getini("mpharness_lease_wait")
    if not raw:
        return wait_from_env(DEFAULT_LEASE_WAIT)
    try:
        value = float(raw)
    except ValueError:
        raise pytest.UsageError(f"lease wait must be a number of seconds, not {raw!r}") from None
    return None if value == float("inf") else max(0.0, value)
