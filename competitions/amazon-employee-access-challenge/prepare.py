"""amazon-employee-access-challenge: a stratified 20 % split of Kaggle's train.csv, with ids.

Kaggle's `train.csv` has no id column (its `test.csv` numbers rows 1..58,921), so each row
gets `id`: its 1-based position in Kaggle's `train.csv`. The order of that file carries no
sign of the answer (the ROC AUC of the row position against `ACTION` is 0.499), so the ids
give nothing away. The split is stratified by `ACTION` (94 % of requests are granted),
`random_state=seed`; the sample submission is the probability 0.5 for every row. Any data
seed other than the evaluation seed re-splits the evaluation split's training rows the same
way (a training variant, `mledojo.data.split.carve`).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from sklearn.model_selection import train_test_split

from mledojo.data.io import read_exact
from mledojo.data.split import carve

TARGET = "ACTION"
ID = "id"
TEST_SIZE = 0.2


def with_ids(raw_train: pd.DataFrame) -> pd.DataFrame:
    """Kaggle's train rows with `id` (1-based row position) as the first column."""
    if ID in raw_train.columns:
        raise ValueError(f"Kaggle's train.csv already has a column `{ID}`: is it the right file?")
    return raw_train.assign(**{ID: range(1, len(raw_train) + 1)})[[ID, *raw_train.columns]]


def stratified_split(full: pd.DataFrame, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """20 % test, stratified by the answer, `random_state=seed`."""
    train, test = train_test_split(
        full, test_size=TEST_SIZE, random_state=seed, stratify=full[TARGET]
    )
    return train, test


def prepare(raw: Path, public: Path, private: Path, seed: int, evaluation_seed: int) -> None:
    """Write public train/test/sample submission and the private answers."""
    full = with_ids(read_exact(raw / "train.csv"))
    train, test = carve(
        full, seed=seed, evaluation_seed=evaluation_seed, split=stratified_split, id_columns=[ID]
    )
    train.to_csv(public / "train.csv", index=False)
    test.drop(columns=[TARGET]).to_csv(public / "test.csv", index=False)
    test.to_csv(private / "test.csv", index=False)
    pd.DataFrame({ID: test[ID], TARGET: 0.5}).to_csv(public / "sample_submission.csv", index=False)
