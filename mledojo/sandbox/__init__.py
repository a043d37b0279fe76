"""Where an episode's untrusted code runs: the `Sandbox` interface and its backends.

* `DockerSandbox` (the default): one locked-down container per episode.
* `LocalSandbox`: a host subprocess with rlimits and namespaces; weaker (docs/sandbox.md).

Backends are imported lazily so that `import mledojo` never imports the Docker SDK.
"""

from __future__ import annotations

import logging
import warnings
from typing import TYPE_CHECKING, Any, Literal

from mledojo.errors import DockerUnavailableError
from mledojo.sandbox.base import ExecResult, ExecStatus, Sandbox, ToolResult

if TYPE_CHECKING:
    from mledojo.sandbox.docker import DockerSandbox
    from mledojo.sandbox.local import LocalSandbox

log = logging.getLogger(__name__)

SandboxKind = Literal["docker", "local", "auto"]

__all__ = [
    "DockerSandbox",
    "ExecResult",
    "ExecStatus",
    "LocalSandbox",
    "Sandbox",
    "SandboxKind",
    "ToolResult",
    "docker_available",
    "make_sandbox",
]

LOCAL_FALLBACK_WARNING = (
    "Docker is not available, so mledojo falls back to LocalSandbox: agent code runs as a "
    "host process with rlimits and namespaces but WITHOUT file-system isolation. Start Docker "
    "(`sudo bash scripts/ensure_docker.sh`) for the real sandbox, or pass sandbox='local' "
    "to silence this warning."
)


def docker_available() -> bool:
    """Whether a Docker engine answers (never raises)."""
    from mledojo.sandbox.docker import docker_available as probe

    return probe()


def make_sandbox(kind: SandboxKind = "auto", **kwargs: Any) -> Sandbox:
    """Build a sandbox backend by name.

    `docker` raises `DockerUnavailableError` when no engine answers; `auto` picks Docker
    when it answers and otherwise `LocalSandbox`, with a loud warning. Keyword arguments go
    to the backend's constructor.
    """
    if kind == "docker":
        from mledojo.sandbox.docker import DockerSandbox, docker_client

        return DockerSandbox(client=kwargs.pop("client", None) or docker_client(), **kwargs)
    if kind == "local":
        from mledojo.sandbox.local import LocalSandbox

        return LocalSandbox(**kwargs)
    if kind == "auto":
        try:
            return make_sandbox("docker", **kwargs)
        except DockerUnavailableError as exc:
            warnings.warn(LOCAL_FALLBACK_WARNING, RuntimeWarning, stacklevel=2)
            log.warning("%s (%s)", LOCAL_FALLBACK_WARNING, exc)
            return make_sandbox("local")
    raise ValueError(f"unknown sandbox kind {kind!r}; use 'docker', 'local' or 'auto'")


def __getattr__(name: str) -> Any:
    """Lazy access to the backends: `from mledojo.sandbox import DockerSandbox`."""
    if name == "DockerSandbox":
        from mledojo.sandbox.docker import DockerSandbox

        return DockerSandbox
    if name == "LocalSandbox":
        from mledojo.sandbox.local import LocalSandbox

        return LocalSandbox
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
