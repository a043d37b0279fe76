"""The baseline table of docs/competitions.md is the one `benchmarks/baseline_table.py` writes.

Fast: the documented block is checked for the script's format (markers, note line, header,
one row per competition in order, each row matching the script's `ROW_PATTERN`), not its
numbers, and the script's own rows (graded, with and without an interval, ungraded) are
checked against the same pattern, so the pattern cannot drift from the renderer.
"""

from __future__ import annotations

from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

import mledojo
from mledojo._files import import_file
from mledojo.artifacts import EpisodeResult, FinalGrade, SandboxStats

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "baseline_table.py"


@pytest.fixture(scope="module")
def script() -> ModuleType:
    return import_file(SCRIPT, "baseline_table")


def _problems(script: ModuleType, lines: list[str]) -> list[str]:
    """How a block's lines (between the markers) differ from the script's format."""
    if len(lines) < 4:
        return [f"the block has {len(lines)} lines: a note, a blank line, a header, rows"]
    note, blank, *table = lines
    problems = []
    if not script.NOTE_PATTERN.match(note):
        problems.append(f"note line {note!r} is not the script's")
    if blank != "":
        problems.append("no blank line after the note")
    if "\n".join(table[:2]) != script.HEADER:
        problems.append(f"header {table[:2]} is not the script's")
    names = []
    for line in table[2:]:
        match = script.ROW_PATTERN.match(line)
        if match is None:
            problems.append(f"row {line!r} is not in the script's format")
        else:
            names.append(match["competition"])
    if names != sorted(names):
        problems.append(f"rows not in the script's order: {names}")
    return problems


def _result(**final: Any) -> EpisodeResult:
    return EpisodeResult(
        competition="titanic",
        competition_version=1,
        data_seed=0,
        agent="baseline",
        seed=0,
        status="completed",
        end_reason="submitted",
        steps=2,
        wall_time_s=11.4,
        best_public_score=None,
        best_public_human_rank=None,
        final=FinalGrade(**final),
        metric="accuracy",
        higher_is_better=True,
        sandbox=SandboxStats(kind="docker"),
    )


def test_the_documented_baseline_table_has_the_scripts_format(script: ModuleType) -> None:
    lines = script.read_block(script.DOC.read_text(encoding="utf-8"))
    assert _problems(script, lines) == []
    rows = lines[4:]
    listed = [script.ROW_PATTERN.match(line)["competition"] for line in rows]
    assert listed == sorted(mledojo.list_competitions()), "run the script with --write"


def test_the_rows_the_script_writes_match_its_pattern(script: ModuleType) -> None:
    graded = {"graded": True, "private_score": 0.8427, "private_human_rank": 0.945}
    graded |= {"leaderboard_entries": 4549, "leaderboard_kind": "kaggle"}
    rows = [
        script.row("titanic", _result(**graded, interval=(0.77, 0.91), medal="bronze")),
        script.row("titanic", _result(**graded, medal_probabilities={"bronze": 0.4})),
        script.row("titanic", _result(graded=False, reason="no submission | at all")),
    ]
    text = script.replace_block(
        script.DOC.read_text(encoding="utf-8"), script.block(script.note("docker", 0, 3.2), rows)
    )
    assert _problems(script, script.read_block(text)) == []
    assert "0.84270 [0.77000, 0.91000] | 0.945 | bronze | - | none | top 4,549 of 13,610" in rows[0]
