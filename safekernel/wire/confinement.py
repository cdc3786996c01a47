"""The confinement data the two sides exchange: how the kernel asks the zygote to confine each
worker (SandboxConfig, in `spawn`), and what each sandbox layer did (LayerStatus, in `ready`
and `refused`), which the kernel shows in kernel_info and `%sandbox`.

Plain data, here and not in sandbox/, so that the kernel side never loads the sandbox layer
modules (seccomp, landlock, privileges, ...): only workers apply them. sandbox/config.py and
sandbox/report.py re-export these names for the layer modules.
"""

from __future__ import annotations

import enum
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


class LayerState(enum.StrEnum):
    """How one layer ended up after `harden()` tried to apply it."""

    ACTIVE = "active"
    #: the host cannot provide it (old kernel, no user namespaces, ...): a loud warning
    UNAVAILABLE = "unavailable"
    #: it should have worked and did not: a loud warning, or a refusal under require_all_layers
    FAILED = "failed"
    #: switched off by configuration
    DISABLED = "disabled"


@dataclass(frozen=True)
class LayerStatus:
    """One layer's outcome, with a short human reason (no traceback)."""

    name: str
    state: LayerState
    detail: str = ""

    @property
    def active(self) -> bool:
        return self.state is LayerState.ACTIVE

    def to_wire(self) -> dict[str, str]:
        return {"name": self.name, "state": self.state.value, "detail": self.detail}

    @classmethod
    def from_wire(cls, data: object) -> LayerStatus:
        """Rebuild a status sent by a worker; anything malformed becomes a FAILED entry."""
        if not isinstance(data, dict):
            return cls("?", LayerState.FAILED, "malformed layer report")
        name = data.get("name")
        state = data.get("state")
        detail = data.get("detail", "")
        try:
            parsed = LayerState(str(state))
        except ValueError:
            parsed = LayerState.FAILED
        if not isinstance(name, str) or not isinstance(detail, str):
            return cls("?", LayerState.FAILED, "malformed layer report")
        return cls(name[:64], parsed, detail[:300])
