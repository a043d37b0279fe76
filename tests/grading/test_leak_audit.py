"""The leak audit (mledojo/grading/audit.py) over every registered competition, and attacks.

Every competition (latest versions: pump-failure v2 and the ten Kaggle-derived ones) must
pass. The Kaggle ones read their raw files through `MLEDOJO_KAGGLE_DIR` (tests/conftest.py
points it at ../shared/datasets/kaggle when that folder exists; CI's test.sh sets it). When
the variable is set the test runs and a missing file fails it; only without it is a Kaggle
competition skipped, with the reason shown. The attacks prove the audit bites: pump-failure
v1 (its look-ahead leak) and leaky copies of a real data set must each be caught.
"""

from __future__ import annotations

import textwrap
import warnings
from pathlib import Path

import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer

import mledojo
from mledojo.competition import Competition, get_competition, load_competition
from mledojo.data.prepare import prepare
from mledojo.grading.audit import audit
from mledojo.testing.shared_data import kaggle_root, need

COMPETITIONS = mledojo.list_competitions()


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("audit-cache")


def test_every_builtin_competition_is_audited() -> None:
    assert len(COMPETITIONS) >= 11 and "pump-failure" in COMPETITIONS
    assert get_competition("pump-failure").spec.version == 2


@pytest.mark.parametrize("cid", COMPETITIONS)
def test_competition_passes_the_leak_audit(cid: str, cache: Path) -> None:
    comp = get_competition(cid)
    if comp.spec.source.kind == "kaggle":
        need(kaggle_root())
    report = audit(comp, prepare(comp, cache_dir=cache))
    assert report.passed, "\n".join(f.message for f in report.findings)
    awards = comp.spec.leaderboard is None or comp.spec.leaderboard.medals != "none"
    assert report.perfect_medal == ("gold" if awards else None) and report.sample_medal != "gold"
    assert "test.csv" in report.strongest  # the test file was really examined


@pytest.mark.slow
def test_pump_failure_v1_look_ahead_leak_is_caught(cache: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        comp = get_competition("pump-failure-v1")
    report = audit(comp, prepare(comp, cache_dir=cache))
    assert not report.passed
    assert {f.check for f in report.findings} == {"look_ahead"}
    assert any(f.column == "load_pct over the next 24 rows" for f in report.findings)


# --------------------------------------------------------------------------- attacks

SPEC = """\
    id: leaky-tumours
    version: 1
    title: "Breast tumours, prepared by a careless author"
    task: binary
    metric: {name: roc_auc, higher_is_better: true}
    target: malignant
    id_column: id
    source: {kind: local, path: data, files: [tumours.csv]}
    prepare: prepare.py
    leaderboard: {kind: reference, private: board.csv, medals: uninformative}
"""

PREPARE = """\
from pathlib import Path

import numpy as np
import pandas as pd

ATTACK = {attack!r}


def prepare(raw: Path, public: Path, private: Path, seed: int) -> None:
    table = pd.read_csv(raw / "tumours.csv")
    rng = np.random.default_rng(seed)
    is_test = rng.random(len(table)) < 0.3
    train, test = table[~is_test], table[is_test]
    public_test = test.drop(columns=["malignant"])
    sample = pd.DataFrame({{"id": test["id"], "malignant": 0.5}})
    if ATTACK == "renamed_target":
        public_test = public_test.assign(diagnosis_code=test["malignant"] * 7 + 1)
    if ATTACK == "decoy_in_train":  # the renamed target in test, noise under its name in train
        public_test = public_test.assign(diagnosis_code=test["malignant"] * 7 + 1)
        train = train.assign(diagnosis_code=rng.integers(1, 9, len(train)))
    if ATTACK == "noisy_copy":
        noise = rng.normal(0, 0.05, len(test))
        public_test = public_test.assign(risk=test["malignant"] + noise)
    if ATTACK == "answers_beside":  # (the answers in test.csv itself: prepare refuses them)
        test.to_csv(public / "extra.csv", index=False)
    if ATTACK == "train_repeats_test":
        train = pd.concat([train, test.iloc[:5]])
    if ATTACK == "sample_is_answers":
        sample = test[["id", "malignant"]].astype({{"malignant": float}})
    if ATTACK == "future_rows":  # each row's `alarm` is the previous row's answer
        test = test.sort_values("id")
        public_test = test.drop(columns=["malignant"]).assign(
            timestamp=pd.date_range("2025-01-01", periods=len(test), freq="h").astype(str),
            alarm=np.r_[0, test["malignant"].to_numpy()[:-1]],
        )
    train.to_csv(public / "train.csv", index=False)
    public_test.to_csv(public / "test.csv", index=False)
    test[["id", "malignant"]].to_csv(private / "test.csv", index=False)
    sample.to_csv(public / "sample_submission.csv", index=False)
"""

ATTACKS = {
    "renamed_target": "near_copy",
    "noisy_copy": "near_copy",
    "answers_beside": "answer_column",
    "train_repeats_test": "id_overlap",
    "sample_is_answers": "sample_gold",
    "future_rows": "look_ahead",
}


def leaky_competition(root: Path, attack: str) -> Path:
    """A real table (scikit-learn's breast-cancer data) prepared with one leak."""
    folder = root / attack
    (folder / "data").mkdir(parents=True)
    data = load_breast_cancer(as_frame=True)
    table = data.data.copy()
    table.columns = [c.replace(" ", "_") for c in table.columns]
    table.insert(0, "id", range(1, len(table) + 1))
    table["malignant"] = (data.target == 0).astype(int)
    table.to_csv(folder / "data" / "tumours.csv", index=False)
    (folder / "competition.yaml").write_text(textwrap.dedent(SPEC))
    (folder / "description.md").write_text("Predict `malignant` (ROC AUC).\n")
    (folder / "prepare.py").write_text(PREPARE.format(attack=attack))
    board = pd.DataFrame({"rank": [1, 2, 3, 4], "score": [0.999, 0.99, 0.95, 0.5]})
    board.to_csv(folder / "board.csv", index=False)
    return folder


@pytest.mark.parametrize("attack", sorted(ATTACKS))
def test_a_leak_is_found(attack: str, tmp_path: Path) -> None:
    comp = load_competition(leaky_competition(tmp_path, attack))
    report = audit(comp, prepare(comp, cache_dir=tmp_path / "cache"))
    assert ATTACKS[attack] in {f.check for f in report.findings}, report.findings


STRONG = "strong_features: {diagnosis_code: 'the diagnosis is coded from the outcome'}\n"


@pytest.mark.parametrize("attack", ["renamed_target", "decoy_in_train"])
def test_a_declared_strong_feature_must_be_as_strong_in_train(attack: str, tmp_path: Path) -> None:
    """`strong_features` lets an honest strong column pass (s3e6's squareMeters), never one
    the test file alone holds, nor one that gives nothing in train.csv."""
    folder = leaky_competition(tmp_path, attack)
    spec = folder / "competition.yaml"
    spec.write_text(spec.read_text() + STRONG)
    comp = load_competition(folder)
    assert comp.spec.strong_features
    report = audit(comp, prepare(comp, cache_dir=tmp_path / "cache"))
    assert [f.column for f in report.findings if f.check == "near_copy"] == ["diagnosis_code"]
    assert report.declared_strong == {}


def test_an_honest_strong_feature_passes_only_when_declared(tmp_path: Path) -> None:
    """playground-series-s3e6: a price of about 100 x squareMeters is how the data were made
    (R² 0.995 in train and test alike); without the declaration the audit flags it."""
    comp = get_competition("playground-series-s3e6")
    need(kaggle_root())
    data = prepare(comp, cache_dir=tmp_path)
    report = audit(comp, data)
    assert report.passed and set(report.declared_strong) == {"test.csv:squareMeters"}
    bare = Competition(
        spec=comp.spec.model_copy(update={"strong_features": {}}), folder=comp.folder
    )
    found = [f for f in audit(bare, data).findings if f.check == "near_copy"]
    assert [f.column for f in found] == ["squareMeters"]


def test_the_careful_author_passes(tmp_path: Path) -> None:
    comp = load_competition(leaky_competition(tmp_path, "none"))
    report = audit(comp, prepare(comp, cache_dir=tmp_path / "cache"))
    assert report.passed, report.findings
    assert 0.97 < report.strongest["test.csv"] < 0.99  # a strong honest feature is no leak
    # a default model's ROC AUC of 1.0 on its small test beats the board's 0.999: the spec
    # must say its medals are uninformative (it does), or the audit fails it
    assert report.medals is not None and report.medals.measured == "uninformative"


def test_the_cli_audits_a_users_competition_and_fails_on_its_leak(tmp_path: Path) -> None:
    """`mledojo audit` (an author's check before publishing): the leak is named by file and
    column and the exit status is 1; the careful version passes with exit 0."""
    import json
    import os
    import subprocess
    import sys

    def run(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
        env = {
            **os.environ,
            "MLEDOJO_COMPETITIONS_PATH": str(folder.parent),
            "MLEDOJO_CACHE_DIR": str(tmp_path / "cache"),  # one cache: the fix must rebuild
            "NO_COLOR": "1",
        }
        command = [sys.executable, "-m", "mledojo.cli", "audit", "leaky-tumours", *args]
        return subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)

    leaky = run(leaky_competition(tmp_path / "a", "noisy_copy"))
    assert leaky.returncode == 1, leaky.stderr
    assert "near_copy in test.csv column `risk`" in leaky.stdout
    careful = run(leaky_competition(tmp_path / "b", "none"), "--json")
    assert careful.returncode == 0, careful.stderr
    report = json.loads(careful.stdout)
    assert report["passed"] and report["perfect_medal"] == "gold" and report["sample_medal"] is None


def test_the_audit_prints_names_from_the_data_as_text(capsys: pytest.CaptureFixture[str]) -> None:
    """A column named like console markup (a Kaggle header may hold brackets) is printed as
    written; it ended the command with a markup error (or restyled the report) before."""
    from mledojo.cli import _print_audit
    from mledojo.grading.audit import AuditReport, Finding

    column = "risk[/bold][red]"
    report = AuditReport(
        competition="brackets-v1",
        findings=[
            Finding(
                check="near_copy",
                file="test.csv",
                column=column,
                value=0.99,
                message=f"test.csv column `{column}` predicts the answers",
            )
        ],
        files=["test.csv", "[b]train.csv"],
        strongest={},
    )
    _print_audit(report)
    printed = " ".join(capsys.readouterr().out.split())
    assert f"near_copy in test.csv column `{column}`" in printed
    assert "[b]train.csv" in printed
