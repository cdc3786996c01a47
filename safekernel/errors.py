"""The one small exception hierarchy of safekernel.

    SafeKernelError            anything safekernel itself reports
    ├── ConfigError            a bad option or magic: the user can fix it
    ├── SandboxError           a required sandbox layer could not be applied
    ├── ProtocolError          a worker sent something malformed (the worker is ended)
    ├── WorkerLost             the worker died or had to be killed
    └── LimitExceeded          a cell broke a limit (kind, limit)

A user sees `str(error)`: one line that says what happened and what to do.
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


class LimitExceeded(SafeKernelError):
    """A cell went over one of its limits."""

    def __init__(self, kind: str, limit: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.limit = limit
