"""Start, restart, shutdown, a killed kernel and a killed zygote leave no worker or zygote
behind: each test asserts on the kernel's process tree and on every process in its zygotes'
sessions whose command line mentions safekernel."""

from __future__ import annotations

import os
import time
from pathlib import Path

import psutil
from jupyter_client.manager import start_new_kernel

from tests.conftest import (
    KERNEL_NAME,
    Kernel,
    leftovers,
    snapshot,
    start_kernel,
    wait_for,
    wait_gone,
    workers,
    zygotes,
)


def test_kernel_runs_a_zygote_and_a_worker_as_separate_processes() -> None:
    k = start_kernel()
    try:
        assert k.run("1").result == "1"
        tree = k.tree()
        commands = [" ".join(p.cmdline()) for p in tree]
        assert any("safekernel.worker.zygote" in c for c in commands)
        # kernel, zygote, the session's worker and at least one spare
        assert len(tree) >= 4
        workers = [p for p in tree if p.ppid() != k.pid and p.pid != k.pid]
        assert all(w.uids().real != 0 for w in workers), "workers must not run as root"
    finally:
        procs, sessions = snapshot(k)
        k.shutdown()
    assert leftovers(procs, sessions) == []


def test_shutdown_leaves_no_process() -> None:
    k = start_kernel()
    k.run("x = 1")
    procs, sessions = snapshot(k)
    assert len(procs) >= 3
    k.shutdown()
    assert leftovers(procs, sessions) == []


def test_restart_gives_fresh_state_and_leaves_no_old_process() -> None:
    k = start_kernel()
    try:
        k.run("before_restart = 1")
        old, old_sessions = snapshot(k)
        k.km.restart_kernel(now=False)
        k.kc.wait_for_ready(timeout=60)
        assert leftovers(old, old_sessions) == []
        assert k.run("before_restart").result == "nil"
        assert k.run("1 + 1").result == "2"
    finally:
        procs, sessions = snapshot(k)
        k.shutdown()
    assert leftovers(procs, sessions) == []


def test_killed_kernel_takes_zygote_and_workers_with_it() -> None:
    k = start_kernel()
    k.run("1")
    procs, sessions = snapshot(k)
    psutil.Process(k.pid).kill()
    try:
        assert leftovers(procs, sessions) == []
    finally:
        k.kc.stop_channels()
        k.km.cleanup_resources()


def test_killed_zygote_is_replaced_and_the_next_cell_runs_and_says_state_was_lost() -> None:
    k = start_kernel()
    try:
        k.run("before_zygote_death = 1")
        old, old_sessions = snapshot(k)
        (zygote,) = zygotes(k)
        its_workers = workers(k)
        zygote.kill()
        # its workers die with it (parent-death signal); then, at once, the next cell: it may
        # reach the kernel before or after the kernel noticed, and must work either way
        assert wait_gone([zygote, *its_workers]) == []
        run = k.run("before_zygote_death")
        assert run.status == "ok", run.error
        assert run.result == "nil"
        assert "variables are gone" in run.stderr
        assert k.run("after = 2\nafter * 21").result == "42"
        # the old zygote and all its workers are gone; a new zygote serves the session
        assert leftovers(old[1:], old_sessions) == []
        assert [z.pid for z in zygotes(k)] != [zygote.pid]
    finally:
        procs, sessions = snapshot(k)
        k.shutdown()
    assert leftovers(procs, sessions | old_sessions) == []


def test_killed_zygote_between_cells_is_noticed_before_the_next_cell() -> None:
    k = start_kernel()
    try:
        (zygote,) = zygotes(k)
        zygote.kill()
        assert wait_for(lambda: [z.pid for z in zygotes(k)] not in ([], [zygote.pid]))
        # the new zygote refilled the pool before any cell asked for a worker
        assert wait_for(lambda: len(workers(k)) >= 1)
        assert k.run("1 + 1").result == "2"
    finally:
        procs, sessions = snapshot(k)
        k.shutdown()
    assert leftovers(procs, sessions | {zygote.pid}) == []


def test_zygote_killed_again_and_again_is_replaced_every_time() -> None:
    k = start_kernel()
    seen: set[int] = set()
    try:
        for round_ in range(4):
            k.run(f"round = {round_}")
            (zygote,) = zygotes(k)
            seen.add(zygote.pid)
            its_workers = workers(k)
            zygote.kill()
            assert wait_gone([zygote, *its_workers]) == []
            run = k.run("round")
            assert run.status == "ok", run.error
            assert run.result == "nil"
            assert "its zygote process was lost" in run.stderr
    finally:
        procs, sessions = snapshot(k)
        k.shutdown()
    assert leftovers(procs, sessions | seen) == []


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


def test_options_from_a_config_file_reach_the_kernel(tmp_path: Path) -> None:
    """As ipykernel does: `safekernel_config.py` in the IPython profile directory."""
    profile = tmp_path / "profile_default"
    profile.mkdir()
    (profile / "safekernel_config.py").write_text("c.SafeKernel.timeout = 1.5\n")
    km, kc = start_new_kernel(
        kernel_name=KERNEL_NAME, env={**os.environ, "IPYTHONDIR": str(tmp_path)}
    )
    k = Kernel(km, kc)
    try:
        run = k.run("while true do end")
        assert run.error is not None
        assert run.error["ename"] == "TimeLimitExceeded"
        assert "1.5 s" in run.error["evalue"]
    finally:
        k.shutdown()


def test_app_close_lets_the_control_thread_publish_before_iopub_closes(tmp_path: Path) -> None:
    """A shutdown_request ends with the control thread publishing `status: idle` while the
    main thread is already closing the app: the status must still go out on an open IOPub (it
    raised ZMQError "Socket operation on non-socket" into the kernel's stderr when the close
    won the race). The control thread is held in its handler here, so the close always gets
    there first."""
    import threading

    import zmq
    from ipykernel.control import ControlThread
    from ipykernel.iostream import IOPubThread

    from safekernel.kernel.app import SafeKernelApp

    app = SafeKernelApp()
    app.context = zmq.Context()
    iopub = app.context.socket(zmq.PUB)
    endpoint = f"ipc://{tmp_path / 'iopub'}"
    iopub.bind(endpoint)
    client_context = zmq.Context()
    client = client_context.socket(zmq.SUB)
    client.setsockopt(zmq.SUBSCRIBE, b"")
    client.connect(endpoint)
    app.iopub_thread = IOPubThread(iopub, pipe=False)
    app.iopub_thread.start()
    app.control_thread = ControlThread(daemon=True)
    app.control_thread.start()
    in_handler = threading.Event()
    published: list[bool] = []

    def handler() -> None:  # the end of process_control: publish, then wait for the send
        in_handler.set()
        time.sleep(0.5)
        iopub_thread = app.iopub_thread
        sent = threading.Event()
        alive = iopub_thread.thread.is_alive()
        iopub_thread.send_multipart([b"status", b"idle"])
        iopub_thread.schedule(sent.set)
        published.append(alive and sent.wait(5))

    app.control_thread.io_loop.add_callback(handler)
    assert in_handler.wait(10)
    # what the process does once the shutdown handler stopped the main loop: our start()
    # returns, then atexit stops IOPub (IOPubThread's own handler runs first) and closes
    app.finish_control()
    app.iopub_thread.stop()
    app.close()
    assert not app.control_thread.is_alive()
    assert published == [True]
    assert client.poll(5000), "the status never reached the client"
    assert client.recv_multipart() == [b"status", b"idle"]
    client.close()
    client_context.term()
