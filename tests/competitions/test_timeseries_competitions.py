"""The forecasting and hourly-series competitions (tag `timeseries`): time is respected.

For each, on the evaluation split and on training variants, the future search looks in
every public file for anything from the test period or later: a row dated at or after the
first test time in any file but those listing the test rows (`test.csv`, the features
without the answers, and `sample_submission.csv`, a constant guess whose id may be the
hour), and any answer row (by content, the id set aside) anywhere. A variant must also
stay before the evaluation test period, in its public files and in its own answers. A
positive control plants one test-period row in the public train and must be found.

Real data: the Kaggle files from `../shared/datasets/kaggle/`; a temporary cache.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import mledojo
from mledojo.competition import Competition, get_competition
from mledojo.data.prepare import PreparedData, prepare
from mledojo.data.split import row_hashes
from mledojo.testing.shared_data import kaggle_root, need

SERIES = mledojo.list_competitions("timeseries")
VARIANT_SEEDS = (1, 2)
TEST_ROWS = ("test.csv", "sample_submission.csv")
"""The public files that list the test rows by design (their dates are the test period)."""


@pytest.fixture(scope="module")
def prepared(
    tmp_path_factory: pytest.TempPathFactory,
) -> Callable[[str, int | None], tuple[Competition, PreparedData]]:
    """Prepare a (competition, data seed) once per module; None is the evaluation split."""
    cache = tmp_path_factory.mktemp("cache")
    done: dict[tuple[str, int | None], tuple[Competition, PreparedData]] = {}

    def get(cid: str, seed: int | None) -> tuple[Competition, PreparedData]:
        if (cid, seed) not in done:
            comp = get_competition(cid)
            raw = need(kaggle_root() / str(comp.spec.source.competition))
            done[(cid, seed)] = (comp, prepare(comp, data_seed=seed, cache_dir=cache, raw_dir=raw))
        return done[(cid, seed)]

    return get


def read(path: Path) -> pd.DataFrame:
    """A prepared CSV as written: every cell a string, empty cells empty strings."""
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def future_search(
    public: dict[str, pd.DataFrame], answers: pd.DataFrame, time_column: str, id_column: str
) -> dict[str, int]:
    """Per public file, how many of its rows are from the test period or later (the files
    listing the test rows, `TEST_ROWS`, excepted) plus how many equal an answer row on every column
    they share with it but the id (test.csv shares no target, so a row there never equals
    one; rows are compared by a 64-bit hash of their text cells)."""
    cut = answers[time_column].min()
    columns = [c for c in answers.columns if c != id_column]
    held = row_hashes(answers[columns])
    found: dict[str, int] = {}
    for name, frame in public.items():
        late = 0 if name in TEST_ROWS else int((frame[time_column] >= cut).sum())
        same = 0
        if set(columns) <= set(frame.columns):
            same = int(np.isin(row_hashes(frame[columns]), held).sum())
        found[name] = late + same
    return found


def public_tables(data: PreparedData, time_column: str) -> dict[str, pd.DataFrame]:
    """Every public CSV that has the time column (the sample submission has none)."""
    tables = {p.name: read(p) for p in sorted(data.public_dir.glob("*.csv"))}
    return {name: frame for name, frame in tables.items() if time_column in frame.columns}


def test_the_series_competitions_are_registered_with_a_time_split() -> None:
    assert len(SERIES) >= 4
    for cid in SERIES:
        spec = get_competition(cid).spec
        assert spec.split.kind == "time" and spec.split.time_column, cid
        assert {"tabular", "kaggle", "timeseries"} <= set(spec.tags)


@pytest.mark.parametrize("cid", SERIES)
def test_no_public_file_holds_the_test_period_or_later(cid: str, prepared) -> None:
    comp, data = prepared(cid, None)
    time_column = str(comp.spec.split.time_column)
    public = public_tables(data, time_column)
    answers = read(data.answers_path)
    assert {"train.csv", "test.csv"} <= set(public)
    assert future_search(public, answers, time_column, comp.spec.id_column) == dict.fromkeys(
        public, 0
    )
    train, test = public["train.csv"], public["test.csv"]
    assert train[time_column].max() < test[time_column].min()  # the test is the last period
    assert sorted(test[time_column].unique()) == sorted(answers[time_column].unique())


@pytest.mark.parametrize("cid", SERIES)
def test_the_future_search_finds_a_planted_test_period_row(cid: str, prepared) -> None:
    """Attack: one answer row (its date and counts) appended to the public train."""
    comp, data = prepared(cid, None)
    time_column = str(comp.spec.split.time_column)
    public = public_tables(data, time_column)
    answers = read(data.answers_path)
    planted = answers.iloc[[len(answers) // 2]][list(public["train.csv"].columns)]
    public["train.csv"] = pd.concat([public["train.csv"], planted], ignore_index=True)
    found = future_search(public, answers, time_column, comp.spec.id_column)
    assert found["train.csv"] == 2  # once as a late row, once as an answer row
    assert found["test.csv"] == 0


@pytest.mark.parametrize("seed", VARIANT_SEEDS)
@pytest.mark.parametrize("cid", SERIES)
def test_a_training_variant_stays_before_the_evaluation_test_period(
    cid: str, seed: int, prepared
) -> None:
    comp, evaluation = prepared(cid, None)
    _, variant = prepared(cid, seed)
    time_column = str(comp.spec.split.time_column)
    cut = read(evaluation.answers_path)[time_column].min()
    public = public_tables(variant, time_column)
    answers = read(variant.answers_path)
    for name, frame in {**public, "its answers": answers}.items():
        assert (frame[time_column] < cut).all(), f"{name} of data seed {seed} reaches {cut}"
    assert future_search(public, answers, time_column, comp.spec.id_column) == dict.fromkeys(
        public, 0
    )
    train = public["train.csv"]
    assert train[time_column].max() < answers[time_column].min()


@pytest.mark.parametrize("cid", SERIES)
def test_training_variants_forecast_different_periods(cid: str, prepared) -> None:
    """A plain time cut ignores the seed: every variant would be the same period."""
    comp, _ = prepared(cid, None)
    time_column = str(comp.spec.split.time_column)
    periods = {
        seed: tuple(sorted(read(prepared(cid, seed)[1].answers_path)[time_column].unique()))
        for seed in VARIANT_SEEDS
    }
    assert periods[1] != periods[2]
    assert len(periods[1]) == len(periods[2])  # the same horizon, another period
