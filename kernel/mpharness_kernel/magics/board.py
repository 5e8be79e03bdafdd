"""Board magics: connecting, discovery, resets, board facts, time, timeouts, package install."""

from __future__ import annotations

import argparse
import calendar
import time

from mpharness_kernel.devicecode import device_call
from mpharness_kernel.magics import MagicContext, MagicParser, magic
from mpharness_kernel.output import CellError, UsageError
from mpharness_kernel.session import parse_timeout

#: Budget in seconds for installing packages on the board (network downloads).
INSTALL_TIMEOUT = 300.0


#: ``%connect NAME serial|ws``: which of a board's URLs each word picks (IoT Kernel).
LINK_WORDS = ("serial", "ws")


def _connect_args(parser: MagicParser) -> None:
    parser.add_argument(
        "boards",
        nargs="*",
        metavar="NAME_OR_URL",
        help="rig name or URL (%%connect: several, run in turn); default: $MPHARNESS_DEVICE; "
        "%%connect NAME serial|ws picks the board's serial or WebREPL link",
    )
    parser.add_argument(
        "--host",
        action="store_true",
        help="%%connect only: also run the cell on the host (as %%host)",
    )
    parser.add_argument(
        "-a", "--all", action="store_true", help="%%connect only: run on every rig board"
    )


def _pick_link(name: str, word: str) -> object:
    """The spec of rig board ``name`` reduced to its serial or WebREPL URL."""
    import dataclasses

    import mpharness
    from mpharness.errors import MPHarnessError

    try:
        spec = mpharness.resolve_board(name)
    except MPHarnessError as err:
        raise CellError(type(err).__name__, str(err)) from None
    webrepl = [u for u in spec.urls if u.startswith(("ws://", "wss://"))]
    chosen = webrepl if word == "ws" else [u for u in spec.urls if u not in webrepl]
    if not chosen:
        raise UsageError(f"board {name!r} has no {word} link (its URLs: {', '.join(spec.urls)})")
    return dataclasses.replace(spec, urls=(chosen[0],))


@magic(
    "connect",
    "Connect to a board by rig name or URL (NAME serial|ws: pick its link); %%connect runs a "
    "cell on several boards in turn.",
    cell=True,
    build=_connect_args,
)
def _connect(ctx: MagicContext, args: argparse.Namespace) -> None:
    if args.body is None:
        if args.all:
            raise UsageError("--all is for %%connect (a cell run on every rig board)")
        spec = None
        if len(args.boards) == 2 and args.boards[1] in LINK_WORDS:
            spec = _pick_link(args.boards[0], args.boards[1])
            args.boards = args.boards[:1]
        if len(args.boards) > 1:
            raise UsageError("%connect takes one board; %%connect runs a cell on several")
        board, note = ctx.session.connect(args.boards[0] if args.boards else None, spec)
        if note:
            ctx.print(note)
        facts = ctx.session.describe(board)
        ctx.print(
            f"Connected to {board.name} ({board.url}): {facts.get('implementation', '?')} "
            f"{facts.get('version', '')} on {facts.get('platform', '?')}"
        )
        return
    _connect_cell(ctx, args)


def _connect_cell(ctx: MagicContext, args: argparse.Namespace) -> None:
    names = args.boards or [ctx.session.current_name]
    if args.all:
        from mpharness.rigs.rig import Rig

        names = [spec.name for spec in Rig.load()]
        if not names:
            raise UsageError("%%connect --all: the rig names no boards")
    if None in names:
        raise UsageError("%%connect needs board names (no default board is set)")
    failures: list[tuple[str, CellError]] = []
    previous = ctx.session.current
    already_open = set(ctx.session.boards)
    try:
        _run_on_each(ctx, args, names, failures, previous)
    finally:  # boards opened just for this cell are released again
        for name in names:
            if name not in already_open and name != ctx.session.current_name:
                ctx.session.drop(name)
    if args.host:
        ctx.print("--- host ---")
        ctx.runner.host.run(args.body, ctx.out, first_line=args.body_first_line)
    if len(failures) == 1 and len(names) == 1:
        raise failures[0][1]
    if failures:
        first = failures[0][1]
        which = ", ".join(f"{name} ({err.ename})" for name, err in failures)
        raise CellError(first.ename, f"failed on {which}", [f"failed on {which}"])


def _run_on_each(
    ctx: MagicContext,
    args: argparse.Namespace,
    names: list[str],
    failures: list[tuple[str, CellError]],
    previous: str | None,
) -> None:
    for name in names:
        ctx.print(f"--- {name} ---")
        try:
            ctx.session.get(name)
            ctx.session.current = name
            value = ctx.runner.run_body(ctx, args.body, first_line=args.body_first_line)
            if value is not None:
                ctx.out.display({"text/plain": value})
        except CellError as err:
            failures.append((name, err))
            if len(names) > 1:
                ctx.out.stream("stderr", "\n".join(err.traceback) + "\n")
        finally:
            ctx.session.current = previous


def _discover_args(parser: MagicParser) -> None:
    parser.add_argument(
        "-v",
        "--verbose",
        "--probe",
        dest="probe",
        action="store_true",
        help="open each rig board to read its firmware and uid (slow)",
    )
    parser.add_argument(
        "-a",
        "--all",
        action="store_true",
        help="with -v, also open serial ports no rig board names",
    )


@magic(
    "discover",
    "List rig boards, attached serial ports and the built-in virtual boards.",
    build=_discover_args,
)
def _discover(ctx: MagicContext, args: argparse.Namespace) -> None:
    from mpharness.errors import MPHarnessError
    from mpharness.rigs.discovery import DeviceRow, format_devices, list_devices
    from mpharness.rigs.rig import BUILTIN_BOARDS

    try:
        rows = list_devices(None, probe=args.probe, probe_all=args.all)
    except MPHarnessError as err:
        raise CellError(type(err).__name__, str(err)) from None
    named = {row.name for row in rows}
    rows += [
        DeviceRow(name, spec.urls[0], note=spec.description)
        for name, spec in BUILTIN_BOARDS.items()
        if name not in named
    ]
    ctx.print(format_devices(rows))


@magic("softreset", "Soft-reset the board (clean interpreter, boot.py runs).")
def _softreset(ctx: MagicContext, args: argparse.Namespace) -> None:
    board = ctx.session.board()
    boot = ctx.session.call(lambda: board.soft_reset(), board)
    ctx.print(f"soft reset {board.name}" + (f"\n{boot.rstrip()}" if boot.strip() else ""))


@magic("hardreset", "Hard-reset the board (reset line, or respawn of a virtual board).")
def _hardreset(ctx: MagicContext, args: argparse.Namespace) -> None:
    board = ctx.session.board()
    ctx.session.call(lambda: board.hard_reset(), board)
    ctx.print(f"hard reset {board.name}")


@magic("info", "Show the board's name, URL, firmware, platform and unique id.")
def _info(ctx: MagicContext, args: argparse.Namespace) -> None:
    board = ctx.session.board()
    facts = ctx.session.describe(board)
    try:
        facts["uid"] = ctx.session.literal(device_call("uid", "_mph_uid"), board=board)
    except CellError as err:
        facts["uid"] = f"(none: {err.ename})"
    for key, value in facts.items():
        ctx.print(f"{key:<15} {value}")


@magic("uid", "Show the board's machine.unique_id() as hex.")
def _uid(ctx: MagicContext, args: argparse.Namespace) -> None:
    ctx.print(str(ctx.session.literal(device_call("uid", "_mph_uid"))))


@magic("name", "Show the current board's name and URL.")
def _name(ctx: MagicContext, args: argparse.Namespace) -> None:
    board = ctx.session.board()
    ctx.print(f"{board.name} ({board.url})")


@magic("platform", "Show the board's sys.platform and firmware version.")
def _platform(ctx: MagicContext, args: argparse.Namespace) -> None:
    facts = ctx.session.describe(ctx.session.board())
    ctx.print(
        f"{facts.get('platform', '?')}: {facts.get('implementation', '?')} "
        f"{facts.get('version', '?')} ({facts.get('machine', '')})"
    )


def _stamp(t: tuple[int, ...]) -> str:
    return "{:04d}-{:02d}-{:02d} {:02d}:{:02d}:{:02d}".format(*t)


@magic("gettime", "Show the board's clock next to the host's.")
def _gettime(ctx: MagicContext, args: argparse.Namespace) -> None:
    board_time = tuple(ctx.session.literal(device_call("gettime", "_mph_gettime")))
    host_time = time.localtime()[:6]
    drift = calendar.timegm((*board_time, 0, 0, 0)) - calendar.timegm((*host_time, 0, 0, 0))
    ctx.print(f"board  {_stamp(board_time)}")
    ctx.print(f"host   {_stamp(host_time)}")
    ctx.print(f"board - host = {drift:+d} s")


@magic("synctime", "Set the board's RTC to the host's local time.")
def _synctime(ctx: MagicContext, args: argparse.Namespace) -> None:
    now = time.localtime()
    stamp = (now.tm_year, now.tm_mon, now.tm_mday, now.tm_wday, now.tm_hour, now.tm_min, now.tm_sec)
    ctx.session.exec(device_call("settime", "_mph_settime", stamp))
    ctx.print(f"board clock set to {_stamp(now[:6])}")


def _timeout_args(parser: MagicParser) -> None:
    parser.add_argument(
        "seconds",
        nargs="?",
        help="seconds a cell may run on the board (none/0: no limit); no value: show it",
    )


@magic(
    "timeout",
    "Show or set the per-cell board timeout; %%timeout sets it for one cell.",
    cell=True,
    build=_timeout_args,
)
def _timeout(ctx: MagicContext, args: argparse.Namespace) -> None:
    if args.seconds is None:
        if args.body is not None:
            raise UsageError("%%timeout needs SECONDS")
        current = ctx.session.cell_timeout
        ctx.print("no cell timeout" if current is None else f"cell timeout {current:g} s")
        return
    try:
        seconds = parse_timeout(args.seconds)
    except ValueError as err:
        raise UsageError(f"%timeout: {err}") from None
    if args.body is None:
        ctx.session.cell_timeout = seconds
        return
    value = ctx.runner.run_body(ctx, args.body, first_line=args.body_first_line, timeout=seconds)
    if value is not None:
        ctx.out.result({"text/plain": value})


def _install_args(parser: MagicParser) -> None:
    parser.add_argument("command", choices=["install"], help="what to do")
    parser.add_argument("packages", nargs="+", metavar="PACKAGE", help="packages to install")
    parser.add_argument("--target", help="board directory to install into")


def _install(ctx: MagicContext, args: argparse.Namespace, upip: bool) -> None:
    code = device_call("mip", "_mph_mip", list(args.packages), args.target, upip)
    ctx.session.exec(code, timeout=INSTALL_TIMEOUT, out=ctx.out)


@magic(
    "mip", "Install packages on the board with mip (the board needs network).", build=_install_args
)
def _mip(ctx: MagicContext, args: argparse.Namespace) -> None:
    _install(ctx, args, upip=False)


@magic(
    "upip",
    "Install packages on the board with upip (older firmware; needs network).",
    build=_install_args,
)
def _upip(ctx: MagicContext, args: argparse.Namespace) -> None:
    _install(ctx, args, upip=True)
