"""Per-cell limits: plain data shared by the kernel (which sets them) and the worker (which
enforces the soft ones). The kernel enforces the hard ones itself and never trusts the worker
to have done so.
"""

from __future__ import annotations

import enum
from dataclasses import asdict, dataclass, replace
from typing import Any

from safekernel.errors import ConfigError

MIB = 1024 * 1024

#: Worker wall-clock limit is the soft one (a hook stops Lua, the state survives); the kernel
#: kills the worker this long after it, for code stuck inside a C function.
HARD_KILL_GRACE_S = 0.5

#: A worker's RLIMIT_AS is its memory limit plus this headroom for the interpreter itself ...
ADDRESS_SPACE_HEADROOM = 1024 * MIB
#: ... of which the interpreter, lupa and the worker's thread stacks map this much for
#: themselves (a Lua worker maps ~700 MB of address space before any cell); `%memory` may use
#: the rest, so a cell meets its own clear memory limit before the address-space backstop.
#: These two are the Lua runtime's; a runtime entry may declare its own (runtimes/registry).
INTERPRETER_ADDRESS_SPACE = 768 * MIB


class StopKind(enum.StrEnum):
    """What stopped a cell short of its end. The first five are limits: the worker reports them
    (`done.stop`) and the kernel records them for a stop it enforced itself. The last two only
    the kernel sees, as a HardStop's kind: the worker died, or broke the protocol."""

    TIME = "time"
    INTERRUPT = "interrupt"
    OUTPUT = "output"
    MEMORY = "memory"
    INSTRUCTIONS = "instructions"
    CRASH = "crash"
    PROTOCOL = "protocol"


#: the stops a worker may report in `done.stop` (the limits)
STOP_KINDS = (
    StopKind.TIME,
    StopKind.INTERRUPT,
    StopKind.OUTPUT,
    StopKind.MEMORY,
    StopKind.INSTRUCTIONS,
)

#: Largest rich output (one display or cell value, all its MIME types together). Below the
#: channel's frame cap, so an honest worker never sends a frame the kernel must refuse.
DISPLAY_BYTES = 8 * MIB
#: Rich output one cell may send in all
CELL_DISPLAY_BYTES = 32 * MIB
#: Deepest application/json a cell may display (frontends render it as a tree)
JSON_DEPTH = 64


@dataclass(frozen=True)
class Limits:
    """What one cell may use. Zero means "no limit" only where the field says so."""

    #: wall-clock seconds for the cell
    timeout: float = 10.0
    #: bytes the Lua state may hold (lupa max_memory); the rlimit backstop sits above it
    memory: int = 256 * MIB
    #: Lua VM instructions per cell; 0 = no count hook (a count hook slows Lua ~2.3x)
    instructions: int = 0
    #: bytes of stream output per cell before it is cut
    output: int = 1 * MIB

    def validate(self) -> Limits:
        if not 0 < self.timeout <= 24 * 3600:
            raise ConfigError(f"timeout must be between 0 and 86400 seconds, not {self.timeout}")
        if self.memory < 4 * MIB:
            raise ConfigError(f"memory limit must be at least 4M, not {self.memory} bytes")
        if self.instructions < 0:
            raise ConfigError("instruction limit must be 0 (off) or a positive count")
        if self.output < 1024:
            raise ConfigError("output limit must be at least 1K")
        return self

    def with_overrides(self, **changes: Any) -> Limits:
        return replace(self, **changes).validate()

    def to_wire(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_wire(cls, data: Any) -> Limits:
        """Build limits from a kernel message (the worker side trusts the kernel)."""
        if not isinstance(data, dict):
            raise ConfigError("limits must be a mapping")
        return cls(
            timeout=float(data["timeout"]),
            memory=int(data["memory"]),
            instructions=int(data["instructions"]),
            output=int(data["output"]),
        )


def parse_size(text: str) -> int:
    """Parse `64M`, `1G`, `512K` or a plain byte count into bytes."""
    units = {"K": 1024, "M": MIB, "G": 1024 * MIB}
    cleaned = text.strip().upper().removesuffix("B").removesuffix("I")
    factor = 1
    if cleaned and cleaned[-1] in units:
        factor = units[cleaned[-1]]
        cleaned = cleaned[:-1]
    try:
        value = float(cleaned)
    except ValueError:
        raise ConfigError(f"not a size: {text!r} (use e.g. 64M, 1G, 512K)") from None
    if value <= 0:
        raise ConfigError(f"size must be positive: {text!r}")
    return int(value * factor)


def limit_message(
    kind: str, limits: Limits, state_kept: bool, state_note: str | None = None
) -> tuple[str, str]:
    """(ename, evalue) for a cell stopped by a limit: what happened and what to do.
    `state_note` replaces the sentence about the variables (e.g. after a replay)."""
    kept = state_note or (
        "Your variables are kept."
        if state_kept
        else "The worker was replaced, so earlier variables are gone: re-run the cells you need."
    )
    if kind == StopKind.TIME:
        return (
            "TimeLimitExceeded",
            f"time limit exceeded: the cell ran longer than {limits.timeout:g} s. {kept} "
            "Put `%timeout SECONDS` on the cell's first line to allow more.",
        )
    if kind == StopKind.INTERRUPT:
        return "KeyboardInterrupt", f"interrupted. {kept}"
    if kind == StopKind.INSTRUCTIONS:
        return (
            "InstructionLimitExceeded",
            f"instruction limit exceeded: the cell ran more than {limits.instructions:,} Lua "
            f"instructions. {kept} Put `%instructions N` on the cell's first line to allow more.",
        )
    if kind == StopKind.MEMORY:
        return (
            "MemoryError",
            f"memory limit exceeded: the cell needed more than {limits.memory // MIB} MB. {kept} "
            "Put `%memory 512M` on the cell's first line to allow more.",
        )
    if kind == StopKind.OUTPUT:
        return (
            "OutputLimitExceeded",
            f"output limit exceeded: the cell printed more than {limits.output // 1024} KB, so "
            f"it was stopped. {kept} Put `%output 4M` on the cell's first line to allow more.",
        )
    return "LimitExceeded", f"the cell was stopped ({kind}). {kept}"
