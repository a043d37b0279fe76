"""Resolve once: what a user typed becomes an `EpisodeSpec` and its `Competition`.

The one place where names are looked up and defaults filled in: the CLI's `run` and
`mledojo.make` (through `MLEDojoEnv`) call `resolve_spec`, the bench plan `resolve_specs`
(each name looked up once for all its episodes); everything below
(`mledojo.play`, the env, the episode, the bench worker, data preparation, the failure
path) takes the resolved pair and never looks a name up again. A bench worker is another
process: it gets the spec as JSON and loads its competition once (`competition_of`).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypedDict, Unpack, cast

from mledojo.competition import Competition, load_one
from mledojo.data.split import variant_label
from mledojo.errors import did_you_mean
from mledojo.rewards import reward_mode
from mledojo.sandbox.base import Sandbox
from mledojo.sandbox.registry import resolve_sandbox_kind
from mledojo.spec import EPISODE_MODES, AgentRef, EpisodeMode, EpisodeSpec, override


@dataclass(frozen=True)
class ResolvedEpisode:
    """A resolved spec and the competition it names (the same version)."""

    spec: EpisodeSpec
    competition: Competition


class Options(TypedDict, total=False):
    """What an episode request may set beside its competition, agent and seed (see
    `resolve_specs` for each one's default and meaning)."""

    data_seed: int | None
    sandbox: str | Sandbox
    reward: str
    budget: Mapping[str, Any] | None
    resources: Mapping[str, Any] | None
    mode: str | None
    image: str | None


def resolve_spec(
    competition: str | Competition,
    *,
    agent: str | AgentRef = "manual",
    agent_args: Mapping[str, Any] | None = None,
    seed: int | None = 0,
    **options: Unpack[Options],
) -> ResolvedEpisode:
    """The full spec of one episode: names checked, defaults filled in, before any work.

    `competition` is an id (`pump-failure`, `pump-failure-v1`) or a loaded `Competition`;
    the `options` are `resolve_specs`'s. Raises `ValueError` (or an `MLEDojoError`) naming
    what is wrong.
    """
    ref = (
        agent if isinstance(agent, AgentRef) else AgentRef(name=agent, args=dict(agent_args or {}))
    )
    (resolved,) = resolve_specs([competition], agents=[ref], seeds=[seed], **options)
    return resolved


def resolve_specs(
    competitions: Sequence[str | Competition],
    *,
    agents: Sequence[AgentRef],
    seeds: Sequence[int | None],
    data_seed: int | None = None,
    sandbox: str | Sandbox = "auto",
    reward: str = "final_only",
    budget: Mapping[str, Any] | None = None,
    resources: Mapping[str, Any] | None = None,
    mode: str | None = None,
    image: str | None = None,
) -> list[ResolvedEpisode]:
    """Every (competition, agent, seed) episode, in that order: each name looked up once,
    the sandbox and reward decided once, each competition's budget, resources, data
    variant and mode once (a bench plan's route; `resolve_spec` is the one-episode case).

    `sandbox="auto"` is decided here (Docker when it answers; a `Sandbox` instance is
    recorded by its `name`); `budget` and `resources` override fields of the competition's
    own (an unknown field names the known ones). `mode` defaults to `evaluation` on the
    evaluation split and `training` on a training variant (`episode_mode`). `image` is a
    Docker image to run instead of the runtime image (only with the Docker sandbox). A
    `ValueError` from a competition's fields starts with its id (`pump-failure: ...`).
    """
    kind = sandbox.name if isinstance(sandbox, Sandbox) else resolve_sandbox_kind(sandbox)
    if image is not None:
        image = _asked_image(image, kind)
    reward = reward_mode(reward)
    out: list[ResolvedEpisode] = []
    for competition in competitions:
        comp = competition if isinstance(competition, Competition) else load_one(competition)
        spec = comp.spec
        seed_of_data = spec.split.seed if data_seed is None else int(data_seed)
        variant = variant_label(spec.split, seed_of_data)
        try:
            episode_budget = override(spec.budget, dict(budget or {}), "budget")
            episode_resources = override(spec.resources, dict(resources or {}), "resources")
            episode_mode_ = episode_mode(mode, variant)
        except ValueError as e:
            raise ValueError(f"{spec.versioned_id}: {e}") from e
        out.extend(
            ResolvedEpisode(
                EpisodeSpec(
                    competition=spec.versioned_id,
                    agent=ref,
                    seed=seed,
                    data_seed=seed_of_data,
                    data_variant=variant,
                    mode=episode_mode_,
                    sandbox=kind,
                    reward=reward,
                    image=image,
                    budget=episode_budget,
                    resources=episode_resources,
                ),
                comp,
            )
            for ref in agents
            for seed in seeds
        )
    return out


def episode_mode(asked: str | None, data_variant: str | None) -> EpisodeMode:
    """The episode's mode: `asked`, else `evaluation` on the evaluation split (no variant)
    and `training` on a training variant. Asking for `training` on the evaluation split
    warns: its private score becomes visible, so the episode is not a board result."""
    if asked is None:
        return "evaluation" if data_variant is None else "training"
    if asked not in EPISODE_MODES:
        _, hint = did_you_mean(str(asked), EPISODE_MODES)
        raise ValueError(f"unknown mode {asked!r}.{hint} Use one of: {', '.join(EPISODE_MODES)}")
    if asked == "training" and data_variant is None:
        warnings.warn(
            "mode='training' on the evaluation split shows the agent its private score, which "
            "turns the hidden test rows into feedback across episodes: the result is not a "
            "board result. Train on a training variant (data_seed other than the evaluation "
            "seed) instead.",
            UserWarning,
            stacklevel=3,
        )
    return cast(EpisodeMode, asked)


def _asked_image(image: str, kind: str) -> str | None:
    """The image the key records: None for the library's own runtime image, however named."""
    if kind != "docker":
        raise ValueError(f"an image (--image {image}) needs the Docker sandbox, not {kind}")
    from mledojo.sandbox.image import image_tag

    return None if image == image_tag() else image


def competition_of(spec: EpisodeSpec) -> Competition:
    """The competition a spec names, exactly that version (a new process's one lookup:
    only that competition's folder is loaded, not the whole catalogue)."""
    return load_one(spec.competition)
