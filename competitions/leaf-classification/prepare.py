"""leaf-classification: MLE-bench's split, byte for byte.

A 10% random split of Kaggle's `train.csv` (`random_state=seed`). The answers are one-hot:
`id` then one 0/1 column per species (species sorted by code point, the order of Kaggle's
sample submission); the sample submission gives every species probability 1/99. With the
default data seed (0) the four files have the MD5s published in MLE-bench's `checksums.yaml`.
That split is the evaluation split; any other data seed re-splits its training rows the same
way (a training variant, which holds no evaluation test row: `mledojo.data.split.carve`).

The leaf images of the original competition are not used (the raw folder need not hold
them); the 192 pre-computed shape, margin and texture features are.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from mledojo.data.io import read_exact
from mledojo.data.split import carve

TARGET = "species"
ID = "id"


def one_hot(test: pd.DataFrame, classes: list[str]) -> pd.DataFrame:
    """`id` plus a 0/1 indicator column per class (int64), rows in the split's order."""
    indicators = (test[TARGET].to_numpy()[:, None] == np.array(classes)[None, :]).astype(np.int64)
    out = pd.DataFrame(indicators, columns=classes, index=test.index)
    out.insert(0, ID, test[ID].to_numpy())
    return out


def mlebench_split(full: pd.DataFrame, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """MLE-bench's split: 10 % random, `random_state=seed`."""
    train, test = train_test_split(full, test_size=0.1, random_state=seed)
    return train, test


def prepare(raw: Path, public: Path, private: Path, seed: int, evaluation_seed: int) -> None:
    """Write public train/test/sample submission and the one-hot private answers."""
    full = read_exact(raw / "train.csv")
    classes = sorted(full[TARGET].unique())  # every variant keeps the 99 answer columns
    train, test = carve(
        full, seed=seed, evaluation_seed=evaluation_seed, split=mlebench_split, id_columns=[ID]
    )
    answers = one_hot(test, classes)
    sample = answers.astype({c: np.float64 for c in classes})
    sample[classes] = 1 / len(classes)
    train.to_csv(public / "train.csv", index=False)
    answers.to_csv(private / "test.csv", index=False)
    test.drop(columns=[TARGET]).to_csv(public / "test.csv", index=False)
    sample.to_csv(public / "sample_submission.csv", index=False)
