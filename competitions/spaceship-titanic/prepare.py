"""spaceship-titanic: MLE-bench's split, byte for byte.

A 10% random split of Kaggle's `train.csv` (`train_test_split(test_size=0.1, random_state=seed)`),
written with `to_csv(index=False)`. The sample submission predicts `Transported=False` for
every passenger, as MLE-bench's does. With the default data seed (0) the four files have the
MD5s published in MLE-bench's `checksums.yaml`. That split is the evaluation split; any
other data seed re-splits its training rows the same way (a training variant, which holds no
evaluation test row: `mledojo.data.split.carve`).

Floats: the raw file is parsed with round-trip precision (pandas >= 3 does this by default;
older pandas is asked for it), so every number is written back exactly as read.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from sklearn.model_selection import train_test_split

from mledojo.data.io import read_exact
from mledojo.data.split import carve

TARGET = "Transported"
ID = "PassengerId"


def mlebench_split(full: pd.DataFrame, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """MLE-bench's split: 10 % random, `random_state=seed`."""
    train, test = train_test_split(full, test_size=0.1, random_state=seed)
    return train, test


def prepare(raw: Path, public: Path, private: Path, seed: int, evaluation_seed: int) -> None:
    """Write public train/test/sample submission and the private answers."""
    full = read_exact(raw / "train.csv")
    train, test = carve(
        full, seed=seed, evaluation_seed=evaluation_seed, split=mlebench_split, id_columns=[ID]
    )
    sample = test[[ID, TARGET]].copy()
    sample[TARGET] = False
    sample.to_csv(public / "sample_submission.csv", index=False)
    test.to_csv(private / "test.csv", index=False)
    train.to_csv(public / "train.csv", index=False)
    test.drop(columns=[TARGET]).to_csv(public / "test.csv", index=False)
