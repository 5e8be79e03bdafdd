"""Other local users for attack tests: created with ``useradd`` when the tests run as root
(CI does), skipped with the reason otherwise.

:func:`run_as` runs a function in a forked child that has dropped to another user's uid and
gids (no exec: the interpreter may live in a directory other users cannot read), and returns
what it returned, or raises :class:`Failed` with the type and message of what it raised.
"""

from __future__ import annotations

import os
import pickle
import pwd
import shutil
import subprocess
import traceback
from collections.abc import Callable
from typing import Any

import pytest

#: The attacker and a second, innocent non-root user.
ATTACKER = "mph-eve"
VICTIM = "mph-bob"


class Failed(Exception):
    """What the function run as another user raised: ``.type`` name and ``.message``."""

    def __init__(self, type_name: str, message: str, trace: str) -> None:
        super().__init__(f"{type_name}: {message}")
        self.type = type_name
        self.message = message
        self.trace = trace


def local_user(name: str) -> pwd.struct_passwd:
    """The local user ``name``, created (no home, no login shell) when running as root."""
    try:
        return pwd.getpwnam(name)
    except KeyError:
        pass
    if os.geteuid() != 0:
        pytest.skip(f"needs a second local user {name!r}: run as root to create it with useradd")
    useradd = shutil.which("useradd")
    if useradd is None:
        pytest.skip("useradd is not installed: cannot create a second local user")
    subprocess.run(
        [useradd, "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name],
        check=False,
        capture_output=True,
    )
    try:
        return pwd.getpwnam(name)
    except KeyError:
        pytest.fail(f"useradd could not create the local user {name!r}")


def run_as(user: pwd.struct_passwd, func: Callable[..., Any], *args: Any) -> Any:
    """``func(*args)`` run as ``user`` in a forked child; its return value (picklable).

    Raises:
        Failed: ``func`` raised (its type name and message).
    """
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: drop privileges for good, run, report, never return
        status = 0
        try:
            os.close(read_end)
            os.setgroups([])
            os.setresgid(user.pw_gid, user.pw_gid, user.pw_gid)
            os.setresuid(user.pw_uid, user.pw_uid, user.pw_uid)
            try:
                outcome: tuple[Any, ...] = ("ok", func(*args))
            except BaseException as exc:  # reported to the parent
                outcome = ("err", type(exc).__name__, str(exc), traceback.format_exc())
            with os.fdopen(write_end, "wb") as pipe:
                pickle.dump(outcome, pipe)
        except BaseException:
            status = 1
        finally:
            os._exit(status)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        data = pipe.read()
    _, status = os.waitpid(pid, 0)
    assert data, f"the child running as {user.pw_name} died (status {status})"
    outcome = pickle.loads(data)
    if outcome[0] == "err":
        raise Failed(*outcome[1:])
    return outcome[1]
