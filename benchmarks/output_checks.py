"""What the kernel's output checks (kernel/outputs.py) cost on hostile outputs: CPU seconds and
peak traced memory per check, in this process (no kernel needed).

    python -m benchmarks.output_checks                      # this checkout's checks
    python -m benchmarks.output_checks --outputs OLD.py     # another version of outputs.py

Each case is an output a worker can send for a few Lua string operations; the checks must be
linear in its size and bounded in memory (SECURITY.md, "Flood accounting").
"""

from __future__ import annotations

import argparse
import importlib.util
import struct
import sys
import time
import tracemalloc
import zlib
from collections.abc import Callable
from types import ModuleType
from typing import Any

MIB = 1024 * 1024


def _png_of_empty_chunks(count: int) -> bytes:
    ihdr = b"IHDR" + struct.pack(">II", 1, 1) + b"\x08\x06\x00\x00\x00"
    head = b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + ihdr + struct.pack(">I", zlib.crc32(ihdr))
    empty = b"\x00\x00\x00\x00tEXt" + struct.pack(">I", zlib.crc32(b"tEXt"))
    return head + empty * count


CASES: dict[str, tuple[str, Callable[[], Any]]] = {
    "json: 7.8 MB of [],": ("application/json", lambda: "[" + "[]," * 2_600_000 + "[]]"),
    "json: 90k numbers (passes)": ("application/json", lambda: str(list(range(90_000)))),
    "json: 1 MB string of commas": ("application/json", lambda: '{"s": "' + "a," * MIB + '"}'),
    "jpeg: 7 MB of fill bytes": (
        "image/jpeg",
        lambda: b"\xff\xd8" + b"\xff" * (7 * MIB) + b"\xc0\x00\x11\xff\xd9",
    ),
    "jpeg: 2M tiny segments": (
        "image/jpeg",
        lambda: b"\xff\xd8" + b"\xff\xfe\x00\x02" * 2_000_000 + b"\xff\xd9",
    ),
    "png: 500k empty chunks": ("image/png", lambda: _png_of_empty_chunks(500_000)),
    "html: 7 MB": ("text/html", lambda: "<p>" + "x" * (7 * MIB) + "</p>"),
}


def _load(path: str | None) -> ModuleType:
    if path is None:
        from safekernel.kernel import outputs

        return outputs
    spec = importlib.util.spec_from_file_location("outputs_under_test", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _check(outputs: ModuleType, mime: str, value: Any) -> str:
    try:
        outputs.OutputCheck(max_output=16 * MIB, max_cell=64 * MIB).bundle({mime: value})
    except outputs.Refused as refused:
        return "refused: " + str(refused).removeprefix("an ")[:50]
    return "passed"


def measure(outputs: ModuleType, mime: str, value: Any) -> tuple[float, int, str]:
    """CPU seconds (untraced), peak traced bytes and the outcome of checking one output."""
    started = time.process_time()
    outcome = _check(outputs, mime, value)
    cpu = time.process_time() - started
    tracemalloc.start()  # a second run: tracing slows Python-level loops several times over
    _check(outputs, mime, value)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return cpu, peak, outcome


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--outputs", help="path of another outputs.py to measure")
    args = parser.parse_args(argv)
    outputs = _load(args.outputs)
    print(f"{'case':<30}{'size':>9}{'CPU s':>9}{'peak MB':>9}  outcome")
    for name, (mime, make) in CASES.items():
        value = make()
        cpu, peak, outcome = measure(outputs, mime, value)
        print(f"{name:<30}{len(value) / MIB:>8.1f}M{cpu:>9.3f}{peak / MIB:>9.1f}  {outcome}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
