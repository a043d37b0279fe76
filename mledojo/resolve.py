"""Resolve once: what a user typed becomes an `EpisodeSpec` and its `Competition`.

The one place where names are looked up and defaults filled in: the CLI's `run`, the
bench plan and `mledojo.make` (through `MLEDojoEnv`) call `resolve_spec`; everything below
(`mledojo.play`, the env, the episode, the bench worker, data preparation, the failure
path) takes the resolved pair and never looks a name up again. A bench worker is another
process: it gets the spec as JSON and loads its competition once (`competition_of`).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast

from mledojo.competition import Competition, get_competition, load_version
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


def resolve_spec(
    competition: str | Competition,
    *,
    agent: str | AgentRef = "manual",
    agent_args: Mapping[str, Any] | None = None,
    seed: int | None = 0,
    data_seed: int | None = None,
    sandbox: str | Sandbox = "auto",
    reward: str = "final_only",
    budget: Mapping[str, Any] | None = None,
    resources: Mapping[str, Any] | None = None,
    mode: str | None = None,
) -> ResolvedEpisode:
    """The full spec of one episode: names checked, defaults filled in, before any work.

    `competition` is an id (`pump-failure`, `pump-failure-v1`) or a loaded `Competition`;
    `sandbox="auto"` is decided here (Docker when it answers; a `Sandbox` instance is
    recorded by its `name`); `budget` and `resources`
    override fields of the competition's own (an unknown field names the known ones).
    `mode` defaults to `evaluation` on the evaluation split and `training` on a training
    variant (`episode_mode`). Raises `ValueError` (or an `MLEDojoError`) naming what is wrong.
    """
    comp = competition if isinstance(competition, Competition) else get_competition(competition)
    spec = comp.spec
    ref = (
        agent if isinstance(agent, AgentRef) else AgentRef(name=agent, args=dict(agent_args or {}))
    )
    data_seed = spec.split.seed if data_seed is None else int(data_seed)
    variant = variant_label(spec.split, data_seed)
    resolved = EpisodeSpec(
        competition=spec.versioned_id,
        agent=ref,
        seed=seed,
        data_seed=data_seed,
        data_variant=variant,
        mode=episode_mode(mode, variant),
        sandbox=sandbox.name if isinstance(sandbox, Sandbox) else resolve_sandbox_kind(sandbox),
        reward=reward_mode(reward),
        budget=override(spec.budget, dict(budget or {}), "budget"),
        resources=override(spec.resources, dict(resources or {}), "resources"),
    )
    return ResolvedEpisode(resolved, comp)


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


def competition_of(spec: EpisodeSpec) -> Competition:
    """The competition a spec names, exactly that version (a new process's one lookup:
    only that competition's folder is loaded, not the whole catalogue)."""
    return load_version(spec.competition)
