"""Turning a host test module into modules the board imports, and a test into a tiny program.

Theory of operation
-------------------
The board sees the same module state as the host because it runs the test module's top level
the way an import does, in source order: the module is sent as a file (a *module image*,
``_mphm<hash>.py``) and every on-board test is a short program that imports it and calls the
test (``program.py``). The image is the test file, line for line, with
these changes (each keeps every other line where it was, so board tracebacks need no map):

* ``import pytest`` / ``from pytest import ...`` import the board's pytest
  (``pytest_core.py``, sent as ``_mphpt<hash>.py``; see ``board_runtime.py``); imports of
  ``_pytest``, ``mpharness``, ``pytest_mpharness`` and ``__future__`` are left out (``pass``
  where a block needs one).
* What only the host uses is left out: fixtures, ``pytestmark``/``pytest_plugins``, tests that
  run on the host (``host_tests``), and pytest's own decorators (``@pytest.mark...``).
* A statement that only *binds* names (``import``, ``def``, ``class``, ``NAME = ...``) is left
  out when nothing that goes to the board reads those names, so host-only imports such as
  ``subprocess`` used by host-driven tests in the same file stay on the host. Every other
  top-level statement (calls, ``X.append(...)``, ``D[k] = v``, ``Cls.attr = v``, ``for``,
  ``if``, ``try``) runs on the board, in source order, with the definitions it reads.
* Docstrings and comments are left out (less to send, compile and keep in a small heap).
* Every ``assert`` inside a function is rewritten, on its own line, to carry the compared
  values' reprs in its message when it fails (``assert_rewrite.py``).
* Decorators of on-board tests that are not pytest's are kept and run on the board; one that
  names something the board cannot have is a :class:`ShippingError`, never dropped.

Rootdir-local modules the kept code imports (``from helpers import triple`` with
``helpers.py`` beside the test, or in a parent folder up to the rootdir) become images too,
under their own names. What goes to the board is a list of :class:`BoardModule`; the plugin
writes each one once (names carry content hashes, see ``board_cache.py``), so a module's
shipping is paid once, not per test.
"""

from __future__ import annotations

import ast
import re
import tokenize
from dataclasses import dataclass, field
from pathlib import Path

from pytest_mpharness.assert_rewrite import asserts_in_functions, rewrite_assert
from pytest_mpharness.board_runtime import (
    ON_DEMAND,
    STAND_INS,
    BoardModule,
    core_name,
    digest,
    runtime_modules,
    runtime_name,
)
from pytest_mpharness.source_edits import Edit, SourceText

#: Module names whose imports never go to the board (``pytest`` is replaced by the stand-in).
HOST_ONLY_MODULES = frozenset({"_pytest", "pytest_mpharness", "mpharness", "__future__"})
#: Module-level names that belong to pytest and never go to the board.
HOST_ONLY_NAMES = frozenset({"pytestmark", "pytest_plugins"})
#: Name prefix of the marker files that record a helper module's content on the board.
MARKER_PREFIX = "_mphk"
#: pytest's module-level xunit functions (the test program calls them, see ``program.py``).
XUNIT_MODULE_FUNCTIONS = frozenset(
    {
        "setup_module",
        "setUpModule",
        "teardown_module",
        "tearDownModule",
        "setup_function",
        "teardown_function",
    }
)
#: Files that are never shipped as helper modules.
NEVER_SHIPPED = frozenset({"conftest"})
_DEFS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


class ShippingError(Exception):
    """The test cannot be sent to the board (the message says why)."""


# ------------------------------------------------------------------------- analysis helpers
def _top_module(stmt: ast.Import | ast.ImportFrom) -> list[str]:
    if isinstance(stmt, ast.Import):
        return [alias.name.split(".")[0] for alias in stmt.names]
    if stmt.level:
        return [""]
    return [(stmt.module or "").split(".")[0]]


def _decorator_root(node: ast.expr) -> str | None:
    target = node.func if isinstance(node, ast.Call) else node
    while isinstance(target, ast.Attribute):
        target = target.value
    return target.id if isinstance(target, ast.Name) else None


def _is_fixture_decorator(node: ast.expr) -> bool:
    target = node.func if isinstance(node, ast.Call) else node
    if isinstance(target, ast.Name):
        return target.id == "fixture"
    return isinstance(target, ast.Attribute) and target.attr in ("fixture", "yield_fixture")


def bound_names(stmt: ast.stmt) -> set[str]:
    """Names a top-level statement binds in the module namespace."""
    if isinstance(stmt, _DEFS):
        return {stmt.name}
    names: set[str] = set()
    stack: list[ast.AST] = [stmt]
    while stack:
        node = stack.pop()
        if isinstance(node, _DEFS):
            names.add(node.name)
            continue
        if isinstance(node, ast.Lambda):
            continue
        if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            names.add(node.id)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                names.add(alias.asname or alias.name.split(".")[0])
        stack.extend(ast.iter_child_nodes(node))
    return names


def used_names(node: ast.AST) -> set[str]:
    """Every name read anywhere inside ``node`` (nested scopes included)."""
    names = {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}
    for n in ast.walk(node):
        if isinstance(n, (ast.Global, ast.Nonlocal)):
            names.update(n.names)
    return names


def _is_pure_binding(stmt: ast.stmt) -> bool:
    """A statement whose only effect is binding names (left out when nobody reads them)."""
    if isinstance(stmt, ast.Import):
        return True
    if isinstance(stmt, ast.ImportFrom):
        return not any(alias.name == "*" for alias in stmt.names)
    if isinstance(stmt, _DEFS):
        return True
    if isinstance(stmt, ast.Assign):
        return all(isinstance(t, ast.Name) for t in stmt.targets)
    if isinstance(stmt, ast.AnnAssign):
        return isinstance(stmt.target, ast.Name)
    return False


# ------------------------------------------------------------------------- the module image
class ModuleSource:
    """A parsed Python file (test module or helper) and its board image.

    Args:
        path: the file.
        host_tests: top-level names of tests that run on the host (left out of the image).
        keep_all: keep every statement (helper modules are imported whole, like on the host).
        only: keep this one test (function or class) of the file, not every test: the image
            for one test, for boards with a small heap (the module state is the same: every
            statement that changes it is still kept).
    """

    def __init__(
        self,
        path: str | Path,
        host_tests: frozenset[str] = frozenset(),
        keep_all: bool = False,
        only: str | None = None,
    ) -> None:
        self.path = str(path)
        with tokenize.open(self.path) as handle:
            self.text = handle.read()
        self.tree = ast.parse(self.text, filename=self.path)
        self.source = SourceText(self.text)
        self.host_tests = host_tests
        self.keep_all = keep_all
        self.only = only
        self.pytest_names = self._pytest_names()
        self._kept: list[ast.stmt] | None = None
        self._decorators_ok: set[str] = set()

    # ------------------------------------------------------------ what goes to the board
    def _pytest_names(self) -> set[str]:
        """Names bound to pytest or to its marks: ``import pytest``, ``from pytest import
        mark``, and ``slow = pytest.mark.slow`` (top-level assignments of such values)."""
        names: set[str] = set()
        for stmt in self.tree.body:
            if isinstance(stmt, (ast.Import, ast.ImportFrom)) and "pytest" in _top_module(stmt):
                names |= bound_names(stmt)
            elif isinstance(stmt, ast.Assign) and all(
                isinstance(t, ast.Name) for t in stmt.targets
            ):
                root = _decorator_root(stmt.value)
                if (
                    root is not None
                    and (root in names or root == "pytest")
                    and self._is_mark(stmt.value)
                ):
                    names |= bound_names(stmt)
        return names

    @staticmethod
    def _is_mark(node: ast.expr) -> bool:
        """``pytest.mark.X`` or ``pytest.mark.X(...)`` (or ``mark.X`` from ``from pytest
        import mark``)."""
        target = node.func if isinstance(node, ast.Call) else node
        parts = []
        while isinstance(target, ast.Attribute):
            parts.append(target.attr)
            target = target.value
        if isinstance(target, ast.Name):
            parts.append(target.id)
        return "mark" in parts

    def _is_pytest_decorator(self, node: ast.expr) -> bool:
        return _decorator_root(node) in self.pytest_names | {"pytest"}

    def _host_only(self, stmt: ast.stmt) -> bool:
        if isinstance(stmt, (ast.Import, ast.ImportFrom)):
            tops = _top_module(stmt)
            return all(t in HOST_ONLY_MODULES for t in tops)
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)) and any(
            _is_fixture_decorator(d) for d in stmt.decorator_list
        ):
            return True
        if isinstance(stmt, _DEFS) and stmt.name in self.host_tests:
            return True
        bound = bound_names(stmt)
        if isinstance(stmt, ast.Assign) and bound and bound <= self.pytest_names:
            return True  # slow = pytest.mark.slow
        return bool(bound & HOST_ONLY_NAMES)

    def _needs(self, stmt: ast.stmt) -> set[str]:
        """Names a kept statement reads (pytest's own decorators excluded)."""
        if isinstance(stmt, _DEFS):
            names: set[str] = set()
            parts: list[ast.AST] = list(stmt.body)
            if isinstance(stmt, ast.ClassDef):
                parts += stmt.bases + [k.value for k in stmt.keywords]
            else:
                parts += [d for d in stmt.args.defaults + stmt.args.kw_defaults if d is not None]
            parts += [d for d in stmt.decorator_list if not self._is_pytest_decorator(d)]
            for part in parts:
                names |= used_names(part)
            return names
        return used_names(stmt)

    def kept(self) -> list[ast.stmt]:
        """The top-level statements the image keeps, in source order."""
        if self._kept is not None:
            return self._kept
        candidates = [s for s in self.tree.body if not self._host_only(s)]
        if self.keep_all:
            self._kept = candidates
            return candidates
        binders: dict[str, list[ast.stmt]] = {}
        chosen: set[int] = set()
        pending: list[ast.stmt] = []
        for stmt in candidates:
            if _is_pure_binding(stmt):
                for name in bound_names(stmt):
                    binders.setdefault(name, []).append(stmt)
            else:
                pending.append(stmt)
        for stmt in candidates:
            if not isinstance(stmt, _DEFS):
                continue
            if stmt.name == self.only or (self.only is None and self._is_test_name(stmt.name)):
                pending.append(stmt)
            elif stmt.name in XUNIT_MODULE_FUNCTIONS:
                pending.append(stmt)  # the test program calls them around the test
        seen: set[str] = set()
        while pending:
            stmt = pending.pop()
            if id(stmt) in chosen:
                continue
            chosen.add(id(stmt))
            for name in self._needs(stmt) - seen:
                seen.add(name)
                pending.extend(binders.get(name, ()))
        self._kept = [s for s in candidates if id(s) in chosen]
        return self._kept

    @staticmethod
    def _is_test_name(name: str) -> bool:
        return name.startswith("test") or name.startswith("Test")

    def check_decorators(self, test_name: str) -> None:
        """Raise :class:`ShippingError` if a decorator of the test cannot run on the board
        (checked once per test function)."""
        if test_name in self._decorators_ok:
            return
        self._check_decorators(test_name)
        self._decorators_ok.add(test_name)

    def _check_decorators(self, test_name: str) -> None:
        node = next(
            (s for s in self.tree.body if isinstance(s, _DEFS) and s.name == test_name), None
        )
        if node is None:
            return
        host_only: set[str] = set()
        for stmt in self.tree.body:
            if self._host_only(stmt):
                host_only |= bound_names(stmt)
        module_names = set().union(*(bound_names(s) for s in self.tree.body))
        import builtins

        for dec in node.decorator_list:
            if self._is_pytest_decorator(dec):
                continue
            text = ast.unparse(dec)
            for name in sorted(used_names(dec)):
                if name in host_only:
                    raise ShippingError(
                        f"decorator @{text} of {test_name} (line {dec.lineno}) uses {name!r}, "
                        "which exists only on the host (a fixture, pytest internals or mpharness)"
                        ": it cannot run on the board"
                    )
                if name not in module_names and not hasattr(builtins, name):
                    raise ShippingError(
                        f"decorator @{text} of {test_name} (line {dec.lineno}) uses {name!r}, "
                        "which is not defined at the module's top level: it cannot run on the "
                        "board"
                    )

    def imported_modules(self) -> set[str]:
        """Top-level names of every module the kept code imports (anywhere inside it)."""
        names: set[str] = set()
        for stmt in self.kept():
            for node in ast.walk(stmt):
                if isinstance(node, (ast.Import, ast.ImportFrom)):
                    names.update(t for t in _top_module(node) if t)
        return names

    # ------------------------------------------------------------ the image text
    def image(self, name: str, family: str = "") -> BoardModule:
        """The board module ``name`` built from this file (see the module docstring)."""
        kept = {id(s) for s in self.kept()}
        edits: list[Edit] = []
        plain: dict[int, str] = {}
        for stmt in self.tree.body:
            if id(stmt) not in kept:
                edits.append(self._blank(stmt, top=True))
                continue
            for dec in getattr(stmt, "decorator_list", []):
                if self._is_pytest_decorator(dec):
                    edits.append(self._blank_decorator(dec))
            for node in ast.walk(stmt):
                if isinstance(node, (ast.Import, ast.ImportFrom)):
                    edit = self._rewrite_import(node)
                    if edit is not None:
                        edits.append(edit)
            for node in asserts_in_functions(stmt):
                edits.append(rewrite_assert(node, self.source, plain))
        edits.extend(self._docstrings(kept))
        edits.extend(self._comments(edits))
        body = self.source.apply(edits).decode("utf-8")
        if not body.endswith("\n"):
            body += "\n"
        return BoardModule(name, body, self.path, plain, family)

    def _docstrings(self, kept: set[int]) -> list[Edit]:
        """Edits turning docstrings (module, kept classes and functions) into ``(0)`` padded
        with newlines: a no-op the compiler drops, same lines, never an empty body."""
        owners: list[ast.AST] = [self.tree]
        for stmt in self.tree.body:
            if id(stmt) in kept:
                owners.extend(n for n in ast.walk(stmt) if isinstance(n, (*_DEFS, ast.Module)))
        out: list[Edit] = []
        for owner in owners:
            body = getattr(owner, "body", [])
            first = body[0] if body else None
            if (
                isinstance(first, ast.Expr)
                and isinstance(first.value, ast.Constant)
                and isinstance(first.value.value, str)
            ):
                node = first.value
                end = node.end_lineno or node.lineno
                text = b"(0" + b"\n" * (end - node.lineno) + b")"
                out.append((node.lineno, node.col_offset, end, node.end_col_offset or 0, text))
        return out

    def _comments(self, edits: list[Edit]) -> list[Edit]:
        """Edits removing comments outside the other edits (less to send and compile)."""
        out: list[Edit] = []
        for line, start, end in self.source.comments():
            inside = any(
                (l1, c1) <= (line, start) and (line, end) <= (l2, c2) for l1, c1, l2, c2, _ in edits
            )
            if not inside:
                out.append((line, start, line, end, b""))
        return out

    def _blank(self, stmt: ast.stmt, top: bool) -> Edit:
        """An edit replacing a statement (decorators included) by newlines (``pass`` inside a
        block, where an empty body would not compile)."""
        decorators = getattr(stmt, "decorator_list", [])
        first = min([stmt.lineno, *(d.lineno for d in decorators)])
        start = stmt.col_offset if first == stmt.lineno else self._at_col(decorators, first)
        last = stmt.end_lineno or stmt.lineno
        text = b"\n" * (last - first)
        if not top:
            text = b"pass" + (b" \\\n" * (last - first))
        return (first, start, last, stmt.end_col_offset or 0, text)

    def _at_col(self, decorators: list[ast.expr], line: int) -> int:
        dec = next(d for d in decorators if d.lineno == line)
        return self.source.line(line).rfind(b"@", 0, dec.col_offset + 1)

    def _blank_decorator(self, dec: ast.expr) -> Edit:
        """An edit replacing a decorator (and its ``@``) by newlines only."""
        end_line = dec.end_lineno or dec.lineno
        start = self.source.line(dec.lineno).rfind(b"@", 0, dec.col_offset + 1)
        return (
            dec.lineno,
            start,
            end_line,
            dec.end_col_offset or 0,
            b"\n" * (end_line - dec.lineno),
        )

    def _rewrite_import(self, node: ast.Import | ast.ImportFrom) -> Edit | None:
        """pytest imports -> the board's pytest; imports of a module the boards lack
        (``warnings``) -> its stand-in (``STAND_INS``); host-only imports -> nothing; others
        unchanged."""
        tops = _top_module(node)
        replaced = {"pytest": core_name()} | {
            name: runtime_name(prefix) for name, prefix in STAND_INS.items()
        }
        if not any(t in replaced or t in HOST_ONLY_MODULES for t in tops):
            return None
        if isinstance(node, ast.ImportFrom):
            if tops[0] not in replaced or node.module != tops[0]:
                return self._blank(node, top=False)
            names = ", ".join(
                a.name if a.asname is None else f"{a.name} as {a.asname}" for a in node.names
            )
            parts = [f"from {replaced[tops[0]]} import ({names}"]
        else:
            parts = []
            for alias in node.names:
                top = alias.name.split(".")[0]
                if top in replaced and alias.name == top:
                    parts.append(f"import {replaced[top]} as {alias.asname or top}")
                elif top not in HOST_ONLY_MODULES and top not in replaced:
                    parts.append(
                        f"import {alias.name}" + (f" as {alias.asname}" if alias.asname else "")
                    )
            if not parts:
                return self._blank(node, top=False)
        end_line = node.end_lineno or node.lineno
        text = ";".join(parts)
        gap = end_line - node.lineno
        if isinstance(node, ast.ImportFrom):
            text += "\n" * gap + ")"
        else:
            text += " \\\n" * gap
        return (node.lineno, node.col_offset, end_line, node.end_col_offset or 0, text.encode())


# ------------------------------------------------------------------------- one test module
def find_helper(name: str, start: Path, rootdir: Path) -> Path | None:
    """``name.py`` in ``start`` or a parent folder up to ``rootdir`` (conftest-style)."""
    if name in NEVER_SHIPPED:
        return None
    folder = start
    while True:
        candidate = folder / f"{name}.py"
        if candidate.is_file():
            return candidate
        if folder == rootdir or folder.parent == folder or rootdir not in folder.parents:
            return None
        folder = folder.parent


@dataclass
class TestModule:
    """What a test module needs on the board: its image, helper images, the runtime."""

    path: str
    image: BoardModule
    modules: list[BoardModule]
    source: ModuleSource
    #: board modules the test program imports before calling the test, dependencies first
    preload: list[str] = field(default_factory=list)

    def files(self) -> dict[str, str]:
        """Board file name -> host file, for mapping board tracebacks."""
        return {m.filename: m.source for m in self.modules if m.source is not None}

    def plain_assert(self, path: str, line: int) -> str | None:
        """The expression of the plain ``assert`` at ``path:line`` (for "where" lines)."""
        for module in self.modules:
            if module.source == path:
                return module.plain_asserts.get(line)
        return None


def build_test_module(
    path: str | Path, host_tests: frozenset[str], rootdir: str | Path, only: str | None = None
) -> TestModule:
    """Parse a test module and the rootdir-local modules it imports, into board modules.

    ``only``: the image holds just this test (see :class:`ModuleSource`).

    Raises:
        SyntaxError, OSError: the file (or a helper) cannot be read or parsed.
    """
    path = Path(path).resolve()
    root = Path(rootdir).resolve()
    source = ModuleSource(path, host_tests, only=only)
    family = "_mphm" + digest(str(path), 4) + ("" if only is None else digest(only, 4))
    image = source.image(family + digest(source.text, 6), family)
    modules: list[BoardModule] = [*runtime_modules()]
    helpers: list[BoardModule] = []
    pending = sorted(source.imported_modules())
    done: set[str] = set()
    while pending:
        name = pending.pop()
        if name in done:
            continue
        done.add(name)
        found = find_helper(name, path.parent, root)
        if found is None or found.resolve() == path:
            continue
        helper = ModuleSource(found, keep_all=True)
        helpers.append(helper.image(name, MARKER_PREFIX + digest(name, 4)))
        pending.extend(sorted(helper.imported_modules()))
    helpers.reverse()  # a helper's own imports come before it
    return TestModule(
        str(path), image, [*modules, *helpers, image], source, _preload(helpers, image)
    )


def _preload(helpers: list[BoardModule], image: BoardModule) -> list[str]:
    """The board modules a test program imports, in order: a board compiles a module it
    imports in the middle of another's import on the C stack, which a micro:bit does not
    have room for, so every module is imported from the program's top level, dependencies
    first, and later imports of it only look it up."""
    words = set(re.findall(r"[A-Za-z_]\w*", " ".join(m.text for m in [*helpers, image])))
    runtime = runtime_modules()
    wanted = [runtime[0].name]
    for prefix, needs in ON_DEMAND.items():
        if needs & words:
            wanted.append(next(m.name for m in runtime if m.name.startswith(prefix)))
    return [*wanted, *(h.name for h in helpers), image.name]
