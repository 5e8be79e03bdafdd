"""Magic commands: registry, argument parsing with ``-h``, and dispatch.

Theory of operation
-------------------
Each magic is a function registered with :func:`magic` together with an argparse parser
(built lazily). ``%name args`` and ``%%name args`` split ``args`` with :mod:`shlex`; ``-h``
or ``--help`` prints the parser's help into the cell and runs nothing; bad arguments raise
:class:`~mpharness_kernel.output.UsageError`, which the kernel reports as an error reply, so a
mistyped magic fails a notebook test instead of passing silently.

A magic registered with ``rest=True`` is a jupyter_micropython_kernel-style heading: written as
``%name args`` on a line of its own, it takes the rest of the cell as its body (``%sendtofile``,
``%capture``). Magics this kernel does not know go, as written, to the host's IPython shell
(IoT Kernel's rule): ``%%writefile``, ``%env``, ``%pip`` and friends act on the host, and an
unknown name fails there with IPython's ``UsageError``.
"""

from __future__ import annotations

import argparse
import shlex
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NoReturn, Protocol

from mpharness_kernel.output import Output, UsageError

if TYPE_CHECKING:
    from mpharness import Board
    from mpharness_kernel.hostexec import HostNamespace

MagicFunc = Callable[["MagicContext", argparse.Namespace], None]


class MagicParser(argparse.ArgumentParser):
    """An argument parser that raises UsageError instead of exiting."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: {message}\n{self.format_usage().strip()}")

    def exit(self, status: int = 0, message: str | None = None) -> NoReturn:
        raise UsageError(message or f"{self.prog}: exit {status}")


@dataclass
class Magic:
    """One registered magic.

    Attributes:
        name: the name without ``%``.
        summary: one line for ``%lsmagic``.
        func: called with the context and parsed arguments (``args.body`` for cell magics).
        cell: whether it is a cell magic (``%%name``).
        line: whether it is a line magic (``%name``).
        build: adds the magic's arguments to its parser.
        rest: as a line magic, it takes the rest of the cell as its body.
    """

    name: str
    summary: str
    func: MagicFunc
    cell: bool
    line: bool
    build: Callable[[MagicParser], None]
    rest: bool = False

    def parser(self, cell: bool) -> MagicParser:
        """The parser for ``%name`` (or ``%%name`` when ``cell``)."""
        prog = ("%%" if cell else "%") + self.name
        parser = MagicParser(prog=prog, description=self.summary, add_help=True)
        self.build(parser)
        return parser


MAGICS: dict[str, Magic] = {}


def magic(
    name: str,
    summary: str,
    *,
    cell: bool = False,
    line: bool = True,
    build: Callable[[MagicParser], None] | None = None,
    rest: bool = False,
) -> Callable[[MagicFunc], MagicFunc]:
    """Register a magic (decorator)."""

    def register(func: MagicFunc) -> MagicFunc:
        MAGICS[name] = Magic(name, summary, func, cell, line, build or (lambda p: None), rest)
        return func

    return register


class Runner(Protocol):
    """What magics use of the cell runner (:class:`mpharness_kernel.runner.CellRunner` is one;
    magics never import it: the runner imports them)."""

    session: Any
    host: HostNamespace

    def run_body(
        self,
        ctx: MagicContext,
        body: str,
        *,
        first_line: int,
        board: Board | None = None,
        timeout: float | str | None = "default",
    ) -> str | None:
        """Run code with line magics, starting at cell line ``first_line``."""
        ...


@dataclass
class MagicContext:
    """What a magic can use: the runner (session, host namespace) and the cell's output."""

    runner: Runner
    out: Output
    source: str = ""
    #: the cell's execution count (``<cell-N>`` in tracebacks)
    number: int = 0

    @property
    def session(self) -> Any:
        """The kernel's :class:`~mpharness_kernel.session.BoardSession`."""
        return self.runner.session

    def print(self, text: str = "") -> None:
        """Show a line of text in the cell (secrets masked)."""
        self.out.stream("stdout", self.session.scrub(text) + "\n")


def _parse(entry: Magic, args: str, cell: bool, out: Output) -> argparse.Namespace | None:
    try:
        tokens = shlex.split(args)
    except ValueError as err:
        raise UsageError(f"%{entry.name}: {err}") from None
    parser = entry.parser(cell)
    if "-h" in tokens or "--help" in tokens:
        out.stream("stdout", parser.format_help())
        return None
    return parser.parse_args(tokens)


def takes_rest(text: str) -> bool:
    """Whether the line magic ``%text`` takes the rest of the cell as its body."""
    _load()
    entry = MAGICS.get(text.strip().partition(" ")[0])
    return entry is not None and entry.rest


def run_line_magic(
    ctx: MagicContext, text: str, rest: str | None = None, rest_first_line: int = 0
) -> None:
    """Run ``%text`` (``text`` without the ``%``); ``rest`` is the cell below it for magics
    that take it (see :func:`takes_rest`). Unknown names run on the host in IPython."""
    _load()
    name, _, args = text.strip().partition(" ")
    entry = MAGICS.get(name)
    if entry is None:
        ctx.runner.host.run("%" + text.strip(), ctx.out)
        return
    if not entry.line:
        raise UsageError(f"%{name} is a cell magic: write %%{name} on the cell's first line")
    parsed = _parse(entry, args, False, ctx.out)
    if parsed is not None:
        parsed.body = rest
        parsed.body_first_line = rest_first_line
        entry.func(ctx, parsed)


def run_cell_magic(ctx: MagicContext, name: str, args: str, body: str, first_line: int) -> None:
    """Run ``%%name args`` with ``body`` (which starts at cell line ``first_line``); unknown
    names run on the host in IPython (``%%writefile`` writes a host file)."""
    _load()
    entry = MAGICS.get(name)
    if entry is None:
        heading = f"%%{name} {args}".rstrip()
        ctx.runner.host.run(f"{heading}\n{body}", ctx.out)
        return
    if not entry.cell:
        raise UsageError(f"%%{name} is a line magic: write %{name} (one %)")
    parsed = _parse(entry, args, True, ctx.out)
    if parsed is not None:
        parsed.body = body
        parsed.body_first_line = first_line
        entry.func(ctx, parsed)


def magic_names() -> list[str]:
    """All magic names, for completion."""
    _load()
    return sorted(MAGICS)


def _load() -> None:
    """Import the modules that register magics (importing twice is a no-op)."""
    from mpharness_kernel.magics import board, files, host, jmk  # noqa: F401


@magic("lsmagic", "List the magics with a one-line summary each.")
def _lsmagic(ctx: MagicContext, args: argparse.Namespace) -> None:
    _load()
    for entry in sorted(MAGICS.values(), key=lambda m: m.name):
        forms = " ".join(
            f for f, ok in ((f"%{entry.name}", entry.line), (f"%%{entry.name}", entry.cell)) if ok
        )
        ctx.print(f"{forms:<26} {entry.summary}")
    ctx.print(
        "\n`%NAME -h` shows the help of a magic. Other %magics, %%magics and !cmd lines run on"
        "\nthe host in IPython (%%writefile writes a host file; %sendtofile a board file)."
    )
