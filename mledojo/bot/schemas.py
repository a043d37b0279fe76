"""The MLE-Bot's phase schemas: what the planner (an LLM or the rules) returns, and records.

The same pydantic models are the structured-output schemas the LLM gets and the checked
boundary of its answers. They stay strict-mode friendly (no open mappings): hyperparameters
are a list of name/value pairs.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Algorithm = Literal[
    "lightgbm",
    "xgboost",
    "random_forest",
    "gradient_boosting",
    "logistic_regression",
    "linear_regression",
]
FeatureStrategy = Literal["raw", "encoded", "rolling"]
HANDLE_PATTERN = r"^[A-Za-z][A-Za-z0-9_]{0,30}$"


class HyperParam(BaseModel):
    """One hyperparameter of `train_model` (checked there against the algorithm's table)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(max_length=60)
    value: float | int | str | bool


class ExperimentPlan(BaseModel):
    """One experiment of a design: what to train, on which features, and why."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=HANDLE_PATTERN, description="short snake_case handle")
    algorithm: Algorithm
    params: list[HyperParam] = Field(default_factory=list, max_length=20)
    feature_strategy: FeatureStrategy = Field(
        description="raw: numeric columns as they are; encoded: plus categorical encodings "
        "and time features; rolling: plus causal rolling windows and lags per group"
    )
    rationale: str = Field(max_length=2000)


class Design(BaseModel):
    """Phase 2: a batch of 1-3 experiments and the strategy behind them."""

    model_config = ConfigDict(extra="forbid")

    strategy: str = Field(max_length=3000)
    experiments: list[ExperimentPlan] = Field(min_length=1, max_length=3)


class OrchestrationCode(BaseModel):
    """Phase 3: the orchestration code of one experiment (run in pydantic-monty)."""

    model_config = ConfigDict(extra="forbid")

    code: str = Field(max_length=20_000)
    explanation: str = Field(default="", max_length=2000)


class Review(BaseModel):
    """Phase 4: continue with another batch, or stop (and why)."""

    model_config = ConfigDict(extra="forbid")

    decision: Literal["continue", "stop"]
    reason: str = Field(max_length=2000)
    next_focus: str = Field(default="", max_length=2000)
    explore: list[str] = Field(
        default_factory=list,
        max_length=5,
        description="columns whose target rate/mean to explore before the next design",
    )


class CodeAttempt(BaseModel):
    """One run of an experiment's code: the code and what went wrong, if anything."""

    code: str
    error: str | None = None
    tool_calls: int = 0
    seconds: float = 0.0


class ExperimentRecord(BaseModel):
    """A finished experiment (succeeded or gave up), as checkpointed and reported."""

    iteration: int
    plan: ExperimentPlan
    attempts: list[CodeAttempt] = Field(default_factory=list)
    status: Literal["ok", "failed"]
    score: float | None = None
    metrics: dict[str, float | None] = Field(default_factory=dict)
    model: str | None = None
    test_table: str | None = None
    seconds: float = 0.0

    @property
    def code(self) -> str:
        return self.attempts[-1].code if self.attempts else ""


class IterationRecord(BaseModel):
    """One batch: its design, then the review that followed it."""

    iteration: int
    design: Design
    review: Review | None = None


class EpisodeEnd(BaseModel):
    """How the episode ended, from its result once the env has graded it (for the report)."""

    status: str
    end_reason: str = ""
    best_public_score: float | None = None
    best_public_human_rank: float | None = None
    graded: bool = False
    not_graded_reason: str = ""
    private_score: float | None = None
    private_human_rank: float | None = None
    medal: str | None = None
    above_median: bool | None = None


class BotState(BaseModel):
    """The bot's checkpoint (`bot/state.json`), rewritten as each experiment finishes."""

    schema_version: int = 1
    key: str
    model: str
    problem: str
    profile: dict[str, object] = Field(default_factory=dict)
    iterations: list[IterationRecord] = Field(default_factory=list)
    experiments: list[ExperimentRecord] = Field(default_factory=list)
    best: str | None = None
    submitted: bool = False
    explorations: list[dict[str, object]] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)
    outcome: EpisodeEnd | None = None
