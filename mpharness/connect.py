"""``open_board``: from a board name or URL to an open, raw-REPL-ready :class:`Board`.

The name is looked up in the rig files (``--rig``, ``MPHARNESS_RIG``, ``hil_rigs/*.yaml``);
built-in names (``unix``, ``microbit``) and URLs need no rig file. A spec with several URLs
tries them in order. After the link is up the board is brought to the raw REPL (and, by
default, soft-reset to a clean interpreter); a ``uid`` in the rig entry is then checked
against ``machine.unique_id()`` so a board plugged into the wrong port is refused.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

from mpharness.board import Board, Timeouts
from mpharness.deadline import Deadline
from mpharness.errors import ConnectError, MPHarnessError
from mpharness.transports import open_transport

if TYPE_CHECKING:
    from mpharness.rig import BoardSpec, Rig

log = logging.getLogger("mpharness.connect")

_UID_CODE = "__import__('binascii').hexlify(__import__('machine').unique_id()).decode()"


def resolve_board(name_or_url: str, rig: Rig | Sequence[str] | None = None) -> BoardSpec:
    """The rig entry (or an anonymous spec for a URL or built-in name) for ``name_or_url``."""
    from mpharness import rig as rigs

    if isinstance(rig, rigs.Rig):
        return rig.resolve(name_or_url)
    return rigs.resolve_board(name_or_url, rig_paths=list(rig) if rig is not None else None)


def open_board(
    name_or_url: str,
    *,
    rig: Rig | Sequence[str] | None = None,
    timeout: float | None = 15.0,
    soft_reset: bool = True,
) -> Board:
    """Open a board by rig name or URL and bring it to a clean raw REPL.

    Args:
        name_or_url: a rig board name, a built-in (``unix``, ``microbit``) or a URL.
        rig: a loaded :class:`~mpharness.rig.Rig`, or rig file paths (default: the usual search).
        timeout: budget in seconds for connecting and entering the raw REPL.
        soft_reset: soft-reset after connecting, so the interpreter starts clean.

    Raises:
        ConfigError: unknown name, bad rig file or unknown URL scheme.
        ConnectError: no URL of the board could be opened.
        BoardTimeout: the board did not reach the raw REPL in time.
    """
    spec = resolve_board(name_or_url, rig)
    deadline = Deadline.after(spec.timeout_s if spec.timeout_s is not None else timeout)
    errors: list[str] = []
    for url in spec.urls:
        try:
            transport = open_transport(
                url,
                baudrate=spec.baudrate,
                password=spec.webrepl_password() if url.startswith(("ws:", "wss:")) else None,
                timeout=deadline.remaining(),
            )
        except ConnectError as err:
            errors.append(str(err))
            continue
        board = Board(transport, name=spec.name, url=url, spec=spec, timeouts=Timeouts())
        try:
            _prepare(board, spec, deadline, soft_reset)
        except BaseException:
            board.close()
            raise
        return board
    raise ConnectError(f"could not open board {spec.name!r}: " + "; ".join(errors))


def _prepare(board: Board, spec: BoardSpec, deadline: Deadline, soft_reset: bool) -> None:
    from mpharness import recovery

    recovery.enter_raw(board, deadline)
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
