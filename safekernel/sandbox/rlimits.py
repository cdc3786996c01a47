"""Layer 3: resource limits, the backstops behind the worker's own soft limits.

The Lua memory limit (lupa max_memory) and the kernel's wall clock do the real work; these
catch what gets past them: a runaway allocation outside Lua, a CPU loop in C, a file write, a
core dump, descriptor or process creation.

A limit the worker already has below the configured value stays (it is stricter, and raising
it would need privileges the worker must not have); so setrlimit can only fail unexpectedly,
and any failure is FAILED (see sandbox/__init__.py).
"""

from __future__ import annotations

import resource

from safekernel.sandbox.config import SandboxConfig
from safekernel.sandbox.report import LayerState, LayerStatus


def _limit(which: int, value: int) -> int:
    """Set soft and hard limit to `value`, or keep a lower hard limit; returns what is set."""
    _, hard = resource.getrlimit(which)
    if hard != resource.RLIM_INFINITY and hard < value:
        value = hard
    resource.setrlimit(which, (value, value))
    return value


def set_rlimits(config: SandboxConfig) -> LayerStatus:
    applied = []
    try:
        if config.address_space > 0:
            space = _limit(resource.RLIMIT_AS, config.address_space)
            applied.append(f"AS {space // (1024 * 1024)}M")
        applied.append(f"CPU {_limit(resource.RLIMIT_CPU, config.cpu_seconds)}s")
        _limit(resource.RLIMIT_FSIZE, 0)
        _limit(resource.RLIMIT_CORE, 0)
        files = _limit(resource.RLIMIT_NOFILE, config.open_files)
        applied.append(f"NOFILE {files}, FSIZE 0, CORE 0")
    except (ValueError, OSError) as exc:
        return LayerStatus("rlimits", LayerState.FAILED, f"setrlimit failed: {exc}")
    return LayerStatus("rlimits", LayerState.ACTIVE, ", ".join(applied))


def forbid_new_processes() -> LayerStatus:
    """RLIMIT_NPROC 0: no fork or thread from here on (set after the worker's threads exist).

    Root and CAP_SYS_RESOURCE ignore it, so for a root worker that did not drop privileges it
    is only a backstop; seccomp is what refuses process creation.
    """
    try:
        _limit(resource.RLIMIT_NPROC, 0)
    except (ValueError, OSError) as exc:
        return LayerStatus("nproc", LayerState.FAILED, f"setrlimit NPROC failed: {exc}")
    return LayerStatus("nproc", LayerState.ACTIVE, "NPROC 0")
