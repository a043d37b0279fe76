"""`MLEDojoEnv`: one competition as a `gymnasium.Env` whose steps run code in a sandbox.

A thin Gymnasium face over `mledojo.episode.Episode`, which owns budgets, grading,
recording and every failure. The hidden answers never enter the sandbox: submissions are
read inside the sandbox and graded on the host. While the episode runs the agent sees only
scores on the *public* part of the test set; the *private* part is graded once, at the end
(`submit`, or when a budget runs out). In `evaluation` mode (the default on the evaluation
split) the private grade goes only to `env.result()` / `result.json`: `info["final"]` says
that the submission was graded, not how it scored. In `training` mode (the default on a
training variant) `info["final"]` holds the whole grade.
"""

from __future__ import annotations

import copy
import logging
import warnings
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any, SupportsFloat

import gymnasium as gym
from gymnasium.envs.registration import EnvSpec

from mledojo.artifacts import (
    BudgetMode,
    EpisodeResult,
    EpisodeStatus,
    LLMUsage,
    new_episode_folder,
)
from mledojo.competition import Competition
from mledojo.data.prepare import PreparedData, prepare
from mledojo.episode import Episode
from mledojo.errors import ResetNeededError, did_you_mean
from mledojo.fork import check_fork, fork_episode
from mledojo.grading.scorer import Scorer
from mledojo.grading.worker import GradingWorker
from mledojo.info import TaskInfo, info_text, task_info
from mledojo.layout import RunLayout
from mledojo.resolve import competition_of, episode_mode, resolve_spec
from mledojo.rewards import RewardMode, reward_mode, reward_warning
from mledojo.sandbox import SandboxKind
from mledojo.sandbox.base import Sandbox
from mledojo.spec import AgentRef, Budget, EpisodeSpec, Resources, split_limits
from mledojo.types import action_space, observation_space

RESET_OPTIONS: tuple[str, ...] = ("data_seed",)


class _Task:
    """A competition's data at one data seed, with its scorer and grading worker."""

    def __init__(self, comp: Competition, data: PreparedData) -> None:
        self.data = data
        self.scorer = Scorer(comp, data)
        self.grader = GradingWorker(self.scorer)
        self.info = task_info(comp, self.scorer)

    def sibling(self) -> _Task:
        """The same data and scorer with a grading worker of its own (for a fork's env)."""
        twin = copy.copy(self)
        twin.grader = GradingWorker(self.scorer)
        return twin


class MLEDojoEnv(gym.Env[dict[str, Any], dict[str, Any]]):
    """A machine-learning competition as a Gymnasium environment.

    `reward=` is one of `mledojo.rewards.REWARD_MODES` (default `final_only`). `budget=`
    and `resources=` override fields of the competition's `Budget` and `Resources`.
    `agent=` names the agent (a string or an `AgentRef`); it becomes part of the
    episode's key and folder. `reset(options={"data_seed": n})` switches data variant.
    `mode=` is `evaluation` or `training` (default: from the data seed; see the module doc).
    `on_step(steps, observation)` is called after each step (progress displays).
    `limits=` (one flat mapping, the spelling before the split) still works, with a
    deprecation warning: its fields go to `budget=` or `resources=`.
    `sandbox_options=` go to the sandbox backend when the env makes it; their `image`
    (e.g. `"mledojo-runtime-ext:<hash>"`, docs/sandbox.md) is resolved into the spec, so
    it is part of the episode's key.

    The keyword arguments are resolved once, by `mledojo.resolve.resolve_spec`, into
    `base_spec`; `reset(seed=...)` files each episode under that spec with its seed and
    data seed. `spec=` (with `layout=`) takes an already resolved spec (`mledojo.play`).
    """

    metadata: dict[str, Any] = {"render_modes": []}

    def __init__(
        self,
        competition: str | Competition,
        *,
        data_seed: int | None = None,
        sandbox: SandboxKind | Sandbox = "auto",
        reward: str = "final_only",
        run_dir: Path | str | None = None,
        runs_dir: Path | str | None = None,
        agent: str | AgentRef = "manual",
        cache_dir: Path | str | None = None,
        raw_dir: Path | str | None = None,
        budget: dict[str, Any] | None = None,
        resources: dict[str, Any] | None = None,
        on_step: Callable[[int, dict[str, Any]], None] | None = None,
        limits: dict[str, Any] | None = None,
        spec: EpisodeSpec | None = None,
        layout: RunLayout | None = None,
        sandbox_options: dict[str, Any] | None = None,
        mode: str | None = None,
    ) -> None:
        if sandbox_options and isinstance(sandbox, Sandbox):
            raise ValueError(
                "sandbox_options= configure a sandbox the env makes; give them to your "
                "Sandbox instance instead (e.g. DockerSandbox(image=...))"
            )
        sandbox_options = dict(sandbox_options or {})
        image = sandbox_options.pop("image", None)  # the spec's: part of the episode's key
        if spec is None:
            if limits is not None:
                budget, resources = _split_legacy_limits(limits, budget, resources)
            resolved = resolve_spec(
                competition,
                agent=agent,
                seed=None,
                data_seed=data_seed,
                sandbox=sandbox,
                reward=reward,
                budget=budget,
                resources=resources,
                mode=mode,
                image=image,
            )
            self.competition, self.base_spec = resolved.competition, resolved.spec
            self._mode_asked = mode
        else:  # resolved already (mledojo.play): the spec's fields are not given twice
            given = {
                "data_seed": data_seed is not None,
                "sandbox": sandbox != "auto" and not isinstance(sandbox, Sandbox),
                "reward": reward != "final_only",
                "agent": agent != "manual",
                "budget": bool(budget),
                "resources": bool(resources),
                "limits": limits is not None,
                "mode": mode is not None,
                "sandbox_options['image']": image is not None,
            }
            twice = sorted(k for k, v in given.items() if v)
            if twice:
                raise TypeError(
                    f"MLEDojoEnv(spec=...) takes {twice} from the spec; resolve them into it "
                    "with mledojo.resolve.resolve_spec(...) instead of passing them again"
                )
            self.competition = (
                competition if isinstance(competition, Competition) else competition_of(spec)
            )
            named = self.competition.spec.versioned_id
            if isinstance(competition, str):  # it must name the spec's version, if any
                named = competition if competition.split("/")[-1] != spec.competition else named
            if named != spec.competition:
                raise ValueError(f"spec= names {spec.competition}, the env was given {named}")
            self.base_spec = spec
            self._mode_asked = spec.mode
        warning = reward_warning(self.reward_mode)
        if warning is not None:
            warnings.warn(warning, UserWarning, stacklevel=2)
        self._prep = {"cache_dir": cache_dir, "raw_dir": raw_dir}
        self._tasks: dict[int, _Task] = {}
        self._task = self._task_for(self.base_spec.data_seed)
        self._sandbox = sandbox if isinstance(sandbox, Sandbox) else None
        self._sandbox_options = sandbox_options
        self._run_dir = Path(run_dir) if run_dir is not None else None
        self._layout = layout
        self._runs_dir = Path(runs_dir) if runs_dir is not None else None
        self._on_step = on_step
        self.episode: Episode | None = None
        self._abandoned: weakref.finalize[Any, Any] | None = None
        self.action_space = action_space()
        self.observation_space = observation_space(
            self.budget.max_steps, self.budget.episode_time_s
        )
        if self.spec is None:  # made by mledojo.make, not gymnasium.make
            self.spec = _registered_spec(self.base_spec.competition)

    @property
    def budget(self) -> Budget:
        return self.base_spec.budget

    @property
    def resources(self) -> Resources:
        return self.base_spec.resources

    @property
    def agent(self) -> AgentRef:
        return self.base_spec.agent

    @property
    def reward_mode(self) -> RewardMode:
        return reward_mode(self.base_spec.reward)

    @property
    def data(self) -> PreparedData:
        return self._task.data

    @property
    def scorer(self) -> Scorer:
        return self._task.scorer

    @property
    def grader(self) -> GradingWorker:
        return self._task.grader

    def _task_for(self, seed: int) -> _Task:
        """The prepared data and grader of a data seed, prepared (and checksummed) once."""
        if seed not in self._tasks:
            data = prepare(self.competition, data_seed=seed, **self._prep)  # type: ignore[arg-type]
            self._tasks[seed] = _Task(self.competition, data)
        return self._tasks[seed]

    # ----------------------------------------------------------------- lifecycle
    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """Start a fresh episode in a fresh sandbox and describe the task."""
        options = dict(options or {})
        unknown = sorted(set(options) - set(RESET_OPTIONS))
        if unknown:
            _, hint = did_you_mean(unknown[0], RESET_OPTIONS)
            raise ValueError(
                f"unknown reset option(s) {unknown}.{hint} Known: {', '.join(RESET_OPTIONS)}"
            )
        super().reset(seed=seed)
        self._end_current("reset before the episode ended")
        if "data_seed" in options:
            self._task = self._task_for(int(options["data_seed"]))
        sandbox = self._make_sandbox()
        spec = self.base_spec.model_copy(
            update={
                "seed": seed,
                "data_seed": self._task.data.data_seed,
                "data_variant": self._task.data.variant,
                "mode": episode_mode(self._mode_asked, self._task.data.variant),
            }
        )
        task = self._task
        comp, budget, resources = self.competition, self.budget, self.resources
        self.episode = Episode(
            competition=self.competition,
            data=task.data,
            scorer=task.scorer,
            grader=task.grader,
            spec=spec,
            folder=new_episode_folder(self._episode_base(spec, sandbox.image)),
            run_label=self._run_label(),
            sandbox=sandbox,
            reward=self.reward_mode,
            info_text=lambda topic, steps_left, time_left: info_text(
                comp,
                task.data,
                task.scorer,
                topic,
                steps_left=steps_left,
                time_left_s=time_left,
                budget=budget,
                resources=resources,
            ),
            task_info=task.info.model_dump(),
        )
        # An env dropped or left open at exit still ends its episode `interrupted` (with a
        # result.json) and stops its sandbox. The callback holds the episode, never the env.
        self._abandoned = weakref.finalize(self, _abandon, self.episode)
        return self.episode.start()

    def step(
        self, action: dict[str, Any] | Any
    ) -> tuple[dict[str, Any], SupportsFloat, bool, bool, dict[str, Any]]:
        """Apply one action; see `mledojo.types` for the actions."""
        if self.episode is None or self.episode.done:
            raise ResetNeededError(
                "The episode has ended (or never started): call env.reset() before env.step()."
            )
        try:
            out = self.episode.step(action)
        except KeyboardInterrupt:
            self.close()
            raise
        if self._on_step is not None:
            self._on_step(self.episode.steps, out.observation)
        return out.observation, out.reward, out.terminated, out.truncated, out.info

    def close(self) -> None:
        """Stop and remove the sandbox; the run folder stays. Safe to call twice."""
        self._end_current("closed before the episode ended")
        for task in self._tasks.values():
            task.grader.close()

    def _end_current(self, reason: str) -> None:
        if self._abandoned is not None:
            self._abandoned.detach()
            self._abandoned = None
        if self.episode is not None:
            self.episode.close(reason)

    def finish(
        self, reason: str, *, status: EpisodeStatus, error: str | None = None
    ) -> EpisodeResult | None:
        """End the episode from outside (an agent crash, an infrastructure failure).

        The best valid submission so far is still graded, so nothing already done is lost.
        """
        if self.episode is None:
            return None
        self.episode.finish(reason, status=status, error=error)
        return self.episode.result

    def fork(self, *, budget: BudgetMode = "shared", sandbox: Sandbox | None = None) -> MLEDojoEnv:
        """A new env whose episode continues this one from now, in a sandbox of its own.

        The fork gets a copy of the workspace, the budget used, the best submission so far,
        the counters, the trajectory and the RNG; from then on the two are separate (see
        `mledojo.fork`). `budget="shared"` (a search branch) draws on this episode's budget
        and its best submission competes in this episode's final grade; `budget="own"` (RL)
        is an episode of its own, graded at its own end (training mode only). `sandbox=` is
        a fresh, unstarted sandbox for the fork: needed when this env was given an instance.
        The lineage is in `fork.episode.lineage`, the fork's trajectory and its result.
        """
        if self.episode is None:
            raise ResetNeededError("call env.reset() before env.fork()")
        check_fork(self.episode, budget)
        if sandbox is None and self._sandbox is not None:
            raise ValueError(
                "this env was given a Sandbox instance: give the fork a fresh one too, "
                "env.fork(sandbox=<a new, unstarted Sandbox>)"
            )
        box = sandbox if sandbox is not None else self._make_sandbox()
        task = self._task.sibling()
        child = copy.copy(self)
        child._tasks = {task.data.data_seed: task}
        child._task = task
        child._sandbox = sandbox
        child._np_random = copy.deepcopy(self._np_random)
        child._abandoned = None
        try:
            child.episode = fork_episode(
                self.episode, budget=budget, sandbox=box, grader=task.grader
            )
        except BaseException:
            task.grader.close()
            raise
        child._abandoned = weakref.finalize(child, _abandon, child.episode)
        return child

    def charge_llm(self, usage: LLMUsage) -> None:
        """Count an agent's model calls against the episode's LLM budget."""
        if self.episode is None:
            raise ResetNeededError("call env.reset() before charging LLM usage")
        self.episode.charge_llm(usage)

    def result(self) -> EpisodeResult | None:
        """The episode's `result.json`, once it has ended."""
        return self.episode.result if self.episode is not None else None

    @property
    def run_folder(self) -> Path:
        """The current episode's folder (after `reset`)."""
        if self.episode is None:
            raise ResetNeededError("call env.reset() first")
        return self.episode.folder

    def task_info(self) -> TaskInfo:
        """The task as data (also in `reset`'s info, as a dict)."""
        return self._task.info

    def _make_sandbox(self) -> Sandbox:
        if self._sandbox is not None:
            return self._sandbox
        from mledojo.sandbox import make_sandbox

        image = {"image": self.base_spec.image} if self.base_spec.image is not None else {}
        return make_sandbox(self.base_spec.sandbox, **self._sandbox_options, **image)

    def _episode_base(self, spec: EpisodeSpec, image: str | None) -> Path:
        """`run_dir` when given, else the spec's folder in this env's run (`RunLayout`)."""
        if self._run_dir is not None:
            return self._run_dir
        if self._layout is None:  # this env's own run, recorded once
            self._layout = RunLayout(self._runs_dir)
            self._layout.record(image=image)
        return self._layout.episode_folder(spec)

    def _run_label(self) -> str:
        """The run label of this env's containers (`mledojo cleanup` finds them by it)."""
        if self._layout is not None:
            return self._layout.label
        return self._run_dir.name if self._run_dir is not None else "unfiled"


def _registered_spec(versioned_id: str) -> EnvSpec | None:
    """The Gymnasium spec registered for this competition (for `check_env` and wrappers)."""
    return gym.registry.get(f"mledojo/{versioned_id}")


def _split_legacy_limits(
    limits: dict[str, Any], budget: dict[str, Any] | None, resources: dict[str, Any] | None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """`limits=` as `budget=` plus `resources=` (explicit ones win), with a deprecation warning."""
    import warnings

    parts = split_limits(limits, where="limits=")
    warnings.warn(
        "make(..., limits={...}) is deprecated: pass budget={...} (steps, time, dollars) and "
        f"resources={{...}} (memory, cpus, disk); here budget={parts['budget']} and "
        f"resources={parts['resources']}.",
        DeprecationWarning,
        stacklevel=3,
    )
    return {**parts["budget"], **(budget or {})}, {**parts["resources"], **(resources or {})}


def _abandon(episode: Episode) -> None:
    """End an episode whose env was garbage-collected or left open when Python exits."""
    try:
        episode.close("the env was never closed")
    except Exception:  # noqa: BLE001 - at exit: log, never raise from a finalizer
        logging.getLogger(__name__).warning("could not end an abandoned episode", exc_info=True)
