"""The results bundle: a run folder plus `bundle.json`, the sha256 of every file in it.

In the bundle: `run.json` (host, versions, git sha, image), `bench.json` (the plan: every
expected episode's spec, agent name and arguments, budget, resources), `bench-log.jsonl`
(starts, ends, attempts), and per episode `result.json`, `trajectory.jsonl`, `episode.log`,
`llm-calls.jsonl` (the agent's recorded LLM exchanges, from schema 2 on: what
`leaderboard reproduce` replays), `code/*` and `submissions/*`; for an attempt the run layout set
aside, its `result.json`. Not in it: `workspace/` (the agent's own scratch files, unbounded
and not evidence). The hashes catch a file edited or lost in transit; they prove nothing
about who wrote the files (anyone can re-hash with `write_manifest`): see the verification
levels in docs/leaderboard.md.
"""

from __future__ import annotations

import os
import stat
from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from mledojo._files import sha256_file, write_text_atomic
from mledojo.leaderboard._io import read_text

BUNDLE_FILE = "bundle.json"
BUNDLE_SCHEMA_VERSION = 2
KNOWN_BUNDLE_SCHEMAS = (1, 2)
RUN_FILES = ("run.json", "bench.json", "bench-log.jsonl")
LLM_RECORD_FILE = "llm-calls.jsonl"  # mledojo.llm.RECORD_FILE (the llm layer is not imported)
EPISODE_FILES_V1 = ("result.json", "trajectory.jsonl", "episode.log")
EPISODE_FILES = (*EPISODE_FILES_V1, LLM_RECORD_FILE)
EPISODE_DIRS = ("code", "submissions")
MAX_BUNDLE_FILES = 200_000
MAX_MANIFEST_BYTES = 64 << 20  # about 200 bytes per file entry


class FileEntry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    sha256: str
    bytes: int


class BundleManifest(BaseModel):
    """`bundle.json`: relative path -> hash and size, for every file of the bundle."""

    model_config = ConfigDict(extra="forbid")

    schema_version: int = BUNDLE_SCHEMA_VERSION
    run_id: str
    created_at: str
    files: dict[str, FileEntry]


def _is_episode_dir(path: Path) -> bool:
    return (path / "result.json").is_file() or path.name.startswith("seed-")


def bundle_paths(run_folder: Path, schema_version: int = BUNDLE_SCHEMA_VERSION) -> list[Path]:
    """Every path the bundle covers (symlinks included, so verification can refuse them).

    A schema-1 bundle (before the LLM recording was carried) covers what it covered then,
    so it still verifies; it simply cannot be reproduced.
    """
    names = EPISODE_FILES if schema_version >= 2 else EPISODE_FILES_V1
    out = [run_folder / name for name in RUN_FILES if (run_folder / name).exists()]
    for comp in sorted(
        p for p in run_folder.iterdir() if p.is_dir() and not p.is_symlink() and p.name[0] != "."
    ):
        for agent in sorted(p for p in comp.iterdir() if p.is_dir() and not p.is_symlink()):
            for ep in sorted(p for p in agent.iterdir() if p.is_dir() and not p.is_symlink()):
                if not _is_episode_dir(ep):
                    continue
                if ".attempt-" in ep.name:
                    if os.path.lexists(ep / "result.json"):
                        out.append(ep / "result.json")
                    continue
                out.extend(ep / n for n in names if os.path.lexists(ep / n))
                for sub in EPISODE_DIRS:
                    d = ep / sub
                    if d.is_dir() and not d.is_symlink():
                        out.extend(sorted(d.iterdir()))
                    elif os.path.lexists(d):
                        out.append(d)
    if len(out) > MAX_BUNDLE_FILES:
        raise ValueError(f"{run_folder}: more than {MAX_BUNDLE_FILES} files; not a bench run")
    return out


def write_manifest(run_folder: Path) -> Path:
    """Hash the bundle's files into `<run>/bundle.json` (atomically); returns its path."""
    files: dict[str, FileEntry] = {}
    for path in bundle_paths(run_folder):
        st = os.lstat(path)
        if not stat.S_ISREG(st.st_mode):
            continue  # a symlink or device the agent left: never hashed, refused at submit
        files[path.relative_to(run_folder).as_posix()] = FileEntry(
            sha256=sha256_file(path), bytes=st.st_size
        )
    manifest = BundleManifest(
        run_id=run_folder.name, created_at=datetime.now(UTC).isoformat(), files=files
    )
    return write_text_atomic(run_folder / BUNDLE_FILE, manifest.model_dump_json(indent=2))


def load_manifest(run_folder: Path) -> BundleManifest:
    """`<run>/bundle.json`: a regular file (no symlink) of at most 64 MB."""
    text = read_text(run_folder / BUNDLE_FILE, max_bytes=MAX_MANIFEST_BYTES)
    return BundleManifest.model_validate_json(text)


def verify_manifest(run_folder: Path, manifest: BundleManifest) -> list[str]:
    """Problems with the bundle: a file changed, missing, not regular, or not listed."""
    problems: list[str] = []
    if manifest.schema_version not in KNOWN_BUNDLE_SCHEMAS:
        return [
            f"bundle.json schema_version {manifest.schema_version} is not one this mledojo reads "
            f"({', '.join(map(str, KNOWN_BUNDLE_SCHEMAS))}); upgrade mledojo"
        ]
    found = bundle_paths(run_folder, manifest.schema_version)
    present = {p.relative_to(run_folder).as_posix(): p for p in found}
    for rel, entry in sorted(manifest.files.items()):
        if rel.startswith("/") or ".." in Path(rel).parts:
            problems.append(f"bundle.json lists {rel!r}, a path outside the run folder")
            continue
        path = present.get(rel)  # never a path the manifest names: only what the walk found
        if path is None:
            problems.append(f"{rel}: listed in bundle.json but missing")
            continue
        st = os.lstat(path)
        if not stat.S_ISREG(st.st_mode):
            problems.append(f"{rel}: not a regular file (symlinks are refused)")
        elif st.st_size != entry.bytes or sha256_file(path) != entry.sha256:
            problems.append(f"{rel}: its sha256 does not match bundle.json (the file was changed)")
    for rel in sorted(set(present) - set(manifest.files)):
        if os.path.islink(present[rel]):
            problems.append(f"{rel}: a symlink (refused: evidence must be regular files)")
        else:
            problems.append(f"{rel}: in the run folder but not in bundle.json")
    return problems
