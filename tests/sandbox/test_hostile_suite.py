"""Both sandbox backends against the library's hostile-agent suite (mledojo.sandbox.hostile).

One sandbox per backend is shared by the checks (module scope); every check leaves it
working. LocalSandbox is checked in the mode it allows here: as root, with a per-episode uid.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from mledojo.sandbox import Sandbox
from mledojo.sandbox.conformance import CheckContext, make_context, run_check, start_for_checks
from mledojo.sandbox.hostile import HOSTILE_CHECK_NAMES, HOSTILE_CHECKS, HOSTILE_LIMITS

BACKENDS = [
    pytest.param(
        "local",
        id="local",
        marks=pytest.mark.skipif(os.geteuid() != 0, reason="LocalSandbox needs root"),
    ),
    pytest.param("docker", id="docker", marks=pytest.mark.docker),
]


@pytest.fixture(scope="module", params=BACKENDS)
def started(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Sandbox, CheckContext]]:
    ctx = make_context(tmp_path_factory.mktemp(f"hostile-{request.param}"), HOSTILE_LIMITS)
    if request.param == "docker":
        from mledojo.sandbox.docker import DockerSandbox

        image = request.getfixturevalue("runtime_image")
        sb = start_for_checks(lambda: DockerSandbox(image=image), ctx)
    else:
        from mledojo.sandbox.local import LocalSandbox

        sb = start_for_checks(LocalSandbox, ctx)
    yield sb, ctx
    sb.stop()


@pytest.mark.timeout(90)
@pytest.mark.parametrize("check", HOSTILE_CHECK_NAMES)
def test_hostile(started: tuple[Sandbox, CheckContext], check: str) -> None:
    sb, ctx = started
    result = run_check(check, sb, ctx, checks=HOSTILE_CHECKS)
    assert result.passed, result.detail
