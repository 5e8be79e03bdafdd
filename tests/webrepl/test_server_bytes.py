"""The virtual WebREPL server, byte for byte (protocols.md §6.2-6.6)."""

from __future__ import annotations

import base64
import hashlib
import os
import struct

from mpharness.virtual.webrepl_board import WebReplServer
from mpharness.virtual.webrepl_files import firmware_version
from tests.webrepl.conftest import PASSWORD

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def header(op: int, name: bytes = b"", size: int = 0) -> bytes:
    return struct.pack("<2sBBQLH64s", b"WA", op, 0, 0, size, len(name), name)


def test_upgrade_reply_and_password_prompt(raw) -> None:
    client = raw()
    key = base64.b64encode(os.urandom(16))
    head = client.upgrade(
        "Upgrade: websocket\r\nConnection: keep-alive, Upgrade\r\n"
        f"Sec-WebSocket-Key: {key.decode()}\r\n"
    )
    accept = base64.b64encode(hashlib.sha1(key + GUID).digest())
    assert head == (
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: " + accept + b"\r\n\r\n"
    )
    assert client.recv_exact(12) == b"\x81\x0aPassword: "


def test_header_names_are_case_sensitive(raw) -> None:
    client = raw()
    reply = client.upgrade(
        "upgrade: websocket\r\nconnection: Upgrade\r\nsec-websocket-key: dGhlIHNhbXBsZQ==\r\n"
    )
    assert reply == b"HTTP/1.0 200 OK\r\n\r\n"
    while not client.at_eof():
        pass
    assert client.buf.startswith(b'<base href="')
    assert b'<script src="webrepl_content.js"></script>' in client.buf


def test_plain_http_request_gets_the_page(raw) -> None:
    client = raw()
    reply = client.upgrade("Accept: text/html\r\n")
    assert reply.startswith(b"HTTP/1.0 200 OK") and client.at_eof()


def test_login_ok_greeting_exact(raw) -> None:
    client = raw()
    client.upgrade()
    assert client.recv_frame()[2] == b"Password: "
    client.send_frame(PASSWORD.encode() + b"\r", opcode=2)  # webrepl_cli sends it binary
    _, head, payload = client.recv_frame()
    assert head == b"\x81\x19" and payload == b"\r\nWebREPL connected\r\n>>> "


def test_wrong_password_denied_then_closed(raw, server: WebReplServer) -> None:
    client = raw()
    assert client.login("nope") == b"\r\nAccess denied\r\n"
    assert client.at_eof()
    assert server.wait_idle(5.0)


def test_password_typed_in_pieces_with_newline(raw) -> None:
    client = raw()
    client.upgrade()
    client.recv_frame()
    client.send_frame(PASSWORD[:3].encode(), mask=False)  # unmasked, like webrepl_cli
    client.send_frame(PASSWORD[3:].encode() + b"\n")
    assert client.recv_frame()[2] == b"\r\nWebREPL connected\r\n>>> "


def test_second_client_gets_101_then_close(raw) -> None:
    first = raw()
    assert first.login() == b"\r\nWebREPL connected\r\n>>> "
    second = raw()
    assert second.upgrade().startswith(b"HTTP/1.1 101 ")
    assert second.at_eof() and second.buf == b""  # no "Password: "


def test_repl_and_raw_paste_over_text_frames(raw) -> None:
    client = raw()
    client.login()
    client.send_frame(b"\r\x03\r\x01")
    client.read_text_until(b"raw REPL; CTRL-B to exit\r\n>")
    client.send_frame(b"print(123)\x04")
    out = client.read_text_until(b"\x04>")
    assert out.replace(b"\r\n", b"\n").endswith(b"OK123\n\x04\x04>")  # the unix port: \n
    client.send_frame(b"\x05A\x01")  # raw-paste: the window bytes are not UTF-8
    reply = b""
    while len(reply) < 5:
        reply += client.recv_frame()[2]
    assert reply == b"R\x01\x80\x00\x01"
    client.send_frame(b"print(7)\x04")  # code, then end of paste
    out = client.read_text_until(b"\x04>").replace(b"\r\n", b"\n")
    assert out.endswith(b"\x047\n\x04\x04>")
    client.send_frame(b"\x02")


def test_ping_ignored_close_answered(raw) -> None:
    client = raw()
    client.login()
    client.send_frame(b"hi", opcode=9)  # ping: no pong
    client.send_frame(b"\x03")
    client.send_frame(b"", opcode=8)
    frames = []
    while True:
        first, head, _ = client.recv_frame()
        frames.append(first)
        if first == 0x88:
            assert head == b"\x88\x00"
            break
    assert 0x8A not in frames
    assert client.at_eof()


def test_64_bit_length_closes(raw) -> None:
    client = raw()
    client.login()
    client.send_frame(b"x" * 65536)
    assert client.at_eof()


def test_get_ver(raw) -> None:
    client = raw()
    client.login()
    client.send_frame(header(3), opcode=2)
    head, payload = client.recv_binary()
    assert (head, payload) == (b"\x82\x03", bytes(firmware_version(None)))
    assert len(payload) == 3 and payload[0] == 1  # the unix port's MicroPython 1.x


def test_put_and_get_bytes_exact(raw, server: WebReplServer) -> None:
    data = bytes(range(256)) * 11 + b"\xff" * 184  # 3000 bytes
    client = raw()
    client.login()
    record = header(1, b"wr.bin", len(data))
    client.send_frame(record[:10], opcode=2, mask=False)  # as webrepl_cli: two frames
    client.send_frame(record[10:], opcode=2, mask=False)
    assert client.recv_binary() == (b"\x82\x04", b"WB\x00\x00")
    for start in range(0, len(data), 1024):
        client.send_frame(data[start : start + 1024], opcode=2)
    assert client.recv_binary()[1] == b"WB\x00\x00"
    with open(os.path.join(server.root_dir, "wr.bin"), "rb") as stream:
        assert stream.read() == data
    client.send_frame(header(2, b"/wr.bin"), opcode=2)
    assert client.recv_binary()[1] == b"WB\x00\x00"
    got, sizes = b"", []
    while True:
        client.send_frame(b"\x00", opcode=2)
        _, payload = client.recv_binary()
        (length,) = struct.unpack("<H", payload[:2])
        sizes.append(length)
        got += payload[2:]
        if length == 0:
            break
    assert sizes == [256] * 11 + [184, 0] and got == data
    assert client.recv_binary()[1] == b"WB\x00\x00"


def test_put_empty_file_replies_twice_at_once(raw, server: WebReplServer) -> None:
    client = raw()
    client.login()
    client.send_frame(header(1, b"empty.txt", 0), opcode=2)
    assert client.recv_binary()[1] == b"WB\x00\x00"
    assert client.recv_binary()[1] == b"WB\x00\x00"
    assert os.path.getsize(os.path.join(server.root_dir, "empty.txt")) == 0


def test_get_missing_file_drops_the_connection(raw, server: WebReplServer) -> None:
    client = raw()
    client.login()
    client.send_frame(header(2, b"no/such/file"), opcode=2)
    assert client.at_eof()
    assert server.wait_idle(5.0)
    again = raw()  # the server takes the next client
    assert again.login() == b"\r\nWebREPL connected\r\n>>> "
