"""nbgrader for real: a small course with a Lua assignment (a locked setup cell, answer cells
with `-- BEGIN SOLUTION` markers, `assert` test cells, one ending in `assert(value)`), generated
with `nbgrader generate_assignment`, five submissions (correct, infinite loop, memory bomb,
output flood, a cell stuck in C before a later question) graded with `nbgrader autograde`
through the grading kernelspec the README gives. Each bad cell loses only its own points."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

try:
    import nbgrader  # noqa: F401
except ImportError:  # pragma: no cover - CI installs it
    if os.environ.get("CI") == "true":
        raise
    pytest.skip(
        "nbgrader is not installed (pip install -e '.[nbgrader]'); CI runs this",
        allow_module_level=True,
    )

#: the kernel's own per-cell limit in the grading kernelspec (short: this is a test)
KERNEL_TIMEOUT = 2
CONFIG = f"""
c = get_config()
c.CourseDirectory.course_id = "lua101"
c.CourseDirectory.db_assignments = [dict(name="ps1")]
c.CourseDirectory.db_students = []
c.ClearSolutions.code_stub = {{"lua": "-- YOUR CODE HERE\\nerror('No Answer Given')"}}
# above the kernel's own limit: the kernel, not nbgrader, ends a runaway cell
c.Execute.timeout = {KERNEL_TIMEOUT + 30}
"""
SETUP = 'GREETING = "Hello"'
ANSWERS = {
    "square": "function square(x)\n  -- BEGIN SOLUTION\n  return x * x\n  -- END SOLUTION\nend",
    "total": (
        "function total(t)\n  -- BEGIN SOLUTION\n  local s = 0\n"
        "  for _, v in ipairs(t) do s = s + v end\n  return s\n  -- END SOLUTION\nend"
    ),
    "greet": (
        "function greet(name)\n  -- BEGIN SOLUTION\n"
        '  return GREETING .. ", " .. name .. "!"\n  -- END SOLUTION\nend'
    ),
}
TESTS = {
    # ends in assert(value): Lua's assert returns 16, which nbgrader would read as a score
    "square": "assert(square(3) == 9)\nassert(square(4))",
    "total": "assert(total({1, 2, 3}) == 6)\nassert(total({}) == 0)",
    "greet": 'assert(greet("Ada") == "Hello, Ada!")',
}
POINTS = 2
STUCK_IN_C = "string.rep('a', 3e6):find('.-.-.-.-b')"
STUDENTS = {
    "correct": {},
    "loop": {"total": "function total(t)\n  while true do end\nend"},
    "memory": {
        "total": "function total(t)\n  local big = {}\n  for i = 1, 1e9 do big[i] = {i} end\nend"
    },
    "flood": {"total": "function total(t)\n  while true do print('spam spam spam') end\nend"},
    # the hard kill of total's test must not cost greet's points (GREETING is from setup)
    "stuck": {"total": f"function total(t)\n  {STUCK_IN_C}\n  return 6\nend"},
}
EXPECTED = {"correct": 6, "loop": 4, "memory": 4, "flood": 4, "stuck": 4}


def meta(**fields: Any) -> dict[str, Any]:
    base = {"grade": False, "solution": False, "locked": False, "task": False}
    return {"nbgrader": {**base, **fields, "schema_version": 3}}


def source_notebook() -> Any:
    cells = [
        new_markdown_cell("# Problem set 1"),
        new_code_cell(SETUP, metadata=meta(locked=True, grade_id="setup")),
    ]
    for name, answer in ANSWERS.items():
        cells.append(new_code_cell(answer, metadata=meta(solution=True, grade_id=name)))
        cells.append(
            new_code_cell(
                TESTS[name],
                metadata=meta(grade=True, locked=True, points=POINTS, grade_id=f"test_{name}"),
            )
        )
    nb = new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {
        "name": "safe-grading",
        "language": "lua",
        "display_name": "Lua (grading)",
    }
    nb.metadata["language_info"] = {"name": "lua"}
    return nb


def nbgrader_cli(course: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "nbgrader", *args],
        cwd=course,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.fixture(scope="module")
def course(tmp_path_factory: pytest.TempPathFactory, kernelspec_prefix: Path) -> Path:
    # the grading kernelspec, installed with the README's command
    subprocess.run(
        [
            sys.executable,
            "-m",
            "safekernel",
            "install",
            "--prefix",
            str(kernelspec_prefix),
            "--name",
            "safe-grading",
            "--",
            "--SafeKernel.replay_on_reset=True",
            f"--SafeKernel.timeout={KERNEL_TIMEOUT}",
            "--SafeKernel.memory_limit=64M",
        ],
        check=True,
        capture_output=True,
    )
    root = tmp_path_factory.mktemp("lua101")
    (root / "nbgrader_config.py").write_text(CONFIG)
    (root / "source" / "ps1").mkdir(parents=True)
    nbformat.write(source_notebook(), root / "source" / "ps1" / "ps1.ipynb")
    return root


def test_the_grading_kernelspec_carries_replay(course: Path, kernelspec_prefix: Path) -> None:
    spec = kernelspec_prefix / "share" / "jupyter" / "kernels" / "safe-grading" / "kernel.json"
    assert "--SafeKernel.replay_on_reset=True" in spec.read_text()


def test_generate_assignment_clears_lua_solutions(course: Path) -> None:
    done = nbgrader_cli(course, "generate_assignment", "ps1", "--force")
    assert done.returncode == 0, done.stdout + done.stderr
    release = nbformat.read(course / "release" / "ps1" / "ps1.ipynb", as_version=4)
    answers = [c for c in release.cells if c.metadata.get("nbgrader", {}).get("solution")]
    assert len(answers) == 3
    for cell in answers:
        assert "BEGIN SOLUTION" not in cell.source
        assert "error('No Answer Given')" in cell.source


def test_autograde_gives_the_scores_a_teacher_expects(course: Path) -> None:
    if not (course / "release").exists():
        assert nbgrader_cli(course, "generate_assignment", "ps1", "--force").returncode == 0
    release = nbformat.read(course / "release" / "ps1" / "ps1.ipynb", as_version=4)
    for student, answers in STUDENTS.items():
        nb = nbformat.from_dict(release)
        for cell in nb.cells:
            grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
            if cell.metadata.get("nbgrader", {}).get("solution"):
                cell.source = answers.get(grade_id, ANSWERS[grade_id])
        target = course / "submitted" / student / "ps1"
        target.mkdir(parents=True)
        nbformat.write(nb, target / "ps1.ipynb")
    done = nbgrader_cli(course, "autograde", "ps1", "--create")
    assert done.returncode == 0, done.stdout + done.stderr
    # a test cell's assert shows no value, so nbgrader never reads one as partial credit
    for student in STUDENTS:
        graded = nbformat.read(course / "autograded" / student / "ps1" / "ps1.ipynb", 4)
        shown = [
            output
            for cell in graded.cells
            if cell.metadata.get("nbgrader", {}).get("grade")
            for output in cell.get("outputs", [])
            if output.get("output_type") == "execute_result"
        ]
        assert shown == [], student

    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        scores = {student: gradebook.find_submission("ps1", student).score for student in STUDENTS}
        by_test = {
            student: {
                grade.name: grade.score
                for grade in gradebook.find_submission_notebook("ps1", "ps1", student).grades
            }
            for student in STUDENTS
        }
    assert scores == EXPECTED, by_test
    # each bad submission lost exactly total's points
    for student in ("loop", "memory", "flood", "stuck"):
        assert by_test[student] == {"test_square": 2, "test_total": 0, "test_greet": 2}

    graded = nbformat.read(course / "autograded" / "stuck" / "ps1" / "ps1.ipynb", as_version=4)
    errors = [
        output
        for cell in graded.cells
        for output in cell.get("outputs", [])
        if output.get("output_type") == "error"
    ]
    assert [e["ename"] for e in errors] == ["TimeLimitExceeded"]
    assert "restore" in errors[0]["evalue"]
    shutil.rmtree(course / "submitted")
