"""A bench as data: every (agent, competition, seed) episode, keyed by its `EpisodeSpec`.

The plan is written to `<run>/bench.json`, so a resumed run, the bundle and
`leaderboard submit` all know which episodes were expected (a missing one is visible).
The default run id is a hash of the plan: rerunning the same command resumes the same run.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from mledojo._files import write_text_atomic
from mledojo.errors import MLEDojoError
from mledojo.layout import EpisodeSpec, episode_dir
from mledojo.leaderboard._io import LeaderboardError, read_text

PLAN_FILE = "bench.json"
MAX_PLAN_BYTES = 64 << 20  # a plan of 100,000 episodes is about 60 MB
PLAN_SCHEMA_VERSION = 1
SPLITS = ("all", "tabular", "lite", "synthetic", "kaggle")


class BenchError(MLEDojoError):
    """A bench that cannot run as asked (bad names, a run folder of another bench)."""


class Job(BaseModel):
    """One episode to run: the request as typed (what the worker gets) and its spec."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    competition: str
    agent: str
    agent_args: dict[str, Any] = Field(default_factory=dict)
    seed: int | None
    data_seed: int | None = None
    sandbox: str = "auto"
    reward: str = "final_only"
    budget: dict[str, Any] = Field(default_factory=dict)
    resources: dict[str, Any] = Field(default_factory=dict)
    spec: EpisodeSpec

    @property
    def key(self) -> str:
        return self.spec.key

    @property
    def label(self) -> str:
        seed = "-" if self.spec.seed is None else str(self.spec.seed)
        return f"{self.spec.agent.label} on {self.spec.competition} seed {seed}"

    def request_fields(self) -> dict[str, Any]:
        """The keyword arguments of `EpisodeRequest` (the spec is derived again from them)."""
        return self.model_dump(exclude={"spec"})

    def folder(self, runs_dir: Path, run_id: str) -> Path:
        return episode_dir(runs_dir, run_id, self.spec)


class BenchPlan(BaseModel):
    """`bench.json`: the episodes a run is expected to hold."""

    model_config = ConfigDict(extra="forbid")

    schema_version: int = PLAN_SCHEMA_VERSION
    jobs: list[Job]

    @property
    def keys(self) -> list[str]:
        return [j.key for j in self.jobs]

    def digest(self) -> str:
        """A hash of the episode keys: the same bench, the same digest, in any order."""
        return hashlib.sha256("\n".join(sorted(self.keys)).encode()).hexdigest()[:12]

    def default_run_id(self) -> str:
        return f"bench-{self.digest()}"


def resolve_competitions(names: list[str]) -> list[str]:
    """Competition ids from a list of ids and split names (`lite`, `tabular`, ...)."""
    from mledojo.competition import list_competitions

    out: list[str] = []
    for name in names:
        found = list_competitions(name) if name in SPLITS else [name]
        if not found:
            raise BenchError(f"split {name!r} has no competitions (see `mledojo list`)")
        out.extend(c for c in found if c not in out)
    return out


def make_plan(
    *,
    agents: list[str],
    competitions: list[str],
    seeds: list[int],
    agent_args: dict[str, dict[str, Any]] | None = None,
    data_seed: int | None = None,
    sandbox: str = "auto",
    reward: str = "final_only",
    budget: dict[str, Any] | None = None,
    resources: dict[str, Any] | None = None,
) -> BenchPlan:
    """Every (agent, competition, seed) episode, names checked before any work starts."""
    from mledojo.agent import make_agent
    from mledojo.competition import get_competition
    from mledojo.runner import EpisodeRequest
    from mledojo.sandbox import resolve_sandbox_kind

    args = agent_args or {}
    unknown = sorted(set(args) - set(agents))
    if unknown:
        raise BenchError(
            f"--agent-arg names agent(s) {unknown} that are not in --agents {agents}; "
            "write it as AGENT:key=value"
        )
    if not agents or not seeds:
        raise BenchError("a bench needs at least one agent and one seed")
    comps = resolve_competitions(competitions)
    try:  # once, not per job: `auto` pings Docker, and every job must get the same answer
        sandbox = resolve_sandbox_kind(sandbox)
    except ValueError as e:
        raise BenchError(f"--sandbox: {e}") from e
    for agent in agents:
        make_agent(agent, args.get(agent, {}))  # a typo or a bad argument fails here
    jobs: list[Job] = []
    for comp_id in comps:
        comp = get_competition(comp_id)
        for agent in agents:
            for seed in seeds:
                fields: dict[str, Any] = {
                    "competition": comp_id,
                    "agent": agent,
                    "agent_args": dict(args.get(agent, {})),
                    "seed": seed,
                    "data_seed": data_seed,
                    "sandbox": sandbox,
                    "reward": reward,
                    "budget": dict(budget or {}),
                    "resources": dict(resources or {}),
                }
                try:
                    spec = EpisodeRequest(**fields).resolve(comp)
                except ValueError as e:
                    raise BenchError(f"{agent} on {comp_id}: {e}") from e
                jobs.append(Job(**fields, spec=spec))
    return BenchPlan(jobs=jobs)


def write_plan(run_folder: Path, plan: BenchPlan) -> Path:
    """Write `bench.json`, or check that the one there is the same bench."""
    run_folder.mkdir(parents=True, exist_ok=True)
    path = run_folder / PLAN_FILE
    if path.is_file():
        old = load_plan(run_folder)
        if sorted(old.keys) != sorted(plan.keys):
            raise BenchError(
                f"{path} holds another bench ({len(old.jobs)} episodes, digest {old.digest()}; "
                f"this one has {len(plan.jobs)}, digest {plan.digest()}): pass another "
                "--run-id, or leave it out to get this bench's own run folder"
            )
        return path
    return write_text_atomic(path, plan.model_dump_json(indent=2))


def load_plan(run_folder: Path) -> BenchPlan:
    """Read `<run>/bench.json`; a clear error when it is missing or broken."""
    path = run_folder / PLAN_FILE
    try:
        if not os.path.lexists(path):
            raise BenchError(f"{path}: no bench plan; is {run_folder} a `mledojo bench` run?")
        return BenchPlan.model_validate_json(read_text(path, max_bytes=MAX_PLAN_BYTES))
    except LeaderboardError as e:  # a symlink, a special file, or too large
        raise BenchError(f"{path}: not a bench plan mledojo wrote: {e}") from e
    except ValueError as e:
        raise BenchError(f"{path}: not a valid bench plan: {e}") from e


def parse_agent_args(items: list[str], agents: list[str]) -> dict[str, dict[str, Any]]:
    """`AGENT:key=value` (or `key=value` when there is one agent); values read as JSON."""
    out: dict[str, dict[str, Any]] = {}
    for item in items:
        head, sep, value = item.partition("=")
        if not sep:
            raise BenchError(f"--agent-arg {item!r}: expected AGENT:key=value")
        agent, colon, key = head.rpartition(":")
        if not colon:
            if len(agents) != 1:
                raise BenchError(
                    f"--agent-arg {item!r}: with several agents, name one: AGENT:{head}=..."
                )
            agent = agents[0]
        if not key.strip():
            raise BenchError(f"--agent-arg {item!r}: the key is empty")
        try:
            parsed: Any = json.loads(value)
        except json.JSONDecodeError:
            parsed = value
        if not isinstance(parsed, str | int | float | bool | type(None)):
            parsed = value
        out.setdefault(agent, {})[key.strip()] = parsed
    return out
