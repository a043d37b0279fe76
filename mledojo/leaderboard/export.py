"""`mledojo export RUN_DIR`: rollouts as training data.

Two formats (the schema is `StepRecord` / `ChatRecord`; docs/leaderboard.md lists the fields):

* `jsonl`: one `StepRecord` a line per step: the observation the agent acted on, its
  action, the code it ran, the reward, the outcome (the observation that came back), LLM
  messages and usage when the trajectory recorded them, and the episode's end result.
* `chat`: one `ChatRecord` a line per episode: the episode as a conversation (observations
  as `user` turns, actions as `assistant` turns) for supervised fine-tuning.

Only what the host wrote is read (`trajectory.jsonl`, `result.json`), never the agent's
`workspace/`, without following symlinks and with size caps.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from mledojo.artifacts import RESULT_FILE
from mledojo.leaderboard._io import LeaderboardError, find_files, iter_lines
from mledojo.leaderboard.episode import TRAJECTORY_FILE, load_episode

EXPORT_SCHEMA_VERSION = 1
ExportFormat = Literal["jsonl", "chat"]
EXPORT_FORMATS: tuple[str, ...] = ("jsonl", "chat")
CODE_ACTIONS = ("execute_code", "validate_code")

SYSTEM_PROMPT = (
    "You are solving a machine-learning competition in a sandbox. Each turn, reply with one "
    "action: request_info, validate_code or execute_code (Python), call_tool, or submit. "
    "Code runs in /workspace with the data in /data; writing /workspace/submission.csv gets "
    "it graded on the public part of the test set."
)


class EpisodeOutcome(BaseModel):
    """How the whole episode ended (from `result.json`; `unfinished` when it has none)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    status: str
    private_score: float | None = None
    private_human_rank: float | None = None
    medal: str | None = None


class EpisodeRef(BaseModel):
    """Which episode a record belongs to."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    episode_id: str  # the episode folder, relative to the exported run folder
    competition: str | None
    agent: str | None
    seed: int | None


class StepRecord(BaseModel):
    """One step of one episode (format `jsonl`)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    schema_version: int = EXPORT_SCHEMA_VERSION
    episode: EpisodeRef
    step: int
    observation: dict[str, Any] = Field(description="what the agent saw when it chose the action")
    action: dict[str, Any]
    code: str | None = Field(description="the code of execute_code / validate_code, else None")
    reward: float
    terminated: bool
    truncated: bool
    duration_s: float | None
    outcome: dict[str, Any] = Field(description="the observation the action produced")
    llm_messages: list[Any] | None = None
    llm_tokens: int | None = None
    llm_usd: float | None = None
    final: EpisodeOutcome


class ChatRecord(BaseModel):
    """One episode as a conversation (format `chat`)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    schema_version: int = EXPORT_SCHEMA_VERSION
    episode: EpisodeRef
    messages: list[dict[str, str]]
    final: EpisodeOutcome


def _outcome(folder: Path) -> tuple[EpisodeOutcome, tuple[str | None, str | None, int | None]]:
    path = folder / RESULT_FILE
    if not (path.exists() or path.is_symlink()):
        return EpisodeOutcome(status="unfinished"), (None, None, None)
    ep = load_episode(path)
    return (
        EpisodeOutcome(
            status=ep.reported_status,
            private_score=ep.private_score,
            private_human_rank=ep.private_human_rank,
            medal=ep.medal,
        ),
        (ep.competition, ep.agent, ep.seed),
    )


def _dict(value: object, where: str, field: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise LeaderboardError(f"{where}: field `{field}` must be a JSON object")
    return value


def _num(value: object) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None


def episode_records(folder: Path, run_root: Path) -> Iterator[StepRecord]:
    """The `StepRecord`s of the episode in `folder` (step 1 onwards; reset is step 1's input)."""
    final, (comp, agent, seed) = _outcome(folder)
    ref = EpisodeRef(
        episode_id=str(folder.relative_to(run_root)) if folder != run_root else folder.name,
        competition=comp,
        agent=agent,
        seed=seed,
    )
    path = folder / TRAJECTORY_FILE
    previous: dict[str, Any] | None = None
    for number, line in iter_lines(path):
        where = f"{path}:{number}"
        try:
            entry = json.loads(line)
        except json.JSONDecodeError as e:
            raise LeaderboardError(f"{where}: not valid JSON ({e.msg})") from e
        entry = _dict(entry, where, "(line)")
        obs = _dict(entry.get("obs"), where, "obs")
        action = _dict(entry.get("action"), where, "action")
        if action.get("action") == "reset" or previous is None:
            previous = obs
            continue
        step = entry.get("step")
        if not isinstance(step, int) or isinstance(step, bool):
            raise LeaderboardError(f"{where}: field `step` must be an integer")
        raw_llm = entry.get("llm")
        llm: dict[str, Any] = raw_llm if isinstance(raw_llm, dict) else {}
        messages = llm.get("messages")
        code = action.get("code") if action.get("action") in CODE_ACTIONS else None
        yield StepRecord(
            episode=ref,
            step=step,
            observation=previous,
            action=action,
            code=code if isinstance(code, str) else None,
            reward=_num(entry.get("reward")) or 0.0,
            terminated=entry.get("terminated") is True,
            truncated=entry.get("truncated") is True,
            duration_s=_num(entry.get("duration_s")),
            outcome=obs,
            llm_messages=messages if isinstance(messages, list) else None,
            llm_tokens=llm.get("tokens") if isinstance(llm.get("tokens"), int) else None,
            llm_usd=_num(llm.get("usd")),
            final=final,
        )
        previous = obs


def observation_text(obs: dict[str, Any]) -> str:
    """An observation as the text a chat model would read."""
    lines = [f"[{obs.get('action', '?')}: {obs.get('status', '?')}]"]
    for key in ("info", "stdout", "stderr"):
        text = obs.get(key)
        if isinstance(text, str) and text.strip():
            lines.append(f"{key}:\n{text.rstrip()}")
    if obs.get("error_type"):
        lines.append(f"error: {obs.get('error_type')}: {obs.get('error_message', '')}")
    if obs.get("public_score") is not None:
        lines.append(
            f"public score: {obs.get('public_score')} (HumanRank {obs.get('public_human_rank')})"
        )
    lines.append(
        f"best public score: {obs.get('best_public_score')}; steps left: "
        f"{obs.get('steps_left')}; time left: {obs.get('time_left_s')} s"
    )
    return "\n".join(lines)


def action_text(action: dict[str, Any]) -> str:
    """An action as the assistant turn that would produce it."""
    name = action.get("action")
    if name in CODE_ACTIONS and isinstance(action.get("code"), str):
        return f"{name}\n```python\n{action['code'].rstrip()}\n```"
    rest = {k: v for k, v in action.items() if v not in (None, "", {})}
    return json.dumps(rest, sort_keys=True, default=str)


def chat_record(steps: list[StepRecord]) -> ChatRecord:
    """An episode's steps as one conversation."""
    messages = [{"role": "system", "content": SYSTEM_PROMPT}]
    for s in steps:
        messages.append({"role": "user", "content": observation_text(s.observation)})
        messages.append({"role": "assistant", "content": action_text(s.action)})
    return ChatRecord(episode=steps[0].episode, messages=messages, final=steps[0].final)


def episode_folders(run_dir: Path) -> list[Path]:
    """Folders under `run_dir` (itself included) that hold a `trajectory.jsonl`."""
    return [p.parent for p in find_files(run_dir, lambda n: n == TRAJECTORY_FILE)]


def export_run(
    run_dir: Path, fmt: ExportFormat, *, min_human_rank: float | None = None
) -> Iterator[str]:
    """The export of a run folder as JSON lines, episode by episode."""
    folders = episode_folders(run_dir)
    if not folders:
        raise LeaderboardError(f"{run_dir}: no episode folder (none holds a {TRAJECTORY_FILE})")
    for folder in folders:
        records = list(episode_records(folder, run_dir))
        if not records:
            continue
        hr = records[0].final.private_human_rank
        if min_human_rank is not None and (hr is None or hr < min_human_rank):
            continue
        if fmt == "chat":
            yield chat_record(records).model_dump_json()
        else:
            yield from (r.model_dump_json() for r in records)
