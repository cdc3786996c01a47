"""papermill parameters for Lua notebooks, for a user who only installed safekernel: the CLI
picks up the Lua translator through safekernel's `papermill.engine` entry point, and each value
(quotes, newlines, unicode, `]]`, numbers, booleans, None, lists, dicts) arrives in the kernel
as the same value, read back through the sandbox's json module."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from safekernel.papermill import LuaTranslator

if not any(ep.name == "safekernel" for ep in entry_points(group="papermill.engine")):
    MESSAGE = "safekernel's papermill entry point is not installed (pip install -e . adds it)"
    if os.environ.get("CI") == "true":
        raise RuntimeError(MESSAGE)
    pytest.skip(MESSAGE, allow_module_level=True)

TRICKY = 'he said "hi"\n\tand left]] [[ \\ \' \x00\x07 é 😀 -- not a comment'
#: papermill's YAML parameters: every JSON type, nested
VALUES: dict[str, Any] = {
    "text": TRICKY,
    "empty": "",
    "count": 5,
    "negative": -12,
    "big": 2**62,
    "ratio": 2.5,
    "tiny": 1.5e-300,  # (PyYAML reads 1e-300, without a dot, as a string)
    "yes": True,
    "no": False,
    "items": [1, "two", [3.5, False], {"k": "v"}],
    "table": {"a": 1, "b c": ["x", TRICKY], "nested": {"deep": True}},
}
REPORT = (
    "local report = {}\n"
    + "".join(f'report["{name}"] = {name}\n' for name in VALUES)
    + 'report["none_is_nil"] = (nothing == nil)\n'
    + 'report["odd_name"] = _ENV["my-param"]\n'
    + 'report["keyword"] = _ENV["end"]\n'
    + "print(json.encode(report))"
)


def parameters_notebook(path: Path) -> None:
    nb = new_notebook(
        cells=[
            new_code_cell('count = 1\ntext = "default"', metadata={"tags": ["parameters"]}),
            new_code_cell(REPORT),
            new_code_cell("count * 2"),
        ]
    )
    nb.metadata["kernelspec"] = {"name": "safe", "language": "lua", "display_name": "Lua"}
    nbformat.write(nb, path)


def papermill(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "papermill", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def test_cli_parameters_arrive_as_the_same_values(tmp_path: Path) -> None:
    parameters_notebook(tmp_path / "in.ipynb")
    # JSON is YAML; ensure_ascii=False, as YAML would read "\ud83d\ude00" as two lone surrogates
    yaml = json.dumps({**VALUES, "nothing": None, "my-param": 7, "end": "kw"}, ensure_ascii=False)
    done = papermill(
        "in.ipynb", "out.ipynb", "-k", "safe", "-y", yaml, "-p", "count", "5", cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr[-3000:]
    out = nbformat.read(tmp_path / "out.ipynb", as_version=4)
    injected = out.cells[1]
    assert "injected-parameters" in injected.metadata["tags"]
    assert injected.source.startswith("-- Parameters")
    report = json.loads(out.cells[2].outputs[0]["text"])
    assert {name: report[name] for name in VALUES} == VALUES
    assert report["none_is_nil"] is True
    assert report["odd_name"] == 7
    assert report["keyword"] == "kw"
    # `-p count 5` is the number 5: the last cell computes with it
    assert out.cells[3].outputs[0]["data"]["text/plain"] == "10"


def test_the_safekernel_engine_records_each_cells_verdict(tmp_path: Path) -> None:
    cells = [new_code_cell("x = 1"), new_code_cell("%timeout 0.3\nwhile true do end")]
    nb = new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "safe", "language": "lua", "display_name": "Lua"}
    nbformat.write(nb, tmp_path / "in.ipynb")
    done = papermill("in.ipynb", "out.ipynb", "--engine", "safekernel", cwd=tmp_path)
    assert done.returncode == 1  # papermill fails a notebook with an error output
    out = nbformat.read(tmp_path / "out.ipynb", as_version=4)
    code = [c for c in out.cells if c.cell_type == "code"]  # papermill adds a banner on failure
    assert [c.metadata["safekernel"]["verdict"] for c in code] == ["ok", "time-limit"]
    assert code[1].metadata["safekernel"]["state"] == "kept"


@pytest.mark.parametrize(
    ("value", "lua"),
    [
        (math.inf, "math.huge"),
        (-math.inf, "(-math.huge)"),
        (None, "nil"),
        ({1: "a", "1": "b"}, '{[1] = "a", ["1"] = "b"}'),
    ],
)
def test_values_json_cannot_carry(value: Any, lua: str) -> None:
    assert LuaTranslator.translate(value) == lua
