"""The per-test program: what the board runs for one on-board test.

Theory of operation
-------------------
The test's modules are files on the board already (``board_cache.py``); the program imports
them, dependencies first, and calls the test, with pytest's xunit setups and teardowns
around it (:class:`BoardCall`). It is a list of short top-level statements (:class:`Steps`),
run as one exec on boards with raw-paste and one exec per statement on boards without it
(such as the micro:bit: code over about 31 bytes cannot go there in one write, and the
engine's line-by-line upload with an echo per 48 bytes costs several milliseconds). Either
way a statement that raises ends the test, and a test passed when every statement ran to
its end, which the engine knows from its own end marker (the test cannot forge it).

A skip or xfail is the board's ``MphSkipped``/``MphXFailed`` exception (``pytest_core.py``)
ending the program; the host reads it from the board's traceback by those names, which only
the board's pytest uses. A test whose code can record ``match=`` checks (it names
``raises``, ``warns`` or ``warnings``) calls core's ``b()`` first and has a report statement
printing the result frame ``\\x1e NONCE : LEN : PAYLOAD \\x1f`` with the recorded pairs,
which the host decides with CPython's ``re`` (``runner.py``); the nonce is in that statement
only, out of the test's reach.
The board's pytest is imported only when something needs it (a micro:bit compiles it in
about 1.5 ms after every reset).

Every statement runs at the program's top level: a wrapper function would cost one of the
micro:bit's four levels of Python call depth.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field

from pytest_mpharness.board_runtime import core_name, runtime_modules
from pytest_mpharness.shipping import ShippingError, TestModule

_SIMPLE_LITERALS = frozenset({int, bool, str, bytes, type(None)})
#: board module prefixes of ``raises`` and ``warns`` (the modules that record matches)
MATCHING_PREFIXES = ("_mphrs", "_mphwn")
#: exception class names of the board's skip and xfail (``pytest_core.py``)
SKIP_EXC = "MphSkipped"
XFAIL_EXC = "MphXFailed"


@dataclass
class BoardCall:
    """One on-board test and the xunit functions around it.

    Attributes:
        func_name: the test function (or method) name.
        kwargs: argument name -> literal source text (see :func:`literal_source`).
        class_name: the test class, for a method; an instance is made per test.
        setup_method / teardown_method: the class has them (called with the method).
        setups: calls (source, relative to the module ``_M``) run before the test, outer
            first: ``setup_module``, ``setup_class``, ``setup_function``.
        teardowns: the matching teardowns, same order; a teardown runs when its setup ran
            (``None`` where a level has no teardown), whatever the test did.
    """

    func_name: str
    kwargs: dict[str, str] = field(default_factory=dict)
    class_name: str | None = None
    setup_method: bool = False
    teardown_method: bool = False
    setups: list[str | None] = field(default_factory=list)
    teardowns: list[str | None] = field(default_factory=list)

    def body(self) -> list[str]:
        """The statements (one-space indents) that set up, call and tear down the test."""
        args = ",".join(f"{name}={text}" for name, text in self.kwargs.items())
        levels: list[tuple[list[str], str | None]] = list(
            zip(([s] if s else [] for s in self.setups), self.teardowns, strict=True)
        )
        if self.class_name is None:
            call = f"_M.{self.func_name}({args})"
        else:
            method = f"_C.{self.func_name}"
            make = [f"_C=_M.{self.class_name}()"]
            if self.setup_method:
                make.append(f"_C.setup_method({method})")
            levels.append((make, f"_C.teardown_method({method})" if self.teardown_method else None))
            call = f"{method}({args})"
        return _nest(levels, call)


def _nest(levels: list[tuple[list[str], str | None]], call: str) -> list[str]:
    """``setup; try: <inner> finally: teardown`` for each level, outermost first."""
    if not levels:
        return [call]
    (setup, teardown), rest = levels[0], levels[1:]
    inner = _nest(rest, call)
    if teardown is None:
        return [*setup, *inner]
    return [*setup, "try:", *(" " + line for line in inner), "finally:", " " + teardown]


def _imports(module: TestModule) -> list[str]:
    """Board module names the program imports before the image, dependencies first (the
    core is imported by the program itself)."""
    ours = {m.name for m in runtime_modules()[1:]}
    names = [n for n in module.preload if n in ours]
    return names + [n for n in module.preload if n not in ours and n != core_name()][:-1]


def records_matches(module: TestModule) -> bool:
    """Whether the test's code can record ``match=`` checks (it imports ``raises`` or
    ``warns``)."""
    return any(n.startswith(MATCHING_PREFIXES) for n in module.preload)


def _path_setup(folder: str) -> list[str]:
    if folder == "/":
        return []
    return ["import sys", f"{folder!r} in sys.path or sys.path.insert(0,{folder!r})"]


@dataclass
class Steps:
    """A test's program (see the module docstring).

    Attributes:
        run: top-level statements, in order; any that raises ends the test.
        report: run after ``run`` ended in a pass, skip or xfail: prints the result frame
            with the recorded matches (None when the test cannot record any).
    """

    run: list[str]
    report: str | None

    def whole(self) -> str:
        """The program as one exec (boards with raw-paste), the report at its end."""
        return "\n".join([*self.run, *([self.report] if self.report else [])])


def build_program(module: TestModule, test: BoardCall, nonce: int, folder: str = "/") -> Steps:
    """The program of one test. ``folder``: the board folder holding the modules (put first
    on ``sys.path`` unless ``/``); ``nonce``: the per-test number of the report frame."""
    core = core_name()
    matches = records_matches(module)
    run = _path_setup(folder)
    if matches or _imports(module) or _imports_core(module):
        run.append(f"import {core} as _P")
    if matches:
        run.append("_P.b()")
    run += [f"import {name}" for name in _imports(module)]
    run.append(f"import {module.image.name} as _M")
    run += _statements(test.body())
    return Steps(run, f"_P.e({nonce},'')" if matches else None)


def _imports_core(module: TestModule) -> bool:
    """Whether the test module or a helper imports the board's pytest."""
    core = core_name()
    return any(core in m.text for m in module.modules if m.source is not None)


def _statements(lines: list[str]) -> list[str]:
    """Top-level statements of ``lines`` (a compound statement keeps its block)."""
    out: list[str] = []
    for line in lines:
        if out and (line.startswith(" ") or line.startswith("finally:")):
            out[-1] += "\n" + line
        else:
            out.append(line)
    return out


def xunit_call(tree: ast.Module, owner: str | None, names: tuple[str, ...], arg: str) -> str | None:
    """How the board calls an xunit function of the test file, as pytest would: the first of
    ``names`` defined at the top level (``owner`` None) or in the top-level class ``owner``,
    called with ``arg`` (source) if it takes an argument (a classmethod gets its class by
    itself); None when there is none."""
    body: list[ast.stmt] = tree.body
    where = "_M."
    if owner is not None:
        cls = next((s for s in tree.body if isinstance(s, ast.ClassDef) and s.name == owner), None)
        if cls is None:
            return None
        body, where = cls.body, f"_M.{owner}."
    for name in names:
        func = next((s for s in body if isinstance(s, ast.FunctionDef) and s.name == name), None)
        if func is None:
            continue
        decorators = {d.id for d in func.decorator_list if isinstance(d, ast.Name)}
        takes_arg = bool(func.args.posonlyargs + func.args.args or func.args.vararg)
        if "classmethod" in decorators:
            takes_arg = False
        return f"{where}{name}({arg})" if takes_arg else f"{where}{name}()"
    return None


def literal_source(name: str, value: object) -> str:
    """``repr(value)`` if it reads back as a literal; else :class:`ShippingError`.

    Objects whose ``__repr__`` is a literal (``Config(rate=1)`` printing ``{'rate': 1}``) go
    as that literal: the board gets the value the repr spells.
    """
    text = repr(value)
    if type(value) in _SIMPLE_LITERALS:  # repr is always a literal of these exact types
        return text
    try:
        ast.literal_eval(text)
        ok = True
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        ok = False
    if not ok:
        raise ShippingError(
            f"argument {name!r} of type {type(value).__name__} cannot be sent to the board: "
            "only literal values (numbers, strings, bytes, tuples, lists, dicts, sets, "
            "booleans, None) or objects whose repr is such a literal can; its repr is "
            f"{text[:80]!r}"
        )
    return text
