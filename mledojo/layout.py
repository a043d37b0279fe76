"""The run layout: what identifies an episode, where its folder is, and the run manifest.

This module is the one authority on folders; the env, the runner, the CLI and batch runs
all ask it. An episode is identified by its `EpisodeSpec` (competition version, agent as
typed plus its arguments, episode seed, data seed, sandbox, reward, budget, resources),
hashed into `EpisodeSpec.key`. Two specs that differ in anything that can change a result
never share a folder, so a resumed run can never hand back another episode's result.

    <runs>/<run-id>/run.json
    <runs>/<run-id>/<competition>-v<N>/<agent label>/seed-<s>-data-<d>-<key>/result.json
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import platform
import re
import secrets
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from mledojo._files import write_text_atomic
from mledojo.competition import Budget, Resources

RUNS_ENV_VAR = "MLEDOJO_RUNS_DIR"
MANIFEST_FILE = "run.json"
MANIFEST_SCHEMA_VERSION = 1
KEY_CHARS = 12
ArgValue = str | int | float | bool | None


class AgentRef(BaseModel):
    """An agent as the user named it (`baseline`, `path/to/agent.py`, `pkg.mod:Class`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=500)
    args: dict[str, ArgValue] = Field(default_factory=dict)

    @property
    def label(self) -> str:
        """A folder-safe, readable form of `name` (the key keeps apart what it merges)."""
        stem = self.name.rsplit("/", 1)[-1].removesuffix(".py").replace(":", "-")
        return re.sub(r"[^A-Za-z0-9_.-]+", "_", stem).strip("._-")[:60] or "agent"


class EpisodeSpec(BaseModel):
    """Everything that defines one episode; its hash is the episode's key."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    competition: str  # the versioned id, e.g. `pump-failure-v2`
    agent: AgentRef
    seed: int | None
    data_seed: int
    sandbox: str
    reward: str
    budget: Budget
    resources: Resources
    data_variant: str | None = None
    """None on the evaluation split; on a training variant its scheme (`training-2`,
    `mledojo.data.split.variant_label`), so a result on an older scheme's variant data is
    never resumed as one on today's. Left out of the key when None: evaluation keys stay."""

    @property
    def key(self) -> str:
        """A stable hash of the spec: equal specs, equal keys, on any machine."""
        fields = self.model_dump(mode="json")
        if fields["data_variant"] is None:
            del fields["data_variant"]
        canonical = json.dumps(fields, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()[:KEY_CHARS]

    @property
    def budget_class(self) -> str:
        """A readable name of the budget, so a board compares only like with like."""
        return budget_class(self.budget)

    @property
    def folder_name(self) -> str:
        seed = "none" if self.seed is None else str(self.seed)
        return f"seed-{seed}-data-{self.data_seed}-{self.key}"


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


def default_runs_dir() -> Path:
    """`$MLEDOJO_RUNS_DIR`, else `./runs`."""
    return Path(os.environ.get(RUNS_ENV_VAR) or "runs")


def new_run_id() -> str:
    """Sortable and readable, unique per process and call (time, pid, random)."""
    return f"{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}-{secrets.token_hex(3)}"


def episode_dir(runs_dir: Path, run_id: str, spec: EpisodeSpec) -> Path:
    """The folder of the episode `spec` within run `run_id`."""
    return runs_dir / run_id / spec.competition / spec.agent.label / spec.folder_name


class Invocation(BaseModel):
    """One process that worked on the run (a resumed run has several)."""

    command: list[str]
    pid: int
    started_at: str


class RunManifest(BaseModel):
    """`run.json`: what a run ran on, so a result can be reproduced and certified."""

    schema_version: int = MANIFEST_SCHEMA_VERSION
    run_id: str
    created_at: str
    host: dict[str, Any]
    versions: dict[str, str]
    git_sha: str | None
    image: str | None = None
    invocations: list[Invocation] = Field(default_factory=list)


def record_run(run_folder: Path, *, image: str | None = None) -> RunManifest:
    """Create or extend `<run>/run.json` with this process; returns the manifest.

    Bench workers start at once and each records itself: the read-modify-write happens under
    an exclusive lock on `run.json.lock`, so no worker's invocation is lost.
    """
    run_folder.mkdir(parents=True, exist_ok=True)
    lock = os.open(run_folder / f"{MANIFEST_FILE}.lock", os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return _record_run_locked(run_folder, image)
    finally:
        os.close(lock)


def _record_run_locked(run_folder: Path, image: str | None) -> RunManifest:
    path = run_folder / MANIFEST_FILE
    now = datetime.now(UTC).isoformat()
    if path.is_file():
        manifest = RunManifest.model_validate_json(path.read_text())
    else:
        manifest = RunManifest(
            run_id=run_folder.name,
            created_at=now,
            host=host_facts(),
            versions=versions(),
            git_sha=git_sha(),
        )
    if image and manifest.image is None:
        manifest.image = image
    here = Invocation(command=list(sys.argv), pid=os.getpid(), started_at=now)
    if not any(i.pid == here.pid for i in manifest.invocations):
        manifest.invocations.append(here)
    write_text_atomic(path, manifest.model_dump_json(indent=2))
    return manifest


def versions() -> dict[str, str]:
    """Versions that matter for reproducing a result."""
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for pkg in ("mledojo", "scikit-learn", "pandas", "numpy", "gymnasium"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = "not installed"
    return out


def host_facts() -> dict[str, Any]:
    """Hardware and OS facts that explain a wall time (no user or path names)."""
    try:
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError):
        memory = None
    return {
        "system": platform.system(),
        "release": platform.release(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "memory_bytes": memory,
        "python": platform.python_version(),
    }


def hardware_summary() -> str:
    """`x86_64, 2 CPUs, 24 GiB`: what a board shows beside a wall time."""
    facts = host_facts()
    memory = facts["memory_bytes"]
    gib = f", {memory / 2**30:.0f} GiB" if memory else ""
    return f"{facts['machine']}, {facts['cpus']} CPUs{gib}"


def git_sha() -> str | None:
    """The commit of the mledojo source checkout, when it is one (else None)."""
    root = Path(__file__).resolve().parent.parent
    if not (root / ".git").exists():
        return None
    try:
        out = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None
