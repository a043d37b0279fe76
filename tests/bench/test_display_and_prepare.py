"""The two displays, and bulk preparation of a split (no Docker)."""

from __future__ import annotations

import io
from pathlib import Path

from rich.console import Console

from mledojo.bench.display import LiveDisplay, PlainDisplay, make_display
from mledojo.bench.plan import make_plan
from mledojo.bench.prepare import prepare_split
from mledojo.bench.worker import Outcome


def _jobs() -> list:  # type: ignore[type-arg]
    return make_plan(agents=["baseline"], competitions=["titanic"], seeds=[0, 1]).jobs


def test_plain_display_is_one_line_per_event_with_infra_apart() -> None:
    buf = io.StringIO()
    shown = PlainDisplay(Console(file=buf, width=200))
    a, b = _jobs()
    shown.start(2, [])
    shown.started(a, 1)
    shown.finished(a, Outcome(key=a.key, status="completed", private_score=0.81234567))
    shown.started(b, 2)
    shown.finished(b, Outcome(key=b.key, status="infra_error", reason="engine gone", attempt=2))
    lines = buf.getvalue().splitlines()
    assert lines[0] == "bench: 2 episode(s), 0 finished earlier (skipped)"
    assert lines[2].startswith("[1/2] completed") and "private 0.81235" in lines[2]
    assert lines[3].endswith("(attempt 2)")
    assert lines[4].startswith("[2/2] INFRA infra_error") and "engine gone" in lines[4]


def test_live_display_shows_progress_running_and_finished_scores() -> None:
    console = Console(file=io.StringIO(), force_terminal=True, width=160, record=True)
    live = make_display(console)
    assert isinstance(live, LiveDisplay)
    a, b = _jobs()
    live.start(2, [])
    live.started(a, 1)
    live.started(b, 1)
    live.finished(a, Outcome(key=a.key, status="completed", private_score=0.5, wall_time_s=3))
    console.print(live._render())
    live.stop()
    text = console.export_text()
    assert "1/2" in text
    assert "running" in text and b.label in text
    assert a.label in text and "completed" in text and "0.5" in text
    assert isinstance(make_display(Console(file=io.StringIO())), PlainDisplay)


def test_prepare_split_prepares_each_and_reports_failures(tmp_path: Path) -> None:
    rows = prepare_split("playground-series-s3e12,titanic", cache_dir=tmp_path / "cache")
    assert [(r.competition, r.state) for r in rows] == [
        ("playground-series-s3e12", "built"),
        ("titanic", "built"),
    ]
    again = prepare_split("playground-series-s3e12,titanic", cache_dir=tmp_path / "cache")
    assert {r.state for r in again} == {"reused"}
    empty = tmp_path / "raw"
    empty.mkdir()
    broken = prepare_split("titanic", cache_dir=tmp_path / "other", raw_dir=empty)
    assert broken[0].state == "failed" and "train" in broken[0].detail.lower()


def test_attach_adds_bench_and_leaderboard_submit() -> None:
    import typer
    from typer.testing import CliRunner

    from mledojo.bench.cli import attach
    from mledojo.leaderboard.cli import attach as attach_leaderboard

    app = typer.Typer()
    app.command("noop")(lambda: None)
    attach(app, attach_leaderboard(app))
    runner = CliRunner()
    top = runner.invoke(app, ["--help"])
    assert "bench" in top.output and "leaderboard" in top.output
    board = runner.invoke(app, ["leaderboard", "--help"])
    assert "submit" in board.output and "build" in board.output
    assert "reproduce" in board.output
    bad = runner.invoke(app, ["bench", "--seeds", "0"])
    assert bad.exit_code != 0


def test_the_summary_counts_ungraded_and_model_failures_apart() -> None:
    from mledojo.bench.cli import _summary
    from mledojo.bench.scheduler import BenchReport

    a, b = _jobs()
    report = BenchReport(
        run_id="r",
        run_folder="f",
        backend="local",
        outcomes={
            a.key: Outcome(key=a.key, status="completed"),  # ended without a valid submission
            b.key: Outcome(key=b.key, status="model_error", reason="HTTP 401"),
        },
    )
    assert (report.graded, report.model_failures, report.agent_failures) == (0, 1, 0)
    from mledojo import _console

    buf = io.StringIO()
    original = _console.out.file
    _console.out.file = buf
    try:
        _summary(report)
    finally:
        _console.out.file = original
    text = buf.getvalue()
    assert "graded" in text and "0 of 2" in text
    assert "model access failures" in text and "--retry model" in text
