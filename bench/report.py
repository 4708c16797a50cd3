"""Rows of results: what was measured, against what, the target, and the verdict.

Every row is one figure next to its same-run baseline. The verdict is PASS or MISS against the
issue's target, INFO for a number shown for context without a target, and SKIP when the figure
could not be measured (the reason is in the note).
"""

from __future__ import annotations

import json
import math
import os
import platform
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

Status = Literal["PASS", "MISS", "INFO", "SKIP"]


@dataclass
class Row:
    """One figure of the table."""

    figure: str
    """Which figure family, e.g. ``"1 MCP send"``."""
    case: str
    """What exactly, e.g. ``"8 clients"``."""
    value: float
    unit: str
    baseline: float = math.nan
    """The same-run baseline in the same unit (NaN when there is none)."""
    baseline_name: str = ""
    ratio: float = math.nan
    """The number the target is about; how it is formed is in ``target``."""
    target: str = ""
    passed: bool | None = None
    """True/False against the target; None for INFO and SKIP rows."""
    skipped: bool = False
    note: str = ""
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def status(self) -> Status:
        """PASS, MISS, INFO or SKIP."""
        if self.skipped:
            return "SKIP"
        if self.passed is None:
            return "INFO"
        return "PASS" if self.passed else "MISS"

    @classmethod
    def skip(cls, figure: str, case: str, reason: str) -> Row:
        """A figure that could not be measured, and why."""
        return cls(figure, case, math.nan, "", skipped=True, note=f"skipped: {reason}")


def _number(value: float, unit: str = "") -> str:
    if isinstance(value, float) and math.isnan(value):
        return "-"
    if abs(value) >= 100:
        text = f"{value:,.0f}"
    elif abs(value) >= 10:
        text = f"{value:.1f}"
    else:
        text = f"{value:.2f}"
    return f"{text} {unit}".strip()


def render(rows: Sequence[Row]) -> str:
    """The table as fixed-width text (also used verbatim in docs/performance.md)."""
    header = ("figure", "case", "value", "baseline", "ratio", "target", "result")
    lines = [
        (
            row.figure,
            row.case,
            _number(row.value, row.unit),
            _number(row.baseline, row.unit)
            + (f" ({row.baseline_name})" if row.baseline_name else ""),
            _number(row.ratio),
            row.target,
            row.status,
        )
        for row in rows
    ]
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *lines, strict=True)]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(str(c).ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()

    out = [line(header), line(["-" * w for w in widths])]
    out += [line(cells) for cells in lines]
    notes = [f"  [{row.figure} / {row.case}] {row.note}" for row in rows if row.note]
    if notes:
        out += ["", "notes:", *notes]
    return "\n".join(out)


def _clean(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


def write_json(path: Path, rows: Sequence[Row], *, scale: str, elapsed_s: float) -> None:
    """Write the results file (NaN becomes null), atomically."""
    document = {
        "scale": scale,
        "elapsed_s": round(elapsed_s, 1),
        "machine": {
            "python": sys.version.split()[0],
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
        },
        "rows": [{**_clean(asdict(row)), "status": row.status} for row in rows],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)
