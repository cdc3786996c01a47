"""The Jupyter protocol, and nothing else: translate requests into Session calls and Session
events into IOPub messages (iopub.py). User code never runs in this process. What the options
build when the kernel starts (limits, ceilings, the session, pool and zygote) is in build.py.
"""

from __future__ import annotations

import asyncio
import re
import signal
from typing import Any

from ipykernel._version import kernel_protocol_version
from ipykernel.kernelbase import Kernel
from tornado.platform.asyncio import BaseAsyncIOLoop
from traitlets import Bool, Enum, Float, Instance, Int, Unicode

from safekernel import __version__
from safekernel.errors import ConfigError, SafeKernelError
from safekernel.kernel import report
from safekernel.kernel.build import build, memory_ceiling
from safekernel.kernel.cellrun import ExecuteOutcome
from safekernel.kernel.iopub import IOPubFrontend
from safekernel.kernel.magics import parse_cell
from safekernel.kernel.requests import RequestGate
from safekernel.kernel.session import Session
from safekernel.kernel.usage import format_usage
from safekernel.limits import (
    DEFAULT_INSTRUCTIONS,
    DEFAULT_MAX_FRAME,
    DEFAULT_MEMORY,
    DEFAULT_MESSAGES,
    DEFAULT_OUTPUT,
    DEFAULT_POOL_SIZE,
    DEFAULT_REPLAY_TIMEOUT_S,
    DEFAULT_TIMEOUT_S,
    IOPUB_SUBSCRIBER_POLL_S,
    IOPUB_SUBSCRIBER_WAIT_S,
    MAX_MESSAGES,
    MAX_OUTPUT,
    MAX_TIMEOUT_S,
    NOBODY,
    size_text,
)
from safekernel.runtimes import registry

#: longest continuation indent passed on from a worker's is_complete
MAX_INDENT = 80
#: `string.format?`, `json.decode??`, `?plot.line`: help, as in IPython
_DOTTED = r"[A-Za-z_][A-Za-z0-9_]*(?:[.:][A-Za-z_][A-Za-z0-9_]*)*"
_HELP = re.compile(rf"({_DOTTED})\?\??|\?\??({_DOTTED})")
#: a cell that is just one of these asks the frontend to exit (jupyter console does)
EXIT_COMMANDS = frozenset({"exit", "quit", "exit()", "quit()"})


class SafeKernel(Kernel):
    implementation = "safekernel"
    implementation_version = __version__

    timeout = Float(
        DEFAULT_TIMEOUT_S, help="Wall-clock seconds a cell may run (per cell: %timeout)."
    ).tag(config=True)
    memory_limit = Unicode(
        size_text(DEFAULT_MEMORY),
        help="Lua memory per worker, e.g. 256M or 1G (per cell: %memory).",
    ).tag(config=True)
    instruction_limit = Int(
        DEFAULT_INSTRUCTIONS,
        help="Lua instructions per cell; 0 = no budget. A budget installs a count hook, which "
        "makes Lua about 2x slower (per cell: %instructions).",
    ).tag(config=True)
    output_limit = Unicode(
        size_text(DEFAULT_OUTPUT),
        help="Stream output a cell may print before it is stopped (per cell: %output).",
    ).tag(config=True)
    message_limit = Int(
        DEFAULT_MESSAGES,
        help="Messages a cell may send to the frontend (prints, displays, updates, clears, the "
        "kernel's notices) before it is stopped; updates of one display past the first 100 are "
        "coalesced instead (per cell: %messages).",
    ).tag(config=True)
    pool_size = Int(
        DEFAULT_POOL_SIZE,
        help="Hardened spare workers kept ready beside the session's worker (with isolation=cell "
        "one more: every cell uses its worker up); a spare takes over at once when a worker is "
        "lost and is refilled in the background (0 = start on demand).",
    ).tag(config=True)
    isolation = Enum(
        ["session", "cell"],
        default_value="session",
        help="session: variables persist across cells; cell: every cell runs in a fresh worker "
        "and nothing is shared between cells.",
    ).tag(config=True)
    replay_on_reset = Bool(
        False,
        help="When the session's worker is replaced (hard timeout, crash, interrupt of a stuck "
        "cell), re-run its earlier successful cells silently in the new worker so the "
        "variables come back.",
    ).tag(config=True)
    replay_timeout = Float(
        DEFAULT_REPLAY_TIMEOUT_S,
        help="Seconds a replay may take in all (each replayed cell also keeps its own limits); "
        "cells past it are not restored.",
    ).tag(config=True)
    require_all_layers = Bool(
        False,
        help="Refuse to run cells in a worker that lacks any sandbox layer (one the host "
        "cannot provide; a layer that fails is always refused).",
    ).tag(config=True)
    worker_uid = Int(NOBODY, help="uid a worker switches to when the kernel runs as root.").tag(
        config=True
    )
    worker_gid = Int(NOBODY, help="gid a worker switches to when the kernel runs as root.").tag(
        config=True
    )
    data_dir = Unicode(
        "",
        help="A directory cells may read through data.list() / data.read(name) (read-only); "
        "empty = no file access at all.",
    ).tag(config=True)
    max_message_size = Unicode(
        size_text(DEFAULT_MAX_FRAME),
        help="Largest message a worker may send (e.g. 16M, at least 128K); a worker that sends a "
        "larger one is ended and replaced. Output is sent in 64K pieces; a result or error "
        "message can reach ~600K, so keep it at 1M or more outside tests.",
    ).tag(config=True)

    # -- ceilings: the most a per-cell magic may ask for (limits.Ceilings) ---------------------
    max_timeout = Float(
        MAX_TIMEOUT_S,
        help="The longest %timeout a cell may ask for, in seconds (never below timeout). Set it "
        "to the timeout to make the configured time limit a ceiling.",
    ).tag(config=True)
    max_memory = Unicode(
        "",
        help="The most %memory a cell may ask for, e.g. 512M (never below memory_limit); empty = "
        "what the workers' address-space cap leaves (memory_limit + 256M for Lua).",
    ).tag(config=True)
    max_output = Unicode(
        size_text(MAX_OUTPUT),
        help="The most %output a cell may ask for (never below output_limit).",
    ).tag(config=True)
    max_messages = Int(
        MAX_MESSAGES,
        help="The most %messages a cell may ask for (never below message_limit).",
    ).tag(config=True)
    max_instructions = Int(
        0,
        help="The largest %instructions budget a cell may ask for; when set, a cell may not turn "
        "the budget off with %instructions 0 either. 0 = no ceiling. Set it to the "
        "instruction_limit to make the configured budget a ceiling.",
    ).tag(config=True)

    runtime = Unicode(
        registry.DEFAULT_RUNTIME,
        help="The language cells are written in: a runtime registered in safekernel/runtimes/ "
        "(lua by default).",
    ).tag(config=True)

    notebook = Instance(Session, allow_none=True)
    #: kernel_info waited IOPUB_SUBSCRIBER_WAIT_S for an IOPub subscriber once, in vain
    _iopub_wait_over = False

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        built = build(self)
        self.entry, self.defaults, self.ceilings = built.entry, built.defaults, built.ceilings
        self.language_info = dict(self.entry.language_info)
        self.notebook = built.session
        # every request is checked in one place before a handler sees it (requests.py)
        self.gate = RequestGate(self, self.log)
        self.gate.install()
        # stop_on_error by arrival order (_stamp_arrivals): shell messages numbered as they
        # arrive, the number of the one being dispatched, the last one an error aborts
        self._arrived = 0
        self._arrival_of: dict[int, int] = {}
        self._dispatching = 0
        self._abort_through = 0

    @property
    def _session(self) -> Session:
        assert self.notebook is not None
        return self.notebook

    def start(self) -> None:
        super().start()
        self._stamp_arrivals()
        self.io_loop.add_callback(self._session.start)
        # the signal interrupt_mode: SIGINT to the kernel stops the cell, never the kernel.
        # Through the loop, not signal.signal: the OS may deliver SIGINT to any of ipykernel's
        # threads, and only the loop's wakeup fd gets the idle main thread to run the handler
        # at once (a plain handler waited for the loop's next event, up to the cell's timeout).
        assert isinstance(self.io_loop, BaseAsyncIOLoop)
        self.io_loop.asyncio_loop.add_signal_handler(signal.SIGINT, self._session.interrupt)

    def pre_handler_hook(self) -> None:
        """ipykernel swaps in KeyboardInterrupt while a handler runs; we keep ours."""

    def post_handler_hook(self) -> None:
        """See pre_handler_hook."""

    # -- banner and kernel_info ------------------------------------------------------------
    @property
    def banner(self) -> str:  # type: ignore[override]
        return report.banner(self.entry, self.isolation, self.defaults, self._session.layers)

    @property
    def kernel_info(self) -> dict[str, Any]:
        # Built here, not by super(): ipykernel's imports its debugger module on the first
        # kernel_info to ask whether debugpy is installed (measured: 33 ms of the cold start,
        # ~7 MB of the kernel's memory), and would then advertise a debugger we do not have.
        return {
            "protocol_version": kernel_protocol_version,
            "implementation": self.implementation,
            "implementation_version": self.implementation_version,
            "language_info": self.language_info,
            "banner": self.banner,
            "help_links": self.help_links,
            # no "kernel subshells": see requests.py; no "debugger": there is none
            "supported_features": [],
            "safekernel": {"layers": [layer.to_wire() for layer in self._session.layers]},
        }

    async def kernel_info_request(self, stream: Any, ident: Any, parent: Any) -> None:
        # on the control channel this runs on ipykernel's control thread: it must not touch
        # the session (its worker belongs to the main loop), so it reports what is known
        if self._session.on_its_loop():
            try:
                await self._session.ready()
            except SafeKernelError as exc:
                self.log.error("safekernel: no worker is available: %s", exc)
        await self._iopub_listened()
        await super().kernel_info_request(stream, ident, parent)

    async def _iopub_listened(self) -> None:
        """Wait until a client has subscribed to IOPub (app.ListenedIOPubThread), at most
        IOPUB_SUBSCRIBER_WAIT_S: a client takes the kernel_info reply for "ready" and sends its
        first cell, whose output and final `status: idle` IOPub would otherwise drop. Past the
        bound once (a client that never subscribes), kernel_info stops waiting."""
        subscribed = getattr(self.iopub_thread, "subscribed", None)
        if subscribed is None or subscribed.is_set() or self._iopub_wait_over:
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + IOPUB_SUBSCRIBER_WAIT_S
        while not subscribed.is_set():
            if loop.time() >= deadline:
                self._iopub_wait_over = True
                self.log.warning(
                    "safekernel: no client subscribed to IOPub within %.0f s of a kernel_info "
                    "request; answering it anyway (a client that does not listen to IOPub "
                    "sees no output)",
                    IOPUB_SUBSCRIBER_WAIT_S,
                )
                return
            await asyncio.sleep(IOPUB_SUBSCRIBER_POLL_S)

    async def dispatch_shell(
        self, msg: Any, /, subshell_id: str | None = None, *, concurrent: bool = False
    ) -> None:
        arrived = self._arrival_of.pop(id(msg), 0)
        if not concurrent:  # read by should_handle, before super() awaits anything
            self._dispatching = arrived
        if self.gate.admit(msg, "shell"):
            await super().dispatch_shell(msg, subshell_id=subshell_id, concurrent=concurrent)

    async def dispatch_control(self, msg: Any) -> None:
        if self.gate.admit(msg, "control"):
            await super().dispatch_control(msg)

    # -- execute ---------------------------------------------------------------------------
    async def do_execute(
        self,
        code: str,
        silent: bool,
        store_history: bool = True,
        user_expressions: dict[str, Any] | None = None,
        allow_stdin: bool = False,
        *,
        cell_meta: dict[str, Any] | None = None,
        cell_id: str | None = None,
    ) -> dict[str, Any]:
        try:
            options, body = parse_cell(code, self.defaults, self.ceilings)
            self._check_memory_ceiling(options.limits.memory)
        except ConfigError as exc:
            refused = ExecuteOutcome()
            refused.fail("UsageError", str(exc), verdict="refused")
            return self._reply_error(refused, silent)
        help_name = _help_request(body)
        if help_name is not None and not options.commands:
            marks = body.strip()
            return await self._help(help_name, "??" in (marks[:2], marks[-2:]), silent)
        if code.strip() in EXIT_COMMANDS:
            # as IPython does: the console (or any frontend that honours it) exits
            reply = self._reply_ok(ExecuteOutcome())
            reply["payload"] = [{"source": "ask_exit", "keepkernel": False}]
            return reply
        frontend = IOPubFrontend(self, silent, allow_stdin)
        # each command once, however often the cell names it: its output is not the cell's
        # (nothing counts it), so a cell of a million `%sandbox` lines must not be a flood
        for command in dict.fromkeys(options.commands):
            self._run_command(command, frontend)
        if not body.strip():
            if not options.commands and code.strip():
                # `%timeout 1` alone: it would apply to this empty cell and then be gone
                frontend.stream(
                    "stderr",
                    "safekernel: this cell holds only magics and no code, so nothing ran and "
                    "they applied to nothing; a magic belongs on the first lines of the cell "
                    "it is for (e.g. `%timeout 30` then the code, in one cell)\n",
                )
            return self._reply_ok(ExecuteOutcome())
        try:
            outcome = await self._session.execute(body, options, frontend, self.execution_count)
        except SafeKernelError as exc:
            outcome = ExecuteOutcome()
            outcome.fail(
                "WorkerUnavailable",
                f"no sandbox worker could be started: {exc}",
                verdict="refused",
            )
        if outcome.status == "error":
            return self._reply_error(outcome, silent)
        return self._reply_ok(outcome)

    @property
    def memory_ceiling(self) -> int:
        """The most memory a cell may ask for: what the worker's RLIMIT_AS leaves."""
        return memory_ceiling(self.defaults, self.entry)

    def _check_memory_ceiling(self, memory: int) -> None:
        ceiling = self.memory_ceiling
        if memory > ceiling:
            raise ConfigError(
                f"%memory can be at most {ceiling // (1024 * 1024)}M in this kernel (its workers' "
                "address space is capped); start the kernel with a higher "
                "--SafeKernel.memory_limit for more"
            )

    def _run_command(self, command: str, frontend: IOPubFrontend) -> None:
        if command == "sandbox":
            frontend.stream("stdout", report.sandbox_table(self._session.layers))
        elif command == "reset":
            self._session.reset()
        elif command == "usage":
            frontend.stream("stdout", format_usage(self._session.last_usage))

    def _reply_ok(self, outcome: ExecuteOutcome) -> dict[str, Any]:
        return {
            "status": "ok",
            "execution_count": self.execution_count,
            "payload": [],
            "user_expressions": {},
            "safekernel_metadata": self._metadata(outcome),
        }

    def _metadata(self, outcome: ExecuteOutcome) -> dict[str, Any]:
        """The reply's metadata: usage, verdict and state (a stable interface: verdict.py)."""
        return {
            "usage": outcome.usage,
            "verdict": outcome.verdict,
            "state": outcome.state,
            **self._session.replacements.metadata(),
        }

    def _reply_error(self, outcome: ExecuteOutcome, silent: bool) -> dict[str, Any]:
        content = {
            "ename": outcome.ename,
            "evalue": outcome.evalue,
            "traceback": outcome.traceback or [f"{outcome.ename}: {outcome.evalue}"],
        }
        if not silent:
            self.send_response(self.iopub_socket, "error", content)
        if self.shell_stream is not None:
            # requests that arrived while the cell ran are queued now, before its reply goes
            # out: with stop_on_error they are the ones to abort (see _abort_queues)
            self.shell_stream.flush()
        return {
            "status": "error",
            "execution_count": self.execution_count,
            "safekernel_metadata": self._metadata(outcome),
            **content,
        }

    def finish_metadata(self, parent: Any, metadata: Any, reply_content: Any) -> Any:
        """Each execute_reply carries the cell's usage, verdict and state in its metadata."""
        metadata = super().finish_metadata(parent, metadata, reply_content)
        metadata.update(reply_content.pop("safekernel_metadata", None) or {})
        return metadata

    # -- editor requests -------------------------------------------------------------------
    async def do_complete(self, code: str, cursor_pos: int | None) -> dict[str, Any]:
        cursor = len(code) if cursor_pos is None else cursor_pos
        content = await self._session.request("complete", code=code, cursor_pos=cursor)
        matches = content.get("matches")
        start = content.get("cursor_start")
        if not isinstance(matches, list) or not isinstance(start, int) or not 0 <= start <= cursor:
            return {
                "status": "ok",
                "matches": [],
                "cursor_start": cursor,
                "cursor_end": cursor,
                "metadata": {},
            }
        names = [m for m in matches if isinstance(m, str)][:1000]
        return {
            "status": "ok",
            "matches": names,
            "cursor_start": start,
            "cursor_end": cursor,
            "metadata": {},
        }

    async def do_inspect(
        self, code: str, cursor_pos: int, detail_level: int = 0, omit_sections: Any = ()
    ) -> dict[str, Any]:
        content = await self._session.request(
            "inspect", code=code, cursor_pos=cursor_pos, detail_level=detail_level
        )
        data = content.get("data")
        if not content.get("found") or not isinstance(data, dict):
            return {"status": "ok", "found": False, "data": {}, "metadata": {}}
        text = data.get("text/plain")
        return {
            "status": "ok",
            "found": True,
            "metadata": {},
            "data": {"text/plain": text[:100_000]} if isinstance(text, str) else {},
        }

    async def do_is_complete(self, code: str) -> dict[str, Any]:
        try:
            options, body = parse_cell(code, self.defaults, self.ceilings)
        except ConfigError:
            # the console runs it, and the cell's reply says what is wrong with the magic
            return {"status": "invalid"}
        if not body.strip() and code.strip():
            if options.commands:
                return {"status": "complete"}
            # only limit magics so far: they are for the code that follows, so wait for it
            return {"status": "incomplete", "indent": ""}
        if _help_request(body) is not None:
            return {"status": "complete"}
        content = await self._session.request("is_complete", code=body)
        status = content.get("status")
        if status not in ("complete", "incomplete", "invalid"):
            return {"status": "unknown"}
        indent = content.get("indent")
        if not isinstance(indent, str) or len(indent) > MAX_INDENT or indent.strip(" "):
            indent = "  "
        return {"status": status, "indent": indent if status == "incomplete" else ""}

    async def _help(self, name: str, detail: bool, silent: bool) -> dict[str, Any]:
        """`name?` / `name??` as a cell: the inspect doc, paged as IPython does."""
        content = await self._session.request(
            "inspect", code=name, cursor_pos=len(name), detail_level=1 if detail else 0
        )
        data = content.get("data")
        text = data.get("text/plain") if isinstance(data, dict) else None
        reply = self._reply_ok(ExecuteOutcome())
        if content.get("found") and isinstance(text, str):
            page = {"text/plain": text[:100_000]}
            reply["payload"] = [{"source": "page", "data": page, "start": 0}]
        elif not silent:
            IOPubFrontend(self, silent, False).stream("stdout", f"Object `{name}` not found.\n")
        return reply

    # -- stop_on_error ----------------------------------------------------------------------
    def _stamp_arrivals(self) -> None:
        """Number each shell message as it arrives, before it waits for the one running cell.

        ipykernel aborts queued cells after an error with a flag it clears on the loop's next
        turn; without a shell-channel thread (app.py) the queued cells only take the cell lock
        after that, so "Run All" ran every cell behind a failed one; and a cell sent the moment
        the error reply arrived was sometimes aborted instead. The numbers make it exact: an
        error with stop_on_error aborts the execute requests that arrived before its reply was
        sent (_reply_error flushes the socket first), never one that came after.
        """
        assert self.shell_stream is not None
        receive = self.shell_stream._recv_callback  # what Kernel.start registered
        assert receive is not None

        def stamped(msg: Any) -> Any:
            self._arrived += 1
            self._arrival_of[id(msg)] = self._arrived
            return receive(msg)

        self.shell_stream.on_recv(stamped, copy=False)

    def _abort_queues(self, subshell_id: str | None = None) -> None:
        self._abort_through = self._arrived
        self.log.info("Aborting the execute requests that arrived before the error")

    def should_handle(self, stream: Any, msg: Any, idents: Any) -> bool:
        arrived = self._dispatching
        if msg["header"]["msg_type"] == "execute_request" and arrived <= self._abort_through:
            self._send_abort_reply(stream, msg, idents)
            return False
        return True

    # -- interrupt and shutdown ------------------------------------------------------------
    async def interrupt_request(self, stream: Any, ident: Any, parent: Any) -> None:
        """The message interrupt_mode; runs on the control thread, so hop to the main loop."""
        self.io_loop.add_callback(self._session.interrupt)
        assert self.session is not None
        self.session.send(stream, "interrupt_reply", {"status": "ok"}, parent, ident=ident)

    async def do_shutdown(self, restart: bool) -> dict[str, Any]:
        await self._session.close()
        return {"status": "ok", "restart": restart}


def _help_request(body: str) -> str | None:
    """The name in a `name?` / `name??` / `?name` cell (IPython's help syntax), else None."""
    match = _HELP.fullmatch(body.strip())
    if match is None:
        return None
    return match.group(1) or match.group(2)
