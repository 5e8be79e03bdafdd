# mpharness SSH agent: a CPython process that speaks MicroPython's raw-REPL framing on its
# stdin/stdout, so a Linux board (a Raspberry Pi's CPython) is driven like a MicroPython board.
# It runs on the remote host (Python >= 3.7, standard library only), started by
# mpharness/transports/ssh.py as `python3 -u -c "<loader>"`, which reads this file from stdin.
#
# Theory of operation: a reader thread takes stdin bytes as they arrive. While user code runs,
# Ctrl-C (0x03) becomes SIGINT on the main thread (KeyboardInterrupt, also out of sleep());
# every other byte is queued for the REPL loop in the main thread, which implements the raw REPL
# (banner, OK, 0x04 framing, raw-paste with window credits, Ctrl-D soft reset = fresh namespace
# and the modules user code imported forgotten) and a minimal friendly REPL for terminals.
# With MPHARNESS_AGENT_MICROPYTHON set it runs that unix-port MicroPython on a pty instead and
# only forwards bytes, restarting the interpreter (with "soft reboot" + banner) when it exits.
import builtins
import os
import signal
import struct
import sys
import threading
import traceback

CTRL_A, CTRL_B, CTRL_C, CTRL_D, CTRL_E = 1, 2, 3, 4, 5
EOT = b"\x04"
RAW_BANNER = b"raw REPL; CTRL-B to exit\r\n>"
SOFT_REBOOT = b"soft reboot\r\n"
WINDOW = 4096  # raw-paste window: bytes the host may send per credit
BACKSPACE = (8, 127)


def write(data):
    view = memoryview(data)
    while view:
        view = view[os.write(1, view):]


class Out:
    """sys.stdout/sys.stderr for user code: text with "\r\n" line ends, straight to fd 1."""

    encoding = "utf-8"
    errors = "replace"

    def write(self, text):
        write(text.replace("\n", "\r\n").encode("utf-8", "replace"))
        return len(text)

    def flush(self):
        pass

    def isatty(self):
        return False

    @property
    def buffer(self):
        return self

    def writelines(self, lines):
        for line in lines:
            self.write(line)


class Inbox:
    """Bytes from stdin for the REPL loop, and Ctrl-C delivery while code runs."""

    def __init__(self):
        self.cond = threading.Condition()
        self.data = bytearray()
        self.eof = False
        self.running = False
        self.main = threading.main_thread().ident

    def reader(self, stream):
        while True:
            chunk = stream.read1(65536) if hasattr(stream, "read1") else stream.read(1)
            with self.cond:
                if not chunk:
                    self.eof = True
                    self.cond.notify_all()
                    return
                if self.running and CTRL_C in chunk:
                    self.running = False
                    chunk = chunk[chunk.rindex(CTRL_C) + 1:]
                    signal.pthread_kill(self.main, signal.SIGINT)
                self.data += chunk
                self.cond.notify_all()

    def byte(self):
        with self.cond:
            while not self.data:
                if self.eof:
                    raise EOFError
                self.cond.wait()
            value = self.data[0]
            del self.data[0]
            return value

    def set_running(self, running):
        with self.cond:
            self.running = running


class Agent:
    def __init__(self, inbox):
        self.inbox = inbox
        self.baseline = set(sys.modules)
        self.path = list(sys.path)
        self.cwd = os.getcwd()
        self.ns = {}
        self.fresh()

    def fresh(self):
        # Forget modules loaded from the board directory, so new versions of files written there
        # are imported again; library modules stay (a C extension cannot be loaded twice).
        for name in set(sys.modules) - self.baseline:
            where = getattr(sys.modules[name], "__file__", None) or ""
            if where and os.path.abspath(where).startswith(self.cwd + os.sep):
                del sys.modules[name]
        sys.path[:] = self.path
        os.chdir(self.cwd)
        self.ns = {"__name__": "__main__", "__builtins__": builtins}

    # -- running code -----------------------------------------------------------------------
    def run(self, source, mode="exec"):
        """Compile and run; returns (error text, exited by SystemExit)."""
        try:
            code = compile(source, "<stdin>", mode)
        except (SyntaxError, ValueError) as exc:
            lines = traceback.format_exception_only(type(exc), exc)
            return "Traceback (most recent call last):\n" + "".join(lines), False
        try:
            self.inbox.set_running(True)
            try:
                exec(code, self.ns)
            finally:
                self.inbox.set_running(False)
        except SystemExit:
            return "", True
        except BaseException as exc:  # noqa: B036 - the board reports everything
            tb = exc.__traceback__.tb_next if exc.__traceback__ else None
            text = "".join(traceback.format_exception(type(exc), exc, tb, chain=False))
            if isinstance(exc, KeyboardInterrupt) and text.endswith("KeyboardInterrupt\n"):
                text = text[:-1] + ": \n"  # as MicroPython prints it
            return text, False
        finally:
            sys.stdout.flush()
        return "", False

    def reply(self, error, exited):
        write(EOT + error.replace("\n", "\r\n").encode("utf-8", "replace") + EOT)
        if exited:
            self.soft_reset(raw=True)
        else:
            write(b">")

    def soft_reset(self, raw):
        self.fresh()
        write(SOFT_REBOOT + (RAW_BANNER if raw else friendly_banner()))

    # -- raw REPL ---------------------------------------------------------------------------
    def raw_repl(self):
        """Serve the raw REPL; returns when Ctrl-B asks for the friendly REPL."""
        buf = bytearray()
        while True:
            b = self.inbox.byte()
            if b == CTRL_A:
                if len(buf) == 2 and buf[0] == CTRL_E:
                    self.paste(buf[1])
                else:
                    write(RAW_BANNER)
                buf.clear()
            elif b == CTRL_B:
                write(b"\r\n" + friendly_banner())
                return
            elif b == CTRL_C:
                buf.clear()
            elif b == CTRL_D:
                if not buf:
                    write(b"OK\r\n")
                    self.soft_reset(raw=True)
                    continue
                write(b"OK")
                self.reply(*self.run(bytes(buf)))
                buf.clear()
            else:
                buf.append(b)

    def paste(self, command):
        if command != ord("A"):
            write(b"R\x00>")
            return
        write(b"R\x01" + struct.pack("<H", WINDOW) + b"\x01")
        code, used = bytearray(), 0
        while True:
            b = self.inbox.byte()
            if b == CTRL_D:
                write(EOT)
                self.reply(*self.run(bytes(code)))
                return
            if b == CTRL_C:
                write(EOT + EOT + b"KeyboardInterrupt: \r\n" + EOT + b">")
                return
            code.append(b)
            used += 1
            if used == WINDOW:
                used = 0
                write(b"\x01")

    # -- friendly REPL (for terminals) ------------------------------------------------------
    def friendly_repl(self):
        """A line REPL with echo; returns when Ctrl-A asks for the raw REPL."""
        line = bytearray()
        while True:
            b = self.inbox.byte()
            if b == CTRL_A and not line:
                write(b"\r\n" + RAW_BANNER)
                return
            if b == CTRL_B and not line:
                write(b"\r\n" + friendly_banner())
            elif b == CTRL_C:
                line.clear()
                write(b"\r\n>>> ")
            elif b == CTRL_D and not line:
                write(b"\r\n")
                self.soft_reset(raw=False)
            elif b in BACKSPACE:
                if line:
                    del line[-1]
                    write(b"\b \b")
            elif b in (10, 13):
                write(b"\r\n")
                if line.strip():
                    error, exited = self.run(bytes(line), "single")
                    write(error.replace("\n", "\r\n").encode("utf-8", "replace"))
                    if exited:
                        self.soft_reset(raw=False)
                        line.clear()
                        continue
                line.clear()
                write(b">>> ")
            elif b >= 32:
                line.append(b)
                write(bytes([b]))


def friendly_banner():
    version = sys.version.split()[0]
    return ("CPython %s (mpharness agent) on %s\r\nType \"help()\" for more information.\r\n>>> "
            % (version, sys.platform)).encode()


# -- ?micropython: the unix port on a pty here, bytes forwarded, exit = soft reset -------------
def configure_tty(fd):
    import termios
    iflag, oflag, cflag, lflag, ispeed, ospeed, cc = termios.tcgetattr(fd)
    iflag &= ~(termios.IXON | termios.IXOFF | termios.ICRNL | termios.INLCR | termios.IGNCR
               | termios.ISTRIP | termios.BRKINT | termios.INPCK)
    oflag &= ~termios.OPOST
    lflag &= ~(termios.ECHO | termios.ECHOE | termios.ECHOK | termios.ECHONL | termios.ICANON
               | termios.IEXTEN)
    lflag |= termios.ISIG  # a 0x03 reaches running code as SIGINT
    cc = list(cc)
    cc[termios.VINTR] = b"\x03"
    for name in ("VQUIT", "VSUSP", "VSTART", "VSTOP", "VLNEXT", "VDISCARD"):
        cc[getattr(termios, name)] = b"\x00"
    cc[termios.VMIN], cc[termios.VTIME] = 1, 0
    termios.tcsetattr(fd, termios.TCSANOW, [iflag, oflag, cflag, lflag, ispeed, ospeed, cc])


class UnixPort:
    """One `micropython -i` on a pty, brought to its raw REPL."""

    START_TIMEOUT = 10.0

    def __init__(self, exe):
        import pty
        pid, master = pty.fork()
        if pid == 0:
            try:
                configure_tty(0)
                os.execvp(exe, [exe, "-i"])
            finally:
                os._exit(127)
        self.pid, self.master = pid, master
        self.expect(b">>> ")
        os.write(master, bytes([CTRL_A]))
        self.expect(RAW_BANNER)

    def expect(self, marker):
        import select
        import time
        seen, end = b"", time.monotonic() + self.START_TIMEOUT
        while marker not in seen:
            ready, _, _ = select.select([self.master], [], [], max(0.0, end - time.monotonic()))
            chunk = self.read() if ready else b""
            if not chunk:
                self.kill()
                raise RuntimeError("micropython did not start: %r" % seen[-400:])
            seen += chunk

    def read(self):
        try:
            return os.read(self.master, 65536)
        except OSError:  # EIO: the interpreter exited
            return b""

    def interrupt(self):
        """Ctrl-C: the pty raises SIGINT while ISIG is on; raw-paste turns it off, so signal."""
        import termios
        try:
            isig = termios.tcgetattr(self.master)[3] & termios.ISIG
        except termios.error:
            isig = True
        if not isig and sigint_caught(self.pid):
            os.kill(self.pid, signal.SIGINT)
            return True
        return False

    def kill(self):
        try:
            os.kill(self.pid, signal.SIGKILL)
        except OSError:
            pass
        try:
            os.waitpid(self.pid, 0)
        except OSError:
            pass
        os.close(self.master)


def sigint_caught(pid):
    try:
        with open("/proc/%d/status" % pid) as status:
            for line in status:
                if line.startswith("SigCgt:"):
                    return bool(int(line.split()[1], 16) & (1 << (signal.SIGINT - 1)))
    except (OSError, ValueError):
        pass
    return False


def serve_unix_port(exe, stdin_fd):
    """Forward stdin/stdout to the unix port; restart it (soft reboot) whenever it exits."""
    import select
    port = UnixPort(exe)
    write(RAW_BANNER)
    try:
        while True:
            ready, _, _ = select.select([stdin_fd, port.master], [], [])
            if port.master in ready:
                data = port.read()
                if data:
                    write(data)
                else:
                    port.kill()
                    port = UnixPort(exe)
                    write(SOFT_REBOOT + RAW_BANNER)
                    continue
            if stdin_fd in ready:
                data = os.read(stdin_fd, 65536)
                if not data:
                    return
                if data == bytes([CTRL_C]) and port.interrupt():
                    continue
                os.write(port.master, data)
    finally:
        port.kill()


def main():
    root = os.environ.get("MPHARNESS_AGENT_ROOT")
    if root:
        os.makedirs(root, exist_ok=True)
        os.chdir(root)
    unix_port = os.environ.get("MPHARNESS_AGENT_MICROPYTHON")
    if unix_port:
        try:
            serve_unix_port(unix_port, 0)
        except RuntimeError as exc:
            sys.stderr.write("%s\n" % exc)
            sys.exit(1)
        return
    sys.dont_write_bytecode = True  # keep the board directory as the host wrote it
    if "" not in sys.path:
        sys.path.insert(0, "")
    stdin = getattr(sys.stdin, "buffer", sys.stdin)
    sys.stdout = sys.stderr = Out()
    inbox = Inbox()
    threading.Thread(target=inbox.reader, args=(stdin,), daemon=True).start()
    agent = Agent(inbox)
    write(RAW_BANNER)
    try:
        while True:
            try:
                agent.raw_repl()
                agent.friendly_repl()
            except KeyboardInterrupt:  # a Ctrl-C that arrived as code ended: already answered
                pass
    except EOFError:
        pass


if __name__ == "__main__":
    main()
