"""The Lua side shared by the two hosts of the same Lua code: `lua` (lupa, in-process) and
`wasm` (the guest in runtimes/wasm/). Both load the chunks in runtimes/lua/host and
runtimes/lua/lib, hand them the same caps, and read a cell's outcome the same way. Nothing here
imports lupa or wasmtime.
"""

from __future__ import annotations

import re
from importlib import resources
from typing import Any

from safekernel.limits import CELL_DISPLAY_BYTES, DISPLAY_BYTES, JSON_DEPTH
from safekernel.wire.events import CellError, MimeBundle

#: Read once when the zygote imports this module: a hardened worker can open no file.
#: host/ holds the chunks that run with the real globals; lib/ the modules that run inside the
#: cell's whitelist environment.
SOURCES = {
    name: resources.files("safekernel.runtimes").joinpath("lua", folder, f"{name}.lua").read_bytes()
    for folder, names in (
        ("host", ("sandbox", "render", "display", "docs", "repl")),
        ("lib", ("errors", "json", "plot")),
    )
    for name in names
}
#: Modules a cell finds among its globals; they run in the cell's environment.
MODULES = ("json", "plot")
#: Sent as bytes (the kernel validates and base64-encodes them); every other type is text.
BINARY_MIME = frozenset({"image/png", "image/jpeg"})

#: Caps handed to the Lua side (see sandbox.lua and repl.lua for what each one guards).
CAPS = {
    "max_c_loop": 10_000_000,
    "max_frames": 30,
    "max_render_depth": 20,
    "max_render_items": 1000,
    "max_render_bytes": 256 * 1024,
    "max_table_rows": 500,
    "max_table_columns": 50,
    "max_display_bytes": DISPLAY_BYTES,
    "max_cell_display_bytes": CELL_DISPLAY_BYTES,
    "max_json_depth": JSON_DEPTH,
}
#: The instruction-budget hook fires every this many instructions (or the budget, if smaller).
BUDGET_STEP = 100_000
LUA_VERSION = "5.4"
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:[.:][A-Za-z_][A-Za-z0-9_]*)*[.:]?")
#: Editor requests look at most this many characters of a name around the cursor: a longer
#: one is completed or inspected as nothing (a Tab after a megabyte of text must stay cheap).
MAX_EDITOR_NAME = 512
#: inspect looks this far back for the call whose parentheses hold the cursor
MAX_CALL_SCAN = 4096
#: is_complete indents continuation lines by block depth, at most this deep; the depth is
#: counted (in Python, where no stop reaches) only for input up to MAX_INDENT_SCAN characters
MAX_INDENT_DEPTH = 20
MAX_INDENT_SCAN = 64 * 1024
#: is_complete parses the whole input (in C, where no stop reaches): longer input is "unknown"
MAX_IS_COMPLETE_CHARS = 1024 * 1024
_WORD_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_")
_NAME_CHARS = _WORD_CHARS | {".", ":"}
NO_MATCHES: dict[str, Any] = {"matches": [], "metadata": {}, "status": "ok"}


def name_at(code: str, cursor_pos: int) -> str:
    """The dotted name under (or just before) the cursor, e.g. `string.format` ("" if there
    is none, or if it is longer than MAX_EDITOR_NAME). Looks at a bounded window only."""
    low = max(0, cursor_pos - MAX_EDITOR_NAME)
    high = min(len(code), cursor_pos + MAX_EDITOR_NAME)
    window = code[low:high]
    for match in _NAME.finditer(window):
        if match.start() <= cursor_pos - low <= match.end():
            cut_left = match.start() == 0 and low > 0 and code[low - 1] in _NAME_CHARS
            cut_right = match.end() == len(window) and high < len(code)
            if cut_left or (cut_right and code[high] in _NAME_CHARS):
                return ""
            return match.group().rstrip(".:")
    return ""


def call_name(code: str, cursor_pos: int) -> str:
    """The function whose call's parentheses hold the cursor: `string.format(` or
    `plot.line({1, 2}, ` give its name (where Jupyter users press Shift+Tab). Scans back at
    most MAX_CALL_SCAN characters; brackets inside strings may mislead it (it only helps)."""
    depth = 0
    low = max(0, cursor_pos - MAX_CALL_SCAN)
    for index in range(cursor_pos - 1, low - 1, -1):
        char = code[index]
        if char == ")":
            depth += 1
        elif char == "(":
            if depth == 0:
                end = index
                while end > low and code[end - 1] in " \t":
                    end -= 1
                return name_at(code, end) if end > 0 and code[end - 1] in _NAME_CHARS else ""
            depth -= 1
    return ""


#: words and brackets that open (+1) or close (-1) a block, for is_complete's indent
_BLOCK_WORDS = {"function": 1, "do": 1, "then": 1, "repeat": 1, "end": -1, "until": -1}
_BLOCK_WORDS["elseif"] = -1  # its `then` opens again
_BRACKETS = {"(": 1, "{": 1, "[": 1, ")": -1, "}": -1, "]": -1}
_LUA_TOKEN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*|--|\[=*\[|[\"'(){}\[\]]")
_LONG_OPEN = re.compile(r"\[(=*)\[")


def block_depth(code: str) -> int:
    """How many blocks and brackets are open at the end of `code` (strings and comments
    skipped). Linear: each string or comment is jumped over with one find."""
    depth, pos = 0, 0
    while (token := _LUA_TOKEN.search(code, pos)) is not None:
        text, pos = token.group(), token.end()
        if text == "--":
            long = _LONG_OPEN.match(code, pos)
            if long is not None:
                close = code.find("]" + long.group(1) + "]", long.end())
                pos = len(code) if close < 0 else close + len(long.group())
            else:
                newline = code.find("\n", pos)
                pos = len(code) if newline < 0 else newline + 1
        elif text[0] == "[" and len(text) > 1:
            close = code.find("]" + text[1:-1] + "]", pos)
            pos = len(code) if close < 0 else close + len(text)
        elif text in ('"', "'"):
            pos = _string_end(code, pos, text)
        else:
            depth += _BLOCK_WORDS.get(text, 0) + _BRACKETS.get(text, 0)
    return depth


def _string_end(code: str, pos: int, quote: str) -> int:
    """Where a short string that started before `pos` ends (past its closing quote)."""
    while pos < len(code):
        char = code[pos]
        if char == "\\":
            pos += 2
        elif char in (quote, "\n"):
            return pos + 1
        else:
            pos += 1
    return pos


def name_before(code: str, cursor_pos: int) -> tuple[str, str, str] | None:
    """(path, separator, partial) of the name just before the cursor: `acct:de` gives
    ("acct", ":", "de"), `pri` gives ("", "", "pri"). None when the run of name characters
    is longer than MAX_EDITOR_NAME. A backward scan of at most that many characters."""
    start, limit = cursor_pos, max(0, cursor_pos - MAX_EDITOR_NAME - 1)
    while start > limit and code[start - 1] in _NAME_CHARS:
        start -= 1
    if cursor_pos - start > MAX_EDITOR_NAME:
        return None
    token = code[start:cursor_pos]
    split = len(token)
    while split > 0 and token[split - 1] in _WORD_CHARS:
        split -= 1
    if split == 0:
        return "", "", token
    return token[: split - 1], token[split - 1], token[split:]


def text(value: object) -> str:
    """Lua strings are bytes (any bytes at all); show them as text, never fail."""
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return "" if value is None else str(value)


def bundle(table: Any) -> MimeBundle:
    """A Lua {mime = string} table as a bundle: images stay bytes, everything else is text."""
    result: MimeBundle = {}
    for key, value in table.items():
        mime = text(key)
        if isinstance(value, bytes):
            result[mime] = value if mime in BINARY_MIME else text(value)
    return result


def is_memory_error(outcome: tuple[Any, ...]) -> bool:
    """repl.run's ("error", "not enough memory", ...): the memory limit, not the cell's bug."""
    return bool(outcome) and outcome[0] == b"error" and outcome[1] == b"not enough memory"


def interpret(outcome: tuple[Any, ...]) -> tuple[MimeBundle | None, CellError | None]:
    """repl.run's results: ("ok", bundle_or_nil) | ("syntax", message) |
    ("error", message, frames_text) as a result bundle or an error."""
    if not outcome:
        return None, CellError("InternalError", "the cell ended without a result", [])
    status = text(outcome[0])
    if status == "ok":
        value = outcome[1] if len(outcome) > 1 else None
        return (bundle(value) if value is not None else None), None
    message = text(outcome[1])
    if status == "syntax":
        return None, CellError("SyntaxError", message, [f"SyntaxError: {message}"])
    frames = [line for line in text(outcome[2] if len(outcome) > 2 else b"").split("\n") if line]
    traceback = [f"LuaError: {message}"]
    if frames:
        traceback += ["stack traceback:", *(f"  {frame}" for frame in frames)]
    return None, CellError("LuaError", message, traceback)
