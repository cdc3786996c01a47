"""The one exception tree of safekernel: everything it raises on purpose is a SafeKernelError.

    SafeKernelError            anything safekernel itself reports
    ├── ConfigError            a bad option or magic: the user can fix it
    ├── SandboxError           a required sandbox layer could not be applied
    ├── ProtocolError          a worker sent something malformed (the worker is ended)
    ├── WorkerLost             the worker died or had to be killed
    ├── HardStop               a cell ended its worker: kind is a limits.StopKind
    │                          (kernel/cellrun.py; the session turns it into the cell's error)
    ├── ReplayLost             a replayed cell ended its new worker too (kernel/replay.py)
    ├── Refused                an output the kernel will not pass on (kernel/outputs.py)
    └── DataError              a data-directory request that cannot be served
                               (runtimes/datadir.py; the cell sees the message)

A user sees `str(error)`: one line that says what happened and what to do. A limit a cell
breaks is not an exception on the kernel's side: the worker reports it (`done.stop`) or the
kernel enforces it (HardStop), and limits.limit_message words it.
"""

from __future__ import annotations


class SafeKernelError(Exception):
    """Base of every error safekernel raises on purpose."""


class ConfigError(SafeKernelError):
    """A bad configuration value or per-cell magic."""


class SandboxError(SafeKernelError):
    """A sandbox layer that was required could not be applied."""


class ProtocolError(SafeKernelError):
    """A worker sent a message that breaks the channel's schema or size caps."""


class WorkerLost(SafeKernelError):
    """The worker process ended (crash, kill, rlimit) before the cell finished."""
