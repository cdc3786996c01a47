"""Jupyter protocol conformance through jupyter_kernel_test, with Lua samples (the `safe` and
`safe-wasm` kernelspecs) and Python samples (`safe-python`)."""

from __future__ import annotations

import jupyter_kernel_test

from tests.conftest import require_python_guest


class SafeKernelConformance(jupyter_kernel_test.KernelTests):
    kernel_name = "safe"
    language_name = "lua"
    file_extension = ".lua"

    code_hello_world = 'print("hello, world")'
    code_stderr = 'warn("to stderr")'
    code_generate_error = 'error("boom")'
    code_execute_result = [
        {"code": "1 + 2", "result": "3"},
        {"code": '"a" .. "b"', "result": '"ab"'},
        {"code": "return 1, 2", "result": "1, 2"},
        {"code": "local t = {3}\nt[1] * 2", "result": "6"},
    ]
    completion_samples = [
        {"text": "string.fo", "matches": {"format"}},
        {"text": "pri", "matches": {"print"}},
    ]
    complete_code_samples = ["x = 1", "function f() end", "print('x')"]
    incomplete_code_samples = ["function f()", "if x then", "t = {"]
    invalid_code_samples = ["x = )", "end end"]
    code_inspect_sample = "string.format"
    code_page_something = "string.format?"
    code_display_data = [
        {"code": 'display.html("<b>hi</b>")', "mime": "text/html"},
        {"code": 'display.markdown("# hi")', "mime": "text/markdown"},
        {"code": "display.json({a = 1})", "mime": "application/json"},
        {"code": "display(plot.line({1, 2, 3}))", "mime": "image/svg+xml"},
    ]
    code_clear_output = "clear_output()"


class SafeWasmConformance(SafeKernelConformance):
    """The same samples against the `safe-wasm` kernelspec (Lua in the WebAssembly guest)."""

    kernel_name = "safe-wasm"


class SafePythonConformance(jupyter_kernel_test.KernelTests):
    """The `safe-python` kernelspec, with Python samples."""

    kernel_name = "safe-python"
    language_name = "python"
    file_extension = ".py"

    code_hello_world = 'print("hello, world")'
    code_stderr = 'import sys\nprint("to stderr", file=sys.stderr)'
    code_generate_error = 'raise ValueError("boom")'
    code_execute_result = [
        {"code": "1 + 2", "result": "3"},
        {"code": '"a" + "b"', "result": "'ab'"},
        {"code": "1, 2", "result": "(1, 2)"},
        {"code": "t = [3]\nt[0] * 2", "result": "6"},
    ]
    completion_samples = [
        {"text": "str.fo", "matches": {"str.format", "str.format_map"}},
        {"text": "pri", "matches": {"print"}},
    ]
    complete_code_samples = ["x = 1", "def f(): pass", "print('x')"]
    incomplete_code_samples = ["def f():", "if x:", "t = ["]
    invalid_code_samples = ["x = )", "1 +* 2"]
    code_inspect_sample = "len"
    code_page_something = "len?"
    code_display_data = [
        {
            "code": "from IPython.display import display, HTML\ndisplay(HTML('<b>hi</b>'))",
            "mime": "text/html",
        },
        {
            "code": "from IPython.display import display, Markdown\ndisplay(Markdown('# hi'))",
            "mime": "text/markdown",
        },
        {
            "code": "from IPython.display import display, JSON\ndisplay(JSON({'a': 1}))",
            "mime": "application/json",
        },
    ]
    code_clear_output = "from IPython.display import clear_output\nclear_output()"

    @classmethod
    def setUpClass(cls) -> None:
        require_python_guest()
        super().setUpClass()
