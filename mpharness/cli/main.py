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
import time
from collections.abc import Sequence
from typing import TextIO

import mpharness
from mpharness.errors import (
    BoardBroken,
    BoardTimeout,
    ConfigError,
    MPHarnessError,
    RemoteError,
    TransportError,
)

EXIT_OK, EXIT_REMOTE, EXIT_USAGE, EXIT_TIMEOUT, EXIT_LINK, EXIT_BROKEN = 0, 1, 2, 3, 4, 5


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mpharness",
        description="Drive MicroPython boards: run code, open a REPL, sync files, list boards.",
    )
    parser.add_argument("--version", action="version", version=f"mpharness {mpharness.__version__}")
    parser.add_argument("--rig", action="append", metavar="PATH", help="rig file (repeatable)")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging")
    parser.add_argument(
        "--lease-wait",
        type=float,
        metavar="SECONDS",
        help="wait this long for a board another session holds "
        "(default: $MPHARNESS_LEASE_WAIT_S, else fail at once)",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("exec", help="run CODE on BOARD, print its output")
    p.add_argument("board", help="rig name or URL (unix, microbit, /dev/ttyACM0, ...)")
    p.add_argument("code")
    p.add_argument("--timeout", type=float, default=60.0, help="seconds (default 60)")
    p.add_argument("--no-reset", action="store_true", help="keep the interpreter state")

    p = sub.add_parser("run", help="run a local .py FILE on BOARD")
    p.add_argument("board")
    p.add_argument("file")
    p.add_argument("--timeout", type=float, default=None, help="seconds (default: no limit)")
    p.add_argument("--no-reset", action="store_true", help="keep the interpreter state")

    p = sub.add_parser("repl", help="interactive terminal on BOARD (Ctrl-] leaves)")
    p.add_argument("board")

    p = sub.add_parser("devices", help="list rig boards and attached serial ports")
    p.add_argument("--probe", action="store_true", help="ask the rig's boards what they run")
    p.add_argument(
        "--probe-all",
        action="store_true",
        help="with --probe, also open ports no rig board names (sends Ctrl-C to them)",
    )

    p = sub.add_parser("sync", help="copy DIR (default: the rig's resources) to BOARD by hash")
    p.add_argument("board")
    p.add_argument("dir", nargs="?", help="host directory (default: the rig entry's resources)")
    p.add_argument("--remote", default="/", help="board directory (default /)")
    p.add_argument("--delete", action="store_true", help="delete board files not in DIR")
    p.add_argument(
        "-u",
        "--upload-only",
        action="store_true",
        help="without DIR: keep board files that are not resources (IoT Kernel's %%rsync -u)",
    )
    p.add_argument("-n", "--dry-run", action="store_true", help="print the plan, change nothing")
    p.add_argument("--include", action="append", default=[], metavar="GLOB")
    p.add_argument("--exclude", action="append", default=[], metavar="GLOB")

    p = sub.add_parser("pty", help="expose BOARD on a pty so other tools (mpremote...) can use it")
    p.add_argument("board")
    p.add_argument("--link", metavar="PATH", help="also make a symlink, e.g. /tmp/ttyACM0")

    p = sub.add_parser("flash", help="write FIRMWARE to an ESP BOARD with esptool")
    p.add_argument("board")
    p.add_argument("firmware")
    p.add_argument("--erase", action="store_true", help="erase the whole flash first")
    p.add_argument("--force", action="store_true", help="flash even if it runs that build")
    p.add_argument("--address", type=lambda v: int(v, 0), help="flash offset (default: by chip)")

    p = sub.add_parser("serve", help="share BOARD on the network as an RFC 2217 port")
    p.add_argument("board")
    p.add_argument("--rfc2217", type=int, required=True, metavar="PORT", help="TCP port")
    p.add_argument("--bind", default="", metavar="HOST", help="address (default: all)")
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


def _run_code(args: argparse.Namespace, code: str) -> int:
    with _open(args, soft_reset=not args.no_reset) as board:
        try:
            board.exec(code, timeout=args.timeout, on_output=_stream)
        except RemoteError as err:
            sys.stdout.flush()
            sys.stderr.write(err.traceback or f"{err.exc_type}: {err.message}\n")
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
    return _run_code(args, code)


def _cmd_repl(args: argparse.Namespace) -> int:
    from mpharness.transports.terminal import run_terminal

    board = _open(args, soft_reset=False)
    with board:
        board._write(b"\x02")  # leave the raw REPL for the friendly one
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
        if args.dir is None:
            if board.spec is None or not board.spec.resources:
                raise ConfigError(f"board {args.board!r} declares no resources; name a DIR")
            try:
                plan = sync.plan_resource_sync(board, board.spec, delete=not args.upload_only)
            except FileNotFoundError as err:
                raise ConfigError(str(err)) from None
            sys.stdout.write(sync.format_changes(plan))
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
            sys.stdout.write(sync.format_plan(plan))
        if not args.dry_run:
            try:
                with _ProgressBar(sys.stderr) as bar:
                    sync.apply_sync(board, plan, progress=bar)
            except OSError as err:
                sys.stderr.write(f"mpharness: sync failed: {err}\n")
                return EXIT_REMOTE
    return EXIT_OK


class _ProgressBar:
    """A one-line progress bar on a terminal, shown once a transfer takes over 0.3 s."""

    def __init__(self, stream: TextIO, delay: float = 0.3) -> None:
        self.stream, self.delay = stream, delay
        self.start = time.monotonic()
        self.shown = False

    def __enter__(self) -> _ProgressBar:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.shown:
            self.stream.write("\n")
            self.stream.flush()

    def __call__(self, done: int, total: int) -> None:
        elapsed = time.monotonic() - self.start
        if elapsed < self.delay or total <= 0:
            return
        self.shown = True
        width = 30
        filled = width * done // total
        rate = done / elapsed / 1024
        line = f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} B {rate:.0f} KiB/s"
        self.stream.write(line)
        self.stream.flush()


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
    )
    if result.action == "skipped":
        sys.stdout.write(f"{args.board} already runs this firmware ({result.before}): skipped\n")
    else:
        sys.stdout.write(f"flashed {result.chip} on {result.port}; it reports {result.after}\n")
    return EXIT_OK


def _cmd_serve(args: argparse.Namespace) -> int:
    import socket

    from mpharness.tools.serve import serve_board

    def ready(url: str) -> None:
        if args.bind in ("", "0.0.0.0"):
            url = f"rfc2217://{socket.gethostname()}:{args.rfc2217}"
        sys.stdout.write(f"{args.board} is served at {url} (Ctrl-C stops)\n")
        sys.stdout.flush()

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
