"""Aggregates that cannot reveal a row: rounded numbers and categories seen often enough.

Profiling and exploration go to an LLM, so they must never carry a raw cell. Every number
derived from data is rounded to 4 significant digits (a minimum or maximum is still a
useful range, but not the exact reading of one row), and a category label or a group
statistic is shown only when at least `MIN_GROUP_ROWS` rows share it.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

MIN_GROUP_ROWS = 5
SIGNIFICANT_DIGITS = 4
MAX_LABEL_CHARS = 40
OTHER = "(other)"


def require_rows(rows: int, path: str) -> None:
    """A summary of fewer than 5 rows is those rows: refuse it."""
    from ._base import ToolArgumentError

    if rows < MIN_GROUP_ROWS:
        raise ToolArgumentError(
            f"{path} has {rows} row(s); summaries need at least {MIN_GROUP_ROWS} rows, so "
            "that they cannot show a row"
        )


def num(x: Any) -> float | None:
    """`x` rounded to 4 significant digits; None for missing, NaN or infinite values."""
    try:
        value = float(x)
    except (TypeError, ValueError):
        return None
    if math.isnan(value) or math.isinf(value):
        return None
    if value == 0:
        return 0.0
    digits = SIGNIFICANT_DIGITS - 1 - math.floor(math.log10(abs(value)))
    return float(round(value, digits))


def label(value: Any) -> str:
    """A category label as shown: text, cut to 40 characters."""
    return str(value)[:MAX_LABEL_CHARS]


def frequent_counts(series: pd.Series, top: int) -> dict[str, int]:
    """Counts of the `top` most common values seen in >= MIN_GROUP_ROWS rows; rarer ones
    are lumped into `(other)`."""
    counts = series.value_counts(dropna=True)
    shown: dict[str, int] = {}
    other = 0
    for value, count in counts.items():
        if count >= MIN_GROUP_ROWS and len(shown) < top:
            shown[label(value)] = int(count)
        else:
            other += int(count)
    if other:
        shown[OTHER] = other
    return shown


def time_bounds(series: pd.Series) -> dict[str, str | None]:
    """First and last day of a datetime column (to the day, not the exact stamp)."""
    s = series.dropna()
    if s.empty:
        return {"first_day": None, "last_day": None}
    return {"first_day": str(s.min().date()), "last_day": str(s.max().date())}
