"""`jupyter console --kernel safe` (and safe-wasm, safe-python) in a pseudo-terminal, as a
person would use it."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pexpect
import psutil
import pytest

from tests.conftest import ByLang, require_python_guest, wait_gone

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
#: each kernelspec's cell language
KERNELS = {"safe": "lua", "safe-wasm": "lua", "safe-python": "python"}
#: a function typed over several lines: the console waits (is_complete says incomplete) for
#: Lua's `end`, or Python's empty line, before it runs the cell (and fills in the indent the
#: kernel's is_complete gave: the Python lines are typed without one)
TWICE = ByLang(
    ["function twice(n)", "  local m = 2 * n", "  return m", "end"],
    ["def twice(n):", "m = 2 * n", "return m", ""],
)
#: an error and what the console shows of it
OOPS = ByLang(("error('oops')", "cell:1: oops"), ("raise ValueError('oops')", "ValueError: oops"))


def spawn_console(*options: str, kernel: str = "safe") -> pexpect.spawn:
    return pexpect.spawn(
        "jupyter",
        ["console", "--kernel", kernel, "--ZMQTerminalInteractiveShell.colors=NoColor", *options],
        encoding="utf-8",
        timeout=60,
        env={**os.environ, "TERM": "dumb"},
        dimensions=(40, 200),
    )


def _cmdline(process: psutil.Process) -> str:
    """A process's command line, or "" for one that is a zombie or gone (not ours to judge)."""
    try:
        return " ".join(process.cmdline())
    except psutil.Error:
        return ""


def read_until_prompt(child: pexpect.spawn, number: int) -> str:
    child.expect(rf"In \[{number}\]: ")
    return ANSI.sub("", child.before)


@pytest.mark.parametrize("kernel", list(KERNELS))
def test_console_runs_cells_and_exits_cleanly(kernel: str) -> None:
    language = KERNELS[kernel]
    if language == "python":
        require_python_guest()
    child = spawn_console(kernel=kernel)
    banner = read_until_prompt(child, 1)
    assert "safekernel" in banner
    assert "Sandbox:" in banner

    child.sendline("x = 20 + 1")
    read_until_prompt(child, 2)
    child.sendline("x * 2")
    assert "Out[2]: 42" in read_until_prompt(child, 3)

    child.sendline(f'print("hi from {language}")')
    assert f"hi from {language}" in read_until_prompt(child, 4)

    for line in TWICE.of(language):
        child.sendline(line)
    read_until_prompt(child, 5)
    child.sendline("twice(5)")
    assert "Out[5]: 10" in read_until_prompt(child, 6)

    code, shown = OOPS.of(language)
    child.sendline(code)
    assert shown in read_until_prompt(child, 7)

    # the console's own kernel, zygote and workers (other kernels may run on this machine)
    ours = psutil.Process(child.pid).children(recursive=True)
    assert any("safekernel" in _cmdline(p) for p in ours)
    child.sendline("exit")
    child.expect(pexpect.EOF)
    child.close()
    assert wait_gone(ours) == []


#: a cell that sets kept_total to 10, and one that prints, then loops for ever
SUM = ByLang(
    ["kept_total = 0 for i = 1, 4 do kept_total = kept_total + i end"],
    ["kept_total = sum(range(1, 5))"],
)
SPIN = ByLang(
    ["print('loop started') while true do kept_total = kept_total + 0 end"],
    ["if print('loop started') is None:", "while True: kept_total += 0", ""],
)


@pytest.mark.parametrize("kernel", ["safe", "safe-python"])
def test_console_tab_completion_and_ctrl_c_keep_the_session(kernel: str) -> None:
    """Tab completes a name the session defined; Ctrl-C ends a runaway loop (the console sends
    the kernel an interrupt) and the variables defined before it are still there."""
    language = KERNELS[kernel]
    if language == "python":
        require_python_guest()
    child = spawn_console(kernel=kernel)
    try:
        read_until_prompt(child, 1)
        for line in SUM.of(language):
            child.sendline(line)
        read_until_prompt(child, 2)

        child.send("kept_to\t")
        child.sendline("")  # runs what Tab made of the line: nil (no output) had it not completed
        assert "Out[2]: 10" in read_until_prompt(child, 3)

        for line in SPIN.of(language):
            child.sendline(line)
        # the output proves the cell runs and the console is waiting on it (not editing a line,
        # where Ctrl-C would only clear the input)
        child.expect("\nloop started")
        child.sendintr()
        out = read_until_prompt(child, 4)
        assert "KeyboardInterrupt" in out, out
        assert "time limit" not in out

        child.sendline("kept_total * 2")
        assert "Out[4]: 20" in read_until_prompt(child, 5)
        child.sendline("exit")
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)


def test_console_over_ipc_transport(tmp_path: Path) -> None:
    """The README's IPC command: the channels are Unix sockets at the given path."""
    sockets = tmp_path / "sock"
    sockets.mkdir(mode=0o700)
    child = spawn_console("--transport=ipc", f"--ip={sockets / 'k'}")
    try:
        read_until_prompt(child, 1)
        assert sorted(p.name for p in sockets.iterdir()) == [f"k-{n}" for n in range(1, 6)]
        child.sendline("6 * 7")
        assert "Out[1]: 42" in read_until_prompt(child, 2)
        child.sendline("exit")
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
