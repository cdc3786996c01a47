"""The runtime registry: everything the kernel may know about a runtime, as plain data.

A runtime is a package under `safekernel/runtimes/` (its `Runtime` implementation, imported
only in the zygote) plus one module in this folder, `registry/<name>.py`, that defines
`ENTRY = RuntimeEntry(...)` and imports nothing but this module. Modules here are found by
listing the folder, so adding a runtime edits nothing outside `safekernel/runtimes/`.

The kernel reads entries (language_info, banner, kernelspec name, extra syscalls) and never
imports a runtime package: only `RuntimeEntry.create` and `RuntimeEntry.prewarm` do, and only
the zygote and its workers call them.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING, Any

from safekernel.errors import ConfigError
from safekernel.limits import ADDRESS_SPACE_HEADROOM, INTERPRETER_ADDRESS_SPACE

if TYPE_CHECKING:
    from safekernel.runtimes.base import Runtime

#: the runtime a kernel runs when `--SafeKernel.runtime` is not given
DEFAULT_RUNTIME = "lua"


@dataclass(frozen=True)
class RuntimeEntry:
    """One runtime, as the kernel and the installer see it."""

    #: what `--SafeKernel.runtime` and `install --runtime` take; the zygote's argument
    name: str
    #: the package implementing it (imported in the zygote only, never in the kernel)
    module: str
    #: the `Runtime` subclass in `module`, called as factory(memory_limit, data_dir)
    factory: str
    #: Jupyter's language_info for kernel_info_reply
    language_info: Mapping[str, object]
    #: the language as the banner's first line names it, e.g. "Lua 5.4"
    banner: str
    #: the kernelspec `install --runtime NAME` writes by default, and its menu name
    kernelspec_name: str
    display_name: str
    #: syscalls this runtime needs beyond the base seccomp allow-list, each with why it is safe
    extra_syscalls: Mapping[str, str] = field(default_factory=dict)
    #: RLIMIT_AS of a worker is its memory limit plus this (the interpreter needs room) ...
    address_space_headroom: int = ADDRESS_SPACE_HEADROOM
    #: ... of which the interpreter and runtime map this much for themselves before any cell
    interpreter_address_space: int = INTERPRETER_ADDRESS_SPACE
    #: a function in `module` the zygote calls once, before any fork (None: importing is enough)
    prewarm_hook: str | None = None
    #: the zygote makes one state before its first fork and forks from inside it (Runtime.hold):
    #: for a state that must stay on the main thread (fork carries only the calling thread)
    resident: bool = False
    #: not offered by `install` nor listed in messages (the test runtime)
    hidden: bool = False

    @property
    def language(self) -> str:
        return str(self.language_info["name"])

    def prewarm(self) -> None:
        """Import (and so page in) the runtime in the zygote, before any fork."""
        module = importlib.import_module(self.module)
        if self.prewarm_hook is not None:
            getattr(module, self.prewarm_hook)()

    def create(self, memory_limit: int, data_dir: str | None = None) -> Runtime:
        """A fresh runtime state (worker side: the zygote's template, or a worker's own)."""
        factory: Any = getattr(importlib.import_module(self.module), self.factory)
        runtime: Runtime = factory(memory_limit, data_dir)
        return runtime


@cache
def entries() -> dict[str, RuntimeEntry]:
    """Every registered runtime by name, from the modules in this folder."""
    found: dict[str, RuntimeEntry] = {}
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name):
        module = importlib.import_module(f"{__name__}.{info.name}")
        entry = getattr(module, "ENTRY", None)
        if not isinstance(entry, RuntimeEntry):
            raise TypeError(f"{module.__name__} defines no ENTRY = RuntimeEntry(...)")
        if entry.name in found:
            raise TypeError(f"two runtimes are called {entry.name!r}")
        found[entry.name] = entry
    return found


def names(*, include_hidden: bool = False) -> list[str]:
    """The runtimes a user may choose (the hidden test runtime too, if asked)."""
    return [name for name, entry in entries().items() if include_hidden or not entry.hidden]


def get(name: str) -> RuntimeEntry:
    """The entry for `name`; ConfigError naming the choices if there is none."""
    entry = entries().get(name)
    if entry is None:
        raise ConfigError(f"unknown runtime {name!r}; available: {', '.join(names())}")
    return entry
