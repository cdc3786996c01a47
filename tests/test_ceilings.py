"""Limit ceilings: a per-cell magic may lower a limit, and raise it only up to the ceiling the
operator set (the `max_*` options) or, without one, a documented maximum; a magic that asks for
more is refused with one clear line and nothing runs."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from safekernel.errors import ConfigError
from safekernel.kernel.magics import parse_cell
from safekernel.limits import MAX_OUTPUT, MAX_TIMEOUT_S, MIB, Ceilings, Limits
from tests.conftest import Kernel, start_kernel

DEFAULTS = Limits()
STRICT_DEFAULTS = Limits(timeout=2.0, memory=64 * MIB, instructions=1_000_000, output=64 * 1024)
STRICT = Ceilings.around(
    STRICT_DEFAULTS, timeout=2.0, memory=64 * MIB, instructions=1_000_000, output=64 * 1024
)


@pytest.mark.parametrize(
    "cell",
    [
        "%timeout 3",
        "%timeout 86400",
        "%timeout 2.0001",
        "%memory 65M",
        "%memory 1G",
        "%memory 10G",
        "%output 65K",
        "%output 10G",
        "%instructions 0",
        "%instructions 1000001",
        "%instructions 1e9",
        # repeated: the last one counts, and is checked
        "%timeout 1\n%timeout 100",
        "%output 1K\n%output 1M",
        # odd spellings of the same magic
        "%   timeout   100",
        "\t%timeout\t100",
        "  %instructions 0  ",
        "\n\n%output 1G",
        # combined with other magics
        "%isolate\n%timeout 100",
        "%timeout 100\n%isolate",
        "%sandbox\n%instructions 0",
        "%reset\n%memory 1G",
        "%messages 1e6",  # past the documented maximum of 100 000
    ],
)
def test_a_magic_above_its_ceiling_is_refused(cell: str) -> None:
    with pytest.raises(ConfigError, match=r"at most|not allowed"):
        parse_cell(cell + "\nx = 1", STRICT_DEFAULTS, STRICT)


@pytest.mark.parametrize(
    "cell",
    [
        "%timeout 1",
        "%timeout 2",
        "%memory 16M",
        "%memory 64M",
        "%output 1K",
        "%instructions 1000",
        "%instructions 1e6",
        "%timeout 100\n%timeout 1",  # repeated: the last, lower one counts
        "%isolate\n%timeout 0.5\n%output 2K",
    ],
)
def test_a_magic_may_lower_a_limit_or_ask_up_to_its_ceiling(cell: str) -> None:
    options, _ = parse_cell(cell + "\nx = 1", STRICT_DEFAULTS, STRICT)
    limits = options.limits
    assert limits.timeout <= 2.0
    assert limits.memory <= 64 * MIB
    assert 0 < limits.instructions <= 1_000_000
    assert limits.output <= 64 * 1024


def test_the_configured_limits_always_run_even_above_a_lower_ceiling() -> None:
    ceilings = Ceilings.around(STRICT_DEFAULTS, timeout=1.0, output=1024, instructions=10)
    options, _ = parse_cell("x = 1", STRICT_DEFAULTS, ceilings)
    assert options.limits == STRICT_DEFAULTS
    parse_cell("%timeout 2\n%instructions 1e6\nx = 1", STRICT_DEFAULTS, ceilings)


def test_without_ceilings_configured_the_documented_maxima_hold() -> None:
    ceilings = Ceilings.around(DEFAULTS)
    assert ceilings.timeout == MAX_TIMEOUT_S
    assert ceilings.output == MAX_OUTPUT
    with pytest.raises(ConfigError, match="at most"):
        parse_cell("%timeout 86400\n1", DEFAULTS, ceilings)
    with pytest.raises(ConfigError, match="at most"):
        parse_cell("%output 10G\n1", DEFAULTS, ceilings)
    # no instruction ceiling unless one is set: a budget is off by default anyway
    assert parse_cell("%instructions 0\n1", DEFAULTS, ceilings)[0].limits.instructions == 0
    assert parse_cell(f"%timeout {MAX_TIMEOUT_S:g}\n1", DEFAULTS, ceilings)[0].limits


ODD_VALUES = ["nan", "inf", "-inf", "1e400", "1e300", "0x10", "-1", "0", "", "1,5", "ten"]


@pytest.mark.parametrize(
    ("magic", "value"),
    [
        (magic, value)
        for magic in ("timeout", "memory", "instructions", "output", "messages")
        for value in ODD_VALUES
        # 0 instructions is the documented "no budget" (refused only under a ceiling, above)
        if (magic, value) != ("instructions", "0")
    ],
)
def test_odd_numbers_in_a_magic_are_a_usage_error(magic: str, value: str) -> None:
    with pytest.raises(ConfigError):
        parse_cell(f"%{magic} {value}\nx = 1", DEFAULTS, Ceilings.around(DEFAULTS))


@pytest.mark.parametrize("magic", ["TIMEOUT", "Timeout", "timeouts", "time_out", "%timeout"])
def test_a_misspelt_limit_magic_is_an_unknown_magic(magic: str) -> None:
    with pytest.raises(ConfigError, match="unknown magic"):
        parse_cell(f"%{magic} 86400\nx = 1", DEFAULTS, Ceilings.around(DEFAULTS))


def test_a_magic_in_the_middle_of_a_cell_is_not_a_magic() -> None:
    options, body = parse_cell("x = 1\n%timeout 86400\ny = 2", DEFAULTS, STRICT)
    assert options.limits == DEFAULTS
    assert "%timeout 86400" in body  # left as code: the runtime calls it a syntax error


# -- through a real kernel ------------------------------------------------------------------
@pytest.fixture(scope="module")
def strict_kernel() -> Iterator[Kernel]:
    k = start_kernel(
        "--SafeKernel.timeout=2",
        "--SafeKernel.max_timeout=2",
        "--SafeKernel.output_limit=64K",
        "--SafeKernel.max_output=64K",
        "--SafeKernel.instruction_limit=1000000",
        "--SafeKernel.max_instructions=1000000",
        "--SafeKernel.memory_limit=64M",
        "--SafeKernel.max_memory=64M",
        "--SafeKernel.message_limit=500",
        "--SafeKernel.max_messages=500",
    )
    yield k
    k.shutdown()


def _refused(kernel: Kernel, cell: str) -> dict[str, Any]:
    run = kernel.run(cell)
    assert run.status == "error"
    assert run.reply["metadata"]["verdict"] == "refused"
    error = run.error
    assert error is not None
    assert error["ename"] == "UsageError"
    assert "\n" not in error["evalue"]
    return error


@pytest.mark.parametrize(
    ("cell", "option"),
    [
        ("%timeout 86400\nwhile true do end", "max_timeout"),
        ("%output 10G\nprint(('x'):rep(1e6))", "max_output"),
        ("%instructions 0\nwhile true do end", "max_instructions"),
        ("%instructions 1e9\nwhile true do end", "max_instructions"),
        ("%memory 1G\nx = 1", "max_memory"),
        ("%messages 1e7\nfor i = 1, 1e8 do display.html('x') end", "max_messages"),
        ("%isolate\n%timeout 3\nwhile true do end", "max_timeout"),
        ("%timeout 1\n%timeout 60\nwhile true do end", "max_timeout"),
    ],
)
def test_the_kernel_refuses_magics_above_its_ceilings(
    strict_kernel: Kernel, cell: str, option: str
) -> None:
    strict_kernel.run("ceiling_kept = 5")
    error = _refused(strict_kernel, cell)
    assert f"--SafeKernel.{option}" in error["evalue"]
    assert strict_kernel.run("ceiling_kept").result == "5"


def test_the_kernel_runs_magics_within_its_ceilings(strict_kernel: Kernel) -> None:
    run = strict_kernel.run("%timeout 1\n%instructions 5e5\n%output 1K\nreturn 6 * 7")
    assert run.result == "42"
    stopped = strict_kernel.run("%instructions 1000\nwhile true do end")
    assert stopped.error is not None
    assert stopped.error["ename"] == "InstructionLimitExceeded"


@pytest.mark.parametrize("cell", ["%instructions inf", "%memory inf", "%output nan"])
def test_odd_numbers_get_a_reply_from_the_kernel(strict_kernel: Kernel, cell: str) -> None:
    _refused(strict_kernel, cell + "\nreturn 1")
    assert strict_kernel.run("return 2").result == "2"


def test_a_default_kernel_caps_magics_at_the_documented_maxima(kernel: Kernel) -> None:
    for cell in ("%timeout 86400\nreturn 1", "%output 10G\nreturn 1"):
        _refused(kernel, cell)
    assert kernel.run("%timeout 30\n%output 4M\nreturn 3").result == "3"
