"""Completion and inspection answered by the board; ``is_complete`` answered on the host.

Theory of operation
-------------------
The host finds the dotted name before the cursor (``machine.Pi`` -> root ``machine``, path
``[]``, prefix ``Pi``) and asks the board for ``dir()`` of that object with a small helper
(``_device/complete.py``) under a short deadline. Only dotted names are evaluated, never
calls or subscripts, so completion has no side effects beyond attribute lookup. A root the
board does not know yet but that an ``import`` in the cell names (``import machine;
machine.``) is imported by the helper without being bound, since the cell is about to import
it anyway. A deadline that passes yields no matches, never a hung frontend.

Inspection resolves the same way and reports type, repr, docstring (when the firmware keeps
them) and public members; for functions and classes defined in earlier cells the host adds
the signature and docstring it saw in the cell source (MicroPython keeps neither).
"""

from __future__ import annotations

import ast
import codeop
import keyword
import re
import warnings
from dataclasses import dataclass, field
from typing import Any

from mpharness import Board
from mpharness.errors import MPHarnessError
from mpharness_kernel.devicecode import device_call

#: Budget in seconds for one completion or inspection round trip to the board.
INTROSPECT_TIMEOUT = 1.5
_NAME_AT_END = re.compile(r"((?:[A-Za-z_]\w*\.)*)([A-Za-z_]\w*)?$")
_IMPORT = re.compile(r"^\s*import\s+(.+)$")
_FROM_IMPORT = re.compile(r"^\s*from\s+([A-Za-z_][\w.]*)\s+import\s+\(?([^)]+)\)?$")
_HIDDEN_PREFIX = "_mph_"


@dataclass(frozen=True)
class Target:
    """A dotted name to resolve on the board.

    Attributes:
        root: the first name, or None to complete a plain name.
        module: module to import when ``root`` is not a board global (from the cell's imports).
        module_path: attributes below that module leading to ``root``.
        attrs: attributes below ``root``.
        prefix: the partial name being completed.
    """

    root: str | None
    module: str | None = None
    module_path: list[str] = field(default_factory=list)
    attrs: list[str] = field(default_factory=list)
    prefix: str = ""

    @property
    def dotted(self) -> str:
        """The full dotted name."""
        return ".".join([self.root or "", *self.attrs, self.prefix]).strip(".")


def import_map(code: str) -> dict[str, tuple[str, list[str]]]:
    """Names bound by ``import`` statements in ``code``: name -> (module, attribute path)."""
    found: dict[str, tuple[str, list[str]]] = {}
    for statement in re.split(r"[\n;]", code):
        match = _IMPORT.match(statement)
        if match:
            for part in match.group(1).split(","):
                name, _, alias = part.strip().partition(" as ")
                dotted = name.strip().split(".")
                if alias.strip():
                    found[alias.strip()] = (dotted[0], dotted[1:])
                elif dotted[0]:
                    found[dotted[0]] = (dotted[0], [])
            continue
        match = _FROM_IMPORT.match(statement)
        if match:
            module = match.group(1)
            for part in match.group(2).split(","):
                name, _, alias = part.strip().partition(" as ")
                if name.strip() and name.strip() != "*":
                    top, *rest = module.split(".")
                    found[(alias or name).strip()] = (top, [*rest, name.strip()])
    return found


def _in_string_or_comment(line: str) -> bool:
    quote = ""
    for char in line:
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == "#":
            return True
    return bool(quote)


def find_target(code: str, cursor_pos: int) -> Target | None:
    """The name to complete at ``cursor_pos``, or None where the board cannot help."""
    before = code[:cursor_pos]
    if _in_string_or_comment(before.rsplit("\n", 1)[-1]):
        return None
    match = _NAME_AT_END.search(before)
    if match is None or (match.start() and before[match.start() - 1] in ".)]}'\""):
        return None
    prefix = match.group(2) or ""
    path = match.group(1).rstrip(".").split(".") if match.group(1) else []
    if not path:
        return Target(None, prefix=prefix)
    module, module_path = import_map(before).get(path[0], (None, []))
    return Target(path[0], module, module_path, path[1:], prefix)


def _board_literal(board: Board, code: str) -> Any:
    out = board.exec(code, timeout=INTROSPECT_TIMEOUT)
    last = out.rstrip("\n").rsplit("\n", 1)[-1]
    return ast.literal_eval(last)


def board_matches(board: Board, target: Target) -> list[str]:
    """Names the board offers for ``target`` (empty on any failure or timeout)."""
    code = device_call(
        "complete",
        "_mph_c",
        target.root,
        target.module,
        target.module_path,
        target.attrs,
        target.prefix,
    )
    try:
        names = _board_literal(board, code)
    except (MPHarnessError, ValueError, SyntaxError, KeyboardInterrupt):
        return []  # an interrupt during completion still gets a (empty) reply
    return sorted({n for n in names if isinstance(n, str) and not n.startswith(_HIDDEN_PREFIX)})


def complete(board: Board | None, code: str, cursor_pos: int, magics: list[str]) -> dict[str, Any]:
    """A Jupyter ``complete_reply`` content for ``code`` at ``cursor_pos``."""
    line = code[:cursor_pos].rsplit("\n", 1)[-1]
    matches: list[str] = []
    start = cursor_pos
    if re.fullmatch(r"%%?\w*", line):
        bare = line.lstrip("%")
        start = cursor_pos - len(bare)
        matches = sorted(m for m in magics if m.startswith(bare))
    else:
        target = find_target(code, cursor_pos)
        if target is not None:
            start = cursor_pos - len(target.prefix)
            if board is not None:
                matches = board_matches(board, target)
            if target.root is None:
                matches = sorted(
                    set(matches) | {k for k in keyword.kwlist if k.startswith(target.prefix)}
                )
    return {
        "status": "ok",
        "matches": matches,
        "cursor_start": start,
        "cursor_end": cursor_pos,
        "metadata": {},
    }


def _name_at(code: str, cursor_pos: int) -> Target | None:
    end = cursor_pos
    while end < len(code) and (code[end].isalnum() or code[end] == "_"):
        end += 1
    before = code[:end].rstrip()
    if before.endswith("(") and end == cursor_pos:
        before = before[:-1].rstrip()
    target = find_target(before, len(before))
    if target is None or not target.prefix:
        return None
    return Target(
        target.root or target.prefix,
        target.module,
        target.module_path,
        [*target.attrs, target.prefix] if target.root else [],
    )


def inspect(
    board: Board | None, code: str, cursor_pos: int, known_defs: dict[str, str]
) -> dict[str, Any]:
    """A Jupyter ``inspect_reply`` content: what the board says about the name at the cursor."""
    target = _name_at(code, cursor_pos)
    reply: dict[str, Any] = {"status": "ok", "found": False, "data": {}, "metadata": {}}
    if target is None:
        return reply
    if target.root and target.module is None:
        module, module_path = import_map(code).get(target.root, (None, []))
        target = Target(target.root, module, module_path, target.attrs)
    info = None
    if board is not None:
        call = device_call(
            "describe", "_mph_i", target.root, target.module, target.module_path, target.attrs
        )
        try:
            info = _board_literal(board, call)
        except (MPHarnessError, ValueError, SyntaxError, KeyboardInterrupt):
            info = None
    host = known_defs.get(target.dotted)
    if info is None and host is None:
        return reply
    reply["found"] = True
    reply["data"] = {"text/plain": _inspect_text(target.dotted, info, host)}
    return reply


def _inspect_text(name: str, info: Any, host: str | None) -> str:
    lines = [f"Name:      {name}"]
    if isinstance(info, tuple) and len(info) == 4:
        kind, text, doc, members = info
        kind = re.sub(r"^<class '([^']*)'>$", r"\1", str(kind))
        lines += [f"Type:      {kind}", f"Repr:      {text}"]
        if host:
            lines.append(f"Defined:   {host}")
        if doc:
            lines.append(f"Docstring: {doc}")
        if members:
            lines.append("Members:   " + ", ".join(members))
    elif host:
        lines.append(f"Defined:   {host}  (not on the board now)")
    return "\n".join(lines)


def record_definitions(code: str, known: dict[str, str]) -> None:
    """Remember signatures and docstrings of top-level defs and classes in ``code``."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            known[node.name] = _signature(node)
        elif isinstance(node, ast.ClassDef):
            known[node.name] = _describe(f"class {node.name}", node)
            for item in node.body:
                if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    known[f"{node.name}.{item.name}"] = _signature(item)


def _signature(node: ast.FunctionDef | ast.AsyncFunctionDef) -> str:
    return _describe(f"def {node.name}({ast.unparse(node.args)})", node)


def _describe(head: str, node: ast.AST) -> str:
    doc = ast.get_docstring(node)  # type: ignore[arg-type]
    return head + (f'\n           """{doc}"""' if doc else "")


def is_complete(code: str) -> dict[str, Any]:
    """A Jupyter ``is_complete_reply`` content, decided on the host with Python's grammar."""
    stripped = code.strip()
    if not stripped:
        return {"status": "complete"}
    if stripped.startswith("%%"):
        return {"status": "complete"} if code.endswith("\n\n") else _incomplete(code)
    source = "\n".join("" if ln.startswith("%") else ln for ln in code.split("\n"))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            compiled = codeop.compile_command(source, "<cell>", "exec")
    except (SyntaxError, ValueError, OverflowError):
        return {"status": "invalid"}
    if compiled is None:
        return _incomplete(code)
    last = code.rstrip("\n").rsplit("\n", 1)[-1]
    if last[:1].isspace() and not code.endswith("\n\n"):
        return _incomplete(code)
    return {"status": "complete"}


def _incomplete(code: str) -> dict[str, Any]:
    last = code.rstrip("\n").rsplit("\n", 1)[-1]
    indent = last[: len(last) - len(last.lstrip())]
    if last.rstrip().endswith(":"):
        indent += "    "
    return {"status": "incomplete", "indent": indent}
