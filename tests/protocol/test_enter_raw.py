"""Entering the raw REPL from every state a device can be in (protocols.md §1.2, §3.1, §3.6).

The session writes Ctrl-C first (recovery), then what ``enter_raw`` returns (``\\r`` Ctrl-A).
The transcripts below are what the device sends back for both, from each starting state.
"""

from __future__ import annotations

import pytest

from mpharness.protocol import Noise, RawReplMachine, RawReplReady, State

from .helpers import BANNER, EOLS, FEED_MODES, NOISE, NOISE_KINDS, Driver, noise_bytes, render


def _friendly_banner(eol: bytes) -> bytes:
    return (
        b"MicroPython v1.23.0 on 2024-06-02; Generic ESP32 module with ESP32"
        + eol
        + b'Type "help()" for more information.'
        + eol
        + b">>> "
    )


def _transcripts(eol: bytes) -> dict[str, list[object]]:
    interrupted = (
        b"Traceback (most recent call last):"
        + eol
        + b'  File "main.py", line 4, in <module>'
        + eol
        + b"KeyboardInterrupt: "
        + eol
    )
    return {
        # \r\x03 then \r\x01 at an empty friendly line: two prompts, one more, then the banner
        "friendly prompt": [b"\r\n>>> \r\n>>> ", NOISE, b"\r\n>>> \r\n", BANNER],
        # already in the raw REPL: Ctrl-C clears silently, Ctrl-A re-banners without \r\n
        "raw prompt": [NOISE, BANNER],
        "running program": [
            b"tick" + eol + b"tick" + eol,
            interrupted,
            _friendly_banner(eol),
            NOISE,
            b"\r\n>>> \r\n",
            BANNER,
        ],
        "paste mode": [
            b"\r\npaste mode; Ctrl-C to cancel, Ctrl-D to finish\r\n=== for i in range(3):",
            b"\r\n===     print(i)\r\n>>> ",
            NOISE,
            b"\r\n>>> \r\n",
            BANNER,
        ],
        # the host died mid raw-paste: Ctrl-C aborts the transfer, then Ctrl-A re-banners
        "raw-paste mid-transfer": [b"\x01\x04\x04KeyboardInterrupt: " + eol + b"\x04>", BANNER],
        "after hard reset": [
            NOISE,
            b"rst:0x1 (POWERON_RESET),boot:0x13 (SPI_FAST_FLASH_BOOT)\r\n",
            _friendly_banner(eol),
            b"\r\n>>> \r\n",
            BANNER,
        ],
        # a half banner printed earlier (a truncated previous attempt) must not confuse it
        "stale partial banner": [b"raw REPL; CTRL-B to e", NOISE, b"\r\n>>> \r\n", BANNER],
    }


CASES = list(_transcripts(b"\r\n"))


@pytest.mark.parametrize("noise_kind", NOISE_KINDS)
@pytest.mark.parametrize("mode", FEED_MODES)
@pytest.mark.parametrize("eol_name", list(EOLS))
@pytest.mark.parametrize("case", CASES)
def test_enter_raw_from_any_state(case: str, eol_name: str, mode: str, noise_kind: str) -> None:
    eol = EOLS[eol_name]
    phase = _transcripts(eol)[case]
    noise = noise_bytes(noise_kind, eol, banner_phase=True)
    driver = Driver()
    assert driver.machine.enter_raw() == b"\r\x01"
    assert driver.machine.state is State.ENTERING
    data = render(phase, noise)
    driver.feed(data, mode)
    ready = driver.of_type(RawReplReady)
    assert len(ready) == 1
    assert driver.machine.state is State.READY
    # nothing is lost: every byte before the banner is reported, as noise or preamble
    before = data[: data.rindex(BANNER)]
    assert driver.noise() + ready[0].preamble == before  # type: ignore[union-attr]
    assert driver.sent == b""


@pytest.mark.parametrize("mode", FEED_MODES)
def test_output_after_banner_is_noise_at_the_prompt(mode: str) -> None:
    driver = Driver()
    driver.machine.enter_raw()
    driver.feed(BANNER + b"tick\r\n", mode)
    assert driver.machine.state is State.READY
    after = [e for e in driver.events if isinstance(e, Noise)]
    assert b"".join(e.data for e in after) == b"tick\r\n"


def test_no_banner_keeps_waiting_and_spills_noise() -> None:
    machine = RawReplMachine()
    machine.enter_raw()
    events = machine.receive(b">>> " * 50)
    assert machine.state is State.ENTERING
    assert not any(isinstance(e, RawReplReady) for e in events)
    spilled = b"".join(e.data for e in events if isinstance(e, Noise))
    # all but the bytes that could still start a banner have been reported
    assert len(spilled) >= 200 - len(BANNER)
    assert machine.receive(BANNER) and machine.state is State.READY


def test_bytes_before_enter_raw_are_noise() -> None:
    machine = RawReplMachine()
    assert machine.state is State.UNKNOWN
    events = machine.receive(b"anything " + BANNER)
    assert events == [Noise(b"anything " + BANNER)]
    assert machine.state is State.UNKNOWN


def test_forget_returns_to_unknown_and_drops_partial_input() -> None:
    machine = RawReplMachine()
    machine.enter_raw()
    machine.receive(BANNER[:10])
    machine.forget()
    assert machine.state is State.UNKNOWN
    machine.enter_raw()
    assert machine.receive(BANNER[10:]) == []
    assert machine.state is State.ENTERING
