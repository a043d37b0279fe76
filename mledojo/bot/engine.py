"""The MLE-Bot's five phases over one episode of `MLEDojoEnv`.

(1) profile the training table with the trusted tool and split it once (time-, group- or
class-aware); (2) the planner designs a batch of experiments from the profile and the
problem statement only; (3) per experiment the planner writes orchestration code that runs
on the host in pydantic-monty, each `call_tool` in it becoming one `call_tool` step of the
episode; a failure goes back to the planner with the code and the error, up to `retries`
times; the experiments of a batch run concurrently; (4) the planner reviews the metrics
and continues or stops; (5) the report is rewritten as each experiment finishes. The best
model writes the submission, which is graded on the public part and then submitted.

The bot scores experiments itself (`evaluate_model` on the shared validation part), so
code that claims a score it did not earn changes nothing.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from mledojo._files import write_text_atomic
from mledojo.artifacts import EpisodeResult, LLMUsage
from mledojo.bot.context import TaskContext, context_from_profile
from mledojo.bot.orchestrate import MontyLimits, run_orchestration
from mledojo.bot.planner import EXPERIMENT_TOOLS, LLMPlanner, Planner, RulesPlanner
from mledojo.bot.report import clip_lines, write_report
from mledojo.bot.rules import best_of, rules_code
from mledojo.bot.schemas import (
    BotState,
    CodeAttempt,
    Design,
    EpisodeEnd,
    ExperimentPlan,
    ExperimentRecord,
    IterationRecord,
)
from mledojo.errors import MLEDojoError

if TYPE_CHECKING:
    from mledojo.env import MLEDojoEnv
    from mledojo.llm import CallUsage, LLMClient

STATE_FILE = "state.json"
RESERVED_PREFIX = "bot_"  # handles of the bot's own split and submission
SUBMISSION_HANDLE = "/workspace/tools/bot_submission.csv"
STEPS_PER_EXPERIMENT = 3  # features, train, evaluate
FINAL_STEPS = 3  # write_submission, the copy cell, submit
MAX_PROBLEM_PROMPT_CHARS = 6000  # of the task description, in the planner's prompts


class BotConfig(BaseModel):
    """The bot's options (the agent's constructor arguments, checked)."""

    model_config = ConfigDict(extra="forbid")

    model: str = "rules"
    model_base_url: str | None = None
    max_iterations: int = Field(default=3, ge=1, le=20)
    experiments_per_batch: int = Field(default=3, ge=1, le=3)
    retries: int = Field(default=2, ge=0, le=10)
    inject_failure: bool = False
    llm_replay: Path | None = None
    problem: str | None = None
    concurrent: bool = True
    monty: MontyLimits = MontyLimits()


class EpisodeOver(Exception):
    """The episode ended (budget, time): stop planning, the env grades the best so far."""


class StepError(MLEDojoError):
    """A tool call the episode answered with an error (shown to the planner)."""


def _usage(u: CallUsage) -> LLMUsage:
    return LLMUsage(
        calls=1,
        input_tokens=u.input_tokens,
        output_tokens=u.output_tokens,
        cached_tokens=u.cached_tokens,
        reasoning_tokens=u.reasoning_tokens,
        usd=u.usd or 0.0,
    )


class MLEBot:
    """One bot run over a reset env; `run()` plays the episode to its end."""

    def __init__(self, env: MLEDojoEnv, config: BotConfig) -> None:
        self.env, self.config = env, config
        self._lock = threading.Lock()  # env steps and state changes
        self._io_lock = threading.Lock()  # checkpoint and report writes
        self._llm_lock = threading.Lock()  # LLM usage counts
        self.over = False
        self.steps_left = 10**9
        self.steps = 0
        self.reward = 0.0
        self.terminated = self.truncated = False
        self.llm = LLMUsage()
        self.folder = env.run_folder
        self.bot_dir = self.folder / "bot"
        self.bot_dir.mkdir(mode=0o700, exist_ok=True)
        self.planner: Planner = RulesPlanner()
        self.state: BotState | None = None
        self.ctx: TaskContext | None = None  # set once the table is profiled and split
        self.notes: list[str] = []
        # Tool calls draw on the step budget, or on their own (`Budget.max_tool_calls`).
        self.tool_budget: int | None = getattr(env.budget, "max_tool_calls", None)
        self.tool_calls = 0
        self.final_tools = FINAL_STEPS if self.tool_budget is None else 1

    def calls_left(self) -> int:
        """Tool calls the budget still allows."""
        if self.tool_budget is None:
            return self.steps_left
        return min(self.tool_budget - self.tool_calls, 10**9)

    # ------------------------------------------------------------------ steps
    def step(self, action: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        """One env step (serialised: the episode is single-threaded); ends raise EpisodeOver."""
        with self._lock:
            if self.over:
                raise EpisodeOver("the episode is over")
            obs, reward, terminated, truncated, info = self.env.step(action)
            self.steps += 1
            self.reward += float(reward)
            self.steps_left = int(obs.get("steps_left", self.steps_left))
            if terminated or truncated:
                self.over = True
                self.terminated, self.truncated = bool(terminated), bool(truncated)
            return obs, info

    def tool(
        self, name: str, args: dict[str, Any], *, reserve: int | None = None
    ) -> dict[str, Any]:
        """Run one trusted tool through the env; an error reply raises `StepError`.

        `reserve` tool calls are kept back (default: what the final submission needs).
        """
        keep = self.final_tools if reserve is None else reserve
        with self._lock:  # check and count together: experiments run in threads
            left = self.calls_left()
            if left <= keep:
                raise StepError(
                    f"the tool budget is nearly used up ({left} left, {keep} kept for the "
                    "submission)"
                )
            self.tool_calls += 1
        obs, info = self.step({"action": "call_tool", "tool": name, "args": args})
        if obs.get("status") == "truncated" and "tool" not in info:
            raise EpisodeOver(obs.get("error_message") or "the episode was truncated")
        if "tool" not in info:
            message = obs.get("error_message") or obs.get("status") or "the tool failed"
            raise StepError(f"{name}: {message}")
        out: dict[str, Any] = info["tool"]
        return out

    def charge(self, usage: CallUsage) -> None:
        """Count one billed model reply (called by the meter, from experiment threads)."""
        u = _usage(usage)
        with self._llm_lock:
            self.llm = self.llm.plus(u)
            self.env.charge_llm(u)

    # -------------------------------------------------------------------- run
    def run(self, task: dict[str, Any]) -> None:
        """Play the episode: phases 1-5, then the submission. Always ends the episode."""
        from mledojo.llm import LLMBudgetExceeded, LLMError, LLMReplayError, ModelAccessError

        try:
            self._run(task)
        except (ModelAccessError, LLMReplayError):
            raise  # the model cannot be used, or the replay diverged: not the agent's result
        except EpisodeOver as e:
            self.notes.append(f"stopped: {e}")
        except LLMBudgetExceeded as e:
            self.notes.append(f"the LLM budget is used up: {e}")
            self._budget_end()
        except LLMError as e:  # unusable replies, a refused request, a cancelled client
            self.notes.append(f"the LLM stopped the bot: {type(e).__name__}: {e}")
            self._finish()
        finally:
            if self.state is not None:
                self.state.notes = [*self.state.notes, *self.notes]
                self.state.outcome = episode_end(self.env.result())
                self._save()
                if self.ctx is not None:
                    self._report(self.ctx)

    def _run(self, task: dict[str, Any]) -> None:
        # The client first: a missing key or SDK fails before the episode does any work.
        client = self._client()
        profile = self.tool(
            "profile_dataset", {"path": "/data/train.csv", "target": task["targets"][0]}
        )
        ctx = context_from_profile(task, profile)
        ctx = self._split(ctx)
        self.ctx = ctx
        problem = self.config.problem or self._problem()
        self.state = BotState(
            key=self.folder.name, model=self.config.model, problem=problem, profile=profile
        )
        self.planner = self._planner(client, problem, profile)
        earlier = earlier_attempts(self.folder)
        if earlier:
            self.notes.append(
                f"a retry: {len(earlier)} earlier attempt(s) set aside ({earlier[-1].name}); "
                "this attempt starts afresh under the full budget and reuses none of their work"
            )
        self._report(ctx)
        best_written: str | None = None
        for iteration in range(1, self.config.max_iterations + 1):
            room = self.calls_left() - self.final_tools - 1
            if room < STEPS_PER_EXPERIMENT or self.steps_left <= 2:
                self.notes.append("stopped: the step or tool budget is used up")
                break
            size = min(self.config.experiments_per_batch, max(1, room // STEPS_PER_EXPERIMENT))
            design = self._design(ctx, iteration, size)
            record = IterationRecord(iteration=iteration, design=design)
            self.state.iterations.append(record)
            self._report(ctx)
            self._batch(ctx, iteration, design)
            best = best_of(self.state.experiments, ctx.metric_spec)
            if best is not None and best.plan.name != best_written:
                if self._submit_best(ctx, best):
                    best_written = best.plan.name
            record.review = self._review(ctx, iteration)
            if record.review.decision == "continue" and record.review.explore:
                self._explore(ctx, record.review.explore)
            self._save()
            self._report(ctx)
            if record.review.decision == "stop":
                break
        self._finish()

    def _problem(self) -> str:
        obs, _ = self.step({"action": "request_info", "topic": "description"})
        return clip_lines(str(obs.get("info") or ""), MAX_PROBLEM_PROMPT_CHARS)

    def _client(self) -> LLMClient | None:
        """The episode's LLM client (None for the rules), recording into the episode folder."""
        if self.config.model == "rules":
            return None
        from mledojo.llm import UsageMeter, make_client

        budget = self.env.budget
        # Every billed reply is charged to the episode as the meter sees it, failed ones too.
        meter = UsageMeter(
            max_tokens=budget.llm_tokens, max_usd=budget.llm_usd, on_charge=self.charge
        )
        return make_client(
            self.config.model,
            meter=meter,
            base_url=self.config.model_base_url,
            record_dir=self.folder,
            replay_dir=self.config.llm_replay,
        )

    def _planner(self, client: LLMClient | None, problem: str, profile: dict[str, Any]) -> Planner:
        if client is None:
            return RulesPlanner()
        return LLMPlanner(
            client,
            problem=problem,
            profile=profile,
            max_tool_calls=self.config.monty.max_tool_calls,
        )

    # ----------------------------------------------------------------- phases
    def _split(self, ctx: TaskContext) -> TaskContext:
        args: dict[str, Any] = {
            "path": "/data/train.csv",
            "target": ctx.target,
            "id_column": ctx.id_column,
            "valid_fraction": 0.2,
            "name": "bot_split",
        }
        if ctx.time_column:
            args.update(kind="time", time_column=ctx.time_column)
        elif ctx.group_column:
            args.update(kind="group", group_column=ctx.group_column)
        else:
            args["kind"] = "random" if ctx.task == "regression" else "stratified"
        out = self.tool("split_dataset", args)
        parts = out["parts"]
        return ctx.model_copy(
            update={
                "train": parts["train"]["path"],
                "valid": parts["valid"]["path"],
                "valid_rows": int(parts["valid"]["rows"]),
            }
        )

    def _design(self, ctx: TaskContext, iteration: int, size: int) -> Design:
        assert self.state is not None  # noqa: S101 - set in _run before any phase
        design = self.planner.design(ctx, list(self.state.experiments), size, iteration)
        return unique_names(design, {e.plan.name for e in self.state.experiments})

    def _review(self, ctx: TaskContext, iteration: int) -> Any:
        assert self.state is not None  # noqa: S101
        return self.planner.review(
            ctx, list(self.state.experiments), iteration, self.config.max_iterations
        )

    def _explore(self, ctx: TaskContext, columns: list[str]) -> None:
        """Phase 4's explorations: target rate/mean by the named columns (aggregates)."""
        known = {*ctx.numeric_columns, *ctx.categorical_columns}
        if ctx.group_column:
            known.add(ctx.group_column)
        wanted = [c for c in columns if c in known][:5]
        if not wanted:
            self.notes.append(f"exploration skipped: no known column in {columns[:5]}")
            return
        try:
            out = self.tool(
                "explore_dataset",
                {"path": ctx.train, "target": ctx.target, "target_by": wanted},
                reserve=self.final_tools + STEPS_PER_EXPERIMENT,
            )
        except StepError as e:
            self.notes.append(f"exploration failed: {e}")
            return
        result: dict[str, object] = {"columns": wanted, "result": out}
        self.planner.note_exploration(result)
        assert self.state is not None  # noqa: S101
        self.state.explorations.append(result)

    def _batch(self, ctx: TaskContext, iteration: int, design: Design) -> None:
        from pydantic_monty import Monty

        plans = list(design.experiments)
        workers = len(plans) if self.config.concurrent else 1
        with Monty(min_processes=1, max_processes=max(1, workers)) as pool:
            run: Callable[[ExperimentPlan], None] = lambda plan: self._experiment(  # noqa: E731
                ctx, iteration, plan, pool, first=(iteration == 1 and plan is plans[0])
            )
            if workers == 1:
                for plan in plans:
                    run(plan)
            else:
                with ThreadPoolExecutor(max_workers=workers) as ex:
                    list(ex.map(run, plans))

    def _experiment(
        self, ctx: TaskContext, iteration: int, plan: ExperimentPlan, pool: Any, *, first: bool
    ) -> None:
        assert self.state is not None  # noqa: S101
        t0 = time.monotonic()
        record = ExperimentRecord(iteration=iteration, plan=plan, status="failed")
        failed: list[tuple[str, str]] = []
        for attempt in range(self.config.retries + 1):
            if self.over:
                break
            try:
                code = self.planner.code(plan, ctx, failed).code
            except EpisodeOver:
                raise
            if first and attempt == 0 and self.config.inject_failure:
                code = corrupt(code)
            outcome = run_orchestration(
                code,
                inputs={"ctx": ctx.model_dump(), "plan": plan.model_dump()},
                call_tool=self._experiment_tool,
                limits=self.config.monty,
                pool=pool,
            )
            error = outcome.error
            scored: dict[str, Any] | None = None
            if outcome.ok and outcome.result is not None:
                try:
                    scored = self._evaluate(ctx, outcome.result)
                except (StepError, ValueError) as e:
                    error = f"the result could not be evaluated: {e}"
            record.attempts.append(
                CodeAttempt(
                    code=code, error=error, tool_calls=outcome.tool_calls, seconds=outcome.seconds
                )
            )
            if scored is not None:
                record.status = "ok"
                record.score = scored["score"]
                record.metrics = {
                    k: v for k, v in scored["metrics"].items() if isinstance(v, int | float)
                }
                record.model = scored["model_path"]
                record.test_table = scored["test"]
                break
            failed.append((code, error or "unknown error"))
            if self.over:
                break
        record.seconds = round(time.monotonic() - t0, 3)
        with self._lock:
            self.state.experiments.append(record)
        self._save()
        self._report(ctx)

    def _experiment_tool(self, name: str, args: dict[str, Any]) -> dict[str, Any]:
        if name not in EXPERIMENT_TOOLS:
            raise StepError(
                f"tool {name!r} is not available to experiments; use one of "
                + ", ".join(EXPERIMENT_TOOLS)
            )
        handle = args.get("name")
        if isinstance(handle, str) and handle.lower().startswith(RESERVED_PREFIX):
            raise StepError(
                f"argument `name`: handles starting with {RESERVED_PREFIX!r} are the bot's own "
                "(the shared split); choose another name"
            )
        return self.tool(name, args, reserve=self.final_tools + 1)

    def _evaluate(self, ctx: TaskContext, result: dict[str, Any]) -> dict[str, Any]:
        """Score the returned model on the shared validation part; check it is that part."""
        model, valid, test = result.get("model"), result.get("valid"), result.get("test")
        for key, value in (("model", model), ("valid", valid), ("test", test)):
            if not isinstance(value, str) or not value:
                raise ValueError(f"`result[{key!r}]` must be a path string")
        out = self.tool(
            "evaluate_model",
            {"model": model, "data": valid, "metric": ctx.metric},
            reserve=self.final_tools,
        )
        if out.get("role") != "valid" or out.get("in_sample"):
            raise ValueError(
                f"`result['valid']` is a {out.get('role')} table, not the validation part"
            )
        if int(out.get("rows", -1)) != ctx.valid_rows:
            raise ValueError(
                f"`result['valid']` has {out.get('rows')} rows; the validation part has "
                f"{ctx.valid_rows}: apply the features to ctx['valid'] unchanged"
            )
        score = out.get("score")
        if not isinstance(score, int | float):
            raise ValueError(f"the metric {ctx.metric} is undefined on the validation part")
        return {
            "score": float(score),
            "metrics": out.get("metrics") or {},
            "model_path": model,
            "test": test,
        }

    # --------------------------------------------------------------- submit
    def _submit_best(self, ctx: TaskContext, best: ExperimentRecord) -> bool:
        """The best model writes the submission; a copy cell gets it graded (public part)."""
        try:
            self.tool(
                "write_submission",
                {
                    "model": best.model,
                    "data": best.test_table,
                    "sample_submission": "/data/sample_submission.csv",
                    "metric": ctx.metric,
                    "id_column": ctx.id_column,
                    "output": SUBMISSION_HANDLE,
                },
                reserve=0 if self.tool_budget is not None else 2,
            )
        except StepError as e:
            self.notes.append(f"the best model could not write the submission: {e}")
            return False
        obs, _ = self.step({"action": "execute_code", "code": COPY_CELL})
        if obs.get("submission") != "valid":
            self.notes.append(f"the submission was not accepted: {obs.get('error_message')}")
            return False
        assert self.state is not None  # noqa: S101
        self.state.best = best.plan.name
        return True

    def _budget_end(self) -> None:
        """Let the env end the episode on its LLM budget: one cheap step truncates it."""
        if not self.over:
            with contextlib.suppress(EpisodeOver):
                self.step({"action": "request_info", "topic": "budget"})
        self._finish()

    def _finish(self) -> None:
        if self.over:
            return
        try:
            obs, _ = self.step({"action": "submit"})
        except EpisodeOver:
            return
        if self.state is not None:
            self.state.submitted = obs.get("status") == "submitted"

    # ----------------------------------------------------------- artifacts
    def _save(self) -> None:
        if self.state is None:
            return
        with self._lock:
            text = self.state.model_dump_json(indent=1)
        with self._io_lock:
            write_text_atomic(self.bot_dir / STATE_FILE, text)

    def _report(self, ctx: TaskContext) -> None:
        if self.state is None:
            return
        with self._lock:
            state = self.state.model_copy(deep=True)
        with self._io_lock:
            write_report(self.folder, state, ctx, planner=self.planner.label)


COPY_CELL = (
    "import shutil\n"
    "shutil.copyfile('tools/bot_submission.csv', 'submission.csv')  # cwd is /workspace\n"
    "print('submission.csv written by the best model')\n"
)


def unique_names(design: Design, taken: set[str]) -> Design:
    """Rename experiments whose name was used before (their handles would collide)."""
    seen = set(taken)
    plans = []
    for plan in design.experiments:
        base = plan.name
        if base.lower().startswith(RESERVED_PREFIX):
            base = "exp_" + base[len(RESERVED_PREFIX) :]
        name, n = base, 2
        while name in seen:
            name, n = f"{base[:27]}_{n}", n + 1
        seen.add(name)
        plans.append(plan if name == plan.name else plan.model_copy(update={"name": name}))
    return design.model_copy(update={"experiments": plans})


def corrupt(code: str) -> str:
    """`--inject-failure`: break the code the way a careless LLM would (a misspelt tool)."""
    if '"train_model"' in code:
        return code.replace('"train_model"', '"train_modle"', 1)
    return "result = undefined_name\n" + code


def episode_end(result: EpisodeResult | None) -> EpisodeEnd | None:
    """The report's outcome of an ended episode (None while it runs)."""
    if result is None:
        return None
    f = result.final
    return EpisodeEnd(
        status=result.status,
        end_reason=result.end_reason,
        best_public_score=result.best_public_score,
        best_public_human_rank=result.best_public_human_rank,
        graded=f.graded,
        not_graded_reason="" if f.graded else f.reason,
        private_score=f.private_score,
        private_human_rank=f.private_human_rank,
        medal=f.medal,
        above_median=f.above_median,
    )


def earlier_attempts(folder: Path) -> list[Path]:
    """Earlier attempts of this episode the runner set aside (`<folder>.attempt-*`), oldest
    first. The bot reads nothing from them: a retry is a new play (docs/agents/mle-bot.md)."""
    return sorted(folder.parent.glob(f"{folder.name}.attempt-*"))


__all__ = ["BotConfig", "MLEBot", "corrupt", "rules_code"]
