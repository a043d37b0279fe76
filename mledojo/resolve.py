"""Resolve once: what a user typed becomes an `EpisodeSpec` and its `Competition`.

The one place where names are looked up and defaults filled in: the CLI's `run`, the
bench plan and `mledojo.make` (through `MLEDojoEnv`) call `resolve_spec`; everything below
(`mledojo.play`, the env, the episode, the bench worker, data preparation, the failure
path) takes the resolved pair and never looks a name up again. A bench worker is another
process: it gets the spec as JSON and loads its competition once (`competition_of`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mledojo.competition import Competition, get_competition, load_version
from mledojo.data.split import variant_label
from mledojo.rewards import reward_mode
from mledojo.sandbox.base import Sandbox
from mledojo.sandbox.registry import resolve_sandbox_kind
from mledojo.spec import AgentRef, EpisodeSpec, override


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
) -> ResolvedEpisode:
    """The full spec of one episode: names checked, defaults filled in, before any work.

    `competition` is an id (`pump-failure`, `pump-failure-v1`) or a loaded `Competition`;
    `sandbox="auto"` is decided here (Docker when it answers; a `Sandbox` instance is
    recorded by its `name`); `budget` and `resources`
    override fields of the competition's own (an unknown field names the known ones).
    Raises `ValueError` (or an `MLEDojoError`) naming what is wrong.
    """
    comp = competition if isinstance(competition, Competition) else get_competition(competition)
    spec = comp.spec
    ref = (
        agent if isinstance(agent, AgentRef) else AgentRef(name=agent, args=dict(agent_args or {}))
    )
    data_seed = spec.split.seed if data_seed is None else int(data_seed)
    resolved = EpisodeSpec(
        competition=spec.versioned_id,
        agent=ref,
        seed=seed,
        data_seed=data_seed,
        data_variant=variant_label(spec.split, data_seed),
        sandbox=sandbox.name if isinstance(sandbox, Sandbox) else resolve_sandbox_kind(sandbox),
        reward=reward_mode(reward),
        budget=override(spec.budget, dict(budget or {}), "budget"),
        resources=override(spec.resources, dict(resources or {}), "resources"),
    )
    return ResolvedEpisode(resolved, comp)


def competition_of(spec: EpisodeSpec) -> Competition:
    """The competition a spec names, exactly that version (a new process's one lookup:
    only that competition's folder is loaded, not the whole catalogue)."""
    return load_version(spec.competition)
