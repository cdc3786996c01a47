"""Hostile and careless clients on a real kernel over real ZMQ: wrong HMAC signatures, replayed
messages, unknown message types, a huge complete_request, execute_requests sent while a cell
runs, a client that goes away mid-cell, two clients on one kernel. The kernel runs nothing it
should not, answers every honest request, in order, and stays responsive.

(Malformed fields of known requests are covered in test_protocol_requests.py.)
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
import zmq
from jupyter_client.blocking import BlockingKernelClient
from jupyter_client.session import Session

from tests.conftest import Kernel, leftovers, snapshot, start_kernel

GUARD_S = 60.0


@pytest.fixture(scope="module")
def shared() -> Iterator[Kernel]:
    k = start_kernel()
    yield k
    procs, sessions = snapshot(k)
    k.shutdown()
    assert leftovers(procs, sessions) == []


def _raw_shell(kernel: Kernel) -> zmq.Socket[Any]:
    info = kernel.km.get_connection_info()
    socket = zmq.Context.instance().socket(zmq.DEALER)
    socket.linger = 0
    socket.connect(f"{info['transport']}://{info['ip']}:{info['shell_port']}")
    return socket


def _frames(session: Session, msg_type: str, content: dict[str, Any]) -> list[bytes]:
    message = session.msg(msg_type, content)
    return [
        part if isinstance(part, bytes) else part.encode() for part in session.serialize(message)
    ]


def _execute(code: str) -> dict[str, Any]:
    return {"code": code, "silent": False, "store_history": True, "user_expressions": {}}


def _value(kernel: Kernel, name: str) -> str:
    return kernel.run(f"print(tostring({name}))").stdout.strip()


def test_messages_with_a_wrong_signature_are_ignored(shared: Kernel) -> None:
    forger = Session(key=b"not-the-key", signature_scheme="hmac-sha256")
    socket = _raw_shell(shared)
    socket.send_multipart(_frames(forger, "execute_request", _execute("forged_ran = true")))
    unsigned = Session(key=b"")
    socket.send_multipart(_frames(unsigned, "execute_request", _execute("unsigned_ran = true")))
    # nothing comes back to the forger, and the honest client is answered meanwhile
    assert socket.poll(1000) == 0
    assert _value(shared, "forged_ran") == "nil"
    assert _value(shared, "unsigned_ran") == "nil"
    socket.close()


def test_a_replayed_message_runs_once(shared: Kernel) -> None:
    honest = Session(key=shared.km.session.key, signature_scheme=shared.km.session.signature_scheme)
    socket = _raw_shell(shared)
    frames = _frames(honest, "execute_request", _execute("replayed = (replayed or 0) + 1"))
    socket.send_multipart(frames)
    assert socket.poll(int(GUARD_S * 1000))  # the first one is answered
    socket.recv_multipart()
    socket.send_multipart(frames)  # the very same bytes again
    assert socket.poll(1000) == 0
    assert _value(shared, "replayed") == "1"
    socket.close()


@pytest.mark.parametrize("msg_type", ["no_such_request", "execute_reply", "stream", ""])
def test_unknown_message_types_leave_the_kernel_answering(shared: Kernel, msg_type: str) -> None:
    kc = shared.kc
    kc.session.send(kc.shell_channel.socket, msg_type, {"code": "unknown_ran = true"})
    msg_id = kc.kernel_info()
    while True:
        reply = kc.get_shell_msg(timeout=GUARD_S)
        if reply["parent_header"].get("msg_id") == msg_id:
            break
    assert reply["content"]["status"] == "ok"
    assert _value(shared, "unknown_ran") == "nil"


@pytest.mark.parametrize("size", [1_000_000, 20_000_000])
def test_a_huge_complete_request_gets_a_reply(shared: Kernel, size: int) -> None:
    kc = shared.kc
    code = "x" * size
    msg_id = kc.complete(code, size)
    reply = kc.get_shell_msg(timeout=GUARD_S)
    assert reply["parent_header"]["msg_id"] == msg_id
    assert reply["content"]["status"] in ("ok", "error")
    assert shared.run("1 + 1").result == "2"


def test_execute_requests_sent_while_a_cell_runs_are_queued_and_run_in_order(
    shared: Kernel,
) -> None:
    kc = shared.kc
    cells = [
        "queued = {} local t = os.clock()\n"
        "while os.clock() - t < 0.5 do end table.insert(queued, 1)",
        "table.insert(queued, 2) print('second')",
        "table.insert(queued, 3) print('third')",
    ]
    ids = [kc.execute(code) for code in cells]
    replies = []
    while len(replies) < len(ids):
        reply = kc.get_shell_msg(timeout=GUARD_S)
        if reply["parent_header"].get("msg_id") in ids:
            replies.append(reply)
    assert [r["parent_header"]["msg_id"] for r in replies] == ids
    assert all(r["content"]["status"] == "ok" for r in replies)
    counts = [r["content"]["execution_count"] for r in replies]
    assert counts == sorted(counts)
    assert shared.run("print(table.concat(queued, ','))").stdout == "1,2,3\n"


def _second_client(kernel: Kernel) -> BlockingKernelClient:
    # its own Session, as another frontend has (km.client() would share the manager's Session
    # object, which confuses jupyter_client's own clients with ipykernel too)
    client = BlockingKernelClient()
    client.load_connection_info(kernel.km.get_connection_info())
    client.start_channels()
    client.wait_for_ready(timeout=GUARD_S)
    return client


def test_a_client_that_goes_away_mid_cell_leaves_the_kernel_working(shared: Kernel) -> None:
    leaving = _second_client(shared)
    leaving.execute("gone_client = 'ran' local t = os.clock() while os.clock() - t < 1 do end")
    time.sleep(0.3)
    leaving.stop_channels()  # gone before its reply
    run = shared.run("print(gone_client)", timeout=GUARD_S)
    assert run.status == "ok"
    assert run.stdout == "ran\n"


def test_two_clients_share_the_session_and_each_gets_its_own_replies(shared: Kernel) -> None:
    other = _second_client(shared)
    try:
        # (requests from two clients have no order between them: each waits for its reply)
        first = other.execute("from_other = 41")
        theirs = other.get_shell_msg(timeout=GUARD_S)
        second = shared.kc.execute("from_first = (from_other or 0) + 1")
        mine = shared.kc.get_shell_msg(timeout=GUARD_S)
        assert theirs["parent_header"]["msg_id"] == first
        assert mine["parent_header"]["msg_id"] == second
        assert _value(shared, "from_first") == "42"
        # the other client's own execute_interactive sees only its own cell's output
        outputs: list[str] = []
        other.execute_interactive(
            "print('for other')",
            output_hook=lambda m: (
                outputs.append(m["content"].get("text", "")) if m["msg_type"] == "stream" else None
            ),
            timeout=GUARD_S,
        )
        assert outputs == ["for other\n"]
    finally:
        other.stop_channels()
