"""Row content keys: which rows of a table a model trained on, whatever file they came in.

File digests and sidecars say where a table came from; they miss a copy. Agent code can
read a validation part and write its rows to a CSV of its own (another float format,
another column order): a new file, no sidecar, `raw`. A model trained on it used to
evaluate as out-of-sample on the very rows it memorised, and ranked first.

So `train_model` keeps, next to each model, the sorted 64-bit keys of its training rows
(`<name>.rows.npy`, vouched for by the ledger like the model). A key hashes the model's
feature columns and its target, in name order, canonicalised so that a re-encoding does not
change it: numbers (and number-like text, booleans) as floats rounded to `SIGNIFICANT`
significant digits, other text stripped. `evaluate_model` keys the evaluated table the
same way and flags it `in_sample` when more of its rows are training rows than chance
explains (`content_overlap`, `chance_share`, `is_in_sample`).
"""

from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd

from ._base import ToolError
from ._ledger import read_vouched
from ._paths import handle_path, sandbox_path, write_atomic

ROWS_SUFFIX = ".rows.npy"
#: Significant digits kept of every number: a CSV written with 6 or more digits keys equal.
SIGNIFICANT = 6
#: Share of the evaluated rows found among the training rows, beyond chance, from which the
#: evaluation is in-sample.
MIN_SHARE = 0.05
#: Cap on how much larger than the evaluated table the training table counts for chance.
MAX_SIZE_RATIO = 10.0

Keys = npt.NDArray[np.uint64]


def content_columns(features: list[str], target: str) -> list[str]:
    """The columns a row key covers: the model's features and its target, by name."""
    return sorted({*features, target})


def row_keys(frame: pd.DataFrame, columns: list[str]) -> Keys:
    """One 64-bit key per row of `frame` over `columns` (see the module docstring)."""
    canon = pd.DataFrame({c: _canonical(frame[c]) for c in columns})
    return np.asarray(pd.util.hash_pandas_object(canon, index=False).to_numpy(), dtype=np.uint64)


def _canonical(col: pd.Series) -> pd.Series:
    """A column as rounded floats when it holds numbers (or booleans), else stripped text."""
    if pd.api.types.is_bool_dtype(col.dtype):
        return pd.Series(_round(col.to_numpy(dtype=np.float64)), index=col.index)
    if pd.api.types.is_numeric_dtype(col.dtype):
        return pd.Series(_round(col.to_numpy(dtype=np.float64, na_value=np.nan)), index=col.index)
    text = col.astype("string").str.strip()
    low = text.str.lower()
    if low.dropna().isin(["true", "false"]).all() and low.notna().any():
        return pd.Series(_round(low.eq("true").to_numpy(dtype=np.float64)), index=col.index)
    numbers = pd.to_numeric(text, errors="coerce")
    if (numbers.notna() | text.isna()).all() and numbers.notna().any():
        return pd.Series(_round(numbers.to_numpy(dtype=np.float64)), index=col.index)
    return text.fillna("\x00missing").astype(object)


def _round(x: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """`x` rounded to `SIGNIFICANT` significant digits (NaN, inf and 0 unchanged)."""
    out = np.array(x, dtype=np.float64, copy=True)
    ok = np.isfinite(out) & (out != 0)
    exponent = np.floor(np.log10(np.abs(out[ok])))
    scale = 10.0 ** (SIGNIFICANT - 1 - exponent)
    out[ok] = np.round(out[ok] * scale) / scale
    return out


def save_row_keys(handle: str, keys: Keys) -> str:
    """Write the sorted distinct training keys of model `handle` (ledger-recorded); return
    their sandbox path, which the model's description names."""
    target = handle_path(handle, ROWS_SUFFIX)
    unique = np.unique(keys)

    def dump(tmp: Path) -> None:
        with tmp.open("wb") as fh:
            np.save(fh, unique, allow_pickle=False)

    write_atomic(target, dump)
    return sandbox_path(target)


def load_row_keys(handle: str) -> Keys:
    """The training keys of model `handle`, as `save_row_keys` wrote them (or a ToolError)."""
    real = handle_path(handle, ROWS_SUFFIX)
    try:
        blob = read_vouched(sandbox_path(real), real)
        keys = np.load(io.BytesIO(blob), allow_pickle=False)
    except (OSError, ValueError):
        raise ToolError(
            f"the training rows {real.name} of model {handle} are missing or damaged; "
            "train the model again"
        ) from None
    return np.asarray(keys, dtype=np.uint64)


def content_overlap(trained: Keys, frame: pd.DataFrame, columns: list[str]) -> tuple[int, float]:
    """How many rows of `frame` are training rows by content, and the share expected by
    chance (`chance_share`)."""
    keys = row_keys(frame, columns)
    found = int(np.isin(keys, trained).sum()) if len(keys) else 0
    return found, chance_share(keys, len(trained))


def chance_share(keys: Keys, n_trained: int) -> float:
    """The share of rows an honest table shares with training rows by chance, estimated
    from the table itself: the share of its rows whose key repeats within it, scaled by how
    many more distinct rows the training table has (at most `MAX_SIZE_RATIO` times).

    Why: with a few coarse features (titanic's class, fare and family counts), honest
    rows of the validation part equal training rows; with continuous features none do.
    """
    n = len(keys)
    if n == 0:
        return 0.0
    _, counts = np.unique(keys, return_counts=True)
    repeated = float(counts[counts > 1].sum()) / n
    ratio = min(MAX_SIZE_RATIO, max(1.0, n_trained / n))
    return min(1.0, repeated * ratio)


def is_in_sample(found: int, chance: float, rows: int) -> bool:
    """Whether `found` training rows among `rows` exceed chance by `MIN_SHARE` (and one)."""
    return rows > 0 and found >= max(1, math.ceil((MIN_SHARE + chance) * rows))
