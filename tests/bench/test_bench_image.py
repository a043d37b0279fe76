"""`mledojo bench --image TAG` in Docker: episodes run that image, which is in their key.

The image is the runtime image under a second tag of its own (a real image the engine
runs; building an extended one would cost minutes and test the build, not the route).
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mledojo.artifacts import EpisodeResult
from mledojo.sandbox.image import build_image, image_tag

pytestmark = [pytest.mark.docker, pytest.mark.slow]


@pytest.fixture
def second_tag(docker_client: Any) -> Iterator[str]:
    """The runtime image tagged `mledojo-route-test:<random>`, untagged afterwards."""
    build_image()  # a no-op when it exists
    tag = f"mledojo-route-test:{secrets.token_hex(4)}"
    repository, _, version = tag.partition(":")
    docker_client.images.get(image_tag()).tag(repository, version)
    try:
        yield tag
    finally:
        docker_client.images.remove(tag, noprune=True)


def _results(run: Path) -> list[EpisodeResult]:
    return [EpisodeResult.load(p) for p in sorted(run.glob("*/*/*/result.json"))]


def test_bench_runs_its_image_and_never_reuses_another_images_episodes(
    tmp_path: Path, second_tag: str, bh: Any
) -> None:
    args = ["--agents", "baseline", "--competitions", bh.fast_competitions[0], "--seeds", "1"]
    args += bh.small
    missing = bh.run_bench(tmp_path, *args, "--image", second_tag + "-missing")
    assert missing.returncode == 1 and "no such image" in missing.stderr, missing.stderr
    assert not any(tmp_path.iterdir())  # refused before any work

    first = bh.run_bench(tmp_path, *args, "--image", second_tag, "--run-id", "imaged")
    assert first.returncode == 0, first.stdout + first.stderr
    (played,) = _results(tmp_path / "imaged")
    assert played.final.graded and played.spec is not None
    assert played.spec.image == second_tag and played.sandbox.image == second_tag
    assert json.loads((tmp_path / "imaged" / "run.json").read_text())["image"] == second_tag

    # the same run id without the image: refused, nothing of the imaged run handed back
    refused = bh.run_bench(tmp_path, *args, "--run-id", "imaged")
    assert refused.returncode == 1 and "holds another bench" in refused.stderr, refused.stderr
    assert len(_results(tmp_path / "imaged")) == 1

    # without the image and without a run id: its own run, played on the runtime image
    default = bh.run_bench(tmp_path, *args)
    assert default.returncode == 0, default.stdout + default.stderr
    assert "0 finished earlier" in default.stderr
    (other_run,) = [p for p in tmp_path.iterdir() if p.name != "imaged"]
    (on_runtime,) = _results(other_run)
    assert on_runtime.spec is not None and on_runtime.spec.image is None
    assert on_runtime.sandbox.image == image_tag() and on_runtime.key != played.key

    # the imaged bench again: its finished episode is found, not played again
    again = bh.run_bench(tmp_path, *args, "--image", second_tag, "--run-id", "imaged")
    assert again.returncode == 0 and "1 finished earlier (skipped)" in again.stderr
    assert [r.finished_at for r in _results(tmp_path / "imaged")] == [played.finished_at]
