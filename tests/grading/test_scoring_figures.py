"""The per-competition figures of docs/scoring.md are the competitions' own
(`scripts/scoring_figures.py`): read from each competition.yaml and board file, never typed."""

from __future__ import annotations

from pathlib import Path

from mledojo._files import import_file
from mledojo.competition import get_competition

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "scoring_figures.py"


def test_the_documented_scoring_figures_are_the_competitions() -> None:
    script = import_file(SCRIPT, "scoring_figures")
    text = script.DOC.read_text(encoding="utf-8")
    assert script.replace_block(text, script.table()) == text, (
        "docs/scoring.md is stale: run scripts/scoring_figures.py --write"
    )
    teams = get_competition("titanic").spec.leaderboard.teams  # a truncated board: its field
    assert f" of {teams:,} teams |" in script.table()
