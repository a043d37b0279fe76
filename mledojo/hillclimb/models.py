"""The agent's arguments and the two models' answers (pydantic models at the LLM boundary)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

MAX_FILE_CHARS = 200_000  # one file the actor writes
MAX_FILES = 8  # files in one implementation
MAX_COMMANDS = 4  # extra commands in one implementation
MAX_COMMAND_CHARS = 500

Mode = Literal["greenfield", "brownfield"]
GREENFIELD_FILES = ("model.py", "train.py", "predict.py")
BROWNFIELD_SCRIPT = "solution.py"


class HillClimbConfig(BaseModel):
    """The agent's arguments (see docs/agents/hill-climb.md)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    model: str  # the actor's model, `provider/name`
    critic_model: str | None = None  # None: the actor's model criticises too
    model_base_url: str | None = None
    baseline_source: str | None = None  # brownfield: the script's text (None: greenfield)
    max_iterations: int = Field(default=6, ge=1)
    max_consecutive_failures: int = Field(default=3, ge=1)
    target_score: float | None = None
    smoke_timeout_s: float = Field(default=300, gt=0)
    train_timeout_s: float = Field(default=1800, gt=0)
    max_output_tokens: int = Field(default=16_000, ge=256)
    max_retries: int = Field(default=4, ge=0)
    max_observation_chars: int = Field(default=6_000, ge=200)

    @property
    def mode(self) -> Mode:
        return "greenfield" if self.baseline_source is None else "brownfield"


class Proposal(BaseModel):
    """The critic's answer: one change to try next, or stop."""

    model_config = ConfigDict(extra="forbid")

    idea: str = Field(max_length=4_000, description="the one change to try next")
    rationale: str = Field(default="", max_length=4_000, description="why it should help")
    stop: bool = Field(default=False, description="true when nothing is worth trying")


class FileWrite(BaseModel):
    """One file the actor writes, whole, relative to the workspace."""

    model_config = ConfigDict(extra="forbid")

    path: str = Field(max_length=300)
    content: str = Field(max_length=MAX_FILE_CHARS)


class Implementation(BaseModel):
    """The actor's answer: the files that implement the proposal, and commands to run first."""

    model_config = ConfigDict(extra="forbid")

    summary: str = Field(max_length=2_000, description="what was changed, one line")
    files: list[FileWrite] = Field(max_length=MAX_FILES)
    commands: list[str] = Field(
        default_factory=list,
        max_length=MAX_COMMANDS,
        description="optional: `python <script>.py [args]` to run before the smoke test",
    )
