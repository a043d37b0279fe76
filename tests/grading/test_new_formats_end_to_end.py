"""A multi-label and a ranked-labels competition made in a temporary folder from real rows
(the first rows of playground-series s4e3 and s3e13's training files, never committed),
prepared by mledojo, then: the sample submission, the perfect submission, the reference
model (decision 84) and the leak audit (run once, on the multi-label one: the reference
model is its slow part, and the real competitions are audited by test_leak_audit.py).
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pandas as pd
import pytest

from mledojo.competition import Competition, load_competition
from mledojo.data.prepare import prepare
from mledojo.grading.audit import audit, perfect_submission, rounded
from mledojo.grading.reference import reference_submission
from mledojo.grading.scorer import Scorer
from mledojo.testing.shared_data import need_kaggle

DEFECTS = ["Pastry", "Z_Scratch", "K_Scatch", "Stains", "Dirtiness", "Bumps", "Other_Faults"]

MULTI = """\
    id: steel-defects
    version: 1
    title: "Steel plate defects"
    task: multi_label
    metric: {name: mean_columnwise_roc_auc, higher_is_better: true}
    target: [Pastry, Z_Scratch, K_Scatch, Stains, Dirtiness, Bumps, Other_Faults]
    id_column: id
    source: {kind: local, path: data, files: [train.csv]}
    split: {kind: random, test_size: 0.25, seed: 0}
    leaderboard: {kind: reference, private: board.csv, medals: uninformative}
"""

RANKED = """\
    id: vector-borne
    version: 1
    title: "Vector-borne diseases, three guesses"
    task: multiclass
    metric: {name: map_at_3, higher_is_better: true}
    target: prognosis
    id_column: id
    source: {kind: local, path: data, files: [train.csv]}
    split: {kind: stratified, test_size: 0.3, seed: 0}
    leaderboard: {kind: reference, private: board.csv, medals: uninformative}
"""


def make(root: Path, spec: str, source: str, rows: int, board: list[float]) -> Competition:
    table = pd.read_csv(need_kaggle(source, "train.csv")).head(rows)
    folder = root / source
    (folder / "data").mkdir(parents=True)
    table.to_csv(folder / "data" / "train.csv", index=False)
    (folder / "competition.yaml").write_text(textwrap.dedent(spec))
    (folder / "description.md").write_text("A test competition.\n")
    pd.DataFrame({"rank": range(1, len(board) + 1), "score": board}).to_csv(
        folder / "board.csv", index=False
    )
    return load_competition(folder)


def test_multi_label_competition_sample_perfect_reference_and_audit(tmp_path: Path) -> None:
    comp = make(tmp_path, MULTI, "playground-series-s4e3", 2000, [0.95, 0.9, 0.85, 0.8, 0.6])
    data = prepare(comp, cache_dir=tmp_path / "cache")
    scorer = Scorer(comp, data)
    sample = pd.read_csv(data.sample_submission_path)
    assert list(sample.columns) == ["id", *DEFECTS] and (sample[DEFECTS] == 0.5).all().all()
    assert scorer.score(data.sample_submission_path, part="private").score == pytest.approx(0.5)
    perfect = perfect_submission(scorer)
    assert list(perfect.columns) == ["id", *DEFECTS]
    path = tmp_path / "perfect.csv"
    perfect.to_csv(path, index=False)
    graded = scorer.score(path, part="private")
    assert graded.score == 1.0 and graded.copies_answers
    report = audit(comp, data)
    assert report.passed, report.findings
    assert report.perfect_medal == "gold" and report.sample_medal is None
    # the reference model (one classifier per target) was graded by the audit
    assert report.medals is not None and 0.75 < report.medals.reference_score < 0.98


def test_ranked_labels_competition_sample_perfect_and_reference(tmp_path: Path) -> None:
    comp = make(tmp_path, RANKED, "playground-series-s3e13", 707, [0.7, 0.55, 0.45, 0.4, 0.3])
    data = prepare(comp, cache_dir=tmp_path / "cache")
    scorer = Scorer(comp, data)
    train = pd.read_csv(data.public_dir / "train.csv")
    sample = pd.read_csv(data.sample_submission_path)
    common = train["prognosis"].value_counts().index[:3].tolist()
    assert (sample["prognosis"] == " ".join(common)).all()
    assert 0.1 < scorer.score(data.sample_submission_path, part="private").score < 0.35
    perfect = perfect_submission(scorer)
    path = tmp_path / "perfect.csv"
    perfect.to_csv(path, index=False)
    graded = scorer.score(path, part="private")
    assert graded.score == 1.0 and graded.copies_answers and graded.copy_share == 1.0
    reference = reference_submission(comp.spec, data.public_dir)
    guesses = reference["prognosis"].str.split()
    assert (guesses.str.len() == 3).all() and (guesses.map(lambda g: len(set(g))) == 3).all()
    assert rounded(reference, scorer).equals(reference)  # labels are already exact
    path = tmp_path / "reference.csv"
    reference.to_csv(path, index=False)
    score = scorer.score(path, part="private").score
    assert 0.25 < score < 0.65  # s3e13's board: 0.53 at the top
    # the first guess is the model's most probable class: its share of right first
    # guesses is the copy share, below the MAP
    assert 0 < (scorer.score(path, part="private").copy_share or 0) < score
