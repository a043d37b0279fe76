"""spaceship-titanic: MLE-bench's split, byte for byte.

A 10% random split of Kaggle's `train.csv` (`train_test_split(test_size=0.1, random_state=seed)`),
written with `to_csv(index=False)`. The sample submission predicts `Transported=False` for
every passenger, as MLE-bench's does. With the default data seed (0) the four files have the
MD5s published in MLE-bench's `checksums.yaml`.

Floats: the raw file is parsed with round-trip precision (pandas >= 3 does this by default;
older pandas is asked for it), so every number is written back exactly as read.
"""

from __future__ import annotations

from pathlib import Path

from sklearn.model_selection import train_test_split

from mledojo.data.io import read_exact

TARGET = "Transported"
ID = "PassengerId"


def prepare(raw: Path, public: Path, private: Path, seed: int) -> None:
    """Write public train/test/sample submission and the private answers."""
    full = read_exact(raw / "train.csv")
    train, test = train_test_split(full, test_size=0.1, random_state=seed)
    sample = test[[ID, TARGET]].copy()
    sample[TARGET] = False
    sample.to_csv(public / "sample_submission.csv", index=False)
    test.to_csv(private / "test.csv", index=False)
    train.to_csv(public / "train.csv", index=False)
    test.drop(columns=[TARGET]).to_csv(public / "test.csv", index=False)
