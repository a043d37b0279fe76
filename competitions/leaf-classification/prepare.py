"""leaf-classification: MLE-bench's split, byte for byte.

A 10% random split of Kaggle's `train.csv` (`random_state=seed`). The answers are one-hot:
`id` then one 0/1 column per species (species sorted by code point, the order of Kaggle's
sample submission); the sample submission gives every species probability 1/99. With the
default data seed (0) the four files have the MD5s published in MLE-bench's `checksums.yaml`.

The leaf images of the original competition are not used (the raw folder need not hold
them); the 192 pre-computed shape, margin and texture features are.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from mledojo.data.io import read_exact

TARGET = "species"
ID = "id"


def one_hot(test: pd.DataFrame, classes: list[str]) -> pd.DataFrame:
    """`id` plus a 0/1 indicator column per class (int64), rows in the split's order."""
    indicators = (test[TARGET].to_numpy()[:, None] == np.array(classes)[None, :]).astype(np.int64)
    out = pd.DataFrame(indicators, columns=classes, index=test.index)
    out.insert(0, ID, test[ID].to_numpy())
    return out


def prepare(raw: Path, public: Path, private: Path, seed: int) -> None:
    """Write public train/test/sample submission and the one-hot private answers."""
    full = read_exact(raw / "train.csv")
    classes = sorted(full[TARGET].unique())
    train, test = train_test_split(full, test_size=0.1, random_state=seed)
    answers = one_hot(test, classes)
    sample = answers.astype({c: np.float64 for c in classes})
    sample[classes] = 1 / len(classes)
    train.to_csv(public / "train.csv", index=False)
    answers.to_csv(private / "test.csv", index=False)
    test.drop(columns=[TARGET]).to_csv(public / "test.csv", index=False)
    sample.to_csv(public / "sample_submission.csv", index=False)
