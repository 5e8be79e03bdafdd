"""Turning a host test function into a program the board can run.

Theory of operation
-------------------
The test module's source is parsed once (:class:`ModuleSource`). For one test function the
*closure* is computed: the module-level statements that bind a name the test uses (helper
functions, constants, imports, classes, ``try: import ujson as json`` blocks), then the names
those statements use, and so on. Anything about pytest itself (``import pytest``,
``pytestmark``, fixtures, decorators of the test) stays on the host; if the shipped code
mentions ``pytest``, a tiny device-side stand-in (``raises``/``skip``/``fail``) goes along.

The chosen statements are copied as *text*, in source order, so the board compiles exactly
what the user wrote. Every ``assert`` in them is rewritten in place into a call of a device
helper (``_mph_f``, see ``mpharness/_device/pytest_runner.py``) that raises with the repr of
both sides, only when the assert fails; the rewritten statement is padded with newlines inside
its parentheses so it spans the same lines as the original. Each copied line therefore keeps
a fixed offset, and :attr:`Shipment.line_map` maps a line of the program back to the test
file, so a board traceback can be shown against the test file. The device helper comes
first; the call lines (per-test nonce, argument literals) are appended per test.
"""

from __future__ import annotations

import ast
import builtins
import importlib.resources
import tokenize
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

#: Module names whose imports never go to the board.
HOST_ONLY_MODULES = ("pytest", "_pytest", "pytest_mpharness", "mpharness")
#: Module-level names that belong to pytest and never go to the board.
HOST_ONLY_NAMES = frozenset({"pytestmark", "pytest_plugins"})
_COMPARE_OPS: dict[type[ast.cmpop], str] = {
    ast.Eq: "==",
    ast.NotEq: "!=",
    ast.Lt: "<",
    ast.LtE: "<=",
    ast.Gt: ">",
    ast.GtE: ">=",
    ast.In: "in",
    ast.NotIn: "not in",
    ast.Is: "is",
    ast.IsNot: "is not",
}
_SIMPLE_LITERALS = frozenset({int, bool, str, bytes, type(None)})
_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)


class ShippingError(Exception):
    """The test cannot be sent to the board (the message says why)."""


@lru_cache(maxsize=4)
def device_helper(name: str) -> str:
    """A device-side helper file from ``mpharness/_device``, compacted for small boards.

    Comment and blank lines are dropped and indentation shrunk (the files use 4 spaces).
    """
    text = importlib.resources.files("mpharness").joinpath("_device", name).read_text("utf-8")
    kept = []
    for line in text.splitlines():
        if line.strip() and not line.startswith("#"):
            body = line.lstrip(" ")
            kept.append(" " * ((len(line) - len(body)) // 4) + body)  # 4-space indents -> 1
    return "\n".join(kept) + "\n"


@dataclass(frozen=True)
class Shipment:
    """The board program for one test function, without its call line.

    Attributes:
        code: helper prelude plus the copied statements (ends with a newline).
        line_map: ``line_map[n - 1]`` is the test-file line of program line ``n`` (None for
            lines of the prelude or the call line).
        path: the test file.
        func_name: the test function's name.
        def_line: the line of the test's ``def``.
        plain_asserts: test-file line of each rewritten non-comparison assert -> its
            expression's source, for "where" lines in failure reports.
        has_shim: the pytest stand-in is included (the test may call ``pytest.skip``).
    """

    code: str
    line_map: tuple[int | None, ...]
    path: str
    func_name: str
    def_line: int = 0
    plain_asserts: dict[int, str] = field(default_factory=dict)
    has_shim: bool = False

    def program(self, nonce: str, kwargs: dict[str, str]) -> tuple[str, tuple[int | None, ...]]:
        """The full program calling the test with ``kwargs``, and its line map.

        Args:
            nonce: the per-test random alphanumeric string the result frame must carry.
            kwargs: argument name -> literal source text (see :func:`literal_source`).
        """
        call = call_line(self.func_name, nonce, kwargs, skip=self.has_shim)
        return self.code + call, (*self.line_map, *([None] * call.count("\n")))

    def source_line(self, device_line: int) -> int | None:
        """The test-file line of a program line, or None."""
        if 1 <= device_line <= len(self.line_map):
            return self.line_map[device_line - 1]
        return None


def _is_host_import(stmt: ast.stmt) -> bool:
    if isinstance(stmt, ast.Import):
        names = [alias.name for alias in stmt.names]
    elif isinstance(stmt, ast.ImportFrom):
        if stmt.module == "__future__":
            return True
        names = [stmt.module or ""]
    else:
        return False
    return any(n.split(".")[0] in HOST_ONLY_MODULES for n in names)


def _is_fixture_decorator(node: ast.expr) -> bool:
    target = node.func if isinstance(node, ast.Call) else node
    if isinstance(target, ast.Name):
        return target.id == "fixture"
    return isinstance(target, ast.Attribute) and target.attr in ("fixture", "yield_fixture")


def _is_pytest_decorator(node: ast.expr) -> bool:
    target = node.func if isinstance(node, ast.Call) else node
    while isinstance(target, ast.Attribute):
        target = target.value
    return isinstance(target, ast.Name) and target.id == "pytest"


def _scoped_walk(node: ast.AST) -> list[ast.AST]:
    """Nodes of ``node`` without descending into nested function/class/lambda scopes."""
    out: list[ast.AST] = []
    stack = list(ast.iter_child_nodes(node))
    while stack:
        child = stack.pop()
        out.append(child)
        if not isinstance(child, _SCOPES):
            stack.extend(ast.iter_child_nodes(child))
    return out


def bound_names(stmt: ast.stmt) -> set[str]:
    """Names a top-level statement binds in the module namespace."""
    if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return {stmt.name}
    names: set[str] = set()
    for node in [stmt, *_scoped_walk(stmt)]:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            names.add(node.id)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                names.add(alias.asname or alias.name.split(".")[0])
    return names


def used_names(node: ast.AST) -> set[str]:
    """Every name read anywhere inside ``node`` (nested scopes included)."""
    names = {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}
    for n in ast.walk(node):
        if isinstance(n, (ast.Global, ast.Nonlocal)):
            names.update(n.names)
    return names


def _shipped_names(stmt: ast.stmt, is_test: bool) -> set[str]:
    """Names a shipped statement needs (a test's decorators and parameters excluded)."""
    if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
        names: set[str] = set()
        for part in [*stmt.body, *stmt.args.defaults, *stmt.args.kw_defaults]:
            if part is not None:
                names |= used_names(part)
        if not is_test:
            for dec in stmt.decorator_list:
                if not _is_pytest_decorator(dec):
                    names |= used_names(dec)
        else:
            params = stmt.args.posonlyargs + stmt.args.args + stmt.args.kwonlyargs
            names -= {a.arg for a in params}
        return names
    return used_names(stmt)


class ModuleSource:
    """A parsed test module: source lines and what each top-level statement binds."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        with tokenize.open(self.path) as handle:
            self.text = handle.read()
        self.tree = ast.parse(self.text, filename=self.path)
        self.lines = self.text.splitlines(keepends=True)
        self.raw = [line.encode("utf-8") for line in self.lines]
        self.binders: dict[str, list[int]] = {}
        self.star_imports: list[int] = []
        for index, stmt in enumerate(self.tree.body):
            if self._host_only(stmt):
                continue
            if isinstance(stmt, ast.ImportFrom) and any(a.name == "*" for a in stmt.names):
                self.star_imports.append(index)
                continue
            for name in bound_names(stmt):
                self.binders.setdefault(name, []).append(index)
        self._cache: dict[str, Shipment] = {}

    def _host_only(self, stmt: ast.stmt) -> bool:
        if _is_host_import(stmt):
            return True
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
            return any(_is_fixture_decorator(d) for d in stmt.decorator_list)
        return bool(bound_names(stmt) & HOST_ONLY_NAMES)

    def function_node(self, name: str) -> ast.FunctionDef:
        """The (last) module-level ``def name``."""
        found = [s for s in self.tree.body if isinstance(s, ast.FunctionDef) and s.name == name]
        if not found:
            raise ShippingError(
                f"{name} is not a module-level function of {self.path}: only plain functions "
                "(not methods, not async) can run on the board"
            )
        return found[-1]

    def shipment(self, func_name: str) -> Shipment:
        """The program (without call line) for the test function ``func_name`` (cached)."""
        if func_name not in self._cache:
            self._cache[func_name] = self._build(func_name)
        return self._cache[func_name]

    def _closure(self, test: ast.FunctionDef) -> list[int]:
        """Indices of the top-level statements the test needs, in source order."""
        test_index = self.tree.body.index(test)
        chosen: set[int] = {test_index}
        pending = list(_shipped_names(test, is_test=True))
        seen: set[str] = set()
        unresolved = False
        while pending:
            name = pending.pop()
            if name in seen:
                continue
            seen.add(name)
            indices = self.binders.get(name)
            if not indices:
                unresolved = unresolved or not hasattr(builtins, name)
                continue
            for index in indices:
                if index not in chosen:
                    chosen.add(index)
                    pending.extend(_shipped_names(self.tree.body[index], is_test=False))
        if unresolved:
            chosen.update(self.star_imports)
        return sorted(chosen)

    def _build(self, func_name: str) -> Shipment:
        test = self.function_node(func_name)
        prelude = device_helper("pytest_runner.py")
        pieces: list[str] = []
        line_map: list[int | None] = [None] * prelude.count("\n")
        plain: dict[int, str] = {}
        needs_shim = False
        for index in self._closure(test):
            stmt = self.tree.body[index]
            is_test = stmt is test
            needs_shim = needs_shim or "pytest" in _shipped_names(stmt, is_test)
            first, text = self._statement_text(stmt, is_test, plain)
            pieces.append(text)
            line_map.extend(range(first, first + text.count("\n")))
        if needs_shim:
            shim = device_helper("pytest_shim.py")
            prelude += shim
            line_map[:0] = [None] * shim.count("\n")
        code = prelude + "".join(pieces)
        return Shipment(code, tuple(line_map), self.path, func_name, test.lineno, plain, needs_shim)

    def _statement_text(
        self, stmt: ast.stmt, is_test: bool, plain: dict[int, str]
    ) -> tuple[int, str]:
        """(first line, text) of a statement; asserts rewritten, pytest decorators blanked."""
        decorators = getattr(stmt, "decorator_list", [])
        first = stmt.lineno if is_test else min([stmt.lineno, *(d.lineno for d in decorators)])
        last = stmt.end_lineno or stmt.lineno
        edits: list[tuple[int, int, int, int, bytes]] = []
        for dec in decorators:
            if not is_test and _is_pytest_decorator(dec):
                edits.append(self._blank(dec))
        for node in ast.walk(stmt):
            if isinstance(node, ast.Assert):
                edits.append(self._rewrite_assert(node, plain))
        chunk = self._apply(first, last, edits)
        return first, chunk.decode("utf-8")

    def _blank(self, dec: ast.expr) -> tuple[int, int, int, int, bytes]:
        """An edit replacing a decorator (and its ``@``) by newlines only."""
        end_line = dec.end_lineno or dec.lineno
        start = self.raw[dec.lineno - 1].rfind(b"@", 0, dec.col_offset + 1)
        return (
            dec.lineno,
            start,
            end_line,
            dec.end_col_offset or 0,
            b"\n" * (end_line - dec.lineno),
        )

    def segment(self, node: ast.AST) -> bytes:
        """The exact source bytes of an expression node."""
        return self._slice(node.lineno, node.col_offset, node.end_lineno, node.end_col_offset)  # type: ignore[attr-defined]

    def flat(self, node: ast.expr) -> bytes:
        """An expression's source on one line: as written, or re-generated if it spans lines.

        One line keeps the rewritten assert's call on the assert's first line, which is the
        line a board (and CPython) reports for a failure.
        """
        text = self.segment(node)
        return text if b"\n" not in text else ast.unparse(node).encode("utf-8")

    def _slice(self, l1: int, c1: int, l2: int | None, c2: int | None) -> bytes:
        l2 = l1 if l2 is None else l2
        if l1 == l2:
            return self.raw[l1 - 1][c1:c2]
        parts = [self.raw[l1 - 1][c1:], *self.raw[l1 : l2 - 1], self.raw[l2 - 1][:c2]]
        return b"".join(parts)

    def _rewrite_assert(
        self, node: ast.Assert, plain: dict[int, str]
    ) -> tuple[int, int, int, int, bytes]:
        """An edit turning ``assert`` into simple statements on the assert's first line.

        ``assert L op R, M`` becomes ``_mph_a=(L);_mph_b=(R);_mph_a op _mph_b or
        _mph_f((M),'op',_mph_a,_mph_b)``; other asserts ``_mph_a=(X);_mph_a or
        _mph_f((M),'',_mph_a,None)``, with multi-line parts flattened (:meth:`flat`). Newlines
        before the closing parenthesis keep the statement as many lines long as the original.
        """
        test = node.test
        msg = b"None" if node.msg is None else b"(" + self.flat(node.msg) + b")"
        if isinstance(test, ast.Compare) and len(test.ops) == 1:
            op = _COMPARE_OPS[type(test.ops[0])].encode()
            text = b"_mph_a=(" + self.flat(test.left) + b");_mph_b=("
            text += self.flat(test.comparators[0]) + b");_mph_a " + op + b" _mph_b or "
            text += b"_mph_f(" + msg + b",'" + op + b"',_mph_a,_mph_b"
        else:
            plain[node.lineno] = self.segment(test).decode("utf-8")
            text = b"_mph_a=(" + self.flat(test) + b");_mph_a or _mph_f(" + msg
            text += b",'',_mph_a,None"
        end_line = node.end_lineno or node.lineno
        padding = (end_line - node.lineno) - text.count(b"\n")
        text += b"\n" * max(padding, 0) + b")"
        return (node.lineno, node.col_offset, end_line, node.end_col_offset or 0, text)

    def _apply(self, first: int, last: int, edits: list[tuple[int, int, int, int, bytes]]) -> bytes:
        """Source lines ``first..last`` with non-overlapping edits applied."""
        out: list[bytes] = []
        line, col = first, 0
        for l1, c1, l2, c2, text in sorted(edits):
            out.append(self._slice(line, col, l1, c1))
            out.append(text)
            line, col = l2, c2
        out.append(self._slice(line, col, last, None))
        chunk = b"".join(out)
        return chunk if chunk.endswith(b"\n") else chunk + b"\n"


def call_line(func_name: str, nonce: str, kwargs: dict[str, str], *, skip: bool = False) -> str:
    """The statements that call the test and print its result frame (``pytest_call*.py``).

    Args:
        func_name: the test function.
        nonce: the per-test random alphanumeric string the result frame must carry.
        kwargs: argument name -> literal source text (a ``repr`` checked on the host).
        skip: also report ``pytest.skip()`` from the board (needs the pytest stand-in).
    """
    if not nonce.isalnum():
        raise ValueError("the nonce must be alphanumeric")
    items = ", ".join(f"{name!r}: {text}" for name, text in kwargs.items())
    template = device_helper("pytest_call_skip.py" if skip else "pytest_call.py")
    return (
        template.replace("TEST_FUNCTION", func_name, 1)
        .replace("TEST_KWARGS", "{" + items + "}", 1)
        .replace("'NONCE'", repr(nonce), 1)
    )


def literal_source(name: str, value: object) -> str:
    """``repr(value)`` if it reads back as an equal literal; else :class:`ShippingError`."""
    text = repr(value)
    if type(value) in _SIMPLE_LITERALS:  # repr is always a literal of these exact types
        return text
    try:
        ok = ast.literal_eval(text) == value
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        ok = False
    if not ok:
        raise ShippingError(
            f"argument {name!r} of type {type(value).__name__} cannot be sent to the board: "
            "only literal values (numbers, strings, bytes, tuples, lists, dicts, sets, "
            f"booleans, None) can; its repr is {text[:80]!r}"
        )
    return text
