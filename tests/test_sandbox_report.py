"""The sandbox report a user sees: every layer active, in kernel_info and in `%sandbox`, both as
root (the worker drops to nobody) and as a normal user (a user namespace for the network)."""

from __future__ import annotations

import os

from tests.conftest import Kernel

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


def _layers(kernel: Kernel) -> dict[str, dict[str, str]]:
    reply = kernel.kc.kernel_info(reply=True, timeout=30)
    return {layer["name"]: layer for layer in reply["content"]["safekernel"]["layers"]}


def test_every_layer_is_active_in_kernel_info(kernel: Kernel) -> None:
    layers = _layers(kernel)
    assert sorted(layers) == sorted(LAYERS)
    assert {name: layer["state"] for name, layer in layers.items()} == dict.fromkeys(
        LAYERS, "active"
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


def test_sandbox_magic_prints_every_layer(kernel: Kernel) -> None:
    run = kernel.run("%sandbox")
    assert run.status == "ok"
    rows = {line.split()[0]: line.split()[1] for line in run.stdout.splitlines()[1:]}
    assert rows == dict.fromkeys(LAYERS, "active")
