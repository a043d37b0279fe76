"""The per-task usage table (tokens, requests, dollars by model role), as MLAgentIO reports it."""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from mledojo.llm import CallUsage, UsageTotals

USAGE_FILE = "usage.json"


class RoleUsage(BaseModel):
    """What one model role (research or assistant) spent in one episode."""

    model_config = ConfigDict(extra="forbid")

    role: str
    model: str
    requests: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    usd: float = 0.0
    unpriced: bool = False

    def add(self, usage: CallUsage) -> None:
        self.requests += usage.calls
        self.input_tokens += usage.input_tokens
        self.output_tokens += usage.output_tokens
        self.usd += usage.usd or 0.0
        self.unpriced = self.unpriced or usage.usd is None


class TaskUsage(BaseModel):
    """One episode's usage: by role (calls that returned a value) and the meter's total (every
    billed call, failed ones too)."""

    model_config = ConfigDict(extra="forbid")

    task: str
    roles: list[RoleUsage]
    total: UsageTotals

    def write(self, folder: Path) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / USAGE_FILE
        path.write_text(self.model_dump_json(indent=2), encoding="utf-8")
        return path


def load_usage(path: Path) -> TaskUsage:
    return TaskUsage.model_validate(json.loads(path.read_text(encoding="utf-8")))


def usage_table(tasks: list[TaskUsage]) -> str:
    """A Markdown table: one row per task and role, then each task's billed total."""
    lines = [
        "| task | role | model | requests | input tokens | output tokens | dollars |",
        "|---|---|---|---:|---:|---:|---:|",
    ]
    for t in tasks:
        for r in t.roles:
            usd = f"{r.usd:.4f}" + (" (unpriced calls)" if r.unpriced else "")
            lines.append(
                f"| {t.task} | {r.role} | {r.model} | {r.requests} | {r.input_tokens} | "
                f"{r.output_tokens} | {usd} |"
            )
        tot = t.total
        lines.append(
            f"| {t.task} | **total billed** | | {tot.calls} | {tot.input_tokens} | "
            f"{tot.output_tokens} | {tot.usd:.4f} |"
        )
    return "\n".join(lines) + "\n"
