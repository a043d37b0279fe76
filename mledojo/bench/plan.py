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
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, model_validator

from mledojo._files import write_text_atomic
from mledojo.errors import MLEDojoError
from mledojo.layout import RunLayout
from mledojo.leaderboard._io import LeaderboardError, read_text
from mledojo.spec import EpisodeSpec, upgrade_stored_spec

PLAN_FILE = "bench.json"
MAX_PLAN_BYTES = 64 << 20  # a plan of 100,000 episodes is about 60 MB
PLAN_SCHEMA_VERSION: Literal[2] = 2


class BenchError(MLEDojoError):
    """A bench that cannot run as asked (bad names, a run folder of another bench)."""


class Job(BaseModel):
    """One episode to run: its resolved spec (what the worker gets, and nothing else)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    spec: EpisodeSpec

    @property
    def key(self) -> str:
        return self.spec.key

    @property
    def agent(self) -> str:
        return self.spec.agent.name

    @property
    def agent_args(self) -> dict[str, Any]:
        return dict(self.spec.agent.args)

    @property
    def label(self) -> str:
        seed = "-" if self.spec.seed is None else str(self.spec.seed)
        return f"{self.spec.agent.label} on {self.spec.competition} seed {seed}"

    def folder(self, runs_dir: Path, run_id: str) -> Path:
        """Where the episode is filed: its finished folder (any key rule), else its own."""
        layout = RunLayout(runs_dir, run_id)
        return layout.finished(self.spec) or layout.episode_folder(self.spec)


class BenchPlan(BaseModel):
    """`bench.json`: the episodes a run is expected to hold.

    Schema 1 repeated the request's fields beside each job's spec; it is still read (its
    specs were keyed by key rule 1, and keep it, so its run's folders are found).
    """

    model_config = ConfigDict(extra="forbid")

    schema_version: Literal[2] = PLAN_SCHEMA_VERSION
    jobs: list[Job]

    @model_validator(mode="before")
    @classmethod
    def _upgrade_v1(cls, data: Any) -> Any:
        if not isinstance(data, dict) or data.get("schema_version") != 1:
            return data
        jobs = data.get("jobs")
        if not isinstance(jobs, list) or not all(
            isinstance(j, dict) and isinstance(j.get("spec"), dict) for j in jobs
        ):
            raise ValueError("a schema 1 plan whose jobs do not each hold a `spec` object")
        return {
            **data,
            "schema_version": PLAN_SCHEMA_VERSION,
            "jobs": [{"spec": upgrade_stored_spec(j["spec"])} for j in jobs],
        }

    @property
    def keys(self) -> list[str]:
        return [j.key for j in self.jobs]

    def digest(self) -> str:
        """A hash of the episodes, in any order, the same under every key rule (it hashes
        their rule-1 keys): rerunning a bench after an upgrade still resumes its run. An
        episode with an image (which rule 1 cannot express) counts by its own key: the same
        bench on another image is another run, never this one resumed."""
        ids = sorted(j.spec.key_for(1) if j.spec.image is None else j.spec.key for j in self.jobs)
        return hashlib.sha256("\n".join(ids).encode()).hexdigest()[:12]

    @property
    def images(self) -> list[str]:
        """The images its episodes ask for (`default` for the runtime image), sorted."""
        return sorted({j.spec.image or "default" for j in self.jobs})

    def default_run_id(self) -> str:
        return f"bench-{self.digest()}"


def resolve_competitions(names: list[str]) -> list[str]:
    """Competition ids from a list of ids and split names (`lite`, `tabular`, ...)."""
    from mledojo.competition import SPLITS, list_competitions

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
    image: str | None = None,
) -> BenchPlan:
    """Every (agent, competition, seed) episode, names checked before any work starts.

    `image`: a Docker image to run instead of the runtime image (`--image`); it is part of
    each episode's key, so a run resumed with another image plays its episodes again."""
    from mledojo.agent import make_agent
    from mledojo.resolve import resolve_specs
    from mledojo.spec import AgentRef

    args = agent_args or {}
    unknown = sorted(set(args) - set(agents))
    if unknown:
        raise BenchError(
            f"--agent-arg names agent(s) {unknown} that are not in --agents {agents}; "
            "write it as AGENT:key=value"
        )
    if not agents or not seeds:
        raise BenchError("a bench needs at least one agent and one seed")
    for agent in agents:
        make_agent(agent, args.get(agent, {}))  # a typo or a bad argument fails here
    try:  # `auto` pings Docker once: every job gets the same answer
        resolved = resolve_specs(
            resolve_competitions(competitions),
            agents=[AgentRef(name=a, args=dict(args.get(a, {}))) for a in agents],
            seeds=seeds,
            data_seed=data_seed,
            sandbox=sandbox,
            reward=reward,
            budget=budget,
            resources=resources,
            image=image,
        )
    except ValueError as e:
        raise BenchError(str(e)) from e
    jobs = [Job(spec=r.spec) for r in resolved]
    return BenchPlan(jobs=jobs)


def write_plan(run_folder: Path, plan: BenchPlan) -> BenchPlan:
    """Write `bench.json`, or check that the one there is the same bench; returns the plan
    the run goes on with (the one on disk when there is one: its specs keep the key rule
    its folders were filed by)."""
    run_folder.mkdir(parents=True, exist_ok=True)
    path = run_folder / PLAN_FILE
    if path.is_file():
        old = load_plan(run_folder)
        if old.digest() != plan.digest():
            images = f", images {old.images} vs {plan.images}" if old.images != plan.images else ""
            raise BenchError(
                f"{path} holds another bench ({len(old.jobs)} episodes, digest {old.digest()}; "
                f"this one has {len(plan.jobs)}, digest {plan.digest()}{images}): pass another "
                "--run-id, or leave it out to get this bench's own run folder"
            )
        return old
    write_text_atomic(path, plan.model_dump_json(indent=2))
    return plan


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
