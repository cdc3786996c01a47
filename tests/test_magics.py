"""Leading % lines become per-cell options; everything else is left to Lua."""

from __future__ import annotations

import pytest

from safekernel.errors import ConfigError
from safekernel.kernel.magics import parse_cell
from safekernel.limits import MIB, Limits


def test_limits_are_overridden_per_cell() -> None:
    options, code = parse_cell("%timeout 30\n%memory 64M\n%instructions 1e6\nx = 1", Limits())
    assert options.limits.timeout == 30
    assert options.limits.memory == 64 * MIB
    assert options.limits.instructions == 1_000_000
    assert code == "\n\n\nx = 1"


def test_magics_only_at_the_top() -> None:
    options, code = parse_cell("x = 1\n%timeout 3", Limits())
    assert options.limits.timeout == Limits().timeout
    assert code == "x = 1\n%timeout 3"


def test_isolate_and_commands() -> None:
    options, _ = parse_cell("%isolate\n%sandbox\n1", Limits())
    assert options.isolate
    assert options.commands == ["sandbox"]


@pytest.mark.parametrize(
    ("cell", "message"),
    [
        ("%nope\n1", "unknown magic %nope"),
        ("%timeout\n1", "%timeout takes one value"),
        ("%timeout soon\n1", "not a number of seconds"),
        ("%timeout -1\n1", "timeout must be between"),
        ("%memory lots\n1", "not a size"),
        ("%memory 1K\n1", "at least 4M"),
        ("%sandbox now\n1", "takes no value"),
    ],
)
def test_bad_magic_says_what_to_do(cell: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_cell(cell, Limits())
