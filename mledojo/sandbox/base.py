"""The sandbox interface every backend implements, and its result types.

Lifecycle: `prepare()` once per competition/process (build or check the image),
`start()` once per episode (at `env.reset`), `exec()` / `call_tool()` per step,
`stop()` at `env.close` (idempotent, also after a failed start).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from mledojo.spec import Resources

ExecStatus = Literal["ok", "error", "timeout", "oom", "killed", "sandbox_error"]
DiskQuotaKind = Literal["filesystem", "walk"]
"""How `Resources.disk_mb` / `max_files` were enforced: by the kernel (a volume of their
size) or only by the runner's walk of the workspace (see docs/sandbox.md)."""


class ExecResult(BaseModel):
    """The outcome of running one code cell."""

    model_config = ConfigDict(frozen=True)

    status: ExecStatus
    exit_code: int | None
    stdout: str
    stderr: str
    stdout_truncated: bool = False
    stderr_truncated: bool = False
    error_type: str | None = None
    error_message: str | None = None
    duration_s: float

    @classmethod
    def sandbox_error(
        cls, error_type: str, message: str, *, detail: str = "", duration_s: float = 0.0
    ) -> ExecResult:
        """A step that failed because of the sandbox, not the agent's code."""
        return cls(
            status="sandbox_error",
            exit_code=None,
            stdout="",
            stderr=detail or message,
            error_type=error_type,
            error_message=message,
            duration_s=duration_s,
        )


class ToolResult(BaseModel):
    """The outcome of one trusted tool call: JSON in, JSON out."""

    model_config = ConfigDict(frozen=True)

    ok: bool
    output: dict[str, Any] | None = None
    error: str | None = None
    written: dict[str, str] = {}
    """sha256 of each file the call wrote, by sandbox path (for the host's tool ledger)."""
    duration_s: float


class Sandbox(ABC):
    """Where an episode's untrusted code runs.

    Paths inside the sandbox: public data read-only at `/data`, the episode's writable
    workspace at `/workspace` (the agent writes `/workspace/submission.csv`).
    """

    name: str = "abstract"
    restarts: int = 0  # how often a dead runner was replaced mid-episode (backends count)
    disk_quota: DiskQuotaKind | None = None  # set by `start`; None: the backend does not say
    runtime_versions: Mapping[str, str] = {}
    """Python and library versions where the agent's code runs, as the sandbox reported them
    at its first start (validated, bounded); empty when the backend does not say."""

    @property
    def image(self) -> str | None:
        """The image the agent's code runs in, for the record; None: the host's own files."""
        return None

    def prepare(self) -> None:  # noqa: B027 - optional hook
        """Once per process and competition: build or verify what `start` needs."""

    @abstractmethod
    def start(
        self, *, data_dir: Path, workspace: Path, resources: Resources, labels: dict[str, str]
    ) -> None:
        """Start the episode's sandbox with `data_dir` read-only and `workspace` writable."""

    @abstractmethod
    def exec(self, code: str, *, timeout_s: float) -> ExecResult:
        """Run a Python code cell; a timeout kills this cell's processes only."""

    @abstractmethod
    def call_tool(
        self,
        name: str,
        args: dict[str, Any],
        *,
        timeout_s: float,
        ledger: Mapping[str, str] | None = None,
    ) -> ToolResult:
        """Run one trusted tool from `mledojo.tools` inside the sandbox.

        `ledger` (sandbox path -> sha256 of what earlier calls wrote) makes the tools refuse
        any sidecar, model or record the agent wrote or changed (`mledojo/tools/_ledger.py`);
        `None` checks nothing.
        """

    @abstractmethod
    def read_file(self, path: str, *, max_bytes: int) -> bytes:
        """The bytes of the regular file `path` (relative to `/workspace`), read inside.

        The host never opens a path in the agent-writable workspace itself: the sandbox
        reads it with the agent's own privileges, beneath the workspace, following no
        symlink, without blocking, at most `max_bytes`. Raises `SandboxFileError` (safe to
        show the agent) for a missing, oversized or non-regular file or a bad path.
        """

    @abstractmethod
    def stop(self) -> None:
        """Stop and remove everything started; safe to call twice."""

    def leftovers(self) -> list[str]:
        """What of this sandbox still runs (containers, processes); empty after `stop`.

        Backends report what they can see, so the conformance suite can check `stop`.
        """
        return []

    @property
    @abstractmethod
    def workspace_host_path(self) -> Path:
        """The host folder that is `/workspace` inside."""

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
