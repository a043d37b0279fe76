"""Where an episode's untrusted code runs: the `Sandbox` interface and its backends.

* `DockerSandbox` (the default): one locked-down container per episode.
* `LocalSandbox`: a host subprocess in a minimal root of its own, with rlimits and
  namespaces; weaker (docs/sandbox.md).
* plug-ins: entry-point group `mledojo.sandboxes` (`registry.py`).

Backends are imported lazily so that `import mledojo` never imports the Docker SDK.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Literal

from mledojo.sandbox.base import ExecResult, ExecStatus, Sandbox, ToolResult
from mledojo.sandbox.registry import (
    LOCAL_FALLBACK_WARNING,
    make_sandbox,
    resolve_sandbox_kind,
    sandbox_kinds,
)

if TYPE_CHECKING:
    from mledojo.sandbox.docker import DockerSandbox
    from mledojo.sandbox.local import LocalSandbox

log = logging.getLogger(__name__)

SandboxKind = Literal["docker", "local", "unsafe-local", "auto"]  # plug-ins add more

__all__ = [
    "DockerSandbox",
    "ExecResult",
    "ExecStatus",
    "LocalSandbox",
    "Sandbox",
    "SandboxKind",
    "ToolResult",
    "docker_available",
    "LOCAL_FALLBACK_WARNING",
    "make_sandbox",
    "resolve_sandbox_kind",
    "sandbox_kinds",
]


def docker_available() -> bool:
    """Whether a Docker engine answers (never raises)."""
    from mledojo.sandbox.engine import docker_available as probe

    return probe()


def __getattr__(name: str) -> Any:
    """Lazy access to the backends: `from mledojo.sandbox import DockerSandbox`."""
    if name == "DockerSandbox":
        from mledojo.sandbox.docker import DockerSandbox

        return DockerSandbox
    if name == "LocalSandbox":
        from mledojo.sandbox.local import LocalSandbox

        return LocalSandbox
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
