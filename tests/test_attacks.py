"""The attack suite: every `tests/attacks/*.lua` file is one hostile cell run through a real
kernel (all sandbox layers required, a read-only data dir configured: the weaker setting).

Each file starts with a header of `-- key: value` lines (the first other line ends it):

    -- attack: what the cell tries, in one line                    (required)
    -- expect: value <text>          the cell's result, exactly    (exactly one expect)
    -- expect: ok                    the cell succeeds (any result)
    -- expect: error <Ename> /<re>/  the cell fails with Ename and an evalue matching <re>
    -- state: kept | lost            variables survive the cell or not (default: kept)
    -- magic: <line>                 a per-cell magic, e.g. `timeout 1` (repeatable)
    -- stdout: /<re>/                the cell's stdout matches <re>
    -- next: <code> => <text>        a later cell and its exact result (repeatable)

Placeholders in the code: @SENTINEL@ (a world-writable host file), @CONNECTION_FILE@ (the
kernel's own), @DATA_DIR@, @PORT@ (a listener on 127.0.0.1), @KERNEL_PID@.

After every attack the runner checks: the expected outcome; the kernel is alive; the state was
kept or lost as declared; no output that reached the frontend carries active content (a
script, an event handler, a javascript: URL, a frame or inline SVG in HTML; raw HTML in
Markdown); the next cell computes 6 * 7; every `next` check; the sentinel file,
the connection file and the data dir are unchanged; no connection reached the listener; the
kernel's process tree is back to its baseline (no process left behind).
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import socket
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import pytest

from tests.conftest import BOTH_RUNTIMES, CellRun, Kernel, start_kernel, wait_gone

#: every attack runs against both runtimes: the wasm guest runs the same Lua sandbox code
RUNTIMES = BOTH_RUNTIMES

ATTACKS = Path(__file__).parent / "attacks"
SENTINEL_VALUE = "1234"
_ERROR = re.compile(r"^error (\w+) /(.*)/$")
_REGEX = re.compile(r"^/(.*)/$")
_NEXT = re.compile(r"^(.+?) => (.+)$")
_KEYS = frozenset({"attack", "expect", "state", "magic", "stdout", "next"})


class HeaderError(ValueError):
    """An attack file whose header does not follow the format above."""


@dataclass
class Attack:
    name: str
    code: str
    description: str = ""
    kind: str = ""  # value | ok | error
    value: str = ""
    ename: str = ""
    pattern: str = ""
    state: str = "kept"
    magics: list[str] = field(default_factory=list)
    stdout: str | None = None
    next_checks: list[tuple[str, str]] = field(default_factory=list)


def _set_expect(attack: Attack, value: str) -> None:
    if attack.kind:
        raise HeaderError("more than one `expect` line")
    if value == "ok":
        attack.kind = "ok"
    elif value.startswith("value "):
        attack.kind, attack.value = "value", value.removeprefix("value ")
    elif match := _ERROR.match(value):
        attack.kind, attack.ename, attack.pattern = "error", match[1], match[2]
        re.compile(attack.pattern)
    else:
        raise HeaderError(f"bad expect {value!r}: use `value X`, `ok` or `error Name /re/`")


def parse_attack(name: str, text: str, comment: str = "--") -> Attack:
    """Parse one attack file; anything off the format raises HeaderError. `comment` is the
    language's line comment (`--` in Lua, `#` in Python), which starts each header line."""
    attack = Attack(name=name, code=text)
    header = re.compile(rf"^{re.escape(comment)} ([a-z]+): (.+)$")
    lead = comment + " "
    lines = text.splitlines()
    end = next((i for i, line in enumerate(lines) if not line.startswith(lead)), len(lines))
    if any(header.match(line) and line[len(lead) :].split(":")[0] in _KEYS for line in lines[end:]):
        raise HeaderError("header lines must all come first, before any code")
    for line in lines[:end]:
        match = header.match(line)
        if match is None:
            raise HeaderError(f"header line {line!r} is not `{comment} key: value`")
        key, value = match[1], match[2].strip()
        if key == "attack":
            attack.description = value
        elif key == "expect":
            _set_expect(attack, value)
        elif key == "state":
            if value not in ("kept", "lost"):
                raise HeaderError("state is `kept` or `lost`")
            attack.state = value
        elif key == "magic":
            attack.magics.append(value)
        elif key == "stdout":
            regex = _REGEX.match(value)
            if regex is None:
                raise HeaderError("stdout takes /regex/")
            attack.stdout = regex[1]
        elif key == "next":
            check = _NEXT.match(value)
            if check is None:
                raise HeaderError("next takes `code => result`")
            attack.next_checks.append((check[1], check[2]))
        else:
            raise HeaderError(f"unknown header key {key!r}")
    if not attack.description or not attack.kind:
        raise HeaderError("an attack needs `attack` and `expect` lines")
    return attack


def attack_files() -> list[Path]:
    return sorted(ATTACKS.glob("*.lua"))


# --- the host the attacks run against ------------------------------------------------------


@dataclass
class Host:
    kernel: Kernel
    sentinel: Path
    data_dir: Path
    listener: socket.socket
    baseline: int

    @property
    def watched(self) -> list[Path]:
        connection = Path(self.kernel.km.connection_file)
        return [self.sentinel, connection, *sorted(self.data_dir.rglob("*"))]

    def fingerprint(self) -> dict[str, tuple[int, float, str]]:
        prints = {}
        for path in self.watched:
            info = path.lstat()
            digest = "" if path.is_symlink() or path.is_dir() else _digest(path)
            prints[str(path)] = (info.st_mode, info.st_mtime, digest)
        return prints

    def substitute(self, code: str) -> str:
        return (
            code.replace("@SENTINEL@", str(self.sentinel))
            .replace("@CONNECTION_FILE@", self.kernel.km.connection_file)
            .replace("@DATA_DIR@", str(self.data_dir))
            .replace("@PORT@", str(self.listener.getsockname()[1]))
            .replace("@KERNEL_PID@", str(self.kernel.pid))
        )


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def make_data_dir(root: Path, sentinel: Path) -> Path:
    """A data dir uid nobody can read, with a file, a subdir and links pointing out of it."""
    data = root / "data"
    (data / "sub").mkdir(parents=True)
    (data / "input.txt").write_text("hello from the data dir\n")
    (data / "sub" / "nested.txt").write_text("nested\n")
    (data / "escape").symlink_to(sentinel)
    (data / "etc").symlink_to("/etc")
    for path in (root, data, data / "sub"):
        path.chmod(0o755)
    return data


@pytest.fixture(scope="module")
def host(runtime: str) -> Iterator[Host]:
    root = Path(tempfile.mkdtemp(prefix="safekernel-attacks-"))
    root.chmod(0o777)
    sentinel = root / "sentinel.txt"
    sentinel.write_text("untouched\n")
    # world-writable: only the sandbox, not file permissions, keeps a worker from changing it
    sentinel.chmod(0o666)
    data_dir = make_data_dir(root, sentinel)
    listener = socket.create_server(("127.0.0.1", 0))
    listener.setblocking(False)
    kernel = start_kernel(
        "--SafeKernel.require_all_layers=True",
        f"--SafeKernel.data_dir={data_dir}",
        runtime=runtime,
    )
    try:
        assert kernel.run("return 1").result == "1"
        host = Host(kernel, sentinel, data_dir, listener, baseline=0)
        host.baseline = len(_settled_tree(host, len(kernel.tree())))
        yield host
    finally:
        procs = kernel.tree()
        kernel.shutdown()
        listener.close()
        shutil.rmtree(root)
        assert wait_gone(procs) == []


def _settled_tree(host: Host, at_most: int, timeout: float = 15) -> list[psutil.Process]:
    """The kernel's live processes once there are no more than `at_most` (or the last seen)."""
    deadline = time.monotonic() + timeout
    while True:
        live = [p for p in host.kernel.tree() if _alive(p)]
        if len(live) <= at_most or time.monotonic() > deadline:
            return live
        time.sleep(0.1)


def _alive(process: psutil.Process) -> bool:
    try:
        return process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


# --- the checks ----------------------------------------------------------------------------


#: what must never be in an HTML output the frontend gets (JupyterLab trusts a live session's
#: outputs: it runs their scripts); written independently of the kernel's whitelist
_ACTIVE_HTML = re.compile(
    r"<\s*/?\s*(script|iframe|frame|object|embed|applet|form|base|meta|link|style|svg|math"
    r"|template|noscript)\b|<[^>]*\son[a-z]+\s*="
    r"|=\s*[\"']?\s*((java|vb)script\s*:|data:(?!image/(png|jpeg|gif);))",
    re.IGNORECASE,
)
#: raw HTML in Markdown (a tag, comment, declaration or processing instruction)
_MARKDOWN_HTML = re.compile(r"<[A-Za-z/!?]")
#: MathJax macros that link elsewhere than http(s)/mailto, style, name or load anything
_LATEX_ACTIVE = re.compile(
    r"\\(href|url)(?![A-Za-z])(?!\s*\{\s*(https?://|mailto:))|\\(style|class|cssId|require)\b"
)


def check_inert_outputs(run: CellRun) -> None:
    """No display, update or value of the cell carries active HTML or Markdown's raw HTML."""
    for message in run.outputs:
        data = message["content"].get("data") or {}
        html, markdown = data.get("text/html", ""), data.get("text/markdown", "")
        assert not _ACTIVE_HTML.search(html), html[:500]
        assert not _MARKDOWN_HTML.search(markdown), markdown[:500]
        assert not re.search(r"(java|vb)script\\?:(?!\s)", markdown, re.IGNORECASE), markdown
        latex = data.get("text/latex", "")
        assert not _LATEX_ACTIVE.search(latex), latex[:500]


def check_outcome(attack: Attack, run: CellRun, *, python_cells: bool = False) -> None:
    """`python_cells`: the cells are Python, whose own tracebacks are shown (the cell's frames
    only); otherwise no Python traceback may appear at all."""
    check_inert_outputs(run)
    if attack.kind == "value":
        assert run.status == "ok", _short(run.error)
        assert run.result == attack.value
    elif attack.kind == "ok":
        assert run.status == "ok", _short(run.error)
    else:
        assert run.status == "error", f"the attack succeeded: {run.result!r} {run.stdout[:200]!r}"
        assert run.error is not None
        evalue = run.error["evalue"]
        assert run.error["ename"] == attack.ename, (run.error["ename"], evalue[:300])
        assert re.search(attack.pattern, evalue), evalue[:300]
        traceback = "\n".join(run.error["traceback"])
        if python_cells:
            # the cell's own frames only: never a frame of the driver, the host or safekernel
            frames = re.findall(r'File "([^"]*)"', traceback)
            assert all(name.startswith("<cell-") for name in frames), traceback[:1000]
            assert not re.search(r"safekernel/\S+\.py", traceback), traceback[:1000]
        else:
            # one line a user can read, never a Python traceback from our code
            assert "Traceback (most recent call last)" not in traceback
    if attack.stdout is not None:
        assert re.search(attack.stdout, run.stdout), run.stdout[:500]


def _short(error: dict[str, object] | None) -> str:
    return "" if error is None else f"{error['ename']}: {str(error['evalue'])[:300]}"


def check_no_connection(listener: socket.socket) -> None:
    try:
        connection, peer = listener.accept()
    except BlockingIOError:
        return
    connection.close()
    pytest.fail(f"a connection reached the host's listener from {peer}")


def check_tree(host: Host) -> None:
    live = _settled_tree(host, host.baseline)
    assert len(live) <= host.baseline, [" ".join(p.cmdline()) for p in live]
    kernel = host.kernel.pid
    zygotes = {p.pid for p in live if p.ppid() == kernel}
    for process in live:
        # every process is the kernel, its zygote, or a worker forked by the zygote
        assert process.pid == kernel or process.ppid() in {kernel, *zygotes}, process


@pytest.mark.parametrize("path", attack_files(), ids=lambda p: p.stem)
def test_attack_is_contained(host: Host, path: Path) -> None:
    run_attack(host, parse_attack(path.name, path.read_text()))


def run_attack(host: Host, attack: Attack, *, python_cells: bool = False) -> None:
    """Run one attack cell through the host's real kernel and check everything: its outcome,
    and that the host, the kernel and the cell's state are as they should be afterwards."""
    kernel = host.kernel
    before = host.fingerprint()
    # a fresh worker per attack, so one attack's poison cannot mask or cause another's result
    assert kernel.run(f"%reset\n__attack_sentinel = {SENTINEL_VALUE}").status == "ok"
    magics = "".join(f"%{magic}\n" for magic in attack.magics)
    run = kernel.run(magics + host.substitute(attack.code), timeout=60)
    check_outcome(attack, run, python_cells=python_cells)
    kept = attack.state == "kept"
    if python_cells:
        probe, lost, answer = "globals().get('__attack_sentinel')", None, "6 * 7"
    else:
        probe, lost, answer = "return __attack_sentinel", "nil", "return 6 * 7"
    check_contained(
        host,
        attack,
        before,
        probe=probe,
        expected_state=SENTINEL_VALUE if kept else lost,
        answer=answer,
    )


def check_contained(
    host: Host,
    attack: Attack,
    before: object,
    *,
    probe: str,
    expected_state: str | None,
    answer: str,
) -> None:
    """After an attack cell, in any language: the kernel lives, the session's sentinel (read by
    `probe`) is kept or gone as the attack expects, `answer` (6 * 7) still runs, the attack's own
    next checks hold, no host file changed, no connection arrived, no process is left."""
    kernel = host.kernel
    assert kernel.km.is_alive(), "the kernel died"
    assert psutil.pid_exists(kernel.pid)
    state = kernel.run(probe)
    assert state.result == expected_state, _short(state.error)
    assert kernel.run(answer).result == "42"
    for code, result in attack.next_checks:
        after = kernel.run(host.substitute(code))
        assert after.result == result, (code, _short(after.error))
    assert host.fingerprint() == before, "a host file changed"
    check_no_connection(host.listener)
    check_tree(host)


def test_suite_has_enough_attacks() -> None:
    assert len(attack_files()) >= 60


@pytest.mark.parametrize("path", attack_files(), ids=lambda p: p.stem)
def test_attack_header_is_well_formed(path: Path) -> None:
    parse_attack(path.name, path.read_text())


@pytest.mark.parametrize(
    "header",
    [
        "print(1)\n",
        "-- attack: x\n",
        "-- expect: ok\n",
        "-- attack: x\n-- expect: maybe\n",
        "-- attack: x\n-- expect: ok\n-- expect: ok\n",
        "-- attack: x\n-- expect: error LuaError no-slashes\n",
        "-- attack: x\n-- expect: ok\n-- state: gone\n",
        "-- attack: x\n-- expect: ok\n-- colour: red\n",
        "-- attack: x\n-- expect: ok\n-- next: no arrow\n",
        "-- attack: x\n-- expect: ok\n--nospace: 1\n-- state: lost\n",
    ],
)
def test_attack_header_format_is_strict(header: str) -> None:
    with pytest.raises(HeaderError):
        parse_attack("bad.lua", header + "return 1\n")


def test_placeholders_are_filled(tmp_path: Path) -> None:
    sentinel = tmp_path / "s"
    fake = Host(
        kernel=_FakeKernel(),  # type: ignore[arg-type]
        sentinel=sentinel,
        data_dir=tmp_path,
        listener=socket.create_server(("127.0.0.1", 0)),
        baseline=0,
    )
    try:
        code = fake.substitute("@SENTINEL@ @CONNECTION_FILE@ @DATA_DIR@ @PORT@ @KERNEL_PID@")
    finally:
        fake.listener.close()
    assert "@" not in code
    assert str(sentinel) in code


class _FakeKernel:
    pid = os.getpid()

    class km:  # stands in for a KernelManager attribute
        connection_file = "/tmp/kernel-x.json"
