"""Results of real programs come back as if the board ran them whole (issue 11 §3).

The micro:bit takes code over 63 bytes through an upload loader (``session/small_upload``);
these tests hold that the loader is invisible: it leaves no globals behind, clobbers none
of the program's, and its traceback reads as the board's own.
"""

from __future__ import annotations

import pytest

import mpharness

#: a statement long enough to go through the micro:bit's upload loader
LONG = "l = [3, 1, 2]" + " " * 440 + "# padding to make the line 470 bytes long"


def test_uploaded_code_sees_no_loader_globals(vboard: mpharness.Board) -> None:
    vboard.exec("l = 'kept'")  # a global the loader must not touch
    before = vboard.eval("sorted(globals())")
    out = vboard.exec("print(l)\n" + "# long comment\n" * 40 + "print(sorted(globals()))")
    assert out == f"kept\n{before!r}\n"
    assert vboard.eval("sorted(globals())") == before
    vboard.exec("del l")


def test_long_line_then_print_sees_its_own_value(vboard: mpharness.Board) -> None:
    # over 500 bytes: the micro:bit runs it in two uploaded pieces, the print in the second
    code = LONG + "\nprint(l)  " + "# " * 50
    assert len(code) > 500
    assert vboard.exec(code) == "[3, 1, 2]\n"
    vboard.exec("del l")


def test_program_exec_frames_keep_string(vboard: mpharness.Board) -> None:
    code = "def f():\n    exec('1/0')\n" + "# long comment\n" * 10 + "f()"
    with pytest.raises(mpharness.RemoteError) as info:
        vboard.exec(code)
    frames = [line.strip() for line in info.value.traceback.splitlines() if "File" in line]
    assert frames == [
        'File "<stdin>", line 13, in <module>',
        'File "<stdin>", line 2, in f',
        'File "<string>", line 1, in <module>',
    ]


def test_code_without_utf8_form_is_refused_before_sending(vboard: mpharness.Board) -> None:
    with pytest.raises(ValueError, match=r"line 2, column 8 .*UTF-8.*nothing was sent"):
        vboard.exec("x = 1\nprint('\udcff')")
    assert vboard.exec("print('still fine')") == "still fine\n"


EXITS = [("sys.exit()", 0), ("sys.exit(0)", 0), ("sys.exit(3)", 3), ("raise SystemExit(-2)", -2)]


@pytest.mark.parametrize(("exit_call", "code"), EXITS)
def test_system_exit_keeps_its_code(vboard: mpharness.Board, exit_call: str, code: int) -> None:
    got: list[str] = []
    with pytest.raises(mpharness.RemoteError) as info:
        vboard.exec(f"import sys\nprint('a')\n{exit_call}", exit_code=True, on_output=got.append)
    err = info.value
    assert (err.exc_type, err.stdout, "".join(got)) == ("SystemExit", "a\n", "a\n")
    if vboard.machine.paste_supported is False:
        # No room for the wrapper in the micro:bit's 63-byte input: unknown, and said so.
        assert err.exit_code is None
        assert "unknown" in err.message
    else:
        assert err.exit_code == code
        assert f"with code {code}" in err.message


def test_system_exit_code_is_unknown_unless_asked(vboard: mpharness.Board) -> None:
    with pytest.raises(mpharness.RemoteError) as info:
        vboard.exec("import sys\nsys.exit(3)")
    assert info.value.exit_code is None
    assert "unknown" in info.value.message


def test_asking_for_the_exit_code_keeps_results_exact(unix_board: mpharness.Board) -> None:
    """The wrapper is invisible: output, tracebacks (the program's exec keeps <string>),
    globals and a completed run are what they are without it."""
    assert unix_board.exec("x = 41\nprint(x + 1)", exit_code=True) == "42\n"
    assert unix_board.eval("x") == 41
    with pytest.raises(mpharness.RemoteError) as info:
        unix_board.exec("def f():\n    exec('1/0')\nf()", exit_code=True)
    frames = [line.strip() for line in info.value.traceback.splitlines() if "File" in line]
    assert frames == [
        'File "<stdin>", line 3, in <module>',
        'File "<stdin>", line 2, in f',
        'File "<string>", line 1, in <module>',
    ]
    with pytest.raises(mpharness.RemoteError) as syntax:
        unix_board.exec("x = 1\ndef f(:\n  pass", exit_code=True)
    assert syntax.value.exc_type == "SyntaxError"
    assert 'File "<stdin>", line 2' in syntax.value.traceback


def test_exit_report_is_held_back_from_streams_however_it_is_split() -> None:
    from mpharness.session.output import TextSink
    from mpharness.session.results import ExitReportFilter, take_exit_code

    report = b"\x1e123456789:(3,)\x1f"
    data = b"a\x1eb" + b"\x1e1234" + b"x\n" + report + b"msg\n"
    for size in (1, 2, 5, len(data)):
        got: list[str] = []
        sink = ExitReportFilter(TextSink(got.append), b"123456789")
        for i in range(0, len(data), size):
            sink.feed(data[i : i + size])
        sink.flush()
        assert "".join(got) == "a\x1eb\x1e1234x\nmsg\n"
    assert take_exit_code(data, b"123456789") == (b"a\x1eb\x1e1234x\nmsg\n", 3)
    assert take_exit_code(data, b"987654321") == (data, None)  # another call's report


def test_later_piece_that_does_not_compile_says_what_already_ran(
    microbit_board: mpharness.Board,
) -> None:
    """The micro:bit runs long code in pieces; a SyntaxError in a later piece (an f-string:
    1.9.2 has none) comes after the earlier pieces ran, and the error says so."""
    code = "print('ran early')\n" + "x = 1" + " " * 480 + "# long\n" + "y = f'{x}'\nprint(y)\n"
    with pytest.raises(mpharness.RemoteError) as info:
        microbit_board.exec(code)
    err = info.value
    assert (err.exc_type, err.stdout) == ("SyntaxError", "ran early\n")
    assert "lines 1-2 had already run" in str(err)
    assert err.note and "pieces" in err.note


def test_syntax_error_in_the_first_piece_has_no_note(vboard: mpharness.Board) -> None:
    with pytest.raises(mpharness.RemoteError) as info:
        vboard.exec("y = (\nprint('never')\n" + "x = 1" + " " * 480 + "# long\n")
    assert info.value.exc_type == "SyntaxError"
    assert (info.value.note, info.value.stdout) == ("", "")
