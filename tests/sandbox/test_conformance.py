"""Both sandbox backends against the library's conformance and hostile-agent suites.

One sandbox per backend is shared by the checks (module scope) to keep the suite fast;
every check leaves it working. `cleanup` gets its own sandbox since it stops it.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from mledojo.errors import DockerUnavailableError
from mledojo.sandbox import Sandbox, make_sandbox
from mledojo.sandbox.conformance import (
    CHECK_NAMES,
    CheckContext,
    make_context,
    run_check,
    start_for_checks,
)
from mledojo.sandbox.hostile import (
    HOSTILE_CHECK_NAMES,
    HOSTILE_CHECKS,
    HOSTILE_EPISODE_CHECK_NAMES,
    HOSTILE_RESOURCES,
    run_episode_check,
)

BACKENDS = [
    pytest.param(
        "local",
        id="local",
        marks=pytest.mark.skipif(os.geteuid() != 0, reason="LocalSandbox needs root"),
    ),
    pytest.param("docker", id="docker", marks=pytest.mark.docker),
]


def _factory(kind: str, request: pytest.FixtureRequest) -> Callable[[], Sandbox]:
    if kind == "docker":
        from mledojo.sandbox.docker import DockerSandbox

        image = request.getfixturevalue("runtime_image")
        return lambda: DockerSandbox(image=image)
    from mledojo.sandbox.local import LocalSandbox

    return LocalSandbox


@pytest.fixture(scope="module", params=BACKENDS)
def started(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Sandbox, CheckContext]]:
    ctx = make_context(tmp_path_factory.mktemp(f"conformance-{request.param}"))
    sb = start_for_checks(_factory(request.param, request), ctx)
    yield sb, ctx
    sb.stop()


@pytest.mark.timeout(60)
@pytest.mark.parametrize("check", [n for n in CHECK_NAMES if n != "cleanup"])
def test_check(started: tuple[Sandbox, CheckContext], check: str) -> None:
    sb, ctx = started
    result = run_check(check, sb, ctx)
    assert result.passed, result.detail


@pytest.fixture(scope="module", params=BACKENDS)
def attacked(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Sandbox, CheckContext]]:
    ctx = make_context(tmp_path_factory.mktemp(f"hostile-{request.param}"), HOSTILE_RESOURCES)
    sb = start_for_checks(_factory(request.param, request), ctx)
    yield sb, ctx
    sb.stop()


@pytest.mark.timeout(90)
@pytest.mark.parametrize("check", HOSTILE_CHECK_NAMES)
def test_hostile(attacked: tuple[Sandbox, CheckContext], check: str) -> None:
    sb, ctx = attacked
    result = run_check(check, sb, ctx, checks=HOSTILE_CHECKS)
    assert result.passed, result.detail


@pytest.mark.timeout(180)
@pytest.mark.parametrize("check", HOSTILE_EPISODE_CHECK_NAMES)
@pytest.mark.parametrize("kind", BACKENDS)
def test_hostile_episode(
    kind: str, check: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """Attacks that need sandboxes of their own (stop() itself, or a neighbour)."""
    result = run_episode_check(check, _factory(kind, request), tmp_path, HOSTILE_RESOURCES)
    assert result.passed, result.detail


@pytest.mark.timeout(60)
@pytest.mark.parametrize("kind", BACKENDS)
def test_cleanup(kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    ctx = make_context(tmp_path)
    sb = start_for_checks(_factory(kind, request), ctx)
    try:
        result = run_check("cleanup", sb, ctx)
    finally:
        sb.stop()
    assert result.passed, result.detail


def test_auto_falls_back_to_local_loudly(monkeypatch: pytest.MonkeyPatch) -> None:
    from mledojo.sandbox import engine

    def unavailable(timeout: int = 60) -> None:
        raise DockerUnavailableError("test")

    monkeypatch.setattr(engine, "docker_client", unavailable)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        sb = make_sandbox("auto")
    assert sb.name == "local"
    assert any("LocalSandbox" in str(w.message) for w in caught)
    with pytest.raises(DockerUnavailableError):
        make_sandbox("docker")


def test_an_episode_request_resolving_auto_to_local_warns_too(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`mledojo run` and the bench decide `auto` through the spec, before any sandbox exists."""
    from mledojo.resolve import resolve_spec
    from mledojo.sandbox import engine

    def unavailable(timeout: int = 60) -> None:
        raise DockerUnavailableError("test")

    monkeypatch.setattr(engine, "docker_client", unavailable)
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        spec = resolve_spec(competition="titanic", agent="baseline", sandbox="auto").spec
    assert spec.sandbox == "local"
    assert any("LocalSandbox" in str(w.message) for w in caught)


def test_unknown_kind_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown sandbox kind"):
        make_sandbox("vm")  # type: ignore[arg-type]
