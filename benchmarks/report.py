"""Row results, their targets, the printed table and the JSON file (format in README.md)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from benchmarks.stats import Summary

IPYKERNEL_BASELINE = "ipykernel"


@dataclass(frozen=True)
class Target:
    """A row's goal. Every bound given must hold; ratio = safekernel / baseline (medians)."""

    text: str
    max_ratio: float | None = None
    min_ratio: float | None = None
    max_value: float | None = None
    """An absolute bound on safekernel's median, in the row's unit."""

    def met(self, value: float | None, ratio: float | None) -> bool | None:
        """True or False when the bounds can be checked, None when a number is missing."""
        if value is None:
            return None
        if self.max_value is None and self.max_ratio is None and self.min_ratio is None:
            return None  # a row that only shows where the time goes (P1-floor)
        checks: list[bool] = []
        if self.max_value is not None:
            checks.append(value <= self.max_value)
        if self.max_ratio is not None or self.min_ratio is not None:
            if ratio is None:
                return None
            if self.max_ratio is not None:
                checks.append(ratio <= self.max_ratio)
            if self.min_ratio is not None:
                checks.append(ratio >= self.min_ratio)
        return all(checks)


@dataclass
class RowResult:
    key: str
    title: str
    unit: str
    target: Target
    baseline_name: str
    """"ipykernel", a reference such as "safekernel P1" or "raw lupa.lua54", or "" (none)."""
    safekernel: Summary | None
    baseline: Summary | None
    higher_is_better: bool = False
    errors: dict[str, str] = field(default_factory=dict)
    """Why a side (safekernel, ipykernel or reference) has no number."""
    notes: list[str] = field(default_factory=list)

    @property
    def ratio(self) -> float | None:
        if self.safekernel is None or self.baseline is None or self.baseline.median == 0:
            return None
        return self.safekernel.median / self.baseline.median

    @property
    def met(self) -> bool | None:
        value = self.safekernel.median if self.safekernel else None
        return self.target.met(value, self.ratio)

    def to_json(self) -> dict[str, Any]:
        safe, base = self.safekernel, self.baseline
        is_ipykernel = self.baseline_name == IPYKERNEL_BASELINE
        row: dict[str, Any] = {
            "title": self.title,
            "unit": self.unit,
            "safekernel": safe.median if safe else None,
            "ipykernel": base.median if base and is_ipykernel else None,
        }
        if self.baseline_name and not is_ipykernel:
            row["reference"] = base.median if base else None
            row["reference_name"] = self.baseline_name
        row |= {
            "ratio": self.ratio,
            "target": self.target.text,
            "met": self.met,
            "higher_is_better": self.higher_is_better,
            "p95": {
                "safekernel": safe.p95 if safe else None,
                "baseline": base.p95 if base else None,
            },
            "n": {"safekernel": safe.n if safe else 0, "baseline": base.n if base else 0},
            "errors": self.errors,
            "notes": self.notes,
        }
        return row


def results_json(rows: list[RowResult], meta: dict[str, Any]) -> dict[str, Any]:
    return {"meta": meta} | {row.key: row.to_json() for row in rows}


HEADERS = (
    "row",
    "what",
    "unit",
    "safekernel",
    "p95",
    "vs",
    "median",
    "p95",
    "ratio",
    "target",
    "met",
)
RIGHT_ALIGNED = {3, 4, 6, 7, 8}


def format_table(rows: list[RowResult]) -> str:
    cells = [HEADERS] + [_table_row(row) for row in rows]
    widths = [max(len(line[i]) for line in cells) for i in range(len(HEADERS))]
    lines = []
    for line in cells:
        padded = [
            text.rjust(width) if i in RIGHT_ALIGNED else text.ljust(width)
            for i, (text, width) in enumerate(zip(line, widths, strict=True))
        ]
        lines.append("  ".join(padded).rstrip())
    lines.insert(1, "-" * len(lines[0]))
    return "\n".join(lines)


def format_notes(rows: list[RowResult], skip_errors: str = "") -> str:
    """Per-row notes and errors; errors equal to `skip_errors` are said once elsewhere."""
    lines = []
    for row in rows:
        errors = {side: why for side, why in row.errors.items() if why != skip_errors}
        lines += [f"{row.key}: {side} not measured: {why}" for side, why in errors.items()]
        lines += [f"{row.key}: {note}" for note in row.notes]
    return "\n".join(lines)


def _table_row(row: RowResult) -> tuple[str, ...]:
    safe, base = row.safekernel, row.baseline
    met = {True: "yes", False: "NO", None: "n/a"}[row.met]
    return (
        row.key,
        row.title,
        row.unit,
        _number(safe.median if safe else None),
        _number(safe.p95 if safe else None),
        row.baseline_name or "(absolute)",
        _number(base.median if base else None),
        _number(base.p95 if base else None),
        "—" if row.ratio is None else f"{row.ratio:.2f}",
        row.target.text,
        met,
    )


def _number(value: float | None) -> str:
    if value is None:
        return "—"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"
