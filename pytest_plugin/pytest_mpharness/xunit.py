"""pytest's xunit setups and teardowns of on-board tests: run on the board, not on the host.

Theory of operation
-------------------
``setup_module``/``teardown_module`` (and ``setUpModule``/``tearDownModule``),
``setup_class``/``teardown_class``, ``setup_function``/``teardown_function`` and
``setup_method``/``teardown_method`` of an on-board test prepare the state the test body sees,
so they run where the body runs: on the board, in the test's program (``program.py``), around
the call, each teardown whenever its setup ran.

The board's interpreter is reset between tests (``--board-isolation``, default ``test``), so
what a setup left there lasts until the next reset. A module or class setup therefore runs
before the first test of its module or class *since the last reset*, and its teardown after
the last test before the next reset: under per-test isolation around every test (each test
then sees the state pytest gives the first), under ``module``/``session`` isolation once per
module or class, as in pytest. Function and method setups run around every test.

On the host, pytest runs these functions through autouse fixtures it makes at collection
(``_xunit_setup_*_fixture_*``). :func:`host_skips` tells the plugin's ``pytest_fixture_setup``
hook which of them to leave out: a function- or method-level one for an on-board test, a
module- or class-level one when every test of that module or class runs on the board (a
module that mixes host and board tests runs them on both).
"""

from __future__ import annotations

import ast
from typing import TYPE_CHECKING

from pytest_mpharness.program import xunit_call

if TYPE_CHECKING:
    import pytest

MODULE_SETUP = ("setup_module", "setUpModule")
MODULE_TEARDOWN = ("teardown_module", "tearDownModule")
#: prefix of the autouse fixtures pytest makes for xunit functions, by their scope
HOST_FIXTURE_PREFIX = "_xunit_setup_"


def scope_keys(item: pytest.Item) -> tuple[str, str | None]:
    """(module key, class key or None) of a test."""
    cls = getattr(item, "cls", None)
    module = str(item.path)
    return module, (None if cls is None else f"{module}::{cls.__qualname__}")


def board_calls(
    item: pytest.Item,
    tree: ast.Module,
    started: set[str],
    next_item: pytest.Item | None,
    reset_each_test: bool,
) -> tuple[list[str | None], list[str | None]]:
    """(setups, teardowns) the board runs around ``item``, outer first (see the module
    docstring); ``started`` holds the scopes set up since the last reset and is updated."""
    module_key, class_key = scope_keys(item)
    next_keys = scope_keys(next_item) if next_item is not None else (None, None)
    setups: list[str | None] = []
    teardowns: list[str | None] = []

    def level(
        key: str,
        owner: str | None,
        setup: tuple[str, ...],
        teardown: tuple[str, ...],
        arg: str,
        same_next: bool,
    ) -> None:
        first = key not in started
        last = reset_each_test or not same_next
        started.add(key)
        setups.append(xunit_call(tree, owner, setup, arg) if first else None)
        teardowns.append(xunit_call(tree, owner, teardown, arg) if last else None)
        if last:
            started.discard(key)

    level(module_key, None, MODULE_SETUP, MODULE_TEARDOWN, "_M", next_keys[0] == module_key)
    cls = getattr(item, "cls", None)
    name = getattr(item, "originalname", item.name)
    if cls is not None and class_key is not None:
        owner = cls.__name__
        level(
            class_key,
            owner,
            ("setup_class",),
            ("teardown_class",),
            f"_M.{owner}",
            next_keys[1] == class_key,
        )
    else:
        setups.append(xunit_call(tree, None, ("setup_function",), f"_M.{name}"))
        teardowns.append(xunit_call(tree, None, ("teardown_function",), f"_M.{name}"))
    return setups, teardowns


def host_skips(fixture_name: str, on_board: bool, all_on_board: bool) -> bool:
    """Whether the host leaves out pytest's xunit fixture ``fixture_name``.

    ``on_board``: the test (of a function- or method-level fixture) runs on the board;
    ``all_on_board``: every test of a module- or class-level fixture's module or class does."""
    if not fixture_name.startswith(HOST_FIXTURE_PREFIX):
        return False
    kind = fixture_name[len(HOST_FIXTURE_PREFIX) :]
    if kind.startswith(("function_fixture_", "method_fixture_")):
        return on_board
    if kind.startswith(("module_fixture_", "class_fixture_")):
        return all_on_board
    return False
