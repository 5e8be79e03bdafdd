"""Splitting code for boards without raw-paste (``mpharness.session.chunking``).

The pieces run one after another in the same globals, as consecutive raw-REPL execs do, so
they are checked here by running them with CPython the same way.
"""

from __future__ import annotations

import ast
import traceback

import pytest

from mpharness.session.chunking import split_for_small_boards


def _run_pieces(pieces: list[str]) -> tuple[dict[str, object], int | None]:
    """Run pieces in one namespace; returns it and the line of the first exception, if any."""
    namespace: dict[str, object] = {}
    for piece in pieces:
        try:
            exec(compile(piece, "<stdin>", "exec"), namespace)
        except Exception as err:  # any error the board would raise is the point here
            return namespace, traceback.extract_tb(err.__traceback__)[-1].lineno
    return namespace, None


def _big_program(statements: int = 120) -> str:
    body = ["# leading comment", "import math", ""]
    for i in range(statements):
        body.append(f"v{i} = {i} * 2  # some padding text to make lines longer")
        if i % 17 == 0:
            body += [f"def f{i}(x):", "    y = x + 1", f"    return y * {i}", ""]
    body.append("result = sum(v for k, v in globals().items() if k.startswith('v'))")
    return "\n".join(body) + "\n"


def test_small_code_is_one_piece_unchanged() -> None:
    code = "x = 1\nprint(x)\n"
    assert split_for_small_boards(code) == [code]


def test_pieces_respect_the_limit_and_cover_the_code() -> None:
    code = _big_program()
    pieces = split_for_small_boards(code, limit=300)
    assert len(pieces) > 5
    bodies = [p.lstrip("\n") for p in pieces]
    assert all(len(b.encode()) <= 300 for b in bodies)
    assert code.endswith("".join(bodies))  # nothing lost, nothing repeated
    for piece in pieces:
        ast.parse(piece)  # every piece is valid on its own


def test_pieces_run_in_sequence_like_the_whole() -> None:
    code = _big_program()
    whole, _ = _run_pieces([code])
    split, _ = _run_pieces(split_for_small_boards(code, limit=300))
    assert split["result"] == whole["result"]
    assert split["f17"](1) == whole["f17"](1)  # type: ignore[operator]


@pytest.mark.parametrize("fail_at", [5, 60, 119])
def test_pieces_report_the_original_line_numbers(fail_at: int) -> None:
    code = _big_program().replace(f"v{fail_at} = {fail_at} * 2", f"v{fail_at} = 1 / 0")
    _, expected = _run_pieces([code])
    pieces = split_for_small_boards(code, limit=250)
    assert len(pieces) > 1
    _, got = _run_pieces(pieces)
    assert expected is not None
    assert got == expected


def test_line_numbers_inside_functions_defined_in_later_pieces() -> None:
    lines = [f"a{i} = {i}" for i in range(80)]
    lines += ["def broken():", "    return 1 / 0", "broken()"]
    code = "\n".join(lines) + "\n"
    pieces = split_for_small_boards(code, limit=200)
    assert len(pieces) > 2
    assert _run_pieces(pieces)[1] == 82 == _run_pieces([code])[1]


def test_crlf_line_endings() -> None:
    code = "".join(f"x{i} = {i}\r\n" for i in range(100)) + "1 / 0\r\n"
    pieces = split_for_small_boards(code, limit=120)
    assert len(pieces) > 1
    assert _run_pieces(pieces)[1] == 101


def test_decorators_stay_with_their_function() -> None:
    filler = "".join(f"z{i} = {i}\n" for i in range(30))
    decorated = (
        "def deco(fn):\n"
        "    fn.tagged = True\n"
        "    return fn\n"
        "@deco\n"
        "@deco\n"
        "def target():\n"
        "    return 42\n"
        "@deco\n"
        "class Thing:\n"
        "    pass\n"
    )
    code = filler + decorated + filler.replace("z", "w")
    for limit in range(60, 400, 7):
        pieces = split_for_small_boards(code, limit=limit)
        for piece in pieces:
            stripped = piece.rstrip("\n")
            assert not stripped.endswith("@deco"), f"decorator cut from its def (limit {limit})"
            ast.parse(piece)
        namespace, error = _run_pieces(pieces)
        assert error is None
        assert namespace["target"].tagged  # type: ignore[attr-defined]
        assert namespace["Thing"].tagged  # type: ignore[attr-defined]


def test_statement_larger_than_the_limit_is_sent_whole() -> None:
    big = "data = [\n" + "".join(f"    {i},\n" for i in range(200)) + "]\n"
    code = "a = 1\n" + big + "b = 2\n"
    pieces = split_for_small_boards(code, limit=100)
    assert any("data = [" in p and "199," in p for p in pieces)
    namespace, error = _run_pieces(pieces)
    assert error is None and namespace["b"] == 2


def test_syntax_error_is_one_piece() -> None:
    code = "".join(f"x{i} = {i}\n" for i in range(100)) + "def broken(:\n    pass\n"
    assert split_for_small_boards(code, limit=100) == [code]


def test_form_feed_inside_a_string_keeps_line_numbers() -> None:
    code = "s = 'a\x0cb'\n" + "".join(f"x{i} = {i}\n" for i in range(100)) + "1 / 0\n"
    pieces = split_for_small_boards(code, limit=120)
    assert _run_pieces(pieces)[1] == 102
