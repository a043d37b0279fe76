"""`MLEDojoEnv`: one competition as a `gymnasium.Env` whose steps run code in a sandbox.

The hidden answers never enter the sandbox: submissions are copied out of the workspace
(never following symlinks) and graded on the host. While the episode runs the agent sees
only scores on the *public* part of the test set; the *private* part is graded once, at
the end (`submit`, or when a budget runs out), and reported in `info["final"]`.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path
from typing import Any, Literal, SupportsFloat

import gymnasium as gym
from gymnasium.envs.registration import EnvSpec

from mledojo.artifacts import (
    EpisodeRecorder,
    EpisodeResult,
    EpisodeStatus,
    FinalGrade,
    default_runs_dir,
    new_episode_folder,
    versions,
)
from mledojo.competition import Competition, Limits, get_competition
from mledojo.data.prepare import PreparedData, prepare
from mledojo.errors import (
    GradingError,
    InvalidSubmissionError,
    ResetNeededError,
    SandboxError,
    SandboxFileError,
    did_you_mean,
)
from mledojo.grading.scorer import Scorer
from mledojo.grading.worker import GradingWorker
from mledojo.sandbox import SandboxKind
from mledojo.sandbox.base import ExecResult, Sandbox
from mledojo.types import (
    CallTool,
    ExecuteCode,
    Observation,
    RequestInfo,
    Submit,
    ValidateCode,
    action_space,
    clip_text,
    observation_space,
    parse_action,
)

RewardMode = Literal["human_rank_delta", "raw_delta", "position", "final_only"]
REWARD_MODES: tuple[str, ...] = RewardMode.__args__  # type: ignore[attr-defined]
RESET_OPTIONS: tuple[str, ...] = ()  # no reset option is defined yet
SUBMISSION_NAME = "submission.csv"


class MLEDojoEnv(gym.Env[dict[str, Any], dict[str, Any]]):
    """A machine-learning competition as a Gymnasium environment.

    Reward (`reward=`): `final_only` (default) is zero until the end, then the private
    HumanRank: one number per episode, so the reward reveals nothing about single rows of
    the test set. `human_rank_delta` is the improvement of the best public HumanRank (an
    episode's return equals its best public HumanRank); `raw_delta` the improvement of the
    best public raw score (positive = better, whatever the direction); `position` the
    public HumanRank of each graded step (MLE-Dojo's reward). Public scores are rounded as
    Kaggle shows them and at most `Limits.max_public_grades` submissions are scored.
    """

    metadata: dict[str, Any] = {"render_modes": []}

    def __init__(
        self,
        competition: str | Competition,
        *,
        data_seed: int | None = None,
        sandbox: SandboxKind | Sandbox = "auto",
        reward: RewardMode = "final_only",
        run_dir: Path | str | None = None,
        agent_name: str = "manual",
        cache_dir: Path | str | None = None,
        raw_dir: Path | str | None = None,
        limits: dict[str, Any] | None = None,
    ) -> None:
        self.competition = (
            competition if isinstance(competition, Competition) else get_competition(competition)
        )
        spec = self.competition.spec
        self.limits = Limits.model_validate({**spec.limits.model_dump(), **(limits or {})})
        self.data: PreparedData = prepare(
            self.competition, data_seed=data_seed, cache_dir=cache_dir, raw_dir=raw_dir
        )
        self.scorer = Scorer(self.competition, self.data)
        self.grader = GradingWorker(self.scorer)
        if reward not in REWARD_MODES:
            _, hint = did_you_mean(str(reward), REWARD_MODES)
            raise ValueError(
                f"unknown reward mode {reward!r}.{hint} Use one of: {', '.join(REWARD_MODES)}"
            )
        self.reward_mode: RewardMode = reward
        self.agent_name = agent_name
        self._sandbox_choice = sandbox
        self._sandbox: Sandbox | None = None
        self._run_dir = Path(run_dir) if run_dir is not None else None
        self.action_space = action_space()
        self.observation_space = observation_space(
            self.limits.max_steps, self.limits.episode_time_s
        )
        self.recorder: EpisodeRecorder | None = None
        self._episode_seed: int | None = None
        if self.spec is None:  # made by mledojo.make, not gymnasium.make
            self.spec = _registered_spec(spec.versioned_id)
        self._reset_state()

    # ----------------------------------------------------------------- lifecycle
    def _reset_state(self) -> None:
        self._steps = 0
        self._t0 = time.monotonic()
        self._best_score: float | None = None
        self._best_hr: float | None = None
        self._best_submission: Path | None = None
        self._public_grades = 0
        self._done = False
        self._final: FinalGrade | None = None

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """Start a fresh episode in a fresh sandbox and describe the task."""
        unknown = sorted(set(options or {}) - set(RESET_OPTIONS))
        if unknown:
            raise ValueError(
                f"unknown reset option(s) {unknown}; "
                + (f"known: {', '.join(RESET_OPTIONS)}" if RESET_OPTIONS else "none is defined")
            )
        super().reset(seed=seed)
        if self.recorder is not None and not self._done:
            self._finish("reset before the episode ended", status="interrupted", grade=False)
        self._stop_sandbox()
        self._reset_state()
        self._episode_seed = seed
        self.recorder = EpisodeRecorder(new_episode_folder(self._episode_base(seed)))
        self._sandbox = self._make_sandbox()
        try:
            self._sandbox.start(
                data_dir=self.data.public_dir,
                workspace=self.recorder.workspace,
                limits=self.limits,
                labels={
                    "mledojo.run": self.recorder.folder.parent.parent.parent.name,
                    "mledojo.competition": self.competition.id,
                },
            )
        except BaseException:
            self._stop_sandbox()
            raise
        self._t0 = time.monotonic()
        self.recorder.log(f"reset seed={seed} sandbox={self._sandbox.name}")
        obs = self._observation(
            "reset", "ready", info=self._info("all"), time_left_s=self.limits.episode_time_s
        )
        self.recorder.record_step({"step": 0, "action": {"action": "reset"}, "obs": obs})
        return obs, {"run_dir": str(self.recorder.folder), "task": self.task_info()}

    def close(self) -> None:
        """Stop and remove the sandbox; the run folder stays. Safe to call twice."""
        if self.recorder is not None and not self._done:
            self._finish("closed before the episode ended", status="interrupted", grade=False)
        self._stop_sandbox()
        self.grader.close()

    def _stop_sandbox(self) -> None:
        if self._sandbox is not None:
            sandbox, self._sandbox = self._sandbox, None
            sandbox.stop()

    def _make_sandbox(self) -> Sandbox:
        if isinstance(self._sandbox_choice, Sandbox):
            return self._sandbox_choice
        from mledojo.sandbox import make_sandbox

        return make_sandbox(self._sandbox_choice)

    def _episode_base(self, seed: int | None) -> Path:
        if self._run_dir is not None:
            return self._run_dir
        root = default_runs_dir()
        from mledojo.runner import new_run_id

        run_id = new_run_id()
        label = f"seed-{seed}" if seed is not None else "seed-none"
        return root / run_id / self.competition.id / self.agent_name / label

    def task_info(self) -> dict[str, Any]:
        """The task as data, for agents that prefer fields to prose (also in reset's info)."""
        from mledojo.grading.metrics import positive_label
        from mledojo.grading.validate import submission_layout

        spec = self.competition.spec
        layout = submission_layout(spec)
        positive = None
        if layout.kind == "probability":
            positive = positive_label(
                self.scorer.answers[spec.targets[0]].astype(str), spec.classes
            )
        return {
            "competition": spec.id,
            "title": spec.title,
            "task": spec.task,
            "metric": spec.metric.name,
            "higher_is_better": spec.metric.higher_is_better,
            "id_column": spec.id_column,
            "targets": spec.targets,
            "prediction_kind": layout.kind,
            "submission_columns": layout.columns,
            "classes": layout.classes,
            "positive_label": positive,
            "log_target": spec.metric.name in ("rmsle", "mean_columnwise_rmsle"),
            "data_dir": "/data",
            "workspace": "/workspace",
        }

    @property
    def _rec(self) -> EpisodeRecorder:
        if self.recorder is None:
            raise ResetNeededError("call env.reset() first")
        return self.recorder

    @property
    def _box(self) -> Sandbox:
        if self._sandbox is None:
            raise ResetNeededError("the sandbox is stopped: call env.reset() first")
        return self._sandbox

    @property
    def run_folder(self) -> Path:
        """The current episode's folder (after `reset`)."""
        if self.recorder is None:
            raise ResetNeededError("call env.reset() first")
        return self.recorder.folder

    # ---------------------------------------------------------------------- step
    def step(
        self, action: dict[str, Any] | Any
    ) -> tuple[dict[str, Any], SupportsFloat, bool, bool, dict[str, Any]]:
        """Apply one action; see `mledojo.types` for the actions."""
        if self.recorder is None or self._sandbox is None or self._done:
            raise ResetNeededError(
                "The episode has ended (or never started): call env.reset() before env.step()."
            )
        self._steps += 1
        step_t0 = time.monotonic()
        try:
            obs, reward, terminated, info = self._dispatch(action)
        except KeyboardInterrupt:
            self.recorder.log("interrupted by the user during a step")
            self.close()
            raise
        truncated = False
        if not terminated and (self._steps_left() <= 0 or self._time_left() <= 0):
            truncated = True
            why = "step budget used up" if self._steps_left() <= 0 else "time budget used up"
            final_reward = self._finish(why, status="completed", grade=True)
            obs = {**obs, "status": "truncated", "info": (obs["info"] + f"\n[{why}]").strip()}
            reward = float(reward) + final_reward
            info["final"] = self._final_dict()
        elif terminated:
            info["final"] = self._final_dict()
        info["step_time_s"] = time.monotonic() - step_t0
        info["run_dir"] = str(self.recorder.folder)
        self.recorder.record_step(
            {
                "step": self._steps,
                "action": _loggable(action),
                "obs": obs,
                "reward": float(reward),
                "terminated": terminated,
                "truncated": truncated,
                "duration_s": info["step_time_s"],
            }
        )
        return obs, reward, terminated, truncated, info

    def _dispatch(self, raw: Any) -> tuple[dict[str, Any], float, bool, dict[str, Any]]:
        try:
            action = parse_action(raw)
        except (ValueError, TypeError) as e:
            msg = _action_error(e)
            obs = self._observation(
                "invalid",
                "invalid_action",
                error_type="InvalidAction",
                error_message=msg,
                info="Actions: request_info(topic), validate_code(code), execute_code(code), "
                "call_tool(tool, args), submit(path?).",
            )
            return obs, 0.0, False, {}
        if isinstance(action, RequestInfo):
            return (
                self._observation(action.action, "ok", info=self._info(action.topic)),
                0.0,
                False,
                {},
            )
        if isinstance(action, ValidateCode | ExecuteCode):
            return self._run_code(action)
        if isinstance(action, CallTool):
            return self._call_tool(action)
        return self._submit(action)

    def _run_code(
        self, action: ValidateCode | ExecuteCode
    ) -> tuple[dict[str, Any], float, bool, dict[str, Any]]:
        self._rec.save_code(self._steps, action.action, action.code)
        try:
            compile(action.code, "<cell>", "exec")
        except SyntaxError as e:
            obs = self._observation(
                action.action,
                "error",
                error_type="SyntaxError",
                error_message=f"line {e.lineno}: {e.msg}",
                stderr=f"SyntaxError: {e}",
            )
            return obs, 0.0, False, {}
        before = self._submission_stat()
        result = self._exec(action.code)
        fields = _exec_fields(result)
        after = self._submission_stat()
        changed = after is not None and after != before
        if not changed:
            return self._observation(action.action, result.status, **fields), 0.0, False, {}
        if isinstance(action, ValidateCode):
            state, note = self._check_format()
            return (
                self._observation(
                    action.action,
                    result.status,
                    submission=state,
                    info=f"{note} (not graded by validate_code)",
                    **fields,
                ),
                0.0,
                False,
                {},
            )
        return self._grade_public(action.action, result, fields)

    def _exec(self, code: str) -> ExecResult:
        timeout = max(1.0, min(self.limits.step_timeout_s, self._time_left()))
        try:
            return self._box.exec(code, timeout_s=timeout)
        except SandboxError as e:
            return ExecResult.sandbox_error("SandboxError", str(e))

    def _grade_public(
        self, action: str, result: ExecResult, fields: dict[str, Any]
    ) -> tuple[dict[str, Any], float, bool, dict[str, Any]]:
        if self._public_grades >= self.limits.max_public_grades:
            return self._ungraded(action, result, fields)
        try:
            copy = self._copy_submission(SUBMISSION_NAME)
            report = self.grader.score(copy, part="public", display_name=SUBMISSION_NAME)
        except InvalidSubmissionError as e:
            obs = self._observation(
                action,
                result.status,
                submission="invalid",
                info=f"submission.csv was rejected: {e}",
                **fields,
            )
            return obs, 0.0, False, {}
        except SandboxError as e:
            return self._sandbox_failure(action, e), 0.0, False, {}
        except GradingError as e:
            self._rec.log(f"grading error (public): {e}")
            obs = self._observation(
                action,
                result.status,
                submission="none",
                error_type="GradingError",
                error_message=f"the benchmark failed to grade this submission: {e}",
                info="Not your submission's fault: the grader failed. It was not counted.",
                **{k: v for k, v in fields.items() if k not in ("error_type", "error_message")},
            )
            return obs, 0.0, False, {}
        self._public_grades += 1
        old_score, old_hr = self._best_score, self._best_hr
        improved = old_score is None or self.scorer.better(report.score, old_score)
        if improved:
            self._best_score, self._best_hr, self._best_submission = (
                report.score,
                report.human_rank,
                copy,
            )
        reward = self._step_reward(report.score, report.human_rank, old_score, old_hr)
        obs = self._observation(
            action,
            result.status,
            submission="valid",
            public_score=report.score,
            public_human_rank=report.human_rank,
            info=f"submission.csv graded on the public part: {self.scorer.metric_name} = "
            f"{report.score:.6g}" + (" (new best)" if improved else ""),
            **fields,
        )
        return obs, reward, False, {"public": report.model_dump()}

    def _ungraded(
        self, action: str, result: ExecResult, fields: dict[str, Any]
    ) -> tuple[dict[str, Any], float, bool, dict[str, Any]]:
        """Past the episode's public-grade cap: format-checked, kept, not scored."""
        state, note = self._check_format(keep=True)
        cap = self.limits.max_public_grades
        info = (
            f"{note}. Not graded: the {cap} public grades of this episode are used up (a cap, "
            "so the public score cannot be mined row by row). `submit` without a path uses "
            "the best graded submission; `submit(path='submission.csv')` uses this one."
        )
        return (
            self._observation(action, result.status, submission=state, info=info, **fields),
            0.0,
            False,
            {},
        )

    def _sandbox_failure(self, action: str, e: SandboxError) -> dict[str, Any]:
        self._rec.log(f"sandbox error: {e}")
        return self._observation(
            action, "sandbox_error", error_type="SandboxError", error_message=str(e)
        )

    def _step_reward(
        self, score: float, hr: float | None, old_score: float | None, old_hr: float | None
    ) -> float:
        if self.reward_mode == "human_rank_delta":
            return max(0.0, (hr or 0.0) - (old_hr or 0.0))
        if self.reward_mode == "raw_delta":
            if old_score is None:
                return 0.0
            gain = score - old_score if self.scorer.higher_is_better else old_score - score
            return max(0.0, gain)
        if self.reward_mode == "position":
            return hr or 0.0
        return 0.0

    def _call_tool(self, action: CallTool) -> tuple[dict[str, Any], float, bool, dict[str, Any]]:
        timeout = max(1.0, min(self.limits.step_timeout_s, self._time_left()))
        try:
            res = self._box.call_tool(action.tool, action.args, timeout_s=timeout)
        except SandboxError as e:
            obs = self._observation(
                action.action, "sandbox_error", error_type="SandboxError", error_message=str(e)
            )
            return obs, 0.0, False, {}
        if not res.ok:
            obs = self._observation(
                action.action, "error", error_type="ToolError", error_message=res.error or ""
            )
            return obs, 0.0, False, {}
        text = json.dumps(res.output, indent=1, default=str)
        return self._observation(action.action, "ok", info=text), 0.0, False, {"tool": res.output}

    def _submit(self, action: Submit) -> tuple[dict[str, Any], float, bool, dict[str, Any]]:
        chosen: Path | None = None
        if action.path is not None:
            try:
                chosen = self._copy_submission(action.path)
                self.grader.validate(chosen, display_name=action.path[:120])
            except SandboxError as e:
                return self._sandbox_failure(action.action, e), 0.0, False, {}
            except InvalidSubmissionError as e:
                obs = self._observation(
                    action.action,
                    "error",
                    submission="invalid",
                    error_type="InvalidSubmission",
                    error_message=str(e),
                    info="Not submitted: fix the file, or submit without a path to use the "
                    "best valid submission so far.",
                )
                return obs, 0.0, False, {}
        reward = self._finish("submitted", status="completed", grade=True, chosen=chosen)
        final = self._final
        info = "Episode over. " + (
            f"Private {self.scorer.metric_name}: {final.private_score:.6g}"
            if final and final.graded and final.private_score is not None
            else f"No grade: {final.reason if final else ''}"
        )
        return self._observation(action.action, "submitted", info=info), reward, True, {}

    # ------------------------------------------------------------------ ending
    def _finish(
        self,
        reason: str,
        *,
        status: EpisodeStatus,
        grade: bool,
        chosen: Path | None = None,
        error: str | None = None,
    ) -> float:
        """Grade the final submission on the private part and write `result.json`."""
        if self._done or self.recorder is None:
            return 0.0
        self._done = True
        target = chosen or self._best_submission
        if not grade:
            self._final = FinalGrade(graded=False, reason=reason)
        elif target is None:
            self._final = FinalGrade(graded=False, reason="no valid submission was made")
        else:
            try:
                self._final = self._private_grade(target, reason)
            except (GradingError, InvalidSubmissionError) as e:
                # The submission was valid when chosen, so this is the benchmark's fault:
                # say so in result.json instead of losing the episode.
                status, error = "grading_error", f"{type(e).__name__}: {e}"
                self._final = FinalGrade(graded=False, reason=f"grading failed: {error}")
        spec = self.competition.spec
        result = EpisodeResult(
            competition=spec.id,
            competition_version=spec.version,
            data_seed=self.data.data_seed,
            agent=self.agent_name,
            seed=self._episode_seed,
            status=status,
            end_reason=reason,
            steps=self._steps,
            wall_time_s=time.monotonic() - self._t0,
            best_public_score=self._best_score,
            best_public_human_rank=self._best_hr,
            final=self._final,
            metric=spec.metric.name,
            higher_is_better=spec.metric.higher_is_better,
            error=error,
            sandbox=self._sandbox.name if self._sandbox else "none",
            versions=versions(),
        )
        self.recorder.write_result(result)
        self.recorder.log(f"finished: {reason} ({status})")
        if self.reward_mode == "final_only" and self._final.private_human_rank is not None:
            return self._final.private_human_rank
        return 0.0

    def _private_grade(self, target: Path, reason: str) -> FinalGrade:
        report = self.grader.score(target, part="private", display_name=SUBMISSION_NAME)
        return FinalGrade(
            graded=True,
            reason=reason,
            submission=str(target.relative_to(self._rec.folder)),
            submission_sha256=hashlib.sha256(target.read_bytes()).hexdigest(),
            private_score=report.score,
            private_human_rank=report.human_rank,
            medal=report.medal,
            above_median=report.above_median,
            leaderboard_kind=report.leaderboard_kind,
            leaderboard_entries=report.n_entries,
            implausible=report.implausible,
            caveats=report.caveats,
        )

    def finish(
        self,
        reason: str,
        *,
        status: Literal["agent_error", "infra_error", "interrupted"],
        error: str | None = None,
    ) -> EpisodeResult | None:
        """End the episode from outside (an agent crash, an infrastructure failure).

        The best valid submission so far is still graded, so nothing already done is lost.
        """
        self._finish(reason, status=status, grade=True, error=error)
        return self.result()

    def result(self) -> EpisodeResult | None:
        """The episode's `result.json`, once it has ended."""
        if self.recorder is None:
            return None
        path = self.recorder.folder / "result.json"
        return EpisodeResult.model_validate_json(path.read_text()) if path.exists() else None

    def _final_dict(self) -> dict[str, Any]:
        return self._final.model_dump() if self._final else {}

    # ------------------------------------------------------------- submissions
    def _submission_stat(self) -> tuple[int, int, int] | None:
        try:
            st = os.lstat(self._rec.workspace / SUBMISSION_NAME)
        except OSError:
            return None
        return (st.st_ino, st.st_size, st.st_mtime_ns)

    def _copy_submission(self, relative: str) -> Path:
        """Fetch a workspace file into the run folder, read inside the sandbox.

        The workspace is agent-controlled (symlinks, FIFOs, racing renames): the host never
        opens a path there. The sandbox reads the file with the agent's own privileges,
        capped at the grader's size limit, and the host writes the bytes to a file of its own.
        """
        try:
            data = self._box.read_file(relative, max_bytes=self.scorer.max_bytes)
        except SandboxFileError as e:
            raise InvalidSubmissionError(str(e)) from e
        dest = self._rec.folder / "submissions" / f"step-{self._steps:03d}.csv"
        fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        return dest

    def _check_format(self, *, keep: bool = False) -> tuple[Literal["valid", "invalid"], str]:
        try:
            copy = self._copy_submission(SUBMISSION_NAME)
            self.grader.validate(copy, display_name=SUBMISSION_NAME)
        except (InvalidSubmissionError, SandboxError) as e:
            return "invalid", f"submission.csv would be rejected: {e}"
        if not keep:
            copy.unlink(missing_ok=True)
        return "valid", "submission.csv has a valid format"

    # ------------------------------------------------------------ observation
    def _steps_left(self) -> int:
        return max(0, self.limits.max_steps - self._steps)

    def _time_left(self) -> float:
        return max(0.0, self.limits.episode_time_s - (time.monotonic() - self._t0))

    def _observation(self, action: str, status: str, **fields: Any) -> dict[str, Any]:
        fields.setdefault("time_left_s", round(self._time_left(), 3))
        obs = Observation(
            action=action,
            status=status,  # type: ignore[arg-type]
            best_public_score=self._best_score,
            best_public_human_rank=self._best_hr,
            steps_left=self._steps_left(),
            **fields,
        )
        return obs.model_dump()

    def _info(self, topic: str) -> str:
        from mledojo.info import info_text

        return info_text(
            self.competition,
            self.data,
            self.scorer,
            topic,
            steps_left=self._steps_left(),
            time_left_s=self._time_left(),
            limits=self.limits,
        )


def _exec_fields(result: ExecResult) -> dict[str, Any]:
    fields: dict[str, Any] = {"stdout": result.stdout, "stderr": result.stderr}
    if result.error_type:
        fields["error_type"] = result.error_type
        fields["error_message"] = result.error_message or ""
    elif result.status in ("timeout", "oom", "killed", "sandbox_error"):
        fields["error_type"] = result.status
        fields["error_message"] = result.error_message or ""
    return fields


def _action_error(e: Exception) -> str:
    """What is wrong with an action, field by field (pydantic's title line says nothing)."""
    from pydantic import ValidationError

    if isinstance(e, ValidationError):
        parts = []
        for err in e.errors()[:5]:
            where = ".".join(str(p) for p in err["loc"]) or "action"
            parts.append(f"{where}: {err['msg']}")
        return clip_text("; ".join(parts), 1000)
    return clip_text(str(e) or type(e).__name__, 1000)


def _registered_spec(versioned_id: str) -> EnvSpec | None:
    """The Gymnasium spec registered for this competition (for `check_env` and wrappers)."""
    return gym.registry.get(f"mledojo/{versioned_id}")


def _loggable(action: Any) -> Any:
    dump = getattr(action, "model_dump", None)
    return dump() if callable(dump) else action
