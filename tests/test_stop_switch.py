"""The stop switch's registrations of raw `lua_State*`s (stopswitch.py, sandbox.lua).

The watchdog calls `lua_sethook` on every registered coroutine, so a registration must never
outlive its thread: it is dropped however the resume ends, and while it exists the sandbox holds
the thread itself. These run the runtime in-process (the attack suite runs the same kind of cell
through a real kernel) because they look at the switch's registrations and at what the Lua
collector may free, which no kernel message shows.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest

lupa = pytest.importorskip("lupa.lua54")

from safekernel.limits import MIB, Limits  # noqa: E402
from safekernel.runtimes.lua import LuaRuntime  # noqa: E402


def registered(runtime: LuaRuntime) -> int:
    return sum(1 for state in runtime._switch._threads if state)


class Recorder:
    """An EventSink that keeps stdout and, at every print, how many threads are registered."""

    def __init__(self, runtime: LuaRuntime) -> None:
        self.runtime = runtime
        self.text = ""
        self.counts: list[int] = []

    def stream(self, name: str, text: str) -> None:
        self.text += text
        self.counts.append(registered(self.runtime))

    def display(self, *args: Any) -> None:
        pass

    def clear_output(self, wait: bool) -> None:
        pass

    def input(self, prompt: str, password: bool) -> str:
        return ""


def run(runtime: LuaRuntime, code: str, stop_after: float | None = None, **limits: Any) -> Any:
    sink = Recorder(runtime)
    timer = None
    if stop_after is not None:
        timer = threading.Timer(stop_after, runtime.interrupt, ("time",))
        timer.start()
    try:
        outcome = runtime.execute(code, Limits(**limits), sink)
    finally:
        if timer is not None:
            timer.cancel()
    return outcome, sink


# Coroutines that fill memory, let it go and yield more values than then fit in a table: the
# resume wrapper once packed the results, and the memory error packing them skipped the leave,
# so the switch kept the raw pointer of a coroutine the collector then freed.
PACK_FAILS = """
coroutines = setmetatable({}, { __mode = "v" })
for round = 1, 40 do
  pcall(function()
    local f = function()
      local t = {}
      for j = 1, 200000 do t[j] = j end
      local hog = {}
      pcall(function() while true do hog[#hog + 1] = string.rep("x", 4000) .. #hog end end)
      hog = nil
      coroutine.yield(table.unpack(t, 1, 190000))
    end
    if round % 2 == 0 then
      local co = coroutine.create(f)
      coroutines[round] = co
      coroutine.resume(co)
    else
      coroutine.wrap(f)()
    end
  end)
end
"""

# After a full collection: how many of the cell's coroutines are still alive.
COUNT_ALIVE = """
print("collect")
local alive = 0
for _ in pairs(coroutines) do alive = alive + 1 end
print(alive)
"""


class Collecting(Recorder):
    """Runs a full collection when the cell prints "collect"."""

    def stream(self, name: str, text: str) -> None:
        if text == "collect\n":
            self.runtime._lua.globals().collectgarbage()
        super().stream(name, text)


def test_no_registered_coroutine_is_ever_freed() -> None:
    runtime = LuaRuntime(64 * MIB)
    sink = Collecting(runtime)
    outcome = runtime.execute(PACK_FAILS + COUNT_ALIVE, Limits(memory=32 * MIB), sink)
    assert outcome.error is None, outcome.error
    alive = int(sink.text.split()[-1])
    # every coroutine the switch still has registered is one the collector could not free
    assert sink.counts[-1] <= alive
    # and once the cell is over, nothing is registered or held any more
    assert registered(runtime) == 0
    runtime._lua.globals().collectgarbage()
    assert run(runtime, "return next(coroutines) == nil")[0].result == {"text/plain": "true"}


def test_a_stop_after_failed_packs_lands_and_keeps_the_state() -> None:
    runtime = LuaRuntime(64 * MIB)
    # the stop lands somewhere in the churn of coroutines (or in the loop after it)
    outcome, _ = run(
        runtime, "kept = 42\n" + PACK_FAILS + "while true do end", stop_after=1.0, memory=32 * MIB
    )
    assert outcome.error is not None
    assert outcome.error.ename == "TimeLimitExceeded"
    assert run(runtime, "return kept")[0].result == {"text/plain": "42"}


class FlakyLeave(LuaRuntime):
    """A runtime whose next `leave` callbacks fail, as a leave out of memory would."""

    fail_leaves = 0

    def _leave(self, *args: Any) -> None:
        if self.fail_leaves:
            self.fail_leaves -= 1
            raise RuntimeError("leave failed")
        super()._leave(*args)  # type: ignore[arg-type]


def test_a_thread_whose_leave_failed_stays_alive_while_registered() -> None:
    runtime = FlakyLeave(64 * MIB)
    code = """
    weak = setmetatable({}, { __mode = "v" })
    pcall(function()
      local co = coroutine.create(function() coroutine.yield() end)
      weak[1] = co
      coroutine.resume(co)
    end)
    local junk
    for i = 1, 200000 do junk = { i } end
    print(weak[1] ~= nil)
    """
    runtime.fail_leaves = 1
    outcome, sink = run(runtime, code)
    assert outcome.error is None, outcome.error
    # the leave failed, so the switch still has the thread: the thread must still be there
    assert sink.counts == [1]
    assert sink.text == "true\n"
    # after the cell the switch lets go, and then the sandbox does too: nothing is leaked
    assert registered(runtime) == 0
    runtime._lua.globals().collectgarbage()
    assert run(runtime, "return weak[1] == nil")[0].result == {"text/plain": "true"}


def test_a_stop_after_a_failed_leave_lands() -> None:
    runtime = FlakyLeave(64 * MIB)
    runtime.fail_leaves = 1
    code = """
    pcall(function()
      local co = coroutine.create(function() coroutine.yield() end)
      coroutine.resume(co)
    end)
    local junk
    for i = 1, 200000 do junk = { i } end
    kept = 7
    while true do end
    """
    outcome, _ = run(runtime, code, stop_after=0.5)
    assert outcome.error is not None
    assert outcome.error.ename == "TimeLimitExceeded"
    assert run(runtime, "return kept")[0].result == {"text/plain": "7"}


class FlakyEnter(LuaRuntime):
    """A runtime whose `enter` callback number `fail_at` fails after registering (as when the
    callback's result cannot be packed for lack of memory)."""

    fail_at = 0
    calls = 0

    def _enter(self, *args: Any) -> None:
        super()._enter(*args)  # type: ignore[arg-type]
        self.calls += 1
        if self.calls == self.fail_at:
            raise RuntimeError("enter failed")


def test_a_dead_coroutines_leftover_leave_drops_no_one_else() -> None:
    # `outer` dies while its resume of `inner` is half done (the third registration fails), so
    # its stack keeps that resume's pending leave. coroutine.close(outer) runs it later; it
    # must not drop the close's own registration of `outer`, or a loop in outer's __close
    # could not be stopped.
    runtime = FlakyEnter(64 * MIB)
    runtime.fail_at = 3
    code = """
    local inner = coroutine.create(function() coroutine.yield() end)
    local outer = coroutine.create(function()
      local guard <close> = setmetatable({}, { __close = function() print("closing") end })
      coroutine.yield()
      coroutine.resume(inner)
    end)
    coroutine.resume(outer)
    print(select("#", coroutine.resume(outer)))
    coroutine.wrap(function() coroutine.close(outer) print("closed") end)()
    """
    outcome, sink = run(runtime, code)
    assert outcome.error is None, outcome.error
    assert sink.text == "2\nclosing\nclosed\n"
    assert sink.counts == [0, 2, 1]


LOOPS = "return { complete = function() while true do end end, " + (
    "inspect = function() while true do end end, is_complete = function() while true do end end }"
)


@pytest.mark.parametrize("request_kind", ["complete", "inspect", "is_complete"])
def test_an_editor_request_stopped_by_the_watchdog_answers_empty(request_kind: str) -> None:
    # the worker's watchdog stops an editor request at its deadline as it stops a cell; the
    # runtime then answers empty itself (the kernel ends a worker only if no answer comes)
    runtime = LuaRuntime(64 * MIB)
    assert run(runtime, "kept = 5")[0].error is None
    real_repl = runtime._repl
    runtime._repl = runtime._lua.execute(LOOPS)
    timer = threading.Timer(0.3, runtime.interrupt, ("time",))
    timer.start()
    try:
        if request_kind == "complete":
            answer = runtime.complete("string.fo", 9)
            assert answer["matches"] == []
            assert answer["status"] == "ok"
        elif request_kind == "inspect":
            assert runtime.inspect("string", 6, 0)["found"] is False
        else:
            assert runtime.is_complete("x = 1") == {"status": "unknown"}
    finally:
        timer.cancel()
    runtime._repl = real_repl
    assert run(runtime, "return kept")[0].result == {"text/plain": "5"}


def test_leaves_that_keep_failing_pin_one_coroutine_at_most() -> None:
    # a leave that fails leaves its entry (and the coroutine) held; the next resume at the
    # same depth drops it, so a loop of failing leaves never piles coroutines up
    runtime = FlakyLeave(64 * MIB)
    runtime.fail_leaves = 50
    code = """
    coroutines = setmetatable({}, { __mode = "v" })
    for i = 1, 50 do
      pcall(function()
        local co = coroutine.create(function() coroutine.yield() end)
        coroutines[i] = co
        coroutine.resume(co)
      end)
    end
    """
    sink = Collecting(runtime)
    outcome = runtime.execute(code + COUNT_ALIVE, Limits(), sink)
    assert outcome.error is None, outcome.error
    assert runtime.fail_leaves == 0  # every leave failed
    assert sink.counts[-1] <= 1
    assert int(sink.text.split()[-1]) <= 1
