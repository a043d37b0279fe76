"""Episode artifacts: one folder per episode with every input and output.

`<run folder>/trajectory.jsonl` (one line per step), `code/step-NNN-<action>.py`,
`submissions/step-NNN.csv`, `workspace/` (the sandbox's `/workspace`), `result.json`,
`episode.log`. A finished `result.json` is what makes a resumed batch skip the episode.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

RUNS_ENV_VAR = "MLEDOJO_RUNS_DIR"
RESULT_SCHEMA_VERSION = 1
RESULT_FILE = "result.json"


EpisodeStatus = Literal["completed", "agent_error", "infra_error", "grading_error", "interrupted"]


class FinalGrade(BaseModel):
    """The end-of-episode grade on the private part of the test set."""

    graded: bool
    reason: str = ""
    submission: str | None = None  # relative to the episode folder
    submission_sha256: str | None = None
    private_score: float | None = None
    private_human_rank: float | None = None
    medal: Literal["gold", "silver", "bronze", "none"] | None = None
    above_median: bool | None = None
    leaderboard_kind: Literal["kaggle", "reference"] | None = None
    leaderboard_entries: int | None = None
    implausible: bool = False
    caveats: list[str] = Field(default_factory=list)


class EpisodeResult(BaseModel):
    """`result.json`: what one episode achieved, schema-versioned."""

    schema_version: int = RESULT_SCHEMA_VERSION
    competition: str
    competition_version: int
    data_seed: int
    agent: str
    seed: int | None
    status: EpisodeStatus
    end_reason: str
    steps: int
    wall_time_s: float
    best_public_score: float | None
    best_public_human_rank: float | None
    final: FinalGrade
    metric: str
    higher_is_better: bool
    llm_cost_usd: float = 0.0
    error: str | None = None
    sandbox: str
    versions: dict[str, str] = Field(default_factory=dict)
    finished_at: str = Field(default_factory=lambda: datetime.now(UTC).isoformat())


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


class EpisodeRecorder:
    """Writes one episode's folder as the episode goes; never loses what was written."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        folder.chmod(0o700)  # submissions, code and logs are this user's alone
        (folder / "code").mkdir(exist_ok=True)
        (folder / "submissions").mkdir(exist_ok=True)
        self.workspace = folder / "workspace"
        self.workspace.mkdir(exist_ok=True)
        self._trajectory = folder / "trajectory.jsonl"
        self._log = folder / "episode.log"

    def log(self, message: str) -> None:
        stamp = datetime.now(UTC).strftime("%H:%M:%S")
        with self._log.open("a", encoding="utf-8") as f:
            f.write(f"{stamp} {message}\n")

    def save_code(self, step: int, action: str, code: str) -> Path:
        path = self.folder / "code" / f"step-{step:03d}-{action}.py"
        path.write_text(code, encoding="utf-8")
        return path

    def save_submission(self, step: int, source: Path) -> Path:
        dest = self.folder / "submissions" / f"step-{step:03d}.csv"
        shutil.copyfile(source, dest)
        return dest

    def record_step(self, entry: dict[str, Any]) -> None:
        entry = {"time": time.time(), **entry}
        with self._trajectory.open("a", encoding="utf-8") as f:
            f.write(json.dumps(entry, default=str) + "\n")

    def write_result(self, result: EpisodeResult) -> Path:
        path = self.folder / RESULT_FILE
        tmp = path.with_suffix(".tmp")
        tmp.write_text(result.model_dump_json(indent=2))
        tmp.replace(path)
        return path


def default_runs_dir() -> Path:
    """`$MLEDOJO_RUNS_DIR`, else `runs`: the env, the runner and `mledojo run` agree."""
    return Path(os.environ.get(RUNS_ENV_VAR, "runs"))


def new_episode_folder(base: Path) -> Path:
    """`base`, or `base-2`, `base-3`, ... if it already holds an episode."""
    candidate, n = base, 1
    while candidate.exists() and any(candidate.iterdir()):
        n += 1
        candidate = base.with_name(f"{base.name}-{n}")
    return candidate
