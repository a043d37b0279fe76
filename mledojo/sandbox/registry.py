"""Sandbox backends by name: the built-in ones and those of installed plug-ins.

A plug-in declares a factory in the entry-point group `mledojo.sandboxes`
(`name = package.module:factory`); the factory takes keyword arguments and returns a
`Sandbox`. Backends are imported only when made, so listing them stays cheap. Every
backend must pass `mledojo.sandbox.conformance` (and should pass `hostile`).
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Callable
from importlib import metadata
from typing import Any

from mledojo.errors import SandboxError, did_you_mean
from mledojo.sandbox.base import Sandbox

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "mledojo.sandboxes"
BackendFactory = Callable[..., Sandbox]

LOCAL_FALLBACK_WARNING = (
    "Docker is not available, so mledojo falls back to LocalSandbox: agent code runs as a "
    "host process in a minimal root of its own (the host's files hidden) under a uid of its "
    "own, but WITHOUT Docker's memory and CPU cgroup limits, seccomp filter or pid namespace "
    "(see docs/sandbox.md). Start Docker (`sudo bash scripts/ensure_docker.sh`) for the real "
    "sandbox, or pass sandbox='local' to silence this warning."
)


def _docker(**kwargs: Any) -> Sandbox:
    from mledojo.sandbox.docker import DockerSandbox
    from mledojo.sandbox.engine import docker_client

    return DockerSandbox(client=kwargs.pop("client", None) or docker_client(), **kwargs)


def _local(**kwargs: Any) -> Sandbox:
    from mledojo.sandbox.local import LocalSandbox

    box = LocalSandbox(**kwargs)
    box.prepare()  # refuses a non-root caller now, before any folder is made
    return box


def _unsafe_local(**kwargs: Any) -> Sandbox:
    return _local(unsafe=True, **kwargs)


BUILTIN_BACKENDS: dict[str, BackendFactory] = {
    "docker": _docker,
    "local": _local,
    "unsafe-local": _unsafe_local,
}


def backends() -> dict[str, BackendFactory]:
    """Every backend by name: built-ins first (a plug-in cannot shadow them)."""
    found = dict(BUILTIN_BACKENDS)
    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        if ep.name not in found:
            found[ep.name] = _lazy(ep)
    return found


def _lazy(ep: metadata.EntryPoint) -> BackendFactory:
    def make(**kwargs: Any) -> Sandbox:
        factory = ep.load()
        box = factory(**kwargs)
        if not isinstance(box, Sandbox):
            raise SandboxError(f"sandbox entry point {ep.value} did not return a Sandbox")
        return box

    return make


def sandbox_kinds() -> tuple[str, ...]:
    """The names `sandbox=` accepts: every backend, and `auto`."""
    return (*backends(), "auto")


def check_kind(kind: str) -> None:
    kinds = sandbox_kinds()
    if kind not in kinds:
        _, hint = did_you_mean(kind, kinds)
        raise ValueError(f"unknown sandbox kind {kind!r}.{hint} Use one of: {', '.join(kinds)}")


def resolve_sandbox_kind(kind: str) -> str:
    """The backend `kind` stands for; `auto` is decided now: Docker when it answers, else
    `local` with a loud warning when running as root, else an error (never `unsafe-local`)."""
    check_kind(kind)
    if kind != "auto":
        return kind
    from mledojo.sandbox.engine import docker_available

    if docker_available():
        return "docker"
    if os.geteuid() != 0:
        from mledojo.sandbox.local import NEEDS_ROOT_MESSAGE

        raise SandboxError(f"Docker is not available. {NEEDS_ROOT_MESSAGE}")
    warnings.warn(LOCAL_FALLBACK_WARNING, RuntimeWarning, stacklevel=2)
    log.warning("%s (Docker is not available)", LOCAL_FALLBACK_WARNING)
    return "local"


def make_sandbox(kind: str = "auto", **kwargs: Any) -> Sandbox:
    """Build a sandbox backend by name (not started; the env calls `prepare` and `start`).

    `docker` raises `DockerUnavailableError` when no engine answers. `local` needs root (it
    runs each episode under a uid of its own); `unsafe-local` runs agent code as the caller
    and is never picked for you. `auto` picks Docker when it answers, else `local` with a
    loud warning when running as root, else raises: it never silently degrades to
    `unsafe-local`. Keyword arguments go to the backend's factory.
    """
    return backends()[resolve_sandbox_kind(kind)](**kwargs)
