"""`explore_dataset`: aggregate views of a table for an LLM, never a row.

* `target_by`: the target's rate (classes) or mean (regression) per category of a column,
  or per quantile bin of a numeric column;
* `histograms`: bin edges and counts of numeric columns;
* `correlated_pairs`: the most correlated pairs of numeric columns;
* `time_trend`: rows and target per period of a time column;
* `groups`: how many rows each group of a group column has (a distribution, not names).
A group or a category is shown only when at least 5 rows share it; numbers are rounded.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import Field

from ._base import MAX_COLUMN_NAME, ToolArgs, ToolArgumentError
from ._columns import infer_task, parse_time
from ._data import MAX_ROWS, read_table, require_column
from ._safe import MIN_GROUP_ROWS, OTHER, label, num, require_rows

MAX_ITEMS = 30


class ExploreArgs(ToolArgs):
    """Arguments of `explore_dataset`."""

    path: str
    target: str | None = Field(default=None, max_length=MAX_COLUMN_NAME)
    target_by: list[str] = Field(default_factory=list, max_length=MAX_ITEMS, description="columns")
    histograms: list[str] = Field(
        default_factory=list, max_length=MAX_ITEMS, description="numeric columns"
    )
    bins: int = Field(default=10, ge=2, le=50)
    correlated_pairs: int = Field(default=0, ge=0, le=50, description="how many top pairs; 0: none")
    time_column: str | None = Field(default=None, max_length=MAX_COLUMN_NAME)
    period: Literal["hour", "day", "week", "month", "quarter", "year"] = "month"
    group_column: str | None = Field(default=None, max_length=MAX_COLUMN_NAME)
    max_rows: int | None = Field(default=None, ge=1, le=MAX_ROWS)


def explore_dataset(args: ExploreArgs) -> dict[str, Any]:
    """Run the requested views; see the module docstring."""
    table = read_table(args.path, argument="path", max_rows=args.max_rows)
    df = table.frame
    require_rows(len(df), table.path)
    out: dict[str, Any] = {"path": table.path, "rows": int(len(df))}
    target = require_column(table, args.target, argument="target") if args.target else None
    if args.target_by:
        if target is None:
            raise ToolArgumentError("argument `target` is required with `target_by`")
        out["target_by"] = {
            c: _target_by(df, require_column(table, c, argument="target_by"), target, args.bins)
            for c in args.target_by
        }
    if args.histograms:
        out["histograms"] = {
            c: _histogram(df[require_column(table, c, argument="histograms")], args.bins)
            for c in args.histograms
        }
    if args.correlated_pairs:
        out["correlated_pairs"] = _pairs(df, args.correlated_pairs)
    if args.time_column:
        column = require_column(table, args.time_column, argument="time_column")
        out["time_trend"] = _trend(df, column, target, args.period)
    if args.group_column:
        column = require_column(table, args.group_column, argument="group_column")
        sizes = df[column].value_counts()
        out["groups"] = {
            "n_groups": int(len(sizes)),
            "rows_per_group": {
                k: num(v) for k, v in sizes.describe()[["min", "mean", "50%", "max"]].items()
            },
        }
    return out


def _score(y: pd.Series, task: str) -> pd.Series:
    """The per-row value averaged per group: the target (regression) or 'is positive'."""
    if task == "regression":
        return y.astype(float)
    codes, classes = pd.factorize(y, sort=True)
    if task == "binary":
        return pd.Series(codes == len(classes) - 1, index=y.index, dtype=float).where(y.notna())
    return pd.Series(codes, index=y.index, dtype=float).where(y.notna())


def _target_by(df: pd.DataFrame, column: str, target: str, bins: int) -> dict[str, Any]:
    task = infer_task(df[target])
    value = _score(df[target], task)
    s = df[column]
    if pd.api.types.is_numeric_dtype(s) and s.nunique() > bins:
        keys = pd.qcut(s, q=bins, duplicates="drop")
        keys = keys.map(
            lambda iv: f"[{num(iv.left)}, {num(iv.right)}]" if pd.notna(iv) else "(missing)"
        )
    else:
        keys = s.map(label).fillna("(missing)")
    grouped = value.groupby(keys.astype(str), sort=False).agg(["size", "mean"])
    shown: dict[str, Any] = {}
    small = 0
    for key, row in grouped.sort_values("size", ascending=False).iterrows():
        if row["size"] >= MIN_GROUP_ROWS and len(shown) < MAX_ITEMS:
            shown[str(key)] = {"rows": int(row["size"]), "target_mean": num(row["mean"])}
        else:
            small += int(row["size"])
    if small:
        shown[OTHER] = {"rows": small}
    statistic = (
        "mean"
        if task == "regression"
        else "positive rate"
        if task == "binary"
        else "mean class code"
    )
    return {"statistic": statistic, "groups": shown}


def _histogram(s: pd.Series, bins: int) -> dict[str, Any]:
    v = s.dropna()
    if not pd.api.types.is_numeric_dtype(v) or v.empty:
        raise ToolArgumentError("argument `histograms`: only non-empty numeric columns")
    counts, edges = np.histogram(v.astype(float), bins=bins)
    return {
        "edges": [num(e) for e in edges],
        "counts": [int(c) for c in counts],
        "missing": int(s.isna().sum()),
    }


def _pairs(df: pd.DataFrame, top: int) -> list[dict[str, Any]]:
    numeric = df.select_dtypes(include="number")
    if numeric.shape[1] < 2:
        return []
    corr = numeric.iloc[:, :200].corr()
    upper = corr.where(np.triu(np.ones(corr.shape, dtype=bool), k=1)).stack()
    best = upper.reindex(upper.abs().sort_values(ascending=False).index).head(top)
    return [{"a": str(a), "b": str(b), "corr": num(c)} for (a, b), c in best.items()]


def _trend(df: pd.DataFrame, column: str, target: str | None, period: str) -> dict[str, Any]:
    times = parse_time(df[column])
    if times is None:
        raise ToolArgumentError(f"argument `time_column`: {column!r} holds no date or time stamps")
    freq = {"hour": "h", "day": "D", "week": "W", "month": "M", "quarter": "Q", "year": "Y"}[period]
    keys = times.dt.to_period(freq).astype(str)
    frame = pd.DataFrame({"key": keys})
    if target is not None:
        frame["y"] = _score(df[target], infer_task(df[target]))
    grouped = frame.groupby("key", sort=True)
    rows = grouped.size()
    means = grouped["y"].mean() if target is not None else None
    out: dict[str, Any] = {}
    for key in list(rows.index)[-200:]:
        if rows[key] < MIN_GROUP_ROWS:
            continue
        entry: dict[str, Any] = {"rows": int(rows[key])}
        if means is not None:
            entry["target_mean"] = num(means[key])
        out[str(key)] = entry
    return {"period": period, "periods": out}
