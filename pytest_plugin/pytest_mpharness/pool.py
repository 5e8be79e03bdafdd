"""Board pools (``--device a,b`` or ``--device tag:FEATURE``) and multi-board tests.

Theory of operation
-------------------
``--device`` names a *pool*: one board, a comma-separated list, or ``tag:FEATURE`` (every rig
board with that feature); :func:`parse_pool` resolves it to specs. Each pytest process (the
only one, or each pytest-xdist worker) leases one board of the pool at its first board test,
the first one no other session holds (``mpharness.sharing.leases``), and keeps it while the tests it
runs fit. Tests are routed by *leasing*, not by scheduling: a test whose ``board(features=)``
the held board lacks makes the process release that board and lease a pool board that has
them (waiting, holding nothing, for one to be free). So no test is skipped while some board
of the pool could run it, whichever worker xdist gives it to, and no two sessions ever share
a board. (Sticky boards mean a feature-hungry worker may wait until the holder of the only
fitting board finishes its session; spread such tests with ``--dist loadgroup`` and
``xdist_group`` marks, or give the pool several boards with the feature.)

A multi-board test (``@pytest.mark.boards(server={"features": [...]}, client={})``) gets a
:class:`BoardSet`, role -> Board. Its boards are leased all together: the process first
releases its own board, then looks for distinct pool boards meeting every role's features
and takes the first assignment whose boards are all free; if none is, it waits for the
first assignment's boards, in the lease keys' sorted order, so two runs wanting the same
pair cannot deadlock. The set is closed (and its leases released) after the test.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mpharness import Board
    from mpharness.rigs.boardspec import BoardSpec
    from mpharness.rigs.rig import Rig
    from mpharness.sharing.leases import Handover

TAG_PREFIX = "tag:"
#: Most role assignments looked at for one multi-board test.
MAX_ASSIGNMENTS = 500


def parse_pool(device: str, rig: Rig) -> list[BoardSpec]:
    """The boards ``--device`` names, in order, without repeats.

    Raises:
        ConfigError: an unknown name, or a tag no rig board has.
    """
    from mpharness import ConfigError

    specs: dict[str, BoardSpec] = {}
    for entry in (part.strip() for part in device.split(",")):
        if not entry:
            continue
        if entry.startswith(TAG_PREFIX):
            tag = entry[len(TAG_PREFIX) :]
            found = [spec for spec in rig if spec.has_feature(tag)]
            if not found:
                raise ConfigError(f"no rig board has feature {tag!r} (for {entry!r})")
            for spec in found:
                specs.setdefault(spec.name, rig.resolve(spec.name))
        else:
            spec = rig.resolve(entry)
            specs.setdefault(spec.name, spec)
    if not specs:
        raise ConfigError("no board given: expected a rig name, a port or a URL")
    return list(specs.values())


def fits(spec: BoardSpec, features: Sequence[str]) -> bool:
    """Whether the board has every feature."""
    return all(spec.has_feature(f) for f in features)


def role_features(item: Any) -> dict[str, list[str]]:
    """role -> required features, from the item's ``boards`` marker (empty: none)."""
    mark = item.get_closest_marker("boards")
    if mark is None:
        return {}
    roles: dict[str, list[str]] = {}
    for role, value in mark.kwargs.items():
        if isinstance(value, Mapping):
            value = value.get("features", ())
        roles[role] = [value] if isinstance(value, str) else list(value or ())
    return roles


def assignments(
    roles: Mapping[str, Sequence[str]], pool: Sequence[BoardSpec]
) -> list[dict[str, BoardSpec]]:
    """Assignments of distinct pool boards to the roles that meet every role's features."""
    names = list(roles)
    found: list[dict[str, BoardSpec]] = []
    for combo in itertools.permutations(pool, len(names)):
        if all(fits(spec, roles[name]) for name, spec in zip(names, combo, strict=True)):
            found.append(dict(zip(names, combo, strict=True)))
            if len(found) >= MAX_ASSIGNMENTS:
                break
    return found


class BoardSet(Mapping[str, "Board"]):
    """The boards of a multi-board test, by role, with small host-side sync helpers.

    Everything runs from the host: :meth:`exec_each` steps the boards one after the other in
    role order; :meth:`exec_together` runs code on all of them at once and returns when every
    board is done (a barrier); :meth:`broadcast` gives every board the same variables.
    """

    def __init__(self, boards: Mapping[str, Board]) -> None:
        self._boards = dict(boards)

    def __getitem__(self, role: str) -> Board:
        return self._boards[role]

    def __iter__(self) -> Iterator[str]:
        return iter(self._boards)

    def __len__(self) -> int:
        return len(self._boards)

    def __repr__(self) -> str:
        inner = ", ".join(f"{role}={board.name!r}" for role, board in self._boards.items())
        return f"BoardSet({inner})"

    def _code_for(self, code: str | Mapping[str, str]) -> dict[str, str]:
        if isinstance(code, str):
            return dict.fromkeys(self._boards, code)
        unknown = set(code) - set(self._boards)
        if unknown:
            raise KeyError(f"no board for role(s) {', '.join(sorted(unknown))}")
        return dict(code)

    def exec_each(
        self, code: str | Mapping[str, str], *, timeout: float | None = -1.0
    ) -> dict[str, str]:
        """Run code on the boards one at a time, in role order; role -> stdout.

        Args:
            code: the same code for every board, or role -> code (roles left out are skipped).
            timeout: per board, as for ``Board.exec``.
        """
        return {
            role: self._boards[role].exec(text, timeout=timeout)
            for role, text in self._code_for(code).items()
        }

    def exec_together(
        self, code: str | Mapping[str, str], *, timeout: float | None = -1.0
    ) -> dict[str, str]:
        """Run code on the boards at the same time and wait for all (a barrier); role -> stdout.

        Use it when boards must act at once (a server waiting while a client connects).

        Raises:
            The first error of a board (in role order), after every board has finished.
        """
        jobs = self._code_for(code)
        results: dict[str, str] = {}
        errors: dict[str, BaseException] = {}

        def run(role: str, text: str) -> None:
            try:
                results[role] = self._boards[role].exec(text, timeout=timeout)
            except BaseException as err:
                errors[role] = err

        threads = [
            threading.Thread(target=run, args=item, name=f"mpharness {item[0]}", daemon=True)
            for item in jobs.items()
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        for role in jobs:
            if role in errors:
                raise errors[role]
        return {role: results[role] for role in jobs}

    def broadcast(self, **values: Any) -> None:
        """Assign the same literal values to the same names on every board."""
        code = "".join(f"{name} = {value!r}\n" for name, value in values.items())
        self.exec_each(code)

    def close(self) -> None:
        """Close every board (releasing its leases)."""
        for board in self._boards.values():
            board.close()


def open_board_set(
    choices: Sequence[Mapping[str, BoardSpec]],
    *,
    wait_s: float | None,
    purpose: str,
    timeout: float | None,
    handover: Handover | None = None,
) -> BoardSet:
    """Lease and open the boards of the first assignment whose boards are all free.

    If none is free, wait up to ``wait_s`` for the first one (keys taken in sorted order),
    sending the handover token to the holders (see ``mpharness.sharing.leases.Handover``).

    Raises:
        BoardBusy: the boards stayed taken; ConnectError/BoardTimeout: one could not be
            opened. Nothing is held then.
    """
    from mpharness import BoardBusy
    from mpharness.connect import open_leased
    from mpharness.sharing import leases as lease
    from mpharness.sharing.board_pool import lease_keys

    def keys_of(choice: Mapping[str, BoardSpec]) -> set[str]:
        return {key for spec in choice.values() for key in lease_keys(spec)}

    chosen, held = None, []
    for choice in choices:
        try:
            held = lease.acquire_all(keys_of(choice), wait_s=0, purpose=purpose)
        except BoardBusy:
            continue
        chosen = choice
        break
    if chosen is None:
        chosen = choices[0]
        held = lease.acquire_all(keys_of(chosen), wait_s=wait_s, purpose=purpose, handover=handover)
    by_key = {item.key: item for item in held}
    boards: dict[str, Board] = {}
    try:
        for role, spec in chosen.items():
            mine = [by_key.pop(key) for key in lease_keys(spec) if key in by_key]
            boards[role] = open_leased(spec, mine, timeout=timeout, soft_reset=True)
    except BaseException:
        for board in boards.values():
            board.close()
        for item in by_key.values():
            item.release()
        raise
    return BoardSet(boards)
