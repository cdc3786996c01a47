"""safekernel: a Jupyter kernel that runs untrusted Lua cells in a hardened, pooled worker.

Kept deliberately light: the worker side imports this package too and must never pull in
ipykernel or zmq (an import-linter contract in pyproject.toml checks it).
"""

from __future__ import annotations

__version__ = "0.1.0"
