"""`safekernel grade`: a directory of submissions run headless through real kernels (nbclient),
hostile ones included, with a summary whose verdicts come from the kernel's reply metadata."""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

STUCK_IN_C = "string.rep('a', 3e6):find('.-.-.-.-b')"
SETUP = "function square(x) return x * x end\nbase = 10"
LATER = "square(base)"

SUBMISSIONS = {
    "correct": [SETUP, "square(3)", LATER],
    "loop": [SETUP, "while true do end", LATER],
    "memory": [SETUP, "local t = {} for i = 1, 1e9 do t[i] = {i} end", LATER],
    "flood": [SETUP, "while true do print(string.rep('x', 1000)) end", LATER],
    "stuck": [SETUP, STUCK_IN_C, LATER],
}
BAD_VERDICT = {
    "loop": "time-limit",
    "memory": "memory-limit",
    "flood": "output-limit",
    "stuck": "time-limit",
}


def notebook(cells: list[str], language: str = "lua") -> Any:
    nb = new_notebook(cells=[new_code_cell(code) for code in cells])
    nb.metadata["kernelspec"] = {"name": "safe", "language": language, "display_name": "Lua"}
    return nb


def grade(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "safekernel", "grade", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )


@pytest.fixture(scope="module")
def graded(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[Path, subprocess.CompletedProcess[str]]:
    root = tmp_path_factory.mktemp("course")
    subs = root / "submissions"
    for student, cells in SUBMISSIONS.items():
        (subs / student).mkdir(parents=True)
        nbformat.write(notebook(cells), subs / student / "hw1.ipynb")
    (subs / "notjson").mkdir()
    (subs / "notjson" / "hw1.ipynb").write_text("{ this is not json")
    (subs / "python").mkdir()
    nbformat.write(notebook(["print(1)"], "python"), subs / "python" / "hw1.ipynb")
    done = grade(
        "submissions", "-o", "graded", "--timeout", "2", "--memory", "64M", "-j", "3", cwd=root
    )
    return root, done


def summary_of(root: Path) -> dict[str, Any]:
    data = json.loads((root / "graded" / "summary.json").read_text())
    return {Path(n["notebook"]).parent.name: n for n in data["notebooks"]}


def test_every_submission_runs_and_bad_cells_lose_only_themselves(
    graded: tuple[Path, subprocess.CompletedProcess[str]],
) -> None:
    root, done = graded
    notebooks = summary_of(root)
    assert notebooks["correct"]["status"] == "ran"
    assert [c["verdict"] for c in notebooks["correct"]["cells"]] == ["ok", "ok", "ok"]
    for student, verdict in BAD_VERDICT.items():
        cells = notebooks[student]["cells"]
        assert notebooks[student]["status"] == "ran", student
        assert [c["verdict"] for c in cells] == ["ok", verdict, "ok"], student
        # replay is on by default: the stuck cell's hard kill does not cost the next question
        assert cells[1]["state"] in ("kept", "restored"), student
        assert cells[1]["ename"], student
    executed = nbformat.read(root / "graded" / "stuck" / "hw1.ipynb", as_version=4)
    assert executed.cells[2].outputs[0]["data"]["text/plain"] == "100"
    assert notebooks["stuck"]["cells"][1]["state"] == "restored"
    assert "restored" in notebooks["stuck"]["cells"][2]["warning"]
    # the flood was cut by the kernel: the executed notebook stays small
    assert (root / "graded" / "flood" / "hw1.ipynb").stat().st_size < 2 * 1024 * 1024
    assert done.returncode == 1  # two notebooks could not be run


def test_unreadable_and_foreign_notebooks_are_named_clearly(
    graded: tuple[Path, subprocess.CompletedProcess[str]],
) -> None:
    root, done = graded
    notebooks = summary_of(root)
    assert notebooks["notjson"]["status"] == "unreadable"
    assert "not a readable notebook" in notebooks["notjson"]["message"]
    assert notebooks["python"]["status"] == "wrong-kernel"
    assert "for python, not Lua" in notebooks["python"]["message"]
    assert "Traceback" not in done.stderr
    assert "notjson" in done.stderr
    assert "5 of 7 notebook(s) ran" in done.stdout


def test_the_csv_has_a_row_per_cell_with_usage(
    graded: tuple[Path, subprocess.CompletedProcess[str]],
) -> None:
    root, _ = graded
    with (root / "graded" / "summary.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    memory = [r for r in rows if "/memory/" in r["notebook"]]
    assert [r["verdict"] for r in memory] == ["ok", "memory-limit", "ok"]
    assert memory[1]["ename"] == "MemoryError"
    assert float(memory[1]["peak_memory_bytes"]) > 32 * 1024 * 1024
    python = [r for r in rows if "/python/" in r["notebook"]]
    assert len(python) == 1
    assert python[0]["status"] == "wrong-kernel"
    assert python[0]["cell"] == ""


def test_cell_isolation_and_all_notebooks_running_exit_zero(tmp_path: Path) -> None:
    nbformat.write(notebook(["shared = 1", "shared"]), tmp_path / "a.ipynb")
    done = grade("a.ipynb", "-o", "out", "--isolation", "cell", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    executed = nbformat.read(tmp_path / "out" / "a.ipynb", as_version=4)
    assert executed.cells[1].outputs[0]["data"]["text/plain"] == "nil"


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["missing.ipynb"], "no such file or directory: missing.ipynb"),
        (["empty"], "no notebooks found"),
        (["empty", "--memory", "lots"], "--memory: not a size"),
        (["empty", "-j", "0"], "-j must be at least 1"),
    ],
)
def test_bad_arguments_are_one_clear_line(tmp_path: Path, args: list[str], needle: str) -> None:
    (tmp_path / "empty").mkdir()
    done = grade(*args, cwd=tmp_path)
    assert done.returncode == 2
    assert needle in done.stderr
    assert "Traceback" not in done.stderr


def test_the_console_script_is_installed() -> None:
    script = shutil.which("safekernel")
    if script is None:
        message = "the `safekernel` console script is not installed (pip install -e . adds it)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    done = subprocess.run(
        [script, "grade", "--help"], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0
    assert "--isolation" in done.stdout
    # without a command it says what the commands are (and starts no kernel)
    bare = subprocess.run([script], capture_output=True, text=True, timeout=60, check=False)
    assert bare.returncode == 2
    assert "grade" in bare.stderr
