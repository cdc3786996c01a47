"""Per-cell limits, and every default and timeout of safekernel in one place.

Limits are plain data shared by the kernel (which sets them) and the worker (which enforces the
soft ones). The kernel enforces the hard ones itself and never trusts the worker to have done
so. The kernel's options (traitlets) take their defaults from here, and so do the pool, the
session, the zygote and the worker for every wait and grace period.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass, fields, replace
from typing import Any

from safekernel.errors import ConfigError

MIB = 1024 * 1024

# -- defaults of the kernel's options (kernel/kernel.py's traitlets read these) -------------
#: wall-clock seconds a cell may run
DEFAULT_TIMEOUT_S = 10.0
#: memory of a worker's runtime state
DEFAULT_MEMORY = 256 * MIB
#: instruction budget per cell; 0 = none
DEFAULT_INSTRUCTIONS = 0
#: stream output a cell may print before it is stopped
DEFAULT_OUTPUT = 1 * MIB
#: messages a cell may make the kernel send to the frontend (see "Floods" below)
DEFAULT_MESSAGES = 10_000
#: hardened spare workers kept ready
DEFAULT_POOL_SIZE = 1
#: seconds a replay may take in all
DEFAULT_REPLAY_TIMEOUT_S = 30.0
#: largest frame either side accepts by default; a worker that sends more is ended
DEFAULT_MAX_FRAME = 16 * MIB
#: the smallest cap a kernel may set: output travels in 64 KB batches, so printing always
#: works; results and error messages (cut at 256 KB each by the runtime) need 1M or more
MIN_MAX_FRAME = 128 * 1024
#: uid/gid a worker switches to when the kernel runs as root
NOBODY = 65534
#: RLIMIT_CPU backstop of a worker, in seconds over its whole life
WORKER_CPU_SECONDS = 3600
#: RLIMIT_NOFILE of a worker: it holds its channel and nothing else
WORKER_OPEN_FILES = 16

# -- timeouts and grace periods --------------------------------------------------------------
#: complete / inspect / is_complete: the worker stops its own answer after this ...
WORKER_REQUEST_TIMEOUT_S = 1.0
#: ... and the kernel, which gives up and ends the worker, waits two seconds longer, so an
#: honest worker that ran out of time still answers (empty) before it would be ended
KERNEL_REQUEST_TIMEOUT_S = WORKER_REQUEST_TIMEOUT_S + 2.0
#: after an interrupt, a worker that has not finished the cell this long later is ended
INTERRUPT_GRACE_S = 1.0
#: a worker that has not said "ready" this long after its fork is given up
READY_TIMEOUT_S = 10.0
#: a zygote that does not answer a spawn request this long is taken for broken and replaced
SPAWN_TIMEOUT_S = 10.0
#: ... except a new zygote that is still preparing its runtime (alive, not stopped): the first
#: start on a machine compiles the guest (the scientific guest ~2 min on 2 cores) and builds
#: the resident interpreter; its first answer may take this long
ZYGOTE_PREPARE_TIMEOUT_S = 900.0
#: a kernel_info_request is answered once a client has subscribed to IOPub, or this long after
#: it arrived (kernel/app.py: a client that took the reply as "ready" lost its first cell's
#: output and its final `status: idle`); past it once, kernel_info no longer waits
IOPUB_SUBSCRIBER_WAIT_S = 5.0
#: how often that wait looks
IOPUB_SUBSCRIBER_POLL_S = 0.01
#: the longest reason a zygote gives for not starting (the kernel shows it to the user)
ZYGOTE_FAILURE_CHARS = 300
#: how long a polite shutdown of the zygote may take before SIGKILL
SHUTDOWN_GRACE_S = 1.0
#: a claimed spare is replaced this much later while other spares remain (pool)
REFILL_DELAY_S = 0.02
#: how often a pending input() checks the stdin socket (ipykernel's raw_input polls as often)
STDIN_POLL_S = 0.01
#: the worker batches output into one stream message per this interval
FLUSH_INTERVAL_S = 0.02
#: between requests the zygote wakes this often to reap finished workers
REAP_INTERVAL_S = 1.0
#: a replayed cell gets at least this much time, or it is not started
MIN_REPLAY_SLICE_S = 0.05

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
    """What stopped a cell short of its end. The first seven are limits: the worker reports them
    (`done.stop`) and the kernel records them for a stop it enforced itself. The last two only
    the kernel sees, as a HardStop's kind: the worker died, or broke the protocol."""

    TIME = "time"
    INTERRUPT = "interrupt"
    OUTPUT = "output"
    MEMORY = "memory"
    INSTRUCTIONS = "instructions"
    #: the cell sent more messages than `Limits.messages` (the kernel counts them)
    MESSAGES = "messages"
    #: the cell's rich output passed CELL_DISPLAY_BYTES
    DISPLAY = "display"
    CRASH = "crash"
    PROTOCOL = "protocol"


#: the stops a worker may report in `done.stop` (the limits)
STOP_KINDS = (
    StopKind.TIME,
    StopKind.INTERRUPT,
    StopKind.OUTPUT,
    StopKind.MEMORY,
    StopKind.INSTRUCTIONS,
    StopKind.MESSAGES,
    StopKind.DISPLAY,
)

#: Largest rich output (one display or cell value, all its MIME types together). Below the
#: channel's frame cap, so an honest worker never sends a frame the kernel must refuse.
DISPLAY_BYTES = 8 * MIB
#: Rich output one cell may send in all
CELL_DISPLAY_BYTES = 32 * MIB
#: Deepest application/json a cell may display (frontends render it as a tree)
JSON_DEPTH = 64
#: Most values (numbers, strings, lists, objects, keys) one application/json output may hold:
#: the kernel parses it into Python objects, ~60 bytes each whatever their size in the text
JSON_VALUES = 100_000

#: Floods that bytes alone do not bound: every message the kernel sends to the frontend on a
#: cell's behalf (streams, displays, updates, clear_output, its value, the kernel's own notices)
#: counts against the cell's `messages` limit. Display updates past UPDATE_BURST in one cell
#: are coalesced: the latest per display id is kept and sent at most every
#: UPDATE_INTERVAL_S (a progress bar still moves, intermediate frames are dropped), for at most
#: PENDING_UPDATE_IDS distinct ids at once (updates for more ids are dropped).
UPDATE_BURST = 100
UPDATE_INTERVAL_S = 0.1
PENDING_UPDATE_IDS = 32
#: The kernel says once per kind why it refused an output; further refusals of that kind are
#: only counted, and one summary line at the end of the cell gives the count.
NOTICES_PER_KIND = 1
#: The kernel's hard deadline is pushed back by the time the kernel itself spent checking the
#: cell's output (a backlog it caused must not turn the worker's soft stop into a kill), by at
#: most this fraction of the cell's timeout.
KERNEL_LAG_ALLOWANCE = 1.0


#: the smallest `messages` limit: room for a value, an error notice and a few outputs
MIN_MESSAGES = 10

#: The documented maxima a per-cell magic may ask for when the operator sets no ceiling of
#: their own (the `max_*` options; see Ceilings)
MAX_TIMEOUT_S = 600.0
MAX_OUTPUT = 64 * MIB
MAX_MESSAGES = 100_000
#: Hard bounds of any limit, whatever is configured: past these a value is nonsense (and
#: would not fit the channel's 64-bit integers)
LARGEST_TIMEOUT_S = 24 * 3600.0
LARGEST_COUNT = 2**62


@dataclass(frozen=True)
class Limits:
    """What one cell may use. Zero means "no limit" only where the field says so."""

    #: wall-clock seconds for the cell
    timeout: float = DEFAULT_TIMEOUT_S
    #: bytes the Lua state may hold (lupa max_memory); the rlimit backstop sits above it
    memory: int = DEFAULT_MEMORY
    #: Lua VM instructions per cell; 0 = no count hook (a count hook slows Lua ~2.3x)
    instructions: int = DEFAULT_INSTRUCTIONS
    #: bytes of stream output per cell before it is cut
    output: int = DEFAULT_OUTPUT
    #: messages the kernel may send to the frontend for the cell (every kind counts)
    messages: int = DEFAULT_MESSAGES

    def validate(self) -> Limits:
        if not 0 < self.timeout <= LARGEST_TIMEOUT_S:
            raise ConfigError(f"timeout must be between 0 and 86400 seconds, not {self.timeout}")
        if not 4 * MIB <= self.memory <= LARGEST_COUNT:
            raise ConfigError(f"memory limit must be at least 4M, not {self.memory} bytes")
        if not 0 <= self.instructions <= LARGEST_COUNT:
            raise ConfigError("instruction limit must be 0 (off) or a positive count")
        if not 1024 <= self.output <= LARGEST_COUNT:
            raise ConfigError("output limit must be at least 1K")
        if not MIN_MESSAGES <= self.messages <= LARGEST_COUNT:
            raise ConfigError(f"message limit must be at least {MIN_MESSAGES}, not {self.messages}")
        return self

    def with_overrides(self, **changes: Any) -> Limits:
        return replace(self, **changes).validate()

    def to_wire(self) -> dict[str, Any]:
        # the fields are numbers: a flat copy (dataclasses.asdict deep-copies, ~20 us a cell)
        return {field.name: getattr(self, field.name) for field in fields(self)}

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
            messages=int(data["messages"]),
        )


def size_text(size: int) -> str:
    """`256M`, `1G`, `512K` or a plain count: the form parse_size reads back."""
    for unit, factor in (("G", 1024 * MIB), ("M", MIB), ("K", 1024)):
        if size >= factor and size % factor == 0:
            return f"{size // factor}{unit}"
    return str(size)


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
    if not value > 0:  # also NaN
        raise ConfigError(f"size must be positive: {text!r}")
    if not math.isfinite(value * factor) or value * factor > LARGEST_COUNT:
        raise ConfigError(f"size is too large: {text!r}")
    return int(value * factor)


@dataclass(frozen=True)
class Ceilings:
    """The most a per-cell magic may ask for: the operator's `max_*` options.

    A magic may lower any limit; it may raise one up to its ceiling, never past it. A ceiling
    is never below the configured limit itself (the operator's own default always runs).
    `instructions` 0 means no ceiling; otherwise a cell may not turn the budget off either.
    """

    timeout: float = MAX_TIMEOUT_S
    memory: int = LARGEST_COUNT
    instructions: int = 0
    output: int = MAX_OUTPUT
    messages: int = MAX_MESSAGES

    @classmethod
    def around(cls, defaults: Limits, **ceilings: Any) -> Ceilings:
        """Ceilings raised where needed to admit `defaults` (a configured limit above its
        ceiling is the operator's choice: it becomes the ceiling)."""
        wanted = cls(**ceilings)
        instructions = wanted.instructions
        return cls(
            timeout=max(wanted.timeout, defaults.timeout),
            memory=max(wanted.memory, defaults.memory),
            instructions=max(instructions, defaults.instructions) if instructions else 0,
            output=max(wanted.output, defaults.output),
            messages=max(wanted.messages, defaults.messages),
        )

    def check(self, limits: Limits, defaults: Limits) -> None:
        """Raise ConfigError, saying what is allowed, if `limits` asks for more than this
        where it differs from `defaults` (the configured limits always run)."""
        if limits.timeout != defaults.timeout and limits.timeout > self.timeout:
            raise _over("timeout", f"{self.timeout:g} s", "max_timeout")
        if limits.memory != defaults.memory and limits.memory > self.memory:
            raise _over("memory", f"{self.memory // MIB}M", "max_memory")
        if limits.output != defaults.output and limits.output > self.output:
            raise _over("output", _size_text(self.output), "max_output")
        if limits.messages != defaults.messages and limits.messages > self.messages:
            raise _over("messages", f"{self.messages:,}", "max_messages")
        if limits.instructions == defaults.instructions:
            return
        if self.instructions and limits.instructions == 0:
            raise ConfigError(
                "%instructions 0 (no budget) is not allowed in this kernel: a cell may run at "
                f"most {self.instructions:,} Lua instructions (its ceiling, set by whoever "
                "started the kernel: --SafeKernel.max_instructions); ask for that or less"
            )
        if self.instructions and limits.instructions > self.instructions:
            raise _over("instructions", f"{self.instructions:,}", "max_instructions")


def _over(magic: str, most: str, option: str) -> ConfigError:
    return ConfigError(
        f"%{magic} can be at most {most} in this kernel (its ceiling, set by whoever started "
        f"the kernel: --SafeKernel.{option}); ask for less"
    )


def _size_text(size: int) -> str:
    if size % MIB == 0:
        return f"{size // MIB}M"
    return f"{size // 1024}K" if size % 1024 == 0 else f"{size} bytes"


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
    if kind == "display":
        return (
            "OutputLimitExceeded",
            f"output limit exceeded: the cell's rich output passed "
            f"{CELL_DISPLAY_BYTES // MIB} MB, so it was stopped. {kept} Split the work over "
            "several cells.",
        )
    if kind == "messages":
        return (
            "OutputLimitExceeded",
            f"output limit exceeded: the cell sent more than {limits.messages:,} outputs "
            f"(prints, displays, updates, clears), so it was stopped. {kept} Put `%messages "
            f"{limits.messages * 4}` on the cell's first line to allow more, or update one display "
            "instead of making new ones.",
        )
    return "LimitExceeded", f"the cell was stopped ({kind}). {kept}"
