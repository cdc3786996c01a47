"""Worker confinement: one module per layer, applied in a fixed order by `harden()` and
`lockdown()` before any user code runs (the nsjail shape: one checklist, one report).

Order, and why:
  1. process      close inherited fds, clear environ, own group, die with the zygote
  2. network      new network namespace (a user namespace first when not root): needs a
                  single-threaded process and, as root, the privileges step 4 drops
  3. rlimits      address space, CPU, FSIZE 0, NOFILE, CORE 0
  4. privileges   as root: switch to an unprivileged uid/gid, drop every capability
  5. no_new_privs / not dumpable
  6. landlock     no file access (or read-only on a data dir); applies to the calling thread
                  and the threads it starts later, so it comes before the worker's threads
  --- the worker starts its threads (channel reader, output flusher) ---
  7. nproc        RLIMIT_NPROC 0, now that the threads exist
  8. seccomp      last, with TSYNC so it covers every thread: earlier steps need syscalls it
                  refuses
Each layer returns a LayerStatus; nothing here raises for a host that lacks a layer. The kernel
decides what a missing layer means (a loud warning, or a refusal with require_all_layers).
"""

from __future__ import annotations

import os
from collections.abc import Callable

from safekernel.sandbox.config import SandboxConfig
from safekernel.sandbox.landlock import apply_landlock
from safekernel.sandbox.namespaces import leave_network
from safekernel.sandbox.privileges import drop_privileges, set_no_new_privs, set_not_dumpable
from safekernel.sandbox.process import clean_process
from safekernel.sandbox.report import LayerState, LayerStatus
from safekernel.sandbox.rlimits import forbid_new_processes, set_rlimits
from safekernel.sandbox.seccomp import apply_seccomp

__all__ = ["LayerState", "LayerStatus", "SandboxConfig", "confine", "harden", "lockdown"]

Layer = Callable[[], LayerStatus]


def _run(name: str, layer: Layer) -> LayerStatus:
    try:
        return layer()
    except Exception as exc:  # a layer bug must show up in the report, not kill the zygote
        return LayerStatus(name, LayerState.FAILED, f"{type(exc).__name__}: {exc}")


def harden(config: SandboxConfig, channel_fd: int) -> list[LayerStatus]:
    """Apply the layers that must precede the worker's threads, in order."""
    steps: list[tuple[str, Layer]] = [
        ("process", lambda: clean_process(channel_fd)),
        ("network", leave_network),
        ("rlimits", lambda: set_rlimits(config)),
        ("privileges", lambda: drop_privileges(config.worker_uid, config.worker_gid)),
        ("no_new_privs", set_no_new_privs),
        ("not_dumpable", set_not_dumpable),
        ("landlock", lambda: apply_landlock([config.data_dir] if config.data_dir else [])),
    ]
    return [_run(name, step) for name, step in steps]


def lockdown(config: SandboxConfig) -> list[LayerStatus]:
    """Apply the layers that must follow the worker's threads (see the order above)."""
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
    return [_run(name, step) for name, step in steps]


def confine(
    config: SandboxConfig, channel_fd: int, start_threads: Callable[[], None]
) -> list[LayerStatus]:
    """The whole confinement of a worker: harden, start its threads, lock down.

    The real worker calls exactly this, and so does the test fixture that attacks the OS layers
    from Python with the Lua layer bypassed: what the tests break is what workers run.
    """
    layers = harden(config, channel_fd)
    start_threads()
    return layers + lockdown(config)
