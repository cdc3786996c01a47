"""A jupyter_client kernel provisioner that keeps one prestarted kernel process ready (issue 17).

Opt-in: a kernelspec installed with `python -m safekernel install --prestart` names it in its
metadata (`kernel_provisioner: {provisioner_name: safekernel-prestart}`); without it jupyter_client
uses its LocalProvisioner and nothing changes.

A spare is `python -m safekernel -f <placeholder> ...` started with SAFEKERNEL_PRESTART=1: it
starts its zygote and does its imports (ipykernel, zmq, our kernel), then blocks reading one JSON
line on its stdin. It has no connection file, no key and no port before that line: a launch
(a new kernel, or a restart) claims it by writing the connection file that jupyter_client has
just written for THIS kernel (its own fresh key and ports), the launch's working directory and
environment, then closes the pipe. A spare never ran a cell and never saw another kernel's key.
It is used once; the next spare is started in the background after a short delay, off the
claimed kernel's critical path.

Torn down with the server: a spare blocked on its stdin exits at EOF, which the server's death
closes whatever way the server ends (SIGKILL included); the server's normal exit also terminates
its spares (atexit). Its zygote follows it (parent-death signal, kernel/zygote.py).
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import signal
import subprocess
import threading
from typing import Any, ClassVar

from jupyter_client.connect import KernelConnectionInfo
from jupyter_client.launcher import launch_kernel
from jupyter_client.provisioning.local_provisioner import LocalProvisioner

PRESTART_ENV = "SAFEKERNEL_PRESTART"
PLACEHOLDER = "{safekernel-prestart-connection-file}"
PROVISIONER_NAME = "safekernel-prestart"
# The next spare starts this long after a claim: its imports would otherwise compete with the
# claimed kernel's first cell for the CPU.
REFILL_DELAY_S = 0.5

_SpareKey = tuple[tuple[str, ...], str]


class PrestartProvisioner(LocalProvisioner):
    """LocalProvisioner whose launches claim a prestarted spare when one is ready."""

    _spares: ClassVar[dict[_SpareKey, subprocess.Popen[bytes]]] = {}
    _refills: ClassVar[set[threading.Timer]] = set()

    async def launch_kernel(self, cmd: list[str], **kwargs: Any) -> KernelConnectionInfo:
        # format_kernel_cmd puts the connection file's realpath in the command
        connection_file = os.path.realpath(str(getattr(self.parent, "connection_file", "")))
        if connection_file not in cmd:
            return await super().launch_kernel(cmd, **kwargs)
        spare_cmd = tuple(PLACEHOLDER if arg == connection_file else arg for arg in cmd)
        scrubbed = LocalProvisioner._scrub_kwargs(kwargs)
        key: _SpareKey = (spare_cmd, os.fspath(scrubbed.get("cwd") or os.getcwd()))
        with _lock:
            spare = self._spares.pop(key, None)
        env = dict(scrubbed.get("env") or os.environ)
        claimed = spare is not None and spare.poll() is None and _claim(spare, connection_file, env)
        if claimed and spare is not None:
            self.process = spare
            self.pid = spare.pid
            self.pgid = _pgid(spare.pid)
            self.cwd = key[1]
            connection_info: KernelConnectionInfo = self.connection_info
        else:
            if spare is not None:
                _stop(spare)
            connection_info = await super().launch_kernel(cmd, **kwargs)
        self._schedule_refill(key, scrubbed)
        return connection_info

    def _schedule_refill(self, key: _SpareKey, kwargs: dict[str, Any]) -> None:
        # a timer thread, not the event loop: a synchronous KernelManager runs no loop between
        # its calls
        kwargs = dict(kwargs)
        for name in ("stdout", "stderr"):
            # the launch's log files may be closed before the refill: keep our own descriptors
            stream = kwargs.get(name)
            fd = stream if isinstance(stream, int) else getattr(stream, "fileno", lambda: -1)()
            if isinstance(fd, int) and fd >= 0:
                kwargs[name] = os.dup(fd)
        timer = threading.Timer(REFILL_DELAY_S, _refill, (key, kwargs))
        timer.daemon = True
        with _lock:
            self._refills.add(timer)
        timer.start()


_lock = threading.Lock()


def _refill(key: _SpareKey, kwargs: dict[str, Any]) -> None:
    env = dict(kwargs.get("env") or os.environ)
    env[PRESTART_ENV] = "1"
    spare_kwargs = {k: v for k, v in kwargs.items() if k not in ("env", "stdin")}
    try:
        with _lock:
            PrestartProvisioner._refills.discard(threading.current_thread())
            if _closed or key in PrestartProvisioner._spares:
                return
            # launch_kernel as for any kernel: its own session (jupyter_client signals its group)
            PrestartProvisioner._spares[key] = launch_kernel(
                list(key[0]), stdin=subprocess.PIPE, env=env, **spare_kwargs
            )
    finally:
        for name in ("stdout", "stderr"):
            if isinstance(kwargs.get(name), int):
                os.close(kwargs[name])


def _claim(spare: subprocess.Popen[bytes], connection_file: str, env: dict[str, str]) -> bool:
    """Hand the spare this kernel's connection file and environment; False if it is gone."""
    if spare.stdin is None:
        return False
    claim = {"connection_file": connection_file, "env": env}
    try:
        spare.stdin.write(json.dumps(claim).encode() + b"\n")
        spare.stdin.close()
    except OSError:
        return False
    return True


def _pgid(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except OSError:
        return None


def _stop(spare: subprocess.Popen[bytes]) -> None:
    if spare.stdin is not None:
        with contextlib.suppress(OSError):
            spare.stdin.close()  # EOF: an unclaimed spare exits by itself
    if spare.poll() is None:
        try:
            os.killpg(spare.pid, signal.SIGTERM)
        except OSError:
            spare.terminate()
    try:
        spare.wait(timeout=5)
    except subprocess.TimeoutExpired:
        spare.kill()
        spare.wait()


_closed = False


def stop_spares() -> None:
    """Stop every unclaimed spare of this process and the pending refills."""
    with _lock:
        for timer in PrestartProvisioner._refills:
            timer.cancel()
        PrestartProvisioner._refills.clear()
        spares = list(PrestartProvisioner._spares.values())
        PrestartProvisioner._spares.clear()
    for spare in spares:
        _stop(spare)


def _at_exit() -> None:
    global _closed  # noqa: PLW0603 - no refill may start once the server exits
    _closed = True
    stop_spares()


atexit.register(_at_exit)


def wait_for_claim(argv: list[str]) -> list[str] | None:
    """In a spare (SAFEKERNEL_PRESTART=1): block until a launch claims it; the argv to run with
    the claimed connection file, or None when the server went away first (EOF)."""
    os.environ.pop(PRESTART_ENV, None)
    import sys

    line = sys.stdin.buffer.readline()
    if not line:
        return None
    try:
        claim = json.loads(line)
        connection_file = str(claim["connection_file"])
        env = {str(k): str(v) for k, v in dict(claim["env"]).items()}
    except (ValueError, KeyError, TypeError):
        return None
    # this launch's environment (JPY_SESSION_NAME and the like), not the spare's
    os.environ.clear()
    os.environ.update(env)
    os.environ.pop(PRESTART_ENV, None)
    return [connection_file if arg == PLACEHOLDER else arg for arg in argv]
