"""Reading the Kaggle and reference leaderboard CSVs of a competition into scores (boards).

Two formats are understood, recognised by their header:

- MLE-bench (Kaggle's export): `scoreNullable,teamId,hasTeamName,submissionDate,score,hasScore`;
  the `score` column is used and rows without a score (`hasScore` false or a blank score) are
  dropped.
- MLE-Dojo: `rank,score`.

Any other header, a non-numeric score or a board with no scores raises `GradingError` naming
the file, because a broken board is the benchmark's fault, not the agent's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

from mledojo.errors import GradingError

LeaderboardFormat = Literal["mlebench", "mledojo"]

MLEBENCH_COLUMNS = ("scoreNullable", "teamId", "hasTeamName", "submissionDate", "score", "hasScore")
MLEDOJO_COLUMNS = ("rank", "score")


def detect_format(columns: list[str], path: Path) -> LeaderboardFormat:
    """Which known format a header belongs to."""
    cols = [c.strip() for c in columns]
    if set(MLEBENCH_COLUMNS) <= set(cols):
        return "mlebench"
    if set(MLEDOJO_COLUMNS) <= set(cols):
        return "mledojo"
    raise GradingError(
        f"leaderboard `{path}` has columns {cols}; expected MLE-bench's "
        f"{','.join(MLEBENCH_COLUMNS)} or {','.join(MLEDOJO_COLUMNS)}"
    )


def _truthy(col: pd.Series) -> npt.NDArray[np.bool_]:
    """`hasScore` as booleans, whether pandas parsed it as bool or as text."""
    if pd.api.types.is_bool_dtype(col.dtype):
        return np.asarray(col.to_numpy(dtype=bool), dtype=np.bool_)
    text = col.astype(str).str.strip().str.lower()
    return np.asarray(text.isin(["true", "1", "1.0"]).to_numpy(), dtype=np.bool_)


def load_leaderboard(path: Path | str) -> npt.NDArray[np.float64]:
    """The scores of a leaderboard file, in file order, entries without a score dropped."""
    path = Path(path)
    try:
        df = pd.read_csv(path)
    except FileNotFoundError as e:
        raise GradingError(f"leaderboard `{path}` does not exist") from e
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, ValueError) as e:
        raise GradingError(f"leaderboard `{path}` is not a readable CSV: {e}") from e
    df.columns = [str(c).strip() for c in df.columns]
    fmt = detect_format(list(df.columns), path)
    if fmt == "mlebench":
        df = df[_truthy(df["hasScore"])]
    raw = df["score"]
    scores = pd.to_numeric(raw, errors="coerce")
    bad = scores.isna() & raw.notna()
    if bad.any():
        first = int(np.flatnonzero(bad.to_numpy())[0])
        row = int(raw.index[first]) + 1
        raise GradingError(
            f"leaderboard `{path}`: score {raw.iloc[first]!r} (data row {row}) is not a number"
        )
    values = np.asarray(scores.dropna().to_numpy(dtype=np.float64), dtype=np.float64)
    if values.size == 0:
        raise GradingError(f"leaderboard `{path}` holds no scored entries")
    return values
