"""Play one resolved episode end to end, keeping infrastructure and agent failures apart.

`run_episode` takes a `ResolvedEpisode` (`mledojo.resolve.resolve_spec`) and files the
episode where its `RunLayout` says; a finished `result.json` there (under the spec's key
or one an older key rule gave it) makes a second call skip the episode, so a crashed batch
resumes and a changed spec (another data seed, agent argument or budget) never reuses a
result. ("Play", not "run": the runner is the fork server inside the sandbox.)
"""

from __future__ import annotations

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
from mledojo.episode import trace_tail
from mledojo.errors import DockerUnavailableError, MLEDojoError, ModelAccessError, SandboxError
from mledojo.layout import RunLayout, hardware_summary
from mledojo.resolve import ResolvedEpisode
from mledojo.spec import EpisodeSpec


def run_episode(
    episode: ResolvedEpisode,
    *,
    runs_dir: Path | str | None = None,
    run_id: str | None = None,
    layout: RunLayout | None = None,
    agent: Agent | None = None,
    env_kwargs: dict[str, Any] | None = None,
    retry: tuple[EpisodeStatus, ...] = (),
    record: bool = True,
) -> EpisodeResult:
    """Play one episode and return its `result.json`; skip it when already finished.

    `layout` (else one of `runs_dir` and `run_id`) says where it is filed. `agent` is an
    instance to use instead of building one from the spec's agent (the key still names
    the spec's). A finished episode whose status is in `retry` is set aside and played
    again. `record=False` leaves `run.json` to the caller (the bench scheduler records its
    invocation once, not once per worker). `env_kwargs` go to `MLEDojoEnv` (cache folders).
    """
    spec = episode.spec
    agent_obj = agent or make_agent(spec.agent.name, dict(spec.agent.args))
    layout = layout or RunLayout(runs_dir, run_id)
    done = layout.finished(spec)
    if done is not None:
        previous = EpisodeResult.load(done / RESULT_FILE)
        if previous.status not in retry:
            return previous
        layout.set_aside(done)
    folder = layout.episode_folder(spec)
    if folder.exists():  # an earlier attempt died: keep it aside
        layout.set_aside(folder)
    if record:
        layout.record(image=_image(spec))
    return _play(episode, agent_obj, layout, env_kwargs or {})


def _image(spec: EpisodeSpec) -> str | None:
    """The image a Docker episode runs (recorded in run.json), None for others."""
    if spec.sandbox != "docker" or spec.image is not None:
        return spec.image
    from mledojo.sandbox.image import image_tag

    return image_tag()


def _play(
    episode: ResolvedEpisode, agent: Agent, layout: RunLayout, env_kwargs: dict[str, Any]
) -> EpisodeResult:
    from mledojo.env import MLEDojoEnv

    spec, comp = episode.spec, episode.competition
    folder = layout.episode_folder(spec)
    try:
        env = MLEDojoEnv(comp, spec=spec, layout=layout, **env_kwargs)
    except (MLEDojoError, OSError, ValueError) as e:  # data preparation or a broken spec
        reason = f"the episode could not be set up: {e}"
        return _failed_before_start(episode, folder, reason, e, "infra_error")
    failure: tuple[EpisodeStatus, str, BaseException] | None = None
    try:
        outcome = agent.run(env, seed=spec.seed)
        if env.episode is not None and outcome.llm is not None:
            env.episode.note_reported_llm(outcome.llm)
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
        return _failed_before_start(episode, folder, reason, exc, status)
    return result


def _failed_before_start(
    episode: ResolvedEpisode,
    folder: Path,
    reason: str,
    exc: BaseException | None,
    status: EpisodeStatus,
) -> EpisodeResult:
    """A `result.json` for an episode that never ran, so nothing is silently missing."""
    spec, comp = episode.spec, episode.competition
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
