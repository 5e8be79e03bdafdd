"""Host magics: ``%%host`` (Python on the host), ``%store`` (values board <-> host), ``%%bash``."""

from __future__ import annotations

import argparse
import os
import subprocess

from mpharness_kernel.magics import MagicContext, MagicParser, magic
from mpharness_kernel.output import CellError, UsageError


@magic(
    "host",
    "Run the cell on the host, in the kernel's Python namespace (plots shown).",
    cell=True,
    line=False,
)
def _host(ctx: MagicContext, args: argparse.Namespace) -> None:
    ctx.runner.host.run(args.body, ctx.out, first_line=args.body_first_line)


def _store_args(parser: MagicParser) -> None:
    parser.add_argument("names", nargs="+", metavar="NAME", help="variables to copy")
    parser.add_argument(
        "--to-board",
        action="store_true",
        help="copy host variables to the board (default: board to host)",
    )
    parser.add_argument(
        "--as", dest="alias", metavar="NEW", help="name at the destination (one NAME only)"
    )


@magic(
    "store",
    "Copy variables between board and host (literal values: numbers, strings, "
    "bytes, lists, tuples, dicts).",
    build=_store_args,
)
def _store(ctx: MagicContext, args: argparse.Namespace) -> None:
    if args.alias and len(args.names) != 1:
        raise UsageError("%store --as takes exactly one NAME")
    for name in args.names:
        if not name.isidentifier():
            raise UsageError(f"%store: {name!r} is not a variable name")
        target = args.alias or name
        if args.to_board:
            if name not in ctx.runner.host.ns:
                raise CellError("NameError", f"name {name!r} is not defined on the host")
            value = ctx.runner.host.ns[name]
            _check_literal(name, value)
            ctx.session.exec(f"{target} = {value!r}")
            ctx.print(f"{name} -> board {target}")
        else:
            ctx.runner.host.ns[target] = ctx.session.literal(f"print(repr({name}))")
            ctx.print(f"board {name} -> {target}")


def _check_literal(name: str, value: object) -> None:
    import ast

    try:
        ast.literal_eval(repr(value))
    except (ValueError, SyntaxError):
        raise CellError(
            "TypeError", f"{name} is a {type(value).__name__}, not a literal value"
        ) from None


@magic(
    "bash",
    "Run the cell as a bash script on the host (stdout and stderr stream into the cell).",
    cell=True,
    line=False,
)
def _bash(ctx: MagicContext, args: argparse.Namespace) -> None:
    proc = subprocess.Popen(
        ["bash", "-c", args.body],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        env=os.environ.copy(),
        start_new_session=True,
    )
    assert proc.stdout is not None
    try:
        for line in iter(proc.stdout.readline, b""):
            ctx.out.stream("stdout", ctx.session.scrub(line.decode("utf-8", "replace")))
        status = proc.wait()
    except KeyboardInterrupt:
        proc.terminate()
        proc.wait()
        raise
    finally:
        proc.stdout.close()
    if status != 0:
        raise CellError("CalledProcessError", f"bash exited with status {status}")
