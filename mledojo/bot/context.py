"""What the bot knows of the task, distilled from the profile (aggregates only)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from mledojo.competition import MetricSpec

MAX_ROLL_COLUMNS = 6


class TaskContext(BaseModel):
    """The fields orchestration code reads as `ctx` (all derived from task info and profile)."""

    model_config = ConfigDict(extra="forbid")

    target: str
    id_column: str
    task: str
    metric: str
    higher_is_better: bool
    time_column: str | None = None
    group_column: str | None = None
    numeric_columns: list[str] = []
    categorical_columns: list[str] = []
    roll_columns: list[str] = []
    train: str = ""
    valid: str = ""
    test: str = "/data/test.csv"
    sample_submission: str = "/data/sample_submission.csv"
    case_history: str | None = None
    """Prediction cases (pump-failure v2): the file with each test case's own past."""
    valid_rows: int = 0

    @property
    def metric_spec(self) -> MetricSpec:
        """The metric and its direction: what decides which score is better."""
        return MetricSpec(name=self.metric, higher_is_better=self.higher_is_better)


def context_from_profile(task: dict[str, Any], profile: dict[str, Any]) -> TaskContext:
    """Column roles from the profile's candidates and kinds; the task info names the rest."""
    target = str(task["targets"][0])
    id_column = str(task["id_column"])
    cand = profile.get("candidates") or {}
    times = [str(c) for c in cand.get("time_columns") or []]
    groups = [str(c) for c in cand.get("group_columns") or []]
    columns = profile.get("column_profiles") or {}
    items = columns.items() if isinstance(columns, dict) else []
    time_column = times[0] if times else None
    group_column = groups[0] if groups and time_column else None  # a panel of series
    skip = {target, id_column, *times}
    numeric = [str(n) for n, p in items if p.get("kind") == "numeric" and n not in skip]
    categorical = [
        str(n)
        for n, p in items
        if p.get("kind") in ("categorical", "boolean") and n not in skip and n != group_column
    ]
    correlated = (profile.get("target") or {}).get("correlations") or {}
    ranked = [c for c in correlated if c in numeric] + [c for c in numeric if c not in correlated]
    return TaskContext(
        target=target,
        id_column=id_column,
        task=str(task["task"]),
        metric=str(task["metric"]),
        higher_is_better=bool(task["higher_is_better"]),
        time_column=time_column,
        group_column=group_column,
        numeric_columns=numeric,
        categorical_columns=categorical,
        roll_columns=ranked[:MAX_ROLL_COLUMNS],
        case_history=task.get("case_history"),
    )
