"""A cached virtual environment per third-party agent, made on first use.

The agent's packages never go into mledojo's own environment: each agent gets a venv under
the user cache dir, named by its agent name and a hash of its pinned requirements, the
install flags and the Python version (`~/.cache/mledojo/agent-venvs/<name>-<hash>`). It is
installed with `--no-deps` from an explicit, measured list (what the agent really imports,
not everything its metadata asks for). An install is complete only once its marker file
exists (written last, atomically): a killed or failed install leaves no marker, and the next
use removes the half venv and installs again. A file lock makes concurrent episodes install
once and wait for each other.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator

from mledojo._files import write_text_atomic
from mledojo.errors import MLEDojoError

MARKER = ".mledojo-venv.json"
LAYOUT_VERSION = 1  # bump when the way venvs are made changes
_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")
_PINNED = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(\[[A-Za-z0-9,._-]+\])?==[A-Za-z0-9.+!_-]+$")
_LOG_TAIL_CHARS = 4000
# what pip may see of the host environment (its config, proxies, certificates; no keys)
_PIP_ENV = (
    *("PIP_", "HOME", "PATH", "LANG", "LC_", "XDG_", "TMPDIR"),
    *("HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "SSL_CERT_", "REQUESTS_CA_BUNDLE"),
)

Progress = Callable[[str], None]


class VenvInstallError(MLEDojoError):
    """Installing an agent's venv failed (the message names the agent and pip's output)."""


class VenvSpec(BaseModel):
    """What an agent's venv holds: exact pins (`name==version`, or a local wheel file) installed
    with `--no-deps`, plus extra pip arguments (e.g. `--no-index --find-links DIR`)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(description="the agent's name; the venv folder starts with it")
    requirements: tuple[str, ...] = Field(min_length=1)
    pip_args: tuple[str, ...] = ()

    @field_validator("name")
    @classmethod
    def _simple_name(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError(f"venv name {value!r} must be lower-case letters, digits and '-'")
        return value

    @field_validator("requirements")
    @classmethod
    def _pinned(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for req in value:
            if not (_PINNED.match(req) or req.endswith(".whl")):
                raise ValueError(
                    f"requirement {req!r} is not pinned: write `name==version` (or a .whl file)"
                )
        return value

    def key(self, python: str | None = None) -> str:
        """The hash naming this venv: requirements (sorted), pip arguments, Python version."""
        payload = {
            "layout": LAYOUT_VERSION,
            "requirements": sorted(self.requirements),
            "pip_args": list(self.pip_args),
            "python": python or python_tag(),
        }
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


class VenvRecord(BaseModel):
    """The marker of a complete venv: what it holds and what installing it cost."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    key: str
    name: str
    requirements: tuple[str, ...]
    pip_args: tuple[str, ...]
    python: str
    install_s: float
    size_bytes: int


class AgentVenv(BaseModel):
    """A ready venv: its folder, its interpreter and its marker."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    path: Path
    record: VenvRecord

    @property
    def python(self) -> Path:
        return self.path / "bin" / "python"


def python_tag() -> str:
    """This interpreter's implementation and full version, e.g. `cpython-3.11.7`."""
    return f"{platform.python_implementation().lower()}-{platform.python_version()}"


def venvs_root() -> Path:
    """`$MLEDOJO_CACHE_DIR/agent-venvs`, else the user cache dir's `mledojo/agent-venvs`."""
    override = os.environ.get("MLEDOJO_CACHE_DIR")
    if override:
        return Path(override) / "agent-venvs"
    import platformdirs

    return Path(platformdirs.user_cache_dir("mledojo")) / "agent-venvs"


def read_record(path: Path) -> VenvRecord | None:
    """The marker of the venv at `path`, or None when it is missing or unreadable."""
    try:
        return VenvRecord.model_validate_json((path / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def ensure_venv(
    spec: VenvSpec, *, root: Path | None = None, progress: Progress | None = None
) -> AgentVenv:
    """The venv for `spec`, installed first when no complete one exists (see module docstring)."""
    root = root or venvs_root()
    key = spec.key()
    path = root / f"{spec.name}-{key}"
    record = read_record(path)
    if record is not None and record.key == key:
        return AgentVenv(path=path, record=record)
    root.mkdir(parents=True, exist_ok=True)
    with _locked(root / f"{spec.name}-{key}.lock"):
        record = read_record(path)  # another process may have installed it while we waited
        if record is not None and record.key == key:
            return AgentVenv(path=path, record=record)
        if path.exists():
            _say(progress, f"removing the incomplete venv {path}")
            shutil.rmtree(path)
        try:
            record = _install(spec, key, path, progress)
        except BaseException:
            shutil.rmtree(path, ignore_errors=True)  # a killed install is caught at next use
            raise
    return AgentVenv(path=path, record=record)


@contextmanager
def _locked(lock_path: Path) -> Iterator[None]:
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def _install(spec: VenvSpec, key: str, path: Path, progress: Progress | None) -> VenvRecord:
    started = time.monotonic()
    _say(progress, f"creating the venv of agent {spec.name} in {path} (first use)")
    _run([sys.executable, "-m", "venv", str(path)], spec.name, "python -m venv")
    pip = [str(path / "bin" / "python"), "-m", "pip", "install", "--no-deps", "--quiet"]
    pip += ["--disable-pip-version-check", "--no-input", *spec.pip_args, *spec.requirements]
    _say(progress, f"installing {len(spec.requirements)} pinned packages for {spec.name}")
    _run(pip, spec.name, "pip install")
    record = VenvRecord(
        key=key,
        name=spec.name,
        requirements=spec.requirements,
        pip_args=spec.pip_args,
        python=python_tag(),
        install_s=round(time.monotonic() - started, 2),
        size_bytes=_tree_bytes(path),
    )
    write_text_atomic(path / MARKER, record.model_dump_json(indent=2))
    _say(progress, f"venv of {spec.name} ready in {record.install_s:.1f} s")
    return record


def _run(argv: list[str], name: str, what: str) -> None:
    env = {k: v for k, v in os.environ.items() if k.upper().startswith(_PIP_ENV)}
    try:
        done = subprocess.run(argv, capture_output=True, text=True, env=env, check=False)
    except OSError as exc:
        raise VenvInstallError(f"agent {name}: {what} could not start: {exc}") from exc
    if done.returncode != 0:
        tail = (done.stdout + done.stderr)[-_LOG_TAIL_CHARS:]
        raise VenvInstallError(
            f"agent {name}: {what} failed (exit {done.returncode}); the venv was removed and the "
            f"next run installs it again. Output:\n{tail}"
        )


def _tree_bytes(path: Path) -> int:
    total = 0
    for dirpath, _, files in os.walk(path):
        for file in files:
            try:
                total += os.lstat(os.path.join(dirpath, file)).st_size
            except OSError:
                continue
    return total


def _say(progress: Progress | None, message: str) -> None:
    if progress is not None:
        progress(message)
