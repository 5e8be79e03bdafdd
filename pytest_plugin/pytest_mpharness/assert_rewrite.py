"""Rewriting a test file's asserts so a failing one on the board reports the compared values.

Theory of operation
-------------------
pytest rewrites asserts on import to explain a failure; a board cannot, so the host rewrites
each ``assert`` inside a function of a module image (``shipping.py``) into a statement list
on the assert's own first line:

* ``assert L op R, M`` -> ``_mph_a=(L);_mph_b=(R);assert _mph_a op _mph_b,((M),'op',
  repr(_mph_a),repr(_mph_b))``
* any other ``assert X, M`` -> ``_mph_a=(X);assert _mph_a,((M),'',repr(_mph_a),None)``

The message tuple is evaluated only when the assert fails, as in Python, and no function is
called (a call level of its own overflowed the micro:bit's C stack inside helpers). The board
raises ``AssertionError`` with that 4-tuple, which ``runner.py`` reads back and
``report.explain_assert`` turns into pytest's ``assert L == R`` lines; for a plain assert the
expression's source is kept per line (``plain``) to say what was asserted. Parts that span
lines are flattened onto one and newlines are added before the closing parenthesis, so the
statement is as many lines long as the original. Module- and class-level asserts keep
Python's plain assert: they run at import, before any test.
"""

from __future__ import annotations

import ast

from pytest_mpharness.source_edits import Edit, SourceText

#: The operators a rewritten assert reports, by ``ast`` comparison type.
COMPARE_OPS: dict[type[ast.cmpop], str] = {
    ast.Eq: "==",
    ast.NotEq: "!=",
    ast.Lt: "<",
    ast.LtE: "<=",
    ast.Gt: ">",
    ast.GtE: ">=",
    ast.In: "in",
    ast.NotIn: "not in",
    ast.Is: "is",
    ast.IsNot: "is not",
}
_FUNCS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)


def asserts_in_functions(tree: ast.AST) -> list[ast.Assert]:
    """The asserts inside function bodies of ``tree`` (the ones that are rewritten)."""
    found: list[ast.Assert] = []
    stack: list[tuple[ast.AST, bool]] = [(tree, False)]
    while stack:
        node, inside = stack.pop()
        if isinstance(node, ast.Assert) and inside:
            found.append(node)
        for child in ast.iter_child_nodes(node):
            stack.append((child, inside or isinstance(node, _FUNCS)))
    return found


def rewrite_assert(node: ast.Assert, source: SourceText, plain: dict[int, str]) -> Edit:
    """The edit turning ``node`` into its reporting form (see the module docstring).

    ``==``/``!=`` against ``approx(...)`` on the right are evaluated as ``R op L`` (a
    micro:bit float does not defer to ``Approx.__eq__``). A plain (non-comparison) assert's
    expression source is recorded in ``plain`` under its line.
    """
    test = node.test
    msg = b"None" if node.msg is None else b"(" + source.flat(node.msg) + b")"
    if isinstance(test, ast.Compare) and len(test.ops) == 1:
        op = COMPARE_OPS[type(test.ops[0])].encode()
        right = source.flat(test.comparators[0])
        check = b"_mph_a " + op + b" _mph_b"
        if op in (b"==", b"!=") and b"approx" in right:
            check = b"_mph_b " + op + b" _mph_a"
        text = b"_mph_a=(" + source.flat(test.left) + b");_mph_b=(" + right + b");assert "
        text += check + b",(" + msg + b",'" + op + b"',repr(_mph_a),repr(_mph_b)"
    else:
        plain[node.lineno] = source.segment(test).decode("utf-8")
        text = b"_mph_a=(" + source.flat(test) + b");assert _mph_a,(" + msg
        text += b",'',repr(_mph_a),None"
    end_line = node.end_lineno or node.lineno
    padding = (end_line - node.lineno) - text.count(b"\n")
    text += b"\n" * max(padding, 0) + b")"
    return (node.lineno, node.col_offset, end_line, node.end_col_offset or 0, text)
