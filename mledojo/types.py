"""Actions an agent sends to `env.step` and the observation it gets back."""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

import numpy as np
from gymnasium import spaces
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, field_validator

from mledojo.spaces import AnyText, BoundedFloat, Choice, JSONObject, OptionalFloat

MAX_CODE_CHARS = 200_000
MAX_TEXT_CHARS = 200_000
MAX_ERROR_TYPE_CHARS = 200
MAX_PATH_CHARS = 500
MAX_TOOL_NAME_CHARS = 100


def clip_text(text: str, limit: int) -> str:
    """`text` cut to at most `limit` characters, keeping its head and its tail."""
    if len(text) <= limit:
        return text
    marker = f"\n[... mledojo: {len(text) - limit:,} characters omitted ...]\n"
    keep = max(0, limit - len(marker))
    head = keep // 2
    return text[:head] + marker + text[len(text) - (keep - head) :]


InfoTopic = Literal["all", "description", "files", "sample_submission", "metric", "budget", "tools"]


class _Action(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RequestInfo(_Action):
    """Ask about the task (answered on the host, costs a step but no sandbox time)."""

    action: Literal["request_info"] = "request_info"
    topic: InfoTopic = "all"


class ValidateCode(_Action):
    """Compile and run code without grading; a submission it writes is only format-checked."""

    action: Literal["validate_code"] = "validate_code"
    code: str = Field(max_length=MAX_CODE_CHARS)


class ExecuteCode(_Action):
    """Run code in the sandbox; a `/workspace/submission.csv` it writes is graded (public part)."""

    action: Literal["execute_code"] = "execute_code"
    code: str = Field(max_length=MAX_CODE_CHARS)


class CallTool(_Action):
    """Run one trusted tool inside the sandbox (JSON in, JSON out)."""

    action: Literal["call_tool"] = "call_tool"
    tool: str = Field(max_length=MAX_TOOL_NAME_CHARS)
    args: dict[str, Any] = Field(default_factory=dict)

    @field_validator("args")
    @classmethod
    def _bounded_args(cls, v: dict[str, Any]) -> dict[str, Any]:
        size = len(json.dumps(v, default=str))
        if size > MAX_CODE_CHARS:
            raise ValueError(
                f"args are {size:,} characters of JSON; the limit is {MAX_CODE_CHARS:,}"
            )
        return v


class Submit(_Action):
    """End the episode; grade the chosen submission on the private part of the test set.

    `path` is relative to the workspace; without it, the best valid submission so far.
    """

    action: Literal["submit"] = "submit"
    path: str | None = Field(default=None, max_length=MAX_PATH_CHARS)


Action = Annotated[
    RequestInfo | ValidateCode | ExecuteCode | CallTool | Submit, Field(discriminator="action")
]
ACTION_ADAPTER: TypeAdapter[Action] = TypeAdapter(Action)
ACTION_NAMES = ("request_info", "validate_code", "execute_code", "call_tool", "submit")

Status = Literal[
    "ready",
    "ok",
    "error",
    "timeout",
    "oom",
    "killed",
    "invalid_action",
    "submitted",
    "truncated",
    "sandbox_error",
]
STATUSES: tuple[str, ...] = Status.__args__  # type: ignore[attr-defined]
SubmissionState = Literal["none", "valid", "invalid"]


class Observation(BaseModel):
    """What the agent sees after `reset` and after every `step` (always the same keys)."""

    model_config = ConfigDict(frozen=True)

    action: str = Field(description="the action that produced this observation, or `reset`")
    status: Status
    stdout: str = Field(default="", description="stdout of the step (head and tail when long)")
    stderr: str = Field(default="", description="stderr of the step (head and tail when long)")
    error_type: str = Field(
        default="", description="exception class or failure kind, empty when none"
    )
    error_message: str = ""
    submission: SubmissionState = "none"
    public_score: float | None = Field(None, description="this step's score, public part only")
    public_human_rank: float | None = None
    best_public_score: float | None = None
    best_public_human_rank: float | None = None
    steps_left: int
    time_left_s: float
    info: str = Field(default="", description="task text, requested info, tool output or hints")

    @field_validator("stdout", "stderr", "error_message", "info", mode="before")
    @classmethod
    def _bounded_text(cls, v: object) -> object:
        """Every text stays within the observation space, whatever the agent made us quote."""
        return clip_text(v, MAX_TEXT_CHARS) if isinstance(v, str) else v

    @field_validator("error_type", mode="before")
    @classmethod
    def _bounded_type(cls, v: object) -> object:
        return clip_text(v, MAX_ERROR_TYPE_CHARS) if isinstance(v, str) else v


def observation_space(max_steps: int, episode_time_s: float) -> spaces.Dict:
    """The gymnasium space matching `Observation.model_dump()`."""
    text = AnyText(MAX_TEXT_CHARS)
    return spaces.Dict(
        {
            "action": Choice(("reset", *ACTION_NAMES, "invalid")),
            "status": Choice(STATUSES),
            "stdout": text,
            "stderr": text,
            "error_type": AnyText(MAX_ERROR_TYPE_CHARS),
            "error_message": text,
            "submission": Choice(("none", "valid", "invalid")),
            "public_score": OptionalFloat(),
            "public_human_rank": OptionalFloat(),
            "best_public_score": OptionalFloat(),
            "best_public_human_rank": OptionalFloat(),
            "steps_left": spaces.Discrete(max_steps + 1),
            "time_left_s": BoundedFloat(0.0, episode_time_s),
            "info": text,
        }
    )


ACTION_FIELDS: dict[str, tuple[str, ...]] = {
    "request_info": ("topic",),
    "validate_code": ("code",),
    "execute_code": ("code",),
    "call_tool": ("tool", "args"),
    "submit": ("path",),
}
INFO_TOPICS: tuple[str, ...] = InfoTopic.__args__  # type: ignore[attr-defined]


class ActionSpace(spaces.Space[dict[str, Any]]):
    """The space of actions, truthful: `contains(x)` exactly when `step(x)` accepts `x`.

    An action is a dict with `action` and the keys of that action only (`{"action":
    "submit"}`), or an action model. `subspaces` describes each key. Samples are such
    partial dicts. Vector envs batch it as a tuple of these spaces, so
    `envs.step([{"action": "submit"}, {"action": "execute_code", "code": "..."}])` works
    with `SyncVectorEnv` and with `AsyncVectorEnv(..., shared_memory=False)`.
    """

    def __init__(self, seed: int | np.random.Generator | None = None) -> None:
        super().__init__(shape=None, dtype=None, seed=seed)
        self.subspaces: dict[str, spaces.Space[Any]] = {
            "action": Choice(ACTION_NAMES),
            "topic": Choice(INFO_TOPICS),
            "code": AnyText(MAX_CODE_CHARS),
            "tool": AnyText(MAX_TOOL_NAME_CHARS),
            "args": JSONObject(MAX_CODE_CHARS),
            "path": AnyText(MAX_PATH_CHARS),
        }

    @property
    def is_np_flattenable(self) -> bool:
        return False

    def seed(self, seed: int | None = None) -> int | list[int] | dict[str, int]:
        seeds = super().seed(seed)
        for i, sub in enumerate(self.subspaces.values()):
            sub.seed(int(self.np_random.integers(2**31)) + i)
        return seeds

    def sample(self, mask: Any = None, probability: Any = None) -> dict[str, Any]:
        name = str(self.subspaces["action"].sample())
        return {"action": name, **{k: self.subspaces[k].sample() for k in ACTION_FIELDS[name]}}

    def contains(self, x: Any) -> bool:
        try:
            parse_action(x)
        except (ValueError, TypeError):
            return False
        return True

    def __repr__(self) -> str:
        return f"ActionSpace({', '.join(ACTION_NAMES)})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ActionSpace)


def action_space() -> ActionSpace:
    """The gymnasium space of actions (see `ActionSpace`)."""
    return ActionSpace()


def parse_action(raw: object) -> Action:
    """Turn a dict (only the chosen action's keys) or an action model into a validated action.

    `args` may also be JSON text; an empty `path` means "the best submission". Keys of
    other actions are accepted only when empty, so a dict with every key (one per action,
    as some tools produce) still works.
    """
    if isinstance(raw, RequestInfo | ValidateCode | ExecuteCode | CallTool | Submit):
        return raw
    if not isinstance(raw, dict):
        raise ValueError(f"an action is a dict with key `action` (one of {ACTION_NAMES})")
    name = raw.get("action")
    if name not in ACTION_FIELDS:
        raise ValueError(f"`action` must be one of {ACTION_NAMES}, got {name!r}")
    kept: dict[str, object] = {"action": name}
    for key, value in raw.items():
        if key == "action":
            continue
        if key in ACTION_FIELDS[name]:
            kept[key] = value
        elif value not in ("", None, {}):
            raise ValueError(f"key `{key}` does not belong to action `{name}`")
    if name == "call_tool" and isinstance(kept.get("args"), str):
        text = str(kept["args"]).strip()
        try:
            kept["args"] = json.loads(text) if text else {}
        except json.JSONDecodeError as e:
            raise ValueError(f"args: not a JSON object ({e.msg} at character {e.pos})") from e
    if name == "submit" and kept.get("path") == "":
        kept["path"] = None
    return ACTION_ADAPTER.validate_python(kept)


def action_error(e: Exception) -> str:
    """What is wrong with an action, field by field (pydantic's title line says nothing)."""
    from pydantic import ValidationError

    if isinstance(e, ValidationError):
        parts = []
        for err in e.errors()[:5]:
            where = ".".join(str(p) for p in err["loc"]) or "action"
            parts.append(f"{where}: {err['msg']}")
        return clip_text("; ".join(parts), 1000)
    return clip_text(str(e) or type(e).__name__, 1000)
