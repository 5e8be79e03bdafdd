"""WebReplTransport (websocket-client) against the virtual WebREPL server."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator

import pytest

from mpharness.deadline import Deadline
from mpharness.errors import ConnectError, TransportClosed
from mpharness.transports import open_transport
from mpharness.transports.webrepl import WebReplTransport, open_webrepl
from mpharness.virtual.webrepl_board import WebReplServer
from mpharness.virtual.webrepl_files import firmware_version
from tests.webrepl.conftest import PASSWORD


@pytest.fixture
def link(server: WebReplServer) -> Iterator[WebReplTransport]:
    transport = open_webrepl(server.url, password=PASSWORD, timeout=5.0)
    yield transport
    transport.close()
    assert server.wait_idle(5.0)


def read_until(transport: WebReplTransport, marker: bytes, timeout: float = 5.0) -> bytes:
    deadline = Deadline.after(timeout)
    out = b""
    while marker not in out:
        data = transport.read(deadline)
        assert data or not deadline.expired(), f"no {marker!r} in {out!r}"
        out += data
    return out


def test_greeting_is_stripped_and_repl_works(link: WebReplTransport) -> None:
    assert b"WebREPL connected" not in link.read(Deadline.after(0.1))  # greeting stripped
    link.write(b"\r\x03\r\x01")
    read_until(link, b"raw REPL; CTRL-B to exit\r\n>")
    link.write(b"import sys;sys.stdout.buffer.write(b'<\\x80\\xff>')\x04")  # not UTF-8
    assert b"<\x80\xff>" in read_until(link, b"\x04>")
    link.write(b"\x02")


def test_read_returns_empty_at_deadline(link: WebReplTransport) -> None:
    while link.read(Deadline.after(0.3)):
        pass  # output the board printed for an earlier session may still arrive
    start = time.monotonic()
    assert link.read(Deadline.after(0.2)) == b""
    assert 0.15 < time.monotonic() - start < 2.0


def test_url_scheme_dispatch_and_default_port(server: WebReplServer) -> None:
    transport = open_transport(server.url, password=PASSWORD, timeout=5.0)
    try:
        assert isinstance(transport, WebReplTransport) and transport.can_reconnect
        assert not transport.can_hard_reset and transport.url == server.url
    finally:
        transport.close()
        assert server.wait_idle(5.0)
    with pytest.raises(ConnectError):  # nothing listens on 127.0.0.1:8266 here
        open_webrepl("ws://127.0.0.1", password="x", timeout=1.0)


def test_wrong_password_fails_fast(server: WebReplServer) -> None:
    start = time.monotonic()
    with pytest.raises(ConnectError, match=r"password refused by ws://127\.0\.0\.1") as info:
        open_webrepl(server.url, password="wrong-pw", timeout=10.0)
    assert time.monotonic() - start < 2.0
    assert "wrong-pw" not in str(info.value) and "wrong-pw" not in repr(info.value)
    assert server.wait_idle(5.0)


def test_no_password_names_key_and_env(server: WebReplServer) -> None:
    with pytest.raises(ConnectError) as info:
        open_webrepl(server.url, password=None)
    assert "'password'" in str(info.value) and "MPHARNESS_WEBREPL_PASSWORD" in str(info.value)


def test_password_never_logged_or_shown(
    server: WebReplServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    transport = open_webrepl(
        server.url.replace("ws://", f"ws://u:{PASSWORD}@"), password=PASSWORD, timeout=5.0
    )
    try:
        transport.write(b"\x03")
        seen = [repr(transport), str(transport), transport.url, repr(vars(transport))]
        transport.reconnect(Deadline.after(5.0))
    finally:
        transport.close()
    with pytest.raises(ConnectError) as info:
        open_webrepl(server.url, password=PASSWORD + "x", timeout=5.0)
    seen += [str(info.value), repr(info.value), repr(server), caplog.text]
    seen += [r.getMessage() + repr(r.args) for r in caplog.records]
    assert caplog.records  # the session did log
    assert not [text for text in seen if PASSWORD in text]


def test_second_client_refused(link: WebReplTransport, server: WebReplServer) -> None:
    start = time.monotonic()
    with pytest.raises(ConnectError, match="another WebREPL client"):
        open_webrepl(server.url, password=PASSWORD, timeout=5.0)
    assert time.monotonic() - start < 2.0
    link.write(b"\x03")  # the first session still works
    assert read_until(link, b">")


def test_put_get_all_byte_values(link: WebReplTransport, server: WebReplServer) -> None:
    data = bytes(range(256)) * 3
    link.put_file("/bytes.bin", data)
    with open(os.path.join(server.root_dir, "bytes.bin"), "rb") as stream:
        assert stream.read() == data
    assert link.get_file("bytes.bin") == data


def test_put_get_100k_with_progress(link: WebReplTransport) -> None:
    data = os.urandom(100 * 1024)
    sent: list[tuple[int, int]] = []
    got: list[int] = []
    link.put_file("/big.bin", data, progress=lambda n, total: sent.append((n, total)))
    assert link.get_file("/big.bin", progress=lambda n, _t: got.append(n)) == data
    assert sent[-1] == (len(data), len(data)) and sent == sorted(sent)
    assert got[-1] == len(data) and len(got) == len(data) // 256


def test_empty_file_and_version(link: WebReplTransport) -> None:
    link.put_file("/empty", b"")
    assert link.get_file("/empty") == b""
    assert link.get_version() == firmware_version(None)


def test_long_names_refused(link: WebReplTransport) -> None:
    link.put_file("/" + "n" * 62, b"ok")  # 63 bytes: fine
    with pytest.raises(ValueError, match="63 bytes"):
        link.put_file("/" + "n" * 63, b"x")
    with pytest.raises(ValueError):
        link.get_file("/é" * 32)


def test_get_missing_file_drops_then_reconnect(link: WebReplTransport) -> None:
    with pytest.raises(TransportClosed, match="missing file"):
        link.get_file("/not-there.txt", deadline=Deadline.after(5.0))
    with pytest.raises(TransportClosed):
        link.read(Deadline.after(0.1))
    link.reconnect(Deadline.after(5.0))
    link.write(b"\x03")
    assert read_until(link, b">")
