"""Answers that arrive after the host asked again (slow links): a stale banner never ends a
soft reset, and a sync's token reply comes after every stale answer."""

from __future__ import annotations

import pytest

from mpharness.protocol import Noise, RawReplReady, RebootDone, State
from tests.protocol.helpers import BANNER, FEED_MODES, Driver, ready_machine


@pytest.mark.parametrize("mode", FEED_MODES)
def test_a_stale_banner_does_not_end_a_soft_reset(mode: str) -> None:
    driver = Driver(ready_machine(paste=True))
    driver.write(driver.machine.begin_soft_reset())
    driver.feed(BANNER, mode)  # the answer to an entry sequence sent twice
    assert driver.of_type(RebootDone) == []
    assert driver.machine.state is State.REBOOTING
    driver.feed(b"OK\r\nMPY: soft reboot\r\nboot!\r\n" + BANNER, mode)
    assert driver.of_type(RebootDone) == [RebootDone(b"boot!\r\n")]
    assert driver.machine.state is State.READY


@pytest.mark.parametrize("mode", FEED_MODES)
def test_sync_reads_stale_banners_as_noise(mode: str) -> None:
    driver = Driver(ready_machine(paste=None))
    code = driver.machine.begin_sync(b"mph123456789")
    assert b"mph123456789" not in code  # the code never holds the token itself
    assert code.endswith(b"\x04")
    driver.write(code)
    driver.feed(BANNER + BANNER + b"OKmph123456789\r\n\x04\x04>", mode)
    assert driver.of_type(RawReplReady) == [RawReplReady(b"")]
    noise = b"".join(e.data for e in driver.of_type(Noise))
    assert noise.count(b"raw REPL; CTRL-B to exit") == 2
    assert driver.machine.state is State.READY
    assert driver.machine.paste_supported is None  # a stale banner taught it nothing


def test_sync_waits_for_its_own_reply() -> None:
    machine = ready_machine(paste=True)
    machine.begin_sync(b"mph987654321")
    assert not [e for e in machine.receive(BANNER + b"OKmph98765") if isinstance(e, RawReplReady)]
    events = machine.receive(b"4321\n\x04\x04>")
    assert [e for e in events if isinstance(e, RawReplReady)] == [RawReplReady(b"")]
