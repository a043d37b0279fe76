"""`mledojo bot` on real CSVs from ../shared/datasets: the ad-hoc competition and the run."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import typer
import yaml
from typer.testing import CliRunner

from mledojo.bot.adhoc import AdhocError, AdhocOptions, build_adhoc
from mledojo.bot.cli import attach
from mledojo.competition import load_competition
from mledojo.testing.shared_data import kaggle_root, need

SHARED = kaggle_root()
TITANIC = SHARED / "titanic" / "train.csv"
BIKE = SHARED / "bike-sharing-demand" / "train.csv"


@pytest.fixture
def _data() -> None:
    need(TITANIC)


needs_data = pytest.mark.usefixtures("_data")


def app() -> typer.Typer:
    root = typer.Typer()

    @root.callback()
    def main() -> None:
        """mledojo (test app)."""

    attach(root)
    return root


@needs_data
def test_a_time_column_gives_a_time_split_and_a_regression(tmp_path: Path) -> None:
    folder = build_adhoc(
        AdhocOptions(data=BIKE, target="count", time_column="datetime", statement="Rentals"),
        tmp_path,
    )
    comp = load_competition(folder, origin="adhoc")
    assert comp.spec.task == "regression" and comp.spec.metric.name == "rmse"
    assert comp.spec.split.kind == "time" and comp.spec.split.time_column == "datetime"
    table = pd.read_csv(folder / "table.csv")
    assert comp.spec.id_column == "row_id" and table["row_id"].is_unique
    assert "Rentals" in (folder / "description.md").read_text()
    again = build_adhoc(
        AdhocOptions(data=BIKE, target="count", time_column="datetime", statement="other words"),
        tmp_path,
    )
    assert again == folder  # same bytes and options: same id, same cached split
    grouped = build_adhoc(AdhocOptions(data=TITANIC, target="Survived"), tmp_path)
    spec = yaml.safe_load((grouped / "competition.yaml").read_text())
    assert spec["task"] == "binary" and spec["split"]["kind"] == "stratified"


@needs_data
def test_the_task_is_the_one_the_tools_infer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 15-level integer target (titanic's ages, binned) and a 60-level text target are
    multiclass for the tools; the ad-hoc spec once called both regression, and every
    experiment then failed (rmse refused for a multiclass model)."""
    from mledojo.tools.profile import ProfileArgs, profile_dataset

    df = pd.read_csv(TITANIC)
    df["age_band"] = (df["Age"].fillna(30) // 5).clip(upper=14).astype(int)
    df["ticket_prefix"] = df["Ticket"].str[:2]  # text, about 60 levels
    (tmp_path / "data").mkdir()
    monkeypatch.setenv("MLEDOJO_DATA", str(tmp_path / "data"))  # the tools' /data
    monkeypatch.setenv("MLEDOJO_WORKSPACE", str(tmp_path))
    data = tmp_path / "data" / "t.csv"
    for target in ("age_band", "ticket_prefix"):
        levels = df[target].value_counts()
        kept = df[df[target].isin(levels[levels >= 2].index)]
        kept.to_csv(data, index=False)
        comp = load_competition(build_adhoc(AdhocOptions(data=data, target=target), tmp_path))
        assert comp.spec.task == "multiclass", (target, comp.spec.task)
        tool_view = profile_dataset(ProfileArgs(path="/data/t.csv", target=target))
        assert tool_view["target"]["task"] == comp.spec.task


@needs_data
@pytest.mark.parametrize(
    ("options", "says"),
    [
        ({"target": "survived"}, "--target 'survived': train.csv has no such column"),
        ({"target": "Survived", "time_column": "Name"}, "are not dates"),
        ({"target": "Age"}, "have no value"),
    ],
)
def test_bad_options_name_the_flag(tmp_path: Path, options: dict[str, str], says: str) -> None:
    with pytest.raises(AdhocError, match=says.replace("(", r"\(")):
        build_adhoc(AdhocOptions(data=TITANIC, **options), tmp_path)  # type: ignore[arg-type]


def test_a_missing_file_is_one_line(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app(), ["bot", "--data", str(tmp_path / "nope.csv"), "--target", "y", "--sandbox", "local"]
    )
    assert result.exit_code == 1 and "no such file" in result.output


@needs_data
@pytest.mark.slow
def test_mledojo_bot_on_a_csv_gives_report_model_and_held_out_score(tmp_path: Path) -> None:
    args = [
        "bot",
        "--data",
        str(TITANIC),
        "--target",
        "Survived",
        "--id-column",
        "PassengerId",
        "--problem",
        "Predict which passengers survived the sinking",
        "--sandbox",
        "local",
        "--runs-dir",
        str(tmp_path),
        "--max-iterations",
        "1",
    ]
    result = CliRunner().invoke(app(), args)
    assert result.exit_code == 0, result.output
    lines = dict(line.split(":", 1) for line in result.output.splitlines() if ":" in line)
    score = float(lines["held-out roc_auc"].split()[0])
    assert 0.75 < score < 0.95 and "[no LLM]" in result.output
    assert Path(lines["model"].strip()).is_file()
    report = Path(lines["report"].split()[0])
    assert "Predict which passengers survived" in report.read_text()


# Real tables the bot was not tuned on: whole-number counts over 10^5 levels, 377 columns with
# high-cardinality codes, missing values in most columns.
UNSEEN_TABLES = [
    ("covid19-global-forecasting-week-1", "ConfirmedCases", "Id", "rmse"),
    ("mercedes-benz-greener-manufacturing", "y", "ID", "rmse"),
    ("icr-identify-age-related-conditions", "Class", "Id", "roc_auc"),
]


@needs_data
@pytest.mark.slow
@pytest.mark.parametrize(("competition", "target", "id_column", "metric"), UNSEEN_TABLES)
def test_mledojo_bot_works_on_real_tables_it_was_not_tuned_on(
    tmp_path: Path, competition: str, target: str, id_column: str, metric: str
) -> None:
    args = ["bot", "--data", str(SHARED / competition / "train.csv"), "--target", target]
    args += ["--id-column", id_column, "--model", "rules", "--max-iterations", "1"]
    args += ["--sandbox", "local", "--runs-dir", str(tmp_path / "runs")]
    result = CliRunner().invoke(app(), args)
    assert result.exit_code == 0, result.output
    lines = dict(line.split(":", 1) for line in result.output.splitlines() if ":" in line)
    assert float(lines[f"held-out {metric}"].split()[0]) > 0, result.output
