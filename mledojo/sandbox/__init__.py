"""Where an episode's untrusted code runs: the `Sandbox` interface and its backends.

* `DockerSandbox` (the default): one locked-down container per episode.
* `LocalSandbox`: a host subprocess with rlimits and namespaces; weaker (docs/sandbox.md).

Backends are imported lazily so that `import mledojo` never imports the Docker SDK.
"""

from __future__ import annotations

import logging
import os
import warnings
from typing import TYPE_CHECKING, Any, Literal

from mledojo.errors import DockerUnavailableError, SandboxError
from mledojo.sandbox.base import ExecResult, ExecStatus, Sandbox, ToolResult

if TYPE_CHECKING:
    from mledojo.sandbox.docker import DockerSandbox
    from mledojo.sandbox.local import LocalSandbox

log = logging.getLogger(__name__)

SandboxKind = Literal["docker", "local", "unsafe-local", "auto"]
SANDBOX_KINDS: tuple[str, ...] = ("docker", "local", "unsafe-local", "auto")

__all__ = [
    "DockerSandbox",
    "ExecResult",
    "ExecStatus",
    "LocalSandbox",
    "Sandbox",
    "SANDBOX_KINDS",
    "SandboxKind",
    "ToolResult",
    "docker_available",
    "make_sandbox",
    "resolve_sandbox_kind",
]

LOCAL_FALLBACK_WARNING = (
    "Docker is not available, so mledojo falls back to LocalSandbox: agent code runs as a "
    "host process under a uid of its own, with rlimits and namespaces but WITHOUT file-system "
    "isolation. Start Docker (`sudo bash scripts/ensure_docker.sh`) for the real sandbox, or "
    "pass sandbox='local' to silence this warning."
)


def docker_available() -> bool:
    """Whether a Docker engine answers (never raises)."""
    from mledojo.sandbox.docker import docker_available as probe

    return probe()


def resolve_sandbox_kind(kind: str) -> str:
    """The backend `kind` stands for (`auto` decided now, as `make_sandbox` would)."""
    if kind not in SANDBOX_KINDS:
        from mledojo.errors import did_you_mean

        _, hint = did_you_mean(kind, SANDBOX_KINDS)
        raise ValueError(
            f"unknown sandbox kind {kind!r}.{hint} Use one of {', '.join(SANDBOX_KINDS)}"
        )
    if kind != "auto":
        return kind
    if docker_available():
        return "docker"
    if os.geteuid() != 0:
        from mledojo.sandbox.local import NEEDS_ROOT_MESSAGE

        raise SandboxError(f"Docker is not available. {NEEDS_ROOT_MESSAGE}")
    return "local"


def make_sandbox(kind: SandboxKind = "auto", **kwargs: Any) -> Sandbox:
    """Build a sandbox backend by name.

    `docker` raises `DockerUnavailableError` when no engine answers. `local` needs root (it
    runs each episode under a uid of its own); `unsafe-local` runs agent code as the caller
    and is never picked for you. `auto` picks Docker when it answers, else `local` with a
    loud warning when running as root, else raises: it never silently degrades to
    `unsafe-local`. Keyword arguments go to the backend's constructor.
    """
    if kind == "docker":
        from mledojo.sandbox.docker import DockerSandbox, docker_client

        return DockerSandbox(client=kwargs.pop("client", None) or docker_client(), **kwargs)
    if kind in ("local", "unsafe-local"):
        from mledojo.sandbox.local import LocalSandbox

        box = LocalSandbox(unsafe=kind == "unsafe-local", **kwargs)
        box.prepare()
        return box
    if kind == "auto":
        try:
            return make_sandbox("docker", **kwargs)
        except DockerUnavailableError as exc:
            if os.geteuid() != 0:
                from mledojo.sandbox.local import NEEDS_ROOT_MESSAGE

                raise SandboxError(
                    f"Docker is not available ({exc.args[0]}). {NEEDS_ROOT_MESSAGE}"
                ) from exc
            warnings.warn(LOCAL_FALLBACK_WARNING, RuntimeWarning, stacklevel=2)
            log.warning("%s (%s)", LOCAL_FALLBACK_WARNING, exc)
            return make_sandbox("local")
    raise ValueError(f"unknown sandbox kind {kind!r}; use one of {', '.join(SANDBOX_KINDS)}")


def __getattr__(name: str) -> Any:
    """Lazy access to the backends: `from mledojo.sandbox import DockerSandbox`."""
    if name == "DockerSandbox":
        from mledojo.sandbox.docker import DockerSandbox

        return DockerSandbox
    if name == "LocalSandbox":
        from mledojo.sandbox.local import LocalSandbox

        return LocalSandbox
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
