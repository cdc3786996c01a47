"""papermill support: a Lua parameter translator, and an engine that records each cell's
verdict.

papermill has no entry-point group for translators, but it loads every `papermill.engine`
entry point when it is imported; safekernel declares one (pyproject.toml), and importing this
module registers the translator. So `papermill in.ipynb out.ipynb -k safe -p n 5` works for a
user who only installed safekernel. `--engine safekernel` runs the notebook as papermill's
default engine does and also writes each cell's verdict, state and usage (the execute_reply's
metadata, see kernel/verdict.py) into the cell's metadata under `safekernel`.

Only papermill imports this module; the kernel never does.
"""

from __future__ import annotations

import math
import re
from typing import Any

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# fmt: off
_KEYWORDS = frozenset({
    "and", "break", "do", "else", "elseif", "end", "false", "for", "function", "goto", "if",
    "in", "local", "nil", "not", "or", "repeat", "return", "then", "true", "until", "while",
})
# fmt: on


def record_verdict(cell: Any, cell_index: int, execute_reply: dict[str, Any]) -> None:
    """nbclient's on_cell_executed hook: keep the reply's verdict in the cell's metadata."""
    metadata = execute_reply.get("metadata", {})
    cell.metadata["safekernel"] = {
        key: metadata[key] for key in ("verdict", "state", "usage", "warning") if key in metadata
    }


#: the engine papermill's entry point names. Set at the end of this module: importing papermill
#: loads its engine entry points, so when this module is imported before papermill, papermill
#: reads this name while the module is still half-imported (and the class is re-registered
#: below); when papermill imports it, the module is complete by the time the name is read.
SafeKernelEngine: Any = None

from papermill.engines import NBClientEngine, papermill_engines  # noqa: E402
from papermill.translators import Translator, papermill_translators  # noqa: E402


def lua_string(text: str) -> str:
    """A Lua string literal for `text`: printable ASCII as is, everything else escaped
    (`\\ddd` for control bytes, `\\u{XXXX}` for the rest), so no quote, newline, `]]` or
    unusual character can end the literal or change the code around it."""
    out = []
    for char in text:
        code = ord(char)
        if char in ('"', "\\"):
            out.append("\\" + char)
        elif 32 <= code < 127:
            out.append(char)
        elif code < 128:
            out.append(f"\\{code:03d}")
        else:
            out.append(f"\\u{{{code:X}}}")
    return '"' + "".join(out) + '"'


class LuaTranslator(Translator):  # type: ignore[misc]  # papermill ships no types
    @classmethod
    def translate_str(cls, val: str) -> str:
        return lua_string(val)

    @classmethod
    def translate_escaped_str(cls, str_val: Any) -> str:
        return lua_string(str(str_val))

    @classmethod
    def translate_none(cls, val: None) -> str:
        return "nil"

    @classmethod
    def translate_bool(cls, val: bool) -> str:
        return "true" if val else "false"

    @classmethod
    def translate_int(cls, val: int) -> str:
        return str(val)

    @classmethod
    def translate_float(cls, val: float) -> str:
        if math.isnan(val):
            return "(0/0)"
        if math.isinf(val):
            return "math.huge" if val > 0 else "(-math.huge)"
        return repr(val)

    @classmethod
    def translate_list(cls, val: list[Any]) -> str:
        return "{" + ", ".join(cls.translate(item) for item in val) + "}"

    @classmethod
    def translate_dict(cls, val: dict[Any, Any]) -> str:
        items = [f"[{cls.translate(key)}] = {cls.translate(item)}" for key, item in val.items()]
        return "{" + ", ".join(items) + "}"

    @classmethod
    def comment(cls, cmt_str: str) -> str:
        return "-- " + " ".join(cmt_str.splitlines())

    @classmethod
    def assign(cls, name: str, str_val: str) -> str:
        if _IDENTIFIER.fullmatch(name) and name not in _KEYWORDS:
            return f"{name} = {str_val}"
        # not a Lua name (`my-param`, `end`): still a global the notebook can read
        return f"_ENV[{lua_string(name)}] = {str_val}"


papermill_translators.register("lua", LuaTranslator)
papermill_translators.register("safe", LuaTranslator)


class _SafeKernelEngine(NBClientEngine):  # type: ignore[misc]  # papermill ships no types
    """papermill's nbclient engine, plus every cell's verdict in its metadata."""

    @classmethod
    def execute_managed_notebook(cls, nb_man: Any, kernel_name: str, **kwargs: Any) -> Any:
        kwargs.setdefault("on_cell_executed", record_verdict)
        return super().execute_managed_notebook(nb_man, kernel_name, **kwargs)


SafeKernelEngine = _SafeKernelEngine
papermill_engines.register("safekernel", SafeKernelEngine)
