"""Every notebook in notebooks/ runs top to bottom with the `safe` kernel through nbclient,
with its input() cells answered by the test, and shows what it promises.

Run as a script to refresh the outputs saved in the notebooks:
    python -m tests.test_notebooks
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"

#: what a student types, per notebook, in order
ANSWERS: dict[str, list[str]] = {
    "03-interactive-input": [
        "Ada",
        "not a year",
        "1990",
        # the secret is 74 (math.randomseed(2024)): a binary search finds it in 7 tries
        *("50", "75", "62", "68", "71", "73", "74"),
        "correct horse battery",
        *("42", " END ", "5"),
    ],
}


class AnsweringClient(NotebookClient):
    """nbclient turns stdin off; this client turns it on and answers input requests."""

    def __init__(self, nb: Any, answers: list[str], **kwargs: Any) -> None:
        super().__init__(nb, **kwargs)
        self.answers = list(answers)
        self.prompts: list[str] = []
        self._task: asyncio.Task[None] | None = None
        self.on_notebook_start = self._start_answering
        self.on_notebook_complete = self._stop_answering
        self.on_notebook_error = self._stop_answering

    async def _start_answering(self, notebook: Any) -> None:
        assert self.kc is not None
        self.kc.allow_stdin = True
        self._task = asyncio.ensure_future(self._answer())

    async def _stop_answering(self, notebook: Any) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _answer(self) -> None:
        assert self.kc is not None
        while True:
            msg = await self.kc.get_stdin_msg()
            if msg["msg_type"] == "input_request":
                self.prompts.append(msg["content"]["prompt"])
                self.kc.input(self.answers.pop(0) if self.answers else "")


def run_notebook(name: str) -> tuple[Any, AnsweringClient]:
    nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    client = AnsweringClient(
        nb, ANSWERS.get(name, []), kernel_name="safe", timeout=60, startup_timeout=60
    )
    client.execute()
    return nb, client


def errors(cell: Any) -> list[dict[str, Any]]:
    return [o for o in cell.get("outputs", []) if o["output_type"] == "error"]


def text_of(cell: Any) -> str:
    parts = []
    for output in cell.get("outputs", []):
        if output["output_type"] == "stream":
            parts.append(output["text"])
        elif "data" in output:
            parts.extend(str(v) for k, v in output["data"].items() if k.startswith("text/"))
    return "".join(parts)


def mimes(nb: Any) -> list[str]:
    return [
        mime
        for cell in nb.cells
        for output in cell.get("outputs", [])
        for mime in output.get("data", {})
    ]


def test_every_notebook_is_tested() -> None:
    assert sorted(p.stem for p in NOTEBOOKS.glob("*.ipynb")) == sorted(CHECKS)


def check_fails_only_where_tagged(nb: Any, answered: bool = False) -> None:
    """Every tagged cell fails and no other does; with its input() calls answered, a notebook's
    input cells (tagged for batch runs, where stdin is off) do not fail either."""
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        tagged = "raises-exception" in cell.metadata.get("tags", [])
        expected = tagged and not (answered and "input(" in cell.source)
        assert bool(errors(cell)) == expected, cell.source


def check_tour(nb: Any, client: AnsweringClient) -> None:
    everything = "".join(text_of(c) for c in nb.cells)
    assert "(3, 4)\t5.0" in everything
    assert "3, 4, 5" not in everything
    assert "1, 2, 3" in everything  # the closure's tickets
    assert "liftoff!" in everything
    assert "<table" in everything  # the list of records
    assert "text/latex" in mimes(nb)


def check_data(nb: Any, client: AnsweringClient) -> None:
    assert mimes(nb).count("image/svg+xml") >= 5
    assert "application/json" in mimes(nb)
    everything = "".join(text_of(c) for c in nb.cells)
    assert "Oslo: mean" in everything


def check_input(nb: Any, client: AnsweringClient) -> None:
    assert client.answers == []
    assert client.prompts[0] == "What is your name? "
    everything = "".join(text_of(c) for c in nb.cells)
    assert "Hello, **Ada**!" in everything
    assert "That is not a number, try again." in everything
    assert "Ada, you will be 40 at the end of 2030." in everything
    assert "Right! 74 in 7 tries." in everything
    assert "21 characters: strong" in everything
    assert "Score: 3 / 3" in everything


def check_sandbox(nb: Any, client: AnsweringClient) -> None:
    enames = {e["ename"] for cell in nb.cells for e in errors(cell)}
    assert {"TimeLimitExceeded", "MemoryError", "OutputLimitExceeded", "LuaError"} <= enames
    everything = "".join(text_of(c) for c in nb.cells)
    assert "an image/png output was refused" in everything
    assert '"kernel alive", "still here"' in everything


CHECKS = {
    "01-lua-tour": check_tour,
    "02-data-and-plots": check_data,
    "03-interactive-input": check_input,
    "04-what-the-sandbox-stops": check_sandbox,
}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(CHECKS))
def test_notebook_runs_and_shows_what_it_promises(name: str) -> None:
    nb, client = run_notebook(name)
    check_fails_only_where_tagged(nb, answered=bool(ANSWERS.get(name)))
    CHECKS[name](nb, client)


def batch_environment() -> dict[str, str]:
    return {**os.environ, "PYTHONWARNINGS": "ignore"}


@pytest.mark.slow
def test_nbconvert_execute_runs_all_four_notebooks(tmp_path: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "nbconvert",
            "--to",
            "notebook",
            "--execute",
            "--output-dir",
            str(tmp_path),
            *sorted(str(p) for p in NOTEBOOKS.glob("*.ipynb")),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env=batch_environment(),
    )
    assert done.returncode == 0, done.stderr[-3000:]
    for name in CHECKS:
        nb = nbformat.read(tmp_path / f"{name}.ipynb", as_version=4)
        check_fails_only_where_tagged(nb)
    batch = nbformat.read(tmp_path / "03-interactive-input.ipynb", as_version=4)
    # without stdin each input() says why at once, as the notebook's first cell explains
    assert "stdin is off" in batch.cells[0].source
    for cell in batch.cells:
        if cell.cell_type == "code":
            assert "stdin is off" in errors(cell)[0]["evalue"]


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(CHECKS))
def test_papermill_runs_every_cell_of_each_notebook(tmp_path: Path, name: str) -> None:
    out = tmp_path / f"{name}.ipynb"
    done = subprocess.run(
        [sys.executable, "-m", "papermill", str(NOTEBOOKS / f"{name}.ipynb"), str(out)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env=batch_environment(),
        cwd=tmp_path,
    )
    nb = nbformat.read(out, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    # nbclient goes on past a cell tagged raises-exception, so every cell ran ...
    assert all(c.execution_count is not None for c in code), done.stderr[-3000:]
    check_fails_only_where_tagged(nb)
    # ... but papermill (2.7) reports any error output as a failure, tagged or not
    intended = any("raises-exception" in c.metadata.get("tags", []) for c in code)
    assert done.returncode == (1 if intended else 0), done.stderr[-3000:]


if __name__ == "__main__":
    for name in sorted(CHECKS):
        nb, _ = run_notebook(name)
        nbformat.write(nb, NOTEBOOKS / f"{name}.ipynb")
        print("refreshed", name)
