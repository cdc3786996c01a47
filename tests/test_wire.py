"""Both directions of the wire are checked against one table of schemas (wire/messages.py):
what the kernel sends a worker or the zygote, as well as what they send back."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import msgpack
import pytest

from safekernel.errors import ProtocolError
from safekernel.wire.channel import (
    decode_control,
    decode_from_kernel,
    decode_spawned,
    encode,
    recv_frame,
)
from safekernel.wire.messages import KERNEL_TO_WORKER, validate


def _body(message: object) -> bytes:
    return bytes(msgpack.packb(message, use_bin_type=True))


def test_every_kernel_message_the_worker_knows_decodes() -> None:
    samples = [
        {"type": "execute", "id": 1, "code": "x", "limits": {"timeout": 1.0}},
        {"type": "complete", "id": 2, "code": "x", "cursor_pos": 1},
        {"type": "inspect", "id": 3, "code": "x", "cursor_pos": 1, "detail_level": 0},
        {"type": "is_complete", "id": 4, "code": "x"},
        {"type": "input_reply", "value": "typed"},
        {"type": "input_reply", "value": None, "error": "stdin is off"},
        {"type": "interrupt"},
        {"type": "shutdown"},
    ]
    assert {s["type"] for s in samples} == set(KERNEL_TO_WORKER)
    for sample in samples:
        assert decode_from_kernel(_body(sample)) == sample


@pytest.mark.parametrize(
    ("message", "error"),
    [
        ({"type": "execute", "id": 1, "code": "x"}, "execute.limits is missing"),
        ({"type": "complete", "id": 1, "code": "x", "cursor_pos": "1"}, "complete.cursor_pos"),
        ({"type": "interrupt", "now": True}, "unexpected fields"),
        ({"type": "spawn", "sandbox": {}, "memory": 1}, "unknown message type 'spawn'"),
        ([1, 2], "not a map"),
    ],
)
def test_a_worker_refuses_what_no_kernel_sends(message: object, error: str) -> None:
    with pytest.raises(ProtocolError, match=error):
        decode_from_kernel(_body(message))


def test_zygote_messages_have_their_own_schemas() -> None:
    spawn = {"type": "spawn", "sandbox": {"worker_uid": 1}, "memory": 4}
    assert decode_control(_body(spawn)) == spawn
    with pytest.raises(ProtocolError, match="unknown message type 'execute'"):
        decode_control(_body({"type": "execute", "id": 1, "code": "", "limits": {}}))
    assert decode_spawned(_body({"type": "spawned", "pid": 7})) == {"type": "spawned", "pid": 7}
    with pytest.raises(ProtocolError, match=r"spawned\.pid"):
        decode_spawned(_body({"type": "spawned", "pid": "7"}))


def test_the_kernel_checks_its_own_messages_before_sending() -> None:
    with pytest.raises(ProtocolError, match=r"inspect\.detail_level"):
        validate(
            {"type": "inspect", "id": 1, "code": "", "cursor_pos": 0, "detail_level": "x"},
            KERNEL_TO_WORKER,
        )


def test_recv_frame_reads_one_frame_and_refuses_an_oversized_one() -> None:
    ours, theirs = socket.socketpair()
    with ours, theirs:
        ours.sendall(encode({"type": "interrupt"}) + encode({"type": "shutdown", "pad": "x" * 99}))
        assert decode_from_kernel(recv_frame(theirs, 1024)) == {"type": "interrupt"}
        with pytest.raises(ProtocolError, match="too large"):
            recv_frame(theirs, 16)
    ours, theirs = socket.socketpair()
    with theirs:
        ours.sendall(encode({"type": "interrupt"})[:3])
        ours.close()
        with pytest.raises(EOFError):
            recv_frame(theirs, 1024)


def test_a_zygote_sent_a_malformed_control_message_exits_cleanly() -> None:
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": os.environ.get("PYTHONPATH", "")}
    zygote = subprocess.Popen(
        [sys.executable, "-m", "safekernel.worker.zygote", str(theirs.fileno()), "fake"],
        pass_fds=(theirs.fileno(),),
        env=env,
        stderr=subprocess.PIPE,
    )
    theirs.close()
    with ours:
        ours.sendall(encode({"type": "spawn", "sandbox": {}, "memory": "lots"}))
        _, stderr = zygote.communicate(timeout=30)
    assert zygote.returncode == 0
    assert b"Traceback" not in stderr
