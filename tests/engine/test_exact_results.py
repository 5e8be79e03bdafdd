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
