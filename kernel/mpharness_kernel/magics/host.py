"""Host magics: ``%%host`` (IPython on the host), ``%store`` (board values kept on the host,
IoT Kernel's semantics, in IPython's store), ``%%bash``."""

from __future__ import annotations

import argparse
import ast
import os
import subprocess
from typing import Any

from mpharness_kernel.hostexec import STORE_PREFIX
from mpharness_kernel.magics import MagicContext, MagicParser, magic
from mpharness_kernel.output import CellError, UsageError


@magic(
    "host",
    "Run the cell on the host in IPython (magics, !cmd; plots shown).",
    cell=True,
    line=False,
)
def _host(ctx: MagicContext, args: argparse.Namespace) -> None:
    ctx.runner.host.run(args.body, ctx.out, first_line=args.body_first_line)


def _store_args(parser: MagicParser) -> None:
    parser.add_argument("names", nargs="*", metavar="NAME", help="board variables to store")
    parser.add_argument(
        "-r",
        "--refresh",
        nargs="*",
        metavar="NAME",
        default=None,
        help="copy stored values to the board (no NAME: all of them)",
    )
    parser.add_argument(
        "-d", "--delete", nargs="+", metavar="NAME", default=None, help="remove from the store"
    )
    parser.add_argument("-z", "--clear", action="store_true", help="empty the store")


@magic(
    "store",
    "Keep board variables in the host's store (IPython's %store, kept across kernel "
    "sessions); no NAME lists it, -r copies values back to the board.",
    build=_store_args,
)
def _store(ctx: MagicContext, args: argparse.Namespace) -> None:
    store = ctx.runner.host.store
    for name in [*args.names, *(args.refresh or []), *(args.delete or [])]:
        if not name.isidentifier():
            raise UsageError(f"%store: {name!r} is not a variable name")
    for name in args.delete or []:
        if STORE_PREFIX + name not in store.keys(STORE_PREFIX + "*"):
            raise CellError("KeyError", f"%store: no {name!r} in the store")
        del store[STORE_PREFIX + name]
    if args.clear:
        for key in store.keys(STORE_PREFIX + "*"):
            del store[key]
    if args.refresh is not None:
        names = args.refresh or sorted(
            k[len(STORE_PREFIX) :] for k in store.keys(STORE_PREFIX + "*")
        )
        for name in names:
            _to_board(ctx, store, name)
    for name in args.names:
        value = ctx.session.literal(f"print(repr({name}))")
        store[STORE_PREFIX + name] = value
        ctx.runner.host.ns[name] = value
        ctx.print(f"Stored {name!r} ({type(value).__name__})")
    if not (args.names or args.refresh is not None or args.delete or args.clear):
        keys = sorted(store.keys(STORE_PREFIX + "*"))
        if not keys:
            ctx.print("the store is empty")
        width = max((len(k) - len(STORE_PREFIX) for k in keys), default=0)
        for key in keys:
            ctx.print(f"{key[len(STORE_PREFIX) :]:<{width}} -> {repr(store[key])[:70]}")


def _to_board(ctx: MagicContext, store: Any, name: str) -> None:
    try:
        value = store[STORE_PREFIX + name]
    except KeyError:
        raise CellError("KeyError", f"%store -r: no {name!r} in the store") from None
    try:
        text = repr(value)
        ast.literal_eval(text)
    except (ValueError, SyntaxError):
        raise CellError(
            "TypeError", f"%store -r: {name} is a {type(value).__name__}, not a literal value"
        ) from None
    ctx.session.exec(f"{name} = {text}")


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
