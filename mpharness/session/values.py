"""Values read back from the board by :meth:`mpharness.Board.eval`.

The board prints a value tag (``\\x1d``), then the value's ``repr``; in checked mode
(:mod:`mpharness.session.integrity`) the tag again and the checksum of the ``repr``. The value is
what follows the tag, so other output (a timer, a thread) printed before or after it is not
taken for the value; the host reads it back with :func:`ast.literal_eval`.
"""

from __future__ import annotations

import ast
from typing import Any

from mpharness.errors import LinkCorrupted, ProtocolError
from mpharness.session import integrity

#: precedes the repr of a value printed by :meth:`Board.eval`
VALUE_TAG = "\x1d"


def value_statement(expr: str, checked: bool) -> str:
    """The statement that prints ``expr``'s value for :func:`read_value`."""
    return integrity.value_statement(expr) if checked else f"print('\\x1d'+repr({expr}))"


def read_value(out: str, expr: str, checked: bool, board: str) -> Any:
    """The value of ``expr`` in the output ``out`` of :func:`value_statement`.

    Raises:
        ProtocolError: no value in the output (LinkCorrupted in checked mode: damaged).
        LinkCorrupted: the value does not match its checksum.
        ValueError: the value's repr is not a Python literal (e.g. a function object).
    """
    at = out.find(VALUE_TAG) if checked else out.rfind(VALUE_TAG)
    if at < 0:
        message = f"board {board!r} did not print the value of {expr!r}"
        if checked:
            raise LinkCorrupted(message + " (damaged by the link)", ran=True)
        raise ProtocolError(message)
    text = out[at + 1 :].split("\n", 1)[0]
    if checked:
        text, intact = integrity.split_value(text)
        if not intact:
            raise LinkCorrupted(
                f"board {board!r}: the value of {expr!r} came back damaged by the link", ran=True
            )
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError) as err:
        raise ValueError(f"board value of {expr!r} is not a literal: {text[:200]!r}") from err
