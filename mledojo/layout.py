"""The run layout: where a run's episodes are filed, their attempts, and `run.json`.

`RunLayout` is the one authority on run folders; the env, `mledojo.play`, the CLI and the
bench all ask it. An episode is filed under its `EpisodeSpec.key` (`mledojo.spec`): two
specs that differ in anything that can change a result never share a folder, so a resumed
run can never hand back another episode's result. A spec keyed by an older rule is still
found (`RunLayout.finished`).

    <runs>/<run-id>/run.json
    <runs>/<run-id>/<competition>-v<N>/<agent label>/seed-<s>-data-<d>-<key>/result.json
    <runs>/<run-id>/<competition>-v<N>/<agent label>/seed-<s>-data-<d>-<key>.attempt-<time>/
"""

from __future__ import annotations

import fcntl
import json
import os
import platform
import secrets
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from mledojo._files import UnsafeFileError, read_bounded, write_text_atomic
from mledojo.spec import RUNTIME_REPOSITORY, EpisodeSpec

RESULT_FILE = "result.json"

RUNS_ENV_VAR = "MLEDOJO_RUNS_DIR"
MANIFEST_FILE = "run.json"
MANIFEST_SCHEMA_VERSION = 1
ATTEMPT_MARK = ".attempt-"
MAX_RESULT_BYTES = 64 << 20


def default_runs_dir() -> Path:
    """`$MLEDOJO_RUNS_DIR`, else `./runs`."""
    return Path(os.environ.get(RUNS_ENV_VAR) or "runs")


def new_run_id() -> str:
    """Sortable and readable, unique per process and call (time, pid, random)."""
    return f"{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}-{secrets.token_hex(3)}"


class RunLayout:
    """One run's folders: the run folder, its episode and attempt folders, its `run.json`
    and the run label its containers carry (`mledojo.run`, which `mledojo cleanup` reads)."""

    def __init__(self, runs_dir: Path | str | None = None, run_id: str | None = None) -> None:
        self.runs_dir = Path(runs_dir) if runs_dir is not None else default_runs_dir()
        self.run_id = run_id or new_run_id()

    @property
    def folder(self) -> Path:
        return self.runs_dir / self.run_id

    @property
    def label(self) -> str:
        """The run label of this run's containers."""
        return self.run_id

    def episode_folder(self, spec: EpisodeSpec) -> Path:
        """Where the episode `spec` is filed (under its own key)."""
        return self._candidates(spec)[0]

    def finished(self, spec: EpisodeSpec) -> Path | None:
        """The folder holding the episode's `result.json`, under its own key or one an older
        key rule gave it (a run made before key versions); None when it has none.

        Rules 1 and 2 kept the image out of the key, and `mledojo run --image` filed an
        episode on another image under the same key: an older rule's folder is the
        episode's only when its result says it ran the runtime image (or no image)."""
        own, *older = self._candidates(spec)
        if (own / RESULT_FILE).is_file():
            return own
        return next((f for f in older if _ran_runtime_image(f / RESULT_FILE)), None)

    def set_aside(self, folder: Path) -> Path:
        """Move an earlier attempt of an episode out of the way (`<folder>.attempt-<time>`)."""
        stamp = time.strftime("%Y%m%d%H%M%S")
        target = folder.with_name(f"{folder.name}{ATTEMPT_MARK}{stamp}")
        n = 1
        while target.exists():
            n += 1
            target = folder.with_name(f"{folder.name}{ATTEMPT_MARK}{stamp}-{n}")
        folder.rename(target)
        return target

    def attempts_before(self, spec: EpisodeSpec) -> int:
        """How many earlier attempts of this episode were set aside, under any of its keys."""
        folders = self._candidates(spec)
        parent = folders[0].parent
        if not parent.is_dir():
            return 0
        prefixes = tuple(f"{f.name}{ATTEMPT_MARK}" for f in folders)
        return sum(1 for p in parent.iterdir() if p.name.startswith(prefixes))

    def _candidates(self, spec: EpisodeSpec) -> list[Path]:
        """The episode's folder under each key it has had, its own key's first."""
        keys, parent = spec.keys(), self.folder / spec.competition / spec.agent.label
        seed = "none" if spec.seed is None else str(spec.seed)
        return [parent / f"seed-{seed}-data-{spec.data_seed}-{key}" for key in keys]

    def record(self, *, image: str | None = None) -> RunManifest:
        """Create or extend `run.json` with this invocation (once per process).

        Processes of one run may start at once: the read-modify-write happens under an
        exclusive lock on `run.json.lock`, so no invocation is lost; a process already
        recorded (and no new image to note) leaves the file as it is.
        """
        self.folder.mkdir(parents=True, exist_ok=True)
        lock = os.open(self.folder / f"{MANIFEST_FILE}.lock", os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            fcntl.flock(lock, fcntl.LOCK_EX)
            return _record_locked(self.folder, image)
        finally:
            os.close(lock)


def _ran_runtime_image(result_file: Path) -> bool:
    """Whether a `result.json` records the library's runtime image, or none (local kinds)."""
    try:
        data = json.loads(read_bounded(result_file, max_bytes=MAX_RESULT_BYTES))
    except (OSError, ValueError, UnsafeFileError):
        return False  # missing, a symlink, too large or not JSON: nothing to resume
    sandbox = data.get("sandbox") if isinstance(data, dict) else None
    image = sandbox.get("image") if isinstance(sandbox, dict) else None
    return image is None or (isinstance(image, str) and image.startswith(f"{RUNTIME_REPOSITORY}:"))


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


def _record_locked(run_folder: Path, image: str | None) -> RunManifest:
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
    known = any(i.pid == os.getpid() for i in manifest.invocations)
    if known and path.is_file() and not (image and manifest.image is None):
        return manifest
    if image and manifest.image is None:
        manifest.image = image
    if not known:
        here = Invocation(command=list(sys.argv), pid=os.getpid(), started_at=now)
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
