"""Extended runtime images (`mledojo image extend`): hashed like the runtime image, built
offline, selectable per episode and recorded in `result.json` and `run.json` (issue 18)."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest

from mledojo.artifacts import EpisodeResult
from mledojo.errors import ImageBuildError, SandboxError
from mledojo.sandbox import extend
from mledojo.sandbox.image import list_images, remove_images

PROBE = "mledojo_probe_pkg"

AGENT = f"""
from typing import Any, ClassVar
from mledojo.agent import Agent

CODE = '''
import json, os, pandas as pd, {PROBE}
print(json.dumps({{"magic": {PROBE}.MAGIC, "file": {PROBE}.__file__}}))
sub = pd.read_csv(os.environ["MLEDOJO_DATA"] + "/sample_submission.csv")
sub.to_csv("submission.csv", index=False)
'''

class UsesTheProbe(Agent):
    name: ClassVar[str] = "uses-the-probe"
    def act(self, observation: dict[str, Any]) -> dict[str, Any]:
        if observation["steps_left"] > 1:
            return {{"action": "execute_code", "code": CODE}}
        return {{"action": "submit"}}
"""


def make_wheel(folder: Path, magic: str, version: str = "0.1.0") -> Path:
    """A pure-Python wheel written by hand (no build tool, no network): one module whose
    `MAGIC` is `magic`, with the dist-info files an installer needs."""
    folder.mkdir(parents=True, exist_ok=True)
    dist = f"{PROBE}-{version}"
    files = {
        f"{PROBE}/__init__.py": f"MAGIC = {magic!r}\n".encode(),
        f"{dist}.dist-info/METADATA": (
            f"Metadata-Version: 2.1\nName: {PROBE.replace('_', '-')}\nVersion: {version}\n"
        ).encode(),
        f"{dist}.dist-info/WHEEL": (
            b"Wheel-Version: 1.0\nGenerator: mledojo-tests\nRoot-Is-Purelib: true\n"
            b"Tag: py3-none-any\n"
        ),
    }
    record = []
    for name, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{name},sha256={digest},{len(data)}")
    record.append(f"{dist}.dist-info/RECORD,,")
    files[f"{dist}.dist-info/RECORD"] = ("\n".join(record) + "\n").encode()
    wheel = folder / f"{dist}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return wheel


def test_hash_covers_base_requirements_and_wheel_contents(tmp_path: Path) -> None:
    wheel = make_wheel(tmp_path / "a", "one")
    same = make_wheel(tmp_path / "b", "one")
    other = make_wheel(tmp_path / "c", "two")
    first = extend.extension_hash("mledojo-runtime:aaa", None, [wheel])
    assert first == extend.extension_hash("mledojo-runtime:aaa", None, [same])  # content, not path
    assert first != extend.extension_hash("mledojo-runtime:bbb", None, [wheel])
    assert first != extend.extension_hash("mledojo-runtime:aaa", None, [other])
    assert first != extend.extension_hash("mledojo-runtime:aaa", "torch==2.0\n", [wheel])


def test_nothing_to_add_is_refused_with_the_options(tmp_path: Path) -> None:
    with pytest.raises(ImageBuildError, match="--wheels DIR"):
        extend.extend_image()
    (tmp_path / "empty").mkdir()
    with pytest.raises(ImageBuildError, match=r"no \*\.whl"):
        extend.extend_image(wheels=tmp_path / "empty")
    with pytest.raises(ImageBuildError, match="does not exist"):
        extend.extend_image(requirements=tmp_path / "missing.txt")


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mledojo.cli", *args],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, **(env or {})},
    )


@pytest.mark.docker
@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_an_episode_imports_a_package_of_an_extended_image(
    runtime_image: str, docker_client: Any, tmp_path: Path
) -> None:
    magic = secrets.token_hex(8)  # a fresh package: the build really runs
    make_wheel(tmp_path / "wheels", magic)
    built = _cli("image", "extend", "--wheels", str(tmp_path / "wheels"))
    assert built.returncode == 0, built.stderr
    tag = built.stdout.strip()
    try:
        assert tag.startswith(f"{extend.EXTENDED_REPOSITORY}:")
        again = extend.extend_image(wheels=tmp_path / "wheels")
        assert again.tag == tag and again.reused
        listed = {i.tag: i for i in list_images()}
        assert listed[tag].kind == "extended" and listed[tag].base == runtime_image
        assert docker_client.images.get(tag).attrs["Config"]["User"] == "1000:1000"

        agent = tmp_path / "agent.py"
        agent.write_text(AGENT)
        runs = tmp_path / "runs"
        args = ["run", "pump-failure", "--agent", str(agent), "--sandbox", "docker"]
        args += ["--image", tag, "--max-steps", "2", "--run-id", "r", "--json"]
        res = _cli(*args, env={"MLEDOJO_RUNS_DIR": str(runs)})
        assert res.returncode == 0, res.stderr[-3000:]
        folder = Path(json.loads(res.stdout)["run_dir"])
        result = EpisodeResult.load(folder / "result.json")
        assert result.status == "completed" and result.final.graded
        step = json.loads((folder / "trajectory.jsonl").read_text().splitlines()[1])
        seen = json.loads(step["obs"]["stdout"].splitlines()[0])
        assert seen["magic"] == magic and seen["file"].startswith("/opt/venv/")
        assert result.sandbox.image == tag
        assert result.sandbox_versions["mledojo-probe-pkg"] == "0.1.0"
        assert result.sandbox_versions["numpy"] == listed_numpy(runtime_image, docker_client)
        assert json.loads((runs / "r" / "run.json").read_text())["image"] == tag
    finally:
        remove = [i.tag for i in list_images() if i.tag == tag]
        for name in remove:
            docker_client.images.remove(name, force=True)


def _flat(text: str) -> str:
    """A message as one line, without the CLI's box drawing."""
    return " ".join(text.replace("│", " ").split())


def listed_numpy(image: str, client: Any) -> str:
    """numpy's version in `image`, as its own Python says."""
    out = client.containers.run(
        image,
        ["python", "-c", "import numpy; print(numpy.__version__)"],
        remove=True,
        network_disabled=True,
    )
    return str(out.decode().strip())


@pytest.mark.docker
def test_an_extended_image_of_another_runtime_image_is_refused(
    runtime_image: str, docker_client: Any
) -> None:
    """Its runner would speak another protocol: say so before the episode starts."""
    from mledojo.sandbox.docker import DockerSandbox

    tag = f"{extend.EXTENDED_REPOSITORY}:stale{secrets.token_hex(3)}"
    container = docker_client.containers.create(runtime_image, ["true"])
    try:
        repository, _, version = tag.partition(":")
        container.commit(
            repository=repository,
            tag=version,
            changes=[
                f"LABEL mledojo.image={extend.EXTENDED_KIND}",
                "LABEL mledojo.base=mledojo-runtime:000000000000",
            ],
        )
    finally:
        container.remove(force=True)
    try:
        with pytest.raises(SandboxError, match="mledojo image extend"):
            DockerSandbox(image=tag).prepare()
        refused = _cli("run", "pump-failure", "--sandbox", "docker", "--image", tag)
        assert refused.returncode == 2 and "mledojo image extend" in _flat(refused.stderr)
        missing = _cli("run", "pump-failure", "--sandbox", "docker", "--image", "nope:1")
        assert missing.returncode == 2 and "mledojo image list" in _flat(missing.stderr)
        assert tag in remove_images(keep_current=True)
    finally:
        if tag in {i.tag for i in list_images()}:
            docker_client.images.remove(tag, force=True)
