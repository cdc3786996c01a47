"""Jupyter protocol conformance through jupyter_kernel_test, with Lua samples."""

from __future__ import annotations

import jupyter_kernel_test


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
