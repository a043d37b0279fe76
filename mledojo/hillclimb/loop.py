"""The hill-climbing loop: the critic proposes one change, the actor implements it, the loop
smoke-tests it on a small sample, trains, scores, and keeps the change as a git commit when
the score improves, else reverts it; until max iterations, consecutive failures, a target
score, the critic's stop or a budget.

Nothing the models say runs on the host: the actor's files and commands pass the command
policy (`policy.py`), then run as code cells in the episode's sandbox, git included
(`cells.py`). A model error or an unusable reply ends the run as the agent's failure
(`agent_error`; the best graded submission is still graded).
"""

from __future__ import annotations

import json
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from mledojo.agent import EnvMeter, EnvRun, EpisodeEnded
from mledojo.artifacts import LLMUsage
from mledojo.env import MLEDojoEnv
from mledojo.hillclimb import cells, policy, prompts
from mledojo.hillclimb.models import (
    BROWNFIELD_SCRIPT,
    GREENFIELD_FILES,
    HillClimbConfig,
    Implementation,
    Proposal,
)
from mledojo.llm import (
    LLMBudgetExceeded,
    LLMClient,
    LLMError,
    Message,
    make_client,
)
from mledojo.react.usage import RoleUsage, TaskUsage
from mledojo.types import MAX_CODE_CHARS

FOLDER = "hill-climb"
ROUNDS_FILE = "rounds.jsonl"
STEPS_PER_ROUND = 3  # try (smoke), train, keep or revert
PROMPT_FILE_CHARS = 30_000
_HOLDOUT = re.compile(r"hold-out score:\s*([-+0-9.eE]+|nan|inf)", re.IGNORECASE)

Outcome = Literal["kept", "reverted", "refused"]
Source = Literal["public", "hold-out"]


class HillClimbFailure(Exception):
    """The agent cannot go on (its setup failed in the sandbox)."""


class Round(BaseModel):
    """One round of the loop, as logged in `hill-climb/rounds.jsonl` and shown to the models."""

    model_config = ConfigDict(extra="forbid")

    iteration: int
    idea: str = ""
    summary: str = ""
    refused: list[policy.Refusal] = []
    smoke_ok: bool | None = None
    train_ok: bool | None = None
    score: float | None = None
    source: Source | None = None
    outcome: Outcome = "reverted"
    reason: str = ""

    def line(self) -> str:
        """One line for the prompts."""
        score = "no score" if self.score is None else f"{self.source} score {self.score:.6g}"
        refused = "".join(f"; refused {r.item[:80]!r}: {r.reason[:120]}" for r in self.refused[:3])
        return (
            f"{self.iteration}. {self.idea[:300]!r} -> {self.outcome} ({score}; "
            f"{self.reason[:400]}{refused})"
        )


def holdout_score(runs: list[cells.ScriptRun]) -> float | None:
    """The last `hold-out score: x` the scripts printed, when it is a finite number."""
    found: float | None = None
    for run in runs:
        for match in _HOLDOUT.finditer(run.tail):
            try:
                value = float(match.group(1))
            except ValueError:
                continue
            if value == value and abs(value) != float("inf"):
                found = value
    return found


class HillClimbRun(EnvRun):
    """One hill-climbing run over a reset env; `run()` plays the episode to its end."""

    def __init__(self, env: MLEDojoEnv, config: HillClimbConfig, task: dict[str, Any]) -> None:
        super().__init__(env)
        self.config, self.task = config, task
        self.folder = env.run_folder / FOLDER
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.higher_is_better = bool(task.get("higher_is_better", True))
        self.notes: list[str] = []
        self.rounds: list[Round] = []
        self.best: dict[Source, float] = {}
        self.files: dict[str, str] = {}  # the kept files, as the loop wrote them
        self.git_log = ""
        critic = config.critic_model or config.model
        self.actor_usage = RoleUsage(role="actor", model=config.model)
        self.critic_usage = RoleUsage(role="critic", model=critic)
        self.metering = EnvMeter(env)
        self.meter = self.metering.meter
        self.actor: LLMClient = self._client(config.model, "actor")
        self.critic: LLMClient = self._client(critic, "critic")

    def _client(self, model: str, role: str) -> LLMClient:
        return make_client(
            model,
            meter=self.meter,
            base_url=self.config.model_base_url,
            record_dir=self.folder / role,
            max_output_tokens=self.config.max_output_tokens,
            max_retries=self.config.max_retries,
        )

    @property
    def llm(self) -> LLMUsage:
        """What the run's model calls cost so far (charged to the env as they happened)."""
        return self.metering.llm

    @property
    def entry(self) -> list[str]:
        """The scripts a smoke test and a training run execute, in order."""
        return (
            ["train.py", "predict.py"] if self.config.mode == "greenfield" else [BROWNFIELD_SCRIPT]
        )

    # ------------------------------------------------------------------ run
    def run(self) -> None:
        """Play the episode; it always ends (submitted, truncated, or as the agent's failure)."""
        try:
            self._setup()
            self._loop()
            self._submit()
        except EpisodeEnded as e:
            self.notes.append(f"stopped: {e}")
        except LLMBudgetExceeded as e:
            self.notes.append(f"the LLM budget is used up: {e}")
            self._submit()
        except (HillClimbFailure, LLMError) as e:
            error = f"{type(e).__name__}: {e}"[:2000]
            self.notes.append(f"the agent failed: {error}")
            self.env.finish("the hill-climb agent failed", status="agent_error", error=error)
            self.terminated = True
        finally:
            refused = [r for run in self.rounds for r in run.refused]
            if refused:
                self.notes.append(
                    f"the command policy refused {len(refused)} actions (hill-climb/"
                    f"{policy.POLICY_LOG}); the first: {refused[0].item[:80]!r}: "
                    f"{refused[0].reason[:160]}"
                )
            self._write_records()

    def _setup(self) -> None:
        files = {"task.json": json.dumps(self.task, indent=2, default=str) + "\n"}
        if self.config.baseline_source is not None:
            files[BROWNFIELD_SCRIPT] = self.config.baseline_source
        result, _ = self._cell("execute_code", cells.setup_code(files))
        if not result.ok:
            raise HillClimbFailure(f"the workspace repository could not be set up: {result.error}")
        self.files = dict(files)
        self.git_log = result.log
        if self.config.mode == "brownfield":
            self._score_baseline()

    def _score_baseline(self) -> None:
        """Round 0 of brownfield: the given script's own score is the one to beat."""
        run = Round(iteration=0, idea="the given baseline, unchanged", summary=BROWNFIELD_SCRIPT)
        self._train_and_judge(run)
        self._close(run)
        if run.outcome != "kept":
            self.notes.append(f"the baseline did not score: {run.reason}")

    def _loop(self) -> None:
        failures = 0
        for iteration in range(1, self.config.max_iterations + 1):
            if self.steps_left <= STEPS_PER_ROUND:
                self.notes.append("stopped: too few steps left for another round")
                return
            if self._target_reached():
                self.notes.append(
                    f"stopped: the target score {self.config.target_score} is reached"
                )
                return
            if failures >= self.config.max_consecutive_failures:
                self.notes.append(f"stopped: {failures} rounds in a row failed or did not improve")
                return
            run = self._round(iteration)
            if run is None:
                return
            failures = 0 if run.outcome == "kept" else failures + 1
        self.notes.append(f"stopped: {self.config.max_iterations} rounds done")

    def _round(self, iteration: int) -> Round | None:
        """One round: propose, implement, test, train, evaluate, keep or revert (None: the
        critic said stop)."""
        proposal, usage = self.critic.structured(
            self._messages(prompts.CRITIC), Proposal, purpose="critic"
        )
        self.critic_usage.add(usage)
        if proposal.stop:
            self.notes.append(
                f"stopped: the critic sees nothing worth trying ({proposal.idea[:200]})"
            )
            return None
        run = Round(iteration=iteration, idea=proposal.idea)
        ask = f"The proposal to implement:\n{proposal.idea}\nWhy: {proposal.rationale}"
        impl, usage = self.actor.structured(
            self._messages(prompts.ACTOR, ask), Implementation, purpose="actor"
        )
        self.actor_usage.add(usage)
        run.summary = impl.summary
        checked = policy.check(impl)
        run.refused = checked.refused
        policy.log_refusals(self.folder, iteration, checked.refused)
        if not checked.files and not checked.commands:
            run.outcome, run.reason = "refused", "the policy left nothing to run"
            return self._close(run)
        written = {w.path.strip(): w.content for w in checked.files}
        required = GREENFIELD_FILES if self.config.mode == "greenfield" else (BROWNFIELD_SCRIPT,)
        code = cells.try_code(
            written, checked.commands, self.entry, self.config.smoke_timeout_s, required
        )
        if len(code) > MAX_CODE_CHARS:
            run.reason = f"the files are too large for one step ({len(code):,} characters of code)"
            return self._close(run)
        result, _ = self._cell("validate_code", code)
        run.smoke_ok = result.ok
        if not result.ok:
            run.reason = "smoke test failed: " + _failure(result)
            self._revert()
            return self._close(run)
        self._train_and_judge(run, written)
        return self._close(run)

    def _train_and_judge(self, run: Round, written: dict[str, str] | None = None) -> None:
        """Train on the full data, score, then commit an improvement or revert."""
        result, obs = self._cell(
            "execute_code", cells.train_code(self.entry, self.config.train_timeout_s)
        )
        run.train_ok = result.ok
        public = obs.get("public_score")
        if result.ok and isinstance(public, (int, float)):
            run.score, run.source = float(public), "public"
        elif result.ok:
            holdout = holdout_score(result.runs)
            if holdout is not None:
                run.score, run.source = holdout, "hold-out"
        if not result.ok:
            run.reason = "training failed: " + _failure(result)
        elif run.score is None or run.source is None:
            run.reason = "no score: no graded submission.csv and no `hold-out score:` printed"
        elif not self._improves(run.score, run.source):
            best = self.best.get(run.source)
            run.reason = f"not better than the best {run.source} score {best}"
        else:
            self.best[run.source] = run.score
            run.outcome, run.reason = "kept", "an improvement"
            if run.iteration > 0:
                self._keep(f"round {run.iteration}: {run.summary or run.idea}"[:300])
                self.files.update(written or {})
            return
        if run.iteration > 0:
            self._revert()

    def _improves(self, score: float, source: Source) -> bool:
        if not self.best:
            return True
        best = self.best.get(source)
        if best is None:
            return False  # a public and a hold-out score are not comparable
        return score > best if self.higher_is_better else score < best

    def _target_reached(self) -> bool:
        target = self.config.target_score
        best = self.best.get("public", self.best.get("hold-out"))
        if target is None or best is None:
            return False
        return best >= target if self.higher_is_better else best <= target

    def _keep(self, message: str) -> None:
        result, _ = self._cell("execute_code", cells.keep_code(message))
        if not result.ok:
            raise HillClimbFailure(f"git commit failed in the sandbox: {result.error}")
        self.git_log = result.log

    def _revert(self) -> None:
        result, _ = self._cell("execute_code", cells.revert_code())
        if not result.ok:
            raise HillClimbFailure(f"git reset failed in the sandbox: {result.error}")
        self.git_log = result.log

    def _close(self, run: Round) -> Round:
        self.rounds.append(run)
        with (self.folder / ROUNDS_FILE).open("a", encoding="utf-8") as f:
            f.write(run.model_dump_json() + "\n")
        return run

    # -------------------------------------------------------------- prompts
    def _messages(self, role: str, ask: str = "") -> list[Message]:
        layout = prompts.GREENFIELD if self.config.mode == "greenfield" else prompts.BROWNFIELD
        system = prompts.SETTING.format(layout=layout) + "\n\n" + role
        best = self.best.get("public", self.best.get("hold-out"))
        target = self.config.target_score
        state = prompts.STATE.format(
            competition=self.task.get("competition", ""),
            metric=self.task.get("metric", ""),
            direction="higher" if self.higher_is_better else "lower",
            target="" if target is None else f"; target {target}",
            best="none yet" if best is None else f"{best:.6g}",
            history="\n".join(r.line() for r in self.rounds[-10:]) or "(none)",
            files=self._files_text(),
        )
        content = state + (f"\n\n{ask}" if ask else "")
        return [Message(role="system", content=system), Message(role="user", content=content)]

    def _files_text(self) -> str:
        parts: list[str] = []
        left = PROMPT_FILE_CHARS
        for path in sorted(self.files):
            text = self.files[path][:left]
            left -= len(text)
            parts.append(f"--- {path}\n{text}")
            if left <= 0:
                parts.append("[... the other files are cut]")
                break
        return "\n".join(parts) or "(no files yet)"

    # ------------------------------------------------------------------ env
    def _cell(self, action: str, code: str) -> tuple[cells.CellResult, dict[str, Any]]:
        obs = self._step({"action": action, "code": code})
        result = cells.parse_result(str(obs.get("stdout") or ""))
        if result is None:
            error = str(obs.get("error_message") or obs.get("error_type") or "no result line")
            result = cells.CellResult(ok=False, error=f"the cell ended early: {error[:1000]}")
        return result, obs

    # -------------------------------------------------------------- records
    def _write_records(self) -> None:
        TaskUsage(
            task=str(self.task.get("competition") or self.env.run_folder.name),
            roles=[self.critic_usage, self.actor_usage],
            total=self.meter.totals,
        ).write(self.folder)
        summary = {
            "mode": self.config.mode,
            "best": self.best,
            "kept": [r.iteration for r in self.rounds if r.outcome == "kept"],
            "reverted": [r.iteration for r in self.rounds if r.outcome != "kept"],
            "git_log": self.git_log,
            "notes": self.notes,
        }
        (self.folder / "summary.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")


def _failure(result: cells.CellResult) -> str:
    """The reason a cell failed, short: its error, or the failing script's exit and tail."""
    if result.error:
        return result.error[:1500]
    for run in result.runs:
        if run.exit != 0:
            return f"`{' '.join(run.argv)[:200]}` exited {run.exit}: {run.tail[-1200:]}"
    return "unknown"
