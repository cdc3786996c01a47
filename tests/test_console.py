"""`jupyter console --kernel safe` in a pseudo-terminal, as a person would use it."""

from __future__ import annotations

import os
import re

import pexpect
import psutil

from tests.conftest import wait_gone

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def spawn_console() -> pexpect.spawn:
    return pexpect.spawn(
        "jupyter",
        ["console", "--kernel", "safe", "--ZMQTerminalInteractiveShell.colors=NoColor"],
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


def test_console_runs_cells_and_exits_cleanly() -> None:
    child = spawn_console()
    banner = read_until_prompt(child, 1)
    assert "safekernel" in banner
    assert "Sandbox:" in banner

    child.sendline("x = 20 + 1")
    read_until_prompt(child, 2)
    child.sendline("x * 2")
    assert "Out[2]: 42" in read_until_prompt(child, 3)

    child.sendline('print("hi from lua")')
    assert "hi from lua" in read_until_prompt(child, 4)

    # the console waits for `end` (is_complete says incomplete) before running the cell
    child.sendline("function twice(n)")
    child.sendline("  return 2 * n")
    child.sendline("end")
    read_until_prompt(child, 5)
    child.sendline("twice(5)")
    assert "Out[5]: 10" in read_until_prompt(child, 6)

    child.sendline("error('oops')")
    assert "cell:1: oops" in read_until_prompt(child, 7)

    # the console's own kernel, zygote and workers (other kernels may run on this machine)
    ours = psutil.Process(child.pid).children(recursive=True)
    assert any("safekernel" in _cmdline(p) for p in ours)
    child.sendline("exit")
    child.expect(pexpect.EOF)
    child.close()
    assert wait_gone(ours) == []
