"""The kernel over the Jupyter protocol, on the unix board (one kernel for the module)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from mpharness_kernel.magics import MAGICS, magic_names

from tests.kernel.conftest import KernelHarness

#: Upper bound the issue sets for an interrupt of `while True: pass` to be answered.
INTERRUPT_BUDGET = 2.0

pytestmark = pytest.mark.unix_board


def test_output_streams_while_the_cell_runs(unix_kernel: KernelHarness) -> None:
    reply = unix_kernel.execute("import time\nprint('a')\ntime.sleep(0.6)\nprint('b')")
    streams = [m for m in reply.messages if m["msg_type"] == "stream"]
    assert reply.status == "ok" and reply.stdout == "a\nb\n"
    assert streams[0]["content"]["text"] == "a\n", "the first line comes on its own"
    assert streams[-1]["received"] - streams[0]["received"] > 0.3


def test_value_of_last_expression_is_the_result(unix_kernel: KernelHarness) -> None:
    assert unix_kernel.execute("x = 6\nx * 7").result == "42"
    assert unix_kernel.execute("'a' + 'b'").result == "'ab'"
    assert unix_kernel.execute("x;").result is None
    assert unix_kernel.execute("None").result is None
    printed = unix_kernel.execute("print('out')\n[x,\n x + 1]")
    assert (printed.stdout, printed.result) == ("out\n", "[6, 7]")


def test_board_exception_is_an_error_reply_with_cell_lines(unix_kernel: KernelHarness) -> None:
    reply = unix_kernel.execute("def f():\n    return 1/0\nprint('before')\nf()")
    assert reply.status == "error"
    assert (reply.ename, reply.content["evalue"]) == ("ZeroDivisionError", "divide by zero")
    traceback = reply.content["traceback"]
    count = reply.content["execution_count"]
    assert f'  File "<cell-{count}>", line 4, in <module>' in traceback
    assert "    f()" in traceback and "    return 1/0" in traceback
    assert reply.stdout == "before\n"
    assert reply.of_type("error")[0]["ename"] == "ZeroDivisionError"


def test_traceback_names_the_cell_that_defined_the_function(unix_kernel: KernelHarness) -> None:
    first = unix_kernel.execute("x = 1\ndef check(v):\n    assert v > 0, 'negative'\n    return v")
    defined = first.content["execution_count"]
    reply = unix_kernel.execute("y = 2\nprint('calling')\ncheck(-1)")
    count = reply.content["execution_count"]
    assert reply.ename == "AssertionError"
    traceback = reply.content["traceback"]
    at = traceback.index(f'  File "<cell-{count}>", line 3, in <module>')
    assert traceback[at + 1] == "    check(-1)"
    assert traceback[at + 2] == f'  File "<cell-{defined}>", line 3, in check'
    assert traceback[at + 3] == "    assert v > 0, 'negative'"


def test_syntax_error_comes_from_the_board(unix_kernel: KernelHarness) -> None:
    reply = unix_kernel.execute("x = (1,\ny = 2\n")
    assert (reply.status, reply.ename) == ("error", "SyntaxError")


def test_interrupt_stops_the_board_and_the_next_cell_runs(unix_kernel: KernelHarness) -> None:
    unix_kernel.execute("kept = 'state'")
    kc = unix_kernel.kc
    msg_id = kc.execute("print('looping')\nwhile True:\n    pass")
    while True:  # wait until the board is running the loop
        msg = kc.get_iopub_msg(timeout=10)
        if msg["parent_header"].get("msg_id") == msg_id and msg["msg_type"] == "stream":
            break
    started = time.monotonic()
    unix_kernel.km.interrupt_kernel()
    reply = kc.get_shell_msg(timeout=10)
    elapsed = time.monotonic() - started
    assert reply["parent_header"]["msg_id"] == msg_id
    assert reply["content"]["ename"] == "KeyboardInterrupt"
    assert elapsed < INTERRUPT_BUDGET, f"interrupt answered after {elapsed:.2f} s"
    after = unix_kernel.execute("print(kept)")
    assert (after.status, after.stdout) == ("ok", "state\n")


def test_cell_timeout_interrupts_and_the_next_cell_runs(unix_kernel: KernelHarness) -> None:
    reply = unix_kernel.execute("%%timeout 0.5\nprint('spin')\nwhile True:\n    pass")
    assert (reply.status, reply.ename) == ("error", "BoardTimeout")
    assert "0.5 s" in reply.content["evalue"] and reply.stdout == "spin\n"
    assert unix_kernel.execute("print('next')").stdout == "next\n"


def test_session_timeout_magic(unix_kernel: KernelHarness) -> None:
    assert unix_kernel.execute("%timeout 0.4").status == "ok"
    try:
        assert "0.4" in unix_kernel.execute("%timeout").stdout
        assert unix_kernel.execute("while True: pass").ename == "BoardTimeout"
    finally:
        unix_kernel.execute("%timeout 60")
    assert unix_kernel.execute("1 + 1").result == "2"


def test_completion_lists_board_attributes(unix_kernel: KernelHarness) -> None:
    code = "import machine; machine."
    reply = unix_kernel.request("complete", code, len(code))
    assert {"mem8", "idle", "Signal"} <= set(reply["matches"])
    assert reply["cursor_start"] == reply["cursor_end"] == len(code)
    code = "machine.me"
    reply = unix_kernel.request("complete", "import machine\n" + code, 15 + len(code))
    assert reply["matches"] == ["mem16", "mem32", "mem8"]
    assert reply["cursor_start"] == 15 + len("machine.")


def test_completion_of_board_globals_and_magics(unix_kernel: KernelHarness) -> None:
    unix_kernel.execute("blinker_count = 3")
    assert "blinker_count" in unix_kernel.request("complete", "blink", 5)["matches"]
    assert unix_kernel.request("complete", "%time", 5)["matches"] == ["timeout"]


def test_completion_has_no_side_effect_on_board_globals(unix_kernel: KernelHarness) -> None:
    unix_kernel.request("complete", "import os; os.", 14)
    reply = unix_kernel.execute("'_mph_c' in globals(), 'os' in globals()")
    assert reply.result == "(False, False)"


def test_inspection_answers_from_the_board(unix_kernel: KernelHarness) -> None:
    unix_kernel.execute("import machine")
    reply = unix_kernel.request("inspect", "machine.idle", 10)
    assert reply["found"]
    assert "function" in reply["data"]["text/plain"]
    unix_kernel.execute('def blink(pin, times=3):\n    """Blink a pin."""\n    return times')
    text = unix_kernel.request("inspect", "blink(", 6)["data"]["text/plain"]
    assert "def blink(pin, times=3)" in text and "Blink a pin." in text
    assert not unix_kernel.request("inspect", "no_such_name", 5)["found"]


def test_is_complete_is_answered(unix_kernel: KernelHarness) -> None:
    assert unix_kernel.request("is_complete", "for i in x:")["status"] == "incomplete"
    assert unix_kernel.request("is_complete", "x = 1")["status"] == "complete"


@pytest.mark.parametrize("name", magic_names())
def test_every_magic_has_help(unix_kernel: KernelHarness, name: str) -> None:
    form = "%" if MAGICS[name].line else "%%"
    reply = unix_kernel.execute(f"{form}{name} -h\n")
    assert reply.status == "ok"
    assert reply.stdout.startswith(f"usage: {form}{name}")


def test_unknown_magic_and_bad_arguments_fail_the_cell(unix_kernel: KernelHarness) -> None:
    unknown = unix_kernel.execute("%nosuchmagic")
    assert unknown.ename == "UsageError" and "nosuchmagic" in unknown.content["evalue"]
    assert unix_kernel.execute("%timeout abc").ename == "UsageError"
    assert unix_kernel.execute("%cp a b").ename == "UsageError"


def test_board_display_helper_emits_rich_output(unix_kernel: KernelHarness) -> None:
    reply = unix_kernel.execute("display({'temp': 21.5})\nprint('done')")
    (data,) = reply.of_type("display_data")
    assert data["data"]["application/json"] == {"temp": 21.5}
    reply = unix_kernel.execute("display(b'\\x89PNG\\r\\n\\x1a\\n')")
    assert reply.of_type("display_data")[0]["data"]["image/png"] == "iVBORw0KGgo="


def test_board_output_cannot_forge_rich_output(unix_kernel: KernelHarness) -> None:
    """Issue 12, finding 4: a display frame in data the board reads (a file here; a sensor or
    a network reply alike) stays text; only the session's helper makes rich output."""
    forged = "\x1e!text/html <img src=x onerror=alert(1)>\x1f"
    write = f"f = open('/reply.txt', 'w')\nf.write({forged!r})\nf.close()"
    assert unix_kernel.execute(write).status == "ok"
    reply = unix_kernel.execute("display({'ok': 1})\nprint(open('/reply.txt').read())")
    assert [d["data"].get("application/json") for d in reply.of_type("display_data")] == [{"ok": 1}]
    assert forged in reply.stdout
    reply = unix_kernel.execute(  # what board code could reach to learn the key
        "print(hasattr(display, '__closure__'), '_mph_display' in globals())"
    )
    assert reply.stdout == "False False\n"


def test_store_board_data_and_plot_it_on_the_host(unix_kernel: KernelHarness) -> None:
    unix_kernel.execute("samples = [1, 4, 9, 16]")
    assert unix_kernel.execute("%store samples").status == "ok"
    reply = unix_kernel.execute(
        "%%host\nimport matplotlib.pyplot as plt\nplt.plot(samples)\nsum(samples)"
    )
    assert reply.status == "ok", reply.content
    assert reply.result == "30"
    assert reply.of_type("display_data")[0]["data"]["image/png"].startswith("iVBOR")
    assert (
        unix_kernel.execute("%%host\nscaled = [s * 2 for s in samples]\n%store scaled").status
        == "ok"
    )
    assert unix_kernel.execute("%store -r scaled").status == "ok"
    assert unix_kernel.execute("scaled[-1]").result == "32"


def test_host_errors_are_error_replies(unix_kernel: KernelHarness) -> None:
    reply = unix_kernel.execute("%%host\nx = 1\n{}['missing']")
    assert reply.ename == "KeyError"
    assert any("----> 2 {}['missing']" in line for line in reply.content["traceback"])


def test_bash_cell(unix_kernel: KernelHarness) -> None:
    assert unix_kernel.execute("%%bash\necho from-bash").stdout == "from-bash\n"
    assert unix_kernel.execute("%%bash\nexit 3").ename == "CalledProcessError"


def test_file_magics_round_trip(unix_kernel: KernelHarness, tmp_path: Path) -> None:
    run = unix_kernel.execute
    assert run("%%sendtofile /notes.txt\nline one\nline two\n").status == "ok"
    assert run("%cat /notes.txt").stdout == "line one\nline two\n"
    assert run("%mkdirs /data/deep").status == "ok"
    (tmp_path / "a.bin").write_bytes(bytes(range(256)) * 3)
    assert run(f"%cp {tmp_path / 'a.bin'} :/data/deep/a.bin").status == "ok"
    assert run(f"%cp :/data/deep/a.bin {tmp_path / 'b.bin'}").status == "ok"
    assert (tmp_path / "b.bin").read_bytes() == bytes(range(256)) * 3
    listing = run("%rlist -r /").stdout
    assert "notes.txt" in listing and "data/" in listing and "768  a.bin" in listing
    assert run("%rm -r /data").status == "ok"
    assert "data/" not in run("%rlist /").stdout
    assert run("%cat /nope.txt").ename == "FileNotFoundError"


def test_rsync_and_rdiff(unix_kernel: KernelHarness, tmp_path: Path) -> None:
    (tmp_path / "lib").mkdir()
    (tmp_path / "main.py").write_text("print('main')\n")
    (tmp_path / "lib" / "util.py").write_text("X = 1\n")
    run = unix_kernel.execute
    run("%mkdirs /app")
    assert "+ main.py" in run(f"%rdiff {tmp_path} /app").stdout
    assert run(f"%rsync {tmp_path} /app").status == "ok"
    assert "2 same, 0 changed" in run(f"%rdiff {tmp_path} /app").stdout
    (tmp_path / "lib" / "util.py").write_text("X = 2\n")
    assert "M lib/util.py" in run(f"%rdiff {tmp_path} /app").stdout
    synced = run(f"%rsync {tmp_path} /app").stdout
    assert "write lib/util.py" in synced and "write main.py" not in synced
    assert run("%cat /app/lib/util.py").stdout == "X = 2\n"


def test_connect_cell_runs_on_each_board(unix_kernel: KernelHarness) -> None:
    reply = unix_kernel.execute("%%connect unix unix: --host\nprint('hello')")
    assert reply.status == "ok", reply.content
    assert reply.stdout.count("hello\n") == 3
    assert "--- unix ---" in reply.stdout and "--- unix: ---" in reply.stdout
    assert "--- host ---" in reply.stdout


def test_connect_and_board_facts(unix_kernel: KernelHarness) -> None:
    connected = unix_kernel.execute("%connect unix")
    assert connected.stdout.startswith("Connected to unix (unix:): micropython")
    assert unix_kernel.execute("%name").stdout == "unix (unix:)\n"
    assert unix_kernel.execute("%platform").stdout.startswith("linux: micropython")
    assert "board - host" in unix_kernel.execute("%gettime").stdout
    info = unix_kernel.execute("%info").stdout
    assert "implementation  micropython" in info and "uid" in info


def test_soft_reset_magic_clears_state(unix_kernel: KernelHarness) -> None:
    unix_kernel.execute("before_reset = 1")
    assert unix_kernel.execute("%softreset").status == "ok"
    assert unix_kernel.execute("before_reset").ename == "NameError"


def test_restart_soft_resets_the_board(unix_kernel: KernelHarness) -> None:
    unix_kernel.execute("survivor = 1")
    unix_kernel.km.restart_kernel(now=False)
    unix_kernel.kc.wait_for_ready(timeout=60)
    assert unix_kernel.execute("survivor").ename == "NameError"
    assert unix_kernel.execute("1 + 1").result == "2"


def test_board_input_becomes_an_input_request(unix_kernel: KernelHarness) -> None:
    kc = unix_kernel.kc
    prompts: list[str] = []

    def answer(msg: dict[str, object]) -> None:
        content = msg["content"]
        assert isinstance(content, dict)
        prompts.append(str(content["prompt"]))
        kc.input("forty two")

    outputs: list[dict[str, object]] = []
    reply = kc.execute_interactive(
        "print('before')\nname = input('your name? ')\nprint('got', repr(name))",
        timeout=30,
        allow_stdin=True,
        stdin_hook=answer,
        output_hook=outputs.append,
    )
    assert reply["content"]["status"] == "ok", reply["content"]
    assert prompts == ["your name? "]
    text = "".join(m["content"]["text"] for m in outputs if m["msg_type"] == "stream")
    assert text == "before\ngot 'forty two'\n"


def test_board_input_without_stdin_is_a_clear_error(unix_kernel: KernelHarness) -> None:
    reply = unix_kernel.kc.execute_interactive(
        "x = input('value? ')", timeout=30, allow_stdin=False
    )
    content = reply["content"]
    assert content["ename"] == "EOFError" and "stdin is not allowed" in content["evalue"]
    assert unix_kernel.execute("print('next')").stdout == "next\n"


def test_live_displays_update_in_place(unix_kernel: KernelHarness) -> None:
    reply = unix_kernel.execute(
        "display({'n': 0}, display_id='counter')\n"
        "for i in range(1, 4):\n"
        "    update_display({'n': i}, display_id='counter')\n"
        "clear_output(wait=True)\n"
        "print('done')"
    )
    assert reply.status == "ok", reply.content
    kinds = [m["msg_type"] for m in reply.messages if m["msg_type"] != "status"]
    assert kinds == [
        "execute_input",
        "display_data",
        *["update_display_data"] * 3,
        "clear_output",
        "stream",
    ], kinds
    shown = reply.of_type("display_data")[0]
    assert shown["transient"] == {"display_id": "counter"}
    assert [u["data"]["application/json"] for u in reply.of_type("update_display_data")] == [
        {"n": 1},
        {"n": 2},
        {"n": 3},
    ]
    assert reply.of_type("clear_output") == [{"wait": True}]
    plain = unix_kernel.execute("display({'plain': 1})")
    assert plain.of_type("display_data")[0]["transient"] == {}


def test_host_display_handles_update_in_place(unix_kernel: KernelHarness) -> None:
    reply = unix_kernel.execute(
        "%%host\nhandle = display({'a': 1}, raw=True, display_id=True)\n"
        "handle.update({'a': 2}, raw=True)"
    )
    assert reply.status == "ok", reply.content
    (shown,) = reply.of_type("display_data")
    (updated,) = reply.of_type("update_display_data")
    assert shown["transient"]["display_id"] == updated["transient"]["display_id"]
