"""bike-sharing-demand: the fixed re-split shipped with the raw files.

Kaggle's test labels are secret, so the raw folder is DSBench's re-split of Kaggle's
`train.csv` (also used by MLE-Dojo): `train.csv` (8,708 hours, with `casual` and `registered`),
`test.csv` (2,178 hours, features only) and `test_answer.csv` (their `count`). The split is
kept as given, so scores stay comparable with those benchmarks; the data seed therefore does
not change train/test (it only changes the public/private parts of the test set). The id is
the `datetime` of the hour. The sample submission predicts the mean training count.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

ID = "datetime"
TARGET = "count"


def prepare(raw: Path, public: Path, private: Path, seed: int) -> None:
    """Write public train/test/sample submission and the private answers."""
    del seed  # the split is fixed by the source files
    train = pd.read_csv(raw / "train.csv")
    test = pd.read_csv(raw / "test.csv")
    answers = pd.read_csv(raw / "test_answer.csv")
    labelled = test.merge(answers, on=ID, how="left", validate="one_to_one")
    if labelled[TARGET].isna().any() or len(labelled) != len(test):
        raise ValueError(f"{raw / 'test_answer.csv'} does not give a count for every test hour")
    train.to_csv(public / "train.csv", index=False)
    test.to_csv(public / "test.csv", index=False)
    labelled.to_csv(private / "test.csv", index=False)
    sample = pd.DataFrame({ID: test[ID], TARGET: float(train[TARGET].mean())})
    sample.to_csv(public / "sample_submission.csv", index=False)
