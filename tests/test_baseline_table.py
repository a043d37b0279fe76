"""The baseline table of docs/competitions.md is the one `benchmarks/baseline_table.py` writes,
and the `lite` split follows its rule (decision 100) on the table's recorded wall times.

Fast: the documented block is checked for the script's format (markers, note line, header,
one row per competition in order, each row matching the script's `ROW_PATTERN`), not its
numbers, and the script's own rows (graded, with and without an interval, ungraded, over
several seeds) are checked against the same pattern, so the pattern cannot drift from the
renderer. The script's bench run itself is exercised by its smoke run
(tests/test_benchmarks.py: a two-seed bench of titanic in Docker, resumed once).
"""

from __future__ import annotations

from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

import mledojo
from mledojo._files import import_file
from mledojo.artifacts import EpisodeResult, FinalGrade, SandboxStats
from mledojo.competition import discover
from mledojo.grading.validate import submission_layout

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


def _result(seed: int = 0, wall: float = 11.4, **final: Any) -> EpisodeResult:
    return EpisodeResult(
        competition="titanic",
        competition_version=1,
        data_seed=0,
        agent="baseline",
        seed=seed,
        status="completed",
        end_reason="submitted",
        steps=2,
        wall_time_s=wall,
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
    one_seed = [_result(**graded, interval=(0.77, 0.91), medal="bronze")]
    rows = [
        script.row("titanic", one_seed),
        script.row("titanic", [_result(**graded, medal_probabilities={"bronze": 0.4})]),
        script.row("titanic", [_result(graded=False, reason="no submission | at all")]),
    ]
    text = script.replace_block(
        script.DOC.read_text(encoding="utf-8"),
        script.block(script.note("baseline-table", one_seed), rows),
    )
    assert _problems(script, script.read_block(text)) == []
    assert "0.84270 [0.77000, 0.91000] | 1 of 1 in [0.84270, 0.84270] | 0.945 | bronze" in rows[0]
    assert "| none | top 4,549 of 13,610 teams | 11 |" in rows[0]
    assert "| not graded (no submission   at all) | 0 of 1 |" in rows[2]


def test_a_row_over_seeds_shows_the_median_episode_the_range_and_the_slowest(
    script: ModuleType,
) -> None:
    """Three seeds: the median-score episode's grade and interval, the seeds' range, and the
    slowest episode's wall time (what the `lite` rule reads); an ungraded seed is counted."""
    board = {"graded": True, "leaderboard_entries": 4549, "leaderboard_kind": "kaggle"}
    results = [
        _result(0, 9.0, **board, private_score=0.80, interval=(0.7, 0.9), medal="none"),
        _result(1, 31.6, **board, private_score=0.84, interval=(0.75, 0.92), medal="bronze"),
        _result(2, 12.0, **board, private_score=0.83, interval=(0.74, 0.91), medal="none"),
        _result(3, 5.0, graded=False, reason="timeout"),
    ]
    line = script.row("titanic", results)
    assert script.ROW_PATTERN.match(line), line
    assert "| 0.83000 [0.74000, 0.91000] | 3 of 4 in [0.80000, 0.84000] |" in line
    assert line.endswith("| 32 |")
    assert script.wall_times([line]) == {"titanic": 32}
    note = script.note("baseline-table", results)
    assert script.NOTE_PATTERN.match(note), note
    assert "agent seeds 0, 1, 2, 3" in note and "4 episodes, 58 s of episodes" in note


def test_lite_follows_its_rule_on_the_recorded_wall_times(script: ModuleType) -> None:
    """Decision 100: every `lite` competition's slowest baseline episode in the generated
    table is under `LITE_EPISODE_S`; the split holds every task type and prediction kind of
    the catalogue, both metric directions, a time series, a Kaggle and a synthetic
    competition, and at most `LITE_MAX` competitions."""
    walls = script.wall_times(script.read_block(script.DOC.read_text(encoding="utf-8")))
    catalogue = discover().latest()
    lite = [c for c in catalogue if "lite" in c.spec.tags]
    unmeasured = [c.id for c in lite if c.id not in walls]
    assert not unmeasured, f"lite competitions not in the baseline table: {unmeasured}"
    slow = {c.id: walls[c.id] for c in lite if walls[c.id] >= script.LITE_EPISODE_S}
    assert not slow, f"lite episodes at or over {script.LITE_EPISODE_S} s: {slow}"
    assert len(lite) <= script.LITE_MAX, (
        f"lite has {len(lite)} competitions; at most {script.LITE_MAX}"
    )

    def facets(comps: list[Any]) -> set[str]:
        out = set()
        for c in comps:
            out |= {f"task {c.spec.task}", f"kind {submission_layout(c.spec).kind}"}
            out.add("higher is better" if c.spec.metric.higher_is_better else "lower is better")
            out |= {f"tag {t}" for t in ("timeseries", "kaggle", "synthetic") if t in c.spec.tags}
        return out

    missing = facets(catalogue) - facets(lite)
    assert not missing, f"lite lacks what the catalogue holds: {sorted(missing)}"


def test_the_default_run_id_follows_the_plan(script: ModuleType) -> None:
    """The same bench resumes its run; another catalogue or seed count gets a new run (the
    fixed `baseline-table` id refused a bench whose catalogue had changed)."""
    first = script.default_run_id("lite", 3, "docker")
    assert first == script.default_run_id("lite", 3, "docker")
    assert first.startswith("baseline-table-")
    others = {script.default_run_id(s, n, "docker") for s, n in [("lite", 2), ("all", 3)]}
    assert first not in others and len(others) == 2
