"""Raw Jupyter messages through a real kernel: every request gets one well-formed reply, hostile
fields get an error reply instead of a traceback in the kernel and silence on the wire, kernel
subshells are refused, and the kernel stays in step (the next cell shows its own result)."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import Kernel, start_kernel

_counter = itertools.count(1)


@pytest.fixture(scope="module")
def kernel() -> Iterator[Kernel]:
    k = start_kernel()
    # a packer that writes lone surrogates as JSON escapes (\ud800), which a JSON reader turns
    # back into lone surrogates; jupyter_client's own packer cannot send them at all
    k.kc.session.pack = lambda obj: json.dumps(obj, ensure_ascii=True, default=str).encode()
    k.run("seen = 0")
    yield k
    k.shutdown()


def send(
    kernel: Kernel, channel: str, msg_type: str, content: Any, **header: Any
) -> dict[str, Any]:
    """Send one raw request; return its reply (the first message that names it as parent)."""
    kc = kernel.kc
    msg = kc.session.msg(msg_type, {})
    msg["content"] = content if isinstance(content, bytes) else kc.session.pack(content)
    msg["header"].update(header)
    target = kc.shell_channel if channel == "shell" else kc.control_channel
    target.send(msg)
    receive = kc.get_shell_msg if channel == "shell" else kc.get_control_msg
    while True:
        reply = receive(timeout=20)
        if reply["parent_header"].get("msg_id") == msg["header"]["msg_id"]:
            return dict(reply)


def assert_error_reply(reply: dict[str, Any], msg_type: str) -> None:
    assert reply["msg_type"] == msg_type.removesuffix("_request") + "_reply"
    content = reply["content"]
    assert content["status"] == "error"
    assert isinstance(content["ename"], str)
    assert content["ename"]
    assert isinstance(content["evalue"], str)
    assert content["evalue"]
    assert "Traceback" not in content["evalue"]


def assert_in_step(kernel: Kernel) -> None:
    """A cell after the request runs and shows its own result, not an earlier one's."""
    n = next(_counter)
    cell = kernel.run(f"seen = seen + 1\nreturn {n} * 1000 + seen")
    assert cell.status == "ok", cell.error
    assert cell.result is not None
    assert cell.result.startswith(str(n))


# -- kernel subshells -------------------------------------------------------------------------
def test_kernel_info_does_not_advertise_subshells(kernel: Kernel) -> None:
    reply = send(kernel, "shell", "kernel_info_request", {})
    assert "kernel subshells" not in reply["content"]["supported_features"]


@pytest.mark.parametrize("channel", ["control", "shell"])
@pytest.mark.parametrize(
    "msg_type", ["create_subshell_request", "list_subshell_request", "delete_subshell_request"]
)
def test_subshell_requests_are_refused(kernel: Kernel, channel: str, msg_type: str) -> None:
    reply = send(kernel, channel, msg_type, {"subshell_id": "x"})
    assert_error_reply(reply, msg_type)
    assert "subshell" in reply["content"]["evalue"]
    assert_in_step(kernel)


@pytest.mark.parametrize("subshell_id", ["made-up", "", 0, ["a"], {"a": 1}])
@pytest.mark.parametrize(
    ("msg_type", "content"),
    [
        ("execute_request", {"code": "%timeout 1\nwhile true do end", "silent": False}),
        ("complete_request", {"code": "pri", "cursor_pos": 3}),
        ("inspect_request", {"code": "print", "cursor_pos": 5, "detail_level": 0}),
        ("is_complete_request", {"code": "x = "}),
        ("kernel_info_request", {}),
        ("history_request", {"hist_access_type": "tail", "output": False, "raw": True, "n": 1}),
    ],
)
def test_requests_addressed_to_a_subshell_are_refused(
    kernel: Kernel, msg_type: str, content: dict[str, Any], subshell_id: Any
) -> None:
    reply = send(kernel, "shell", msg_type, content, subshell_id=subshell_id)
    assert_error_reply(reply, msg_type)
    assert "subshell" in reply["content"]["evalue"]
    assert_in_step(kernel)


@pytest.mark.parametrize(
    ("msg_type", "content"),
    [
        ("execute_request", {"code": "%timeout 1\nwhile true do end", "silent": False}),
        ("complete_request", {"code": "pri", "cursor_pos": 3}),
        ("inspect_request", {"code": "print", "cursor_pos": 5, "detail_level": 0}),
        ("is_complete_request", {"code": "x = "}),
    ],
)
def test_worker_requests_on_the_control_channel_are_refused(
    kernel: Kernel, msg_type: str, content: dict[str, Any]
) -> None:
    reply = send(kernel, "control", msg_type, content)
    assert_error_reply(reply, msg_type)
    assert "shell channel" in reply["content"]["evalue"]
    assert_in_step(kernel)


@pytest.mark.parametrize("channel", ["control", "shell"])
def test_kernel_info_is_answered_on_either_channel(kernel: Kernel, channel: str) -> None:
    reply = send(kernel, channel, "kernel_info_request", {})
    assert reply["content"]["status"] == "ok"
    assert reply["content"]["implementation"] == "safekernel"


def test_a_refused_subshell_cell_runs_nothing(kernel: Kernel) -> None:
    kernel.run("touched = false")
    reply = send(kernel, "shell", "execute_request", {"code": "touched = true"}, subshell_id="s")
    assert_error_reply(reply, "execute_request")
    assert kernel.run("touched").result == "false"


# -- hostile fields ---------------------------------------------------------------------------
HUGE = 2**64
HOSTILE_CURSORS = [HUGE, -1, -HUGE, 1.5, "4", None, [], [1], {"a": 1}, True, 10**400]


@pytest.mark.parametrize("cursor", HOSTILE_CURSORS, ids=repr)
@pytest.mark.parametrize("msg_type", ["complete_request", "inspect_request"])
def test_hostile_cursor_positions_get_a_reply(kernel: Kernel, msg_type: str, cursor: Any) -> None:
    reply = send(kernel, "shell", msg_type, {"code": "pri", "cursor_pos": cursor})
    assert reply["msg_type"] == msg_type.removesuffix("_request") + "_reply"
    if reply["content"]["status"] != "ok":
        assert_error_reply(reply, msg_type)
    assert_in_step(kernel)


@pytest.mark.parametrize("level", [HUGE, -1, 2, 0.5, "0", [], {"a": 0}, True], ids=repr)
def test_hostile_detail_levels_get_an_error_reply(kernel: Kernel, level: Any) -> None:
    content = {"code": "print", "cursor_pos": 5, "detail_level": level}
    assert_error_reply(send(kernel, "shell", "inspect_request", content), "inspect_request")
    assert_in_step(kernel)


LONE = "print('\ud800')"


@pytest.mark.parametrize(
    ("msg_type", "content"),
    [
        ("execute_request", {"code": LONE}),
        ("execute_request", {"code": "\udfff"}),
        ("complete_request", {"code": LONE, "cursor_pos": 3}),
        ("inspect_request", {"code": LONE, "cursor_pos": 3}),
        ("is_complete_request", {"code": LONE}),
        (
            "history_request",
            {"hist_access_type": "search", "pattern": "\ud800*", "output": False, "raw": True},
        ),
        ("execute_request", {"code": "1", "user_expressions": {"\ud800": "x"}}),
        ("inspect_request", {"code": "print", "cursor_pos": 1, "omit_sections": ["\ud800"]}),
    ],
)
def test_lone_surrogates_get_an_error_reply(
    kernel: Kernel, msg_type: str, content: dict[str, Any]
) -> None:
    assert_error_reply(send(kernel, "shell", msg_type, content), msg_type)
    assert_in_step(kernel)


@pytest.mark.parametrize(
    ("msg_type", "content"),
    [
        ("execute_request", {}),
        ("execute_request", {"code": None}),
        ("execute_request", {"code": 5}),
        ("execute_request", {"code": ["1"]}),
        ("execute_request", {"code": "1", "silent": "false"}),
        ("execute_request", {"code": "1", "silent": 0}),
        ("execute_request", {"code": "1", "store_history": "yes"}),
        ("execute_request", {"code": "1", "allow_stdin": [True]}),
        ("execute_request", {"code": "1", "user_expressions": ["x"]}),
        ("execute_request", {"code": "1", "user_expressions": {"a": 5}}),
        ("execute_request", {"code": "1", "stop_on_error": "no"}),
        ("complete_request", {}),
        ("complete_request", {"cursor_pos": 0}),
        ("inspect_request", {"cursor_pos": 0}),
        ("inspect_request", {"code": "x", "cursor_pos": 0, "omit_sections": "abc"}),
        ("inspect_request", {"code": "x", "cursor_pos": 0, "omit_sections": [[]]}),
        ("is_complete_request", {}),
        ("is_complete_request", {"code": {"a": 1}}),
        ("history_request", {}),
        ("history_request", {"hist_access_type": "everything"}),
        ("history_request", {"hist_access_type": "tail", "n": "3"}),
        ("shutdown_request", {"restart": "please"}),
        ("comm_info_request", {"target_name": 5}),
        ("execute_request", b"[1, 2]"),
        ("complete_request", b'"code"'),
        ("kernel_info_request", b"null"),
        ("no_such_request", {}),
        ("debug_request", {"command": "initialize"}),
    ],
)
def test_missing_and_mistyped_fields_get_an_error_reply(
    kernel: Kernel, msg_type: str, content: Any
) -> None:
    assert_error_reply(send(kernel, "shell", msg_type, content), msg_type)
    assert_in_step(kernel)


def test_huge_code_gets_an_error_reply_and_keeps_the_session(kernel: Kernel) -> None:
    kernel.run("kept_past_huge = 11")
    code = "x = 1 " * (3 * 1024 * 1024)  # 18 MB: over the channel's frame to a worker
    for msg_type, content in [
        ("execute_request", {"code": code}),
        ("is_complete_request", {"code": code}),
        ("complete_request", {"code": code, "cursor_pos": 3}),
    ]:
        reply = send(kernel, "shell", msg_type, content)
        assert_error_reply(reply, msg_type)
        assert "bytes" in reply["content"]["evalue"]
    assert kernel.run("kept_past_huge").result == "11"


def test_well_formed_requests_with_extra_and_absent_optional_fields_work(kernel: Kernel) -> None:
    reply = send(kernel, "shell", "complete_request", {"code": "pri", "extra": [1, 2]})
    assert reply["content"]["status"] == "ok"
    assert "print" in reply["content"]["matches"]
    reply = send(kernel, "shell", "inspect_request", {"code": "print", "cursor_pos": 5})
    assert reply["content"]["status"] == "ok"
    assert reply["content"]["found"]
    history = {"hist_access_type": "range", "output": False, "raw": True, "bogus": 1}
    assert send(kernel, "shell", "history_request", history)["content"]["status"] == "ok"
    reply = send(kernel, "shell", "execute_request", {"code": "return 6 * 7"})
    assert reply["content"]["status"] == "ok"
    assert_in_step(kernel)


def test_a_header_that_cannot_be_echoed_still_gets_a_reply(kernel: Kernel) -> None:
    kc = kernel.kc
    msg = kc.session.msg("execute_request", {"code": "return 1"})
    msg["header"]["username"] = "\ud800"
    kc.shell_channel.send(msg)
    reply = kc.get_shell_msg(timeout=20)
    while reply["parent_header"].get("msg_id") != msg["header"]["msg_id"]:
        reply = kc.get_shell_msg(timeout=20)
    assert_error_reply(reply, "execute_request")
    assert_in_step(kernel)


def _reply_to(kernel: Kernel, msg_id: str) -> dict[str, Any]:
    while True:
        reply = kernel.kc.get_shell_msg(timeout=20)
        if reply["parent_header"].get("msg_id") == msg_id:
            return dict(reply)


def test_cells_queued_behind_an_error_are_aborted_unless_stop_on_error_is_off(
    kernel: Kernel,
) -> None:
    # "Run All": the second and third cells are sent before the first one fails
    slow_error = "local t = os.clock() while os.clock() - t < 0.3 do end\nerror('first')"
    failing = kernel.kc.execute(slow_error)
    behind = kernel.kc.execute("seen = seen + 100")
    also_behind = kernel.kc.execute("return 1")
    assert _reply_to(kernel, failing)["content"]["status"] == "error"
    assert _reply_to(kernel, behind)["content"]["status"] == "aborted"
    assert _reply_to(kernel, also_behind)["content"]["status"] == "aborted"
    failing = kernel.kc.execute(slow_error, stop_on_error=False)
    behind = kernel.kc.execute("return 2")
    assert _reply_to(kernel, failing)["content"]["status"] == "error"
    assert _reply_to(kernel, behind)["content"]["status"] == "ok"
    assert_in_step(kernel)


def test_a_cell_sent_once_the_error_reply_arrived_is_never_aborted(kernel: Kernel) -> None:
    # ipykernel flushed the shell socket after sending the error reply: a client that sent
    # its next cell at once had it aborted now and then (1 in 40 pairs here)
    aborted = 0
    for _ in range(60):
        assert _reply_to(kernel, kernel.kc.execute("error('boom')"))["content"]["status"] == "error"
        if _reply_to(kernel, kernel.kc.execute("return 1"))["content"]["status"] == "aborted":
            aborted += 1
    assert aborted == 0
    assert_in_step(kernel)
