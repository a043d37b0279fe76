"""`mledojo export RUN_DIR`: rollouts as training data.

Two formats (the schema is `StepRecord` / `ChatRecord`; docs/leaderboard.md lists the fields):

* `jsonl`: one `StepRecord` a line per step: the observation the agent acted on, the LLM
  calls that preceded the action (prompts and completions, from `llm-calls.jsonl`), its
  action, the code it ran, the reward, the outcome (the observation that came back), and
  the episode's end result.
* `chat`: one `ChatRecord` a line per episode: the episode as a conversation (observations
  as `user` turns, actions as `assistant` turns) for supervised fine-tuning.

Only what the host wrote is read (`trajectory.jsonl`, `result.json`, `llm-calls.jsonl`),
never the agent's `workspace/`, without following symlinks and with size caps.

Joining the LLM calls to steps: each trajectory line counts the calls the episode was charged
since the step before (`llm.calls`), and `llm-calls.jsonl` lists the billed calls (those with
a reply) in the order they were charged (the client records and charges a call together), so
step k gets the next `llm.calls` billed calls of the file, with any failed (unbilled)
request before them. The join is checked call by call: the tokens of the joined calls must
equal the step's. Calls after the last step preceded no action and are left out.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from mledojo.artifacts import RESULT_FILE
from mledojo.leaderboard._io import LeaderboardError, find_files, iter_lines
from mledojo.leaderboard.episode import TRAJECTORY_FILE, load_episode

EXPORT_SCHEMA_VERSION = 2
LLM_CALLS_FILE = "llm-calls.jsonl"  # `mledojo.llm.record.RECORD_FILE` (a sibling layer)
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


class LLMExchange(BaseModel):
    """One LLM call joined to the step it preceded: its prompt, then the completion."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    call: int = Field(description="the call's number in llm-calls.jsonl")
    purpose: str
    model: str
    messages: list[dict[str, str]] = Field(
        description="the request's messages, then the reply as an `assistant` message"
    )
    error: str | None = Field(default=None, description="why no reply came (not billed)")
    input_tokens: int = 0
    output_tokens: int = 0


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
    llm_messages: list[Any] | None = Field(
        default=None,
        description="the prompt and completion of the last LLM call before the action",
    )
    llm_calls: list[LLMExchange] | None = Field(
        default=None, description="every LLM call since the step before, in order"
    )
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


class _Message(BaseModel):
    role: str
    content: str


class _Request(BaseModel):
    model: str
    messages: list[_Message]


class _Usage(BaseModel):
    input_tokens: int = 0
    output_tokens: int = 0


class _Reply(BaseModel):
    text: str = ""
    tool_input: dict[str, Any] | None = None
    usage: _Usage


class _Error(BaseModel):
    message: str


class _Call(BaseModel):
    """The fields of an `llm-calls.jsonl` line the export reads (the rest is ignored)."""

    call: int
    purpose: str
    request: _Request
    reply: _Reply | None = None
    error: _Error | None = None

    def exchange(self) -> LLMExchange:
        messages = [m.model_dump() for m in self.request.messages]
        usage = _Usage()
        if self.reply is not None:
            usage = self.reply.usage
            answer = self.reply.text
            if not answer and self.reply.tool_input is not None:
                answer = json.dumps(self.reply.tool_input, sort_keys=True)
            messages.append({"role": "assistant", "content": answer})
        return LLMExchange(
            call=self.call,
            purpose=self.purpose,
            model=self.request.model,
            messages=messages,
            error=self.error.message if self.error is not None else None,
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
        )


def _llm_calls(folder: Path) -> list[_Call]:
    """The episode's recorded LLM calls, in file order (none without a recording)."""
    path = folder / LLM_CALLS_FILE
    if not (path.exists() or path.is_symlink()):
        return []
    calls = []
    for number, line in iter_lines(path):
        try:
            calls.append(_Call.model_validate_json(line))
        except ValidationError as e:
            first = e.errors()[0]
            field = ".".join(str(p) for p in first["loc"]) or "line"
            raise LeaderboardError(
                f"{path}:{number}: `{field}`: {first['msg']} (not a line mledojo's LLM client "
                "wrote)"
            ) from None
    return calls


class _CallQueue:
    """Hands out the recorded calls step by step, by the trajectory's per-step counts."""

    def __init__(self, calls: list[_Call], path: Path) -> None:
        self.calls, self.path, self.next = calls, path, 0

    def take(self, billed: int, tokens: int | None, where: str) -> list[LLMExchange]:
        """The next `billed` billed calls (and failed requests before them); their tokens
        must be the step's `tokens`."""
        taken: list[_Call] = []
        while billed > sum(1 for c in taken if c.reply is not None):
            if self.next >= len(self.calls):
                raise LeaderboardError(
                    f"{where}: the step counts {billed} LLM call(s), but {self.path} has no "
                    "more billed calls: the recording is incomplete or not this episode's"
                )
            taken.append(self.calls[self.next])
            self.next += 1
        joined = [c.exchange() for c in taken]
        got = sum(x.input_tokens + x.output_tokens for x in joined)
        if tokens is not None and got != tokens:
            raise LeaderboardError(
                f"{where}: the step was charged {tokens} LLM tokens, but the calls joined to it "
                f"from {self.path} (numbers {[x.call for x in joined]}) add up to {got}: the "
                "recording and the trajectory disagree"
            )
        return joined


def _dict(value: object, where: str, field: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise LeaderboardError(f"{where}: field `{field}` must be a JSON object")
    return value


def _count(value: object) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    return None


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
    queue = _CallQueue(_llm_calls(folder), folder / LLM_CALLS_FILE)
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
        tokens = _count(llm.get("tokens"))
        calls = _count(llm.get("calls")) or 0
        joined = queue.take(calls, tokens, where) if queue.calls and calls > 0 else None
        if joined and not isinstance(messages, list):
            billed = [x for x in joined if x.error is None]
            messages = billed[-1].messages if billed else None
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
            llm_calls=joined,
            llm_tokens=tokens,
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
