"""`resample_dataset`: rebalance the classes of a training part, and only of a training part.

Resampling a validation or test part would change the rows a model is judged on, and
resampling before splitting copies rows into both sides; so only a table whose role is
`train` (a `split_dataset` train part, or a table derived from one) is accepted.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from pydantic import Field

from ._base import HANDLE_PATTERN, MAX_COLUMN_NAME, ToolArgs, ToolArgumentError
from ._columns import infer_task
from ._data import read_table, require_column, write_table
from ._safe import frequent_counts


class ResampleArgs(ToolArgs):
    """Arguments of `resample_dataset`."""

    path: str = Field(description="a training part (role train) from split_dataset")
    target: str | None = Field(default=None, max_length=MAX_COLUMN_NAME)
    method: Literal["undersample", "oversample"]
    ratio: float = Field(
        default=1.0,
        ge=0.01,
        le=1.0,
        description="oversample: each class grows to ratio x the largest; "
        "undersample: each class shrinks to the smallest / ratio",
    )
    seed: int = Field(default=0, ge=0, le=2**31 - 1)
    name: str = Field(default="resampled", pattern=HANDLE_PATTERN, max_length=64)


def resample_dataset(args: ResampleArgs) -> dict[str, Any]:
    """Resample; see the module docstring."""
    table = read_table(args.path, argument="path")
    if table.meta.role != "train":
        raise ToolArgumentError(
            f"argument `path`: {table.path} is a {table.meta.role} table; only a training part "
            "may be resampled (validation and test rows must stay as they are). Split first "
            "with split_dataset and resample its train part."
        )
    df = table.frame
    target = require_column(table, args.target or table.meta.target, argument="target")
    if infer_task(df[target]) == "regression":
        raise ToolArgumentError(
            "argument `target`: resampling balances classes; this target is continuous"
        )
    rng = np.random.default_rng(args.seed)
    y = df[target]
    counts = y.value_counts()
    chosen: list[np.ndarray] = []
    for cls, n in counts.items():
        idx = np.flatnonzero((y == cls).to_numpy())
        if args.method == "oversample":
            goal = max(n, int(round(args.ratio * counts.max())))
            extra = (
                rng.choice(idx, size=goal - n, replace=True)
                if goal > n
                else np.array([], dtype=int)
            )
            chosen.append(np.concatenate([idx, extra]))
        else:
            goal = min(n, int(round(counts.min() / args.ratio)))
            chosen.append(rng.choice(idx, size=goal, replace=False))
    order = np.concatenate(chosen)
    rng.shuffle(order)
    out = df.iloc[np.sort(order) if table.meta.time_column else order].reset_index(drop=True)
    info = write_table(
        out, args.name, table.meta.model_copy(update={"created_by": "resample_dataset"})
    )
    info["class_counts_before"] = frequent_counts(y, 50)
    info["class_counts_after"] = frequent_counts(out[target], 50)
    return info
