"""The kernel behind Jupyter Kernel Gateway and Jupyter Enterprise Gateway, as a remote
Lab/Notebook server reaches it.

Each gateway runs on 127.0.0.1 with a token and our kernelspec in an isolated prefix (its argv
names this interpreter, so the kernel runs in ours). Kernel Gateway runs in our environment and
Curve-encrypts the ZMQ channels between itself and the kernel (`transport_encryption=required`);
Enterprise Gateway 3.x pins jupyter_client<7 and jupyter_server<2, so it runs from a venv of its
own (SAFEKERNEL_EG_PYTHON; .ci/run makes it) over plain TCP on 127.0.0.1. For each: a `safe`
kernel is started through the REST API, cells run over its websocket (a value, printed text, a
limit, an interrupt through the REST API that keeps variables, a restart that clears them), and
DELETE leaves no process behind.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
import pytest
from jupyter_client.jsonutil import json_default
from jupyter_client.session import Session

from tests.conftest import CellRun, process_tree, wait_gone
from tests.servers import free_port, jupyter_env, missing, serve

pytestmark = pytest.mark.slow

TOKEN = "safekernel-gateway-test-token"


@dataclass
class Gateway:
    url: str
    process: subprocess.Popen[bytes]

    def request(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(
            f"{self.url}{path}",
            data=data,
            method=method,
            headers={"Authorization": f"token {TOKEN}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=60) as resp:
            text = resp.read()
        return json.loads(text) if text else None

    def kernel_processes(self) -> list[psutil.Process]:
        return [
            p
            for p in process_tree(self.process.pid)[1:]
            if any("safekernel" in part for part in _cmdline(p))
        ]


def _cmdline(process: psutil.Process) -> list[str]:
    try:
        return process.cmdline()
    except psutil.Error:
        return []


def _command(kind: str, port: int) -> list[str]:
    """How to start each gateway on 127.0.0.1 with our token."""
    if kind == "kernel-gateway":
        if shutil.which("jupyter-kernelgateway") is None:
            missing("jupyter-kernel-gateway (pip install -e '.[test]')")
        return [
            sys.executable,
            "-m",
            "kernel_gateway",
            "--KernelGatewayApp.ip=127.0.0.1",
            f"--KernelGatewayApp.port={port}",
            f"--KernelGatewayApp.auth_token={TOKEN}",
            "--MappingKernelManager.transport_encryption=required",
        ]
    # Enterprise Gateway 3.x pins jupyter_client<7 and jupyter_server<2: it runs from a venv of
    # its own (.ci/run makes it); the kernelspec's argv still names our interpreter. Its
    # jupyter_client predates Curve, so these channels are plain TCP on 127.0.0.1.
    python = os.environ.get("SAFEKERNEL_EG_PYTHON", "")
    if not python or not os.access(python, os.X_OK):
        missing("Enterprise Gateway's interpreter in SAFEKERNEL_EG_PYTHON (.ci/run makes one)")
    return [
        python,
        "-m",
        "enterprise_gateway",
        "--EnterpriseGatewayApp.ip=127.0.0.1",
        f"--EnterpriseGatewayApp.port={port}",
        f"--EnterpriseGatewayApp.auth_token={TOKEN}",
        # EG refuses kernels for root by default (CI runs as root); no one is refused here
        "--EnterpriseGatewayApp.unauthorized_users=safekernel-no-such-user",
    ]


@pytest.fixture(scope="module", params=["kernel-gateway", "enterprise-gateway"])
def gateway(
    request: pytest.FixtureRequest,
    kernelspec_prefix: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Gateway]:
    port = free_port()
    command = _command(request.param, port)
    home = tmp_path_factory.mktemp("gateway-home")
    url = f"http://127.0.0.1:{port}"

    def answers() -> None:
        headers = {"Authorization": f"token {TOKEN}"}
        request = urllib.request.Request(f"{url}/api/kernelspecs", headers=headers)
        with urllib.request.urlopen(request, timeout=60):
            pass

    env = jupyter_env(home, kernelspec_prefix)
    with serve(command, env, home / "gateway.log", answers, timeout=90) as process:
        yield Gateway(url, process)


class Websocket:
    """The kernel's /channels websocket, spoken as JupyterLab speaks it (JSON messages)."""

    def __init__(self, gateway: Gateway, kernel_id: str) -> None:
        from tornado.websocket import websocket_connect

        self.loop = asyncio.new_event_loop()
        self.session = Session(username="test")
        url = gateway.url.replace("http", "ws", 1)
        request_url = f"{url}/api/kernels/{kernel_id}/channels?session_id={uuid.uuid4().hex}"
        from tornado.httpclient import HTTPRequest

        req = HTTPRequest(request_url, headers={"Authorization": f"token {TOKEN}"})

        async def connect() -> Any:
            return await websocket_connect(req)

        self.ws = self.loop.run_until_complete(connect())

    def send(self, msg_type: str, content: dict[str, Any], channel: str = "shell") -> str:
        msg = self.session.msg(msg_type, content)
        msg["channel"] = channel

        async def write() -> None:
            await self.ws.write_message(json.dumps(msg, default=json_default))

        self.loop.run_until_complete(write())
        return str(msg["header"]["msg_id"])

    def recv(self, timeout: float = 60) -> dict[str, Any]:
        async def read() -> Any:
            return await asyncio.wait_for(self.ws.read_message(), timeout)

        raw = self.loop.run_until_complete(read())
        assert raw is not None, "the gateway closed the websocket"
        return dict(json.loads(raw))

    def execute(self, code: str, timeout: float = 60, on_output: Any = None) -> CellRun:
        msg_id = self.send(
            "execute_request",
            {"code": code, "silent": False, "store_history": True, "allow_stdin": False},
        )
        cell = CellRun(reply={})
        idle = False
        deadline = time.monotonic() + timeout
        while not (idle and cell.reply):
            msg = self.recv(max(0.1, deadline - time.monotonic()))
            if msg.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            kind = msg["msg_type"]
            if kind == "execute_reply":
                cell.reply = msg
            elif kind == "status":
                idle = msg["content"]["execution_state"] == "idle"
            elif kind != "execute_input":
                cell.outputs.append(msg)
                if on_output is not None:
                    on_output(msg)
        return cell

    def wait_ready(self, timeout: float = 60) -> None:
        """As jupyter_client's wait_for_ready: kernel_info until both its reply (shell) and a
        status for it (IOPub) arrive, so no output of the next cell is lost to a subscription
        that is not connected yet (after a restart the gateway reconnects its channels)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            msg_id = self.send("kernel_info_request", {})
            got_reply = got_status = False
            attempt_end = min(deadline, time.monotonic() + 2)
            while not (got_reply and got_status) and time.monotonic() < attempt_end:
                try:
                    msg = self.recv(max(0.05, attempt_end - time.monotonic()))
                except TimeoutError:
                    break
                if msg.get("parent_header", {}).get("msg_id") != msg_id:
                    continue
                got_reply = got_reply or msg["msg_type"] == "kernel_info_reply"
                got_status = got_status or msg["msg_type"] == "status"
            if got_reply and got_status:
                return
        pytest.fail("the kernel behind the gateway did not become ready")

    def close(self) -> None:
        async def close() -> None:  # inside our loop: the thread may have no current one
            self.ws.close()

        self.loop.run_until_complete(close())
        self.loop.close()


@pytest.fixture(scope="module")
def remote(gateway: Gateway) -> Iterator[tuple[Gateway, str, Websocket]]:
    kernel = gateway.request("POST", "/api/kernels", {"name": "safe"})
    assert kernel["name"] == "safe"
    ws = Websocket(gateway, kernel["id"])
    ws.wait_ready()
    yield gateway, kernel["id"], ws
    ws.close()


def test_cells_run_over_the_gateway_websocket(remote: tuple[Gateway, str, Websocket]) -> None:
    gateway, _, ws = remote
    cell = ws.execute("for i = 1, 2 do print('remote ' .. i) end return 6 * 7")
    assert cell.reply["content"]["status"] == "ok"
    assert cell.stdout == "remote 1\nremote 2\n"
    assert cell.result == "42"
    # the kernel is a child of the gateway, running our interpreter
    ours = gateway.kernel_processes()
    assert any(_cmdline(p)[:3] == [sys.executable, "-m", "safekernel"] for p in ours)


def test_a_limit_over_the_gateway(remote: tuple[Gateway, str, Websocket]) -> None:
    _, _, ws = remote
    cell = ws.execute("%timeout 0.5\nwhile true do end")
    assert cell.reply["content"]["status"] == "error"
    assert cell.reply["content"]["ename"] == "TimeLimitExceeded"


def test_interrupt_through_the_rest_api_keeps_variables(
    remote: tuple[Gateway, str, Websocket],
) -> None:
    gateway, kernel_id, ws = remote
    assert ws.execute("remote_kept = 41").reply["content"]["status"] == "ok"

    def interrupt_once_running(msg: dict[str, Any]) -> None:
        if msg["msg_type"] == "stream" and "spinning" in msg["content"]["text"]:
            gateway.request("POST", f"/api/kernels/{kernel_id}/interrupt")

    cell = ws.execute(
        "print('spinning') while true do remote_kept = remote_kept + 0 end",
        on_output=interrupt_once_running,
    )
    assert cell.reply["content"]["status"] == "error"
    assert cell.reply["content"]["ename"] == "KeyboardInterrupt"
    assert ws.execute("return remote_kept + 1").result == "42"


def test_restart_through_the_rest_api_clears_the_session(
    remote: tuple[Gateway, str, Websocket],
) -> None:
    gateway, kernel_id, ws = remote
    before = gateway.kernel_processes()
    assert before
    gateway.request("POST", f"/api/kernels/{kernel_id}/restart")
    # a new kernel process; the old one, its zygote and workers are gone
    assert wait_gone(before) == []
    ws.wait_ready()
    cell = ws.execute("print(tostring(remote_kept))")
    assert cell.stdout == "nil\n"


def test_shutdown_through_the_rest_api_leaves_no_process(gateway: Gateway) -> None:
    kernel = gateway.request("POST", "/api/kernels", {"name": "safe"})
    ws = Websocket(gateway, kernel["id"])
    try:
        ws.wait_ready()
        assert ws.execute("return 1 + 1").result == "2"
    finally:
        ws.close()
    procs = [p for p in gateway.kernel_processes() if kernel["id"] in " ".join(_cmdline(p))]
    everything = [q for p in procs for q in process_tree(p.pid)]
    assert everything, "the kernel's process was not found under the gateway"
    gateway.request("DELETE", f"/api/kernels/{kernel['id']}")
    assert wait_gone(everything) == []
    with pytest.raises(urllib.error.HTTPError) as gone:
        gateway.request("GET", f"/api/kernels/{kernel['id']}")
    assert gone.value.code == 404
