"""The README's option table is the options' help text: every `SafeKernel.*` option has a row
with its real default and its help string, and no row names an option that does not exist."""

from __future__ import annotations

import json
import re
from pathlib import Path

from safekernel.kernel.kernel import SafeKernel

README = Path(__file__).resolve().parent.parent / "README.md"
ROW = re.compile(r"^\| `SafeKernel\.(\w+)` \| `([^`]*)` \| (.*) \|$")


def _default(value: object) -> str:
    return json.dumps(value) if isinstance(value, str) else repr(value)


def test_readme_option_table_matches_every_option_and_its_help() -> None:
    rows = {
        m.group(1): (m.group(2), m.group(3))
        for m in map(ROW.match, README.read_text().splitlines())
        if m
    }
    options = SafeKernel.class_own_traits(config=True)
    assert set(rows) == set(options)
    for name, trait in options.items():
        assert rows[name] == (_default(trait.default_value), trait.help), name
