"""The sandbox report a user sees: every layer active, in kernel_info and in `%sandbox`, both as
root (the worker drops to nobody) and as a normal user (a user namespace for the network)."""

from __future__ import annotations

import os
import re

import psutil
import pytest

from tests.conftest import ALL_RUNTIMES, Kernel, wait_for, workers, zygotes

#: run against every runtime (each reports the same OS layers around its interpreter)
RUNTIMES = ALL_RUNTIMES

LAYERS = (
    "process",
    "network",
    "rlimits",
    "privileges",
    "no_new_privs",
    "not_dumpable",
    "landlock",
    "nproc",
    "seccomp",
)


def expected_layers(runtime: str) -> tuple[str, ...]:
    """The OS layers, and the WebAssembly instance's own wall around a wasm or python guest."""
    return LAYERS + (() if runtime == "lua" else ("wasm",))


def _layers(kernel: Kernel) -> dict[str, dict[str, str]]:
    reply = kernel.kc.kernel_info(reply=True, timeout=30)
    return {layer["name"]: layer for layer in reply["content"]["safekernel"]["layers"]}


def test_every_layer_is_active_in_kernel_info(kernel: Kernel, runtime: str) -> None:
    layers = _layers(kernel)
    assert sorted(layers) == sorted(expected_layers(runtime))
    assert {name: layer["state"] for name, layer in layers.items()} == dict.fromkeys(
        expected_layers(runtime), "active"
    )


def test_privileges_match_who_runs_the_kernel(kernel: Kernel) -> None:
    layers = _layers(kernel)
    if os.geteuid() == 0:
        assert "root dropped to uid 65534" in layers["privileges"]["detail"]
        assert "user namespace" not in layers["network"]["detail"]
    else:
        # a normal user: its own uid, a user namespace for the network, no capability kept
        assert "already unprivileged" in layers["privileges"]["detail"]
        assert "no capabilities" in layers["privileges"]["detail"]
        assert "user namespace" in layers["network"]["detail"]


def _status(process: psutil.Process) -> dict[str, str]:
    with open(f"/proc/{process.pid}/status") as status:
        return dict(line.rstrip("\n").split(":\t", 1) for line in status if ":\t" in line)


def test_the_report_names_the_ids_the_host_sees(kernel: Kernel) -> None:
    """As root the worker is nobody; as a normal user it keeps the kernel's ids, and the
    report says those, not 65534 (what a user namespace without an id map shows inside)."""
    uid, gid = (65534, 65534) if os.geteuid() == 0 else (os.getuid(), os.getgid())
    detail = _layers(kernel)["privileges"]["detail"]
    assert re.search(rf"\buid {uid} gid {gid}\b", detail), detail
    if os.geteuid() != 0:
        assert "65534" not in detail
        assert (
            f"uid {uid} and gid {gid} mapped to themselves" in _layers(kernel)["network"]["detail"]
        )
    assert wait_for(lambda: workers(kernel) != [])
    for worker in workers(kernel):
        # what the host's /proc says about the worker, read from outside its namespaces
        status = _status(worker)
        assert status["Uid"].split() == [str(uid)] * 4
        assert status["Gid"].split() == [str(gid)] * 4


def test_workers_hold_no_capability_in_any_set(kernel: Kernel) -> None:
    """Effective, permitted, inheritable, ambient and bounding sets all empty, as root and in a
    normal user's own user namespace (where the worker starts with every capability)."""
    if os.geteuid() != 0:
        assert "empty bounding set" in _layers(kernel)["privileges"]["detail"]
    assert wait_for(lambda: workers(kernel) != [])
    for worker in workers(kernel):
        status = _status(worker)
        for name in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"):
            assert int(status[name], 16) == 0, f"{name} {status[name]}"


def test_sandbox_magic_prints_every_layer(kernel: Kernel, runtime: str) -> None:
    run = kernel.run("%sandbox")
    assert run.status == "ok"
    rows = {line.split()[0]: line.split()[1] for line in run.stdout.splitlines()[1:]}
    assert rows == dict.fromkeys(expected_layers(runtime), "active")


def _net_ns(pid: int) -> str:
    return os.readlink(f"/proc/{pid}/ns/net")


@pytest.mark.skipif(os.geteuid() != 0, reason="a worker's /proc/<pid>/ns needs root to read")
def test_workers_share_their_zygotes_network_namespace_only(
    kernel: Kernel, fresh_kernel: Kernel
) -> None:
    """One network namespace per kernel, made by its zygote: its workers are in it, the kernel
    (the host's network) is not, and another kernel's workers are in another one."""
    namespaces = []
    for each in (kernel, fresh_kernel):
        assert each.run("1").status == "ok"
        assert wait_for(lambda each=each: workers(each) != [])
        (zygote,) = zygotes(each)
        assert {_net_ns(worker.pid) for worker in workers(each)} == {_net_ns(zygote.pid)}
        assert _net_ns(zygote.pid) != _net_ns(each.pid)
        namespaces.append(_net_ns(zygote.pid))
    assert namespaces[0] != namespaces[1]
