"""What each sandbox layer did: LayerState and LayerStatus, defined with the other confinement
data in wire/confinement.py (the kernel side imports them from there)."""

from __future__ import annotations

from safekernel.wire.confinement import LayerState, LayerStatus

__all__ = ["LayerState", "LayerStatus"]
