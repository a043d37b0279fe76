"""The Docker engine: connecting to it and asking it about images and containers.

Both the sandbox (`docker.py`) and the image builder (`image.py`) need the engine; neither
needs the other's module at import time, so this small module sits under both.
"""

from __future__ import annotations

from typing import Any

from mledojo.errors import DockerUnavailableError

__all__ = ["docker_available", "docker_client", "image_exists"]


def image_exists(client: Any, tag: str) -> bool:
    import docker.errors

    try:
        client.images.get(tag)
    except docker.errors.ImageNotFound:
        return False
    return True


def docker_client(timeout: int = 60) -> Any:
    """A connected Docker SDK client, or `DockerUnavailableError`."""
    try:
        import docker
        import docker.errors
    except ImportError as exc:
        raise DockerUnavailableError(
            "the `docker` Python package is missing; reinstall mledojo to get it"
        ) from exc
    try:
        client = docker.from_env(timeout=timeout)
        client.ping()
    except docker.errors.DockerException as exc:
        raise DockerUnavailableError(str(exc)) from exc
    return client


def docker_available() -> bool:
    """Whether a Docker engine answers (quickly; never raises)."""
    try:
        docker_client(timeout=5).close()
    except DockerUnavailableError:
        return False
    return True
