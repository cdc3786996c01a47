"""`python -m benchmarks`: see README.md."""

from __future__ import annotations

from benchmarks.run import main

raise SystemExit(main())
