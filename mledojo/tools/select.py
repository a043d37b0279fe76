"""`select_features`: choose feature columns on the training table, apply the choice to others.

Methods: `variance` (drop near-constant columns), `correlation` (drop one of each pair
more correlated than `threshold`), `importance` (keep the `k` most important columns of a
quick random forest), all learnt from `train` only; `keep` / `drop` name columns outright.
The target, id, time and group columns always stay.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import Field

from ._base import HANDLE_PATTERN, MAX_LIST, ToolArgs, ToolArgumentError
from ._columns import infer_task
from ._data import TableMeta, read_table, write_table
from ._model import threads

MAX_SAMPLE = 50_000


class SelectArgs(ToolArgs):
    """Arguments of `select_features`."""

    train: str
    apply_to: list[str] = Field(default_factory=list, max_length=8)
    method: Literal["variance", "correlation", "importance", "explicit"] = "importance"
    k: int = Field(default=30, ge=1, le=5000, description="importance: how many columns to keep")
    threshold: float = Field(
        default=0.95,
        ge=0.0,
        le=1.0,
        description="correlation: drop above; variance: drop at or below",
    )
    keep: list[str] = Field(default_factory=list, max_length=MAX_LIST)
    drop: list[str] = Field(default_factory=list, max_length=MAX_LIST)
    name: str = Field(default="selected", pattern=HANDLE_PATTERN, max_length=50)
    seed: int = Field(default=0, ge=0, le=2**31 - 1)


def select_features(args: SelectArgs) -> dict[str, Any]:
    """Select on `train`, apply everywhere; see the module docstring."""
    train = read_table(args.train, argument="train")
    if train.meta.role in ("valid", "test"):
        raise ToolArgumentError(
            f"argument `train`: {train.path} is a {train.meta.role} part; select on training data"
        )
    meta = train.meta
    fixed = [
        c
        for c in (meta.target, meta.id_column, meta.time_column, meta.group_column)
        if c and c in train.frame.columns
    ]
    candidates = [c for c in train.frame.columns if c not in fixed and c not in args.drop]
    numeric = [c for c in candidates if pd.api.types.is_numeric_dtype(train.frame[c])]
    for c in args.keep + args.drop:
        if c not in train.frame.columns:
            raise ToolArgumentError(
                f"argument `keep`/`drop`: no column {c[:80]!r} in the training table"
            )
    if args.method == "explicit":
        chosen = list(args.keep) if args.keep else candidates
    elif args.method == "variance":
        var = train.frame[numeric].var()
        chosen = [
            c
            for c in candidates
            if c not in numeric or (pd.notna(var[c]) and var[c] > args.threshold)
        ]
    elif args.method == "correlation":
        chosen = _decorrelate(train.frame[numeric], args.threshold)
        chosen += [c for c in candidates if c not in numeric]
    else:
        if not meta.target:
            raise ToolArgumentError(
                "method `importance` needs a table with a target (from split_dataset)"
            )
        chosen = _important(train.frame, numeric, meta.target, args.k, args.seed)
    chosen = list(dict.fromkeys([*chosen, *args.keep]))
    columns = fixed + [c for c in train.frame.columns if c in chosen and c not in fixed]
    outputs = {"train": write_table(train.frame[columns], f"{args.name}_train", _derived(meta))}
    for i, p in enumerate(args.apply_to):
        other = read_table(p, argument=f"apply_to[{i}]")
        present = [c for c in columns if c in other.frame.columns]
        lacking = [c for c in columns if c not in other.frame.columns and c != meta.target]
        if lacking:
            raise ToolArgumentError(
                f"argument `apply_to[{i}]`: lacks {', '.join(lacking[:10])}; "
                "transform it like the training table"
            )
        key = other.meta.role if other.meta.role not in outputs else f"{other.meta.role}{i}"
        outputs[key] = write_table(other.frame[present], f"{args.name}_{key}", _derived(other.meta))
    dropped = [c for c in candidates if c not in chosen]
    return {
        "outputs": outputs,
        "kept": [c for c in columns if c not in fixed][:300],
        "dropped": dropped[:300],
        "n_kept": len(columns) - len(fixed),
    }


def _derived(meta: TableMeta) -> TableMeta:
    return meta.model_copy(update={"created_by": "select_features"})


def _decorrelate(df: pd.DataFrame, threshold: float) -> list[str]:
    corr = df.corr().abs()
    kept: list[str] = []
    for c in df.columns:
        if all(not (corr.loc[c, k] > threshold) for k in kept):
            kept.append(c)
    return kept


def _important(df: pd.DataFrame, numeric: list[str], target: str, k: int, seed: int) -> list[str]:
    from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor

    if not numeric:
        raise ToolArgumentError(
            "no numeric columns to rank; encode columns with engineer_features first"
        )
    sample = df.sample(n=min(len(df), MAX_SAMPLE), random_state=seed)
    X = sample[numeric].astype(float).fillna(sample[numeric].median()).fillna(0.0)
    y = sample[target]
    regression = infer_task(df[target]) == "regression"
    cls = RandomForestRegressor if regression else RandomForestClassifier
    forest = cls(n_estimators=50, max_depth=8, n_jobs=threads(), random_state=seed)
    forest.fit(X, y.astype(float) if regression else y.astype(str))
    order = np.argsort(-forest.feature_importances_)
    return [numeric[i] for i in order[:k]]
