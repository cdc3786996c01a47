"""Start, restart and shutdown leave no worker or zygote behind."""

from __future__ import annotations

import time

import psutil

from tests.conftest import start_kernel, wait_gone


def test_kernel_runs_a_zygote_and_a_worker_as_separate_processes() -> None:
    k = start_kernel()
    try:
        assert k.run("1").result == "1"
        tree = k.tree()
        commands = [" ".join(p.cmdline()) for p in tree]
        assert any("safekernel.zygote" in c for c in commands)
        # kernel, zygote, the session's worker and at least one spare
        assert len(tree) >= 4
        workers = [p for p in tree if p.ppid() != k.pid and p.pid != k.pid]
        assert all(w.uids().real != 0 for w in workers), "workers must not run as root"
    finally:
        procs = k.tree()
        k.shutdown()
    assert wait_gone(procs) == []


def test_shutdown_leaves_no_process() -> None:
    k = start_kernel()
    k.run("x = 1")
    procs = k.tree()
    assert len(procs) >= 3
    k.shutdown()
    assert wait_gone(procs) == []


def test_restart_gives_fresh_state_and_leaves_no_old_process() -> None:
    k = start_kernel()
    try:
        k.run("before_restart = 1")
        old = k.tree()
        k.km.restart_kernel(now=False)
        k.kc.wait_for_ready(timeout=60)
        assert wait_gone(old) == []
        assert k.run("before_restart").result == "nil"
        assert k.run("1 + 1").result == "2"
    finally:
        procs = k.tree()
        k.shutdown()
    assert wait_gone(procs) == []


def test_killed_kernel_takes_zygote_and_workers_with_it() -> None:
    k = start_kernel()
    k.run("1")
    procs = k.tree()
    psutil.Process(k.pid).kill()
    try:
        assert wait_gone(procs) == []
    finally:
        k.kc.stop_channels()
        k.km.cleanup_resources()


def test_kernel_info_reports_lua_and_the_sandbox_layers() -> None:
    k = start_kernel()
    try:
        reply = k.kc.kernel_info(reply=True, timeout=30)
        content = reply["content"]
        info = content["language_info"]
        assert info["name"] == "lua"
        assert info["version"].startswith("5.4")
        assert info["file_extension"] == ".lua"
        assert info["mimetype"] == "text/x-lua"
        assert info["pygments_lexer"] == "lua"
        assert info["codemirror_mode"] == "lua"
        assert "Lua 5.4" in content["banner"]
        layers = {layer["name"]: layer["state"] for layer in content["safekernel"]["layers"]}
        for name in ("process", "network", "rlimits", "no_new_privs"):
            assert layers[name] == "active", layers
            assert f"{name} on" in content["banner"]
    finally:
        k.shutdown()


def test_options_on_the_command_line_reach_the_kernel() -> None:
    k = start_kernel("--SafeKernel.timeout=1")
    try:
        started = time.monotonic()
        run = k.run("while true do end")
        assert run.error is not None
        assert run.error["ename"] == "TimeLimitExceeded"
        assert "1 s" in run.error["evalue"]
        assert time.monotonic() - started < 8
    finally:
        k.shutdown()
