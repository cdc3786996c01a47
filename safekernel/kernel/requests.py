"""Every Jupyter request is checked here, in one place, before a handler sees it.

A frontend is trusted with the kernel's key, not with well-formed messages: ipykernel's handlers
index `content` directly and pass fields on unchecked, so a missing field, a wrong type, a lone
surrogate or a `cursor_pos` of 2**64 raised inside a handler and the request got no reply at
all. `check_request` turns a request's content into exactly what its handler expects (defaults
filled in, unknown fields dropped) or raises BadRequest, which the kernel answers with an error
reply. It also says which requests this kernel refuses outright:

  * kernel subshells: a subshell runs handlers on another thread and event loop, beside the
    session's one conversation with its worker (see SECURITY.md); safekernel does not offer
    them, and answers create/delete/list_subshell_request, and any request addressed to a
    subshell, with an error;
  * requests that talk to the worker (execute, complete, inspect, is_complete) on the control
    channel, whose handlers run on ipykernel's control thread for the same reason;
  * debug_request: there is no debugger.
"""

from __future__ import annotations

import copy
import inspect
import logging
from collections.abc import Callable
from typing import Any

from safekernel.errors import SafeKernelError

#: the most code a request may carry, in UTF-8 bytes: under the 16 MB frame a worker reads, so
#: a huge paste is refused with a reply instead of ending the session's worker
MAX_CODE_BYTES = 8 * 1024 * 1024
#: longest string accepted in any other field (a history pattern, a target name)
MAX_TEXT_BYTES = 64 * 1024
#: most entries in a list or map field (omit_sections, user_expressions)
MAX_ENTRIES = 1000

SUBSHELL_REQUESTS = frozenset(
    {"create_subshell_request", "delete_subshell_request", "list_subshell_request"}
)
#: requests whose handlers talk to the session's worker: the main shell loop only
WORKER_REQUESTS = frozenset(
    {"execute_request", "complete_request", "inspect_request", "is_complete_request"}
)
NO_SUBSHELLS = (
    "safekernel does not support kernel subshells: every request runs on the main shell, "
    "one at a time (send it without a subshell_id)"
)


class BadRequest(SafeKernelError):
    """A request this kernel cannot or will not handle; `ename` names the kind for the reply."""

    def __init__(self, message: str, ename: str = "BadRequest") -> None:
        super().__init__(message)
        self.ename = ename


def reply_type(msg_type: str) -> str:
    """The reply that answers `msg_type` (`execute_request` -> `execute_reply`)."""
    return msg_type.removesuffix("_request") + "_reply"


def refusal(msg_type: str, header: Any, channel: str) -> BadRequest | None:
    """Why a request is refused before its content is read, or None to handle it."""
    if isinstance(header, dict) and header.get("subshell_id") is not None:
        return BadRequest(NO_SUBSHELLS, "SubshellsNotSupported")
    if msg_type in SUBSHELL_REQUESTS:
        return BadRequest(NO_SUBSHELLS, "SubshellsNotSupported")
    if msg_type == "debug_request":
        return BadRequest("safekernel has no debugger", "DebuggerNotSupported")
    if channel == "control" and msg_type in WORKER_REQUESTS:
        return BadRequest(
            f"send {msg_type} on the shell channel: on the control channel it would run beside "
            "the running cell",
            "WrongChannel",
        )
    return None


# -- field checks: each takes the raw value and returns the clean one, or raises BadRequest --
Check = Callable[[str, Any], Any]


def _text(limit: int) -> Check:
    def check(name: str, value: Any) -> str:
        if not isinstance(value, str):
            raise BadRequest(f"{name} must be a string, not {_kind(value)}")
        try:
            size = len(value.encode("utf-8"))
        except UnicodeEncodeError:
            raise BadRequest(
                f"{name} is not valid Unicode (it holds a lone surrogate such as \\ud800)"
            ) from None
        if size > limit:
            raise BadRequest(f"{name} is {size:,} bytes; at most {limit:,} are accepted")
        return value

    return check


_code = _text(MAX_CODE_BYTES)
_short_text = _text(MAX_TEXT_BYTES)


def _flag(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise BadRequest(f"{name} must be true or false, not {_kind(value)}")
    return value


def _count(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise BadRequest(f"{name} must be an integer, not {_kind(value)}")
    if not -(2**31) <= value < 2**31:
        raise BadRequest(f"{name} is out of range")
    return value


def _detail_level(name: str, value: Any) -> int:
    if isinstance(value, bool) or value not in (0, 1):
        raise BadRequest(f"{name} must be 0 or 1")
    return int(value)


def _string_list(name: str, value: Any) -> list[str]:
    if not isinstance(value, list) or len(value) > MAX_ENTRIES:
        raise BadRequest(f"{name} must be a list of at most {MAX_ENTRIES} strings")
    return [_short_text(name, item) for item in value]


def _expressions(name: str, value: Any) -> dict[str, str]:
    if not isinstance(value, dict) or len(value) > MAX_ENTRIES:
        raise BadRequest(f"{name} must be a map of at most {MAX_ENTRIES} names to code")
    return {_short_text(name, key): _code(name, item) for key, item in value.items()}


def _history_kind(name: str, value: Any) -> str:
    if value not in ("range", "tail", "search"):
        raise BadRequest(f"{name} must be range, tail or search")
    return str(value)


_REQUIRED = object()
#: msg_type -> field -> (check, default); _REQUIRED marks a field without a default, a default
#: of None leaves an absent field absent. Fields not listed are dropped.
_FIELDS: dict[str, dict[str, tuple[Check, Any]]] = {
    "execute_request": {
        "code": (_code, _REQUIRED),
        "silent": (_flag, False),
        "store_history": (_flag, None),
        "user_expressions": (_expressions, {}),
        "allow_stdin": (_flag, False),
        "stop_on_error": (_flag, True),
    },
    "complete_request": {"code": (_code, _REQUIRED), "cursor_pos": (_count, None)},
    "inspect_request": {
        "code": (_code, _REQUIRED),
        "cursor_pos": (_count, None),
        "detail_level": (_detail_level, 0),
        "omit_sections": (_string_list, []),
    },
    "is_complete_request": {"code": (_code, _REQUIRED)},
    "history_request": {
        "hist_access_type": (_history_kind, _REQUIRED),
        "output": (_flag, False),
        "raw": (_flag, False),
        "session": (_count, None),
        "start": (_count, None),
        "stop": (_count, None),
        "n": (_count, None),
        "pattern": (_short_text, None),
        "unique": (_flag, None),
    },
    "comm_info_request": {"target_name": (_short_text, None)},
    "shutdown_request": {"restart": (_flag, False)},
    "kernel_info_request": {},
    "connect_request": {},
    "interrupt_request": {},
    "usage_request": {},
}


def check_request(msg_type: str, content: Any) -> dict[str, Any]:
    """The clean content of a request, or BadRequest saying what is wrong with it."""
    if not isinstance(content, dict):
        raise BadRequest(f"the content of {msg_type} must be a map, not {_kind(content)}")
    fields = _FIELDS.get(msg_type)
    if fields is None:
        raise BadRequest(f"safekernel does not handle {msg_type}", "UnknownRequest")
    clean: dict[str, Any] = {}
    for name, (check, default) in fields.items():
        value = content.get(name)
        if value is None:
            if default is _REQUIRED:
                raise BadRequest(f"{msg_type} needs a {name} field")
            if default is not None:
                clean[name] = copy.copy(default)
            continue
        clean[name] = check(name, value)
    if msg_type == "execute_request" and "store_history" not in clean:
        clean["store_history"] = not clean["silent"]
    if msg_type in ("complete_request", "inspect_request"):
        clean["cursor_pos"] = _cursor(clean.get("cursor_pos"), clean["code"])
    return clean


def handled(msg_type: str) -> bool:
    return msg_type in _FIELDS


def _cursor(cursor: int | None, code: str) -> int:
    # cursor_pos counts code points (protocol 5.2); absent means the end of the code
    if cursor is None:
        return len(code)
    if not 0 <= cursor <= len(code):
        raise BadRequest(f"cursor_pos must be between 0 and {len(code)} (the length of code)")
    return cursor


def _kind(value: Any) -> str:
    return "null" if value is None else type(value).__name__


Handler = Callable[[Any, Any, dict[str, Any]], Any]


class RequestGate:
    """Where the checks above meet ipykernel: every handler of the kernel is wrapped (so a bad
    request gets an error reply), and a request the handlers must never see (addressed to a
    subshell, of an unknown type, with a header that cannot be echoed back) is answered before
    ipykernel dispatches it.

    `kernel` is the ipykernel Kernel; only its documented handler tables and its reply helpers
    (session, init_metadata / finish_metadata, _publish_status) are used.
    """

    def __init__(self, kernel: Any, log: logging.Logger) -> None:
        self.kernel = kernel
        self.log = log

    def install(self) -> None:
        kernel = self.kernel
        for table, channel in (
            (kernel.shell_handlers, "shell"),
            (kernel.control_handlers, "control"),
        ):
            for msg_type in sorted({*table, *SUBSHELL_REQUESTS}):
                table[msg_type] = self._gated(msg_type, channel, table.get(msg_type))

    def _gated(self, msg_type: str, channel: str, handler: Handler | None) -> Handler:
        async def gated(stream: Any, ident: Any, parent: dict[str, Any]) -> None:
            try:
                problem = refusal(msg_type, parent.get("header"), channel)
                if problem is not None:
                    raise problem
                parent["content"] = check_request(msg_type, parent.get("content"))
            except BadRequest as exc:
                self.refuse(stream, ident, parent, exc)
                return
            if not isinstance(parent.get("metadata"), dict):
                parent["metadata"] = {}
            if handler is not None:
                result = handler(stream, ident, parent)
                if inspect.isawaitable(result):
                    await result

        return gated

    def admit(self, frames: list[Any], channel: str) -> bool:
        """False if this raw request was answered here (ipykernel must not dispatch it)."""
        if len(frames) == 1:
            return True  # ipykernel's own one-frame "stop aborting" marker
        kernel = self.kernel
        session = kernel.session
        try:
            idents, parts = session.feed_identities(frames, copy=False)
            header = session.unpack(_frame_bytes(parts[1]))
        except Exception:  # ipykernel logs and drops what it cannot read
            return True
        if not isinstance(header, dict):
            return True
        problem = self._header_problem(header, channel)
        if problem is None:
            return True
        try:
            # the header above was read unverified: answer only a request that is signed
            parent = session.deserialize(parts, content=True, copy=False)
        except Exception:
            self.log.warning("safekernel: dropped an unsigned or unreadable %s message", channel)
            return False
        parent["header"] = _echoable(parent["header"])
        stream = kernel.shell_stream if channel == "shell" else kernel.control_stream
        kernel._publish_status("busy", channel, parent=parent)
        self.refuse(stream, idents, parent, problem)
        kernel._publish_status("idle", channel, parent=parent)
        return False

    def _header_problem(self, header: dict[str, Any], channel: str) -> BadRequest | None:
        if header.get("subshell_id") is not None:
            return BadRequest(NO_SUBSHELLS, "SubshellsNotSupported")
        msg_type = header.get("msg_type")
        handlers = (
            self.kernel.shell_handlers if channel == "shell" else self.kernel.control_handlers
        )
        if isinstance(msg_type, str) and msg_type.endswith("_request") and msg_type not in handlers:
            return BadRequest(f"safekernel does not handle {msg_type}", "UnknownRequest")
        if _echoable(header) != header:
            return BadRequest("the request's header holds text that is not valid Unicode")
        return None

    def refuse(self, stream: Any, ident: Any, parent: dict[str, Any], problem: BadRequest) -> None:
        """Send the error reply to `parent` (nothing for a message that expects no reply)."""
        kernel = self.kernel
        msg_type = parent.get("header", {}).get("msg_type")
        self.log.warning("safekernel: refused %s: %s", msg_type, problem)
        if not (isinstance(msg_type, str) and msg_type.endswith("_request")):
            return
        content: dict[str, Any] = {
            "status": "error",
            "ename": problem.ename,
            "evalue": str(problem),
            "traceback": [f"{problem.ename}: {problem}"],
        }
        outcome = dict(content)
        if msg_type == "execute_request":
            content["execution_count"] = kernel.execution_count
            # the execute_reply metadata every cell carries (verdict.py): nothing ran
            outcome["safekernel_metadata"] = {"usage": {}, "verdict": "refused", "state": "kept"}
        metadata = kernel.finish_metadata(parent, kernel.init_metadata(parent), outcome)
        kernel.session.send(
            stream, reply_type(msg_type), content, parent, metadata=metadata, ident=ident
        )


def _frame_bytes(frame: Any) -> bytes:
    return frame if isinstance(frame, bytes) else bytes(frame.bytes)


def _echoable(header: dict[str, Any]) -> dict[str, Any]:
    """The header with text a reply could not carry (lone surrogates) replaced: every reply
    echoes its request's header, and one that cannot be encoded is never sent."""
    return {
        key: _repaired(value) if isinstance(value, str) else value
        for key, value in header.items()
        if isinstance(key, str)
    }


def _repaired(text: str) -> str:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", errors="replace").decode("utf-8")
    return text
