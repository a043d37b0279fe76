"""A faster `DataFrame.to_csv(path, index=False)` for plain tables (numbers, text, times).

Prediction-case layouts write hundreds of thousands of history rows per data seed, and
pandas spends most of that time formatting floats. Python's own float `repr` (the shortest
text that reads back to the same float, which is also what pandas writes) is about twice as
fast in bulk. The output is byte-identical to pandas' for the column kinds accepted here;
anything else is refused rather than written differently.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from mledojo.errors import DataError

_NEEDS_QUOTES = (",", '"', "\n", "\r")


def write_csv(frame: pd.DataFrame, path: Path) -> None:
    """Write `frame` without its index, as `frame.to_csv(path, index=False)` would."""
    columns = [_column_text(frame, name) for name in frame.columns]
    header = ",".join(_header(str(c)) for c in frame.columns)
    lines = map(",".join, zip(*columns, strict=True))
    with path.open("w", encoding="utf-8", newline="") as f:
        f.write(header + "\n")
        if columns and columns[0]:
            f.write("\n".join(lines) + "\n")


def _header(name: str) -> str:
    if any(ch in name for ch in _NEEDS_QUOTES):
        raise DataError(f"column name {name!r} would need CSV quoting; rename it")
    return name


def _each_distinct(values: np.ndarray, fmt: Callable[[np.ndarray], list[str]]) -> list[str]:
    """The text of each row, formatting each distinct value once (`fmt` maps an array to text).

    Sensor columns rounded to a few decimals repeat each value dozens of times, and a time
    column repeats each hour once per pump, so this is several times faster than formatting
    every row.
    """
    distinct, inverse = np.unique(values, return_inverse=True)
    table = np.array(fmt(distinct), dtype=object)
    return table[inverse.ravel()].tolist()  # type: ignore[no-any-return]


def _floats(values: np.ndarray) -> list[str]:
    return ["" if v != v else float.__repr__(v) for v in values.tolist()]  # v != v: NaN


def _column_text(frame: pd.DataFrame, name: object) -> list[str]:
    """The CSV text of one column, one string per row (empty for a missing value)."""
    series = frame[name]
    values = series.to_numpy()
    kind = values.dtype.kind
    if kind == "f":
        if (np.signbit(values) & (values == 0)).any():  # np.unique merges -0.0 with 0.0
            return _floats(values)
        return _each_distinct(values, _floats)
    if kind in "iu":
        return _each_distinct(values, lambda d: list(map(str, d.tolist())))
    if kind == "M":  # pandas writes dates only when every time is midnight
        if series.isna().any() or (series.dt.floor("s") != series).any():
            raise DataError(f"column `{name}`: only whole-second, non-missing times are supported")
        unit: Literal["D", "s"] = "D" if (series.dt.normalize() == series).all() else "s"
        return _each_distinct(
            values,
            lambda d: [t.replace("T", " ") for t in np.datetime_as_string(d, unit=unit).tolist()],
        )
    if pd.api.types.is_string_dtype(series) and not series.isna().any():
        codes, distinct = pd.factorize(series)
        text = [str(v) for v in distinct.tolist()]
        if any(ch in v for v in text for ch in _NEEDS_QUOTES):
            raise DataError(f"column `{name}`: values that need CSV quoting are not supported")
        return np.array(text, dtype=object)[codes].tolist()  # type: ignore[no-any-return]
    raise DataError(f"column `{name}` of dtype {series.dtype} is not supported by write_csv")
