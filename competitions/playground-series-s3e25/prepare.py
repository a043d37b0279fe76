"""playground-series-s3e25: the standard split of Kaggle's train.csv, plus the original data.

The split is the one `competition.yaml` declares (`split`: random), made exactly as mledojo
makes it for a competition without a `prepare.py`: the evaluation split for the canonical
data seed, a training variant carved from its training rows for any other
(`mledojo.data.split.carve`). What this file adds are the two public data sets of the
"Prediction of Mohs Hardness with Machine Learning" study that Kaggle's rows were
synthesised from, which the competition allowed, copied byte for byte into `public/`:
`original_Mineral_Dataset_Supplementary_Info.csv` (622 minerals, the same descriptors and
`Hardness`) and `original_Artificial_Crystals_Dataset.csv` (52 crystals, `Hardness (Mohs)`).
Neither has an `id` column (their first, unnamed column is a row number), so neither can be
read as answers keyed by test ids. The sample submission is the mean training hardness.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from mledojo.competition import load_competition
from mledojo.data.io import read_exact
from mledojo.data.prepare import write_standard_split

ID = "id"
TARGET = "Hardness"
ORIGINALS = (
    "original_Mineral_Dataset_Supplementary_Info.csv",
    "original_Artificial_Crystals_Dataset.csv",
)


def prepare(raw: Path, public: Path, private: Path, seed: int, evaluation_seed: int) -> None:
    """Write public train/test/sample submission/original data and the private answers."""
    comp = load_competition(Path(__file__).resolve().parent)
    full = read_exact(raw / "train.csv")
    write_standard_split(comp, full, seed=seed, public=public, private=private)
    for name in ORIGINALS:
        shutil.copyfile(raw / name, public / name)
