"""Worker confinement: one module per layer, applied in a fixed order by `harden()` and
`lockdown()` before any user code runs (the nsjail shape: one checklist, one report).

Order, and why:
  1. process      close inherited fds, clear environ, own group, die with the zygote
  2. network      the network namespace the zygote made for its workers (one per kernel;
                  a user namespace first when not root), or one of its own: making one
                  needs a single-threaded process and, as root, the privileges step 4 drops
  3. rlimits      address space, CPU, FSIZE 0, NOFILE, CORE 0
  4. privileges   as root: switch to an unprivileged uid/gid, drop every capability
  5. no_new_privs / not dumpable
  6. landlock     no file access (or read-only on a data dir); applies to the calling thread
                  and the threads it starts later, so it comes before the worker's threads
  --- the worker starts its threads (channel reader, output flusher) ---
  7. nproc        RLIMIT_NPROC 0, now that the threads exist
  8. seccomp      last, with TSYNC so it covers every thread: earlier steps need syscalls it
                  refuses
Each layer returns a LayerStatus. Fail closed:
  UNAVAILABLE  the host lacks the layer (old kernel, Landlock not in lsm=, user namespaces off),
               with why: the worker goes on, and the kernel degrades loudly (log, banner,
               kernel_info, %sandbox) or refuses the worker under require_all_layers;
  FAILED       anything else (an errno the layer does not expect, an exception, a bad option):
               the steps stop there and `LayerFailed` is raised, so the worker ends before it
               says ready; it tells the kernel which layer failed and why, never serves a cell.
Each layer module says, where it classifies an error, why that error is one or the other.

What is the same for every worker is prepared once in the zygote (`prepare_zygote` at its start,
`prepare_workers` before each fork): the network namespace, the Landlock ruleset, the seccomp
program, the capability probe. Each worker still applies every layer itself and reports it.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable

from safekernel.sandbox.config import SandboxConfig
from safekernel.sandbox.landlock import apply_landlock, prepare_landlock, prepared_fd
from safekernel.sandbox.namespaces import host_ids, leave_network, prepare_network
from safekernel.sandbox.privileges import (
    drop_privileges,
    prepare_privileges,
    set_no_new_privs,
    set_not_dumpable,
)
from safekernel.sandbox.process import clean_process
from safekernel.sandbox.report import LayerState, LayerStatus
from safekernel.sandbox.rlimits import forbid_new_processes, set_rlimits
from safekernel.sandbox.seccomp import apply_seccomp, prepare_seccomp

__all__ = [
    "LayerFailed",
    "LayerState",
    "LayerStatus",
    "SandboxConfig",
    "confine",
    "harden",
    "inject_failure",
    "lockdown",
    "prepare_workers",
    "prepare_zygote",
]

Layer = Callable[[], LayerStatus]

#: Test hook: the layer of this name raises instead of running (see `inject_failure`).
_injected_failure: str | None = None


class LayerFailed(Exception):
    """A layer FAILED: the worker must end. `layers` is the report up to and including it."""

    def __init__(self, layers: list[LayerStatus]) -> None:
        failed = layers[-1]
        super().__init__(f"sandbox layer {failed.name} failed: {failed.detail}")
        self.layers = layers


def inject_failure(name: str | None) -> None:
    """Make layer `name` raise an unexpected error in every worker forked from here on.

    Only the zygote calls this, once at its start, from SAFEKERNEL_TEST_FAIL_LAYER in the
    environment the kernel's operator started it with (tests set it; nothing a cell or a
    message can reach sets it). It can only make a worker end before it serves: a failure is
    never a way to skip a layer and go on.
    """
    global _injected_failure  # noqa: PLW0603 -- process-wide by design, set once per zygote
    _injected_failure = name or None


def prepare_zygote() -> None:
    """In the zygote, once, first thing (single-threaded, before the runtime is imported):
    the network namespace its workers share, and what every worker would probe alike.
    Never raises: whatever is not prepared, each worker does (and reports on) itself."""
    with contextlib.suppress(Exception):
        prepare_network()
    with contextlib.suppress(Exception):
        prepare_privileges()


def prepare_workers(config: SandboxConfig) -> None:
    """In the zygote, before each fork (a no-op once built for this config): the Landlock
    ruleset and the seccomp program, so a worker only applies them. What cannot be built here
    is left for each worker to try, and report on, itself (so this never raises)."""
    with contextlib.suppress(Exception):
        prepare_landlock(_read_only_dirs(config))
    with contextlib.suppress(Exception):
        prepare_seccomp(allow_file_reads=config.data_dir is not None, extra=config.extra_syscalls)


def _read_only_dirs(config: SandboxConfig) -> list[str]:
    return [config.data_dir] if config.data_dir else []


def _run(name: str, layer: Layer) -> LayerStatus:
    try:
        if name == _injected_failure:
            raise RuntimeError("failure injected by SAFEKERNEL_TEST_FAIL_LAYER")
        status = layer()
    except Exception as exc:  # any unexpected error is a FAILED layer: the worker ends
        status = LayerStatus(name, LayerState.FAILED, f"{type(exc).__name__}: {exc}")
    return status


def _apply(steps: list[tuple[str, Layer]], done: list[LayerStatus]) -> list[LayerStatus]:
    """Run `steps` in order; stop at the first FAILED one and raise LayerFailed."""
    layers: list[LayerStatus] = []
    for name, step in steps:
        status = _run(name, step)
        layers.append(status)
        if status.state is LayerState.FAILED:
            raise LayerFailed(done + layers)
    return layers


def harden(config: SandboxConfig, channel_fd: int) -> list[LayerStatus]:
    """Apply the layers that must precede the worker's threads, in order."""
    # the ids this process has as the host sees them, before a user namespace can hide them
    host_uid, host_gid = host_ids()
    dirs = _read_only_dirs(config)
    steps: list[tuple[str, Layer]] = [
        ("process", lambda: clean_process(channel_fd, until_landlock=prepared_fd(dirs))),
        ("network", leave_network),
        ("rlimits", lambda: set_rlimits(config)),
        (
            "privileges",
            lambda: drop_privileges(
                config.worker_uid, config.worker_gid, host_ids=(host_uid, host_gid)
            ),
        ),
        ("no_new_privs", set_no_new_privs),
        ("not_dumpable", set_not_dumpable),
        ("landlock", lambda: apply_landlock(dirs)),
    ]
    return _apply(steps, [])


def lockdown(config: SandboxConfig, done: list[LayerStatus] | None = None) -> list[LayerStatus]:
    """Apply the layers that must follow the worker's threads (see the order above).

    `done` is the report so far, for the LayerFailed a failure raises."""
    self_pid = os.getpid()
    # with a data dir, read-only opens pass seccomp and Landlock decides which paths
    reads = config.data_dir is not None
    steps: list[tuple[str, Layer]] = [
        ("nproc", forbid_new_processes),
        (
            "seccomp",
            lambda: apply_seccomp(
                self_pid=self_pid, allow_file_reads=reads, extra=config.extra_syscalls
            ),
        ),
    ]
    return _apply(steps, done or [])


def confine(
    config: SandboxConfig, channel_fd: int, start_threads: Callable[[], None]
) -> list[LayerStatus]:
    """The whole confinement of a worker: harden, start its threads, lock down.

    The real worker calls exactly this, and so does the test fixture that attacks the OS layers
    from Python with the Lua layer bypassed: what the tests break is what workers run.
    Raises LayerFailed if a layer FAILED: the caller must then end the process.
    """
    layers = harden(config, channel_fd)
    start_threads()
    return layers + lockdown(config, layers)
