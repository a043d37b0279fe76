"""What an agent reads: the task brief (`info_text`, by topic) and the task as data (`TaskInfo`)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from mledojo.competition import Competition
from mledojo.data.prepare import PreparedData
from mledojo.grading.scorer import Scorer
from mledojo.spec import Budget, Resources

_PREVIEW_LINES = 4
STATE_NOTE = (
    "Each execute_code / validate_code step runs in a fresh Python process: variables, "
    "imports and models do NOT persist between steps. Keep state in files under /workspace "
    "(they persist for the whole episode)."
)


class ToolInfo(BaseModel):
    """One trusted tool `call_tool` offers."""

    model_config = ConfigDict(frozen=True)

    name: str
    description: str
    parameters: dict[str, object] = {}


class TaskInfo(BaseModel):
    """The task as data, for agents that prefer fields to prose (in `reset`'s info)."""

    model_config = ConfigDict(frozen=True)

    competition: str
    title: str
    task: str
    metric: str
    higher_is_better: bool
    id_column: str
    targets: list[str]
    prediction_kind: str
    submission_columns: list[str]
    classes: list[str] | None
    positive_label: str | None
    log_target: bool
    data_dir: str = "/data"
    workspace: str = "/workspace"
    state_persists_between_steps: bool = False
    case_history: str | None = None
    """Prediction cases: the file with each test case's past (`None`: a flat test table)."""
    case_column: str | None = None
    tools: list[ToolInfo]


def task_info(comp: Competition, scorer: Scorer) -> TaskInfo:
    """The `TaskInfo` of a competition (its answers decide the positive label's spelling)."""
    from mledojo.grading.metrics import positive_label
    from mledojo.grading.validate import submission_layout

    spec = comp.spec
    layout = submission_layout(spec)
    positive = None
    if layout.kind == "probability":
        positive = positive_label(scorer.answers[spec.targets[0]].astype(str), spec.classes)
    return TaskInfo(
        competition=spec.id,
        title=spec.title,
        task=spec.task,
        metric=spec.metric.name,
        higher_is_better=spec.metric.higher_is_better,
        id_column=spec.id_column,
        targets=spec.targets,
        prediction_kind=layout.kind,
        submission_columns=layout.columns,
        classes=layout.classes,
        positive_label=positive,
        log_target=spec.metric.name in ("rmsle", "mean_columnwise_rmsle"),
        case_history=f"/data/{spec.cases.history}" if spec.cases else None,
        case_column=(spec.cases.case_column or spec.id_column) if spec.cases else None,
        tools=available_tools(),
    )


def available_tools() -> list[ToolInfo]:
    """The trusted tools of `call_tool`, with the JSON schema of their arguments."""
    from mledojo.tools.registry import tool_definitions

    return [ToolInfo.model_validate(d) for d in tool_definitions()]


def info_text(
    comp: Competition,
    data: PreparedData,
    scorer: Scorer,
    topic: str,
    *,
    steps_left: int,
    time_left_s: float,
    budget: Budget,
    resources: Resources,
) -> str:
    """One `request_info` answer; `all` concatenates every topic."""
    parts: dict[str, Callable[[], str]] = {
        "description": lambda: _description(data),
        "files": lambda: _files(data.public_dir),
        "sample_submission": lambda: _head(data.sample_submission_path, "sample_submission.csv"),
        "metric": lambda: _metric(comp, scorer),
        "budget": lambda: _budget(steps_left, time_left_s, budget, resources),
        "tools": lambda: _tools(budget),
    }
    if topic == "all":  # the tool schemas are long: named here, given by topic `tools`
        text = "\n\n".join(f"## {name}\n{fn()}" for name, fn in parts.items() if name != "tools")
        names = ", ".join(t.name for t in available_tools())
        return text + f"\n\n## tools\nrequest_info(topic='tools') gives the arguments of: {names}"
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


def _budget(steps_left: int, time_left_s: float, budget: Budget, resources: Resources) -> str:
    return (
        f"Steps left: {steps_left}. Time left: {time_left_s:.0f} s. Per-step timeout: "
        f"{budget.step_timeout_s:.0f} s. Public grades: at most {budget.public_grades}. "
        f"Memory: {resources.memory_mb} MB. CPUs: {resources.cpus:g}.\n{STATE_NOTE}"
    )


def _tools(budget: Budget) -> str:
    lines = [
        "call_tool(tool, args) runs one trusted tool inside the sandbox: JSON in, JSON out. "
        f"Tool calls do not use code steps; an episode has {budget.max_tool_calls} of them. "
        "Tables, models and predictions stay in files under /workspace/tools; pass their paths.",
    ]
    for tool in available_tools():
        lines.append(
            f"- {tool.name}: {tool.description}\n  args schema: {json.dumps(tool.parameters)}"
        )
    return "\n".join(lines)
