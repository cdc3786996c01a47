"""Accounting: every execute_reply carries the cell's usage in its metadata (wall and CPU
seconds, Lua instructions, Lua memory at the end and at its peak), and `%usage` shows the last
cell's usage to the user. Lua cells on the lua and wasm runtimes, Python cells on the python
runtime (which counts no instructions: its limit is the time)."""

from __future__ import annotations

from tests.conftest import ALL_RUNTIMES, STUCK_IN_C, ByLang, Kernel, runtimes

#: run against every runtime (the same Lua code behind lua and wasm)
RUNTIMES = ALL_RUNTIMES
USAGE_KEYS = {"wall_s", "cpu_s", "memory_bytes", "peak_memory_bytes"}
MB = 1024 * 1024
INSTRUCTIONS = runtimes("lua", "wasm", why="only the Lua runtimes count VM instructions")


def usage_of(run: object) -> dict[str, float]:
    usage = run.reply["metadata"]["usage"]  # type: ignore[attr-defined]
    assert isinstance(usage, dict)
    return usage


def test_execute_reply_metadata_carries_usage(kernel: Kernel) -> None:
    run = kernel.run(
        ByLang(
            "local s = 0 for i = 1, 1e6 do s = s + i end return s",
            "s = 0\nfor i in range(10**6): s += i\ns",
        )
    )
    usage = usage_of(run)
    assert set(usage) == USAGE_KEYS | kernel.pick(ByLang({"instructions"}, set()))
    assert all(isinstance(v, float) and v >= 0 for v in usage.values())
    assert usage["wall_s"] > 0
    assert usage["cpu_s"] > 0


def test_peak_memory_covers_the_cells_largest_allocation(kernel: Kernel) -> None:
    small = usage_of(kernel.run(ByLang("local x = 1", "x = 1")))
    code = ByLang(
        "local t = {}\n"
        "for i = 1, 2e6 do t[i] = i end\n"  # ~32 MB of array, held while a clock ticks
        "local t0 = os.clock() while os.clock() - t0 < 0.2 do end\n"
        "t = nil\n",
        "import time\nt = list(range(2 * 10**6))\n"  # ~70 MB of ints
        "t0 = time.time()\nwhile time.time() - t0 < 0.2: pass\nt = None\n",
    )
    usage = usage_of(kernel.run(code))
    assert usage["peak_memory_bytes"] > 16 * MB
    assert usage["peak_memory_bytes"] >= usage["memory_bytes"]
    assert small["peak_memory_bytes"] < 16 * MB


@INSTRUCTIONS
def test_instructions_are_counted_under_a_budget(kernel: Kernel) -> None:
    usage = usage_of(kernel.run("%instructions 1e8\nfor i = 1, 1e5 do end"))
    assert usage["instructions"] >= 1e5
    shown = kernel.run("%usage").stdout
    assert f"instructions  {int(usage['instructions']):,}" in shown


def test_a_cell_that_loses_its_worker_still_reports_its_wall_time(kernel: Kernel) -> None:
    run = kernel.run("%timeout 0.5\n" + STUCK_IN_C)
    assert run.status == "error"
    assert usage_of(run)["wall_s"] >= 0.5


def test_usage_magic_shows_the_last_cells_usage(kernel: Kernel) -> None:
    kernel.run(
        ByLang(
            "%instructions 1e8\nlocal t = {} for i = 1, 1e5 do t[i] = i end",
            "t = list(range(10**5))",
        )
    )
    shown = kernel.run("%usage").stdout
    assert shown.startswith("Last cell:")
    labels = ["wall time", "CPU time", "peak memory", "memory at end"]
    for label in labels + kernel.pick(ByLang(["instructions"], [])):
        assert label in shown
    assert " MB" in shown or " KB" in shown


@INSTRUCTIONS
def test_usage_magic_says_when_instructions_were_not_counted(kernel: Kernel) -> None:
    kernel.run("local x = 1")
    assert "not counted" in kernel.run("%usage").stdout
