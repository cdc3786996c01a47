"""A scripted runtime for tests, as httpx's MockTransport is for HTTP: a cell is a few lines of
commands, so kernel, session and pool tests need no real language and start in milliseconds.

It runs in a real, fully confined worker forked by a real zygote: only the language is fake.
It is registered like any runtime but hidden (see registry/fake.py): a kernel runs it only when
started with `--SafeKernel.runtime=fake`, and nothing a cell writes here reaches more than the
Lua runtime offers (no files, no Python objects; `exit` ends only this worker, as a crash does).

One command per line; blank lines are skipped:
    print TEXT           stdout TEXT and a newline      stderr TEXT     the same on stderr
    display MIME TEXT    a display_data                 result TEXT     the cell's text/plain value
    clear                clear_output(wait=False)       error NAME TEXT the cell fails
    set NAME VALUE       keep VALUE in this worker      get NAME        print it (or "nil")
    input PROMPT         ask the frontend, print the answer
    sleep SECONDS        wait; an interrupt or the time limit stops it (the worker survives)
    spin                 busy-loop until stopped
    hang SECONDS         block without looking at the stop flag (a call stuck in C)
    exit CODE            end the worker process at once
    rogue MODE           act as a compromised worker, writing frames straight onto its channel
                         (the kernel must cope with a worker that does): `done-id` sends a
                         `done` for another cell now; `chatter` makes the next complete /
                         inspect / is_complete stream forever and never answer; `reply-id`
                         answers the next one for another request first; `close` closes
                         its channel and keeps running (a worker that hangs up mid-cell);
                         `flood COUNT` writes COUNT one-character stream frames at once
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any

from safekernel.limits import Limits, StopKind, limit_message
from safekernel.runtimes.base import CellError, CellOutcome, EventSink, Runtime
from safekernel.wire.channel import Message, encode

#: how often a `rogue chatter` worker sends a line while it never answers
CHATTER_INTERVAL_S = 0.5


class FakeRuntime(Runtime):
    name = "fake"
    version = "1"

    def __init__(self, memory_limit: int, data_dir: str | None = None) -> None:
        self.variables: dict[str, str] = {}
        #: the `rogue` mode for the next editor request ("" = behave)
        self._rogue = ""
        self._stop = threading.Event()
        self._reason: StopKind | None = None

    def interrupt(self, reason: StopKind) -> None:
        if self._reason is None:
            self._reason = reason
        self._stop.set()

    def sample(self) -> None:
        """Nothing to sample: the fake runtime holds no heap of its own."""

    def execute(self, code: str, limits: Limits, sink: EventSink) -> CellOutcome:
        self._stop.clear()
        self._reason = None
        started, cpu_started = time.perf_counter(), time.process_time()
        result: dict[str, Any] | None = None
        error: CellError | None = None
        for line in code.splitlines():
            command, _, rest = line.strip().partition(" ")
            if not command:
                continue
            try:
                result = self._run(command, rest, sink) or result
            except _Failed as failed:
                error = CellError(failed.ename, failed.evalue, [f"{failed.ename}: {failed.evalue}"])
                break
            except ValueError as exc:  # `sleep x` and the like
                error = CellError("ValueError", str(exc), [f"ValueError: {exc}"])
                break
            if self._reason is not None:
                error = CellError(*limit_message(self._reason, limits, state_kept=True), [])
                break
        usage = {
            "wall_s": time.perf_counter() - started,
            "cpu_s": time.process_time() - cpu_started,
        }
        return CellOutcome(
            result=None if error else result, error=error, usage=usage, stop=self._reason
        )

    def _run(self, command: str, rest: str, sink: EventSink) -> dict[str, Any] | None:
        if command in ("print", "stderr"):
            sink.stream("stdout" if command == "print" else "stderr", rest + "\n")
        elif command == "display":
            mime, _, text = rest.partition(" ")
            sink.display({mime: text}, {}, None, False)
        elif command == "clear":
            sink.clear_output(False)
        elif command == "result":
            return {"text/plain": rest}
        elif command == "error":
            ename, _, evalue = rest.partition(" ")
            raise _Failed(ename or "FakeError", evalue)
        elif command == "set":
            name, _, value = rest.partition(" ")
            self.variables[name] = value
        elif command == "get":
            sink.stream("stdout", self.variables.get(rest, "nil") + "\n")
        elif command == "input":
            sink.stream("stdout", sink.input(rest, False) + "\n")
        elif command == "sleep":
            self._stop.wait(float(rest))
        elif command == "spin":
            while not self._stop.is_set():
                pass
        elif command == "hang":
            time.sleep(float(rest))
        elif command == "exit":
            os._exit(int(rest or "1"))
        elif command == "rogue":
            if rest == "done-id":
                _forge({"type": "done", "id": 0, "status": "ok", "usage": {}, "stop": ""})
            elif rest.startswith("flood "):
                frame = encode({"type": "stream", "name": "stdout", "text": "."})
                _forge_bytes(frame * int(rest.partition(" ")[2]))
            elif rest == "close":
                os.closerange(3, 1024)  # the channel is its one descriptor above 2
            elif rest in ("chatter", "reply-id"):
                self._rogue = rest
            else:
                raise _Failed("SyntaxError", f"unknown rogue mode {rest!r}")
        else:
            raise _Failed("SyntaxError", f"unknown command {command!r}")
        return None

    def _misbehave(self) -> None:
        mode, self._rogue = self._rogue, ""
        if mode == "reply-id":
            _forge({"type": "reply", "id": 0, "content": {"matches": ["forged"]}})
        while mode == "chatter":  # ignores its stop flag, as a compromised worker would
            _forge({"type": "stream", "name": "stdout", "text": "."})
            time.sleep(CHATTER_INTERVAL_S)

    def complete(self, code: str, cursor_pos: int) -> dict[str, Any]:
        self._misbehave()
        word = code[:cursor_pos].rpartition(" ")[2]
        matches = sorted(name for name in self.variables if name.startswith(word))
        return {
            "matches": matches,
            "cursor_start": cursor_pos - len(word),
            "cursor_end": cursor_pos,
            "metadata": {},
        }

    def inspect(self, code: str, cursor_pos: int, detail_level: int) -> dict[str, Any]:
        self._misbehave()
        name = code[:cursor_pos].rpartition(" ")[2]
        if name not in self.variables:
            return {"found": False, "data": {}, "metadata": {}}
        return {"found": True, "data": {"text/plain": self.variables[name]}, "metadata": {}}

    def is_complete(self, code: str) -> dict[str, Any]:
        self._misbehave()
        if code.endswith("\\"):
            return {"status": "incomplete", "indent": ""}
        return {"status": "complete"}


class _Failed(Exception):
    def __init__(self, ename: str, evalue: str) -> None:
        super().__init__(evalue)
        self.ename, self.evalue = ename, evalue


def _forge(message: Message) -> None:
    """Write one frame onto the worker's channel behind the worker's back. A confined worker
    holds /dev/null on 0-2 and one other descriptor, its channel (fstat is refused, so the
    channel is found as the one descriptor above 2 that takes a write)."""
    _forge_bytes(encode(message))


def _forge_bytes(data: bytes) -> None:
    for fd in range(3, 1024):
        try:
            written = os.write(fd, data)
        except OSError:
            continue
        while written < len(data):
            written += os.write(fd, data[written:])
        return
    raise _Failed("RogueError", "this worker holds no channel to write to")
