"""The doc test: every ``sh`` and ``python`` snippet of README.md and ``hil_rigs/**/README.md``
runs literally, against the virtual boards, and must succeed (exit status 0).

Each snippet runs in a fresh directory that looks like the repository's top directory
(symbolic links to its entries), so commands such as ``pytest --device unix hil_rigs/examples``
work as written and files the snippets create stay out of the tree. File snippets
(``# NAME.py`` first line, see ``snippets.py``) that come earlier in the same README are
written there first. ``sh`` snippets run under ``bash -e -o pipefail`` (the first failing
command fails the snippet), ``python`` snippets with this interpreter. How a snippet opts
out (with a reason visible in the README source) is described in ``snippets.py``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import require_virtual_board
from tests.docs.snippets import Snippet, SnippetSyntaxError, extract, readme_files

ROOT = Path(__file__).resolve().parents[2]
SNIPPET_TIMEOUT = 120.0  #: s for one snippet (the slowest runs two pytest sessions)
#: Set for the snippets' processes: a snippet that runs the test suite must not run the doc
#: test again (it would recurse without end).
NESTED_ENV = "MPHARNESS_IN_SNIPPET_TEST"


def _all_snippets() -> list[Snippet]:
    return [snippet for path in readme_files(ROOT) for snippet in extract(path)]


def _id(snippet: Snippet) -> str:
    return f"{snippet.path.relative_to(ROOT)}:{snippet.line}"


def make_workdir(tmp: Path, root: Path = ROOT) -> Path:
    """A directory whose entries link to the repository's top-level entries."""
    work = tmp / "work"
    work.mkdir(parents=True)
    for entry in root.iterdir():
        if entry.name != ".git":
            (work / entry.name).symlink_to(entry)
    return work


def run_snippet(
    snippet: Snippet, workdir: Path, earlier: list[Snippet] = ()
) -> subprocess.CompletedProcess[str]:
    """Run one snippet in ``workdir`` after writing the file snippets in ``earlier``."""
    for other in earlier:
        if other.file_name is not None:
            (workdir / other.file_name).write_text(other.code, encoding="utf-8")
    env = dict(os.environ, **{NESTED_ENV: snippet.where})
    for name in ("MPHARNESS_RIG", "MPHARNESS_DEVICE"):
        env.pop(name, None)
    if snippet.language == "sh":
        argv = ["bash", "-e", "-o", "pipefail", "-c", snippet.code]
    else:
        script = workdir / f"_snippet_{snippet.line}.py"
        script.write_text(snippet.code, encoding="utf-8")
        argv = [sys.executable, script.name]
    return subprocess.run(
        argv,
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=SNIPPET_TIMEOUT,
        check=False,
        stdin=subprocess.DEVNULL,
    )


def check(snippet: Snippet, result: subprocess.CompletedProcess[str]) -> None:
    """Fail, showing the snippet and what it printed, unless it exited with status 0."""
    if result.returncode != 0:
        pytest.fail(
            f"{snippet.where}: the {snippet.language} snippet exited with status "
            f"{result.returncode}\n--- snippet\n{snippet.code}--- stdout\n{result.stdout}"
            f"--- stderr\n{result.stderr}",
            pytrace=False,
        )


SNIPPETS = _all_snippets()


@pytest.mark.parametrize("snippet", SNIPPETS, ids=_id)
def test_snippet_runs_as_written(snippet: Snippet, tmp_path: Path) -> None:
    if os.environ.get(NESTED_ENV):
        pytest.fail(f"the snippet at {os.environ[NESTED_ENV]} runs the doc test itself: opt it out")
    if snippet.skip is not None:
        pytest.skip(f"opted out in {snippet.path.name}: {snippet.skip}")
    if snippet.file_name is not None:
        compile(snippet.code, snippet.file_name, "exec")  # at least valid Python
        return
    require_virtual_board("unix")
    if "microbit" in snippet.code:
        require_virtual_board("microbit")
    same_file = [s for s in SNIPPETS if s.path == snippet.path and s.line < snippet.line]
    check(snippet, run_snippet(snippet, make_workdir(tmp_path), same_file))


def test_every_readme_has_runnable_snippets() -> None:
    """The extraction finds what the READMEs hold (a regex slip must not empty the test)."""
    by_file = {path: [s for s in SNIPPETS if s.path == path] for path in readme_files(ROOT)}
    assert [s.line for s in by_file[ROOT / "README.md"] if s.skip is None]
    assert [s for s in by_file[ROOT / "hil_rigs/examples/README.md"] if s.skip is None]


# ---------------------------------------------------------------- the doc test itself
def _readme(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "README.md"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_broken_snippet_fails(tmp_path: Path) -> None:
    path = _readme(
        tmp_path,
        "# x\n\n```python\nimport mpharness\nmpharness.no_such_thing()\n```\n\n"
        "```sh\ntrue\nfalse\necho never\n```\n",
    )
    python, sh = extract(path)
    for snippet in (python, sh):
        result = run_snippet(snippet, make_workdir(tmp_path / snippet.language, ROOT))
        with pytest.raises(pytest.fail.Exception, match=r"README\.md:\d+: the \w+ snippet exited"):
            check(snippet, result)
    assert "never" not in result.stdout


def test_opt_out_needs_a_reason_and_a_fence(tmp_path: Path) -> None:
    ok = _readme(tmp_path, "<!-- snippet-test: skip: needs a real board -->\n```sh\nreboot\n```\n")
    assert extract(ok)[0].skip == "needs a real board"
    for text, problem in [
        ("<!-- snippet-test: skip -->\n```sh\nx\n```\n", "expected"),
        ("<!-- snippet-test: skip:  -->\n```sh\nx\n```\n", "expected"),
        ("<!-- snippet-test: skip: why -->\ntext\n```sh\nx\n```\n", "right before"),
        ("<!-- snippet-test: skip: why -->\n```yaml\na: 1\n```\n", "never run"),
        ("```sh\nx\n", "never closed"),
    ]:
        with pytest.raises(SnippetSyntaxError, match=problem):
            extract(_readme(tmp_path, text))


def test_file_snippets_are_written_for_later_snippets(tmp_path: Path) -> None:
    path = _readme(
        tmp_path,
        "```python\n# helper_mod.py\nVALUE = 7\n```\n\n```sh\npython3 -c 'import helper_mod; "
        "print(helper_mod.VALUE)'\n```\n",
    )
    file_snippet, command = extract(path)
    assert file_snippet.file_name == "helper_mod.py"
    result = run_snippet(command, make_workdir(tmp_path), [file_snippet])
    check(command, result)
    assert result.stdout == "7\n"
