"""A user's own CSV becomes a competition with no library change (docs/adding-a-competition.md).

The folder is made in a temporary directory from scikit-learn's breast-cancer data set
(569 real tumour measurements), found through `MLEDOJO_COMPETITIONS_PATH`, listed,
prepared, graded, and played by the baseline agent. Broken folders are reported with the
file and the field at fault.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer

import mledojo
from mledojo.competition import discover, load_competition
from mledojo.errors import SpecError
from mledojo.grading.scorer import Scorer

SPEC = """\
    id: tumour-malignancy
    version: 1
    title: "Breast tumours: malignant or benign?"
    task: binary
    metric: {name: roc_auc, higher_is_better: true}
    target: malignant
    id_column: id
    source: {kind: local, path: data, files: [tumours.csv]}
    split: {kind: stratified, test_size: 0.25, public_fraction: 0.4, seed: 0}
    budget: {step_timeout_s: 300, episode_time_s: 900, max_steps: 5}
    resources: {memory_mb: 4096, cpus: 2}
    tags: [tabular, mine]
"""

DESCRIPTION = """\
# Breast tumours

Predict whether a tumour is malignant (`malignant` = 1) from 30 measurements of its cell
nuclei. Metric: ROC AUC. Submit `id,malignant` with a probability per test row.
"""


def write_competition(root: Path, spec: str = SPEC) -> Path:
    """The worked example of docs/adding-a-competition.md, written under `root`."""
    folder = root / "tumour-malignancy"
    (folder / "data").mkdir(parents=True)
    data = load_breast_cancer(as_frame=True)
    table = data.data.copy()
    table.columns = [c.replace(" ", "_") for c in table.columns]
    table.insert(0, "id", range(1, len(table) + 1))
    table["malignant"] = (data.target == 0).astype(int)  # sklearn codes malignant as 0
    table.to_csv(folder / "data" / "tumours.csv", index=False)
    (folder / "competition.yaml").write_text(textwrap.dedent(spec))
    (folder / "description.md").write_text(DESCRIPTION)
    return folder


@pytest.fixture
def user_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "my-competitions"
    root.mkdir()
    monkeypatch.setenv("MLEDOJO_COMPETITIONS_PATH", str(root))
    monkeypatch.setenv("MLEDOJO_CACHE_DIR", str(tmp_path / "cache"))
    return root


def test_user_folder_is_listed_prepared_and_graded(user_root: Path) -> None:
    write_competition(user_root)
    assert "tumour-malignancy" in mledojo.list_competitions()
    assert "tumour-malignancy" in mledojo.list_competitions("mine")
    data = mledojo.prepare("tumour-malignancy")
    train = pd.read_csv(data.public_dir / "train.csv")
    test = pd.read_csv(data.public_dir / "test.csv")
    assert len(train) + len(test) == 569 and "malignant" not in test.columns
    comp = discover().get("tumour-malignancy")
    report = Scorer(comp, data).score(data.sample_submission_path, part="private")
    assert report.score == pytest.approx(0.5)
    assert report.human_rank is None  # no leaderboard: score only, and it says so
    assert any("No leaderboard" in c for c in report.caveats)


@pytest.mark.slow
def test_baseline_plays_the_user_competition(
    user_root: Path, tmp_path: Path, memory_sandbox_kind: str
) -> None:
    from mledojo.play import run_episode
    from mledojo.resolve import resolve_spec

    write_competition(user_root)
    request = resolve_spec(
        competition="tumour-malignancy", agent="baseline", sandbox=memory_sandbox_kind
    )
    result = run_episode(request, runs_dir=tmp_path / "runs")
    assert result.final.graded, result.end_reason
    assert result.final.private_score is not None
    assert result.final.private_score > 0.9  # gradient boosting separates these well


BROKEN = {
    "bad metric name": (("metric: {name: roc_auc,", "metric: {name: roc_aucc,"), "metric.name"),
    "missing field": (("    id_column: id\n", ""), "id_column"),
    "wrong type": (("version: 1", "version: first"), "version"),
    "bad split kind": (("kind: stratified", "kind: shuffled"), "split.kind"),
}


@pytest.mark.parametrize("mistake", sorted(BROKEN))
def test_broken_folder_names_file_and_field(mistake: str, user_root: Path) -> None:
    (old, new), field = BROKEN[mistake]
    assert old in SPEC
    folder = write_competition(user_root, SPEC.replace(old, new))
    with pytest.raises(SpecError) as err:
        load_competition(folder)
    message = str(err.value)
    assert str(folder / "competition.yaml") in message
    assert field in message
    # discovery reports it beside the others instead of failing
    catalogue = discover()
    assert any(str(folder) in str(b) for b in catalogue.broken)
    assert "titanic" in catalogue.ids()
