"""Episode artifacts: one folder per episode with every input and output, and `result.json`.

`<episode folder>/trajectory.jsonl` (one line per step), `code/step-NNN-<action>.py`,
`submissions/step-NNN.csv`, `workspace/` (the sandbox's `/workspace`), `result.json`,
`episode.log`. A finished `result.json` is what makes a resumed batch skip the episode.
Where the folder is comes from `mledojo.layout`.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from mledojo._files import write_text_atomic
from mledojo.layout import RESULT_FILE, versions
from mledojo.spec import EpisodeSpec, upgrade_stored_spec

__all__ = ["RESULT_FILE", "versions"]  # re-exported: where results have always found them

RESULT_SCHEMA_VERSION = 2

# completed: submitted, or the step budget ran out; timeout: the time budget ran out;
# agent_error: the agent crashed; infra_error: the sandbox or the machine failed;
# grading_error: the benchmark failed to grade; interrupted: stopped from outside;
# model_error: the agent's model could not be used (key, model name, endpoint, outage):
# the operator's configuration or the provider, never the agent's result.
# All but interrupted grade the best valid submission (docs/episode.md).
EpisodeStatus = Literal[
    "completed",
    "agent_error",
    "infra_error",
    "grading_error",
    "model_error",
    "timeout",
    "interrupted",
]

#: Statuses of the benchmark's own making, never the agent's (the sandbox, the machine or
#: the grader failed): counted as infrastructure failures by the bench and the board alike.
INFRA_STATUSES: tuple[EpisodeStatus, ...] = ("infra_error", "grading_error")


class FinalGrade(BaseModel):
    """The end-of-episode grade on the private part of the test set."""

    graded: bool
    reason: str = ""
    submission: str | None = None  # relative to the episode folder
    submission_sha256: str | None = None
    private_score: float | None = None
    private_human_rank: float | None = None
    medal: Literal["gold", "silver", "bronze", "none"] | None = None
    above_median: bool | None = None
    leaderboard_kind: Literal["kaggle", "reference"] | None = None
    leaderboard_entries: int | None = None
    implausible: bool = False
    caveats: list[str] = Field(default_factory=list)
    interval: tuple[float, float] | None = None
    """Bootstrap 95 % interval of `private_score` over the private rows (None in results
    written before intervals existed: they still load)."""
    medal_probabilities: dict[str, float] | None = None
    """Share of bootstrap replicates at or past the gold / silver / bronze thresholds."""

    def for_agent(self, mode: str) -> dict[str, Any]:
        """What the agent may see (`info["final"]`): the whole grade in `training` mode; in
        `evaluation` mode whether and why it was graded, never how it scored."""
        if mode == "training":
            return self.model_dump()
        shown = self.model_dump(include={"graded", "reason", "submission", "submission_sha256"})
        return {**shown, "withheld": "evaluation mode: the private grade is in result.json"}


class SandboxStats(BaseModel):
    """What the sandbox went through: faults are the benchmark's, not the agent's."""

    kind: str
    errors: int = 0
    restarts: int = 0
    disk_quota: Literal["filesystem", "walk"] | None = None
    """`filesystem`: the kernel enforced disk_mb/max_files (a volume of that size);
    `walk`: only the runner's weaker walk did (no root or loop devices); None: not reported."""
    image: str | None = None
    """The image the agent's code ran in (Docker: the runtime image's tag, or an extended
    one's); None for backends that run on the host's files, and in older results."""


class LLMUsage(BaseModel):
    """Tokens and dollars an agent's model calls cost in one episode."""

    calls: int = Field(default=0, ge=0)
    input_tokens: int = Field(default=0, ge=0)
    output_tokens: int = Field(default=0, ge=0)
    cached_tokens: int = Field(default=0, ge=0)
    reasoning_tokens: int = Field(default=0, ge=0)
    usd: float = Field(default=0.0, ge=0)

    @property
    def tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    def plus(self, other: LLMUsage) -> LLMUsage:
        return LLMUsage(**{k: getattr(self, k) + getattr(other, k) for k in LLMUsage.model_fields})

    def at_least(self, other: LLMUsage) -> LLMUsage:
        """Field by field the larger: merges two reports of the same calls."""
        return LLMUsage(
            **{k: max(getattr(self, k), getattr(other, k)) for k in LLMUsage.model_fields}
        )


class Feedback(BaseModel):
    """One piece of score feedback the agent was shown (public part only, by construction)."""

    step: int
    submission: Literal["valid", "invalid", "ungraded"]
    public_score: float | None = None
    public_human_rank: float | None = None


BudgetMode = Literal["shared", "own"]
"""How a fork's spending counts (`MLEDojoEnv.fork`, docs/episode.md "Forking an episode")."""


class Lineage(BaseModel):
    """Where a forked episode came from: in its `result.json` and its trajectory's fork record."""

    model_config = ConfigDict(frozen=True)

    parent_key: str
    parent_run_dir: str = Field(description="the parent episode's folder")
    parent_step: int = Field(ge=0, description="the parent's last step before the fork")
    budget: BudgetMode
    root_run_dir: str = Field(
        description="the episode whose budget this one draws on: itself for budget='own'"
    )


class EpisodeResult(BaseModel):
    """`result.json`: what one episode achieved, schema-versioned (v1 files still load)."""

    schema_version: int = RESULT_SCHEMA_VERSION
    key: str | None = None  # the spec's hash; None in v1 files
    spec: EpisodeSpec | None = None
    competition: str
    competition_version: int
    data_seed: int
    agent: str
    seed: int | None
    status: EpisodeStatus
    end_reason: str
    steps: int  # every action, tool calls included
    tool_calls: int = 0
    wall_time_s: float
    best_public_score: float | None
    best_public_human_rank: float | None
    final: FinalGrade
    metric: str
    higher_is_better: bool
    sandbox: SandboxStats
    llm: LLMUsage = Field(default_factory=LLMUsage)
    feedback: list[Feedback] = Field(default_factory=list)
    grading_errors: int = 0
    error: str | None = None
    reward_warning: str | None = None
    """Set when the reward mode paid for public scores (`mledojo.rewards.reward_warning`)."""
    hardware: str = "unknown"
    versions: dict[str, str] = Field(default_factory=dict)
    """The host's versions (where the env and the grader ran)."""
    sandbox_versions: dict[str, str] = Field(default_factory=dict)
    """Python and every installed distribution where the agent's code ran, as the sandbox's
    runner reported them at start (bounded and validated); empty in older results."""
    lineage: Lineage | None = None
    """Set for an episode made by `MLEDojoEnv.fork`: its parent and how its budget counts."""
    finished_at: str = Field(default_factory=lambda: datetime.now(UTC).isoformat())

    @model_validator(mode="before")
    @classmethod
    def _upgrade_v1(cls, data: Any) -> Any:
        """A v1 file: `sandbox` was its kind, `llm_cost_usd` the only LLM figure. A spec
        stored without `key_version` was keyed by rule 1 (`mledojo.spec`)."""
        if isinstance(data, dict) and isinstance(data.get("spec"), dict):
            data = {**data, "spec": upgrade_stored_spec(data["spec"])}
        if isinstance(data, dict) and data.get("schema_version", 1) == 1:
            data = dict(data)
            if isinstance(data.get("sandbox"), str):
                data["sandbox"] = {"kind": data["sandbox"]}
            data.setdefault("llm", {"usd": data.pop("llm_cost_usd", 0.0) or 0.0})
            data.pop("llm_cost_usd", None)
        return data

    @property
    def llm_cost_usd(self) -> float:
        return self.llm.usd

    @classmethod
    def load(cls, path: Path) -> EpisodeResult:
        """Read a `result.json` of any schema version."""
        return cls.model_validate_json(path.read_text(encoding="utf-8"))


class EpisodeRecorder:
    """Writes one episode's folder as the episode goes; never loses what was written."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        folder.chmod(0o700)  # submissions, code and logs are this user's alone
        (folder / "code").mkdir(exist_ok=True)
        (folder / "submissions").mkdir(exist_ok=True)
        self.workspace = folder / "workspace"
        self.workspace.mkdir(exist_ok=True)
        self._trajectory = folder / "trajectory.jsonl"
        self._log = folder / "episode.log"

    def log(self, message: str) -> None:
        stamp = datetime.now(UTC).strftime("%H:%M:%S")
        with self._log.open("a", encoding="utf-8") as f:
            f.write(f"{stamp} {message}\n")

    def save_code(self, step: int, action: str, code: str) -> Path:
        path = self.folder / "code" / f"step-{step:03d}-{action}.py"
        path.write_text(code, encoding="utf-8")
        return path

    def record_step(self, entry: dict[str, Any]) -> None:
        entry = {"time": time.time(), **entry}
        with self._trajectory.open("a", encoding="utf-8") as f:
            f.write(json.dumps(entry, default=str) + "\n")

    def write_result(self, result: EpisodeResult) -> Path:
        return write_result(self.folder, result)


def write_result(folder: Path, result: EpisodeResult) -> Path:
    """Write `result.json` atomically (a crash never leaves half a file)."""
    folder.mkdir(parents=True, exist_ok=True)
    return write_text_atomic(folder / RESULT_FILE, result.model_dump_json(indent=2))


def new_episode_folder(base: Path) -> Path:
    """`base`, or `base-2`, `base-3`, ... if it already holds an episode."""
    candidate, n = base, 1
    while candidate.exists() and any(candidate.iterdir()):
        n += 1
        candidate = base.with_name(f"{base.name}-{n}")
    return candidate
