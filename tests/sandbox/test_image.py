"""Tests of the runtime image: the content hash (no Docker), the no-op rebuild, the real image.

Tests marked `docker` skip without a Docker daemon, and fail instead when
MLEDOJO_REQUIRE_DOCKER=1 (as in CI).
"""

from __future__ import annotations

import io
import os
import re
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mledojo.errors import DockerUnavailableError
from mledojo.sandbox import image as img
from mledojo.sandbox.engine import docker_client as connect_docker

TAG_PATTERN = re.compile(r"^mledojo-runtime:[0-9a-f]{12}$")


# --------------------------------------------------------------------------- helpers


def _inputs(root: Path, runner: str = "print('runner')\n") -> img.BuildInputs:
    """A small, complete set of build inputs under `root`."""
    runtime = root / "runtime"
    runtime.mkdir(parents=True, exist_ok=True)
    (runtime / "requirements.txt").write_text("numpy==2.4.6\n")
    (runtime / "install.sh").write_text("#!/bin/sh\n")
    tools = root / "tools"
    tools.mkdir(exist_ok=True)
    (tools / "__init__.py").write_text("")
    (tools / "registry.py").write_text("TOOLS = {}\n")
    (root / "_runner.py").write_text(runner)
    return img.BuildInputs(runner=root / "_runner.py", tools_dir=tools, runtime_dir=runtime)


@pytest.fixture
def docker_client() -> Iterator[Any]:
    """A live Docker client; skip without one, or fail when MLEDOJO_REQUIRE_DOCKER=1."""
    try:
        client = connect_docker(timeout=img.BUILD_TIMEOUT_S)
    except DockerUnavailableError as exc:
        if os.environ.get("MLEDOJO_REQUIRE_DOCKER") == "1":
            pytest.fail(f"MLEDOJO_REQUIRE_DOCKER=1 but Docker is unavailable: {exc}")
        pytest.skip(f"Docker unavailable: {exc}")
    yield client
    client.close()


# --------------------------------------------------------------------------- hashing


def test_hash_is_stable_for_the_same_inputs(tmp_path: Path) -> None:
    inputs = _inputs(tmp_path)
    first = img.content_hash(inputs)
    assert first == img.content_hash(inputs)
    assert re.fullmatch(r"[0-9a-f]{12}", first)
    # A copy of the same files elsewhere gives the same hash: paths are relative.
    assert img.content_hash(_inputs(tmp_path / "copy")) == first


def test_hash_changes_with_the_runner(tmp_path: Path) -> None:
    inputs = _inputs(tmp_path)
    before = img.image_tag(inputs)
    inputs.runner.write_text("print('runner v2')\n")
    after = img.image_tag(inputs)
    assert TAG_PATTERN.match(before) and TAG_PATTERN.match(after)
    assert before != after


def test_hash_changes_with_tools_and_requirements(tmp_path: Path) -> None:
    inputs = _inputs(tmp_path)
    base = img.content_hash(inputs)
    (inputs.tools_dir / "new_tool.py").write_text("def f(args): return {}\n")
    with_tool = img.content_hash(inputs)
    assert with_tool != base
    inputs.requirements.write_text("numpy==2.4.5\n")
    assert img.content_hash(inputs) not in {base, with_tool}


def test_hash_ignores_byte_code_caches(tmp_path: Path) -> None:
    inputs = _inputs(tmp_path)
    base = img.content_hash(inputs)
    cache = inputs.tools_dir / "__pycache__"
    cache.mkdir()
    (cache / "registry.cpython-311.pyc").write_bytes(b"\x00junk")
    assert img.content_hash(inputs) == base


def test_missing_runner_is_skipped_in_the_hash(tmp_path: Path) -> None:
    inputs = _inputs(tmp_path)
    with_runner = img.content_hash(inputs)
    inputs.runner.unlink()
    assert img.content_hash(inputs) != with_runner


def test_current_tag_has_the_expected_form() -> None:
    assert TAG_PATTERN.match(img.image_tag())


# --------------------------------------------------------------------------- recipe files


def test_requirements_are_pinned_and_cpu_only() -> None:
    lines = [
        line.strip()
        for line in img.BuildInputs.default().requirements.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    names = {line.split("==")[0].lower() for line in lines}
    assert all("==" in line for line in lines), "every requirement must be pinned"
    assert {"numpy", "pandas", "scipy", "scikit-learn", "xgboost-cpu", "lightgbm"} <= names
    assert "xgboost" not in names, "use xgboost-cpu: xgboost pulls a large GPU (NCCL) wheel"


def test_online_dockerfile_sets_the_same_environment() -> None:
    dockerfile = (img.BuildInputs.default().runtime_dir / "Dockerfile").read_text()
    env_block = dockerfile.split("ENV ", 1)[1].split("\nUSER", 1)[0]
    pairs = dict(
        item.strip().rstrip("\\").strip().split("=", 1)
        for item in env_block.splitlines()
        if "=" in item
    )
    assert pairs == img.RUNTIME_ENV
    assert f"USER {img.RUNTIME_USER}" in dockerfile
    assert f"WORKDIR {img.RUNTIME_WORKDIR}" in dockerfile


def test_apt_sources_parsing(tmp_path: Path) -> None:
    etc = tmp_path / "apt"
    (etc / "sources.list.d").mkdir(parents=True)
    (etc / "sources.list").write_text(
        "# comment\ndeb [arch=amd64 signed-by=/k.gpg] http://one.example/debian bookworm main\n"
        "deb-src http://src.example/debian bookworm main\n"
    )
    (etc / "sources.list.d" / "debian.sources").write_text(
        "Types: deb\n# a comment line\nURIs: http://two.example/debian\n"
        "Suites: bookworm bookworm-updates\nComponents: main\n\n"
        "Types: deb\nURIs: http://three.example/other\nSuites: nodistro\nComponents: main\n"
    )
    sources = list(img._apt_sources(etc))
    assert ("http://one.example/debian", ["bookworm"]) in sources
    assert ("http://two.example/debian", ["bookworm", "bookworm-updates"]) in sources
    assert ("http://three.example/other", ["nodistro"]) in sources
    assert all("src.example" not in uri for uri, _ in sources)


def test_platform_tags_cover_manylinux2014_and_the_image_glibc() -> None:
    tags = img._platform_tags("amd64")
    assert "manylinux2014_x86_64" in tags and "manylinux_2_36_x86_64" in tags
    assert all(tag.endswith("_aarch64") for tag in img._platform_tags("aarch64"))


# --------------------------------------------------------------------------- with Docker


def _tiny_image(client: Any, tag: str) -> None:
    """Tag a one-file image built from scratch (no registry needed) as `tag`."""
    context = io.BytesIO()
    with tarfile.open(fileobj=context, mode="w") as tar:
        for name, data in (
            ("Dockerfile", b"FROM scratch\nCOPY marker /marker\n"),
            ("marker", b"x"),
        ):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    context.seek(0)
    client.images.build(
        fileobj=context, custom_context=True, tag=tag, labels={img.LABEL_KIND: "test"}, rm=True
    )


@pytest.mark.docker
def test_build_is_a_noop_when_the_tag_exists(docker_client: Any, tmp_path: Path) -> None:
    inputs = _inputs(tmp_path, runner=f"# unique {time.time_ns()}\n")
    tag = img.image_tag(inputs)
    _tiny_image(docker_client, tag)
    try:
        report = img.build_image("offline", inputs=inputs)
    finally:
        docker_client.images.remove(tag, force=True)
    assert report.reused is True
    assert report.tag == tag


@pytest.mark.docker
@pytest.mark.timeout(1800)
def test_runtime_image_imports_the_stack_as_non_root(docker_client: Any) -> None:
    tag = img.image_tag()
    report = img.build_image()  # a no-op when the current image exists
    assert report.tag == tag
    again = img.build_image()
    assert again.reused is True and again.seconds < 5

    script = (
        "import os, numpy, pandas, sklearn, xgboost, lightgbm, scipy;"
        "print(os.getuid(), os.getcwd(), numpy.__version__, sklearn.__version__)"
    )
    output = docker_client.containers.run(
        report.tag,
        ["python", "-c", script],
        network_mode="none",
        read_only=True,
        tmpfs={"/tmp": ""},
        remove=True,
    )
    uid, cwd, *_ = output.decode().split()
    assert uid == "1000"
    assert cwd == "/workspace"

    image = docker_client.images.get(report.tag)
    assert image.labels[img.LABEL_KIND] == "runtime"
    assert image.labels[img.LABEL_HASH] == report.tag.split(":", 1)[1]
    files = docker_client.containers.run(
        report.tag, ["ls", "/opt/mledojo"], network_mode="none", remove=True
    )
    assert "runner.py" in files.decode().split()
