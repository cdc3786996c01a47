"""The zygote: a single-threaded Python with the runtimes already imported, holding no secret.
It forks a worker on request, which costs about a millisecond instead of the ~100 ms of a fresh
interpreter plus lupa.

Started by the kernel with exec (`python -m safekernel.worker.zygote FD RUNTIME`), so it inherits no
key, no ZMQ thread and no environment beyond what the kernel passes. FD is its end of a
socketpair to the kernel. For each `spawn` request it creates a socketpair, forks, and sends
the kernel one end plus a pidfd of the child (SCM_RIGHTS); the child hardens itself and talks
to the kernel directly from then on. The zygote dies with the kernel (parent-death signal, and
EOF on its control socket) and takes its workers with it.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import os
import signal
import socket
import sys
from typing import NoReturn

from safekernel.errors import ProtocolError
from safekernel.limits import DEFAULT_MAX_FRAME, REAP_INTERVAL_S
from safekernel.runtimes import Runtime, create_runtime, registry
from safekernel.sandbox import SandboxConfig, inject_failure, prepare_workers, prepare_zygote
from safekernel.wire.channel import decode_control, encode, recv_frame
from safekernel.worker.loop import run_worker

PR_SET_PDEATHSIG = 1


class Zygote:
    def __init__(self, control: socket.socket, runtime: str) -> None:
        self.control = control
        self.runtime = runtime
        self.children: set[int] = set()
        self._template: Runtime | None = None
        self._template_key: tuple[int, str | None] | None = None

    def serve(self) -> NoReturn:
        self.control.settimeout(REAP_INTERVAL_S)
        while True:
            self._reap()
            try:
                message = self._recv()
            except TimeoutError:
                continue
            except (ConnectionError, OSError, EOFError, ProtocolError):
                # the kernel is gone, or sent what no kernel sends: nobody is left to serve
                self.shutdown()
            if message.get("type") == "spawn":
                self._spawn(message)
            elif message.get("type") == "shutdown":
                self.shutdown()

    def _recv(self) -> dict[str, object]:
        return decode_control(recv_frame(self.control, DEFAULT_MAX_FRAME))

    def _spawn(self, message: dict[str, object]) -> None:
        config = SandboxConfig.from_wire(message["sandbox"])  # type: ignore[arg-type]
        memory = int(message["memory"])  # type: ignore[call-overload]
        template = self._template_for(memory, config.data_dir)
        # the Landlock ruleset and the seccomp program, built once here, not in every worker
        prepare_workers(config)
        # drawn here, so every worker gets its own (the template's random state is shared)
        seed = os.urandom(16)
        kernel_end, worker_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        pid = os.fork()
        if pid == 0:
            kernel_end.close()
            self.control.close()
            run_worker(worker_end, self.runtime, config, memory, template=template, seed=seed)
        worker_end.close()
        self.children.add(pid)
        # the pidfd is opened before the zygote can reap the child, so it names this process
        # and no other, even if the worker dies at once and its pid is reused
        pidfd = os.pidfd_open(pid)
        try:
            self.control.settimeout(None)
            reply = encode({"type": "spawned", "pid": pid})
            socket.send_fds(self.control, [reply], [kernel_end.fileno(), pidfd])
            self.control.settimeout(REAP_INTERVAL_S)
        finally:
            kernel_end.close()
            os.close(pidfd)

    def _template_for(self, memory: int, data_dir: str | None) -> Runtime | None:
        """A runtime state made here once and inherited by every worker, copy on write.

        Building it in each worker was ~1 ms of CPU and ~220 page faults of a worker's ~5 ms
        start (measured); each worker then makes its copy its own (Runtime.after_fork). It is
        built from our own sources only: no user code ever runs in the zygote. None (each
        worker builds its own, as before) if building it fails.
        """
        if self._template is None or self._template_key != (memory, data_dir):
            try:
                self._template = create_runtime(self.runtime, memory, data_dir)
            except Exception:
                return None
            self._template_key = (memory, data_dir)
            # as after the prewarm: keep the collector off the template's objects in workers
            gc.collect()
            gc.freeze()
        return self._template

    def _reap(self) -> None:
        for pid in list(self.children):
            with contextlib.suppress(ChildProcessError):
                done, _ = os.waitpid(pid, os.WNOHANG)
                if done == 0:
                    continue
            self.children.discard(pid)

    def shutdown(self) -> NoReturn:
        for pid in self.children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        for pid in self.children:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)
        os._exit(0)


def main(argv: list[str]) -> NoReturn:
    fd, runtime = int(argv[0]), argv[1]
    entry = registry.entries().get(runtime)
    if entry is None:
        sys.stderr.write(f"safekernel zygote: unknown runtime {runtime!r}\n")
        os._exit(2)
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() == 1:
        os._exit(0)  # the kernel died before the line above took effect
    # Ctrl-C in a terminal reaches the whole foreground group: the kernel decides what it means
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # the network namespace this zygote's workers share (see sandbox/namespaces.py); first,
    # while this process is single-threaded (a runtime's prewarm may start threads)
    prepare_zygote()
    # tests only: make one layer fail in every worker, to prove they fail closed (see
    # sandbox.inject_failure; it can end workers, never spare them a layer)
    inject_failure(os.environ.get("SAFEKERNEL_TEST_FAIL_LAYER"))
    # import (and so page in) everything a worker needs before any fork
    entry.prewarm()
    # Park everything imported so far outside the collector (CPython's advice before fork): a
    # worker's collections then never write to those objects' headers, which would copy their
    # pages out of the zygote's. Measured: ~1.1 MB less private memory (USS) per worker.
    gc.collect()
    gc.freeze()
    Zygote(socket.socket(fileno=fd), runtime).serve()


if __name__ == "__main__":
    main(sys.argv[1:])
