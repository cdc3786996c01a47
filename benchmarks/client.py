"""Launch a kernel from its description, drive it over the Jupyter protocol, time its cells.

Every kernel is launched through jupyter_client's AsyncKernelManager from a kernelspec written to
a temporary directory, never from the user's installed kernelspecs, and always shut down by
`Workspace.kernel()` or `RunningKernel.shutdown()` (with the `Reaper` behind them).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from queue import Empty
from time import perf_counter
from typing import IO, Any

import psutil
import zmq.asyncio
from jupyter_client.asynchronous.client import AsyncKernelClient
from jupyter_client.channels import AsyncZMQSocketChannel
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import AsyncKernelManager

from benchmarks.kernels import KernelDescription
from benchmarks.processes import Reaper, kernel_processes, stop_processes

# Kernels run from the repository root, so `python -m safekernel` finds the package uninstalled.
REPO_ROOT = Path(__file__).resolve().parent.parent
START_TIMEOUT_S = 30.0
CELL_TIMEOUT_S = 30.0
SHUTDOWN_TIMEOUT_S = 15.0
LOG_TAIL_CHARS = 1200


class BenchmarkError(Exception):
    """A measurement could not be taken; the message says why."""


class KernelStartError(BenchmarkError):
    """The kernel did not come up: its process exited (not installed, crashed) or stayed silent."""


class KernelSilent(KernelStartError):
    """The kernel process is alive but did not complete the kernel_info handshake in time."""


class CellError(BenchmarkError):
    """A cell failed, timed out, or produced something other than what the row needs."""


def describe_error(exc: BaseException) -> str:
    if isinstance(exc, BaseExceptionGroup):
        return describe_error(exc.exceptions[0])
    if isinstance(exc, BenchmarkError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


@dataclass(frozen=True)
class CellOutcome:
    status: str
    """The execute_reply's status: "ok", "error" or "aborted"."""
    sent_at: float
    reply_at: float
    idle_at: float
    stdout_chars: int
    error: str

    @property
    def done_at(self) -> float:
        """When the client holds both the execute_reply and the cell's `status: idle`."""
        return max(self.reply_at, self.idle_at)

    @property
    def elapsed(self) -> float:
        return self.done_at - self.sent_at

    def require_ok(self, what: str) -> CellOutcome:
        if self.status != "ok":
            raise CellError(f"{what} failed: status {self.status!r} {self.error}".rstrip())
        return self


@dataclass
class PendingCell:
    """A cell sent to the kernel; two tasks collect its reply and its IOPub messages."""

    msg_id: str
    sent_at: float
    started: asyncio.Event
    reply: asyncio.Task[tuple[float, dict[str, Any]]]
    iopub: asyncio.Task[tuple[float, int]]

    def cancel(self) -> None:
        self.reply.cancel()
        self.iopub.cancel()


class Workspace:
    """Temporary kernelspecs, connection files and kernel logs, one ZMQ context for all clients."""

    def __init__(self, root: Path, reaper: Reaper) -> None:
        self.root = root
        self.reaper = reaper
        self.context = zmq.asyncio.Context()
        self.specs = KernelSpecManager(
            kernel_dirs=[str(root / "kernels")], ensure_native_kernel=False
        )
        self.leftovers: list[str] = []
        self.retries: list[str] = []
        self._spec_names: dict[KernelDescription, str] = {}
        self._launches = 0

    def spec_name(self, kernel: KernelDescription) -> str:
        if kernel not in self._spec_names:
            name = f"bench-{kernel.name}-{len(self._spec_names)}"
            spec_dir = self.root / "kernels" / name
            spec_dir.mkdir(parents=True)
            (spec_dir / "kernel.json").write_text(json.dumps(kernel.kernel_json(), indent=1))
            self._spec_names[kernel] = name
        return self._spec_names[kernel]

    def next_launch_path(self, kernel: KernelDescription) -> Path:
        self._launches += 1
        return self.root / f"{kernel.name}-{self._launches}"

    async def start(
        self, description: KernelDescription, timeout: float = START_TIMEOUT_S
    ) -> RunningKernel:
        """A started kernel; the caller must shut it down. A kernel that is alive but silent is
        replaced once (listed in `retries`): rare handshake stalls must not fail a CI run, and a
        kernel that exits, such as one that is not installed, fails at once."""
        for attempt in (1, 2):
            kernel = RunningKernel(self, description)
            try:
                await kernel.start(timeout)
            except KernelSilent as exc:
                await kernel.shutdown()
                if attempt == 2:
                    raise
                self.retries.append(f"{description.name}: {str(exc).splitlines()[0]}")
            except BaseException:
                await kernel.shutdown()
                raise
            else:
                return kernel
        raise AssertionError("unreachable")

    @asynccontextmanager
    async def kernel(
        self, description: KernelDescription, timeout: float = START_TIMEOUT_S
    ) -> AsyncIterator[RunningKernel]:
        """A started kernel, shut down on leaving the block whatever happens."""
        kernel = await self.start(description, timeout)
        try:
            yield kernel
        finally:
            await kernel.shutdown()

    def close(self) -> None:
        self.context.destroy(linger=0)


class RunningKernel:
    def __init__(self, workspace: Workspace, description: KernelDescription) -> None:
        self.description = description
        self._workspace = workspace
        base = workspace.next_launch_path(description)
        self._log_path = base.with_suffix(".log")
        self.manager = AsyncKernelManager(
            kernel_name=workspace.spec_name(description),
            kernel_spec_manager=workspace.specs,
            context=workspace.context,
            connection_file=str(base.with_suffix(".json")),
        )
        self._client: AsyncKernelClient | None = None
        self._process: psutil.Process | None = None
        self._stopped = False
        self.launched_at = 0.0
        self.ready_at = 0.0
        """When the first kernel_info_reply arrived."""
        self.relaunched_at = 0.0
        """When the last restart_kernel() returned (old kernel gone, new one launched)."""
        self.kernel_info: dict[str, Any] = {}
        self._log: IO[bytes] | None = None
        self._replaced: list[psutil.Process] = []
        """Processes of the kernels a restart replaced: they must be gone at shutdown too."""

    @property
    def client(self) -> AsyncKernelClient:
        if self._client is None:
            raise BenchmarkError(f"{self.description.name} was not started")
        return self._client

    @property
    def process(self) -> psutil.Process:
        if self._process is None:
            raise BenchmarkError(f"{self.description.name} was not started")
        return self._process

    async def start(self, timeout: float = START_TIMEOUT_S) -> None:
        self.launched_at = perf_counter()
        # The kernel's own stdout/stderr go to a log, shown when it fails to start; open while
        # the kernel lives, since restart_kernel() launches again with the same arguments.
        self._log = self._log_path.open("wb")
        await self.manager.start_kernel(stdout=self._log, stderr=self._log, cwd=str(REPO_ROOT))
        pid = getattr(self.manager.provisioner, "pid", None)
        if pid is None:
            raise KernelStartError(f"{self.description.name}: the provisioner reports no pid")
        self._process = psutil.Process(pid)
        self._workspace.reaper.watch(self._process)
        self._client = self.manager.client()
        self._client.start_channels()
        await self._wait_for_kernel_info(timeout)

    async def _wait_for_kernel_info(self, timeout: float) -> None:
        deadline = perf_counter() + timeout
        while perf_counter() < deadline:
            self.client.kernel_info()
            reply = await self._receive(self.client.shell_channel, "kernel_info_reply", wait=1.0)
            if reply is None:
                continue
            if not self._can_run_cells(reply):
                await asyncio.sleep(0.01)
                continue
            if not self.ready_at:
                self.ready_at = perf_counter()
                self.kernel_info = reply["content"]
            # Any IOPub message proves our subscription is live; before that, the first cell's
            # status messages could be dropped by the PUB socket (jupyter_client checks the same).
            if await self._receive(self.client.iopub_channel, None, wait=0.5) is not None:
                return
        missing = "no IOPub message after its kernel_info_reply" if self.ready_at else "no reply"
        raise KernelSilent(
            f"{self.description.name} did not answer kernel_info within {timeout:.0f} s "
            f"({missing})" + self._log_tail()
        )

    def _can_run_cells(self, reply: dict[str, Any]) -> bool:
        not_ready = self.description.not_ready_version
        if not_ready is None:
            return True
        version = reply["content"].get("language_info", {}).get("version")
        return bool(version is not None and version != not_ready)

    async def _receive(
        self, channel: AsyncZMQSocketChannel, msg_type: str | None, wait: float
    ) -> dict[str, Any] | None:
        """The next message of `msg_type` (any if None) within `wait` s; fails fast if the
        kernel process exits."""
        end = perf_counter() + wait
        while (left := end - perf_counter()) > 0:
            try:
                msg = await channel.get_msg(timeout=min(0.2, left))
            except Empty:
                if not await self.manager.is_alive():
                    raise KernelStartError(
                        f"{self.description.name} exited before answering kernel_info"
                        + self._log_tail()
                    ) from None
                continue
            if msg_type is None or msg["msg_type"] == msg_type:
                return msg
        return None

    def submit(self, code: str) -> PendingCell:
        # the clock starts before the send: taken after it, a client thread descheduled right
        # after sending started late, and a cell stopped by a 0.2 s limit measured 199 ms
        sent_at = perf_counter()
        msg_id = self.client.execute(code)
        started = asyncio.Event()
        return PendingCell(
            msg_id=msg_id,
            sent_at=sent_at,
            started=started,
            reply=asyncio.create_task(self._collect_reply(msg_id)),
            iopub=asyncio.create_task(self._collect_iopub(msg_id, started)),
        )

    async def finish(self, cell: PendingCell, timeout: float = CELL_TIMEOUT_S) -> CellOutcome:
        try:
            _, pending = await asyncio.wait((cell.reply, cell.iopub), timeout=timeout)
        except BaseException:
            cell.cancel()
            raise
        if pending:
            cell.cancel()
            alive = await self.manager.is_alive()
            what = "did not finish" if alive else "did not finish: the kernel process died"
            raise CellError(
                f"a {self.description.name} cell {what} within {timeout:.0f} s" + self._log_tail()
            )
        (reply_at, reply), (idle_at, stdout_chars) = cell.reply.result(), cell.iopub.result()
        error = f"{reply.get('ename', '')}: {reply.get('evalue', '')}" if "ename" in reply else ""
        return CellOutcome(
            status=reply.get("status", "?"),
            sent_at=cell.sent_at,
            reply_at=reply_at,
            idle_at=idle_at,
            stdout_chars=stdout_chars,
            error=error,
        )

    async def execute(self, code: str, timeout: float = CELL_TIMEOUT_S) -> CellOutcome:
        return await self.finish(self.submit(code), timeout)

    async def _collect_reply(self, msg_id: str) -> tuple[float, dict[str, Any]]:
        while True:
            msg = await self.client.shell_channel.get_msg()
            if msg["parent_header"].get("msg_id") == msg_id and msg["msg_type"] == "execute_reply":
                return perf_counter(), msg["content"]

    async def _collect_iopub(self, msg_id: str, started: asyncio.Event) -> tuple[float, int]:
        stdout_chars = 0
        while True:
            msg = await self.client.iopub_channel.get_msg()
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            kind, content = msg["msg_type"], msg["content"]
            state = content.get("execution_state") if kind == "status" else None
            if kind == "execute_input" or state == "busy":
                started.set()
            elif state == "idle":
                return perf_counter(), stdout_chars
            elif kind == "stream" and content.get("name") == "stdout":
                stdout_chars += len(content.get("text", ""))

    async def restart(self) -> float:
        """jupyter_client's restart_kernel, then a new client (a provisioner may hand over a
        kernel on other ports with another key); returns when the restart was requested."""
        requested = perf_counter()
        if self._process is not None:
            self._replaced += kernel_processes(self._process)
        if self._client is not None:
            self._client.stop_channels()
        await self.manager.restart_kernel()
        self.relaunched_at = perf_counter()
        pid = getattr(self.manager.provisioner, "pid", None)
        if pid is None:
            raise KernelStartError(f"{self.description.name}: the provisioner reports no pid")
        self._process = psutil.Process(pid)
        self._workspace.reaper.watch(self._process)
        self._client = self.manager.client()
        self._client.start_channels()
        self.ready_at = 0.0
        await self._wait_for_kernel_info(START_TIMEOUT_S)
        return requested

    async def interrupt(self) -> None:
        await self.manager.interrupt_kernel()

    async def shutdown(self) -> None:
        """Polite shutdown_request, then jupyter_client's SIGTERM/SIGKILL escalation; any process
        of the kernel still alive afterwards is killed and recorded as a leftover.

        Ctrl-C cancels the run's task; a shutdown under way still completes before the
        cancellation goes on, so no kernel is left half shut down."""
        if self._stopped:
            return
        self._stopped = True
        stopping = asyncio.ensure_future(self._stop())
        try:
            await asyncio.shield(stopping)
        except asyncio.CancelledError:
            await stopping
            raise

    async def _stop(self) -> None:
        before = kernel_processes(self._process) if self._process else []
        before += [p for p in self._replaced if p.is_running()]
        if self._client is not None:
            self._client.stop_channels()
        if self.manager.has_kernel and not await self.manager.is_alive():
            # A kernel that already exited (e.g. it could not bind a port another process took
            # meanwhile) gets no shutdown_request: jupyter_client sends it with a blocking send
            # on the control socket, which never returns when a stranger holds that port.
            await self.manager.shutdown_kernel(now=True)
        elif self.manager.has_kernel:
            try:
                await asyncio.wait_for(self.manager.shutdown_kernel(), SHUTDOWN_TIMEOUT_S)
            except Exception:
                await self.manager.shutdown_kernel(now=True)
        if self._process is not None:
            after = kernel_processes(self._process)
            killed = await stop_processes({p.pid: p for p in [*before, *after]}.values())
            self._workspace.leftovers += [f"{self.description.name}: {line}" for line in killed]
        if self._log is not None:
            self._log.close()

    def _log_tail(self) -> str:
        try:
            text = self._log_path.read_text(errors="replace").strip()
        except OSError:
            return ""
        if not text:
            return ""
        tail = text[-LOG_TAIL_CHARS:]
        return "\n    kernel output: " + tail.replace("\n", "\n    ")
