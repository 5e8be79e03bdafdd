"""The ``mpharness`` command.

Exit codes (also in the README):
0 success; 1 the board code raised (traceback on stderr); 2 bad usage, rig file or board
name; 3 timeout; 4 connection or link failure; 5 board broken (recovery failed).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import textwrap
import time
from collections.abc import Sequence
from typing import Any

import mpharness
from mpharness.cli.progress import ProgressBar
from mpharness.cli.tracebacks import map_stdin_frames
from mpharness.errors import (
    BoardBroken,
    BoardTimeout,
    ConfigError,
    MPHarnessError,
    RemoteError,
    TransportError,
)
from mpharness.rigs.discovery import PROBE_TIMEOUT
from mpharness.tools.flash import FLASH_BACK_S

EXIT_OK, EXIT_REMOTE, EXIT_USAGE, EXIT_TIMEOUT, EXIT_LINK, EXIT_BROKEN = 0, 1, 2, 3, 4, 5


BOARD_HELP = (
    "the board: a rig name (from hil_rigs/*.yaml, --rig or $MPHARNESS_RIG), a built-in "
    "(unix, microbit, webrepl) or a port/URL (/dev/ttyACM0, COM3, rfc2217://host:4000, "
    "ws://host:8266, ssh://user@host, unix:, qemu:microbit)"
)
CODE_HELP = 'MicroPython source text to run, e.g. "import sys; print(sys.platform)"'
CONNECT_TIMEOUT_S = 15.0  #: open_board's budget for connecting and reaching the raw REPL
EXEC_TIMEOUT_S = 60.0  #: ``exec``'s default budget

SYNC_OP_TIMEOUT_S = 30.0  #: board.fs's budget for each exec of a file operation

_EPILOG = "\n\n".join(
    textwrap.fill(paragraph, width=78)
    for paragraph in (
        f"BOARD is {BOARD_HELP}.",
        f"CODE is {CODE_HELP}.",
        f"Timeouts: connecting and entering the raw REPL {CONNECT_TIMEOUT_S:g} s; exec "
        f"{EXEC_TIMEOUT_S:g} s (--timeout); run: none (--timeout); each file operation of sync "
        f"{SYNC_OP_TIMEOUT_S:g} s; devices --probe {PROBE_TIMEOUT:g} s per board; flash: "
        f"{FLASH_BACK_S:g} s for the board to answer after the reset; repl, pty and serve: "
        "none (until you stop them); a board another session holds: fail at once "
        "(--lease-wait, $MPHARNESS_LEASE_WAIT_S).",
        "Exit codes: 0 success; 1 the board code raised (traceback on stderr); 2 bad usage, "
        "rig file or board name; 3 timeout; 4 connection or link failure; 5 board broken "
        "(recovery failed).",
    )
)


def _board_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("board", metavar="BOARD", help=BOARD_HELP)


def _sub(sub: Any, name: str, text: str) -> argparse.ArgumentParser:
    """A subcommand with the shared options (also accepted after the subcommand)."""
    p = sub.add_parser(
        name,
        help=text,
        description=f"{text}. Connecting to BOARD and reaching its raw REPL may take up to "
        f"{CONNECT_TIMEOUT_S:g} s.",
    )
    p.add_argument(
        "--rig", action="append", dest="sub_rig", metavar="PATH", help="rig file (repeatable)"
    )
    p.add_argument(
        "--lease-wait",
        type=float,
        dest="sub_lease_wait",
        metavar="SECONDS",
        help="wait this long for a board another session holds (default: fail at once)",
    )
    return p


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mpharness",
        description="Drive MicroPython boards: run code, open a REPL, sync files, list boards.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"mpharness {mpharness.__version__}")
    parser.add_argument(
        "--rig",
        action="append",
        metavar="PATH",
        help="rig file, directory or glob (repeatable; default $MPHARNESS_RIG, else the "
        "project's hil_rigs/*.yaml)",
    )
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging")
    parser.add_argument(
        "--lease-wait",
        type=float,
        metavar="SECONDS",
        help="wait this long for a board another session holds "
        "(default: $MPHARNESS_LEASE_WAIT_S, else fail at once)",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = _sub(sub, "exec", "run CODE on BOARD and print its output")
    _board_arg(p)
    p.add_argument("code", metavar="CODE", help=CODE_HELP)
    p.add_argument(
        "--timeout",
        type=float,
        default=EXEC_TIMEOUT_S,
        metavar="SECONDS",
        help=f"budget for CODE; the board is interrupted after it (default {EXEC_TIMEOUT_S:g})",
    )
    p.add_argument("--no-reset", action="store_true", help="keep the interpreter state")

    p = _sub(sub, "run", "run a local Python FILE on BOARD and print its output")
    _board_arg(p)
    p.add_argument("file", metavar="FILE", help="host file with MicroPython code (UTF-8)")
    p.add_argument(
        "--timeout",
        type=float,
        default=None,
        metavar="SECONDS",
        help="budget for the program; the board is interrupted after it (default: no limit)",
    )
    p.add_argument("--no-reset", action="store_true", help="keep the interpreter state")

    p = _sub(sub, "repl", "interactive terminal on BOARD (Ctrl-] leaves)")
    _board_arg(p)

    p = _sub(sub, "devices", "list rig boards and attached serial ports")
    p.description = "list rig boards and attached serial ports"
    p.add_argument(
        "--probe",
        action="store_true",
        help="open the rig's boards and show what they run and a STATUS (reachable, not found, "
        f"busy, no answer...); {PROBE_TIMEOUT:g} s per board",
    )
    p.add_argument(
        "--probe-all",
        action="store_true",
        help="with --probe, also open ports no rig board names (sends Ctrl-C to them)",
    )

    p = _sub(
        sub,
        "sync",
        "copy DIR (default: the rig entry's resources) to BOARD by hash, then verify; each "
        f"file operation on the board may take up to {SYNC_OP_TIMEOUT_S:g} s",
    )
    _board_arg(p)
    p.add_argument(
        "dir", nargs="?", metavar="DIR", help="host directory (default: the rig entry's resources)"
    )
    p.add_argument("--remote", default="/", metavar="PATH", help="board directory (default /)")
    p.add_argument("--delete", action="store_true", help="delete board files not in DIR")
    p.add_argument(
        "-u",
        "--upload-only",
        action="store_true",
        help="without DIR: keep board files that are not resources (IoT Kernel's %%rsync -u)",
    )
    p.add_argument("-n", "--dry-run", action="store_true", help="print the plan, change nothing")
    p.add_argument(
        "--include", action="append", default=[], metavar="GLOB", help="copy only these files"
    )
    p.add_argument(
        "--exclude",
        action="append",
        default=[],
        metavar="GLOB",
        help="skip these (default: __pycache__, *.pyc, hidden files)",
    )

    p = _sub(sub, "pty", "expose BOARD on a pty so other tools (mpremote...) can use it")
    _board_arg(p)
    p.add_argument("--link", metavar="PATH", help="also make a symlink, e.g. /tmp/ttyACM0")

    p = _sub(
        sub,
        "flash",
        "write FIRMWARE to an ESP BOARD with esptool, then wait up to "
        f"{FLASH_BACK_S:g} s for it to answer with the new build",
    )
    _board_arg(p)
    p.add_argument("firmware", metavar="FIRMWARE", help="MicroPython firmware.bin")
    p.add_argument("--erase", action="store_true", help="erase the whole flash first")
    p.add_argument("--force", action="store_true", help="flash even if it runs that build")
    p.add_argument(
        "--address",
        type=lambda v: int(v, 0),
        metavar="OFFSET",
        help="flash offset, e.g. 0x1000 (default: the chip's usual one)",
    )

    p = _sub(sub, "serve", "share BOARD on the network as an RFC 2217 port")
    _board_arg(p)
    p.add_argument("--rfc2217", type=int, required=True, metavar="PORT", help="TCP port")
    p.add_argument(
        "--bind",
        default="127.0.0.1",
        metavar="HOST",
        help="address to listen on (default 127.0.0.1: this host only; 0.0.0.0 lets anyone on "
        "the network run code on the board, with no authentication)",
    )
    return parser


def _lease_wait(args: argparse.Namespace) -> float | None:
    """``--lease-wait``, or -1.0: the library default (the environment, else no wait)."""
    return -1.0 if args.lease_wait is None else args.lease_wait


def _open(args: argparse.Namespace, soft_reset: bool = True) -> mpharness.Board:
    return mpharness.open_board(
        args.board, rig=args.rig, soft_reset=soft_reset, lease_wait_s=_lease_wait(args)
    )


def _stream(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()


def _run_code(args: argparse.Namespace, code: str, path: str | None = None) -> int:
    """Run ``code``; a board traceback names ``path`` (the file it came from), if given.

    A ``SystemExit`` ends the command with the program's exit code, as a local Python would
    (``sys.exit(0)``/``sys.exit()``: success); where the board cannot report the code (boards
    without raw-paste) it is a failure that says the code is unknown.
    """
    with _open(args, soft_reset=not args.no_reset) as board:
        try:
            board.exec(code, timeout=args.timeout, on_output=_stream, exit_code=True)
        except RemoteError as err:
            sys.stdout.flush()
            if err.exc_type == "SystemExit" and err.exit_code is not None:
                return err.exit_code
            text = err.traceback or f"{err.exc_type}: {err.message}\n"
            if path is not None and err.traceback:
                text = map_stdin_frames(text, path, code.splitlines())
            sys.stderr.write(text)
            return EXIT_REMOTE
    return EXIT_OK


def _cmd_exec(args: argparse.Namespace) -> int:
    return _run_code(args, args.code)


def _cmd_run(args: argparse.Namespace) -> int:
    try:
        with open(args.file, encoding="utf-8") as f:
            code = f.read()
    except OSError as err:
        raise ConfigError(f"cannot read {args.file}: {err.strerror}") from err
    except UnicodeDecodeError as err:
        raise ConfigError(f"cannot read {args.file}: not UTF-8 text ({err.reason})") from err
    return _run_code(args, code, args.file)


def _cmd_repl(args: argparse.Namespace) -> int:
    from mpharness.transports.terminal import run_terminal

    board = _open(args, soft_reset=False)
    with board:
        board.leave_raw_repl()
        sys.stderr.write(f"Connected to {board.name} ({board.url}). Ctrl-] leaves.\n")
        run_terminal(board.transport)
    return EXIT_OK


def _cmd_devices(args: argparse.Namespace) -> int:
    from mpharness.rigs.discovery import format_devices, list_devices

    rows = list_devices(rig_paths=args.rig, probe=args.probe, probe_all=args.probe_all)
    sys.stdout.write(format_devices(rows))
    return EXIT_OK


def _cmd_sync(args: argparse.Namespace) -> int:
    from mpharness.files import sync

    with _open(args, soft_reset=False) as board:
        started = time.monotonic()  # planning (hashing on the board) is part of the sync
        if args.dir is None:
            if board.spec is None or not board.spec.resources:
                raise ConfigError(f"board {args.board!r} declares no resources; name a DIR")
            try:
                plan = sync.plan_resource_sync(board, board.spec, delete=not args.upload_only)
            except FileNotFoundError as err:
                raise ConfigError(str(err)) from None
        elif not os.path.isdir(args.dir):
            raise ConfigError(f"no such host directory: {args.dir}")
        else:
            plan = sync.plan_sync(
                board,
                args.dir,
                args.remote,
                delete=args.delete,
                include=args.include,
                exclude=args.exclude,
            )
        # resources: IoT Kernel's ADD/UPDATE/DELETE lines; a directory: the plan, then what was done
        resources = args.dir is None
        if args.dry_run:
            listing = sync.format_changes(plan) if resources else sync.format_plan(plan)
            sys.stdout.write(listing + "dry run: nothing was changed\n")
            return EXIT_OK
        try:
            with ProgressBar(sys.stderr, "sync") as bar:
                result = sync.apply_sync(board, plan, progress=bar)
        except OSError as err:
            sys.stderr.write(f"mpharness: sync failed: {err}\n")
            return EXIT_REMOTE
        done = sync.format_changes(plan) if resources else sync.format_done(plan)
        sys.stdout.write(done + result.summary(time.monotonic() - started) + "\n")
    return EXIT_OK


def _cmd_pty(args: argparse.Namespace) -> int:
    from mpharness.connect import resolve_board
    from mpharness.transports import open_transport
    from mpharness.virtual.pty_bridge import serve_pty

    spec = resolve_board(args.board, args.rig)
    transport = open_transport(spec.urls[0], baudrate=spec.baudrate)

    def ready(path: str) -> None:
        sys.stdout.write(f"{spec.name} is on {path} (Ctrl-C stops)\n")
        sys.stdout.flush()

    try:
        serve_pty(transport, args.link, ready)
    except KeyboardInterrupt:
        pass
    finally:
        transport.close()
    return EXIT_OK


def _cmd_flash(args: argparse.Namespace) -> int:
    from mpharness.tools.flash import flash_board

    result = flash_board(
        args.board,
        args.firmware,
        erase=args.erase,
        force=args.force,
        address=args.address,
        rig=args.rig,
        lease_wait_s=_lease_wait(args),
        quiet=not sys.stdout.isatty(),  # esptool draws its progress bar on a terminal only
    )
    if result.action == "skipped":
        sys.stdout.write(f"{args.board} already runs this firmware ({result.before}): skipped\n")
    else:
        sys.stdout.write(f"flashed {result.chip} on {result.port}; it reports {result.after}\n")
    return EXIT_OK


def _cmd_serve(args: argparse.Namespace) -> int:
    import socket

    from mpharness.tools.serve import exposure, serve_board

    def ready(url: str) -> None:
        if args.bind in ("", "0.0.0.0", "::"):
            url = f"rfc2217://{socket.gethostname()}:{args.rfc2217}"
        sys.stdout.write(f"{args.board} is served at {url} (Ctrl-C stops)\n")
        sys.stdout.flush()

    warning = exposure(args.bind, args.rfc2217, args.board)
    if warning is not None:
        sys.stderr.write(f"mpharness: WARNING: {warning}\n")
        sys.stderr.flush()

    serve_board(args.board, args.rfc2217, host=args.bind, rig=args.rig, on_ready=ready)
    return EXIT_OK


_COMMANDS = {
    "exec": _cmd_exec,
    "run": _cmd_run,
    "repl": _cmd_repl,
    "devices": _cmd_devices,
    "pty": _cmd_pty,
    "sync": _cmd_sync,
    "serve": _cmd_serve,
    "flash": _cmd_flash,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``mpharness`` console script."""
    args = _build_parser().parse_args(argv)
    # --rig and --lease-wait work before and after the subcommand
    args.rig = (args.rig or []) + (getattr(args, "sub_rig", None) or []) or None
    if getattr(args, "sub_lease_wait", None) is not None:
        args.lease_wait = args.sub_lease_wait
    level = logging.WARNING - 10 * min(args.verbose, 2)
    logging.basicConfig(level=level, format="mpharness: %(name)s: %(message)s")
    try:
        return _COMMANDS[args.command](args)
    except ConfigError as err:
        sys.stderr.write(f"mpharness: error: {err}\n")
        return EXIT_USAGE
    except BoardTimeout as err:  # the output was already streamed
        sys.stderr.write(f"mpharness: timeout: {err}\n")
        return EXIT_TIMEOUT
    except BoardBroken as err:
        sys.stderr.write(f"mpharness: board broken: {err}\n")
        return EXIT_BROKEN
    except TransportError as err:
        sys.stderr.write(f"mpharness: connection error: {err}\n")
        return EXIT_LINK
    except MPHarnessError as err:
        sys.stderr.write(f"mpharness: error: {type(err).__name__}: {err}\n")
        return EXIT_LINK
    except KeyboardInterrupt:
        sys.stderr.write("mpharness: interrupted\n")
        return 130


if __name__ == "__main__":
    sys.exit(main())
