"""What is particular to five of issue 20's competitions, on the real Kaggle files.

The parametrised tests (tests/competitions/test_kaggle_competitions.py, the leak audit,
medals, check_env, split variants) cover them like every other; these check what those
cannot see: icr's `greeks.csv` (its `Alpha` is the answer) holds training rows only, and a
greeks file with the test rows is caught; aug-2022 tests on whole unseen products; amazon's
ids, made from row positions, say nothing of the answer.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from mledojo.competition import get_competition, load_competition
from mledojo.data.prepare import prepare
from mledojo.grading.audit import audit
from mledojo.testing.shared_data import kaggle_root, need

ICR = "icr-identify-age-related-conditions"
AUG = "tabular-playground-series-aug-2022"
AMAZON = "amazon-employee-access-challenge"


@pytest.fixture(autouse=True)
def _kaggle_data() -> None:
    need(kaggle_root())


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("comps-b-cache")


@pytest.mark.parametrize("seed", [0, 1])
def test_icr_greeks_hold_the_training_rows_only(seed: int, cache: Path) -> None:
    data = prepare(get_competition(ICR), data_seed=seed, cache_dir=cache)
    greeks = pd.read_csv(data.public_dir / "greeks.csv", dtype=str)
    train = pd.read_csv(data.public_dir / "train.csv", usecols=["Id"], dtype=str)
    test = pd.read_csv(data.public_dir / "test.csv", usecols=["Id"], dtype=str)
    answers = pd.read_csv(data.answers_path, usecols=["Id"], dtype=str)
    assert greeks["Id"].tolist() == train["Id"].tolist()
    assert not set(greeks["Id"]) & (set(test["Id"]) | set(answers["Id"]))
    assert list(greeks.columns) == ["Id", "Alpha", "Beta", "Gamma", "Delta", "Epsilon"]


def test_icr_greeks_of_the_test_rows_are_caught(tmp_path: Path) -> None:
    """The careless version (Kaggle's greeks.csv copied whole) leaks `Alpha`, the answer,
    for every test row: the audit must name it."""
    folder = tmp_path / ICR
    shutil.copytree(get_competition(ICR).folder, folder)
    script = folder / "prepare.py"
    careless = script.read_text().replace("training_greeks(greeks, train).to_csv", "greeks.to_csv")
    assert careless != script.read_text()
    script.write_text(careless)
    comp = load_competition(folder)
    data = prepare(comp, cache_dir=tmp_path / "cache", raw_dir=kaggle_root() / ICR)
    found = {(f.check, f.file, f.column) for f in audit(comp, data).findings}
    assert ("near_copy", "greeks.csv", "Alpha") in found


@pytest.mark.parametrize("seed", [0, 1])
def test_aug_2022_tests_on_products_never_trained_on(seed: int, cache: Path) -> None:
    data = prepare(get_competition(AUG), data_seed=seed, cache_dir=cache)
    train = pd.read_csv(data.public_dir / "train.csv", usecols=["product_code"])
    test = pd.read_csv(data.public_dir / "test.csv", usecols=["product_code"])
    assert test["product_code"].nunique() == 1
    assert not set(train["product_code"]) & set(test["product_code"])
    if seed == 0:  # the evaluation split named in competition.yaml's caveats
        assert set(test["product_code"]) == {"C"}


def test_amazon_ids_are_row_positions_that_say_nothing(cache: Path) -> None:
    data = prepare(get_competition(AMAZON), cache_dir=cache)
    train = pd.read_csv(data.public_dir / "train.csv")
    answers = pd.read_csv(data.answers_path)
    full = pd.concat([train, answers]).sort_values("id")
    raw = pd.read_csv(kaggle_root() / AMAZON / "train.csv")
    assert full["id"].tolist() == list(range(1, len(raw) + 1))
    assert (full.drop(columns="id").to_numpy() == raw[full.columns[1:]].to_numpy()).all()
    auc = roc_auc_score(full["ACTION"], full["id"])
    assert 0.48 < auc < 0.52  # the file's order carries no sign of the answer
