"""Leading `%` lines of a cell become per-cell options.

    %timeout 30        wall-clock seconds for this cell
    %memory 512M       Lua memory for this cell
    %instructions 1e9  Lua instruction budget for this cell (0 = none)
    %output 4M         stream output this cell may print
    %messages 40000    messages (prints, displays, updates, clears) this cell may send
    %isolate           run this cell in a fresh worker (no variables shared)
    %sandbox           show which sandbox layers are active
    %reset             drop every variable: the cell runs in a fresh worker that stays

A limit magic may lower a limit; it may raise one only up to the kernel's ceiling for it
(limits.Ceilings, the `max_*` options), and `%instructions 0` is refused where instructions
have a ceiling.

A magic line is replaced by an empty line, so error line numbers still match the cell. A line
starting with `%` is never valid Lua, so nothing a user meant as code is taken away.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from safekernel.errors import ConfigError
from safekernel.limits import LARGEST_COUNT, Ceilings, Limits, parse_size


@dataclass
class CellOptions:
    limits: Limits
    isolate: bool = False
    #: commands the kernel answers itself (e.g. "sandbox"), in the order given
    commands: list[str] = field(default_factory=list)


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ConfigError(f"not a number of seconds: {text!r}") from None
    if not math.isfinite(value):
        raise ConfigError(f"not a number of seconds: {text!r}")
    return value


def _count(text: str) -> int:
    # 1e9 is accepted (a float spelling of a whole count); inf, nan, 0x10 and 1.5 are not
    try:
        value = float(text)
    except ValueError:
        raise ConfigError(f"not a count: {text!r}") from None
    if not math.isfinite(value) or value != int(value):
        raise ConfigError(f"not a whole count: {text!r}")
    if abs(value) > LARGEST_COUNT:
        raise ConfigError(f"count is too large: {text!r}")
    return int(value)


_LIMIT_MAGICS: dict[str, tuple[str, Callable[[str], Any]]] = {
    "timeout": ("timeout", _seconds),
    "memory": ("memory", parse_size),
    "instructions": ("instructions", _count),
    "output": ("output", parse_size),
    "messages": ("messages", _count),
}
_FLAG_MAGICS = {"isolate"}
COMMAND_MAGICS = ("sandbox", "usage", "reset")
KNOWN = sorted([*_LIMIT_MAGICS, *_FLAG_MAGICS, *COMMAND_MAGICS])


def parse_cell(
    code: str, defaults: Limits, ceilings: Ceilings | None = None
) -> tuple[CellOptions, str]:
    """Split a cell into its options and the code to run (magic lines blanked); limits past
    `ceilings` (the last of repeated magics counts) raise ConfigError."""
    lines = code.split("\n")
    changes: dict[str, Any] = {}
    options = CellOptions(limits=defaults)
    for index, line in enumerate(lines):
        stripped = line.strip()
        if not stripped:
            continue
        if not stripped.startswith("%"):
            break
        if not stripped[1:].strip():
            raise ConfigError("a lone `%` is not a magic: write e.g. `%timeout 30`")
        name, *args = stripped[1:].split()
        if name in _LIMIT_MAGICS:
            if len(args) != 1:
                raise ConfigError(f"%{name} takes one value, e.g. `%{name} {_example(name)}`")
            field_name, convert = _LIMIT_MAGICS[name]
            changes[field_name] = convert(args[0])
        elif name in _FLAG_MAGICS or name in COMMAND_MAGICS:
            if args:
                raise ConfigError(f"%{name} takes no value")
            if name == "isolate":
                options.isolate = True
            else:
                options.commands.append(name)
        else:
            known = ", ".join(f"%{k}" for k in KNOWN)
            raise ConfigError(f"unknown magic %{name}; the known ones are {known}")
        lines[index] = ""
    options.limits = defaults.with_overrides(**changes)
    if ceilings is not None:
        ceilings.check(options.limits, defaults)
    return options, "\n".join(lines)


def _example(name: str) -> str:
    return {
        "timeout": "30",
        "memory": "512M",
        "instructions": "1e9",
        "output": "4M",
        "messages": "40000",
    }[name]
