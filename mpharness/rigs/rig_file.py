"""Rig files: YAML text to ``BoardSpec`` values, with errors that name file, line and key.

Theory of operation: PyYAML's composer (SafeLoader) turns the text into a node tree whose
nodes carry marks (line, column). We walk that tree instead of letting PyYAML build Python
objects, because the constructor silently keeps the last of two equal keys (we report them)
and forgets where values came from (every error here names a 1-based line and a dotted key
such as ``boards.esp32.baudrate``). Scalar types come from each node's resolved tag; string
keys keep the text exactly as written, so ``uid: 12:34:56`` stays a string rather than YAML
1.1's sexagesimal integer. Merge keys (``<<: *anchor``) work. Each string becomes a
``RigText`` (a ``${VAR}`` template whose syntax is checked here and which is expanded at use).

Two layouts. A file with a top-level ``boards:`` mapping is a rig file (other top-level keys
must start with ``x-``, e.g. to hold YAML anchors). Any other mapping is read as an IoT-Kernel
device file: top-level names, each a spec; these specs may also use IoT Kernel's ``path``
(a host folder for resources, folded into ``libs``) and need a ``uid`` or a ``url``; bare
``$NAME`` is substituted in their host paths, as IoT Kernel does. A spec may be a bare string
(its url). Key spellings with ``-`` and ``_`` are interchangeable (``install-dir``).
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Callable
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from mpharness.errors import ConfigError
from mpharness.rigs import substitution
from mpharness.rigs.boardspec import (
    INTEGRITY_MODES,
    RESET_MODES,
    BoardSpec,
    Resource,
    RigText,
    Source,
)
from mpharness.transports import PYSERIAL_SCHEMES, url_scheme

__all__ = ["BOARD_KEYS", "load_rig_file", "parse_rig_text"]

_TAG = "tag:yaml.org,2002:"
# fmt: off
_TYPE_NAMES = {"int": "an integer", "float": "a number", "bool": "a boolean", "null": "nothing",
               "str": "a string", "seq": "a list", "map": "a mapping", "timestamp": "a date"}

#: Keys of a board spec, as documented (``-``/``_`` spellings are interchangeable).
BOARD_KEYS = ("url", "password", "uid", "baudrate", "features", "resources", "install-dir",
              "libs", "unpack", "include-patterns", "exclude-patterns", "reset", "timeout_s",
              "description", "firmware", "firmware-erase", "integrity")
# fmt: on
_IOT_KEYS = (*BOARD_KEYS, "path")
_RESOURCE_KEYS = ("path", "lib", "install-dir", "unpack", "include-patterns", "exclude-patterns")
# Keys people write for a valid key that difflib would not find.
_HINTS = dict.fromkeys(("port", "device", "serial", "host", "path", "urls"), "url") | {
    "baud": "baudrate",
    "speed": "baudrate",
    "timeout": "timeout_s",
    "passwd": "password",
    "pw": "password",
}
_BAD_NAME_RE = re.compile(r"[\s:/\\${},|]")
_COM_RE = re.compile(r"(?i)com\d+")
_BOOTLOADER_TOUCH_BAUD = 1200


def _norm(key: str) -> str:
    return key.replace("-", "_")


def _join(prefix: str, key: str) -> str:
    return f"{prefix}.{key}" if prefix else key


def _type_name(node: Node) -> str:
    short = node.tag[len(_TAG) :] if node.tag.startswith(_TAG) else node.tag
    return _TYPE_NAMES.get(short, f"a {node.tag!r} value")


def _line(node: Node) -> int:
    return int(node.start_mark.line) + 1


class _FileParser:
    """Walks one file's node tree; ``self.error`` builds errors located in this file."""

    def __init__(self, text: str, path: str) -> None:
        self.source_text = text
        self.path = path
        self.iot = False
        self.loader: Any = None

    def error(self, message: str, node: Node | None, key: str | None) -> ConfigError:
        line = None if node is None else _line(node)
        return ConfigError(message, path=self.path, line=line, key=key)

    def parse(self) -> list[BoardSpec]:
        try:
            self.loader = yaml.SafeLoader(self.source_text)  # checks every character
        except yaml.reader.ReaderError as exc:
            raise self._reader_error(exc) from None
        try:
            try:
                root = self.loader.get_single_node()
            except yaml.MarkedYAMLError as exc:
                mark = exc.problem_mark or exc.context_mark
                line = None if mark is None else mark.line + 1
                problem = "; ".join(p for p in (exc.context, exc.problem) if p) or "bad YAML"
                if line is not None and "${" in "".join(
                    self.source_text.splitlines()[line - 1 : line]
                ):
                    problem += " (inside [...] or {...}, quote values that contain ${...})"
                raise ConfigError(
                    f"YAML syntax error: {problem}", path=self.path, line=line
                ) from None
            except yaml.YAMLError as exc:
                raise ConfigError(f"YAML error: {exc}", path=self.path) from None
            return [] if root is None else self._top(root)
        except RecursionError:
            # PyYAML's composer, and our walk of its nodes, recurse once per level
            raise ConfigError(
                "brackets or indentation nested too deeply to read (beyond Python's recursion "
                "limit, hundreds of levels); a rig file needs a few",
                path=self.path,
            ) from None
        finally:
            self.loader.dispose()

    def _reader_error(self, exc: yaml.reader.ReaderError) -> ConfigError:
        """A character YAML does not allow (a control byte), located by line."""
        position = max(0, exc.position)
        line = self.source_text.count("\n", 0, position) + 1
        char = exc.character if isinstance(exc.character, int) else ord(exc.character[:1] or "?")
        return ConfigError(
            f"character U+{char:04X} is not allowed in a YAML file (a control character); "
            'write it as an escape in a double-quoted string ("\\x01") if it is meant',
            path=self.path,
            line=line,
        )

    # -- mappings ---------------------------------------------------------------------------

    def items(self, node: Node, prefix: str, what: str = "key") -> list[tuple[str, Node, Node]]:
        """(key text, key node, value node) of a mapping, merges applied, duplicates refused."""
        if not isinstance(node, MappingNode):
            raise self.error(f"expected a mapping, got {_type_name(node)}", node, prefix or None)
        seen: dict[str, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == _TAG + "merge":
                continue
            if not isinstance(key_node, ScalarNode):
                raise self.error("keys must be plain strings", key_node, prefix or None)
            text = key_node.value
            if text in seen:
                raise self.error(
                    f"duplicate {what} {text!r} (first at line {seen[text]}); "
                    "YAML would silently keep only the last one",
                    key_node,
                    _join(prefix, text),
                )
            seen[text] = _line(key_node)
        try:
            self.loader.flatten_mapping(node)
        except yaml.MarkedYAMLError as exc:
            raise self.error(f"bad merge key: {exc.problem}", node, prefix or None) from None
        merged: dict[str, tuple[Node, Node]] = {}
        for key_node, value_node in node.value:  # merged pairs first, own keys override them
            merged[key_node.value] = (key_node, value_node)
        return [(text, pair[0], pair[1]) for text, pair in merged.items()]

    def _top(self, root: Node) -> list[BoardSpec]:
        has_boards = isinstance(root, MappingNode) and any(
            isinstance(k, ScalarNode) and k.value == "boards" for k, _ in root.value
        )
        items = self.items(root, "", "key" if has_boards else "board")
        if any(text == "boards" for text, _, _ in items):
            for text, key_node, _ in items:
                if text != "boards" and not text.startswith("x-"):
                    raise self.error(
                        self.unknown(text, ("boards",), "top-level key")
                        + " (other top-level keys must start with 'x-')",
                        key_node,
                        text,
                    )
            boards = next(value for text, _, value in items if text == "boards")
            if boards.tag == _TAG + "null":
                return []
            return [
                self.board(text, key, value, "boards")
                for text, key, value in self.items(boards, "boards", "board")
            ]
        self.iot = True
        for text, key_node, _ in items:
            if difflib.get_close_matches(text.lower(), ["boards"], n=1, cutoff=0.8):
                raise self.error(
                    f"top-level key {text!r}: did you mean 'boards'? (a file "
                    "without 'boards:' is read as an IoT-Kernel device file)",
                    key_node,
                    text,
                )
        return [self.board(text, key, value, "") for text, key, value in items]

    @staticmethod
    def unknown(key: str, valid: tuple[str, ...], what: str = "key") -> str:
        hint = _HINTS.get(_norm(key).lower())
        if hint is None or hint not in valid:
            close = difflib.get_close_matches(key, valid, n=1, cutoff=0.6)
            hint = close[0] if close else None
        message = f"unknown {what} {key!r}"
        if hint is not None:
            message += f"; did you mean {hint!r}?"
        return message + f" (valid: {', '.join(valid)})"

    # -- one board --------------------------------------------------------------------------

    def board(self, name: str, key_node: Node, node: Node, prefix: str) -> BoardSpec:
        key = _join(prefix, name)
        if not name or _BAD_NAME_RE.search(name) or _COM_RE.fullmatch(name):
            raise self.error(
                f"bad board name {name!r}: a name may not be empty, look like a "
                "port (COM3) or contain whitespace or any of : / \\ $ { } , |",
                key_node,
                key,
            )
        source = Source(self.path, _line(key_node), key)
        if isinstance(node, ScalarNode) and node.tag == _TAG + "str":
            return BoardSpec(name=name, urls=(self.url(node, key + ".url"),), source=source)
        if not isinstance(node, MappingNode):
            raise self.error(
                f"board {name!r}: expected a mapping of settings or a url string, "
                f"got {_type_name(node)}",
                node,
                key,
            )
        fields: dict[str, Any] = {}
        valid = _IOT_KEYS if self.iot else BOARD_KEYS
        by_norm = {_norm(k): k for k in valid}
        for text, k_node, v_node in self.items(node, key):
            canonical = by_norm.get(_norm(text))
            if canonical is None:
                raise self.error(self.unknown(text, valid), k_node, _join(key, text))
            if _norm(canonical) in fields:
                raise self.error(
                    f"{text!r} repeats another spelling of {canonical!r}", k_node, _join(key, text)
                )
            fields[_norm(canonical)] = self.field(canonical, v_node, _join(key, text))
        return self.make_spec(name, fields, source, key_node, key)

    def make_spec(
        self, name: str, fields: dict[str, Any], source: Source, node: Node, key: str
    ) -> BoardSpec:
        """Build the spec from parsed fields; ``node`` is the name's key node."""
        if "url" in fields:
            fields["urls"] = fields.pop("url")
        if "path" in fields:
            fields["libs"] = (fields.pop("path"), *fields.get("libs", ()))
        if not fields.get("urls"):
            if not self.iot:
                raise self.error(f"board {name!r} has no url", node, key)
            if fields.get("uid") is None:
                raise self.error(f"board {name!r} needs a uid (to be found by) or a url", node, key)
        return BoardSpec(name=name, source=source, **fields)

    def field(self, canonical: str, node: Node, key: str) -> Any:
        parse: Callable[[_FileParser, Node, str], Any] = _FIELD_PARSERS[canonical]
        return parse(self, node, key)

    # -- scalars ----------------------------------------------------------------------------

    def text(self, node: Node, key: str, *, secret: bool = False, bare: bool = False) -> RigText:
        """A string value as written (any scalar but null), checked as a ${VAR} template."""
        if not isinstance(node, ScalarNode) or node.tag == _TAG + "null":
            raise self.error(f"expected a string, got {_type_name(node)}", node, key)
        try:
            substitution.check(node.value, bare=bare)
        except substitution.TemplateSyntaxError as exc:
            where = "" if secret else f" in {node.value!r}"
            raise self.error(f"{exc}{where} at column {exc.column + 1}", node, key) from None
        return RigText(node.value, path=self.path, line=_line(node), key=key, bare=bare)

    def host_path(self, node: Node, key: str) -> RigText:
        return self.text(node, key, bare=self.iot)

    def url(self, node: Node, key: str) -> RigText:
        url = self.text(node, key)
        if not url.strip():
            raise self.error("empty url", node, key)
        problem = _url_problem(url)
        if problem is not None:
            raise self.error(problem, node, key)
        return url

    def urls(self, node: Node, key: str) -> tuple[RigText, ...]:
        if not isinstance(node, SequenceNode):
            return (self.url(node, key),)
        if not node.value:
            raise self.error("empty url list", node, key)
        return tuple(self.url(item, f"{key}[{i}]") for i, item in enumerate(node.value))

    def scalar(self, node: Node, key: str, tags: tuple[str, ...], expected: str) -> Any:
        if not isinstance(node, ScalarNode) or node.tag not in [_TAG + t for t in tags]:
            shown = f" {node.value!r}" if isinstance(node, ScalarNode) else ""
            raise self.error(f"expected {expected}, got {_type_name(node)}{shown}", node, key)
        return self.loader.construct_object(node)

    def baudrate(self, node: Node, key: str) -> int:
        value: int = self.scalar(node, key, ("int",), "a positive integer (e.g. 115200)")
        if value <= 0:
            raise self.error(f"baudrate must be positive, got {value}", node, key)
        if value == _BOOTLOADER_TOUCH_BAUD:
            raise self.error(
                "baudrate 1200 is the 'touch' rate that drops many boards (RP2040, "
                "SAMD, nRF) into their bootloader; use the REPL's rate (usually "
                "115200)",
                node,
                key,
            )
        return value

    def firmware(self, node: Node, key: str) -> RigText:
        path = self.host_path(node, key)
        if not path.strip():
            raise self.error("empty firmware path", node, key)
        return path

    def timeout(self, node: Node, key: str) -> float:
        value = float(self.scalar(node, key, ("int", "float"), "a number of seconds"))
        if not (math.isfinite(value) and value > 0):
            raise self.error(
                f"timeout_s must be a positive number of seconds, got {value:g}", node, key
            )
        return value

    def choice(self, node: Node, key: str, choices: tuple[str, ...], hint: str = "") -> str:
        """A string that must be one of ``choices``; ``hint`` is added when YAML read a
        boolean instead."""
        if isinstance(node, ScalarNode) and node.tag == _TAG + "str" and node.value in choices:
            return str(node.value)
        got = node.value if isinstance(node, ScalarNode) else _type_name(node)
        hint = hint if node.tag == _TAG + "bool" else ""
        name = key.rsplit(".", 1)[-1]
        raise self.error(
            f"{name} must be one of {', '.join(choices)}, got {got!r}{hint}", node, key
        )

    def reset(self, node: Node, key: str) -> str:
        return self.choice(node, key, RESET_MODES, " (write 'none' to never reset)")

    def integrity(self, node: Node, key: str) -> str:
        if isinstance(node, ScalarNode) and node.tag == _TAG + "bool":  # YAML 1.1: bare off/on
            return "off" if node.value.lower() in ("off", "no", "false") else "checked"
        return self.choice(node, key, INTEGRITY_MODES)

    def string_list(
        self, node: Node, key: str, *, allow_str: bool = False, bare: bool = False
    ) -> tuple[RigText, ...]:
        if allow_str and isinstance(node, ScalarNode) and node.tag == _TAG + "str":
            return (self.text(node, key, bare=bare),)
        if not isinstance(node, SequenceNode):
            raise self.error(f"expected a list (e.g. [a, b]), got {_type_name(node)}", node, key)
        items = tuple(
            self.text(item, f"{key}[{i}]", bare=bare) for i, item in enumerate(node.value)
        )
        for i, (item, item_node) in enumerate(zip(items, node.value, strict=True)):
            if not item.strip():
                raise self.error("empty entry", item_node, f"{key}[{i}]")
        return items

    # -- resources --------------------------------------------------------------------------

    def resources(self, node: Node, key: str) -> tuple[Resource, ...]:
        if not isinstance(node, SequenceNode):
            raise self.error(f"expected a list of resources, got {_type_name(node)}", node, key)
        return tuple(self.resource(item, f"{key}[{i}]") for i, item in enumerate(node.value))

    def resource(self, node: Node, key: str) -> Resource:
        if isinstance(node, ScalarNode):
            return Resource(path=self.host_path(node, key))
        items = self.items(node, key) if isinstance(node, MappingNode) else []
        if len(items) != 1:
            raise self.error(
                "a resource is NAME, or NAME: INSTALL_DIR, or NAME: {path, lib, "
                "install-dir, unpack, include-patterns, exclude-patterns}"
                + (f"; this one has {len(items)} keys" if items else ""),
                node,
                key,
            )
        name, name_node, value = items[0]
        path = self.host_path(name_node, key)
        if value.tag == _TAG + "null":
            return Resource(path=path)
        if isinstance(value, ScalarNode):
            return Resource(path=path, install_dir=self.text(value, _join(key, name)))
        return self.resource_options(path, value, _join(key, name))

    def resource_options(self, path: RigText, node: Node, key: str) -> Resource:
        fields: dict[str, Any] = {}
        by_norm = {_norm(k): k for k in _RESOURCE_KEYS}
        for text, k_node, v_node in self.items(node, key):
            canonical = by_norm.get(_norm(text))
            if canonical is None:
                raise self.error(self.unknown(text, _RESOURCE_KEYS), k_node, _join(key, text))
            target = "lib" if canonical in ("path", "lib") else _norm(canonical)
            if target in fields:
                raise self.error(
                    f"{text!r} repeats {target!r} (path and lib mean the same)",
                    k_node,
                    _join(key, text),
                )
            parse = _FIELD_PARSERS["path" if target == "lib" else canonical]
            fields[target] = parse(self, v_node, _join(key, text))
        return Resource(path=path, **fields)


def _url_problem(url: str) -> str | None:
    """Why ``url`` cannot name a board, or None (templates are checked at use)."""
    if "${" in url:
        return None
    scheme = url_scheme(url)
    known = {"unix", "qemu", "ws", "wss", "usb-serial", "uid", "shaped"} | PYSERIAL_SCHEMES
    if scheme is None or scheme in known:
        return None
    if url.strip().lower() in ("webrepl:", "webrepl:unix"):  # the virtual WebREPL board
        return None
    hint = {
        "serial": "for a serial port give its path, e.g. /dev/ttyUSB0",
        "http": "WebREPL URLs start with ws://",
        "https": "WebREPL URLs start with ws://",
        "webrepl": "WebREPL URLs start with ws://",
    }.get(scheme, "")
    return (
        f"unknown URL scheme {scheme!r}: expected a serial port path, rfc2217://, "
        f"socket://, ws://, usb-serial:SERIAL, uid:HEX, unix: or qemu:microbit"
        + (f" ({hint})" if hint else "")
    )


_FIELD_PARSERS: dict[str, Callable[[_FileParser, Node, str], Any]] = {
    "url": _FileParser.urls,
    "password": lambda p, n, k: p.text(n, k, secret=True),
    "uid": _FileParser.text,
    "baudrate": _FileParser.baudrate,
    "features": _FileParser.string_list,
    "resources": _FileParser.resources,
    "install-dir": _FileParser.text,
    "libs": lambda p, n, k: p.string_list(n, k, allow_str=p.iot, bare=p.iot),
    "path": lambda p, n, k: p.host_path(n, k),
    "unpack": lambda p, n, k: p.scalar(n, k, ("bool",), "true or false"),
    "include-patterns": lambda p, n, k: p.string_list(n, k, allow_str=True),
    "exclude-patterns": lambda p, n, k: p.string_list(n, k, allow_str=True),
    "reset": _FileParser.reset,
    "integrity": _FileParser.integrity,
    "timeout_s": _FileParser.timeout,
    "description": _FileParser.text,
    "firmware": _FileParser.firmware,
    "firmware-erase": lambda p, n, k: p.scalar(n, k, ("bool",), "true or false"),
}


def parse_rig_text(text: str, path: str) -> list[BoardSpec]:
    """Parse rig-file text into board specs (file order).

    Args:
        text: the YAML text.
        path: the file name to put in specs' ``source`` and in errors.

    Raises:
        ConfigError: the text is not a valid rig or IoT-Kernel device file.
    """
    return _FileParser(text, path).parse()


def load_rig_file(path: str) -> list[BoardSpec]:
    """Read and parse one rig file.

    Raises:
        ConfigError: the file cannot be read or is invalid (names file, line and key).
    """
    try:
        with open(path, encoding="utf-8") as stream:
            text = stream.read()
    except FileNotFoundError:
        raise ConfigError("rig file not found", path=path) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read rig file: {exc}", path=path) from None
    return parse_rig_text(text, path)
