"""The resolved episode: `EpisodeSpec` with its `Budget`, `Resources` and `AgentRef`.

A leaf module (stdlib, pydantic and `mledojo.errors` only): every layer may read a spec,
none needs to look anything up to use one. `mledojo.resolve.resolve_spec` builds it once
at the edge (CLI, bench plan, `mledojo.make`); everything below takes it as it is.

An episode's key is a hash of its spec. The hashing rule is versioned (`KEY_VERSION`):
version 1 (unversioned, before 2026-12-05) hashed the spec's JSON alone; version 2 adds
`key_version` to what is hashed, so a future change of the rule or of a field's meaning
is a new version instead of silently new keys; version 3 (2026-12-06) adds `image`, the
runtime image a Docker episode was asked to run in. A spec read from an older
`result.json` or `bench.json` keeps the version it was keyed with, so its stored key still
checks out and its folder is still found (`EpisodeSpec.keys`,
`mledojo.layout.RunLayout.finished`).
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from mledojo.errors import did_you_mean

RUNTIME_REPOSITORY = "mledojo-runtime"
"""The library's own runtime image (tag: its content hash); an image of any other
repository is one a user asked for (`EpisodeSpec.image`)."""
KEY_CHARS = 12
KEY_VERSION = 3
KEY_VERSIONS: tuple[int, ...] = (1, 2, 3)
ArgValue = str | int | float | bool | None
EpisodeMode = Literal["evaluation", "training"]
EPISODE_MODES: tuple[str, ...] = ("evaluation", "training")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Budget(_Model):
    """What an episode may spend: steps, time, graded submissions, tool calls and LLM usage.

    `max_steps` counts every action but `call_tool`; tool calls have their own count
    (`max_tool_calls`), so a tool-driven agent and a code-writing agent get the same number
    of code steps (docs/episode.md). Both draw on the same wall-clock budget.

    The env enforces the budget; the sandbox never sees it (only `Resources`). A budget
    runs out at a step boundary: the episode is truncated and its best submission graded.
    """

    max_steps: int = Field(default=30, gt=0)
    episode_time_s: float = Field(default=3600, gt=0)
    step_timeout_s: float = Field(default=600, gt=0)
    max_public_grades: int | None = Field(default=None, ge=1)
    """Public grades per episode, every source alike (code cells, tools); None: `max_steps`."""
    max_tool_calls: int = Field(default=120, ge=0)
    llm_usd: float | None = Field(default=None, ge=0)
    llm_tokens: int | None = Field(default=None, ge=0)
    max_sandbox_errors: int = Field(default=3, ge=1)

    @property
    def public_grades(self) -> int:
        """The episode's public grades: `max_public_grades`, else one per code step.

        Why: tool calls cost no code step, so a cap above `max_steps` let tools add ~100
        graded probes (100 public rows decoded) to an agent's 30 code steps.
        """
        return self.max_public_grades if self.max_public_grades is not None else self.max_steps


class Resources(_Model):
    """What the episode's sandbox may use: memory, CPUs, processes, disk and output."""

    memory_mb: int = Field(default=4096, ge=128)
    cpus: float = Field(default=2.0, gt=0)
    pids: int = Field(default=256, ge=16)
    disk_mb: int = Field(default=2048, ge=16)
    max_files: int = Field(default=100_000, ge=100)
    output_bytes: int = Field(default=64_000, ge=1000)


Limit = TypeVar("Limit", Budget, Resources)
BUDGET_FIELDS = tuple(Budget.model_fields)
RESOURCE_FIELDS = tuple(Resources.model_fields)


def split_limits(limits: dict[str, object], where: str = "limits") -> dict[str, dict[str, object]]:
    """A flat `limits:` mapping (the v1 spelling) as `{"budget": ..., "resources": ...}`."""
    budget = {k: v for k, v in limits.items() if k in BUDGET_FIELDS}
    resources = {k: v for k, v in limits.items() if k in RESOURCE_FIELDS}
    unknown = sorted(set(limits) - set(budget) - set(resources))
    if unknown:
        _, hint = did_you_mean(unknown[0], BUDGET_FIELDS + RESOURCE_FIELDS)
        raise ValueError(
            f"unknown {where} field(s) {unknown}.{hint} Budget fields: "
            f"{', '.join(BUDGET_FIELDS)}; resource fields: {', '.join(RESOURCE_FIELDS)}"
        )
    return {"budget": budget, "resources": resources}


def override(base: Limit, extra: dict[str, Any] | None, where: str) -> Limit:
    """`base` with the fields of `extra` replaced; an unknown field names the known ones."""
    if not extra:
        return base
    fields = type(base).model_fields
    unknown = sorted(set(extra) - set(fields))
    if unknown:
        _, hint = did_you_mean(unknown[0], fields)
        raise ValueError(f"unknown {where} field(s) {unknown}.{hint} Known: {', '.join(fields)}")
    return type(base).model_validate({**base.model_dump(), **extra})


class AgentRef(_Model):
    """An agent as the user named it (`baseline`, `path/to/agent.py`, `pkg.mod:Class`)."""

    name: str = Field(min_length=1, max_length=500)
    args: dict[str, ArgValue] = Field(default_factory=dict)

    @property
    def label(self) -> str:
        """A folder-safe, readable form of `name` (the key keeps apart what it merges)."""
        stem = self.name.rsplit("/", 1)[-1].removesuffix(".py").replace(":", "-")
        return re.sub(r"[^A-Za-z0-9_.-]+", "_", stem).strip("._-")[:60] or "agent"


class EpisodeSpec(_Model):
    """Everything that defines one episode, resolved; its hash is the episode's key."""

    competition: str  # the versioned id, e.g. `pump-failure-v2`
    agent: AgentRef
    seed: int | None
    data_seed: int
    sandbox: str  # a concrete kind (`docker`, `local`, ...), never `auto`
    reward: str
    budget: Budget
    resources: Resources
    data_variant: str | None = None
    """None on the evaluation split; on a training variant its scheme (`training-3`,
    `mledojo.data.split.variant_label`), so a result on an older scheme's variant data is
    never resumed as one on today's."""
    mode: EpisodeMode = "evaluation"
    """`evaluation`: the agent never sees a private score (observation, info, reward); the
    caller and `result.json` do. `training`: everything is shown. Resolved from the data
    seed (the evaluation split -> evaluation, a training variant -> training) unless asked."""
    image: str | None = Field(default=None, min_length=1, max_length=300)
    """Docker only: the image asked for (`--image`, e.g. an extended image's tag); None is
    the library's own runtime image. Part of the key: a run resumed with another image
    never reuses this one's episodes (decision 152)."""
    key_version: int = Field(default=KEY_VERSION, ge=1, le=KEY_VERSION)
    """The hashing rule of `key`: older files keep theirs (see the module docstring)."""

    @property
    def key(self) -> str:
        """A stable hash of the spec: equal specs, equal keys, on any machine."""
        return self.key_for(self.key_version)

    def key_for(self, version: int) -> str:
        """This episode's key under hashing rule `version` (1: the unversioned rule)."""
        if version not in KEY_VERSIONS:
            raise ValueError(f"unknown key version {version}; known: {KEY_VERSIONS}")
        content = self.model_dump(mode="json", exclude={"key_version"})
        if version >= 2:
            content["key_version"] = version
        else:  # rule 1 predates these fields (and is never used for a variant)
            del content["data_variant"], content["mode"]
        if version < 3:  # rules 1 and 2 predate the image (never used with one)
            del content["image"]
        canonical = json.dumps(content, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()[:KEY_CHARS]

    def keys(self) -> list[str]:
        """Its key under every rule, its own first: where an older run may have filed it."""
        own = self.key
        if self.data_variant is not None or self.image is not None:
            return [own]  # older rules filed older variant data and knew no image: never reuse
        return [own] + [self.key_for(v) for v in reversed(KEY_VERSIONS) if v != self.key_version]

    def same_episode(self, other: EpisodeSpec) -> bool:
        """Equal in everything but the hashing rule of the key."""
        return self.model_dump(exclude={"key_version"}) == other.model_dump(exclude={"key_version"})

    @property
    def budget_class(self) -> str:
        """A readable name of the budget, so a board compares only like with like."""
        return budget_class(self.budget)


def budget_class(budget: Budget) -> str:
    """`steps=30,time=3600s,step=600s,grades=100,tools=120[,usd=..]`: equal budgets, equal names."""
    parts = [
        f"steps={budget.max_steps}",
        f"time={budget.episode_time_s:g}s",
        f"step={budget.step_timeout_s:g}s",
        f"grades={budget.public_grades}",
        f"tools={budget.max_tool_calls}",
    ]
    if budget.llm_usd is not None:
        parts.append(f"usd={budget.llm_usd:g}")
    if budget.llm_tokens is not None:
        parts.append(f"tokens={budget.llm_tokens}")
    return ",".join(parts)


def upgrade_stored_spec(data: Any) -> Any:
    """A spec as stored in a file: one written before key versions was keyed by rule 1."""
    if isinstance(data, dict) and "key_version" not in data:
        return {**data, "key_version": 1}
    return data
