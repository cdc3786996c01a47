"""Command line of the benchmark: `python -m benchmarks` or `python benchmarks/run.py`.

Options are described by `--help` and in README.md.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROW_KEYS = ("P1", "P2", "P3", "P4", "P5", "P6", "P7", "P8", "P9", "P10", "P11", "P12", "P13", "P14")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Measure safekernel and ipykernel side by side (rows P1-P14, see README.md).",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="CI mode: few repetitions, smaller P9 and P12, a few minutes",
    )
    parser.add_argument("--json", metavar="FILE", help="also write the results as JSON to FILE")
    parser.add_argument(
        "--allow-missing",
        action="store_true",
        help="exit 0 even when safekernel cannot be started or a safekernel row cannot be measured",
    )
    parser.add_argument(
        "--rows",
        default=",".join(ROW_KEYS),
        help="comma-separated rows to run, e.g. P1,P5 (P3 and P4 also run P1); default: all",
    )
    parser.add_argument(
        "--safekernel-option",
        action="append",
        default=[],
        metavar="OPTION",
        help="extra option for every safekernel launch, e.g. "
        "--safekernel-option=--SafeKernel.pool_size=2 (repeatable)",
    )
    parser.add_argument(
        "--verbose", action="store_true", help="print tracebacks of unexpected errors"
    )
    args = parser.parse_args(argv)
    rows = tuple(key.strip().upper() for key in args.rows.split(",") if key.strip())
    unknown = [key for key in rows if key not in ROW_KEYS]
    if unknown or not rows:
        known = ", ".join(ROW_KEYS)
        parser.error(f"--rows: unknown row(s) {', '.join(unknown)}; choose from {known}")
    args.rows = rows
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not __package__:
        # Run as a script: make the repository root importable so `benchmarks` is a package.
        sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    # Imported only now, after the path fix above.
    from benchmarks import suite
    from benchmarks.plan import FULL, QUICK, Options

    options = Options(
        plan=QUICK if args.quick else FULL,
        rows=args.rows,
        json_path=args.json,
        allow_missing=args.allow_missing,
        safekernel_options=tuple(args.safekernel_option),
        verbose=args.verbose,
    )
    return suite.main(options)


if __name__ == "__main__":
    raise SystemExit(main())
