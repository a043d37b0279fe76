"""The texts an agent reads: task brief, file listing, sample submission, metric, budget."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from mledojo.competition import Competition, Limits
from mledojo.data.prepare import PreparedData
from mledojo.grading.scorer import Scorer

_PREVIEW_LINES = 4


def info_text(
    comp: Competition,
    data: PreparedData,
    scorer: Scorer,
    topic: str,
    *,
    steps_left: int,
    time_left_s: float,
    limits: Limits,
) -> str:
    """One `request_info` answer; `all` concatenates every topic."""
    parts: dict[str, Callable[[], str]] = {
        "description": lambda: _description(data),
        "files": lambda: _files(data.public_dir),
        "sample_submission": lambda: _head(data.sample_submission_path, "sample_submission.csv"),
        "metric": lambda: _metric(comp, scorer),
        "budget": lambda: _budget(steps_left, time_left_s, limits),
    }
    if topic == "all":
        return "\n\n".join(f"## {name}\n{fn()}" for name, fn in parts.items())
    return parts[topic]()


def _description(data: PreparedData) -> str:
    return (data.public_dir / "description.md").read_text(encoding="utf-8").strip()


def _files(public: Path) -> str:
    lines = [
        "Data (read-only) is at /data (env var MLEDOJO_DATA); write to /workspace "
        "(MLEDOJO_WORKSPACE), the current directory. Save predictions as "
        "/workspace/submission.csv.",
    ]
    for path in sorted(public.rglob("*")):
        if path.is_file():
            rel = path.relative_to(public)
            lines.append(f"- /data/{rel} ({path.stat().st_size:,} bytes)")
            if path.suffix == ".csv":
                lines.append("  " + _head(path, str(rel), max_lines=2).replace("\n", "\n  "))
    return "\n".join(lines)


def _head(path: Path, label: str, max_lines: int = _PREVIEW_LINES) -> str:
    with path.open(encoding="utf-8", errors="replace") as f:
        head = [next(f, "").rstrip("\n")[:300] for _ in range(max_lines + 1)]
    return f"{label} (first lines):\n" + "\n".join(line for line in head if line)


def _metric(comp: Competition, scorer: Scorer) -> str:
    spec = comp.spec
    direction = "higher is better" if spec.metric.higher_is_better else "lower is better"
    board = spec.leaderboard
    lines = [
        f"Metric: {spec.metric.name} ({direction}). Submission columns: "
        f"{', '.join(scorer.expected_columns)}; one row per id of /data/test.csv.",
        "While you work, scores use only the public part of the test set; the final score "
        "uses the private part.",
    ]
    if board is not None:
        who = "human Kaggle teams" if board.kind == "kaggle" else "a reference pool of solutions"
        lines.append(f"HumanRank compares a score with a leaderboard of {who}.")
    return "\n".join(lines)


def _budget(steps_left: int, time_left_s: float, limits: Limits) -> str:
    return (
        f"Steps left: {steps_left}. Time left: {time_left_s:.0f} s. Per-step timeout: "
        f"{limits.step_timeout_s:.0f} s. Memory: {limits.memory_mb} MB. CPUs: {limits.cpus:g}."
    )
