"""Medians and tails of a sample."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100), interpolating linearly between ranks (numpy's default)."""
    if not values:
        raise ValueError("percentile of an empty sample")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


@dataclass(frozen=True)
class Summary:
    n: int
    median: float
    p95: float
    """The slow 5 %: the 95th percentile of a cost, the 5th percentile of a rate."""


def summarize(samples: Sequence[float], *, higher_is_better: bool = False) -> Summary | None:
    if not samples:
        return None
    tail = percentile(samples, 5 if higher_is_better else 95)
    return Summary(n=len(samples), median=statistics.median(samples), p95=tail)
