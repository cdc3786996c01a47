"""What the kernel tells the zygote about how to confine each worker: SandboxConfig, defined
with the other confinement data in wire/confinement.py (the kernel side imports it from there)."""

from __future__ import annotations

from safekernel.limits import NOBODY
from safekernel.wire.confinement import SandboxConfig

__all__ = ["NOBODY", "SandboxConfig"]
