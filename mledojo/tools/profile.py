"""`profile_dataset`: a quick, JSON-friendly summary of a CSV table.

Inside the sandbox paths such as `/data/train.csv` are used as given; a relative path is
resolved against the workspace. The output only holds plain Python types.
"""

from __future__ import annotations

import math
import os
from typing import Any

import pandas as pd

MAX_CLASSES = 50
MAX_COLUMNS = 500


def profile_dataset(args: dict[str, Any]) -> dict[str, Any]:
    """Shape, dtypes, missing %, numeric stats and the target's distribution of a CSV file.

    Args (JSON): `path` (required), `target` (optional column name), `max_rows`
    (optional, read at most this many rows).
    """
    path = _resolve(str(args["path"]))
    target = args.get("target")
    max_rows = args.get("max_rows")
    df = pd.read_csv(path, nrows=int(max_rows) if max_rows else None)
    columns = list(df.columns[:MAX_COLUMNS])
    out: dict[str, Any] = {
        "path": path,
        "shape": [int(df.shape[0]), int(df.shape[1])],
        "columns_shown": len(columns),
        "dtypes": {str(c): str(df[c].dtype) for c in columns},
        "missing_pct": {str(c): _round(df[c].isna().mean() * 100) for c in columns},
        "n_unique": {str(c): int(df[c].nunique(dropna=True)) for c in columns},
        "numeric": _numeric_stats(df[columns]),
    }
    if target is not None:
        out["target"] = _target_summary(df, str(target))
    return out


def _resolve(path: str) -> str:
    """Relative paths are the workspace's; `/data/...` and `/workspace/...` follow the
    sandbox's `MLEDOJO_DATA` / `MLEDOJO_WORKSPACE`, so the same call works in every backend."""
    for prefix, var in (("/data/", "MLEDOJO_DATA"), ("/workspace/", "MLEDOJO_WORKSPACE")):
        root = os.environ.get(var)
        if path.startswith(prefix) and root and not os.path.exists(path):
            return os.path.join(root, path[len(prefix) :])
    if os.path.isabs(path):
        return path
    return os.path.join(os.environ.get("MLEDOJO_WORKSPACE", os.getcwd()), path)


def _numeric_stats(df: pd.DataFrame) -> dict[str, dict[str, float | None]]:
    numeric = df.select_dtypes(include="number")
    stats: dict[str, dict[str, float | None]] = {}
    for col in numeric.columns:
        s = numeric[col].dropna()
        stats[str(col)] = {
            "mean": _round(s.mean()) if len(s) else None,
            "std": _round(s.std()) if len(s) > 1 else None,
            "min": _round(s.min()) if len(s) else None,
            "p50": _round(s.median()) if len(s) else None,
            "max": _round(s.max()) if len(s) else None,
        }
    return stats


def _target_summary(df: pd.DataFrame, target: str) -> dict[str, Any]:
    if target not in df.columns:
        raise KeyError(f"target column {target!r} not in {list(df.columns)[:20]}")
    s = df[target]
    summary: dict[str, Any] = {
        "name": target,
        "dtype": str(s.dtype),
        "missing_pct": _round(s.isna().mean() * 100),
    }
    n_unique = int(s.nunique(dropna=True))
    if n_unique <= MAX_CLASSES or not pd.api.types.is_numeric_dtype(s):
        counts = s.value_counts(dropna=True).head(MAX_CLASSES)
        summary["kind"] = "categorical"
        summary["n_classes"] = n_unique
        summary["distribution"] = {str(k): _round(v / max(1, len(s))) for k, v in counts.items()}
    else:
        summary["kind"] = "numeric"
        q = s.quantile([0.0, 0.25, 0.5, 0.75, 1.0])
        summary["quantiles"] = {str(k): _round(v) for k, v in q.items()}
        summary["mean"] = _round(s.mean())
        summary["std"] = _round(s.std())
    return summary


def _round(x: Any, digits: int = 6) -> float | None:
    try:
        value = float(x)
    except (TypeError, ValueError):
        return None
    if math.isnan(value) or math.isinf(value):
        return None
    return round(value, digits)
