"""The packages' import graph: no cycles, layers import only downwards, no private reach-ins.

Reads the source with :mod:`ast` (nothing is imported). Function-level and ``TYPE_CHECKING``
imports count: they hide a cycle, they do not remove it. README "Architecture" draws the layers.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = {
    "mpharness": ROOT / "mpharness",
    "pytest_mpharness": ROOT / "pytest_plugin" / "pytest_mpharness",
    "mpharness_kernel": ROOT / "kernel" / "mpharness_kernel",
}

#: engine layer -> the layers it may import (besides itself). Layers are the folders of
#: ``mpharness/`` and its top-level modules; see each folder's ``__init__`` docstring. The
#: base (errors, deadline, secret: a masked value for passwords) imports nothing of ours.
BASE = {"errors", "deadline", "secret"}
ALLOWED = {
    "errors": set(),
    "deadline": set(),
    "secret": set(),
    "protocol": BASE,
    "transports": BASE | {"protocol", "virtual"},
    "virtual": BASE | {"protocol", "transports", "rigs"},
    "session": BASE | {"protocol", "transports"},
    "rigs": BASE | {"transports"},
    "files": BASE | {"protocol", "session", "rigs"},
    "board": BASE | {"session", "files"},
    "sharing": BASE | {"rigs", "transports"},
    "connect": BASE | {"board", "session", "rigs", "sharing", "transports"},
    "tools": BASE | {"connect", "board", "rigs", "sharing", "transports"},
    "cli": BASE
    | {"connect", "board", "files", "rigs", "sharing", "tools", "transports", "virtual"}
    | {"mpharness"},
    "mpharness": BASE | {"board", "connect"},
}

#: underscore names that are public APIs of the standard library or pyserial
PUBLIC_UNDERSCORE = {
    "_exit",  # os._exit: the documented way for a forked child to leave
    "_replace",  # namedtuple / urllib's SplitResult
    "_asdict",
    "_fields",
    "_make",
}
#: deliberate reach-ins into third-party objects, each with its reason
THIRD_PARTY = {
    # pyserial's rfc2217 setter renegotiates every port setting and sleeps; read() only
    # consults the attribute (see _set_read_timeout)
    ("mpharness/transports/serial_link.py", "ser._timeout"),
}


def _modules() -> dict[str, Path]:
    found = {}
    for package, base in PACKAGES.items():
        for path in base.rglob("*.py"):
            if "_device" in path.parts:  # MicroPython-side code, sent to boards as text
                continue
            parts = [package, *path.relative_to(base).with_suffix("").parts]
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


MODULES = _modules()


def _resolve(name: str) -> str | None:
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _imports(module: str, tree: ast.AST) -> set[str]:
    is_package = MODULES[module].name == "__init__.py"
    package = module if is_package else module.rpartition(".")[0]
    targets: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*up, base] if base else up)
            targets.add(base)
            targets.update(f"{base}.{alias.name}" for alias in node.names)
    found = set()
    for target in targets:
        resolved = _resolve(target)
        # a module's own package (its __init__) is not an import of another module
        if resolved and resolved != module and not module.startswith(resolved + "."):
            found.add(resolved)
    return found


TREES = {module: ast.parse(path.read_text("utf-8"), str(path)) for module, path in MODULES.items()}
GRAPH = {module: _imports(module, tree) for module, tree in TREES.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def _layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def test_the_graph_is_read() -> None:
    # the checks below mean something only if the graph is really there
    assert len(MODULES) > 60
    assert "mpharness.session.link" in GRAPH["mpharness.session.repl_session"]
    assert "mpharness.session.link" in GRAPH["mpharness.session.recovery"]


def test_no_import_cycles() -> None:
    assert _cycles(GRAPH) == []


def test_the_cycle_finder_finds_cycles() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycles(graph) == [["a", "b", "c"]]


@pytest.mark.parametrize(
    "module", sorted(m for m in GRAPH if m == "mpharness" or m.startswith("mpharness."))
)
def test_engine_layers_import_only_downwards(module: str) -> None:
    layer = _layer(module)
    allowed = ALLOWED[layer] | {layer}
    wrong = sorted(
        target
        for target in GRAPH[module]
        if target.startswith("mpharness.") or target == "mpharness"
        if _layer(target) not in allowed
    )
    assert wrong == [], f"{module} ({layer}/) may import only {sorted(allowed)}"


def test_virtual_boards_never_import_the_url_dispatcher() -> None:
    """``transports/__init__`` opens virtual boards; they must not import it back."""
    offenders = [
        m for m in GRAPH if m.startswith("mpharness.virtual") and "mpharness.transports" in GRAPH[m]
    ]
    assert offenders == []


def _reach_ins(module: str, tree: ast.AST) -> list[str]:
    path = MODULES[module]
    rel = path.relative_to(ROOT).as_posix()
    own_classes = {node.name for node in ast.walk(tree) if isinstance(node, ast.ClassDef)}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and _resolve(node.module):
            found += [
                f"{rel}:{node.lineno}: from {node.module} import {alias.name}"
                for alias in node.names
                if alias.name.startswith("_") and not alias.name.startswith("__")
            ]
        elif (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.attr.startswith("_")
            and not node.attr.startswith("__")
            and node.value.id not in ("self", "cls")
            and node.value.id not in own_classes
            and node.attr not in PUBLIC_UNDERSCORE
            and (rel, f"{node.value.id}.{node.attr}") not in THIRD_PARTY
        ):
            found.append(f"{rel}:{node.lineno}: {node.value.id}.{node.attr}")
    return found


def test_no_module_uses_another_modules_private_names() -> None:
    found = [line for module, tree in TREES.items() for line in _reach_ins(module, tree)]
    assert found == []


def test_the_reach_in_check_catches_one() -> None:
    tree = ast.parse("from mpharness.session.link import _x\nboard._write(b'')\nself._ok()\n")
    MODULES["mpharness.__probe__"] = ROOT / "mpharness" / "probe.py"
    try:
        found = _reach_ins("mpharness.__probe__", tree)
    finally:
        del MODULES["mpharness.__probe__"]
    assert found == [
        "mpharness/probe.py:1: from mpharness.session.link import _x",
        "mpharness/probe.py:2: board._write",
    ]
