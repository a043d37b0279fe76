"""Shared test configuration.

* `docker` marker: a test marked `docker` is skipped when no Docker engine answers, and
  fails instead when `MLEDOJO_REQUIRE_DOCKER=1` (as in CI).
* Container leak check: at the end of the session, no container labelled
  `mledojo.episode` that this test process started may remain.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator

import pytest

from mledojo.testing.shared_data import kaggle_root

REQUIRE_DOCKER_ENV = "MLEDOJO_REQUIRE_DOCKER"

SHARED_KAGGLE = kaggle_root()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Modules with long tests first, each module's tests kept together and in order.

    The two xdist workers take tests as they free up, so the short tests left at the end
    even out the finish; a long Docker test or the benchmark group collected last kept one
    worker busy minutes after the other was done. Modules stay contiguous so that their
    module-scoped fixtures (prepared data) are made once per worker.
    """

    def module(item: pytest.Item) -> str:
        return item.nodeid.split("::", 1)[0]

    long = {
        module(i) for i in items if i.get_closest_marker("slow") or i.get_closest_marker("docker")
    }
    items.sort(key=lambda item: module(item) not in long)  # stable: each module keeps its order


def pytest_configure(config: pytest.Config) -> None:
    """Kaggle-derived competitions read the real files in ../shared (never downloaded);
    runs that name no folder go to a temporary one, never into the checkout's `runs/`.

    Idle OpenMP threads sleep, as in every sandbox (`OMP_WAIT_POLICY`): the in-process
    sandbox double trains models in this process, where spinning threads on the loaded
    machine made the baseline's episode take 41 s instead of 8 s. Set before any test
    module loads an OpenMP runtime (it reads the variable once)."""
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    if SHARED_KAGGLE.is_dir():
        os.environ.setdefault("MLEDOJO_KAGGLE_DIR", str(SHARED_KAGGLE))
    if not os.environ.get("MLEDOJO_RUNS_DIR"):
        os.environ["MLEDOJO_RUNS_DIR"] = tempfile.mkdtemp(prefix="mledojo-test-runs-")
        config.add_cleanup(
            lambda: shutil.rmtree(os.environ.pop("MLEDOJO_RUNS_DIR"), ignore_errors=True)
        )


def _docker_client() -> object | None:
    """A connected Docker client, or None (never raises)."""
    try:
        import docker

        client = docker.from_env(timeout=10)
        client.ping()
    except Exception:  # noqa: BLE001 - any failure means "no Docker here"
        return None
    return client


@pytest.fixture(scope="session")
def docker_client() -> object | None:
    """The session's Docker client, or None when no engine answers."""
    return _docker_client()


@pytest.fixture(autouse=True)
def _docker_gate(request: pytest.FixtureRequest) -> None:
    """Skip (or, under MLEDOJO_REQUIRE_DOCKER=1, fail) `docker` tests without Docker."""
    if request.node.get_closest_marker("docker") is None:
        return
    if request.getfixturevalue("docker_client") is not None:
        return
    message = "Docker is not available (start it with `bash scripts/ensure_docker.sh`)"
    if os.environ.get(REQUIRE_DOCKER_ENV) == "1":
        pytest.fail(f"{message}; {REQUIRE_DOCKER_ENV}=1 requires it")
    pytest.skip(message)


def _own_episode_containers(client: object) -> set[str]:
    """Names of episode containers started by this process (other sessions may run)."""
    from mledojo.sandbox.cleanup import list_labelled

    found = list_labelled(client, ["mledojo.episode", f"mledojo.owner_pid={os.getpid()}"])
    return {c.name for c in found}


@pytest.fixture(scope="session", autouse=True)
def _no_leaked_containers() -> Iterator[None]:
    """Fail the session if episode containers it started are left behind."""
    client = _docker_client()
    before = _own_episode_containers(client) if client is not None else set()
    yield
    if client is None:
        return
    leaked = _own_episode_containers(client) - before
    if leaked:
        for name in leaked:  # remove them so the next run starts clean, then fail
            try:
                client.containers.get(name).remove(force=True)  # type: ignore[attr-defined]
            except Exception:  # noqa: BLE001, S110
                pass
        pytest.fail(f"episode containers left after the test session: {sorted(leaked)}")


@pytest.fixture(scope="session")
def runtime_image(docker_client: object | None) -> str:
    """The current runtime image tag, built once if missing (docker tests only)."""
    if docker_client is None:
        pytest.skip("Docker is not available")
    from mledojo.sandbox.image import build_image

    return build_image().tag


@pytest.fixture
def memory_sandbox_kind(monkeypatch: pytest.MonkeyPatch) -> str:
    """`sandbox="memory-double"` names the in-process test double, in this test only (for
    code that takes a sandbox by name, like `run_episode`); no user can select it."""
    from mledojo.sandbox import registry
    from mledojo.testing.memory_sandbox import NAME, MemorySandboxDouble

    monkeypatch.setitem(registry.BUILTIN_BACKENDS, NAME, lambda **_: MemorySandboxDouble())
    return NAME
