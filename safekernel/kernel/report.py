"""What the kernel says about itself: the banner (kernel_info, jupyter console) and the
`%sandbox` table, from the runtime's registry entry, the defaults and the layers' report."""

from __future__ import annotations

from collections.abc import Sequence

from safekernel import __version__
from safekernel.limits import MIB, Limits
from safekernel.runtimes.registry import RuntimeEntry
from safekernel.wire.confinement import LayerStatus


def banner(
    entry: RuntimeEntry, isolation: str, defaults: Limits, layers: Sequence[LayerStatus]
) -> str:
    lines = [
        f"safekernel {__version__}: {entry.banner} in a sandboxed worker (isolation: "
        f"{isolation}, timeout {defaults.timeout:g} s, memory {defaults.memory // MIB} MB)",
        "Sandbox: " + (", ".join(_layer_word(layer) for layer in layers) or "starting"),
    ]
    missing = [layer for layer in layers if not layer.active]
    if missing:
        lines.append(
            "WARNING: not every sandbox layer is active: "
            + "; ".join(f"{m.name}: {m.detail}" for m in missing)
        )
    return "\n".join(lines)


def sandbox_table(layers: Sequence[LayerStatus]) -> str:
    """The `%sandbox` output: one row per layer."""
    rows = [f"{layer.name:<14}{layer.state.value:<13}{layer.detail}" for layer in layers]
    return "\n".join([f"{'layer':<14}{'state':<13}detail", *rows]) + "\n"


def _layer_word(layer: LayerStatus) -> str:
    return f"{layer.name} {'on' if layer.active else layer.state.value.upper()}"
