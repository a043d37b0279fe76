"""Seeded, deterministic train/test splits and public/private parts of the test set."""

from __future__ import annotations

import numpy as np
import pandas as pd

from mledojo.competition import SplitSpec
from mledojo.errors import DataError


def split_frame(
    df: pd.DataFrame, split: SplitSpec, *, seed: int, target: str | None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split a labelled table into (train, test) as the spec says; no future rows in train.

    scikit-learn is imported only by the random and stratified kinds: importing it costs
    about 2 s, most of a fresh `pump-failure` data seed's budget (< 5 s), which splits by time.
    """
    if split.kind in ("random", "stratified"):
        from sklearn.model_selection import train_test_split
    if split.kind == "random":
        train, test = train_test_split(df, test_size=split.test_size, random_state=seed)
    elif split.kind == "stratified":
        col = split.stratify_column or target
        if col is None or col not in df.columns:
            raise DataError(f"stratified split needs column `{col}`, which the data lacks")
        train, test = train_test_split(
            df, test_size=split.test_size, random_state=seed, stratify=df[col]
        )
    elif split.kind == "time":
        train, test = _time_split(df, str(split.time_column), split.test_size)
    else:
        train, test = _group_split(df, str(split.group_column), split.test_size, seed)
    return train, test


def _time_split(
    df: pd.DataFrame, column: str, test_size: float
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Everything at or after the cut time is test, so train holds no future rows."""
    if column not in df.columns:
        raise DataError(f"time split needs column `{column}`, which the data lacks")
    times = np.sort(df[column].unique())
    cut = times[int(len(times) * (1 - test_size))]
    is_test = (df[column] >= cut).to_numpy()
    return df.loc[~is_test], df.loc[is_test]


def _group_split(
    df: pd.DataFrame, column: str, test_size: float, seed: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Whole groups go to one side, so no group leaks across the split."""
    if column not in df.columns:
        raise DataError(f"group split needs column `{column}`, which the data lacks")
    from sklearn.model_selection import GroupShuffleSplit

    splitter = GroupShuffleSplit(n_splits=1, test_size=test_size, random_state=seed)
    train_idx, test_idx = next(splitter.split(df, groups=df[column]))
    return df.iloc[train_idx], df.iloc[test_idx]


def assign_parts(ids: pd.Series, public_fraction: float, seed: int) -> pd.DataFrame:
    """Tag each test id as `public` or `private` (like Kaggle's public/private leaderboard).

    Independent of the split's own randomness (its own seeded generator), so the
    train/test split stays exactly reproducible (e.g. MLE-bench's) with parts on top.
    """
    rng = np.random.default_rng([seed, 0x5EED])
    n = len(ids)
    n_public = max(1, round(n * public_fraction)) if n > 1 else n
    order = rng.permutation(n)
    usage = np.full(n, "private", dtype=object)
    usage[order[:n_public]] = "public"
    return pd.DataFrame({ids.name or "id": ids.to_numpy(), "usage": usage})
