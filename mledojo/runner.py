"""Run one agent episode end to end, keeping infrastructure and agent failures apart.

The episode's folder comes from its `EpisodeSpec` (`mledojo.layout`); a finished
`result.json` there makes a second call skip the episode, so a crashed batch resumes and a
changed spec (another data seed, agent argument or budget) never reuses a result.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mledojo.agent import Agent, make_agent
from mledojo.artifacts import (
    RESULT_FILE,
    EpisodeResult,
    EpisodeStatus,
    FinalGrade,
    SandboxStats,
    versions,
    write_result,
)
from mledojo.competition import Budget, Competition, Resources, get_competition
from mledojo.data.split import variant_label
from mledojo.episode import trace_tail
from mledojo.errors import DockerUnavailableError, MLEDojoError, ModelAccessError, SandboxError
from mledojo.layout import (
    AgentRef,
    EpisodeSpec,
    default_runs_dir,
    episode_dir,
    hardware_summary,
    new_run_id,
    record_run,
)
from mledojo.rewards import reward_mode
from mledojo.sandbox import resolve_sandbox_kind


@dataclass(frozen=True)
class EpisodeRequest:
    """What to run: everything `EpisodeSpec` needs, before defaults are resolved."""

    competition: str
    agent: str
    agent_args: dict[str, Any] = field(default_factory=dict)
    seed: int | None = 0
    data_seed: int | None = None
    sandbox: str = "auto"
    reward: str = "final_only"
    budget: dict[str, Any] = field(default_factory=dict)
    resources: dict[str, Any] = field(default_factory=dict)

    def resolve(self, comp: Competition | None = None) -> EpisodeSpec:
        """The full spec: names checked, defaults filled in (raises before any work)."""
        comp = comp or get_competition(self.competition)
        spec = comp.spec
        data_seed = spec.split.seed if self.data_seed is None else int(self.data_seed)
        return EpisodeSpec(
            competition=spec.versioned_id,
            agent=AgentRef(name=self.agent, args=self.agent_args),
            seed=self.seed,
            data_seed=data_seed,
            data_variant=variant_label(spec.split, data_seed),
            sandbox=resolve_sandbox_kind(self.sandbox),
            reward=reward_mode(self.reward),
            budget=Budget.model_validate({**spec.budget.model_dump(), **self.budget}),
            resources=Resources.model_validate({**spec.resources.model_dump(), **self.resources}),
        )


def run_episode(
    request: EpisodeRequest,
    *,
    runs_dir: Path | str | None = None,
    run_id: str | None = None,
    agent: Agent | None = None,
    env_kwargs: dict[str, Any] | None = None,
    retry: tuple[EpisodeStatus, ...] = (),
) -> EpisodeResult:
    """Play one episode and return its `result.json`; skip it when already finished.

    `agent` is an instance to use instead of building one from `request.agent` (its key
    is still `request.agent` and its arguments). A finished episode whose status is in
    `retry` is set aside and run again. `env_kwargs` go to `MLEDojoEnv` (cache folders).
    """
    comp = get_competition(request.competition)
    spec = request.resolve(comp)
    agent_obj = agent or make_agent(request.agent, request.agent_args)
    root = Path(runs_dir) if runs_dir is not None else default_runs_dir()
    rid = run_id or new_run_id()
    folder = episode_dir(root, rid, spec)
    done = folder / RESULT_FILE
    if done.is_file():
        previous = EpisodeResult.load(done)
        if previous.status not in retry:
            return previous
    if folder.exists():  # an earlier attempt died or is to be retried: keep it aside
        folder.rename(folder.with_name(f"{folder.name}.attempt-{time.strftime('%Y%m%d%H%M%S')}"))
    record_run(root / rid, image=_default_image(spec))
    return _play(comp, spec, agent_obj, folder, env_kwargs or {})


def _default_image(spec: EpisodeSpec) -> str | None:
    """The runtime image a Docker episode runs (recorded in run.json), None for others."""
    if spec.sandbox != "docker":
        return None
    from mledojo.sandbox.image import image_tag

    return image_tag()


def _play(
    comp: Competition, spec: EpisodeSpec, agent: Agent, folder: Path, env_kwargs: dict[str, Any]
) -> EpisodeResult:
    from mledojo.env import MLEDojoEnv

    try:
        env = MLEDojoEnv(
            comp,
            data_seed=spec.data_seed,
            sandbox=spec.sandbox,  # type: ignore[arg-type]
            reward=spec.reward,
            run_dir=folder,
            agent=spec.agent,
            budget=spec.budget.model_dump(),
            resources=spec.resources.model_dump(),
            **env_kwargs,
        )
    except (MLEDojoError, OSError, ValueError) as e:  # data preparation or a broken spec
        reason = f"the episode could not be set up: {e}"
        return _failed_before_start(spec, folder, reason, e, "infra_error")
    failure: tuple[EpisodeStatus, str, BaseException] | None = None
    try:
        outcome = agent.run(env, seed=spec.seed)
        if env.episode is not None and outcome.llm is not None:
            env.episode.note_reported_llm(outcome.llm)
        if env.episode is not None and env.episode.spec.key != spec.key:
            raise RuntimeError(
                f"internal error: the env's episode key {env.episode.spec.key} is not the "
                f"runner's {spec.key}"
            )
        env.finish("the agent stopped without submitting", status="completed")
    except (SandboxError, DockerUnavailableError) as e:
        failure = ("infra_error", f"infrastructure failure: {e}", e)
    except ModelAccessError as e:
        reason = f"the agent's model could not be used (not the agent's result): {e}"
        failure = ("model_error", reason, e)
    except KeyboardInterrupt:
        env.close()
        raise
    except Exception as e:  # the agent's own bug: graded with what it had achieved
        failure = ("agent_error", f"agent crashed: {type(e).__name__}: {e}", e)
    finally:
        if failure is not None:
            env.finish(failure[1], status=failure[0], error=trace_tail(failure[2]))
        env.close()
    result = env.result()
    if result is None:  # no episode started: the sandbox failed first, or no reset
        status, reason, exc = failure or ("agent_error", "the agent never reset the env", None)
        return _failed_before_start(spec, folder, reason, exc, status)
    return result


def _failed_before_start(
    spec: EpisodeSpec,
    folder: Path,
    reason: str,
    exc: BaseException | None,
    status: EpisodeStatus,
) -> EpisodeResult:
    """A `result.json` for an episode that never ran, so nothing is silently missing."""
    comp = get_competition(spec.competition)
    result = EpisodeResult(
        key=spec.key,
        spec=spec,
        competition=comp.spec.id,
        competition_version=comp.spec.version,
        data_seed=spec.data_seed,
        agent=spec.agent.name,
        seed=spec.seed,
        status=status,
        end_reason=reason,
        steps=0,
        wall_time_s=0.0,
        best_public_score=None,
        best_public_human_rank=None,
        final=FinalGrade(graded=False, reason=reason),
        metric=comp.spec.metric.name,
        higher_is_better=comp.spec.metric.higher_is_better,
        sandbox=SandboxStats(kind=spec.sandbox),
        error=trace_tail(exc) if exc is not None else None,
        hardware=hardware_summary(),
        versions=versions(),
    )
    write_result(folder, result)
    return result
