"""ipykernel's `Kernel` base class with a `do_execute` that does nothing: the floor of any kernel
built on it, as safekernel is (P1-floor). What a trivial cell costs above this is ours: parsing
the cell, the worker's pipe round trip, the worker's Lua call, our IOPub frontend.

`python -m benchmarks.empty_kernel -f CONNECTION_FILE` (the harness launches it from the
repository root)."""

from __future__ import annotations

from typing import Any

from ipykernel.kernelapp import IPKernelApp
from ipykernel.kernelbase import Kernel


class EmptyKernel(Kernel):  # type: ignore[misc]
    implementation = "empty-base-kernel"
    implementation_version = "0"
    language_info = {"name": "lua", "mimetype": "text/x-lua", "file_extension": ".lua"}  # noqa: RUF012
    banner = "ipykernel's Kernel base class, do_execute does nothing"

    async def do_execute(
        self,
        code: str,
        silent: bool,
        store_history: bool = True,
        user_expressions: dict[str, Any] | None = None,
        allow_stdin: bool = False,
        **kwargs: Any,
    ) -> dict[str, Any]:
        return {
            "status": "ok",
            "execution_count": self.execution_count,
            "payload": [],
            "user_expressions": {},
        }


if __name__ == "__main__":
    IPKernelApp.launch_instance(kernel_class=EmptyKernel)
