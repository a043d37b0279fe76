"""Honest medals and implausible scores (docs/scoring.md, "Medals and implausibility").

Real boards and real Kaggle files (read through `MLEDOJO_KAGGLE_DIR`, as the other
competition tests do): a truncated board's medals use the real field; titanic's "female
survives" earns nothing; every Kaggle-derived competition carries a ceiling derived from its
board and a partial-copy threshold; a partial copy of the answers is flagged although it
copies only part of the rows and its score stays under the ceiling.
"""

from __future__ import annotations

import json
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import mledojo
from mledojo.competition import Competition, get_competition
from mledojo.data.prepare import PreparedData, prepare
from mledojo.errors import GradingError
from mledojo.grading.audit import audit
from mledojo.grading.boards import detect_format, load_leaderboard
from mledojo.grading.plausibility import board_ceiling, copy_share, copy_threshold
from mledojo.grading.rank import medal_thresholds, rank_score, sort_best_first
from mledojo.grading.scorer import Scorer
from mledojo.testing.shared_data import kaggle_root, leaderboards_root, need

KAGGLE = [c for c in mledojo.list_competitions() if get_competition(c).spec.source.kind == "kaggle"]
TITANIC_TEAMS = 13_610
"""Kaggle's titanic field (shared/datasets/README.md: the board file holds its top 4,549)."""


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("medals-cache")


def prepared(cid: str, cache: Path, seed: int = 0) -> tuple[Competition, PreparedData]:
    need(kaggle_root())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        comp = get_competition(cid)
    return comp, prepare(comp, data_seed=seed, cache_dir=cache)


# --------------------------------------------------------------------- truncated boards


def test_a_truncated_board_takes_its_medal_positions_from_the_real_field() -> None:
    listed = np.linspace(1.0, 0.01, 100)  # the top 100 of a field of 1,000 teams
    real = medal_thresholds(listed, True, teams=1000)
    # N = 1000: gold at 10 + int(2) = 12, silver at 50, bronze at 100 (not 10, 20, 40)
    assert (real.gold, real.silver, real.bronze) == (listed[11], listed[49], listed[99])
    assert real.median == listed[-1]  # the real median is not listed: the last listed score
    assert rank_score(float(listed[30]), listed, True, teams=1000).medal == "silver"
    assert rank_score(float(listed[30]), listed, True).medal == "bronze"


def test_a_team_count_the_board_cannot_serve_is_refused() -> None:
    listed = np.linspace(1.0, 0.01, 100)
    with pytest.raises(GradingError, match="`teams` is 50"):
        medal_thresholds(listed, True, teams=50)
    with pytest.raises(GradingError, match="past the 100 listed entries"):
        medal_thresholds(listed, True, teams=5000)  # bronze at position 500


def test_a_board_without_medals_still_reports_its_thresholds() -> None:
    placed = rank_score(1.0, [1.0, 0.5, 0.2], True, medals=False)
    assert placed.medal is None and placed.thresholds.gold == 1.0 and placed.human_rank == 1.0


@pytest.mark.parametrize("cid", KAGGLE)
def test_every_truncated_board_declares_the_real_field(cid: str) -> None:
    """MLE-Dojo's board copies are cut at ~4,600 rows for large fields; the shared data's
    `_teams_vs_rows.csv` gives each competition's real team count. (MLE-bench's boards are
    the field MLE-bench ranks against, and its thresholds are reproduced as they are.)"""
    counts = need(leaderboards_root() / "mledojo" / "_teams_vs_rows.csv")
    teams = pd.read_csv(counts).set_index("comp")["kaggle_teams"]
    comp = get_competition(cid)
    board_spec = comp.spec.leaderboard
    assert board_spec is not None
    path = comp.path(board_spec.private)
    if detect_format(list(pd.read_csv(path, nrows=0).columns), path) != "mledojo":
        return
    listed = load_leaderboard(path).size
    real = int(teams[cid])
    assert board_spec.teams == (real if listed < real else None), (listed, real)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_titanic_female_survives_earns_no_medal(seed: int, cache: Path, tmp_path: Path) -> None:
    comp, data = prepared("titanic", cache, seed)
    test = pd.read_csv(data.public_dir / "test.csv")
    rule = pd.DataFrame({"PassengerId": test["PassengerId"], "Survived": test["Sex"] == "female"})
    path = tmp_path / "female.csv"
    rule.astype({"Survived": int}).to_csv(path, index=False)
    report = Scorer(comp, data).score(path, part="private")
    assert report.medal is None and report.medals_status == "none"
    assert any(c.startswith("Medals none: no medals") for c in report.caveats)
    board = sort_best_first(load_leaderboard(comp.path("leaderboard/private.csv")), True)
    assert comp.spec.leaderboard is not None and comp.spec.leaderboard.teams == TITANIC_TEAMS
    assert report.thresholds is not None
    assert report.thresholds.bronze == board[1361 - 1]  # MLE-bench's position for N = 13,610


# --------------------------------------------------------------------- implausibility


@pytest.mark.parametrize("cid", KAGGLE)
def test_every_kaggle_competition_has_bounds_derived_from_its_board(cid: str) -> None:
    comp = get_competition(cid)
    spec, board_spec = comp.spec, comp.spec.leaderboard
    assert board_spec is not None and board_spec.copy_share_beyond is not None
    board = load_leaderboard(comp.path(board_spec.private))
    derived = board_ceiling(
        board, spec.metric.name, spec.metric.higher_is_better, board_spec.honest_below
    )
    assert spec.metric.implausible_beyond == derived, "re-derive it: docs/scoring.md"


def test_the_copy_share_of_each_prediction_kind() -> None:
    truth = np.array([0.0, 1.0, 1.0, 0.0])
    assert copy_share("probability", truth, np.array([0.0, 1.0, 0.7, 0.5])) == 0.5
    assert copy_share("label", truth, np.array([0.0, 1.0, 0.0, 1.0])) == 0.5
    values = np.array([1000.0, 2.0, 3.0, 4.0])
    assert copy_share("value", values, values + np.array([1e-4, 1e-7, 0.1, 0.0])) == 0.75
    onehot = np.eye(2)[[0, 1]]
    assert copy_share("class_probabilities", onehot, np.array([[1.0, 0.0], [0.4, 0.6]])) == 0.5
    assert copy_threshold(0.8) == 0.9 and copy_threshold(0.0) == 0.5


def test_a_partial_copy_of_the_answers_is_flagged(cache: Path, tmp_path: Path) -> None:
    """60 % of the private rows copied, the rest far off: a score well under the ceiling,
    not a full copy, yet flagged (the old check fired only when every row was copied)."""
    comp, data = prepared("playground-series-s3e9", cache)
    scorer = Scorer(comp, data)
    answers = scorer.answers.copy()
    rng = np.random.default_rng(0)
    keep = rng.random(len(answers)) < 0.6
    answers.loc[~keep, "Strength"] = answers.loc[~keep, "Strength"] + 40.0
    path = tmp_path / "partial.csv"
    answers[["id", "Strength"]].to_csv(path, index=False)
    report = scorer.score(path, part="private")
    assert not comp.spec.metric.is_implausible(report.score)  # the ceiling alone misses it
    assert not report.copies_answers and report.copy_share is not None
    assert 0.5 < report.copy_share < 0.7
    assert report.implausible and report.caveats[0].startswith("SUSPECT:")


def test_the_public_feedback_counts_no_exact_answers(cache: Path, tmp_path: Path) -> None:
    """The public grade is an agent's feedback every step: it must say no more than the
    rounded score. An exact-match share there is an oracle: guess one row's strength, and a
    share that moves by 1/n says the guess is the hidden answer (RMSE rounded to 5 decimals
    hides it). The private grade, the caller's, keeps the share for the copy check."""
    comp, data = prepared("playground-series-s3e9", cache)
    scorer = Scorer(comp, data)
    answers = scorer.answers.copy()
    public = answers["usage"] == "public"
    guess = answers.assign(Strength=answers["Strength"] + 40.0)
    first = guess.index[public][0]
    guess.loc[first, "Strength"] = answers.loc[first, "Strength"]  # one right guess
    path = tmp_path / "probe.csv"
    guess[["id", "Strength"]].to_csv(path, index=False)
    seen = scorer.score(path, part="public")
    assert seen.copy_share is None
    assert not any("equal the hidden answers" in c for c in seen.caveats)
    assert scorer.score(path, part="private").copy_share is not None


def test_a_cross_seed_lookup_score_is_past_the_ceiling(cache: Path, tmp_path: Path) -> None:
    """What the audit saw: another seed's train.csv gives 0.987 on spaceship (Kaggle's best
    0.828). Labels of 97 % of the rows, the rest wrong: flagged."""
    comp, data = prepared("spaceship-titanic", cache)
    scorer = Scorer(comp, data)
    answers = scorer.answers.copy()
    flip = np.random.default_rng(1).random(len(answers)) < 0.03
    answers.loc[flip, "Transported"] = ~answers.loc[flip, "Transported"].astype(bool)
    path = tmp_path / "lookup.csv"
    answers[["PassengerId", "Transported"]].to_csv(path, index=False)
    report = scorer.score(path, part="private")
    assert report.score > 0.95 and report.implausible


# --------------------------------------------------------------------- the audit


def test_the_audit_measures_uninformative_medals(cache: Path) -> None:
    """bike-sharing: its test hours interleave with train hours, and a default gradient
    boosting beats every human. A spec claiming informative medals is a finding."""
    comp, data = prepared("bike-sharing-demand", cache)
    report = audit(comp, data)
    assert report.passed, [f.message for f in report.findings]
    assert report.medals is not None and report.medals.measured == "uninformative"
    assert scorer_better(comp, report.medals.reference_score, report.medals.honest_top)
    board = comp.spec.leaderboard
    assert board is not None
    claims = board.model_copy(update={"medals": "informative"})
    overstated = Competition(
        spec=comp.spec.model_copy(update={"leaderboard": claims}), folder=comp.folder
    )
    checks = {f.check for f in audit(overstated, data).findings}
    assert checks == {"medals_overstated"}


def test_the_audit_finds_bounds_that_flag_honest_work(cache: Path) -> None:
    """A ceiling below what a default model reaches would flag honest agents."""
    comp, data = prepared("spaceship-titanic", cache)
    low = comp.spec.metric.model_copy(update={"implausible_beyond": 0.7})
    tight = Competition(spec=comp.spec.model_copy(update={"metric": low}), folder=comp.folder)
    found = [f for f in audit(tight, data).findings if f.check == "reference_implausible"]
    assert found and "past 0.7" in found[0].message


def scorer_better(comp: Competition, a: float, b: float) -> bool:
    return a > b if comp.spec.metric.higher_is_better else a < b


def test_list_and_info_show_what_medals_mean() -> None:
    def cli(*args: str) -> str:
        res = subprocess.run(
            [sys.executable, "-m", "mledojo.cli", *args],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert res.returncode == 0, res.stderr
        return res.stdout

    rows = {r["id"]: r for r in json.loads(cli("list", "--json"))["competitions"]}
    assert rows["bike-sharing-demand"]["leaderboard"]["medals"] == "uninformative"
    assert "uninformative" in cli("list", "--split", "kaggle")
    assert "Medals: none: no medals" in cli("info", "titanic")
