"""icr-identify-age-related-conditions: a stratified 20 % split of Kaggle's train.csv, and
the greeks of the training rows.

ICR was a code competition: Kaggle's `test.csv` is a 5-row placeholder of zeros and the real
test rows stayed hidden, so the test set is carved out of the 617 labelled rows (stratified
by `Class`, `random_state=seed`). `greeks.csv` is Kaggle's supplemental metadata of the
training rows (`Alpha`, the condition itself: `A` is `Class` 0, `B`/`D`/`G` are the three
conditions of `Class` 1; `Beta`, `Gamma`, `Delta`, categorical; `Epsilon`, the date the
data were collected). Kaggle gave it for training rows only, and so does this: the public
`greeks.csv` holds exactly the public training rows (its `Alpha` is the answer, so a test
row there would give its answer away; the leak audit would find it as a near copy). The
sample submission is the probability 0.5 for every row. Any data seed other than the
evaluation seed re-splits the evaluation split's training rows the same way (a training
variant, `mledojo.data.split.carve`), with the greeks of its own training rows.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from sklearn.model_selection import train_test_split

from mledojo.data.io import read_exact
from mledojo.data.split import carve

TARGET = "Class"
ID = "Id"
TEST_SIZE = 0.2
GREEKS = "greeks.csv"


def stratified_split(full: pd.DataFrame, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """20 % test, stratified by the answer, `random_state=seed`."""
    train, test = train_test_split(
        full, test_size=TEST_SIZE, random_state=seed, stratify=full[TARGET]
    )
    return train, test


def training_greeks(greeks: pd.DataFrame, train: pd.DataFrame) -> pd.DataFrame:
    """The greeks of the training rows only, in the training file's order."""
    missing = sorted(set(train[ID]) - set(greeks[ID]))
    if missing:
        raise ValueError(f"{GREEKS} has no row for train Id(s) {missing[:5]}")
    return greeks.set_index(ID).loc[train[ID]].reset_index()


def prepare(raw: Path, public: Path, private: Path, seed: int, evaluation_seed: int) -> None:
    """Write public train/test/greeks/sample submission and the private answers."""
    full = read_exact(raw / "train.csv")
    train, test = carve(
        full, seed=seed, evaluation_seed=evaluation_seed, split=stratified_split, id_columns=[ID]
    )
    greeks = pd.read_csv(raw / GREEKS, dtype=str, keep_default_na=False)
    train.to_csv(public / "train.csv", index=False)
    test.drop(columns=[TARGET]).to_csv(public / "test.csv", index=False)
    test.to_csv(private / "test.csv", index=False)
    training_greeks(greeks, train).to_csv(public / GREEKS, index=False)
    pd.DataFrame({ID: test[ID], TARGET: 0.5}).to_csv(public / "sample_submission.csv", index=False)
