"""Kernel, session and pool on the scripted fake runtime (safekernel/runtimes/fake): the real
kernel process, zygote and confined workers, with a language that needs no lupa and starts in
milliseconds. It proves the runtime seam: the kernel runs a second runtime chosen by one
option, and nothing of Lua is loaded anywhere."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Iterator
from typing import Any

import psutil
import pytest

from safekernel.kernel.magics import parse_cell
from safekernel.kernel.pool import Pool
from safekernel.kernel.session import Session
from safekernel.kernel.zygote import ZygoteProcess
from safekernel.limits import Limits
from safekernel.wire.confinement import SandboxConfig
from tests.conftest import Kernel, start_kernel, wait_gone, zygotes

LOG = logging.getLogger("test-fake-runtime")


@pytest.fixture(scope="module")
def fake_kernel() -> Iterator[Kernel]:
    k = start_kernel("--SafeKernel.runtime=fake")
    yield k
    procs = k.tree()
    k.shutdown()
    assert wait_gone(procs) == []


# -- through a real kernel over ZMQ --------------------------------------------------------
def test_kernel_info_describes_the_chosen_runtime(fake_kernel: Kernel) -> None:
    reply = fake_kernel.kc.kernel_info(reply=True)["content"]
    assert reply["language_info"]["name"] == "fake"
    assert reply["language_info"]["file_extension"] == ".txt"
    assert "a scripted test runtime in a sandboxed worker" in reply["banner"]


def test_events_reach_the_frontend_in_order(fake_kernel: Kernel) -> None:
    run = fake_kernel.run("print one\nstderr two\ndisplay text/html <b>three</b>\nresult four")
    assert run.status == "ok"
    assert run.stdout == "one\n"
    assert run.stderr == "two\n"
    assert run.of_type("display_data")[0]["content"]["data"] == {"text/html": "<b>three</b>"}
    assert run.result == "four"
    kinds = [m["msg_type"] for m in run.outputs]
    assert kinds == ["stream", "stream", "display_data", "execute_result"]


def test_an_error_fails_the_cell_and_keeps_the_session(fake_kernel: Kernel) -> None:
    fake_kernel.run("set kept yes")
    run = fake_kernel.run("error ValueError nope")
    assert run.status == "error"
    assert run.reply["content"]["ename"] == "ValueError"
    assert run.reply["content"]["evalue"] == "nope"
    assert fake_kernel.run("get kept").stdout == "yes\n"


def test_a_soft_time_limit_keeps_the_worker(fake_kernel: Kernel) -> None:
    fake_kernel.run("set before_timeout 1")
    run = fake_kernel.run("%timeout 0.3\nsleep 30")
    assert run.reply["content"]["ename"] == "TimeLimitExceeded"
    assert "Your variables are kept" in run.reply["content"]["evalue"]
    assert fake_kernel.run("get before_timeout").stdout == "1\n"


def test_a_cell_stuck_past_its_limit_loses_the_worker(fake_kernel: Kernel) -> None:
    fake_kernel.run("set before_hang 1")
    run = fake_kernel.run("%timeout 0.2\nhang 30")
    assert run.reply["content"]["ename"] == "TimeLimitExceeded"
    assert "earlier variables are gone" in run.reply["content"]["evalue"]
    assert fake_kernel.run("get before_hang").stdout == "nil\n"


def test_a_crashing_worker_is_replaced(fake_kernel: Kernel) -> None:
    run = fake_kernel.run("exit 3")
    assert run.reply["content"]["ename"] == "WorkerCrashed"
    assert fake_kernel.run("print alive").stdout == "alive\n"


def test_an_interrupt_stops_a_busy_cell(fake_kernel: Kernel) -> None:
    started = threading.Event()

    def keep(msg: dict[str, Any]) -> None:
        if msg["msg_type"] == "stream":
            started.set()

    def fire() -> None:
        if started.wait(30):
            time.sleep(0.1)
            fake_kernel.km.interrupt_kernel()

    thread = threading.Thread(target=fire)
    thread.start()
    reply = fake_kernel.kc.execute_interactive("print go\nspin", output_hook=keep, timeout=30)
    thread.join()
    assert reply["content"]["ename"] == "KeyboardInterrupt"


def test_input_goes_through_the_stdin_channel(fake_kernel: Kernel) -> None:
    def answer(msg: dict[str, Any]) -> None:
        assert msg["content"]["prompt"] == "name?"
        fake_kernel.kc.input("Ada")

    run = fake_kernel.run("input name?", allow_stdin=True, stdin_hook=answer)
    assert run.stdout == "Ada\n"


def test_editor_requests_reach_the_runtime(fake_kernel: Kernel) -> None:
    fake_kernel.run("set alpha 1\nset alphabet 2")
    kc = fake_kernel.kc
    complete = kc.complete("get alp", 7, reply=True)["content"]
    assert complete["matches"] == ["alpha", "alphabet"]
    assert complete["cursor_start"] == 4
    inspect = kc.inspect("get alphabet", 12, reply=True)["content"]
    assert inspect["found"] is True
    assert inspect["data"] == {"text/plain": "2"}
    kc.is_complete("print a\\")
    assert kc.get_shell_msg(timeout=10)["content"]["status"] == "incomplete"


def test_a_request_with_hostile_fields_is_refused_and_keeps_the_session(
    fake_kernel: Kernel,
) -> None:
    fake_kernel.run("set survivor 1")
    msg_id = fake_kernel.kc.inspect("get survivor", 12, detail_level="x")  # type: ignore[arg-type]
    reply = fake_kernel.kc.get_shell_msg(timeout=10)
    assert reply["parent_header"]["msg_id"] == msg_id
    # refused at the kernel's door (kernel/requests.py) or answered "not found": never sent on
    assert reply["content"].get("found", False) is False
    assert fake_kernel.run("get survivor").stdout == "1\n"


def test_nothing_of_lua_is_loaded_in_the_zygote(fake_kernel: Kernel) -> None:
    [zygote] = zygotes(fake_kernel)
    assert zygote.cmdline()[-1] == "fake"
    mapped = [m.path for m in zygote.memory_maps()]
    assert not [path for path in mapped if "lupa" in path]


# -- the session and the pool in this process ----------------------------------------------
class Recorder:
    """A Frontend that keeps every event."""

    def __init__(self) -> None:
        self.events: list[tuple[Any, ...]] = []

    def stream(self, name: str, text: str) -> None:
        self.events.append(("stream", name, text))

    def display(
        self, data: dict[str, Any], metadata: dict[str, Any], display_id: str | None, update: bool
    ) -> None:
        self.events.append(("display", data))

    def clear_output(self, wait: bool) -> None:
        self.events.append(("clear_output", wait))

    def result(self, data: dict[str, Any]) -> None:
        self.events.append(("result", data))

    async def input(self, prompt: str, password: bool) -> str | None:
        return "typed"


def _session(isolation: str = "session", size: int = 1) -> Session:
    pool = Pool(
        zygote=ZygoteProcess("fake", LOG),
        sandbox=SandboxConfig(address_space=2 * 1024**3),
        memory=64 * 1024 * 1024,
        size=size,
        require_all_layers=False,
        log=LOG,
    )
    return Session(pool, Limits(timeout=5), isolation, LOG)


async def _execute(session: Session, code: str, frontend: Recorder) -> Any:
    options, body = parse_cell(code, session.defaults)
    return await session.execute(body, options, frontend)


def test_session_keeps_state_and_cell_isolation_does_not() -> None:
    async def scenario() -> tuple[list[Any], list[Any]]:
        kept, isolated = _session(), _session("cell")
        try:
            for session in (kept, isolated):
                await session.start()
            kept_events, isolated_events = Recorder(), Recorder()
            for session, events in ((kept, kept_events), (isolated, isolated_events)):
                await _execute(session, "set x 42", events)
                await _execute(session, "get x\ninput ?", events)
            return kept_events.events, isolated_events.events
        finally:
            await kept.close()
            await isolated.close()

    kept, isolated = asyncio.run(scenario())
    assert kept == [("stream", "stdout", "42\n"), ("stream", "stdout", "typed\n")]
    assert isolated == [("stream", "stdout", "nil\n"), ("stream", "stdout", "typed\n")]


def test_session_reports_a_checked_result_and_an_error() -> None:
    async def scenario() -> tuple[Any, Any, list[Any]]:
        session = _session()
        try:
            await session.start()
            events = Recorder()
            ok = await _execute(session, "display image/png notapng\nresult 7", events)
            failed = await _execute(session, "error Oops broken", events)
            return ok, failed, events.events
        finally:
            await session.close()

    ok, failed, events = asyncio.run(scenario())
    assert ok.status == "ok"
    assert "cpu_s" in ok.usage
    # the kernel checks the worker's bundle: a PNG that is not one is refused, with a reason
    assert events[0][0] == "stream"
    assert "image/png output was refused" in events[0][2]
    assert events[1] == ("result", {"text/plain": "7"})
    assert (failed.status, failed.ename, failed.evalue) == ("error", "Oops", "broken")


def test_pool_replaces_a_lost_zygote_and_keeps_serving() -> None:
    async def scenario() -> tuple[str, int, list[Any]]:
        session = _session(size=1)
        try:
            await session.start()
            await session.ready()
            runtime = session.pool.zygote.runtime
            old = psutil.Process(session.pool.zygote.pid)
            old.kill()
            old.wait(10)
            events = Recorder()
            await _execute(session, "print after", events)
            return runtime, session.pool.zygote_restarts, events.events
        finally:
            await session.close()

    runtime, restarts, events = asyncio.run(scenario())
    assert runtime == "fake"
    assert restarts == 1
    assert events[-1] == ("stream", "stdout", "after\n")
    assert "the sandbox worker stopped between cells" in events[0][2]
