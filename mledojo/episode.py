"""`Episode`: one run of one agent on one competition, from sandbox start to `result.json`.

The episode owns the budget, the best submission so far, the recording and the grading,
and it is the one place where failures are caught and classified (docs/episode.md):

| failure                          | the agent sees                 | the episode                  |
|----------------------------------|--------------------------------|------------------------------|
| invalid submission               | `submission=invalid` + reason  | goes on (a public grade used)|
| grading fault (public part)      | `error_type=GradingError`      | goes on (a public grade used)|
| invalid final submission         | -                              | ends ungraded (its fault)    |
| grading fault (private part)     | -                              | ends `grading_error`         |
| sandbox fault                    | `status=sandbox_error`         | counted; truncated after N   |
| host bug or Ctrl-C inside a step | -                              | `infra_error` / `interrupted`|

Whatever happens, `finish()` writes `result.json` exactly once. `MLEDojoEnv` is a thin
Gymnasium face over this class.
"""

from __future__ import annotations

import json
import os
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mledojo._files import sha256_file
from mledojo.artifacts import (
    EpisodeRecorder,
    EpisodeResult,
    EpisodeStatus,
    Feedback,
    FinalGrade,
    Lineage,
    LLMUsage,
    SandboxStats,
    versions,
)
from mledojo.competition import Competition
from mledojo.data.prepare import PreparedData
from mledojo.errors import (
    GradingError,
    InvalidSubmissionError,
    ResetNeededError,
    SandboxError,
    SandboxFileError,
)
from mledojo.grading.scorer import Scorer
from mledojo.grading.worker import GradingWorker
from mledojo.layout import hardware_summary
from mledojo.rewards import RewardMode, reward_warning, step_reward
from mledojo.sandbox.base import ExecResult, Sandbox
from mledojo.spec import EpisodeSpec
from mledojo.spend import Spend
from mledojo.types import (
    Action,
    CallTool,
    ExecuteCode,
    Observation,
    RequestInfo,
    Submit,
    ValidateCode,
    action_error,
    parse_action,
)

SUBMISSION_NAME = "submission.csv"
ACTIONS_HINT = (
    "Actions: request_info(topic), validate_code(code), execute_code(code), "
    "call_tool(tool, args), submit(path?)."
)


@dataclass
class Transition:
    """What one step returns to the env, in Gymnasium's order."""

    observation: dict[str, Any]
    reward: float
    terminated: bool
    truncated: bool
    info: dict[str, Any]


@dataclass
class _Draft:
    """A step's observation as it is built; the catch boundary completes it on failure."""

    action: str
    status: str = "ok"
    fields: dict[str, Any] = field(default_factory=dict)
    reward: float = 0.0
    terminated: bool = False
    info: dict[str, Any] = field(default_factory=dict)

    def note(self, text: str) -> None:
        self.fields["info"] = (str(self.fields.get("info", "")) + "\n" + text).strip()

    def error(self, error_type: str, message: str) -> None:
        """Set the step's error unless the agent's code already raised one (that one wins)."""
        if self.fields.get("error_type"):
            self.note(f"[{error_type}] {message}")
        else:
            self.fields["error_type"], self.fields["error_message"] = error_type, message


class Episode:
    """One episode: start it, step it, finish it (see the module docstring)."""

    def __init__(
        self,
        *,
        competition: Competition,
        data: PreparedData,
        scorer: Scorer,
        grader: GradingWorker,
        spec: EpisodeSpec,
        folder: Path,
        run_label: str,
        sandbox: Sandbox,
        reward: RewardMode,
        info_text: Callable[[str, int, float], str],
        task_info: dict[str, Any],
        spend: Spend | None = None,
        lineage: Lineage | None = None,
    ) -> None:
        self.competition, self.data, self.scorer, self.grader = competition, data, scorer, grader
        self.spec, self.budget, self.reward_mode = spec, spec.budget, reward
        self.sandbox, self.run_label = sandbox, run_label
        self.recorder = EpisodeRecorder(folder)
        self._info_text, self._task_info = info_text, task_info
        self.steps = 0  # every env.step, for numbering
        self.tool_calls = 0
        self.tool_ledger: dict[str, str] = {}  # what the tools wrote; they trust nothing else
        self.public_grades = 0
        self.sandbox_errors = 0
        self.grading_errors = 0
        self.llm = LLMUsage()
        self.feedback: list[Feedback] = []
        self.best_score: float | None = None
        self.best_hr: float | None = None
        self.best_submission: Path | None = None
        self.final: FinalGrade | None = None
        self.result: EpisodeResult | None = None
        self._restarts_seen = 0
        self._llm_logged = LLMUsage()
        self.spend = spend if spend is not None else Spend()
        self.lineage = lineage
        self._handlers: dict[type, Callable[[Any, _Draft], None]] = {
            RequestInfo: self._request_info,
            ValidateCode: self._run_code,
            ExecuteCode: self._run_code,
            CallTool: self._call_tool,
            Submit: self._submit,
        }

    @property
    def folder(self) -> Path:
        return self.recorder.folder

    @property
    def done(self) -> bool:
        return self.result is not None

    @property
    def is_branch(self) -> bool:
        """A `budget="shared"` fork: its root episode grades the tree's best at its end."""
        return self.lineage is not None and self.lineage.budget == "shared"

    # ----------------------------------------------------------------- start
    def start(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """Start the sandbox and describe the task; a failed start still writes a result.

        The episode owns its sandbox's lifecycle: it starts it here and stops it when it
        ends (`finish`) or is closed (`close`); the env only calls these methods.
        """
        self._start_sandbox()
        self.spend.started = time.monotonic()
        self.recorder.log(f"start key={self.spec.key} sandbox={self.sandbox.name}")
        brief = self._info_text("all", self.steps_left, self.budget.episode_time_s)
        obs = self._observation(
            _Draft("reset", "ready", {"info": brief}), time_left_s=self.budget.episode_time_s
        )
        self.recorder.record_step({"step": 0, "action": {"action": "reset"}, "obs": obs})
        return obs, {"run_dir": str(self.folder), "key": self.spec.key, "task": self._task_info}

    def start_fork(self, elapsed_s: float) -> tuple[dict[str, Any], dict[str, Any]]:
        """Start a forked episode's sandbox on its copied workspace and record the fork.

        `elapsed_s` is the time budget the parent had used: an own-budget fork's clock goes
        on from there (starting its sandbox is not charged); a shared one's is its root's.
        """
        if self.lineage is None:
            raise RuntimeError("start_fork is for an episode made by mledojo.fork")
        self._start_sandbox()
        if not self.is_branch:
            self.spend.started = time.monotonic() - elapsed_s
        lineage = self.lineage
        self.recorder.log(
            f"forked from {lineage.parent_run_dir} at step {lineage.parent_step} "
            f"(budget={lineage.budget}) sandbox={self.sandbox.name}"
        )
        note = (
            f"Forked at step {lineage.parent_step} (budget={lineage.budget}): the workspace, "
            "budget used and best submission so far are the parent's; nothing done here "
            "reaches the parent's workspace."
        )
        obs = self._observation(_Draft("fork", "ready", {"info": note}))
        self.recorder.record_step(
            {
                "step": self.steps,
                "action": {"action": "fork", "budget": lineage.budget},
                "obs": obs,
                "lineage": lineage.model_dump(),
            }
        )
        return obs, {"run_dir": str(self.folder), "key": self.spec.key, "task": self._task_info}

    def _start_sandbox(self) -> None:
        """Start the sandbox on the workspace; a failed start still writes a result."""
        try:
            prepare_once(self.sandbox)
            self.sandbox.start(
                data_dir=self.data.public_dir,
                workspace=self.recorder.workspace,
                resources=self.spec.resources,
                labels={
                    "mledojo.run": self.run_label,
                    "mledojo.competition": self.competition.id,
                    "mledojo.key": self.spec.key,
                },
            )
        except KeyboardInterrupt:
            self.sandbox.stop()
            self.finish("interrupted while the sandbox started", status="interrupted", grade=False)
            raise
        except BaseException as e:
            self.sandbox.stop()
            self.sandbox_errors += 1
            self.finish(f"the sandbox failed to start: {e}", status="infra_error", grade=False)
            raise

    # ------------------------------------------------------------------ step
    def step(self, raw: Any) -> Transition:
        """Apply one action. The only place in the library where a step's failures are caught."""
        if self.done:
            raise ResetNeededError(
                "The episode has ended: call env.reset() before env.step() (see info['final'])."
            )
        self.steps += 1
        self._spend(steps=1)
        t0 = time.monotonic()
        draft = self._apply(raw)
        truncated = False
        if not draft.terminated and not self.done:
            why, status = self._exhausted()
            if why:
                truncated = True
                draft.reward += self.finish(why, status=status)
                draft.status = "truncated"
                draft.note(f"[{why}]")
        obs = self._observation(draft)
        info = dict(draft.info)
        if self.done:
            info["final"] = self.final.for_agent(self.spec.mode) if self.final else {}
        info["step_time_s"] = time.monotonic() - t0
        info["run_dir"] = str(self.folder)
        entry: dict[str, Any] = {
            "step": self.steps,
            "action": _loggable(raw),
            "obs": obs,
            "reward": draft.reward,
            "terminated": draft.terminated,
            "truncated": truncated,
            "duration_s": info["step_time_s"],
        }
        llm = self.llm  # one snapshot: an agent's thread may charge a call meanwhile
        if llm != self._llm_logged:  # model calls since the last step
            spent = {
                k: getattr(llm, k) - getattr(self._llm_logged, k) for k in LLMUsage.model_fields
            }
            entry["llm"] = {**spent, "tokens": spent["input_tokens"] + spent["output_tokens"]}
            self._llm_logged = llm
        self.recorder.record_step(entry)
        return Transition(obs, draft.reward, draft.terminated, truncated, info)

    def _apply(self, raw: Any) -> _Draft:
        try:
            action: Action = parse_action(raw)
        except (ValueError, TypeError) as e:
            draft = _Draft("invalid", "invalid_action")
            draft.error("InvalidAction", action_error(e))
            draft.note(ACTIONS_HINT)
            return draft
        draft = _Draft(action.action)
        restarts = self.sandbox.restarts
        try:
            self._handlers[type(action)](action, draft)
        except InvalidSubmissionError as e:
            draft.fields["submission"] = "invalid"
            draft.error("InvalidSubmission", str(e))
            draft.note(f"The submission was rejected: {e}")
            if isinstance(action, Submit):
                draft.status = "error"
                draft.note(
                    "Not submitted: fix the file, or submit without a path to use the best "
                    "valid submission so far."
                )
            self.feedback.append(Feedback(step=self.steps, submission="invalid"))
        except GradingError as e:
            self.grading_errors += 1
            self.recorder.log(f"grading error (public part): {e}")
            draft.fields["submission"] = "none"
            draft.error("GradingError", f"the benchmark failed to grade this submission: {e}")
            draft.note(
                "Not your submission's fault: the grader failed. It still counts as a public "
                "grade (an uncounted verdict would be free information)."
            )
        except SandboxError as e:
            self._sandbox_fault(draft, str(e))
        except KeyboardInterrupt:
            self.finish("interrupted by the user during a step", status="interrupted", grade=False)
            raise
        except Exception as e:  # a bug of the benchmark's own: never the agent's
            self.finish(
                f"internal error: {type(e).__name__}: {e}",
                status="infra_error",
                error=trace_tail(e),
            )
            raise
        else:  # a sandbox_error result that no restart explains is a fault too
            if draft.status == "sandbox_error" and self.sandbox.restarts == restarts:
                self._sandbox_fault(draft, str(draft.fields.get("error_message", "")))
        self._count_restarts()
        return draft

    def _sandbox_fault(self, draft: _Draft, message: str) -> None:
        self.sandbox_errors += 1
        self.recorder.log(f"sandbox error: {message}")
        draft.status = "sandbox_error"
        draft.fields.setdefault("error_type", "SandboxError")
        draft.fields.setdefault("error_message", message)

    def _count_restarts(self) -> None:
        """A runner that died while the agent's code ran: restarted, attributed to the step."""
        if self.sandbox.restarts > self._restarts_seen:
            self.recorder.log(f"sandbox restarted ({self.sandbox.restarts} so far)")
            self._restarts_seen = self.sandbox.restarts

    def _exhausted(self) -> tuple[str, EpisodeStatus]:
        """Why the episode must end now ("" if it may go on), and its status."""
        b = self.budget
        if self.sandbox_errors + self._restarts_seen >= b.max_sandbox_errors:
            status: EpisodeStatus = "infra_error" if self.sandbox_errors else "completed"
            return f"the sandbox failed {b.max_sandbox_errors} times", status
        if self.steps_left <= 0:
            return "step budget used up", "completed"
        if self.time_left_s <= 0:
            return "time budget used up", "timeout"
        llm = self.spend.llm
        if b.llm_usd is not None and llm.usd >= b.llm_usd:
            return "LLM dollar budget used up", "completed"
        if b.llm_tokens is not None and llm.tokens >= b.llm_tokens:
            return "LLM token budget used up", "completed"
        return "", "completed"

    # --------------------------------------------------------------- handlers
    def _request_info(self, action: RequestInfo, draft: _Draft) -> None:
        draft.fields["info"] = self._info_text(action.topic, self.steps_left, self.time_left_s)

    def _run_code(self, action: ValidateCode | ExecuteCode, draft: _Draft) -> None:
        self.recorder.save_code(self.steps, action.action, action.code)
        try:
            compile(action.code, "<cell>", "exec")
        except SyntaxError as e:
            draft.status = "error"
            draft.fields["stderr"] = f"SyntaxError: {e}"
            draft.error("SyntaxError", f"line {e.lineno}: {e.msg}")
            return
        before = self._submission_stat()
        result = self.sandbox.exec(action.code, timeout_s=self._step_timeout())
        draft.status = result.status
        draft.fields.update(_exec_fields(result))
        after = self._submission_stat()
        if after is None or after == before:
            return
        if isinstance(action, ValidateCode):
            self._check_format(draft, keep=False)
            draft.note("(validate_code only checks the format; nothing was graded)")
        else:
            self._grade_new_submission(draft)

    def _grade_new_submission(self, draft: _Draft) -> None:
        """A step or a tool wrote submission.csv: grade it on the public part, or past the cap
        (`Budget.public_grades`, one count for every source) keep it ungraded."""
        if self.spend.public_grades >= self.budget.public_grades:
            self._check_format(draft, keep=True)
            draft.note(
                f"Not graded: the {self.budget.public_grades} public grades of this episode "
                "(code cells and tools together) are used up (a cap, so the public score "
                "cannot be mined row by row). `submit` "
                "without a path uses the best graded submission; "
                "`submit(path='submission.csv')` uses this one."
            )
            self.feedback.append(Feedback(step=self.steps, submission="ungraded"))
        else:
            self._grade_public(draft)

    def _grade_public(self, draft: _Draft) -> None:
        """Grade on the public part; every call counts, whatever its outcome.

        Why: a verdict that is not counted is free information. A submission that made the
        grader fail only when a probed row was public gave an uncounted membership oracle.
        """
        copy = self._copy_submission(SUBMISSION_NAME)
        self.public_grades += 1
        self._spend(public_grades=1)
        report = self.grader.score(copy, part="public", display_name=SUBMISSION_NAME)
        old_score, old_hr = self.best_score, self.best_hr
        improved = old_score is None or self.scorer.better(report.score, old_score)
        if improved:
            self.best_score, self.best_hr, self.best_submission = (
                report.score,
                report.human_rank,
                copy,
            )
        draft.reward = step_reward(
            self.reward_mode, self.scorer.spec.metric, report, old_score, old_hr
        )
        draft.fields.update(
            submission="valid",
            public_score=report.score,
            public_human_rank=report.human_rank,
        )
        draft.note(
            f"submission.csv graded on the public part: {self.scorer.metric_name} = "
            f"{report.score:.6g}" + (" (new best)" if improved else "")
        )
        draft.info["public"] = report.model_dump()
        self.feedback.append(
            Feedback(
                step=self.steps,
                submission="valid",
                public_score=report.score,
                public_human_rank=report.human_rank,
            )
        )

    def _check_format(self, draft: _Draft, *, keep: bool) -> None:
        copy = self._copy_submission(SUBMISSION_NAME)
        try:
            self.grader.validate(copy, display_name=SUBMISSION_NAME)
        finally:
            if not keep:
                copy.unlink(missing_ok=True)
        draft.fields["submission"] = "valid"
        draft.note("submission.csv has a valid format")

    def _call_tool(self, action: CallTool, draft: _Draft) -> None:
        if self.spend.tool_calls >= self.budget.max_tool_calls:
            draft.status = "error"
            draft.error(
                "ToolBudget",
                f"the {self.budget.max_tool_calls} tool calls of this episode are used up",
            )
            return
        self.tool_calls += 1
        self._spend(tool_calls=1)
        before = self._submission_stat()
        res = self.sandbox.call_tool(
            action.tool, action.args, timeout_s=self._step_timeout(), ledger=self.tool_ledger
        )
        self.tool_ledger.update(res.written)
        if not res.ok:
            draft.status = "error"
            draft.error("ToolError", res.error or "the tool failed")
            return
        text = json.dumps(res.output, indent=1, default=str)
        draft.info["tool"] = res.output
        after = self._submission_stat()
        if after is not None and after != before:  # e.g. write_submission: graded like code's
            self._grade_new_submission(draft)
        draft.fields["info"] = text  # the tool's JSON alone; the grade is in its own fields

    def _submit(self, action: Submit, draft: _Draft) -> None:
        if self.is_branch:
            self._end_branch(action, draft)
            return
        chosen: Path | None = None
        if action.path is not None:
            chosen = self._copy_submission(action.path)
            self.grader.validate(chosen, display_name=action.path[:120])
        draft.reward = self.finish("submitted", status="completed", chosen=chosen)
        draft.status, draft.terminated = "submitted", True
        final = self.final
        if final is not None and final.graded and self.spec.mode == "evaluation":
            draft.note(
                "Episode over. The final submission was graded; in evaluation mode its private "
                "score is not shown (the caller reads it from result.json)."
            )
        elif final is not None and final.graded and final.private_score is not None:
            draft.note(
                f"Episode over. Private {self.scorer.metric_name}: {final.private_score:.6g}"
            )
        else:
            draft.note(f"Episode over. No grade: {final.reason if final else ''}")

    def _end_branch(self, action: Submit, draft: _Draft) -> None:
        """`submit` in a shared branch ends the branch; its root grades the tree's best."""
        if action.path is not None:
            draft.status = "error"
            draft.error(
                "SubmitRefused",
                "a budget='shared' branch cannot submit a chosen file: its best graded "
                "submission competes in its root episode's final grade (submit without a path "
                "to end this branch, or submit the file on the root episode)",
            )
            return
        self.finish("submitted", status="completed")
        draft.status, draft.terminated = "submitted", True
        draft.note(
            "Branch over. Its best graded submission competes in its root episode's final "
            "grade, made when the root ends."
        )

    # ---------------------------------------------------------------- ending
    def finish(
        self,
        reason: str,
        *,
        status: EpisodeStatus,
        grade: bool = True,
        chosen: Path | None = None,
        error: str | None = None,
    ) -> float:
        """Grade the final submission on the private part, write `result.json` (once) and
        stop the sandbox (nothing more runs in it; the container is freed now).

        Returns the end-of-episode reward: the private HumanRank in `final_only` reward mode
        on a `training` episode; 0 in `evaluation` mode, where no private grade reaches the
        agent (the caller reads it from the result).
        """
        if self.done:
            return 0.0
        target = chosen or self.tree_best()[2]
        if not grade or status == "interrupted":
            self.final = FinalGrade(graded=False, reason=reason)
        elif self.lineage is not None and self.is_branch:
            self.final = FinalGrade(
                graded=False,
                reason=f"{reason}; a budget='shared' branch: its best graded submission "
                f"competes in the final grade of {self.lineage.root_run_dir}",
            )
        elif target is None:
            self.final = FinalGrade(graded=False, reason="no valid submission was made")
        else:
            try:
                self.final = self._private_grade(target, reason)
            except InvalidSubmissionError as e:
                # The agent's data made grading fail: its fault, not a re-rollable error.
                self.recorder.log(f"final submission invalid: {e}")
                self.final = FinalGrade(
                    graded=False, reason=f"the final submission is invalid: {e}"
                )
            except GradingError as e:
                status, error = "grading_error", f"GradingError: {e}"
                self.final = FinalGrade(graded=False, reason=f"grading failed: {error}")
        self.result = self._result(reason, status, error)
        self.recorder.write_result(self.result)
        self.recorder.log(f"finished: {reason} ({status})")
        self.sandbox.stop()
        if not self.is_branch:  # the tree's budget is over: so are its branches
            for branch in list(self.spend.branches):
                branch.close(f"its root episode ended: {reason}")
        private = self.final.private_human_rank
        if (
            self.reward_mode == "final_only"
            and self.spec.mode == "training"
            and private is not None
        ):
            return private
        return 0.0

    def close(self, reason: str) -> None:
        """End the episode if it still runs (`interrupted`, ungraded) and stop the sandbox.

        Idempotent: the env calls it on reset, close and when it is garbage-collected.
        """
        if not self.done:
            self.finish(reason, status="interrupted", grade=False)
        self.sandbox.stop()

    def tree_best(self) -> tuple[float | None, float | None, Path | None]:
        """The best graded submission of this episode and, for a root, of its shared branches
        (score, HumanRank, file)."""
        best = (self.best_score, self.best_hr, self.best_submission)
        if self.is_branch:
            return best
        for branch in list(self.spend.branches):
            score = branch.best_score
            if score is None or branch.best_submission is None:
                continue
            if best[0] is None or self.scorer.better(score, best[0]):
                best = (score, branch.best_hr, branch.best_submission)
        return best

    def _result(self, reason: str, status: EpisodeStatus, error: str | None) -> EpisodeResult:
        spec = self.competition.spec
        if self.final is None:
            raise RuntimeError("the final grade must be set before the result")
        best_score, best_hr, _ = self.tree_best()
        return EpisodeResult(
            key=self.spec.key,
            spec=self.spec,
            competition=spec.id,
            competition_version=spec.version,
            data_seed=self.data.data_seed,
            agent=self.spec.agent.name,
            seed=self.spec.seed,
            status=status,
            end_reason=reason,
            steps=self.steps,
            tool_calls=self.tool_calls,
            wall_time_s=time.monotonic() - self.spend.started,
            best_public_score=best_score,
            best_public_human_rank=best_hr,
            final=self.final,
            metric=spec.metric.name,
            higher_is_better=spec.metric.higher_is_better,
            sandbox=SandboxStats(
                kind=self.sandbox.name,
                errors=self.sandbox_errors,
                restarts=self._restarts_seen,
                disk_quota=self.sandbox.disk_quota,
                image=self.sandbox.image,
            ),
            llm=self.spend.llm,
            feedback=self.feedback,
            grading_errors=self.grading_errors,
            error=error,
            reward_warning=reward_warning(self.reward_mode),
            hardware=hardware_summary(),
            versions=versions(),
            sandbox_versions=dict(self.sandbox.runtime_versions),
            lineage=self.lineage,
        )

    def _private_grade(self, target: Path, reason: str) -> FinalGrade:
        report = self.grader.score(target, part="private", display_name=SUBMISSION_NAME)
        return FinalGrade(
            graded=True,
            reason=reason,
            submission=str(target.relative_to(self.folder)),
            submission_sha256=sha256_file(target),
            private_score=report.score,
            private_human_rank=report.human_rank,
            medal=report.medal,
            above_median=report.above_median,
            leaderboard_kind=report.leaderboard_kind,
            leaderboard_entries=report.n_entries,
            implausible=report.implausible,
            caveats=report.caveats,
            interval=report.interval,
            medal_probabilities=(
                None
                if report.medal_probabilities is None
                else report.medal_probabilities.model_dump()
            ),
        )

    def _spend(
        self,
        *,
        steps: int = 0,
        tool_calls: int = 0,
        public_grades: int = 0,
        llm: LLMUsage | None = None,
    ) -> None:
        """Count what this episode just used against its budget (shared by a fork tree)."""
        spend = self.spend
        with spend.lock:
            spend.steps += steps
            spend.tool_calls += tool_calls
            spend.public_grades += public_grades
            if llm is not None:
                spend.llm = spend.llm.plus(llm)

    # ------------------------------------------------------------ LLM usage
    def charge_llm(self, usage: LLMUsage) -> None:
        """Count model calls an agent made; past the budget, the next step truncates."""
        self.llm = self.llm.plus(usage)
        self._spend(llm=usage)
        if self.result is not None:  # reported after the end (e.g. the final report)
            self.result = self.result.model_copy(update={"llm": self.spend.llm})
            self.recorder.write_result(self.result)

    def note_reported_llm(self, usage: LLMUsage) -> None:
        """Merge what the agent's outcome reports with what was charged (same calls)."""
        merged = self.llm.at_least(usage)
        if merged != self.llm:  # charge only what the outcome reports beyond the charges
            extra = {k: getattr(merged, k) - getattr(self.llm, k) for k in LLMUsage.model_fields}
            self.charge_llm(LLMUsage(**extra))

    # ----------------------------------------------------------- submissions
    def _submission_stat(self) -> tuple[int, int, int] | None:
        """Whether the agent wrote submission.csv in this step (metadata only, no open)."""
        try:
            st = os.lstat(self.recorder.workspace / SUBMISSION_NAME)
        except OSError:
            return None
        return (st.st_ino, st.st_size, st.st_mtime_ns)

    def _copy_submission(self, relative: str) -> Path:
        """Fetch a workspace file into the episode folder, read inside the sandbox.

        The workspace is agent-controlled (symlinks, FIFOs, racing renames): the host never
        opens a path there. The sandbox reads the file with the agent's own privileges,
        capped at the grader's size limit, and the host writes the bytes to a file of its own.
        """
        try:
            data = self.sandbox.read_file(relative, max_bytes=self.scorer.max_bytes)
        except SandboxFileError as e:
            raise InvalidSubmissionError(str(e)) from e
        dest = self.folder / "submissions" / f"step-{self.steps:03d}.csv"
        fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        return dest

    # ----------------------------------------------------------- observation
    @property
    def steps_left(self) -> int:
        """Code steps left: tool calls are counted apart (`Budget.max_tool_calls`)."""
        spend = self.spend
        return max(0, self.budget.max_steps - (spend.steps - spend.tool_calls))

    @property
    def time_left_s(self) -> float:
        return max(0.0, self.budget.episode_time_s - (time.monotonic() - self.spend.started))

    def _step_timeout(self) -> float:
        return max(1.0, min(self.budget.step_timeout_s, self.time_left_s))

    def _observation(self, draft: _Draft, *, time_left_s: float | None = None) -> dict[str, Any]:
        obs = Observation(
            action=draft.action,
            status=draft.status,  # type: ignore[arg-type]
            best_public_score=self.best_score,
            best_public_human_rank=self.best_hr,
            steps_left=self.steps_left,
            time_left_s=round(self.time_left_s if time_left_s is None else time_left_s, 3),
            **draft.fields,
        )
        return obs.model_dump()


_prepared: set[tuple[int, str]] = set()
_prepare_lock = threading.Lock()


def prepare_once(sandbox: Sandbox) -> None:
    """Call the sandbox's per-process hook (`Sandbox.prepare`: image present, host capable)
    once per process and sandbox kind, not once per episode.

    Keyed by the process id too: a forked child prepares again. A hook that raises is
    not marked done, so the next episode tries again.
    """
    key = (os.getpid(), sandbox.name)
    with _prepare_lock:
        if key in _prepared:
            return
        sandbox.prepare()
        _prepared.add(key)


def _exec_fields(result: ExecResult) -> dict[str, Any]:
    fields: dict[str, Any] = {"stdout": result.stdout, "stderr": result.stderr}
    if result.error_type:
        fields["error_type"] = result.error_type
        fields["error_message"] = result.error_message or ""
    elif result.status in ("timeout", "oom", "killed", "sandbox_error"):
        fields["error_type"] = result.status
        fields["error_message"] = result.error_message or ""
    return fields


def trace_tail(e: BaseException) -> str:
    """The end of a traceback, for `result.json` (bounded)."""
    return "".join(traceback.format_exception(e))[-8000:]


def _loggable(action: Any) -> Any:
    dump = getattr(action, "model_dump", None)
    return dump() if callable(dump) else action
