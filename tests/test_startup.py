"""What start-up speed and memory rest on: the worker side stays free of asyncio."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def test_worker_side_imports_no_asyncio_ipykernel_or_zmq() -> None:
    code = (
        "import sys, safekernel.zygote, safekernel.runtimes.lua\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & "
        "{'asyncio', 'ipykernel', 'zmq', 'IPython', 'jupyter_client'}))"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
    )
    assert out.stdout.strip() == "[]"
