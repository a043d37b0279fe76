"""The split figures in the docs are the data's (`scripts/split_figures.py`): the table of
docs/competitions.md, and the figures typed into competition caveats."""

from __future__ import annotations

from pathlib import Path

import pytest

from mledojo._files import import_file
from mledojo.competition import get_competition
from mledojo.testing.shared_data import kaggle_root, need

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "split_figures.py"


@pytest.mark.slow
def test_the_documented_split_figures_are_computed_from_the_data(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("MLEDOJO_KAGGLE_DIR", str(need(kaggle_root())))
    script = import_file(SCRIPT, "split_figures")
    rows = {r.competition: r for r in script.figures(tmp_path)}
    text = script.DOC.read_text(encoding="utf-8")
    fresh = script.replace_block(text, script.table(list(rows.values())))
    assert fresh == text, "docs/competitions.md is stale: run scripts/split_figures.py --write"
    titanic = " ".join(get_competition("titanic").spec.leaderboard.caveats)
    assert f"{rows['titanic'].private} in the private part" in titanic
    assert f"moves private accuracy by {rows['titanic'].one_row}" in titanic
    s3e22 = " ".join(get_competition("playground-series-s3e22").spec.leaderboard.caveats)
    assert f"{rows['playground-series-s3e22'].private} rows in its private part" in s3e22
    assert f"one row is {rows['playground-series-s3e22'].one_row}" in s3e22
