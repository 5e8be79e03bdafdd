"""Code snippets of the project's READMEs, extracted for the doc test.

Theory of operation
-------------------
:func:`extract` reads a Markdown file and returns every fenced block whose info string is
``sh`` or ``python``, with its 1-based line. Other blocks (``yaml``, plain ```` ``` ````,
indented text) are prose and are not run.

A snippet opts out of the run with an HTML comment on the line right before its fence, which
GitHub does not render but every reader of the source sees::

    <!-- snippet-test: skip: needs a board on /dev/ttyACM0 -->

The reason after ``skip:`` is required (an opt-out without one is an error), and becomes the
test's skip reason. A ``python`` block whose first line is a comment naming a Python file
(``# test_sensor.py``) is that file's content: it is written under that name into the
directory later snippets of the same README run in, instead of being run itself.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

LANGUAGES = ("sh", "python")
_FENCE = re.compile(r"^```(?P<info>[\w+-]*)\s*$")
_OPT_OUT = re.compile(r"^<!--\s*snippet-test:\s*(?P<body>.*?)\s*-->\s*$")
_FILE_HEADER = re.compile(r"^#\s*(?P<name>[\w.-]+\.py)\s*$")


class SnippetSyntaxError(ValueError):
    """A README's fences or opt-out comments are malformed (names the file and line)."""


@dataclass(frozen=True)
class Snippet:
    """One fenced block.

    Attributes:
        path: the Markdown file.
        line: 1-based line of the opening fence.
        language: ``sh`` or ``python``.
        code: the block's text, ending in a newline.
        skip: the opt-out reason, or None when the snippet runs.
        file_name: for a file snippet (``# NAME.py`` first line), the file's name.
    """

    path: Path
    line: int
    language: str
    code: str
    skip: str | None = None
    file_name: str | None = None

    @property
    def where(self) -> str:
        """``README.md:12``-style location."""
        return f"{self.path}:{self.line}"


def extract(path: Path) -> list[Snippet]:
    """The ``sh`` and ``python`` blocks of a Markdown file, in order.

    Raises:
        SnippetSyntaxError: an unclosed fence, or an opt-out comment without a reason or
            not followed by a fence.
    """
    lines = path.read_text(encoding="utf-8").splitlines()
    snippets: list[Snippet] = []
    pending: tuple[int, str] | None = None  # (line, reason) of an opt-out comment
    i = 0
    while i < len(lines):
        text = lines[i]
        opt_out = _OPT_OUT.match(text)
        fence = _FENCE.match(text)
        if opt_out is not None:
            body = opt_out.group("body")
            kind, _, reason = body.partition(":")
            if kind.strip() != "skip" or not reason.strip():
                raise SnippetSyntaxError(
                    f"{path}:{i + 1}: expected '<!-- snippet-test: skip: REASON -->', got {text!r}"
                )
            pending = (i + 1, reason.strip())
        elif fence is not None:
            start = i
            end = next((j for j in range(i + 1, len(lines)) if lines[j].strip() == "```"), None)
            if end is None:
                raise SnippetSyntaxError(f"{path}:{start + 1}: code block is never closed")
            language = fence.group("info")
            if language in LANGUAGES:
                code = "\n".join(lines[start + 1 : end]) + "\n"
                header = _FILE_HEADER.match(lines[start + 1]) if end > start + 1 else None
                snippets.append(
                    Snippet(
                        path,
                        start + 1,
                        language,
                        code,
                        skip=pending[1] if pending else None,
                        file_name=header.group("name") if header and language == "python" else None,
                    )
                )
            elif pending is not None:
                raise SnippetSyntaxError(
                    f"{path}:{pending[0]}: opt-out before a {language or 'plain'} block, which "
                    "is never run"
                )
            pending = None
            i = end
        elif pending is not None and text.strip():
            raise SnippetSyntaxError(
                f"{path}:{pending[0]}: an opt-out comment must be right before a code fence"
            )
        i += 1
    if pending is not None:
        raise SnippetSyntaxError(f"{path}:{pending[0]}: opt-out comment at the end of the file")
    return snippets


def readme_files(root: Path) -> list[Path]:
    """The READMEs whose snippets are tested: ``README.md`` and ``hil_rigs/**/README.md``."""
    return [root / "README.md", *sorted((root / "hil_rigs").rglob("README.md"))]
