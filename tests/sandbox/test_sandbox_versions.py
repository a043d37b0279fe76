"""The versions where the agent's code runs: reported by the in-sandbox runner at start,
validated on the host, recorded in `result.json` next to the host's (issue 18)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import mledojo
from mledojo.artifacts import EpisodeResult
from mledojo.sandbox import _runner
from mledojo.sandbox.docker import DockerSandbox
from mledojo.sandbox.image import image_tag
from mledojo.sandbox.protocol import runner_versions
from mledojo.spec import Resources

RUNNER = Path(_runner.__file__)
FACTS = (
    "import json, sys, numpy, pandas, sklearn\n"
    "print(json.dumps({'python': '.'.join(map(str, sys.version_info[:3])),"
    " 'numpy': numpy.__version__, 'pandas': pandas.__version__,"
    " 'scikit-learn': sklearn.__version__}))\n"
)


def test_hostile_versions_are_capped_and_filtered() -> None:
    """A runner's `versions` may not smuggle long strings, markup or unbounded entries."""
    flood = {f"pkg{i}": "1.0" for i in range(50_000)}
    assert len(runner_versions(flood)) == _runner.MAX_VERSIONS
    sent = {
        "numpy": "2.4.6",
        "python": "3.11.2",
        "long": "1" * (_runner.MAX_VERSION_CHARS + 1),
        "x" * (_runner.MAX_VERSION_NAME_CHARS + 1): "1.0",
        "evil": "1.0\n<script>",
        "Upper": "1.0",
        "../etc": "1.0",
        "number": 3,
        "": "1.0",
    }
    assert runner_versions(sent) == {"numpy": "2.4.6", "python": "3.11.2"}
    for not_a_mapping in (None, [["numpy", "1"]], "numpy==1", 3):
        assert runner_versions(not_a_mapping) == {}


def test_runner_reads_versions_from_dist_info_names(tmp_path: Path) -> None:
    """Names are normalised, egg-info counts, the first on `sys.path` wins, nothing is
    imported (the fake distributions have no code)."""
    first, second = tmp_path / "first", tmp_path / "second"
    for folder in ("first/Foo_Bar-1.2.3.dist-info", "second/foo_bar-9.dist-info"):
        (tmp_path / folder).mkdir(parents=True)
    (second / "legacy-0.5-py3.11.egg-info").mkdir()
    (second / "not-a-distribution.txt").write_text("x")
    code = (
        "import json, sys; sys.path[:0] = sys.argv[1:3]; sys.path.insert(0, sys.argv[3]);"
        "import _runner; print(json.dumps(_runner.installed_versions()))"
    )
    out = subprocess.run(
        [sys.executable, "-I", "-c", code, str(first), str(second), str(RUNNER.parent)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    found = json.loads(out)
    assert found["foo-bar"] == "1.2.3" and found["legacy"] == "0.5"
    assert found["python"] == ".".join(map(str, sys.version_info[:3]))
    assert "not-a-distribution.txt" not in json.dumps(found)


@pytest.mark.docker
def test_docker_sandbox_reports_the_containers_versions(runtime_image: str, tmp_path: Path) -> None:
    """What the sandbox reports is what the agent's code imports in the container."""
    data, ws = tmp_path / "data", tmp_path / "ws"
    data.mkdir()
    box = DockerSandbox(image=runtime_image)
    box.start(data_dir=data, workspace=ws, resources=Resources(), labels={})
    try:
        seen = json.loads(box.exec(FACTS, timeout_s=60).stdout)
        reported = dict(box.runtime_versions)
        assert box.image == runtime_image
    finally:
        box.stop()
    assert {k: reported.get(k) for k in seen} == seen
    assert "lightgbm" in reported and "xgboost-cpu" in reported
    assert "gymnasium" not in reported and "mledojo" not in reported  # host-only packages


@pytest.mark.docker
@pytest.mark.slow
def test_result_json_records_the_sandbox_versions_and_image(
    runtime_image: str, tmp_path: Path
) -> None:
    env = mledojo.make(
        "pump-failure", sandbox="docker", runs_dir=tmp_path / "runs", budget={"max_steps": 2}
    )
    try:
        env.reset(seed=0)
        obs, *_ = env.step({"action": "execute_code", "code": FACTS})
        folder = env.run_folder
    finally:
        env.close()
    seen = json.loads(obs["stdout"])
    result = EpisodeResult.load(folder / "result.json")
    assert {k: result.sandbox_versions.get(k) for k in seen} == seen
    assert result.sandbox.image == runtime_image == image_tag()
    assert result.versions["mledojo"] != "not installed"  # the host's, still beside them
    run_json = json.loads((folder.parents[2] / "run.json").read_text())
    assert run_json["image"] == runtime_image  # it was null for an env made by `make`
