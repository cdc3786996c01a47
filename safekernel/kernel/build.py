"""What the kernel's options build once, when it starts: the runtime's registry entry, the
default limits and their ceilings, and the session with its pool, zygote and sandbox
configuration. A bad value is logged and replaced by its default; a ceiling that cannot be
read fails closed (cells may then not raise their limits)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from safekernel.errors import ConfigError
from safekernel.kernel.pool import Pool
from safekernel.kernel.session import Session
from safekernel.kernel.zygote import ZygoteProcess
from safekernel.limits import (
    DEFAULT_MAX_FRAME,
    LARGEST_COUNT,
    MIB,
    MIN_MAX_FRAME,
    Ceilings,
    Limits,
    parse_size,
    size_text,
)
from safekernel.runtimes import registry
from safekernel.wire.confinement import SandboxConfig

if TYPE_CHECKING:
    from safekernel.kernel.kernel import SafeKernel


@dataclass
class Built:
    entry: registry.RuntimeEntry
    defaults: Limits
    ceilings: Ceilings
    session: Session


def build(options: SafeKernel) -> Built:
    """Everything the kernel's options decide, from its traitlets."""
    log = options.log
    entry = runtime_entry(options.runtime, log)
    try:
        defaults = default_limits(options)
    except ConfigError as exc:
        log.error("safekernel: %s; using the built-in defaults", exc)
        defaults = Limits()
    sandbox = SandboxConfig(
        worker_uid=options.worker_uid,
        worker_gid=options.worker_gid,
        data_dir=options.data_dir or None,
        address_space=defaults.memory + entry.address_space_headroom,
        extra_syscalls=tuple(entry.extra_syscalls),
    )
    zygote = ZygoteProcess(entry.name, log, max_frame=max_frame(options.max_message_size, log))
    pool = Pool(
        zygote=zygote,
        sandbox=sandbox,
        memory=defaults.memory,
        size=spares_wanted(options.pool_size, options.isolation),
        require_all_layers=options.require_all_layers,
        log=log,
    )
    session = Session(
        pool,
        defaults,
        options.isolation,
        log,
        replay_on_reset=options.replay_on_reset,
        replay_timeout=max(0.0, options.replay_timeout),
    )
    ceilings = ceilings_for(options, defaults, memory_ceiling(defaults, entry))
    return Built(entry, defaults, ceilings, session)


def memory_ceiling(defaults: Limits, entry: registry.RuntimeEntry) -> int:
    """The most memory a cell may ask for: what the worker's RLIMIT_AS leaves."""
    return defaults.memory + entry.address_space_headroom - entry.interpreter_address_space


def runtime_entry(name: str, log: logging.Logger) -> registry.RuntimeEntry:
    try:
        return registry.get(name)
    except ConfigError as exc:
        log.error("safekernel: %s; using %s", exc, registry.DEFAULT_RUNTIME)
        return registry.get(registry.DEFAULT_RUNTIME)


def default_limits(options: SafeKernel) -> Limits:
    return Limits(
        timeout=options.timeout,
        memory=parse_size(options.memory_limit),
        instructions=options.instruction_limit,
        output=parse_size(options.output_limit),
        messages=options.message_limit,
    ).validate()


def ceilings_for(options: SafeKernel, defaults: Limits, memory_cap: int) -> Ceilings:
    log = options.log
    try:
        memory = parse_size(options.max_memory) if options.max_memory else LARGEST_COUNT
        if memory > memory_cap:
            log.warning(
                "safekernel: max_memory is above what the workers' address space allows; "
                "the ceiling is %dM",
                memory_cap // MIB,
            )
        ceilings = Ceilings.around(
            defaults,
            timeout=options.max_timeout,
            memory=memory,
            instructions=options.max_instructions,
            output=parse_size(options.max_output),
            messages=options.max_messages,
        )
    except ConfigError as exc:
        # fail closed: a ceiling that cannot be read leaves the configured limits in force
        log.error("safekernel: max_*: %s; cells may not raise their limits", exc)
        return Ceilings.around(
            defaults, timeout=0.0, memory=0, output=0, instructions=0, messages=0
        )
    if options.max_timeout < defaults.timeout:
        log.warning("safekernel: max_timeout is below timeout; timeout is the ceiling")
    return ceilings


def max_frame(text: str, log: logging.Logger) -> int:
    try:
        size = parse_size(text)
    except ConfigError as exc:
        log.error("safekernel: max_message_size: %s; using %s", exc, size_text(DEFAULT_MAX_FRAME))
        return DEFAULT_MAX_FRAME
    if size < MIN_MAX_FRAME:
        minimum = size_text(MIN_MAX_FRAME)
        log.error("safekernel: max_message_size must be at least %s; using %s", minimum, minimum)
        return MIN_MAX_FRAME
    return size


def spares_wanted(pool_size: int, isolation: str) -> int:
    # In cell isolation the worker that runs a cell is spent by it, where the session's worker
    # is kept: one more spare keeps as many workers ready as in session mode, so a cell does
    # not wait for the one forked for it (measured on 2 busy cores: a trivial cell in cell
    # isolation 6.2 ms with one spare, 5.0 ms with two).
    extra = 1 if isolation == "cell" else 0
    return max(0, pool_size) + extra
