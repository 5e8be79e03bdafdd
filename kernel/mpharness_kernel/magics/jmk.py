"""jupyter_micropython_kernel's magics under their own names, so its notebooks run unchanged.

Theory of operation
-------------------
jupyter_micropython_kernel (jmk) reads ``%`` lines at the top of a cell; some of them take the
rest of the cell: ``%sendtofile NAME`` writes it to a board file, ``%capture FILE`` runs it and
saves what it printed. Those are registered with ``rest=True``. Connecting maps onto the
kernel's :class:`~mpharness_kernel.session.BoardSession` (leases, pinning by the test runner,
the previous board released); ``%serialconnect`` without a port takes the first serial port
found, as jmk does. ``%esptool`` flashes through :func:`mpharness.tools.flash.flash_board`, the
code behind ``mpharness flash``, after releasing the board; jmk's ``%esptool erase`` (then
``%esptool esp32 FILE``) becomes one flash with ``erase=True``, so a board is never left
without firmware. ``%readbytes``/``%writebytes``
poke the raw serial line in jmk; here the engine owns the line, so they fail with a message
naming the mpharness tool for the job.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
from typing import Any

from mpharness_kernel.boardfiles import BoardFiles, join
from mpharness_kernel.magics import MagicContext, MagicParser, magic
from mpharness_kernel.output import CellError, Output, UsageError

DEFAULT_WEBSOCKET_URL = "ws://192.168.4.1:8266"
DEFAULT_BAUD = 115200


def _connected(ctx: MagicContext, name: str | None, spec: Any = None) -> None:
    board, note = ctx.session.connect(name, spec)
    if note:
        ctx.print(note)
    ctx.print(f"Connected to {board.name} ({board.url}). Ready.")


def _serial_args(parser: MagicParser) -> None:
    parser.add_argument("portname", nargs="?", metavar="PORT", help="serial port or URL")
    parser.add_argument("--port", help="serial port (jmk's spelling)")
    parser.add_argument("--baud", type=int, default=DEFAULT_BAUD, help="line speed")
    parser.add_argument("--raw", action="store_true", help="accepted; the engine owns the line")
    parser.add_argument("--verbose", action="store_true", help="accepted for compatibility")


@magic(
    "serialconnect",
    "Connect to a board on a serial port (default: the first one found).",
    build=_serial_args,
)
def _serialconnect(ctx: MagicContext, args: argparse.Namespace) -> None:
    port = args.port or args.portname
    if port is None and ctx.session.pinned:
        _connected(ctx, None)
        return
    if port is None:
        from mpharness.transports.ports import list_serial_ports

        ports = list_serial_ports()
        if not ports:
            raise CellError("ConnectError", "%serialconnect: no serial port found; name one")
        port = ports[0].device
    spec = None
    if args.baud != DEFAULT_BAUD:
        import mpharness

        spec = dataclasses.replace(mpharness.resolve_board(port), baudrate=args.baud)
    _connected(ctx, port, spec)


def _socket_args(parser: MagicParser) -> None:
    parser.add_argument("ipnumber", help="host name or IP address")
    parser.add_argument("portnumber", type=int, help="TCP port")
    parser.add_argument("--raw", action="store_true", help="accepted for compatibility")


@magic("socketconnect", "Connect to a raw REPL on a TCP socket.", build=_socket_args)
def _socketconnect(ctx: MagicContext, args: argparse.Namespace) -> None:
    _connected(ctx, f"socket://{args.ipnumber}:{args.portnumber}")


def _websocket_args(parser: MagicParser) -> None:
    parser.add_argument(
        "websocketurl", nargs="?", default=DEFAULT_WEBSOCKET_URL, help="WebREPL URL"
    )
    parser.add_argument("--password", help="WebREPL password (masked in every output)")
    parser.add_argument("--raw", action="store_true", help="accepted for compatibility")
    parser.add_argument("--verbose", action="store_true", help="accepted for compatibility")


@magic("websocketconnect", "Connect to a board's WebREPL.", build=_websocket_args)
def _websocketconnect(ctx: MagicContext, args: argparse.Namespace) -> None:
    spec = None
    if args.password is not None:
        import mpharness

        ctx.session.add_secret(args.password)
        spec = dataclasses.replace(
            mpharness.resolve_board(args.websocketurl), password=args.password
        )
    _connected(ctx, args.websocketurl, spec)


def _disconnect_args(parser: MagicParser) -> None:
    parser.add_argument("--raw", action="store_true", help="accepted for compatibility")


@magic(
    "disconnect",
    "Close the board and release it for other sessions (connect again to go on).",
    build=_disconnect_args,
)
def _disconnect(ctx: MagicContext, args: argparse.Namespace) -> None:
    name = ctx.session.disconnect()
    ctx.print(f"Disconnected from {name}" if name else "No board was connected")


def _sendtofile_args(parser: MagicParser) -> None:
    parser.add_argument("destinationfilename", nargs="?", help="board file (or folder)")
    parser.add_argument("-a", "--append", action="store_true", help="append to the file")
    parser.add_argument("-d", "--mkdir", action="store_true", help="create missing folders")
    parser.add_argument("-b", "--binary", action="store_true", help="--source is binary")
    parser.add_argument("-x", "--execute", action="store_true", help="also run the cell")
    parser.add_argument("--source", help="host file or folder to send instead of the cell")
    parser.add_argument("-q", "--quiet", action="store_true", help="say less")
    parser.add_argument("-Q", "--QUIET", action="store_true", help="say nothing")


@magic(
    "sendtofile",
    "Write the rest of the cell (or --source FILE/DIR from the host) to a board file.",
    cell=True,
    build=_sendtofile_args,
    rest=True,
)
def _sendtofile(ctx: MagicContext, args: argparse.Namespace) -> None:
    files = BoardFiles(ctx.session)
    dest = args.destinationfilename
    if args.source is None:
        if not dest:
            raise UsageError("%sendtofile needs a DESTINATIONFILENAME (or --source)")
        body = args.body or ""
        _send(ctx, files, dest, body.encode("utf-8"), args)
        if args.execute and body.strip():
            value = ctx.runner.run_body(ctx, body, first_line=args.body_first_line)
            if value is not None:
                ctx.out.result({"text/plain": value})
        return
    if args.execute:
        raise UsageError("%sendtofile: --execute runs the cell, not a --source file")
    if os.path.isfile(args.source):
        if not dest or dest.endswith("/"):
            dest = (dest or "") + os.path.basename(args.source)
        with open(args.source, "rb") as handle:
            _send(ctx, files, dest, handle.read(), args)
        return
    if not os.path.isdir(args.source):
        raise CellError("FileNotFoundError", f"%sendtofile: no host file {args.source!r}")
    for folder, dirs, names in os.walk(args.source):
        dirs.sort()
        for name in sorted(names):
            full = os.path.join(folder, name)
            rel = os.path.relpath(full, args.source).replace(os.sep, "/")
            with open(full, "rb") as handle:
                _send(ctx, files, join(dest or "", rel), handle.read(), args, mkdir=True)


def _send(
    ctx: MagicContext,
    files: BoardFiles,
    path: str,
    data: bytes,
    args: argparse.Namespace,
    *,
    mkdir: bool = False,
) -> None:
    parent = path.rpartition("/")[0]
    if (args.mkdir or mkdir) and parent:
        files.mkdirs(parent)
    files.write(path, data, append=args.append)
    if not args.QUIET:
        verb = "appended" if args.append else "sent"
        ctx.print(f"{verb} {len(data)} bytes to {path}")


def _fetchfile_args(parser: MagicParser) -> None:
    parser.add_argument("sourcefilename", help="board file")
    parser.add_argument("destinationfilename", nargs="?", help="host file (default: its name)")
    parser.add_argument("-b", "--binary", action="store_true", help="accepted (bytes kept)")
    parser.add_argument("-p", "--print", action="store_true", help="show it instead of saving")
    parser.add_argument("-q", "--quiet", action="store_true", help="say less")
    parser.add_argument("-Q", "--QUIET", action="store_true", help="say nothing")


@magic(
    "fetchfile",
    "Copy a board file to the host (--print: show it instead).",
    build=_fetchfile_args,
)
def _fetchfile(ctx: MagicContext, args: argparse.Namespace) -> None:
    data = BoardFiles(ctx.session).read(args.sourcefilename)
    if args.print:
        text = data.decode("utf-8", "replace")
        ctx.out.stream("stdout", ctx.session.scrub(text if text.endswith("\n") else text + "\n"))
    if args.destinationfilename or not args.print:
        dest = args.destinationfilename or os.path.basename(args.sourcefilename.rstrip("/"))
        with open(dest, "wb") as handle:
            handle.write(data)
        if not args.QUIET:
            ctx.print(f"Saved {len(data)} bytes to {dest!r}")


def _ls_args(parser: MagicParser) -> None:
    parser.add_argument("dirname", nargs="?", default="", help="board folder (default: current)")
    parser.add_argument("-r", "--recurse", action="store_true", help="list sub-folders too")


@magic("ls", "List a board folder (jupyter_micropython_kernel's form of %rlist).", build=_ls_args)
def _ls(ctx: MagicContext, args: argparse.Namespace) -> None:
    files = BoardFiles(ctx.session)
    _list(ctx, files, args.dirname, args.recurse)


def _list(ctx: MagicContext, files: BoardFiles, path: str, deep: bool) -> None:
    for entry in sorted(files.ls(path), key=lambda e: (not e.is_dir, e.name)):
        full = join(path, entry.name)
        if entry.is_dir:
            ctx.print(f"{'<dir>':>9}  {full}/")
            if deep:
                _list(ctx, files, full, deep)
        else:
            ctx.print(f"{entry.size:>9}  {full}")


@magic("reboot", "Soft-reboot the board (as %softreset).")
def _reboot(ctx: MagicContext, args: argparse.Namespace) -> None:
    board = ctx.session.board()
    ctx.session.call(lambda: board.soft_reset(), board)
    ctx.print(f"rebooted {board.name}")


@magic("rebootdevice", "Soft-reboot the board (jupyter_micropython_kernel's older name).")
def _rebootdevice(ctx: MagicContext, args: argparse.Namespace) -> None:
    _reboot(ctx, args)


def _comment_args(parser: MagicParser) -> None:
    parser.add_argument("text", nargs="*", help="text to show")


@magic("comment", "Show the text in the cell's output.", build=_comment_args)
def _comment(ctx: MagicContext, args: argparse.Namespace) -> None:
    ctx.print(" ".join(args.text))


class _Tee:
    """An Output that also appends stdout text to a host file."""

    def __init__(self, out: Output, handle: Any, show: bool) -> None:
        self._out = out
        self._handle = handle
        self._show = show
        self.lines = 0

    def stream(self, name: str, text: str) -> None:
        if name == "stdout":
            self._handle.write(text)
            self.lines += text.count("\n")
        if self._show or name != "stdout":
            self._out.stream(name, text)

    def display(self, data: dict[str, Any], metadata: dict[str, Any] | None = None) -> None:
        self._out.display(data, metadata)

    def result(self, data: dict[str, Any]) -> None:
        self._out.result(data)


def _capture_args(parser: MagicParser) -> None:
    parser.add_argument("outputfilename", help="host file for what the cell prints")
    parser.add_argument("-q", "--quiet", action="store_true", help="show only the line count")
    parser.add_argument("-Q", "--QUIET", action="store_true", help="show only the line count")


@magic(
    "capture",
    "Run the rest of the cell and save what it prints in a host file.",
    build=_capture_args,
    rest=True,
)
def _capture(ctx: MagicContext, args: argparse.Namespace) -> None:
    quiet = args.quiet or args.QUIET
    with open(args.outputfilename, "w", encoding="utf-8") as handle:
        tee = _Tee(ctx.out, handle, show=not quiet)
        ctx.print(f"Writing output to file {args.outputfilename}")
        inner = type(ctx)(ctx.runner, tee, ctx.source, ctx.number)
        try:
            value = ctx.runner.run_body(inner, args.body or "", first_line=args.body_first_line)
        finally:
            handle.flush()
    if value is not None:
        ctx.out.result({"text/plain": value})
    if quiet:
        ctx.print(f"{tee.lines} lines captured.")


def _bytes_args(parser: MagicParser) -> None:
    parser.add_argument("rest", nargs="*", help="ignored")
    parser.add_argument("-b", "--binary", action="store_true", help="ignored")
    parser.add_argument("-v", "--verbose", action="store_true", help="ignored")


_RAW_LINE = (
    "mpharness owns the board's line (raw REPL, recovery, leases), so it cannot be poked from "
    "a cell; for a raw terminal close the kernel's board (%disconnect) and run "
    "`mpharness repl NAME` (or `mpharness pty NAME` to use other tools on it)"
)


@magic(
    "readbytes", "jmk's raw serial read: not offered (names the tool to use).", build=_bytes_args
)
def _readbytes(ctx: MagicContext, args: argparse.Namespace) -> None:
    raise CellError("NotSupported", f"%readbytes: {_RAW_LINE}")


@magic(
    "writebytes", "jmk's raw serial write: not offered (names the tool to use).", build=_bytes_args
)
def _writebytes(ctx: MagicContext, args: argparse.Namespace) -> None:
    raise CellError("NotSupported", f"%writebytes: {_RAW_LINE}")


def _esptool_args(parser: MagicParser) -> None:
    parser.add_argument("espcommand", choices=["erase", "esp32", "esp8266"], help="what to do")
    parser.add_argument("binfile", nargs="?", help="firmware file (esp32/esp8266)")
    parser.add_argument("--port", help="serial port (default: the current board)")
    parser.add_argument("--force", action="store_true", help="flash even if it runs that build")


@magic(
    "esptool",
    "Flash firmware onto the ESP board with esptool (as `mpharness flash`).",
    build=_esptool_args,
)
def _esptool(ctx: MagicContext, args: argparse.Namespace) -> None:
    from mpharness.errors import MPHarnessError
    from mpharness.tools.flash import flash_board

    if args.espcommand == "erase":
        ctx.session.pending_erase = True
        ctx.print(
            "the whole flash will be erased when %esptool esp32|esp8266 FIRMWARE writes the "
            "firmware (mpharness never leaves a board without firmware)"
        )
        return
    if not args.binfile:
        raise UsageError(
            f"%esptool {args.espcommand} needs the firmware file "
            "(download from https://micropython.org/download/)"
        )
    current = ctx.session.current_name
    target = args.port or current
    if target is None:
        raise UsageError("%esptool: no board; connect one or give --port")
    ctx.session.disconnect()  # flashing needs the board's lease and port
    erase, ctx.session.pending_erase = ctx.session.pending_erase, False
    try:
        result = flash_board(target, args.binfile, erase=erase, force=args.force or erase)
    except MPHarnessError as err:
        raise CellError(type(err).__name__, ctx.session.scrub(str(err))) from None
    finally:
        ctx.session.detached = False
        ctx.session.current = current
    if result.action == "skipped":
        ctx.print(f"{target} already runs this firmware ({result.before}): skipped")
    else:
        ctx.print(f"flashed {result.chip} on {result.port}; it reports {result.after}")
