"""The kernel over encrypted and local-only transports, as jupyter_client 8 provisions them.

- IPC: the kernel's five channels are Unix sockets in a private directory; the kernel process
  listens on no TCP port at all.
- CurveZMQ: with `transport_encryption="required"` jupyter_client writes a Curve key pair into
  the connection file (the kernelspec declares `supported_encryption: ["curve"]`) and ipykernel
  binds every channel as a Curve server. A client that holds the connection's HMAC key but not the
  Curve server key cannot complete the handshake: its execute_request never reaches the kernel, and
  a plaintext subscriber on IOPub sees nothing of what runs.
"""

from __future__ import annotations

import json
import os
import stat
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import zmq
from jupyter_client.manager import KernelManager
from jupyter_client.session import Session

from tests.conftest import KERNEL_NAME, Kernel, wait_gone


def _start(tmp_path: Path, **traits: object) -> Kernel:
    km = KernelManager(
        kernel_name=KERNEL_NAME, connection_file=str(tmp_path / "kernel.json"), **traits
    )
    km.start_kernel()
    kc = km.client()
    kc.start_channels()
    kc.wait_for_ready(timeout=60)
    return Kernel(km, kc)


def _stop(kernel: Kernel) -> None:
    procs = kernel.tree()
    kernel.shutdown()
    assert wait_gone(procs) == []


@pytest.fixture
def ipc_kernel(tmp_path: Path) -> Iterator[Kernel]:
    sockets = tmp_path / "sock"
    sockets.mkdir(mode=0o700)
    k = _start(tmp_path, transport="ipc", ip=str(sockets / "kernel"))
    yield k
    _stop(k)


@pytest.fixture(scope="module")
def curve_kernel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kernel]:
    k = _start(tmp_path_factory.mktemp("curve"), transport_encryption="required")
    yield k
    _stop(k)


def test_ipc_transport_runs_cells_and_listens_on_no_tcp_port(ipc_kernel: Kernel) -> None:
    info = json.loads(Path(ipc_kernel.km.connection_file).read_text())
    assert info["transport"] == "ipc"
    for channel in ("shell", "iopub", "stdin", "control", "hb"):
        path = Path(f"{info['ip']}-{info[channel + '_port']}")
        assert stat.S_ISSOCK(path.stat().st_mode), path

    run = ipc_kernel.run("local t = {} for i = 1, 3 do t[i] = i * i end print(t[3]) return #t")
    assert run.status == "ok"
    assert run.stdout == "9\n"
    assert run.result == "3"

    # the kernel, its zygote and workers: no TCP socket anywhere (not even a loopback one)
    for process in ipc_kernel.tree():
        assert process.net_connections(kind="inet") == [], process.cmdline()


def test_curve_keys_are_provisioned_and_the_kernel_runs_cells(curve_kernel: Kernel) -> None:
    info = json.loads(Path(curve_kernel.km.connection_file).read_text())
    assert info["transport"] == "tcp"
    assert len(info["curve_publickey"]) == 40
    assert len(info["curve_secretkey"]) == 40
    assert os.stat(curve_kernel.km.connection_file).st_mode & 0o077 == 0

    run = curve_kernel.run("secret_answer = 6 * 7 print('over curve') return secret_answer")
    assert run.status == "ok"
    assert run.stdout == "over curve\n"
    assert run.result == "42"


def _shell_request(
    socket: zmq.Socket[bytes], session: Session, code: str, wait_ms: int = 3000
) -> dict[str, object] | None:
    """Send an execute_request on `socket`; the parsed reply, or None when none comes (or when
    the request cannot even be queued: a DEALER with no completed handshake has no peer)."""
    socket.sndtimeo = wait_ms
    try:
        session.send(socket, "execute_request", {"code": code, "silent": False})
    except zmq.Again:
        return None
    if not socket.poll(wait_ms):
        return None
    _, msg_list = session.feed_identities(socket.recv_multipart())
    return session.deserialize(msg_list)


def test_a_client_without_the_curve_key_cannot_execute_code(curve_kernel: Kernel) -> None:
    info = json.loads(Path(curve_kernel.km.connection_file).read_text())
    shell = f"tcp://{info['ip']}:{info['shell_port']}"
    iopub = f"tcp://{info['ip']}:{info['iopub_port']}"
    # The attacker has even the HMAC key: only the Curve layer stands between it and the kernel.
    session = Session(key=info["key"].encode(), signature_scheme=info["signature_scheme"])
    ctx = zmq.Context()
    try:
        eavesdropper = ctx.socket(zmq.SUB)
        eavesdropper.setsockopt(zmq.SUBSCRIBE, b"")
        eavesdropper.linger = 0
        eavesdropper.connect(iopub)

        plain = ctx.socket(zmq.DEALER)
        plain.linger = 0
        plain.identity = uuid.uuid4().hex.encode()
        plain.connect(shell)
        assert _shell_request(plain, session, "plain_was_here = true print('pwned')") is None

        wrong = ctx.socket(zmq.DEALER)
        wrong.linger = 0
        wrong.curve_publickey, wrong.curve_secretkey = zmq.curve_keypair()
        wrong.curve_serverkey = zmq.curve_keypair()[0]  # not the kernel's key
        wrong.connect(shell)
        assert _shell_request(wrong, session, "wrong_was_here = true") is None

        # The keyed client still works, and neither request ran.
        run = curve_kernel.run(
            "print(tostring(plain_was_here), tostring(wrong_was_here)) return secret_answer"
        )
        assert run.stdout == "nil\tnil\n"
        assert run.result == "42"
        # Nothing of those cells (code, output, status) reached the plaintext subscriber.
        assert eavesdropper.poll(500) == 0

        # The control case, so the refusals above prove something: the same raw client, given
        # the server key from the connection file, is served.
        keyed = ctx.socket(zmq.DEALER)
        keyed.linger = 0
        keyed.curve_publickey, keyed.curve_secretkey = zmq.curve_keypair()
        keyed.curve_serverkey = info["curve_publickey"].encode()
        keyed.connect(shell)
        reply = _shell_request(keyed, session, "keyed_was_here = true", wait_ms=30000)
        assert reply is not None
        assert reply["msg_type"] == "execute_reply"
        assert reply["content"]["status"] == "ok"  # type: ignore[index]
    finally:
        ctx.destroy(linger=0)
    assert curve_kernel.run("print(keyed_was_here)").stdout == "true\n"


def _log_of(tmp_path: Path, **traits: object) -> str:
    """The kernel's stderr (its log) from start to shutdown, with one cell run."""
    log = tmp_path / "kernel.log"
    with log.open("wb") as sink:
        km = KernelManager(
            kernel_name=KERNEL_NAME, connection_file=str(tmp_path / "kernel.json"), **traits
        )
        km.start_kernel(stderr=sink)
        kc = km.client()
        kc.start_channels()
        kc.wait_for_ready(timeout=60)
        kernel = Kernel(km, kc)
        assert kernel.run("return 1").result == "1"
        _stop(kernel)
    return log.read_text(errors="replace")


TCP_WARNING = "Kernel is running over TCP without encryption"


def test_the_tcp_warning_goes_away_with_curve_keys(tmp_path: Path) -> None:
    """ipykernel's warning on every plain TCP start (README: "Encrypted transport"), and its
    absence once jupyter_client provisions keys."""
    (tmp_path / "plain").mkdir()
    (tmp_path / "curve").mkdir()
    assert TCP_WARNING in _log_of(tmp_path / "plain")
    assert TCP_WARNING not in _log_of(tmp_path / "curve", transport_encryption="required")
