"""The ReAct loop: ask the research model, parse its reply strictly, run the action through the
env (the episode's sandbox), show the observation, until Final Answer or a budget ends.

A reply that breaks the format is answered with the parse error, up to `max_format_retries`
times in a row; past that, or on a model error, the run ends as the agent's failure
(`agent_error`, the best graded submission is still graded). Nothing the model says runs on
the host: every file operation is a code cell in the sandbox (`actions.py`).
"""

from __future__ import annotations

import difflib
import json
import re
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from mledojo.agent import EnvMeter, EnvRun, EpisodeEnded
from mledojo.artifacts import LLMUsage
from mledojo.env import MLEDojoEnv
from mledojo.llm import (
    LLMBudgetExceeded,
    LLMClient,
    LLMError,
    Message,
    make_client,
)
from mledojo.react import actions, prompts
from mledojo.react.format import (
    EditScript,
    ExecuteScript,
    FinalAnswer,
    FormatError,
    InspectScriptLines,
    ListFiles,
    ReactStep,
    UnderstandFile,
    parse_reply,
)
from mledojo.react.usage import RoleUsage, TaskUsage

MAX_INSPECT_LINES = 100
_CODE_BLOCK = re.compile(r"```(?:python|py)?[ \t]*\n(.*?)```", re.DOTALL)


class ReactConfig(BaseModel):
    """The agent's arguments (see docs/agents/react.md)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    model: str
    assistant_model: str | None = None  # None: the research model helps itself
    model_base_url: str | None = None
    max_actions: int = Field(default=20, ge=1)
    max_format_retries: int = Field(default=3, ge=0)
    history_steps: int = Field(default=6, ge=1)
    max_observation_chars: int = Field(default=8_000, ge=200)
    script_timeout_s: float = Field(default=900, gt=0)
    max_output_tokens: int = Field(default=8_000, ge=256)
    max_retries: int = Field(default=4, ge=0)  # per model call, on rate limits and outages


class ReactFailure(Exception):
    """The agent cannot go on (the model keeps breaking the format, or failed)."""


class ReactRun(EnvRun):
    """One ReAct run over a reset env; `run()` plays the episode to its end."""

    def __init__(self, env: MLEDojoEnv, config: ReactConfig, task: dict[str, Any]) -> None:
        super().__init__(env)
        self.config, self.task = config, task
        self.folder = env.run_folder / "react"
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.notes: list[str] = []
        self.failed: str | None = None
        self.history: list[tuple[str, str]] = []  # (reply, observation)
        assistant = config.assistant_model or config.model
        self.research_usage = RoleUsage(role="research", model=config.model)
        self.assistant_usage = RoleUsage(role="assistant", model=assistant)
        self.metering = EnvMeter(env)
        self.meter = self.metering.meter
        self.research: LLMClient = self._client(config.model, env.run_folder)
        self.assistant: LLMClient = self._client(assistant, self.folder / "assistant")

    def _client(self, model: str, record_dir: Path) -> LLMClient:
        return make_client(
            model,
            meter=self.meter,
            base_url=self.config.model_base_url,
            record_dir=record_dir,
            max_output_tokens=self.config.max_output_tokens,
            max_retries=self.config.max_retries,
        )

    @property
    def llm(self) -> LLMUsage:
        """What the run's model calls cost so far (charged to the env as they happened)."""
        return self.metering.llm

    # ------------------------------------------------------------------ loop
    def run(self) -> None:
        """Play the episode; it always ends (submitted, truncated, or as the agent's failure)."""
        try:
            self._loop()
        except EpisodeEnded as e:
            self.notes.append(f"stopped: {e}")
        except LLMBudgetExceeded as e:
            self.notes.append(f"the LLM budget is used up: {e}")
            self._submit()
        except (ReactFailure, LLMError) as e:
            self.failed = f"{type(e).__name__}: {e}"[:2000]
            self.notes.append(f"the agent failed: {self.failed}")
            self.env.finish("the react agent failed", status="agent_error", error=self.failed)
            self.terminated = True
        finally:
            self._write_usage()

    def _loop(self) -> None:
        bad_replies = 0
        for _ in range(self.config.max_actions):
            if self.steps_left <= 1:
                self.notes.append("stopped: one step left, kept for the submission")
                break
            reply, usage = self.research.text(self._messages(), purpose="research")
            self.research_usage.add(usage)
            try:
                step = parse_reply(reply)
            except FormatError as e:
                bad_replies += 1
                self._log({"reply": reply[:4000], "format_error": str(e)})
                if bad_replies > self.config.max_format_retries:
                    raise ReactFailure(
                        f"{bad_replies} replies in a row broke the format; the last: {e}"
                    ) from None
                self.history.append((reply[:4000], f"Format error: {e} Answer again."))
                continue
            bad_replies = 0
            if isinstance(step.action_input, FinalAnswer):
                self._log({"step": step.model_dump()})
                self.notes.append(f"final answer: {step.action_input.final_answer[:300]}")
                self._submit()
                return
            observation = self._act(step)
            observation = _clip(observation, self.config.max_observation_chars)
            self._log({"step": step.model_dump(), "observation": observation})
            self.history.append((reply, observation))
        self._submit()

    def _messages(self) -> list[Message]:
        problem = (
            f"Competition: {self.task.get('competition', '')}\n"
            f"Task: {json.dumps(self.task, default=str)[:4000]}\n"
            "Make the best submission.csv you can; the metric is in the task."
        )
        messages = [
            Message(role="system", content=prompts.SYSTEM),
            Message(role="user", content=problem),
        ]
        for reply, observation in self.history[-self.config.history_steps :]:
            messages.append(Message(role="assistant", content=reply))
            messages.append(Message(role="user", content=f"Observation:\n{observation}"))
        return messages

    # --------------------------------------------------------------- actions
    def _act(self, step: ReactStep) -> str:
        args = step.action_input
        try:
            if isinstance(args, ListFiles):
                path = actions.check_path(args.dir_path, write=False)
                return self._cell(actions.list_files_code(path))
            if isinstance(args, InspectScriptLines):
                return self._inspect(args)
            if isinstance(args, UnderstandFile):
                return self._understand(args)
            if isinstance(args, ExecuteScript):
                path = actions.check_path(args.script_name, write=True)
                code = actions.execute_script_code(
                    path, self.config.script_timeout_s, self.config.max_observation_chars
                )
                return self._cell(code)
            if isinstance(args, EditScript):
                return self._edit(args)
        except actions.PathRefused as e:
            return f"Refused: {e}."
        return f"Action {step.action} is not handled."  # unreachable: the parser checks names

    def _inspect(self, args: InspectScriptLines) -> str:
        path = actions.check_path(args.script_name, write=False)
        first, last = args.start_line_number, args.end_line_number
        if last < first or last - first >= MAX_INSPECT_LINES:
            return (
                f"Refused: give 1 to {MAX_INSPECT_LINES} lines with start <= end "
                f"(got {first}-{last})."
            )
        text, error = self._read(path)
        if error is not None:
            return error
        lines = text.splitlines()
        shown = "\n".join(f"{n}: {line}" for n, line in enumerate(lines, 1) if first <= n <= last)
        return f"{path} has {len(lines)} lines; lines {first}-{last}:\n{shown}"

    def _understand(self, args: UnderstandFile) -> str:
        path = actions.check_path(args.file_name, write=False)
        text, error = self._read(path)
        if error is not None:
            return error
        limit = 30_000
        cut = f", first {limit} characters" if len(text) > limit else ""
        prompt = prompts.UNDERSTAND.format(
            name=path, cut=cut, text=text[:limit], look_for=args.things_to_look_for
        )
        answer = self._assist(prompt, "understand-file")
        return answer

    def _edit(self, args: EditScript) -> str:
        source = actions.check_path(args.script_name, write=False)
        target = actions.check_path(args.save_name, write=True)
        text, error = self._read(source)
        state = "its current text"
        if error is not None:
            text, state = "", "it does not exist yet: write it from scratch"
        prompt = prompts.EDIT.format(
            name=source, state=state, text=text[:60_000], instruction=args.edit_instruction
        )
        answer = self._assist(prompt, "edit-script")
        blocks = _CODE_BLOCK.findall(answer)
        if len(blocks) != 1:
            return (
                f"The assistant's answer had {len(blocks)} ```python blocks, not one; nothing "
                "was written. Give a clearer edit instruction."
            )
        new = blocks[0]
        written = self._cell(actions.write_file_code(target, new))
        diff = "".join(
            difflib.unified_diff(
                text.splitlines(keepends=True),
                new.splitlines(keepends=True),
                fromfile=source,
                tofile=target,
            )
        )
        return f"{written}\nThe diff:\n{diff or '(no change)'}"

    def _assist(self, prompt: str, purpose: str) -> str:
        answer, usage = self.assistant.text([Message(role="user", content=prompt)], purpose=purpose)
        self.assistant_usage.add(usage)
        return answer

    def _read(self, path: str) -> tuple[str, str | None]:
        """The file's text, or ("", the observation saying why it could not be read)."""
        obs = self._step({"action": "execute_code", "code": actions.read_file_code(path)})
        if obs.get("error_type"):
            return "", f"Could not read {path}: {obs.get('error_message') or obs['error_type']}"
        try:
            data = json.loads(str(obs.get("stdout") or "").strip().splitlines()[-1])
            return str(data["text"]), None
        except (ValueError, IndexError, KeyError, TypeError):
            return "", f"Could not read {path}: the read printed no result."

    def _cell(self, code: str) -> str:
        obs = self._step({"action": "execute_code", "code": code})
        parts = [str(obs.get("stdout") or "").rstrip()]
        if obs.get("error_type"):
            parts.append(f"Error: {obs['error_type']}: {obs.get('error_message') or ''}")
        if obs.get("info"):
            parts.append(str(obs["info"]))
        return "\n".join(p for p in parts if p) or "(no output)"

    # ---------------------------------------------------------------- records
    def _log(self, entry: dict[str, Any]) -> None:
        with (self.folder / "trajectory.jsonl").open("a", encoding="utf-8") as f:
            f.write(json.dumps(entry, default=str) + "\n")

    def _write_usage(self) -> None:
        TaskUsage(
            task=str(self.task.get("competition") or self.env.run_folder.name),
            roles=[self.research_usage, self.assistant_usage],
            total=self.meter.totals,
        ).write(self.folder)


def _clip(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return text[:limit] + f"\n[... {len(text) - limit} characters cut]"
