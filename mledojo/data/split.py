"""Seeded, deterministic train/test splits, the evaluation split and its training variants.

A competition version has one **evaluation split**: the one its canonical data seed
(`split.seed`) gives (for the MLE-bench-derived competitions, MLE-bench's own split). Every
other data seed is a **training variant**, re-split from the evaluation split's *training*
rows only (`carve`), so no variant ever holds an evaluation test row, in a public file or in
its own answers. Generated competitions instead draw their training worlds from a seed space
disjoint from the evaluation world's (their `generate.py` says how).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Literal

import numpy as np
import pandas as pd

from mledojo.competition import SplitSpec
from mledojo.errors import DataError

SplitRole = Literal["evaluation", "training"]
VARIANT_SCHEME = 3
"""How training variants are made; bump it whenever their content changes, so that older
prepared variants (and results on them) are never taken for today's. Scheme 1 re-split the
whole labelled table on every data seed (variants held the evaluation answers); scheme 2 gave
every variant of a time split the same period (the cut ignored the seed)."""
MAX_DATA_SEED = 2**32 - 1
"""The largest data seed: scikit-learn's `random_state` and one 32-bit word of a numpy seed."""

Splitter = Callable[[pd.DataFrame, int], tuple[pd.DataFrame, pd.DataFrame]]
"""`(table, seed) -> (train, test)`: one seeded split of a labelled table."""


def split_role(split: SplitSpec, data_seed: int) -> SplitRole:
    """`evaluation` for the competition's canonical data seed, `training` for any other."""
    return "evaluation" if int(data_seed) == split.seed else "training"


def variant_label(split: SplitSpec, data_seed: int) -> str | None:
    """None on the evaluation split; `training-<scheme>` on a training variant.

    Part of what identifies prepared data and an episode, so a change of scheme changes
    the cache folder and the episode key of every variant (never the evaluation split's).
    """
    return role_variant(split_role(split, data_seed))


def role_variant(role: SplitRole) -> str | None:
    """None for the evaluation split, `training-<scheme>` for a training variant."""
    return None if role == "evaluation" else f"training-{VARIANT_SCHEME}"


def check_data_seed(seed: int) -> int:
    """The seed as an int, or a DataError naming the allowed range."""
    if int(seed) != seed or not 0 <= seed <= MAX_DATA_SEED:
        raise DataError(f"data seed {seed!r} must be an integer in [0, {MAX_DATA_SEED}]")
    return int(seed)


def carve(
    full: pd.DataFrame,
    *,
    seed: int,
    evaluation_seed: int,
    split: Splitter,
    id_columns: Sequence[str],
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The evaluation split of `full`, or a training variant of it (see the module docstring).

    For `seed == evaluation_seed` this is exactly `split(full, evaluation_seed)`. Otherwise
    the evaluation split's training rows, less any row whose content (every column but the
    ids) equals an evaluation test row's (a duplicate in the source table), are split again
    with `seed`.
    """
    train, test = split(full, evaluation_seed)
    if seed == evaluation_seed:
        return train, test
    return split(without_rows_like(train, test, id_columns), seed)


def without_rows_like(
    pool: pd.DataFrame, held_out: pd.DataFrame, id_columns: Sequence[str]
) -> pd.DataFrame:
    """`pool` without the rows whose content equals a `held_out` row's (ids ignored).

    Content is compared on the columns both tables have, other than the ids; a NaN equals
    a NaN. A 64-bit hash of each row is compared: a collision only drops one more row.
    """
    columns = [c for c in held_out.columns if c in pool.columns and c not in id_columns]
    if not columns:
        return pool
    held = set(row_hashes(held_out[columns]).tolist())
    keep = ~np.isin(row_hashes(pool[columns]), list(held))
    return pool.loc[keep]


def row_hashes(frame: pd.DataFrame) -> np.ndarray:
    """A 64-bit hash per row of `frame`'s values (its index ignored)."""
    hashes: np.ndarray = pd.util.hash_pandas_object(frame, index=False).to_numpy()
    return hashes


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


def spec_splitter(split: SplitSpec, target: str | None, evaluation_seed: int) -> Splitter:
    """The splitter a declarative competition uses: `split_frame` for the evaluation split
    and every kind but `time`; a time split's training variants take `time_variant_split`,
    so that each data seed gets its own period (a plain time cut ignores the seed)."""

    def split_with(df: pd.DataFrame, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
        if split.kind == "time" and seed != evaluation_seed:
            return time_variant_split(df, str(split.time_column), split.test_size, seed)
        return split_frame(df, split, seed=seed, target=target)

    return split_with


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


def time_variant_split(
    df: pd.DataFrame, column: str, test_size: float, seed: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A training variant of time-ordered rows: a test period as long as `_time_split`'s
    (`test_size` of the distinct times), ending `seed mod (room + 1)` time steps before the
    last time, where `room` is half the times before the period. Train is every row before
    the period; rows after it are dropped (they are its future). All series of a panel
    share the cut, so no series shows a later time than any test row."""
    if column not in df.columns:
        raise DataError(f"time split needs column `{column}`, which the data lacks")
    times = np.sort(df[column].unique())
    width = len(times) - int(len(times) * (1 - test_size))
    room = (len(times) - width) // 2
    end = len(times) - seed % (room + 1)
    start = end - width
    if start < 1:
        raise DataError(f"time split on `{column}`: too few distinct times ({len(times)})")
    values = df[column].to_numpy()
    in_train = values < times[start]
    in_test = (values >= times[start]) & (values <= times[end - 1])
    return df.loc[in_train], df.loc[in_test]


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
