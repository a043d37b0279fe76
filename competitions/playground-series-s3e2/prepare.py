"""playground-series-s3e2: the standard split of Kaggle's train.csv, plus the original data.

The split is the one `competition.yaml` declares (`split`: stratified by `stroke`), made
exactly as mledojo makes it for a competition without a `prepare.py`: the evaluation split
for the canonical data seed, a training variant carved from its training rows for any other
(`mledojo.data.split.carve`). What this file adds is the public stroke-prediction data set
that Kaggle's rows were synthesised from, which the competition allowed: it is written to
`public/original_stroke_data.csv` with its values as written, less two things. Its `id`
column: those ids number the patients of that other data set and overlap this competition's
test ids, so a file keyed by them would look like (and could be joined as) answers for test
rows. And its rows equal to a row of Kaggle's train.csv on every column but the id (115 of
5,110, all `stroke` 0: the synthetic rows copy some originals exactly), or the file would
give away the answers of the test rows among them. Those are found against the whole of
train.csv, not the test split, so the file is the same for every data seed and says
nothing about any split. The sample submission is the probability 0.5 for every test row.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from mledojo.competition import load_competition
from mledojo.data.io import read_exact
from mledojo.data.prepare import write_standard_split
from mledojo.data.split import without_rows_like

ID = "id"
TARGET = "stroke"
ORIGINAL = "original_stroke_data.csv"


def prepare(raw: Path, public: Path, private: Path, seed: int, evaluation_seed: int) -> None:
    """Write public train/test/sample submission/original data and the private answers."""
    comp = load_competition(Path(__file__).resolve().parent)
    full = read_exact(raw / "train.csv")
    write_standard_split(comp, full, seed=seed, public=public, private=private)
    # every value kept as the text it was (the original writes missing bmi as "N/A")
    text = pd.read_csv(raw / ORIGINAL, dtype=str, keep_default_na=False)
    kept = without_rows_like(_as_typed(pd.read_csv(raw / ORIGINAL), full), full, [ID])
    text.loc[kept.index].drop(columns=[ID]).to_csv(public / ORIGINAL, index=False)


def _as_typed(original: pd.DataFrame, full: pd.DataFrame) -> pd.DataFrame:
    """The original's shared columns in train.csv's types (whole-number ages as floats), so
    that equal values hash equally."""
    shared = {c: full[c].dtype for c in original.columns if c in full.columns and c != ID}
    return original.astype(shared)
