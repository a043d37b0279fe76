"""`profile_dataset`: what an LLM may know about a table, as aggregates only.

Shape, per-column kind, missing share, unique counts, rounded numeric statistics, the
frequent categories, the date range, candidate id/time/group columns, and the target's
distribution with the features most correlated with it. Never a row: numbers are rounded
to 4 significant digits and a category is named only when at least 5 rows share it.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from pydantic import Field

from ._base import ToolArgs
from ._columns import MAX_CLASSES, column_kind, infer_task, parse_time
from ._data import MAX_ROWS, read_table, require_column
from ._safe import frequent_counts, num, require_rows, time_bounds

MAX_COLUMNS_SHOWN = 300
MAX_CORRELATIONS = 15


class ProfileArgs(ToolArgs):
    """Arguments of `profile_dataset`."""

    path: str = Field(description="table to profile: /data/train.csv, a tool handle's path, ...")
    target: str | None = Field(default=None, description="target column, for its distribution")
    max_rows: int | None = Field(
        default=None, ge=1, le=MAX_ROWS, description="read at most this many rows"
    )
    top_categories: int = Field(
        default=10, ge=1, le=MAX_CLASSES, description="categories shown per column"
    )


def profile_dataset(args: ProfileArgs) -> dict[str, Any]:
    """Profile one table; see the module docstring."""
    table = read_table(args.path, argument="path", max_rows=args.max_rows)
    df = table.frame
    require_rows(len(df), table.path)
    target = require_column(table, args.target, argument="target") if args.target else None
    columns = list(df.columns[:MAX_COLUMNS_SHOWN])
    profiles = {c: _column(df[c], args.top_categories) for c in columns}
    out: dict[str, Any] = {
        "path": table.path,
        "role": table.meta.role,
        "shape": [int(len(df)), int(df.shape[1])],
        "columns_shown": len(columns),
        "duplicate_rows": int(df.duplicated().sum()),
        "column_profiles": profiles,
        "candidates": _candidates(df, profiles, target),
    }
    if target is not None:
        out["target"] = _target(df[list(dict.fromkeys([*columns, target]))], target)
    return out


def _column(s: pd.Series, top: int) -> dict[str, Any]:
    kind = column_kind(s)
    info: dict[str, Any] = {
        "dtype": str(s.dtype),
        "kind": kind,
        "missing_pct": num(s.isna().mean() * 100),
        "n_unique": int(s.nunique(dropna=True)),
    }
    if kind == "numeric":
        v = s.dropna()
        q = v.quantile([0.0, 0.25, 0.5, 0.75, 1.0]) if len(v) else None
        info.update(
            mean=num(v.mean()) if len(v) else None,
            std=num(v.std()) if len(v) > 1 else None,
            min=num(q.iloc[0]) if q is not None else None,
            p25=num(q.iloc[1]) if q is not None else None,
            p50=num(q.iloc[2]) if q is not None else None,
            p75=num(q.iloc[3]) if q is not None else None,
            max=num(q.iloc[4]) if q is not None else None,
            zeros_pct=num((v == 0).mean() * 100) if len(v) else None,
        )
    elif kind == "datetime":
        parsed = parse_time(s)
        if parsed is not None:
            info.update(time_bounds(parsed))
    elif kind in ("categorical", "boolean"):
        info["top_values"] = frequent_counts(s, top)
    else:
        lengths = s.dropna().astype(str).str.len()
        info["mean_length"] = num(lengths.mean()) if len(lengths) else None
    return info


def _candidates(
    df: pd.DataFrame, profiles: dict[str, dict[str, Any]], target: str | None
) -> dict[str, list[str]]:
    rows = max(1, len(df))
    ids, times, groups = [], [], []
    for c, p in profiles.items():
        if c == target:
            continue
        if p["n_unique"] == rows and p["kind"] in ("numeric", "text", "categorical"):
            if p["kind"] != "numeric" or "id" in c.lower():
                ids.append(c)
        if p["kind"] == "datetime":
            times.append(c)
        if p["kind"] == "categorical" and 2 <= p["n_unique"] <= 1000 and p["n_unique"] < rows / 5:
            groups.append(c)
    return {"id_columns": ids, "time_columns": times, "group_columns": groups}


def _target(df: pd.DataFrame, target: str) -> dict[str, Any]:
    s = df[target]
    task = infer_task(s)
    out: dict[str, Any] = {"name": target, "task": task, "missing_pct": num(s.isna().mean() * 100)}
    if task == "regression":
        v = s.dropna()
        out.update(mean=num(v.mean()), std=num(v.std()), skew=num(v.skew()))
        out["quantiles"] = {
            str(k): num(x) for k, x in v.quantile([0.05, 0.25, 0.5, 0.75, 0.95]).items()
        }
    else:
        counts = frequent_counts(s, MAX_CLASSES)
        total = max(1, int(s.notna().sum()))
        out["n_classes"] = int(s.nunique(dropna=True))
        out["distribution"] = {k: num(v / total) for k, v in counts.items()}
        shares = list(counts.values())
        out["imbalance_ratio"] = num(max(shares) / max(1, min(shares))) if shares else None
    out["correlations"] = _correlations(df, target, task)
    return out


def _correlations(df: pd.DataFrame, target: str, task: str) -> dict[str, float | None]:
    """Spearman correlation of each numeric column with the target (codes for classes)."""
    y = df[target]
    if task != "regression":
        y = pd.Series(pd.factorize(y, sort=True)[0], index=df.index).where(y.notna())
        if task == "multiclass":
            return {}
    numeric = df.drop(columns=[target]).select_dtypes(include="number")
    numeric = numeric.loc[:, numeric.nunique() > 1]  # a constant column has no correlation
    if numeric.empty or y.nunique() < 2:
        return {}
    corr = numeric.corrwith(y.astype(float), method="spearman").dropna()
    top = corr.reindex(corr.abs().sort_values(ascending=False).index).head(MAX_CORRELATIONS)
    return {str(k): num(v) for k, v in top.items()}
