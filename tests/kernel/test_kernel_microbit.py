"""The must-hold kernel behaviours on the QEMU micro:bit (MicroPython 1.9.2, no raw-paste)."""

from __future__ import annotations

import time

import pytest

from tests.kernel.conftest import KernelHarness
from tests.kernel.test_kernel_unix import INTERRUPT_BUDGET

pytestmark = pytest.mark.microbit


def test_value_output_and_error_reply(microbit_kernel: KernelHarness) -> None:
    reply = microbit_kernel.execute("print('hi')\nn = 6\nn * 7")
    assert (reply.stdout, reply.result) == ("hi\n", "42")
    error = microbit_kernel.execute("def f():\n    return 1/0\nf()")
    assert (error.status, error.ename) == ("error", "ZeroDivisionError")
    assert '  File "<cell-2>", line 3, in <module>' in error.content["traceback"]


def test_long_cell_keeps_cell_line_numbers(microbit_kernel: KernelHarness) -> None:
    body = "".join(f"v{i} = {i}\n" for i in range(60))  # too big for one plain-raw write
    reply = microbit_kernel.execute(body + "undefined_name")
    assert reply.ename == "NameError"
    count = reply.content["execution_count"]
    assert f'  File "<cell-{count}>", line 61, in <module>' in reply.content["traceback"]


def test_interrupt_stops_the_board_and_the_next_cell_runs(microbit_kernel: KernelHarness) -> None:
    microbit_kernel.execute("kept = 'state'")
    kc = microbit_kernel.kc
    msg_id = kc.execute("print('looping')\nwhile True:\n    pass")
    while True:
        msg = kc.get_iopub_msg(timeout=10)
        if msg["parent_header"].get("msg_id") == msg_id and msg["msg_type"] == "stream":
            break
    started = time.monotonic()
    microbit_kernel.km.interrupt_kernel()
    reply = kc.get_shell_msg(timeout=10)
    elapsed = time.monotonic() - started
    assert reply["content"]["ename"] == "KeyboardInterrupt"
    assert elapsed < INTERRUPT_BUDGET, f"interrupt answered after {elapsed:.2f} s"
    assert microbit_kernel.execute("print(kept)").stdout == "state\n"


def test_cell_timeout_interrupts_and_the_next_cell_runs(microbit_kernel: KernelHarness) -> None:
    reply = microbit_kernel.execute("%%timeout 0.5\nwhile True:\n    pass")
    assert reply.ename == "BoardTimeout"
    assert microbit_kernel.execute("print('next')").stdout == "next\n"


def test_completion_and_inspection_from_the_board(microbit_kernel: KernelHarness) -> None:
    code = "import machine; machine."
    matches = microbit_kernel.request("complete", code, len(code))["matches"]
    assert {"unique_id", "reset", "freq"} <= set(matches)
    microbit_kernel.execute("import machine")
    reply = microbit_kernel.request("inspect", "machine.freq", 10)
    assert reply["found"] and "Type:      function" in reply["data"]["text/plain"]


def test_rich_output_and_files_on_a_small_board(microbit_kernel: KernelHarness) -> None:
    shown = microbit_kernel.execute("display({'t': 21})\ndisplay(b'\\x89PNG')")
    data = [d["data"] for d in shown.of_type("display_data")]
    assert data[0]["application/json"] == {"t": 21}
    assert data[1]["image/png"] == "iVBORw=="
    assert microbit_kernel.execute("%sendtofile k.txt\nhello\n").status == "ok"
    assert microbit_kernel.execute("%cat k.txt").stdout == "hello\n"
    assert "6  k.txt" in microbit_kernel.execute("%rlist").stdout
    assert microbit_kernel.execute("%rm k.txt").status == "ok"


def test_display_helper_coexists_with_the_led_screen(microbit_kernel: KernelHarness) -> None:
    microbit_kernel.execute("%softreset")  # 16 KB of RAM: start from a clean heap
    reply = microbit_kernel.execute(
        "from microbit import *\ndisplay.show(Image.HEART)\ndisplay(b'\\x89PNG')\n"
        "display.get_pixel(2, 2)"
    )
    assert reply.status == "ok", reply.content
    assert reply.of_type("display_data")[0]["data"]["image/png"] == "iVBORw=="
    assert reply.result == "9", "display.get_pixel reached the LED screen"
    again = microbit_kernel.execute("display({'leds': display.get_pixel(0, 0)})")
    assert again.status == "ok", (again.content, again.messages)
    assert again.of_type("display_data")[0]["data"]["application/json"] == {"leds": 0}
