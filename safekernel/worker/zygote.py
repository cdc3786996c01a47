"""The zygote: a single-threaded Python with the runtimes already imported, holding no secret.
It forks a worker on request, which costs about a millisecond instead of the ~100 ms of a fresh
interpreter plus lupa.

Started by the kernel with exec (`python -m safekernel.worker.zygote FD RUNTIME`), so it inherits no
key, no ZMQ thread and no environment beyond what the kernel passes. FD is its end of a
socketpair to the kernel. For each `spawn` request it creates a socketpair, forks, and sends
the kernel one end plus a pidfd of the child (SCM_RIGHTS); the child hardens itself and talks
to the kernel directly from then on. A `resident` runtime (python) is started here once, on the
main thread, and this loop runs from inside it (Zygote.serve_resident): every worker inherits
it started. The zygote dies with the kernel (parent-death signal, and
EOF on its control socket) and takes its workers with it.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import os
import resource
import signal
import socket
import sys
from typing import NoReturn

from safekernel.errors import ConfigError, ProtocolError, SafeKernelError
from safekernel.limits import (
    DEFAULT_MAX_FRAME,
    DEFAULT_MEMORY,
    MIB,
    REAP_INTERVAL_S,
    ZYGOTE_FAILURE_CHARS,
)
from safekernel.runtimes import Runtime, create_runtime, registry
from safekernel.sandbox import SandboxConfig, inject_failure, prepare_workers, prepare_zygote
from safekernel.wire.channel import decode_control, encode, recv_frame
from safekernel.worker.loop import run_worker, start_worker

PR_SET_PDEATHSIG = 1
#: the main thread's stack a resident state needs: the python guest's WebAssembly frames take
#: up to 2 MiB (runtimes/python: GUEST_STACK_BYTES) on top of the host's own
RESIDENT_STACK_BYTES = 16 * MIB


class Zygote:
    def __init__(self, control: socket.socket, runtime: str) -> None:
        self.control = control
        self.runtime = runtime
        self.children: set[int] = set()
        self._template: Runtime | None = None
        self._template_key: tuple[int, str | None] | None = None
        #: the state the zygote serves from inside (serve_resident), shared by every worker
        self._resident: Runtime | None = None

    def serve(self) -> None:
        """Fork workers on request until the kernel ends. Returns only in a worker forked from
        a resident state (serve_resident), once that worker is confined and serving."""
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
                if self._spawn(message):
                    return
            elif message.get("type") == "shutdown":
                self.shutdown()

    def serve_resident(self) -> NoReturn:
        """Make the runtime's state once, here on the main thread, and serve from inside it.

        A fork carries only the calling thread, so a state that runs on a thread of its own
        (the python guest's started interpreter, waiting in its first read) can only be
        inherited if the zygote forks from that very thread: the state calls `serve` from
        inside its wait (Runtime.hold) and every worker wakes up there, started, in a few
        milliseconds instead of the ~200 ms an interpreter takes to start. Built from our own
        sources only: no user code ever runs in the zygote.
        """
        _raise_stack_limit(RESIDENT_STACK_BYTES)
        self._resident = create_runtime(self.runtime, DEFAULT_MEMORY)

        def serve() -> None:
            # as after the prewarm: keep the collector off the state's objects in workers
            gc.collect()
            gc.freeze()
            self.serve()

        self._resident.hold(serve)

    def _recv(self) -> dict[str, object]:
        return decode_control(recv_frame(self.control, DEFAULT_MAX_FRAME))

    def _spawn(self, message: dict[str, object]) -> bool:
        """Fork a worker; True in that worker if it came from the resident state (it then
        returns into the state), else never returns in the worker."""
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
            if template is not None and template is self._resident:
                start_worker(worker_end, self.runtime, config, memory, template=template, seed=seed)
                return True
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
        return False

    def _template_for(self, memory: int, data_dir: str | None) -> Runtime | None:
        """A runtime state made here once and inherited by every worker, copy on write.

        Building it in each worker was ~1 ms of CPU and ~220 page faults of a worker's ~5 ms
        start (measured); each worker then makes its copy its own (Runtime.after_fork). It is
        built from our own sources only: no user code ever runs in the zygote. None (each
        worker builds its own, as before) if building it fails. A resident state serves
        every worker whatever its limits (the memory limit is set per cell).
        """
        if self._resident is not None:
            return self._resident
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
    control = socket.socket(fileno=fd)
    entry = registry.entries().get(runtime)
    if entry is None:
        _give_up(control, ConfigError(f"unknown runtime {runtime!r}"))
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
    try:
        entry.prewarm()
    except SafeKernelError as exc:
        _give_up(control, exc)
    # Park everything imported so far outside the collector (CPython's advice before fork): a
    # worker's collections then never write to those objects' headers, which would copy their
    # pages out of the zygote's. Measured: ~1.1 MB less private memory (USS) per worker.
    gc.collect()
    gc.freeze()
    zygote = Zygote(control, runtime)
    if entry.resident:
        try:
            zygote.serve_resident()
        except SafeKernelError as exc:
            _give_up(control, exc)
    zygote.serve()
    os._exit(70)  # serve returns only in a worker of a resident state, which never gets here


def _give_up(control: socket.socket, exc: SafeKernelError) -> NoReturn:
    """A runtime that cannot start here (say, its guest is not installed): one line for the
    kernel's log, no traceback; the same line to the kernel as this zygote's last word (a
    `failed` message, which the kernel reads when it replaces the zygote and puts in the
    error every cell gets once its zygotes keep dying); and exit."""
    reason = " ".join(str(exc).split())[:ZYGOTE_FAILURE_CHARS]
    sys.stderr.write(f"safekernel zygote: {reason}\n")
    sys.stderr.flush()
    with contextlib.suppress(OSError):
        control.settimeout(1.0)
        control.sendall(encode({"type": "failed", "reason": reason}))
    os._exit(2)


def _raise_stack_limit(size: int) -> None:
    """Let the main thread's stack grow to `size` (the soft limit, within the hard one): the
    kernel checks RLIMIT_STACK each time the main stack grows, so raising it now is enough."""
    soft, hard = resource.getrlimit(resource.RLIMIT_STACK)
    if soft == resource.RLIM_INFINITY or soft >= size:
        return
    wanted = size if hard == resource.RLIM_INFINITY else min(size, hard)
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_STACK, (wanted, hard))


if __name__ == "__main__":
    main(sys.argv[1:])
