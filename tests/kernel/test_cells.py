"""Host-side cell handling: magic splitting, the last-expression rewrite, output frames."""

from __future__ import annotations

import ast

import pytest
from mpharness_kernel.cells import (
    OutputDemux,
    cell_magic,
    display_bundle,
    format_board_traceback,
    rewrite_last_expression,
    split_segments,
)


def _run_rewritten(code: str) -> list[str]:
    """Execute rewritten code on the host and collect what it prints."""
    printed: list[str] = []
    namespace = {"print": lambda *a, **k: printed.append(" ".join(map(str, a)))}
    exec(compile(code, "<test>", "exec"), namespace)
    return printed


@pytest.mark.parametrize(
    ("code", "value"),
    [
        ("x = 2\nx * 21", "42"),
        ("a = 1; a + 1", "2"),
        ("max(\n  1,\n  3)  # trailing comment", "3"),
        ("'é' * 2", "'éé'"),
        ("é = 5\né", "5"),
    ],
)
def test_last_expression_prints_a_value_frame(code: str, value: str) -> None:
    rewritten, wrapped = rewrite_last_expression(code)
    assert wrapped
    assert rewritten.count("\n") == code.count("\n"), "line numbers must not move"
    assert _run_rewritten(rewritten)[-1] == "\x1e=" + value + "\x1f"


@pytest.mark.parametrize("code", ["x = 1", "x;", "def f():\n    return 1", "", "if (:", "print(1)"])
def test_no_value_frame_without_final_expression(code: str) -> None:
    assert rewrite_last_expression(code) == (code, False)


def test_segments_keep_cell_line_numbers() -> None:
    cell = "%timeout 1\nx = 1\n%info\ns = '''\n%not_a_magic\n'''\ny"
    segments = split_segments(cell)
    assert [(s.kind, s.first_line) for s in segments] == [
        ("magic", 1),
        ("code", 2),
        ("magic", 3),
        ("code", 4),
    ]
    assert segments[0].text == "timeout 1"
    assert "%not_a_magic" in segments[3].text


def test_cell_magic_heading() -> None:
    magic = cell_magic("\n%%connect unix microbit --host\nprint(1)\n")
    assert magic is not None
    assert (magic.name, magic.args, magic.body_first_line) == ("connect", "unix microbit --host", 3)
    assert magic.body.strip() == "print(1)"
    assert cell_magic("x = 1\n%%host") is None


KEY = "0123456789abcdef"


def _demux(chunks: list[str], expect_value: bool = True) -> tuple[list[object], str | None]:
    events: list[object] = []
    demux = OutputDemux(events.append, events.append, expect_value=expect_value, display_key=KEY)
    for chunk in chunks:
        demux.feed(chunk)
    return events, demux.finish()


def test_demux_separates_text_display_and_value_across_chunk_boundaries() -> None:
    stream = f'a\n\x1e!{KEY} application/json {{"k": [1, 2]}}\x1f\nb\n\x1e=42\x1f\n'
    chunked = [stream[i : i + 3] for i in range(0, len(stream), 3)]
    events, value = _demux(chunked)
    assert "".join(e for e in events if isinstance(e, str)) == "a\nb\n"
    bundles = [e for e in events if isinstance(e, dict)]
    assert bundles == [
        {"application/json": {"k": [1, 2]}, "text/plain": "<application/json from the board>"}
    ]
    assert value == "42"


@pytest.mark.parametrize(
    "forged",
    [
        "\x1e!text/html <img src=x onerror=alert(1)>\x1f",  # the issue's frame, no key
        "\x1e!fedcba9876543210 text/html <script>alert(1)</script>\x1f",  # a wrong key
        f"\x1e!{KEY[:-1]} text/html <b>x</b>\x1f",  # a prefix of the key
        f"\x1e!{KEY}text/html <b>x</b>\x1f",  # the key run into the MIME type
    ],
)
def test_display_frames_without_the_session_key_are_plain_text(forged: str) -> None:
    events, _ = _demux(["before\n", forged, "\nafter\n"], expect_value=False)
    assert all(isinstance(e, str) for e in events), "a forged frame became rich output"
    assert "".join(map(str, events)) == "before\n" + forged + "\nafter\n"


def test_a_malformed_keyed_frame_is_text_without_the_key() -> None:
    events, _ = _demux([f"\x1e!{KEY} application/json {{bad\x1f"], expect_value=False)
    assert "".join(map(str, events)) == "\x1e!application/json {bad\x1f"


def test_no_display_frames_without_a_key() -> None:
    events: list[object] = []
    demux = OutputDemux(events.append, events.append)
    demux.feed(f"\x1e!{KEY} text/html <b>x</b>\x1f")
    demux.finish()
    assert all(isinstance(e, str) for e in events)


@pytest.mark.parametrize(
    "frame",
    [
        "\x1e?Password: \x1f",  # an input request without the key
        "\x1e!#dev#text/html <script>x</script>\x1f",  # a live display without the key
        "\x1e!x-mpharness/clear 0\x1f",  # a clear_output without the key
    ],
)
def test_input_live_and_clear_frames_need_the_key(frame: str) -> None:
    events: list[object] = []
    asked: list[str] = []
    live: list[object] = []
    demux = OutputDemux(
        events.append,
        events.append,
        display_key=KEY,
        on_input=asked.append,
        on_live=lambda *args: live.append(args),
    )
    demux.feed(frame)
    demux.finish()
    assert asked == [] and live == []
    assert "".join(map(str, events)) == frame


def test_keyed_input_and_live_frames_reach_their_handlers() -> None:
    asked: list[str] = []
    live: list[object] = []
    demux = OutputDemux(
        lambda _t: None,
        lambda _b: None,
        display_key=KEY,
        on_input=asked.append,
        on_live=lambda *args: live.append(args),
    )
    demux.feed(f"\x1e?{KEY} Name: \x1f\x1e!{KEY} #d1#text/plain hi\x1f\n")
    demux.finish()
    assert asked == ["Name: "]
    assert live == [({"text/plain": "hi"}, "d1", False)]


def test_value_frame_followed_by_output_is_output() -> None:
    events, value = _demux(["\x1e=1\x1f\nmore\n"])
    assert value is None
    assert "".join(map(str, events)) == "\x1e=1\x1f\nmore\n"


def test_value_frames_are_text_when_no_value_is_expected() -> None:
    events, value = _demux(["\x1e=1\x1f\n"], expect_value=False)
    assert value is None and "".join(map(str, events)) == "\x1e=1\x1f" + "\n"


def test_unterminated_frame_is_released_as_text_at_the_end() -> None:
    events, value = _demux(["x\x1eoops"])
    assert "".join(map(str, events)) == "x\x1eoops" and value is None


def test_display_bundles() -> None:
    png = display_bundle("image/png iVBO\nRw==")
    assert png is not None and png["image/png"] == "iVBORw=="
    assert display_bundle("text/html <b>x</b>") == {
        "text/html": "<b>x</b>",
        "text/plain": "<text/html from the board>",
    }
    assert display_bundle("nomime payload") is None
    assert display_bundle("application/json {bad") is None


def test_board_traceback_names_cell_lines_and_shows_source() -> None:
    traceback = (
        "Traceback (most recent call last):\n"
        '  File "<stdin>", line 3, in <module>\n'
        '  File "lib.py", line 9, in helper\n'
        "ValueError: bad\n"
    )
    lines = format_board_traceback(traceback, "x = 1\n\nhelper(x)", "<cell>")
    assert lines == [
        "Traceback (most recent call last):",
        '  File "<cell>", line 3, in <module>',
        "    helper(x)",
        '  File "lib.py", line 9, in helper',
        "ValueError: bad",
    ]


def test_rewritten_code_still_parses_as_python() -> None:
    code = "data = [1, 2]\n[\n    d * 2\n    for d in data\n]"
    rewritten, wrapped = rewrite_last_expression(code)
    assert wrapped
    ast.parse(rewritten)


def test_crlf_split_across_chunks_is_one_newline() -> None:
    events, value = _demux(["hi\r", "\n\x1e=2\x1f\r", "\n"])
    assert "".join(map(str, events)) == "hi\n" and value == "2"


def test_display_payloads_from_small_boards() -> None:
    literal = display_bundle("application/json {'t': 21.5, 'ok': True}")
    assert literal is not None and literal["application/json"] == {"t": 21.5, "ok": True}
    hexed = display_bundle("image/png hex:89504e47")
    assert hexed is not None and hexed["image/png"] == "iVBORw=="
    assert display_bundle("application/json {1: object}") is None


def test_traceback_of_code_the_engine_ran_through_exec() -> None:
    traceback = (
        "Traceback (most recent call last):\n"
        '  File "<stdin>", line 1, in <module>\n'
        '  File "<string>", line 2, in <module>\n'
        "NameError: name 'y' isn't defined\n"
    )
    lines = format_board_traceback(traceback, "x = 1\ny", "<cell>")
    assert lines[1:3] == ['  File "<cell>", line 2, in <module>', "    y"]


def test_cell_map_names_the_defining_cell_and_stays_bounded() -> None:
    from mpharness_kernel import cellmap

    cells = cellmap.CellMap()
    cells.add(1, "def check(v):\n    assert v\n")
    cells.add(2, "%%timeout 5\nx = 1\ndef check(v):\n    return v\n")
    cells.add(3, "check(0)")
    assert cells.locate(3, "check", 2) == ("<cell-1>", "assert v")
    assert cells.locate(3, "check", 4) == ("<cell-2>", "return v")
    assert cells.locate(3, "<module>", 1) == ("<cell-3>", "check(0)")
    assert cells.locate(3, "unknown", 1) == ("<cell-3>", "check(0)")
    for number in range(4, cellmap.MAX_CELLS + 5):
        cells.add(number, "pass")
    assert cells.locate(cellmap.MAX_CELLS + 4, "check", 2)[0] != "<cell-1>"
