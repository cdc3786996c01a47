"""Floods that bytes alone do not bound, through a real kernel: every message a cell makes the
kernel send counts against the cell (`%messages`), display updates and clear_outputs are
coalesced, the kernel's own notices are bounded, and a slow client still gets every cell's
reply, error and final `status: idle`."""

from __future__ import annotations

import time
from typing import Any

import psutil

from safekernel.limits import UPDATE_BURST
from tests.conftest import Kernel


def test_a_flood_of_tiny_displays_is_stopped_by_the_message_limit(kernel: Kernel) -> None:
    kernel.run("kept_over_display_flood = 5")
    run = kernel.run("%messages 300\nfor i = 1, 1e7 do display.html('x') end")
    assert run.error is not None
    assert run.error["ename"] == "OutputLimitExceeded"
    assert "more than 300 outputs" in run.error["evalue"]
    assert "%messages 1200" in run.error["evalue"]
    assert run.reply["metadata"]["verdict"] == "output-limit"
    assert run.reply["metadata"]["state"] == "kept"
    assert len(run.of_type("display_data")) == 300
    assert kernel.run("kept_over_display_flood").result == "5"


def test_prints_and_clears_count_as_messages_too(kernel: Kernel) -> None:
    run = kernel.run("%messages 200\nfor i = 1, 1e7 do print(i) clear_output() end")
    assert run.error is not None
    assert run.error["ename"] == "OutputLimitExceeded"
    assert len(run.outputs) <= 200 + 1  # the messages it was allowed, and its error
    assert kernel.run("6 * 7").result == "42"


def test_display_updates_past_a_burst_are_coalesced_to_the_latest(kernel: Kernel) -> None:
    run = kernel.run(
        "%messages 2000\n"
        "display.html('0', {id = 'bar'})\n"
        "for i = 1, 20000 do display.html(tostring(i), {id = 'bar', update = true}) end\n"
        "return 'done'"
    )
    assert run.status == "ok", run.error
    assert run.result == '"done"'
    updates = run.of_type("update_display_data")
    assert UPDATE_BURST < len(updates) < 2000
    # the frontend ends on the cell's last update, however many were dropped on the way
    assert updates[-1]["content"]["data"]["text/html"] == "20000"
    assert updates[-1]["content"]["transient"] == {"display_id": "bar"}
    # order is kept: the pending updates go out before anything published after them
    assert run.outputs.index(updates[-1]) < run.outputs.index(run.of_type("execute_result")[0])


def test_clear_output_after_clear_output_is_dropped(kernel: Kernel) -> None:
    run = kernel.run(
        "for i = 1, 5000 do clear_output(true) end\nprint('between')\n"
        "for i = 1, 5000 do clear_output() end"
    )
    assert run.status == "ok", run.error
    assert [m["content"]["wait"] for m in run.of_type("clear_output")] == [True, False]


def test_refusal_notices_are_one_per_kind_and_a_count(kernel: Kernel) -> None:
    run = kernel.run(
        "for i = 1, 3000 do display.png('not a png') display.jpeg('not a jpeg') end\nreturn 1"
    )
    assert run.status == "ok", run.error
    assert run.stderr.splitlines() == [
        "safekernel: an image/png output was refused: the bytes are not a PNG (no signature)",
        "safekernel: an image/jpeg output was refused: the bytes are not a JPEG (no SOI marker)",
        "safekernel: 5998 more outputs were refused (for the reasons above)",
    ]
    assert len(run.of_type("stream")) == 3


def test_a_cell_of_repeated_command_magics_answers_each_once(kernel: Kernel) -> None:
    run = kernel.run("%usage\n" * 20_000 + "return 1")
    assert run.status == "ok", run.error
    assert len(run.of_type("stream")) == 1


def test_a_slow_client_still_gets_the_error_and_the_final_idle(kernel: Kernel) -> None:
    """A client that does not read IOPub while a cell floods it (ZMQ's high-water mark used
    to drop the newest messages: the error and `status: idle`, and the client hung)."""
    kc = kernel.kc
    # more than ZMQ's queues on both ends and the TCP buffers between them hold
    code = (
        "%messages 30000\nlocal pad = string.rep('x', 1000)\n"
        "for i = 1, 20000 do display.html(pad .. i) end\nerror('the end')"
    )
    msg_id = kc.execute(code)
    reply = kc.get_shell_msg(timeout=60)  # reading shell only: IOPub piles up meanwhile
    assert reply["parent_header"]["msg_id"] == msg_id
    assert reply["content"]["status"] == "error"
    time.sleep(2)  # the kernel has sent everything by now; the client is still not reading
    seen: list[dict[str, Any]] = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        msg = kc.get_iopub_msg(timeout=10)
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        seen.append(msg)
        if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
            break
    kinds = [m["msg_type"] for m in seen]
    assert kinds.count("display_data") == 20000
    assert kinds[-2:] == ["error", "status"]
    assert seen[-2]["content"]["evalue"] == "cell:4: the end"
    assert kernel.run("6 * 7").result == "42"


def test_checking_a_heavy_json_output_costs_the_kernel_little_next_to_the_worker(
    kernel: Kernel,
) -> None:
    """7.8 MB of `[],` took the kernel seconds of CPU and hundreds of MB to parse, walk and
    re-serialise, more than the worker paid to make it; now it is counted, not parsed."""
    process = psutil.Process(kernel.pid)
    before = process.cpu_times()
    run = kernel.run(
        "%memory 512M\n%timeout 60\nlocal t = {}\nfor i = 1, 2600000 do t[i] = {} end\n"
        "display.json(t)\nreturn 'shown'",
        timeout=120,
    )
    after = process.cpu_times()
    assert run.result == '"shown"', run.error
    assert "holds more than 100,000 values" in run.stderr
    kernel_cpu = (after.user - before.user) + (after.system - before.system)
    worker_cpu = run.reply["metadata"]["usage"]["cpu_s"]
    assert kernel_cpu < 0.25 * worker_cpu, (kernel_cpu, worker_cpu)
    # and the kernel answers the next request as usual
    assert kernel.run("6 * 7").result == "42"
