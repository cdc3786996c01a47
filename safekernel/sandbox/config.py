"""What the kernel tells the zygote about how to confine each worker (plain data)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from safekernel.limits import NOBODY, WORKER_CPU_SECONDS, WORKER_OPEN_FILES


@dataclass(frozen=True)
class SandboxConfig:
    """Confinement settings for one worker; the kernel builds it from its traitlets."""

    #: uid/gid a worker switches to when the kernel runs as root
    worker_uid: int = NOBODY
    worker_gid: int = NOBODY
    #: directory a worker may read (Landlock read-only rule); None = no file access at all
    data_dir: str | None = None
    #: RLIMIT_AS backstop in bytes (above the Lua memory limit: the interpreter needs room)
    address_space: int = 0
    #: RLIMIT_CPU backstop in seconds over the worker's whole life
    cpu_seconds: int = WORKER_CPU_SECONDS
    #: RLIMIT_NOFILE: the worker holds its channel and nothing else
    open_files: int = WORKER_OPEN_FILES
    #: syscalls the worker's runtime needs beyond seccomp's base allow-list (its registry entry)
    extra_syscalls: tuple[str, ...] = ()

    def to_wire(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> SandboxConfig:
        return cls(**{**data, "extra_syscalls": tuple(data.get("extra_syscalls", ()))})
