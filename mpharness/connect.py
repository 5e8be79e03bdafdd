"""``open_board``: from a board name or URL to an open, raw-REPL-ready :class:`Board`.

The name is looked up in the rig files (``--rig``, ``MPHARNESS_RIG``, ``hil_rigs/*.yaml``);
built-in names (``unix``, ``microbit``) and URLs need no rig file. A spec with several URLs
tries them in order. After the link is up the board is brought to the raw REPL (and, by
default, soft-reset to a clean interpreter); a ``uid`` in the rig entry is then checked
against ``machine.unique_id()`` so a board plugged into the wrong port is refused.

Before any link is opened the board is *leased* (:mod:`mpharness.sharing.leases`): one session per
board across the processes of the host. The leases go with the :class:`Board` and are
released when it closes (or when opening fails).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING

from mpharness.board import Board, Timeouts
from mpharness.deadline import Deadline
from mpharness.errors import ConfigError, ConnectError, MPHarnessError
from mpharness.rigs.boardspec import INTEGRITY_MODES
from mpharness.secret import redact_url
from mpharness.sharing import leases
from mpharness.sharing.board_pool import lease_keys, lease_one_of
from mpharness.transports import open_transport

if TYPE_CHECKING:
    from mpharness.rigs.rig import BoardSpec, Rig
    from mpharness.transports.base import Transport

log = logging.getLogger("mpharness.connect")

#: environment variable that sets the integrity mode of every board opened (see BoardSpec)
INTEGRITY_ENV = "MPHARNESS_INTEGRITY"

_UID_CODE = "__import__('binascii').hexlify(__import__('machine').unique_id()).decode()"


def resolve_board(name_or_url: str, rig: Rig | Sequence[str] | None = None) -> BoardSpec:
    """The rig entry (or an anonymous spec for a URL or built-in name) for ``name_or_url``."""
    from mpharness.rigs import rig as rigs

    if isinstance(rig, rigs.Rig):
        return rig.resolve(name_or_url)
    return rigs.resolve_board(name_or_url, rig_paths=list(rig) if rig is not None else None)


def _is_webrepl(url: str) -> bool:
    """WebREPL URLs, also behind a wrapper such as ``shaped:...;ws://host``."""
    return "ws://" in url or "wss://" in url


def open_board(
    name_or_url: str,
    *,
    rig: Rig | Sequence[str] | None = None,
    timeout: float | None = 15.0,
    soft_reset: bool = True,
    lease_wait_s: float | None = -1.0,
    purpose: str = "",
) -> Board:
    """Open a board by rig name or URL and bring it to a clean raw REPL.

    Args:
        name_or_url: a rig board name, a built-in (``unix``, ``microbit``) or a URL.
        rig: a loaded :class:`~mpharness.rigs.rig.Rig`, or rig file paths (default: the usual
                search).
        timeout: budget in seconds for connecting and entering the raw REPL.
        soft_reset: soft-reset after connecting, so the interpreter starts clean.
        lease_wait_s: seconds to wait while another session holds the board (None: for
            ever; default ``$MPHARNESS_LEASE_WAIT_S``, else 0: fail at once).
        purpose: what the session is for, shown to whoever finds the board busy.

    Raises:
        ConfigError: unknown name, bad rig file or unknown URL scheme.
        BoardBusy: another session held the board for ``lease_wait_s`` seconds.
        ConnectError: no URL of the board could be opened.
        BoardTimeout: the board did not reach the raw REPL in time.
    """
    spec = resolve_board(name_or_url, rig)
    wait = leases.wait_from_env(0.0) if lease_wait_s == -1.0 else lease_wait_s
    held = leases.acquire_all(lease_keys(spec), wait_s=wait, purpose=purpose)
    return open_leased(spec, held, timeout=timeout, soft_reset=soft_reset)


def open_first_free(
    specs: Sequence[BoardSpec],
    *,
    timeout: float | None = 15.0,
    soft_reset: bool = True,
    lease_wait_s: float | None = -1.0,
    purpose: str = "",
    handover: leases.Handover | None = None,
) -> Board:
    """Open the first board of a pool that no other session holds (waiting for one if none).

    Args:
        specs: the pool's boards (resolved specs, e.g. from :meth:`Rig.resolve`), in order of
            preference.
        timeout, soft_reset, lease_wait_s, purpose: as for :func:`open_board`.
        handover: see :class:`mpharness.sharing.leases.Handover`.

    Raises:
        BoardBusy: every board stayed taken for ``lease_wait_s`` seconds.
        ConnectError, BoardTimeout: the leased board could not be opened (it is released).
    """
    wait = leases.wait_from_env(0.0) if lease_wait_s == -1.0 else lease_wait_s
    spec, held = lease_one_of(specs, wait_s=wait, purpose=purpose, handover=handover)
    return open_leased(spec, held, timeout=timeout, soft_reset=soft_reset)


def open_leased(
    spec: BoardSpec,
    held: Sequence[leases.Lease],
    *,
    timeout: float | None = 15.0,
    soft_reset: bool = True,
) -> Board:
    """Open a board whose leases the caller holds; they go with the board (released on close,
    or at once if opening fails)."""
    try:
        board = _open_spec(spec, timeout, soft_reset)
    except BaseException:
        for lease in held:
            lease.release()
        raise
    board.leases.extend(held)
    return board


def _open_spec(spec: BoardSpec, timeout: float | None, soft_reset: bool) -> Board:
    deadline = Deadline.after(spec.timeout_s if spec.timeout_s is not None else timeout)
    errors: list[str] = []
    # URLs may carry credentials: only their redacted form is ever held in a local variable
    # here (tracebacks with locals, e.g. pytest -l, print them)
    for index, shown in enumerate(redact_url(u) for u in spec.urls):
        try:
            transport = open_transport(
                spec.urls[index],
                baudrate=spec.baudrate,
                password=spec.webrepl_password() if _is_webrepl(shown) else None,
                timeout=deadline.remaining(),
            )
        except ConnectError as err:
            errors.append(str(err))
            continue
        board = Board(
            transport, name=redact_url(spec.name), url=shown, spec=spec, timeouts=Timeouts()
        )
        board.integrity = _integrity(spec, transport)
        try:
            _prepare(board, spec, deadline, soft_reset)
        except BaseException:
            board.close()
            raise
        return board
    raise ConnectError(f"could not open board {redact_url(spec.name)!r}: " + "; ".join(errors))


def _integrity(spec: BoardSpec, transport: Transport) -> str:
    """The board's integrity mode: ``$MPHARNESS_INTEGRITY`` (for every board), else as the rig
    says, else by what the link can do."""
    mode = os.environ.get(INTEGRITY_ENV, "").strip() or spec.integrity
    if mode not in INTEGRITY_MODES:
        raise ConfigError(
            f"{INTEGRITY_ENV} must be one of {', '.join(INTEGRITY_MODES)}, got {mode!r}"
        )
    if mode != "auto":
        return mode
    return "checked" if transport.may_corrupt else "off"


def _prepare(board: Board, spec: BoardSpec, deadline: Deadline, soft_reset: bool) -> None:
    board.link.enter_raw(deadline)
    if soft_reset:
        board.soft_reset(timeout=deadline.remaining())
    if spec.uid:
        try:
            uid = board.eval(_UID_CODE, timeout=deadline.remaining())
        except MPHarnessError as err:
            raise ConnectError(
                f"board {spec.name!r}: cannot read machine.unique_id(): {err}"
            ) from err
        if not spec.uid_matches(str(uid)):
            raise ConnectError(
                f"board {spec.name!r} at {board.url} has uid {uid}, the rig expects {spec.uid}: "
                "is another board plugged into that port?"
            )
