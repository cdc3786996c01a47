# The driver: Python that runs INSIDE the WebAssembly guest (CPython 3.12 for WASI), never in
# the host. The host reads this file as text and passes it to the guest as `python -c`.
#
# It keeps one namespace across cells and talks to the host over two channels:
#   fd 0  requests from the host (execute / complete / inspect / is_complete, input replies)
#   fd 2  control frames to the host: MAGIC + 4-byte length + JSON (display, result, error...)
#   fd 1  the cell's stdout, plain bytes
# A cell runs in this same interpreter, so it can write anything on any of them: the host
# treats every byte as hostile and checks it, and nothing here is a security boundary.
# The interpreter starts once per kernel, in the zygote, and every worker is forked from it
# waiting for its first request: what main() imports before then (PRELOADED) every worker
# has for free. Imported one by one in a worker they would cost ~0.3 s for the first module
# read from the guest's zipped stdlib (zipimport reads the whole archive's directory), and
# `re` and `json` another ~0.35 s. Only built-in modules are imported at the top of this file.
import _ast
import _json
import _signal
import _struct
import binascii
import builtins
import io
import marshal
import math
import os
import sys

MAGIC = b"\x00SKC"
MAX_TEXT = 256 * 1024
#: the host's caps (control.py): a larger frame is dropped whole, so the driver never sends one
#: (a cell's error with a 20 MB message was lost, and the cell reported as a success)
MAX_FRAME = 16 * 1024 * 1024
MAX_NAME = 200
MAX_LINE = 10_000
MAX_LINES = 200
_header = _struct.Struct(">I")
# The functions the driver's own loop needs, bound once: a cell that rebinds or deletes a
# module's attribute (`os.write = None`, `marshal.loads = None`) changes its own world, not the
# driver's (as with the builtins the driver keeps, see _prepare). Before, the next request
# failed inside the driver, and the cells after it were answered as successes without running.
_write = os.write
_read = os.read
_exit = os._exit
_loads = marshal.loads
_quote = _json.encode_basestring
_isfinite = math.isfinite
_b2a_base64 = binascii.b2a_base64
_set_handler = _signal.signal
_SIGINT, _SIGALRM, _SIGUSR1 = _signal.SIGINT, _signal.SIGALRM, _signal.SIGUSR1
_default_int_handler = _signal.default_int_handler
ModuleType = type(sys)


def _json_text(value, depth=0):
    """JSON for a control frame (json.dumps without importing json): text, numbers, lists
    and mappings; anything else as its str()."""
    if depth > 100:
        raise ValueError("too deeply nested for a control frame")
    if value is None or value is True or value is False:
        return "null" if value is None else ("true" if value else "false")
    if isinstance(value, str):
        return _quote(value)
    if isinstance(value, int):
        return int.__repr__(value)
    if isinstance(value, float):
        return float.__repr__(value) if _isfinite(value) else "null"
    # list comprehensions, not generators: each nested level is then a Python call, which
    # takes no C stack (a generator inside str.join is a C frame per level: the guest's C
    # stack ended before 90 levels of a display's metadata, a trap that lost the worker)
    if isinstance(value, (list, tuple)):
        return "[" + ",".join([_json_text(item, depth + 1) for item in value]) + "]"
    if isinstance(value, dict):
        return (
            "{"
            + ",".join(
                [
                    _quote(str(key)) + ":" + _json_text(item, depth + 1)
                    for key, item in value.items()
                ]
            )
            + "}"
        )
    return _quote(str(value))


def _mb(size):
    return f"{size / (1024 * 1024):.1f} MB"


def _send(message):
    body = _json_text(message).encode("utf-8", "surrogatepass")
    if len(body) > MAX_FRAME:
        # past the host's frame cap (it would drop the frame whole): say so instead
        notice = (
            f"safekernel: an output of {_mb(len(body))} was refused: one output may be at most "
            f"{_mb(MAX_FRAME // 2)}\n"
        )
        body = _json_text({"t": "stream", "name": "stderr", "text": notice}).encode()
    _write(2, MAGIC + _header.pack(len(body)) + body)


def _read_exactly(size):
    data = b""
    while len(data) < size:
        chunk = _read(0, size - len(data))
        if not chunk:
            raise SystemExit(0)
        data += chunk
    return data


def _receive():
    # the host's requests are marshal data (made by the host, read here without an import)
    (size,) = _header.unpack(_read_exactly(4))
    request = _loads(_read_exactly(size))
    return request if isinstance(request, dict) else {}


class _Stream(io.TextIOBase):
    """sys.stdout writes fd 1 at once; sys.stderr goes out as stream frames on fd 2."""

    def __init__(self, name):
        self._name = name

    @property
    def encoding(self):
        return "utf-8"

    def writable(self):
        return True

    def isatty(self):
        return False

    def write(self, text):
        if not isinstance(text, str):
            raise TypeError(f"write() argument must be str, not {type(text).__name__}")
        if text:
            if self._name == "stdout":
                _write(1, text.encode("utf-8", "backslashreplace"))
            else:
                # frames the host takes whole (it cuts a stream frame's text at 1 M chars)
                for start in range(0, len(text), MAX_TEXT):
                    _send({"t": "stream", "name": "stderr", "text": text[start : start + MAX_TEXT]})
        return len(text)

    def flush(self):
        pass


class _Stdin(io.TextIOBase):
    def readable(self):
        return True

    def readline(self, size=-1):
        return _input("") + "\n"


class TimeLimitExceeded(Exception):
    """Raised in a cell that ran past its time limit."""


class OutputLimitExceeded(Exception):
    """Raised in a cell that printed more than its output limit."""


#: what the host's stops raise (see _install_stop_handlers)
_STOPS = (KeyboardInterrupt, TimeLimitExceeded, OutputLimitExceeded)


def _time_limit(signum, frame):
    raise TimeLimitExceeded("time limit exceeded")


def _output_limit(signum, frame):
    raise OutputLimitExceeded("output limit exceeded")


def _input(prompt="", password=False):
    _send({"t": "input", "prompt": str(prompt)[:MAX_LINE], "password": bool(password)})
    reply = _receive()
    if reply.get("op") != "input_reply":
        raise KeyboardInterrupt("input was interrupted")
    if reply.get("error") is not None:
        raise EOFError(str(reply["error"]))
    return str(reply.get("value", ""))


def input(prompt=""):
    return _input(prompt)


def getpass(prompt="Password: ", stream=None):
    """getpass.getpass as in ipykernel: the frontend asks for it and hides what is typed."""
    return _input(prompt, password=True)


# -- rich output ---------------------------------------------------------------------------
_REPRS = (
    ("text/html", "_repr_html_"),
    ("text/markdown", "_repr_markdown_"),
    ("image/svg+xml", "_repr_svg_"),
    ("image/png", "_repr_png_"),
    ("image/jpeg", "_repr_jpeg_"),
    ("text/latex", "_repr_latex_"),
    ("application/json", "_repr_json_"),
)
_BINARY = ("image/png", "image/jpeg")


def _short_repr(obj):
    import reprlib

    shortener = reprlib.Repr()
    shortener.maxstring = shortener.maxother = 200
    return shortener.repr(obj)


def _plain(obj):
    try:
        text = repr(obj)
    except Exception as exc:
        text = f"<repr failed: {type(exc).__name__}>"
    if not isinstance(text, str):
        text = object.__repr__(obj)
    if len(text) > MAX_TEXT:
        text = text[:MAX_TEXT] + f"... ({len(text) - MAX_TEXT} more characters cut)"
    return text


def _encode(mime, value):
    if mime in _BINARY:
        if isinstance(value, str):
            value = value.encode("latin-1", "replace")
        if not isinstance(value, (bytes, bytearray)):
            return None
        return _b2a_base64(bytes(value), newline=False).decode("ascii")
    if mime == "application/json":
        if isinstance(value, str):
            return value
        import json

        return json.dumps(value, default=str)
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("utf-8", "replace")
    return value if isinstance(value, str) else None


#: matplotlib.pyplot once the guest has it (the scientific guest imports it at start)
_PYPLOT = []


def _figure_bundle(obj):
    """A matplotlib figure as PNG and SVG (as IPython's inline backend shows it), or None."""
    figure = sys.modules.get("matplotlib.figure")
    if figure is None or not isinstance(obj, figure.Figure):
        return None
    data = {"text/plain": _plain(obj)}
    try:
        for mime, fmt in (("image/png", "png"), ("image/svg+xml", "svg")):
            buffer = io.BytesIO()
            obj.savefig(buffer, format=fmt, bbox_inches="tight")
            data[mime] = _encode(mime, buffer.getvalue())
    finally:
        # closed even when drawing failed (a figure too large for memory): left open, the end
        # of every later cell drew it again and failed the same way
        if _PYPLOT:
            _PYPLOT[0].close(obj)
    return data, {}


def _show_figures(*args, **kwargs):
    """pyplot.show(), and the end of every cell: each open figure is displayed, then closed."""
    if not _PYPLOT:
        return
    pyplot = _PYPLOT[0]
    try:
        for number in pyplot.get_fignums():
            display(pyplot.figure(number))
    finally:
        pyplot.close("all")


def _figures_after_failure(exc):
    """The figures a failed cell left open: shown after its traceback as IPython's inline
    backend does (unless a stop or a MemoryError ended the cell: drawing may be what failed),
    and closed in any case. Left open, the end of the next cell drew them: its output, or its
    failure (a figure too large for memory failed every later cell)."""
    if not _PYPLOT:
        return
    stopped = (MemoryError, SystemExit, KeyboardInterrupt, TimeLimitExceeded, OutputLimitExceeded)
    try:
        if not isinstance(exc, stopped):
            _show_figures()
    except BaseException:  # the cell's own error is already reported
        pass
    finally:
        _PYPLOT[0].close("all")


def _install_matplotlib(pyplot):
    _PYPLOT.append(pyplot)
    pyplot.show = _show_figures


def format_bundle(obj):
    """(data, metadata) the way IPython's display formatter builds them from `_repr_*_`."""
    figure = _figure_bundle(obj)
    if figure is not None:
        return figure
    data, metadata = {}, {}
    bundle_method = getattr(type(obj), "_repr_mimebundle_", None)
    if bundle_method is not None:
        try:
            got = obj._repr_mimebundle_()
            if isinstance(got, tuple):
                got, metadata = got[0], dict(got[1] or {})
            for mime, value in dict(got or {}).items():
                encoded = _encode(str(mime), value)
                if encoded is not None:
                    data[str(mime)] = encoded
        except Exception:
            data = {}
    for mime, name in _REPRS:
        if mime in data:
            continue
        method = getattr(type(obj), name, None)
        if method is None:
            continue
        try:
            value = getattr(obj, name)()
        except Exception:
            continue
        if isinstance(value, tuple) and len(value) == 2:
            value, extra = value
            if isinstance(extra, dict):
                metadata[mime] = extra
        if value is None:
            continue
        encoded = _encode(mime, value)
        if encoded is not None:
            data[mime] = encoded
    data.setdefault("text/plain", _plain(obj))
    return data, metadata


class DisplayHandle:
    def __init__(self, display_id):
        self.display_id = display_id

    def display(self, obj, **kwargs):
        display(obj, display_id=self.display_id, **kwargs)

    def update(self, obj, **kwargs):
        update_display(obj, display_id=self.display_id, **kwargs)

    def __repr__(self):
        return f"<DisplayHandle display_id={self.display_id}>"


_display_counter = [0]


def display(*objs, display_id=None, update=False, clear=False, raw=False, metadata=None):
    """Show objects as rich output, like IPython.display.display."""
    if update and display_id is None:
        raise TypeError("display_id required for update_display")
    if display_id is True:
        _display_counter[0] += 1
        display_id = f"safekernel-{_display_counter[0]}"
    if clear:
        clear_output(wait=True)
    for obj in objs:
        if raw and isinstance(obj, dict):
            data, meta = dict(obj), {}
        else:
            data, meta = format_bundle(obj)
        if metadata:
            meta.update(metadata)
        _send(
            {
                "t": "display",
                "data": data,
                "metadata": meta,
                "id": None if display_id is None else str(display_id),
                "update": bool(update),
            }
        )
    if display_id is not None and not update:
        return DisplayHandle(display_id)
    return None


def update_display(obj, *, display_id, **kwargs):
    kwargs.pop("update", None)
    display(obj, display_id=display_id, update=True, **kwargs)


def clear_output(wait=False):
    _send({"t": "clear", "wait": bool(wait)})


class _Shown:
    _mime = "text/plain"

    def __init__(self, data=None, url=None, filename=None, metadata=None, **kwargs):
        if data is None and (url or filename):
            raise ValueError("the sandbox has no files or network: pass the data itself")
        self.data = data
        self.metadata = dict(metadata or {})

    def _payload(self):
        return self.data

    def _repr_mimebundle_(self, include=None, exclude=None):
        return {self._mime: self._payload()}, ({self._mime: self.metadata} if self.metadata else {})

    def __repr__(self):
        return f"<{type(self).__name__} object>"


class HTML(_Shown):
    _mime = "text/html"


class Markdown(_Shown):
    _mime = "text/markdown"


class SVG(_Shown):
    _mime = "image/svg+xml"


class Latex(_Shown):
    _mime = "text/latex"


class Math(_Shown):
    _mime = "text/latex"

    def _payload(self):
        text = str(self.data).strip().strip("$")
        return f"$\\displaystyle {text}$"


class JSON(_Shown):
    _mime = "application/json"

    def _payload(self):
        if isinstance(self.data, str):
            return self.data
        import json

        return json.dumps(self.data, default=str)


class Image(_Shown):
    def __init__(  # noqa: PLR0917 -- IPython.display.Image's own signature
        self,
        data=None,
        url=None,
        filename=None,
        format=None,
        width=None,
        height=None,
        metadata=None,
        **kwargs,
    ):
        super().__init__(data, url, filename, metadata)
        if not isinstance(data, (bytes, bytearray)):
            raise TypeError("Image needs the image's bytes")
        # as IPython: without a format, the bytes' own signature says which
        fmt = str(format).lower() if format else ("jpeg" if data[:2] == b"\xff\xd8" else "png")
        self._mime = "image/jpeg" if fmt in ("jpg", "jpeg") else "image/png"
        for key, value in (("width", width), ("height", height)):
            if isinstance(value, int):
                self.metadata[key] = value


class Pretty(_Shown):
    def _payload(self):
        return str(self.data)


def _no_shell():
    return None


def _install_ipython_shim():
    display_module = ModuleType("IPython.display")
    for name in (
        "display",
        "update_display",
        "clear_output",
        "DisplayHandle",
        "HTML",
        "Markdown",
        "SVG",
        "Latex",
        "Math",
        "JSON",
        "Image",
        "Pretty",
    ):
        setattr(display_module, name, globals()[name])
    package = ModuleType("IPython")
    package.__path__ = []
    package.display = display_module
    # libraries that look for IPython (matplotlib's pyplot) find no shell to hook into
    package.get_ipython = _no_shell
    package.version_info = (0, 0, 0)
    sys.modules["IPython"] = package
    sys.modules["IPython.display"] = display_module


# -- cells -----------------------------------------------------------------------------------
# cells see a __main__ of their own (their namespace), as in IPython, not the driver's module
_user_module = ModuleType("__main__")
namespace = _user_module.__dict__
namespace["__builtins__"] = builtins
_cell_count = [0]


def _cell_name():
    _cell_count[0] += 1
    return f"<cell-{_cell_count[0]}>"


#: each cell's source by its file name, handed to linecache when a traceback needs it
_sources = {}


def _register_source(filename, code):
    _sources[filename] = code


def _cell_traceback(exc):
    """The exception with the cell's own frames only (never the driver's)."""
    import linecache
    import traceback

    for filename, code in _sources.items():
        linecache.cache[filename] = (len(code), None, code.splitlines(True), filename)
    if isinstance(exc, SyntaxError) and exc.filename and str(exc.filename).startswith("<cell-"):
        lines = traceback.format_exception_only(type(exc), exc)
    else:
        frames = [
            f
            for f in traceback.extract_tb(exc.__traceback__)
            if str(f.filename).startswith("<cell-")
        ]
        lines = []
        if frames:
            lines.append("Traceback (most recent call last):\n")
            lines.extend(traceback.format_list(frames))
        lines.extend(traceback.format_exception_only(type(exc), exc))
    lines = [line.rstrip("\n")[:MAX_LINE] for line in "".join(lines).split("\n") if line]
    if len(lines) > MAX_LINES:
        # the host keeps the first MAX_LINES: keep the start and the end (the exception itself)
        cut = len(lines) - MAX_LINES + 1
        lines = [
            *lines[: MAX_LINES // 2],
            f"... ({cut} lines cut)",
            *lines[-(MAX_LINES // 2 - 1) :],
        ]
    return lines


def _error(exc):
    try:
        evalue = str(exc)
    except Exception:
        evalue = "<str() of the exception failed>"
    try:
        traceback = _cell_traceback(exc)
    except Exception:  # an exception class whose attributes raise (a SyntaxError's filename)
        traceback = []
    _send(
        {
            "t": "error",
            "ename": str(type(exc).__name__)[:MAX_NAME],
            "evalue": evalue[:MAX_TEXT],
            "traceback": traceback,
        }
    )


def execute(code):
    filename = _cell_name()
    _register_source(filename, code)
    # the builtin compiler's own AST (ast.py is not needed for this)
    tree = compile(code, filename, "exec", _ast.PyCF_ONLY_AST)
    last = None
    # a trailing `;` shows no value, as in IPython (`plt.plot(xs);`)
    quiet = code.rstrip().endswith(";")
    if tree.body and isinstance(tree.body[-1], _ast.Expr) and not quiet:
        last = _ast.Expression(tree.body.pop().value)
    exec(compile(tree, filename, "exec"), namespace)
    if last is not None:
        value = eval(compile(last, filename, "eval"), namespace)
        _restore_builtins()
        if value is not None:
            namespace["_"] = value
            data, metadata = format_bundle(value)
            _send({"t": "result", "data": data, "metadata": metadata})
    # figures the cell drew and did not show: shown now, as IPython's inline backend does
    _show_figures()


#: the builtins as the interpreter started, restored after every cell (see _restore_builtins)
_BUILTINS = {}


#: the driver's stdout, stderr and stdin objects, put back after every cell as well
_STREAMS = []


def _restore_builtins():
    """Put back any original builtin a cell replaced or deleted (names it added stay): the
    stdlib code the driver relies on (json, traceback) looks its builtins up there. The same
    for sys.stdout, sys.stderr and sys.stdin (a cell's print goes to its own output)."""
    current = vars(builtins)
    for name, value in _BUILTINS.items():
        if current.get(name, _restore_builtins) is not value:
            current[name] = value
    if _STREAMS:
        sys.stdout, sys.stderr, sys.stdin = _STREAMS
    _install_stop_handlers()


def _install_stop_handlers():
    # the host's stops arrive as these signals (see the host's _SIGNALS); a cell that
    # replaces a handler loses the soft stop for that cell only
    _set_handler(_SIGINT, _default_int_handler)
    _set_handler(_SIGALRM, _time_limit)
    _set_handler(_SIGUSR1, _output_limit)


#: memory set aside to report a MemoryError when the cell has used up all the rest
_reserve = [bytearray(256 * 1024)]
#: ... and the report itself, made before any cell runs, for when even that is not enough
_MEMORY_FRAME = [b""]


def _report_memory_error(exc):
    _reserve.clear()
    try:
        _error(exc)
    except Exception:  # e.g. importing traceback failed for want of memory
        _write(2, _MEMORY_FRAME[0])
    try:  # noqa: SIM105 -- contextlib is not imported at start (see the imports)
        _reserve.append(bytearray(256 * 1024))
    except MemoryError:
        pass


def _run_cell(code):
    try:
        execute(code)
    except MemoryError as exc:
        _report_memory_error(exc)
        _figures_after_failure(exc)
        exc = None
    except BaseException as exc:
        if isinstance(exc, SystemExit):
            _send(
                {
                    "t": "error",
                    "ename": "SystemExit",
                    "evalue": "SystemExit does not end the sandboxed kernel",
                    "traceback": [],
                }
            )
        else:
            _restore_builtins()
            _error(exc)
        _figures_after_failure(exc)
        exc = None
    finally:
        _restore_builtins()


# -- editor requests -------------------------------------------------------------------------
def _token_before(code, pos):
    start = pos
    while start > 0 and (code[start - 1].isalnum() or code[start - 1] in "_."):
        start -= 1
    return code[start:pos], start


def _names(text):
    """Completions of a name or a dotted attribute, the way rlcompleter finds them (this guest
    has no rlcompleter): attributes are looked up with getattr, nothing is evaluated."""
    if "." not in text:
        import keyword

        pool = list(keyword.kwlist) + list(namespace) + dir(builtins)
        return sorted(
            {
                n
                for n in pool
                if (n.startswith(text) and not n.startswith("__"))
                or (text.startswith("_") and n.startswith(text))
            }
        )
    head, _, tail = text.rpartition(".")
    try:
        obj = _resolve(head)
    except Exception:
        return []
    try:
        attributes = dir(obj)
    except Exception:
        return []
    hidden = "" if tail.startswith("_") else "_"
    return sorted(
        f"{head}.{n}"
        for n in attributes
        if isinstance(n, str) and n.startswith(tail) and not (hidden and n.startswith(hidden))
    )


def complete(code, pos):
    text, start = _token_before(code, pos)
    matches = _names(text)[:500] if text else []
    return {
        "matches": matches,
        "cursor_start": start,
        "cursor_end": pos,
        "metadata": {},
        "status": "ok",
    }


def _resolve(name):
    parts = name.split(".")
    if parts[0] in namespace:
        obj = namespace[parts[0]]
    elif hasattr(builtins, parts[0]):
        obj = getattr(builtins, parts[0])
    else:
        raise LookupError(name)
    for part in parts[1:]:
        obj = getattr(obj, part)
    return obj


def inspect(code, pos, detail):
    import contextlib
    import inspect as _inspect

    start = pos
    while start > 0 and (code[start - 1].isalnum() or code[start - 1] in "_."):
        start -= 1
    end = pos
    while end < len(code) and (code[end].isalnum() or code[end] == "_"):
        end += 1
    name = code[start:end].strip(".")
    try:
        obj = _resolve(name)
    except Exception:
        return {"status": "ok", "found": False, "data": {}, "metadata": {}}
    lines = [f"Type:      {type(obj).__name__}"]
    with contextlib.suppress(TypeError, ValueError):
        lines.append(f"Signature: {name}{_inspect.signature(obj)}")
    if not callable(obj) or isinstance(obj, type):
        lines.append(f"Value:     {_short_repr(obj)}")
    doc = _inspect.getdoc(obj)
    if doc:
        lines.append("Docstring:")
        lines.append(doc[:20_000])
    return {"status": "ok", "found": True, "data": {"text/plain": "\n".join(lines)}, "metadata": {}}


def is_complete(code):
    try:
        import codeop

        compiled = codeop.compile_command(code, "<cell>", "exec")
    except (SyntaxError, ValueError, OverflowError):
        return {"status": "invalid", "indent": ""}
    if compiled is None:
        last = code.rstrip("\n").split("\n")[-1]
        indent = last[: len(last) - len(last.lstrip())]
        if last.rstrip().endswith(":"):
            indent += "    "
        return {"status": "incomplete", "indent": indent}
    lines = code.split("\n")
    if lines[-1][:1] in (" ", "\t") and lines[-1].strip():
        # an indented last line may be inside a block, which (as in IPython and the REPL) an
        # empty line ends (or one of spaces only: a console fills in the indent): the last
        # top-level statement must compile on its own as "single"
        tops = [i for i, line in enumerate(lines) if line[:1] not in ("", " ", "\t", "#")]
        start = tops[-1] if tops else 0
        try:
            block = codeop.compile_command("\n".join(lines[start:]), "<cell>", "single")
        except (SyntaxError, ValueError, OverflowError):
            block = None
        if block is None:
            last = lines[-1]
            return {"status": "incomplete", "indent": last[: len(last) - len(last.lstrip())]}
    return {"status": "complete", "indent": ""}


def _answer(request):
    op = request.get("op")
    try:
        if op == "complete":
            content = complete(str(request["code"]), int(request["pos"]))
        elif op == "inspect":
            content = inspect(str(request["code"]), int(request["pos"]), int(request["detail"]))
        else:
            content = is_complete(str(request["code"]))
    except BaseException as exc:
        content = {
            "status": "error",
            "ename": type(exc).__name__,
            "evalue": str(exc)[:1000],
            "traceback": [],
        }
    _send({"t": "reply", "content": content})


#: the resolver and host functions WASI's `_socket` lacks: without them `socket` and every
#: client on it (urllib, http.client, smtplib) fail with "AttributeError: getaddrinfo"
_NETWORK_FUNCTIONS = (
    "getaddrinfo",
    "getnameinfo",
    "gethostbyname",
    "gethostbyname_ex",
    "gethostbyaddr",
    "gethostname",
    "sethostname",
    "getservbyname",
    "getservbyport",
    "getprotobyname",
)


def _refuse_network():
    """Make the guest's missing networking a clear PermissionError (an OSError, so a client's
    `except OSError` handles it as a network failure) instead of an AttributeError. Patched
    into the built-in `_socket` before any cell imports `socket` (which copies its names)."""
    try:
        import _socket
    except ImportError:
        return

    def refuse(name):
        def refused(*args, **kwargs):
            raise PermissionError(
                13, f"this sandbox has no network (socket.{name} is not available)"
            )

        refused.__name__ = refused.__qualname__ = name
        return refused

    for name in _NETWORK_FUNCTIONS:
        if not hasattr(_socket, name):
            setattr(_socket, name, refuse(name))


def _setup():
    _refuse_network()
    sys.stdout = sys.__stdout__ = _Stream("stdout")
    sys.stderr = sys.__stderr__ = _Stream("stderr")
    sys.stdin = sys.__stdin__ = _Stdin()
    builtins.input = input
    import getpass as _getpass_module

    _getpass_module.getpass = getpass
    builtins.display = display
    _install_ipython_shim()
    _install_stop_handlers()
    sys.setrecursionlimit(800)


#: imported in the zygote, before any fork (see the top of this file): what cells commonly
#: use, and what the driver's own completion, inspect, is_complete and tracebacks need
PRELOADED = (
    "abc",
    "array",
    "base64",
    "bisect",
    "codeop",
    "collections",
    "contextlib",
    "copy",
    "csv",
    "dataclasses",
    "datetime",
    "decimal",
    "enum",
    "fractions",
    "functools",
    "hashlib",
    "heapq",
    "inspect",
    "itertools",
    "json",
    "keyword",
    "linecache",
    "math",
    "numbers",
    "operator",
    "pprint",
    "random",
    "re",
    "reprlib",
    "rlcompleter",
    "statistics",
    "string",
    "struct",
    "tempfile",
    "textwrap",
    "time",
    "traceback",
    "typing",
    "unicodedata",
)


def _preload():
    for name in PRELOADED:
        try:  # noqa: SIM105 -- contextlib is one of the modules imported here
            __import__(name)
        except ImportError:
            pass
    # the preloaded objects are shared by every worker, copy on write: parked outside the
    # collector, a worker's collections never write to their headers (which would copy them)
    import gc

    gc.collect()
    gc.freeze()


def _reseed(seed):
    """This worker's own random state: every worker is forked from one interpreter, so until
    now they all share the `random` state it had (the hash seed cannot change in a live
    interpreter: see SECURITY.md)."""
    import random

    random.seed(seed)
    numpy = sys.modules.get("numpy")
    if numpy is not None:
        # numpy's global generator (np.random.random ...), preloaded in the scientific guest
        numpy.random.seed([int.from_bytes(seed[i : i + 4], "little") for i in range(0, 16, 4)])
    tempfile = sys.modules.get("tempfile")
    if tempfile is not None:
        # its temporary names come from a Random of its own, made on first use
        tempfile._name_sequence = None


def _next_request():
    # "idle" tells the host that the next fd 0 read is the driver's own: the host answers any
    # other read (a cell's os.read(0)) with end of file, so a cell cannot swallow a request
    _send({"t": "idle"})
    return _receive()


def main():
    _prepare()
    _serve()


def _prepare():
    """Everything before the first request: the streams, the builtins kept, the preloads."""
    _setup()
    body = _json_text({"t": "error", "ename": "MemoryError", "evalue": "", "traceback": []})
    _MEMORY_FRAME[0] = MAGIC + _header.pack(len(body)) + body.encode()
    _BUILTINS.update(vars(builtins))
    _STREAMS.extend((sys.stdout, sys.stderr, sys.stdin))
    # the driver keeps its own copy of the builtins it uses: a cell that replaces
    # builtins.len or builtins.repr changes its own world, not the driver's
    driver = globals()
    for name, value in vars(builtins).items():
        if not name.startswith("__"):
            driver.setdefault(name, value)
    _preload()


def _serve():
    """The request loop (never returns). The scientific guest enters it in a turn of its own,
    in each worker, after `_prepare` ran in the zygote (sciruntime.py)."""
    sys.modules["__main__"] = _user_module
    failures = 0
    while True:
        try:
            request = _next_request()
            failures = 0
            seed = request.get("seed")
            if isinstance(seed, bytes):
                _reseed(seed)
            op = request.get("op")
            if op == "execute":
                _run_cell(str(request.get("code", "")))
            elif op in ("complete", "inspect", "is_complete"):
                _answer(request)
        except SystemExit:
            raise
        except MemoryError:
            _write(2, _MEMORY_FRAME[0])
        except BaseException as exc:
            # a stop that lands in the driver's own code is survived (its request is over);
            # anything else is a driver a cell broke (its globals are reachable), and so are
            # three stops in a row: end this interpreter, so the host replaces the worker and
            # the request fails visibly (a request the driver could not read was answered as a
            # success with nothing run; the next ones too)
            failures += 1
            if failures >= 3 or not isinstance(exc, _STOPS):
                _exit(70)


main()
