"""A new zygote that is still preparing its runtime (the first start on a machine compiles the
guest) is waited for; one that is stopped before its first answer is given up on as before.

The spawn timeout is shortened in this test process only, so that the compile of the 3.12
guest (several seconds) is far longer than it: without the wait, the first spawn fails."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from pathlib import Path

import pytest

from safekernel.errors import WorkerLost
from safekernel.kernel import zygote as zygote_module
from safekernel.kernel.zygote import ZygoteProcess
from safekernel.limits import MIB
from safekernel.runtimes.registry import entries
from safekernel.wire.confinement import SandboxConfig
from tests.conftest import require_python_guest

LOG = logging.getLogger("test_zygote_prepare")
MEMORY = 256 * MIB


def _sandbox(runtime: str) -> SandboxConfig:
    return SandboxConfig(address_space=MEMORY + entries()[runtime].address_space_headroom)


def _spawn(zygote: ZygoteProcess, runtime: str) -> int:
    async def scenario() -> int:
        pid, pidfd, channel = await zygote.spawn(_sandbox(runtime), MEMORY)
        os.close(pidfd)
        channel.close()
        os.kill(pid, signal.SIGKILL)
        return pid

    return asyncio.run(scenario())


def test_a_zygote_compiling_its_guest_at_first_start_is_waited_for(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    require_python_guest()
    # an empty cache: this zygote compiles the guest before it reads any request
    monkeypatch.setenv("SAFEKERNEL_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(zygote_module, "SPAWN_TIMEOUT_S", 1.0)
    zygote = ZygoteProcess("python", LOG)
    try:
        with caplog.at_level(logging.WARNING, logger=LOG.name):
            assert _spawn(zygote, "python") > 0
        assert any("still preparing its runtime" in r.getMessage() for r in caplog.records)
        assert list(tmp_path.glob("python-*")), "the compiled guest was cached"
        # once prepared, the next spawn is an ordinary one
        assert _spawn(zygote, "python") > 0
    finally:
        zygote.close()


def test_a_new_zygote_stopped_before_it_answers_is_given_up(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(zygote_module, "SPAWN_TIMEOUT_S", 0.5)
    zygote = ZygoteProcess("fake", LOG)
    try:
        os.kill(zygote.pid, signal.SIGSTOP)
        with pytest.raises(WorkerLost, match="did not answer"):
            _spawn(zygote, "fake")
        assert zygote.process.wait(5) == -signal.SIGKILL
    finally:
        zygote.close()
