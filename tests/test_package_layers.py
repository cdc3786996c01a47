"""The trust boundary in the imports: what loading the kernel side pulls in. import-linter checks
the import statements (pyproject.toml); this checks what a real import loads, dynamic imports
included."""

from __future__ import annotations

import subprocess
import sys


def _loaded_by(statement: str) -> list[str]:
    code = f"import sys\n{statement}\nprint('\\n'.join(sorted(sys.modules)))\n"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    return result.stdout.split()


def test_the_kernel_loads_no_sandbox_layer_and_no_runtime() -> None:
    loaded = _loaded_by("import safekernel.kernel.kernel, safekernel.kernel.app")
    assert "safekernel.kernel.kernel" in loaded
    assert [m for m in loaded if m.startswith("safekernel.sandbox")] == []
    for layer in ("seccomp", "landlock", "privileges"):
        assert f"safekernel.sandbox.{layer}" not in loaded
    runtimes = [m for m in loaded if m.startswith("safekernel.runtimes.")]
    assert all(
        m.startswith(("safekernel.runtimes.registry", "safekernel.runtimes.base")) for m in runtimes
    )
    assert not [m for m in loaded if m == "lupa" or m.startswith("lupa.")]


def test_the_worker_side_loads_no_kernel_side() -> None:
    loaded = _loaded_by("import safekernel.worker.zygote, safekernel.worker.loop")
    assert "safekernel.sandbox.seccomp" in loaded
    assert [m for m in loaded if m.startswith("safekernel.kernel")] == []
    for module in ("asyncio", "zmq", "ipykernel", "jupyter_client"):
        assert module not in loaded
