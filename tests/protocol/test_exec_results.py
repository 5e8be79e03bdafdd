"""Exec replies and soft resets (protocols.md §1.2, §2.3, §3.4, §5.1).

Each reply is played after a raw-paste ack (``\\x04``) and after a plain raw ``OK``, in both
line endings, fed whole, byte by byte and in random chunks, with and without background
output before the reply starts and after the prompt.
"""

from __future__ import annotations

import pytest

from mpharness.protocol import (
    ExecFinished,
    Noise,
    RebootDone,
    SoftRebootSeen,
    State,
    Stdout,
    parse_exception,
)

from .helpers import (
    BANNER,
    EOLS,
    FEED_MODES,
    MARKER,
    NOISE,
    NOISE_KINDS,
    PASTE_REQUEST,
    Driver,
    noise_bytes,
    ready_machine,
    render,
)

MODES = {"paste": True, "plain": False}


def _traceback(eol: bytes, exc_line: bytes, frame: bytes = b", in <module>") -> bytes:
    return (
        b"Traceback (most recent call last):"
        + eol
        + b'  File "<stdin>", line 2'
        + frame
        + eol
        + exc_line
        + eol
    )


def _start(paste: bool) -> tuple[Driver, list[object]]:
    """A driver that has sent a small exec; returns it and the reply's first device bytes."""
    driver = Driver(ready_machine(paste=paste))
    driver.write(driver.machine.begin_exec(b"print('hello')", MARKER))
    driver.flush()
    head = [b"R\x01\x80\x00\x01", NOISE, b"\x04"] if paste else [NOISE, b"OK"]
    return driver, head


def _play(paste: bool, body: bytes, eol: bytes, mode: str, noise_kind: str) -> Driver:
    driver, head = _start(paste)
    noise = noise_bytes(noise_kind, eol)
    driver.feed(render([*head, body, NOISE], noise), mode)
    return driver


def _results(eol: bytes) -> dict[str, tuple[bytes, ExecFinished]]:
    """name -> (device bytes after OK/ack, expected ExecFinished)."""
    zero = _traceback(eol, b"ZeroDivisionError: divide by zero")
    syntax = _traceback(eol, b"SyntaxError: invalid syntax", frame=b"")
    kbd = _traceback(eol, b"KeyboardInterrupt: ")
    return {
        "stdout": (
            b"hello" + eol + b"world" + eol + MARKER + eol + b"\x04\x04>",
            ExecFinished(b"hello" + eol + b"world" + eol, b"", True, False),
        ),
        "no output": (MARKER + eol + b"\x04\x04>", ExecFinished(b"", b"", True, False)),
        "no newline": (
            b"partial" + MARKER + eol + b"\x04\x04>",
            ExecFinished(b"partial", b"", True, False),
        ),
        "exception": (
            b"hello" + eol + b"\x04" + zero + b"\x04>",
            ExecFinished(b"hello" + eol, zero, False, False),
        ),
        "syntax error": (b"\x04" + syntax + b"\x04>", ExecFinished(b"", syntax, False, False)),
        "keyboard interrupt": (
            b"tick" + eol + b"\x04" + kbd + b"\x04>",
            ExecFinished(b"tick" + eol, kbd, False, False),
        ),
        "stderr text is stdout": (
            b"out" + eol + b"err" + eol + MARKER + eol + b"\x04\x04>",
            ExecFinished(b"out" + eol + b"err" + eol, b"", True, False),
        ),
    }


RESULT_CASES = list(_results(b"\r\n"))


@pytest.mark.parametrize("noise_kind", NOISE_KINDS)
@pytest.mark.parametrize("mode", FEED_MODES)
@pytest.mark.parametrize("eol_name", list(EOLS))
@pytest.mark.parametrize("paste", list(MODES.values()), ids=list(MODES))
@pytest.mark.parametrize("case", RESULT_CASES)
def test_exec_result(case: str, paste: bool, eol_name: str, mode: str, noise_kind: str) -> None:
    eol = EOLS[eol_name]
    body, expected = _results(eol)[case]
    driver = _play(paste, body, eol, mode, noise_kind)
    assert driver.finished() == expected
    assert driver.machine.state is State.READY
    noise = noise_bytes(noise_kind, eol)
    assert driver.noise() == noise * 2  # before the reply, and at the prompt afterwards
    if expected.error:
        exc = parse_exception(expected.error)
        assert exc.exc_type in ("ZeroDivisionError", "SyntaxError", "KeyboardInterrupt")


@pytest.mark.parametrize("mode", FEED_MODES)
def test_interrupt_during_a_running_exec(mode: str) -> None:
    """§5.1: Ctrl-C while code runs; the reply is a normal frame with KeyboardInterrupt."""
    driver, head = _start(paste=False)
    driver.feed(render(head), mode)
    assert driver.machine.state is State.REPLY
    sent = bytes(driver.sent)
    assert driver.machine.interrupt() == b"\x03"
    traceback = _traceback(b"\r\n", b"KeyboardInterrupt: ").replace(b"line 2", b"line 1")
    driver.feed(b"\x04" + traceback + b"\x04>", mode)
    result = driver.finished()
    assert result == ExecFinished(b"", traceback, False, False)
    assert driver.sent == sent  # the machine adds nothing of its own
    assert parse_exception(result.error).exc_type == "KeyboardInterrupt"


REBOOT_TEXTS = {
    "MPY": b"MPY: soft reboot\r\n",
    "PYB": b"PYB: soft reboot\r\n",
    "CircuitPython": b"soft reboot\r\n",
    "stm32": b"MPY: sync filesystems\r\nMPY: soft reboot\r\n",
    "unix-lf": b"MPY: soft reboot\n",
}


@pytest.mark.parametrize("mode", FEED_MODES)
@pytest.mark.parametrize("eol_name", list(EOLS))
@pytest.mark.parametrize("paste", list(MODES.values()), ids=list(MODES))
@pytest.mark.parametrize("reboot", list(REBOOT_TEXTS))
def test_system_exit_reboots(reboot: str, paste: bool, eol_name: str, mode: str) -> None:
    """``OK<stdout>\\x04\\x04`` with no prompt, then the reboot text, boot.py and the banner."""
    eol = EOLS[eol_name]
    boot = b"boot.py ran" + eol + b"wifi up" + eol
    body = b"bye" + eol + b"\x04\x04" + REBOOT_TEXTS[reboot] + boot + BANNER
    driver = _play(paste, body, eol, mode, "none")
    assert driver.finished() == ExecFinished(b"bye" + eol, b"", False, True, True)
    assert len(driver.of_type(SoftRebootSeen)) == 1
    done = driver.of_type(RebootDone)
    assert done == [RebootDone(boot)]
    kinds = [type(e) for e in driver.events if not isinstance(e, Noise)]
    assert kinds.index(SoftRebootSeen) > kinds.index(ExecFinished)
    assert driver.machine.state is State.READY


@pytest.mark.parametrize("mode", FEED_MODES)
@pytest.mark.parametrize("eol_name", list(EOLS))
def test_system_exit_on_old_firmware_returns_to_the_prompt(eol_name: str, mode: str) -> None:
    """Firmware before v1.14 (the micro:bit's 1.9.2) answers SystemExit with ``\\x04\\x04>``
    and stays at the raw prompt, without a reboot."""
    eol = EOLS[eol_name]
    driver = _play(False, b"bye" + eol + b"\x04\x04>", eol, mode, "tick")
    assert driver.finished() == ExecFinished(b"bye" + eol, b"", False, True, False)
    assert driver.machine.state is State.READY
    assert driver.of_type(RebootDone) == []


@pytest.mark.parametrize("mode", FEED_MODES)
def test_system_exit_without_reboot_line(mode: str) -> None:
    """Third-party firmware may print no reboot line: the banner itself confirms the exit."""
    driver = _play(True, b"\x04\x04logo!\r\n" + BANNER, b"\r\n", mode, "none")
    assert driver.finished() == ExecFinished(b"", b"", False, True, True)
    assert driver.of_type(RebootDone) == [RebootDone(b"logo!\r\n")]
    assert driver.machine.state is State.READY


def test_system_exit_waits_for_the_reboot_text() -> None:
    """``\\x04\\x04`` + other bytes is not yet an exit: a program may have printed it."""
    driver, head = _start(paste=True)
    driver.feed(render(head) + b"bye\r\n\x04\x04MPY: so")
    assert driver.of_type(ExecFinished) == []
    assert driver.of_type(Stdout) == [Stdout(b"bye\r\n")]
    driver.feed(b"ft reboot\r\n" + BANNER)
    assert driver.finished() == ExecFinished(b"bye\r\n", b"", False, True, True)
    assert driver.machine.state is State.READY


@pytest.mark.parametrize("noise_kind", ["none", "tick"])
@pytest.mark.parametrize("mode", FEED_MODES)
@pytest.mark.parametrize("eol_name", list(EOLS))
@pytest.mark.parametrize("reboot", list(REBOOT_TEXTS))
def test_soft_reset(reboot: str, eol_name: str, mode: str, noise_kind: str) -> None:
    """Ctrl-D at the empty raw prompt: ``OK\\r\\n``, reboot text, boot.py output, banner."""
    eol = EOLS[eol_name]
    noise = noise_bytes(noise_kind, eol)
    machine = ready_machine(paste=True)
    driver = Driver(machine)
    driver.write(machine.begin_soft_reset())
    assert driver.sent == b"\x04"
    assert machine.state is State.REBOOTING
    boot = b"boot.py ran" + eol
    phase = [NOISE, b"OK\r\n", REBOOT_TEXTS[reboot], boot, BANNER, NOISE]
    driver.feed(render(phase, noise), mode)
    seen = driver.of_type(SoftRebootSeen)
    assert len(seen) == 1
    assert seen[0].preamble.startswith(noise + b"OK\r\n")  # type: ignore[union-attr]
    assert driver.of_type(RebootDone) == [RebootDone(boot)]
    assert machine.state is State.READY
    assert driver.noise() == noise  # the output after the banner, at the prompt
    assert machine.paste_supported is True  # a soft reset does not change the firmware


@pytest.mark.parametrize("mode", FEED_MODES)
def test_soft_reset_without_boot_output(mode: str) -> None:
    machine = ready_machine()
    driver = Driver(machine)
    driver.write(machine.begin_soft_reset())
    driver.feed(b"OK\r\nMPY: soft reboot\r\n" + BANNER, mode)
    assert driver.of_type(RebootDone) == [RebootDone(b"")]
    assert machine.state is State.READY


@pytest.mark.parametrize("mode", FEED_MODES)
def test_exec_after_exec_and_after_reboot(mode: str) -> None:
    """The machine is reusable: exec, exec, SystemExit + reboot, exec."""
    driver = Driver(ready_machine(paste=True))
    for body in (b"1\r\n", b"2\r\n"):
        driver.events.clear()
        driver.write(driver.machine.begin_exec(b"print(1)", MARKER))
        driver.feed(b"R\x01\x80\x00\x01\x04" + body + MARKER + b"\r\n\x04\x04>", mode)
        assert driver.finished().stdout == body
    driver.events.clear()
    driver.write(driver.machine.begin_exec(b"raise SystemExit", MARKER))
    driver.feed(b"R\x01\x80\x00\x01\x04\x04\x04MPY: soft reboot\r\n" + BANNER, mode)
    assert driver.finished().rebooting
    assert driver.machine.state is State.READY
    driver.events.clear()
    driver.write(driver.machine.begin_exec(b"print(3)", MARKER))
    driver.feed(b"R\x01\x80\x00\x01\x04" + b"3\r\n" + MARKER + b"\r\n\x04\x04>", mode)
    assert driver.finished() == ExecFinished(b"3\r\n", b"", True, False)
    assert driver.sent.count(PASTE_REQUEST) == 4


@pytest.mark.parametrize("mode", FEED_MODES)
@pytest.mark.parametrize("paste", list(MODES.values()), ids=list(MODES))
@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b"\x04\x04>", ExecFinished(b"", b"", True, False)),
        (b"x\r\n\x04\x04>", ExecFinished(b"x\r\n", b"", True, False)),
        (b"\x04E: e\r\n\x04>", ExecFinished(b"", b"E: e\r\n", False, False)),
    ],
    ids=["empty", "output", "error"],
)
def test_helper_exec_without_marker(
    body: bytes, expected: ExecFinished, paste: bool, mode: str
) -> None:
    """An empty marker: the engine's own helper code, which prints nothing; the first frame
    ends the reply."""
    driver = Driver(ready_machine(paste=paste))
    driver.write(driver.machine.begin_exec(b"pass", b""))
    driver.flush()
    head = b"R\x01\x80\x00\x01\x04" if paste else b"OK"
    driver.feed(head + body, mode)
    result = driver.of_type(ExecFinished)
    assert result == [expected]
    assert driver.machine.state is State.READY


@pytest.mark.parametrize("mode", FEED_MODES)
@pytest.mark.parametrize("eol_name", list(EOLS))
@pytest.mark.parametrize("where", ["after the line", "inside the line"])
def test_background_output_after_the_marker(where: str, eol_name: str, mode: str) -> None:
    """A timer callback may print after the marker, before the device ends the frame. The run
    still completed (only the code itself can print the marker); the extra text is kept."""
    eol = EOLS[eol_name]
    tick = b"tick" + eol
    tail = MARKER + eol + tick if where == "after the line" else MARKER + tick + eol
    driver = _play(True, b"hello" + eol + tail + b"\x04\x04>", eol, mode, "none")
    assert driver.finished() == ExecFinished(b"hello" + eol + tick, b"", True, False)
    assert driver.machine.state is State.READY


@pytest.mark.parametrize("mode", FEED_MODES)
@pytest.mark.parametrize("eol_name", list(EOLS))
@pytest.mark.parametrize("where", ["in the error section", "before the prompt", "both"])
def test_background_output_inside_the_end_frame(where: str, eol_name: str, mode: str) -> None:
    """A thread may print between the two ``\\x04`` or between the second and the prompt (seen
    on the unix board). The marker came, so the code ended normally: the text is stdout, not
    an error, and not a SystemExit reboot."""
    eol = EOLS[eol_name]
    tick = b"~" + eol
    in_error = tick if where != "before the prompt" else b""
    before_prompt = tick if where != "in the error section" else b""
    frame = b"\x04" + in_error + b"\x04" + before_prompt + b">"
    driver = _play(True, b"42" + eol + MARKER + eol + frame, eol, mode, "none")
    extra = in_error + before_prompt
    assert driver.finished() == ExecFinished(b"42" + eol + extra, b"", True, False)
    assert driver.machine.state is State.READY


@pytest.mark.parametrize("mode", FEED_MODES)
def test_interrupt_after_the_marker_stays_an_error(mode: str) -> None:
    """A KeyboardInterrupt traceback after the marker is the device's error, not background."""
    error = b"Traceback (most recent call last):\r\nKeyboardInterrupt: \r\n"
    driver = _play(True, b"1\r\n" + MARKER + b"\r\n\x04" + error + b"\x04>", b"\r\n", mode, "none")
    assert driver.finished() == ExecFinished(b"1\r\n", error, True, False)
