"""The runtime image: the Docker image every episode's container runs.

The image holds Python 3.11, the scientific stack pinned in `runtime/requirements.txt`,
the in-container runner (`mledojo/sandbox/_runner.py` -> `/opt/mledojo/runner.py`) and the
trusted tools (`mledojo/tools/` -> `/opt/mledojo/tools/`), a non-root user `agent`
(uid 1000), and the mount points `/workspace` and `/data`.

Its tag is `mledojo-runtime:<hash>`, where the hash covers every input of the build, so
building is a no-op when nothing changed and a change to the runner or a tool rebuilds.

Two ways to build it:

* online: `FROM python:3.11-slim` through `runtime/Dockerfile`, packages from the index;
  needs an image registry.
* offline: `debootstrap` a minimal Debian root file system from the host's apt mirror,
  `docker import` it, and install wheels downloaded on the host; needs no registry, only
  the Debian mirror and the package index that the host itself uses.

Run `python -m mledojo.sandbox.image` to build and print the report.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import json
import logging
import os
import platform
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, cast

from pydantic import BaseModel, ConfigDict

from mledojo.errors import DockerUnavailableError, ImageBuildError
from mledojo.sandbox import cleanup
from mledojo.sandbox.engine import docker_client
from mledojo.spec import RUNTIME_REPOSITORY

log = logging.getLogger(__name__)

# Bump when the way the image is built changes in a way the hashed files do not show.
BUILD_METHOD_VERSION = "1"
PYTHON_VERSION = "3.11"
DEBIAN_SUITE = "bookworm"
# Debian bookworm's python3 is 3.11; libgomp1 is the OpenMP runtime lightgbm links to; git
# keeps the hill-climbing agent's commits inside the sandbox (never on the host).
DEBOOTSTRAP_INCLUDE = (
    "python3",
    "python3-venv",
    "libgomp1",
    "passwd",
    "ca-certificates",
    "git",
)
ONLINE_BASE = "python:3.11-slim"
# Docker API timeout (s) while building: imports and commits of big layers are slow.
BUILD_TIMEOUT_S = 600

IMAGE_REPOSITORY = RUNTIME_REPOSITORY
BASE_REPOSITORY = "mledojo-base"
LABEL_KIND = "mledojo.image"
LABEL_HASH = "mledojo.hash"
LABEL_METHOD = "mledojo.method"
LABEL_BASE = "mledojo.base"
IMAGE_KINDS = ("extended", "runtime", "base")  # LABEL_KIND values; extended: extend.py

RUNTIME_USER = "1000:1000"
RUNTIME_WORKDIR = "/workspace"
RUNTIME_CMD = ("python",)
# Thread pools default to 2: the usual per-episode CPU limit. A sandbox with another
# limit should pass its own values at exec time.
RUNTIME_ENV: dict[str, str] = {
    "PATH": "/opt/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "LANG": "C.UTF-8",
    "HOME": "/home/agent",
    "PYTHONDONTWRITEBYTECODE": "1",
    "PYTHONUNBUFFERED": "1",
    "OMP_NUM_THREADS": "2",
    "OPENBLAS_NUM_THREADS": "2",
    "MKL_NUM_THREADS": "2",
    "MLEDOJO_RUNNER": "/opt/mledojo/runner.py",
    "MLEDOJO_TOOLS_DIR": "/opt/mledojo/tools",
}

STAGE_DIR = "/tmp/mledojo-build"  # where the offline build unpacks its context
_PACKAGE_DIR = Path(__file__).resolve().parent
_SKIPPED_NAMES = {"__pycache__", ".mypy_cache", ".pytest_cache", ".ruff_cache"}

Method = Literal["auto", "online", "offline"]
Progress = Callable[[str], None]


class BuildReport(BaseModel):
    """What `build_image` did: which image, how, how big, how long."""

    model_config = ConfigDict(frozen=True)

    tag: str
    method: Literal["online", "offline"]
    size_bytes: int
    seconds: float
    reused: bool

    def summary(self) -> str:
        """One human line, e.g. for the CLI."""
        verb = "reused" if self.reused else f"built ({self.method})"
        return f"{self.tag}: {verb}, {self.size_bytes / 1e6:.0f} MB, {self.seconds:.1f} s"


@dataclass(frozen=True)
class BuildInputs:
    """The files an image is built from; tests point these at temporary copies."""

    runner: Path
    tools_dir: Path
    runtime_dir: Path

    @classmethod
    def default(cls) -> BuildInputs:
        """The files of this installed mledojo package."""
        return cls(
            runner=_PACKAGE_DIR / "_runner.py",
            tools_dir=_PACKAGE_DIR.parent / "tools",
            runtime_dir=_PACKAGE_DIR / "runtime",
        )

    @property
    def requirements(self) -> Path:
        """The pinned requirement list."""
        return self.runtime_dir / "requirements.txt"


# --------------------------------------------------------------------------- hashing


def _tree_files(root: Path) -> list[Path]:
    """Regular files under `root`, sorted, without caches and byte code."""
    if not root.is_dir():
        return []
    found: list[Path] = []
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if any(part in _SKIPPED_NAMES for part in rel.parts) or path.suffix == ".pyc":
            continue
        if path.is_file():
            found.append(path)
    return found


def _recipe() -> dict[str, Any]:
    """The build settings that live in this module rather than in a hashed file."""
    return {
        "build_method_version": BUILD_METHOD_VERSION,
        "python": PYTHON_VERSION,
        "suite": DEBIAN_SUITE,
        "include": list(DEBOOTSTRAP_INCLUDE),
        "env": RUNTIME_ENV,
        "user": RUNTIME_USER,
        "workdir": RUNTIME_WORKDIR,
        "cmd": list(RUNTIME_CMD),
    }


def _hash_entries(inputs: BuildInputs) -> Iterator[tuple[str, bytes]]:
    """(name, content) for every input of the build, in a fixed order."""
    yield "recipe", json.dumps(_recipe(), sort_keys=True).encode()
    for path in _tree_files(inputs.runtime_dir):
        yield f"runtime/{path.relative_to(inputs.runtime_dir).as_posix()}", path.read_bytes()
    if inputs.runner.is_file():
        yield "runner.py", inputs.runner.read_bytes()
    for path in _tree_files(inputs.tools_dir):
        yield f"tools/{path.relative_to(inputs.tools_dir).as_posix()}", path.read_bytes()


def content_hash(inputs: BuildInputs | None = None) -> str:
    """First 12 hex digits of a sha256 over every input of the build.

    Names and contents are length-prefixed so that moving bytes between files changes
    the hash. A missing runner is skipped here (the build itself requires it).
    """
    digest = hashlib.sha256()
    for name, content in _hash_entries(inputs or BuildInputs.default()):
        for part in (name.encode(), content):
            digest.update(len(part).to_bytes(8, "big"))
            digest.update(part)
    return digest.hexdigest()[:12]


def image_tag(inputs: BuildInputs | None = None) -> str:
    """`mledojo-runtime:<hash>` for the current sources."""
    return f"{IMAGE_REPOSITORY}:{content_hash(inputs)}"


# --------------------------------------------------------------------------- docker


def _find_image(client: Any, tag: str) -> Any | None:
    """The image with this tag, or None."""
    from docker.errors import ImageNotFound

    try:
        return client.images.get(tag)
    except ImageNotFound:
        return None


def _report_for(image: Any, tag: str, started: float, reused: bool) -> BuildReport:
    """A `BuildReport` for an image that exists."""
    labels = image.labels or {}
    method: Literal["online", "offline"] = (
        "online" if labels.get(LABEL_METHOD) == "online" else "offline"
    )
    return BuildReport(
        tag=tag,
        method=method,
        size_bytes=int(image.attrs.get("Size", 0)),
        seconds=round(time.monotonic() - started, 3),
        reused=reused,
    )


def _labels(content: str, method: str, base: str) -> dict[str, str]:
    """The labels every runtime image carries, for lookup and cleanup."""
    return {
        LABEL_KIND: "runtime",
        LABEL_HASH: content,
        LABEL_METHOD: method,
        LABEL_BASE: base,
    }


def _cache_root() -> Path:
    """Where downloads and root file systems are kept between builds."""
    override = os.environ.get("MLEDOJO_CACHE_DIR")
    if override:
        return Path(override) / "runtime-image"
    import platformdirs

    return Path(platformdirs.user_cache_dir("mledojo")) / "runtime-image"


def _say(progress: Progress | None, message: str) -> None:
    """Log a step and pass it to the caller's progress callback."""
    log.info(message)
    if progress is not None:
        progress(message)


# --------------------------------------------------------------------------- public API


def build_image(
    method: Method = "auto",
    *,
    force: bool = False,
    progress: Progress | None = None,
    inputs: BuildInputs | None = None,
) -> BuildReport:
    """Build the runtime image unless an image with the current tag exists.

    `auto` builds online when the base image is local or a registry answers, and offline
    otherwise (also when the online build fails). `force` rebuilds an existing tag.
    Raises `DockerUnavailableError` without Docker and `ImageBuildError` when a step fails.
    """
    started = time.monotonic()
    inputs = inputs or BuildInputs.default()
    content = content_hash(inputs)
    tag = f"{IMAGE_REPOSITORY}:{content}"
    client = docker_client(timeout=BUILD_TIMEOUT_S)
    existing = _find_image(client, tag)
    if existing is not None and not force:
        return _report_for(existing, tag, started, reused=True)
    if not inputs.runner.is_file():
        raise ImageBuildError(
            f"The in-container runner {inputs.runner} is missing; the image cannot be built "
            "without it. Reinstall mledojo or restore the file."
        )

    from filelock import FileLock

    cache = _cache_root()
    cache.mkdir(parents=True, exist_ok=True)
    with FileLock(str(cache / "build.lock")):
        existing = _find_image(client, tag)  # another process may have built it meanwhile
        if existing is not None and not force:
            return _report_for(existing, tag, started, reused=True)
        _build(client, method, inputs, content, cache, progress)
    image = client.images.get(tag)
    return _report_for(image, tag, started, reused=False)


def remove_images(keep_current: bool) -> list[str]:
    """Remove mledojo runtime images, extended ones and unused imported bases; return what
    was removed.

    With `keep_current`, the image of the current sources, its base and the extended images
    built on it stay (an extended image of an older runtime image cannot run: its runner
    speaks another protocol). An image still used by a container is left alone.
    """
    from docker.errors import APIError

    client = docker_client(timeout=BUILD_TIMEOUT_S)
    keep: set[str] = set()
    if keep_current:
        current = _find_image(client, image_tag())
        bases = [(current.labels or {}).get(LABEL_BASE, "")] if current is not None else []
        with contextlib.suppress(ImageBuildError):  # the base the next offline build uses
            bases.append(_base_tag(apt_mirror(), str(client.info().get("Architecture", ""))))
        for image in [current, *(_find_image(client, base) for base in bases if base)]:
            if image is not None:
                keep.add(image.id)
    current_tag = image_tag()
    removed: list[str] = []
    for kind in IMAGE_KINDS:  # the top layers first: extended on runtime on base images
        for image in client.images.list(filters={"label": f"{LABEL_KIND}={kind}"}):
            labels = image.labels or {}
            if image.id in keep or (
                keep_current and kind == "extended" and labels.get(LABEL_BASE) == current_tag
            ):
                continue
            for name in list(image.tags) or [image.id]:  # by tag: an id with 2 tags fails
                try:
                    client.images.remove(name, force=False)
                except APIError as exc:
                    log.warning("kept %s: %s", name, exc)
                    continue
                removed.append(name)
    return removed


class ImageInfo(BaseModel):
    """One image mledojo built: its tag, kind (runtime, extended or base), size, whether it
    is the image of the current sources, and what it was built on (extended images: the
    runtime image; episodes can use one only while that is the current one)."""

    tag: str
    kind: str
    size_mb: int
    created: str
    current: bool
    base: str = ""


def list_images() -> list[ImageInfo]:
    """The runtime, extended and base images on this engine, newest first."""
    client = docker_client(timeout=BUILD_TIMEOUT_S)
    current = image_tag()
    found = []
    for kind in IMAGE_KINDS:
        for image in client.images.list(filters={"label": f"{LABEL_KIND}={kind}"}):
            for tag in list(image.tags) or [image.short_id]:
                found.append(
                    ImageInfo(
                        tag=tag,
                        kind=kind,
                        size_mb=int(image.attrs.get("Size", 0)) // 2**20,
                        created=str(image.attrs.get("Created", ""))[:19],
                        current=tag == current,
                        base=(image.labels or {}).get(LABEL_BASE, "") if kind != "base" else "",
                    )
                )
    return sorted(found, key=lambda i: i.created, reverse=True)


# --------------------------------------------------------------------------- build paths


def _build(
    client: Any,
    method: Method,
    inputs: BuildInputs,
    content: str,
    cache: Path,
    progress: Progress | None,
) -> None:
    """Dispatch to a build path (the image's label records which one ran)."""
    if method == "online" or (method == "auto" and _registry_reachable(client, progress)):
        try:
            _build_online(client, inputs, content, progress)
            return
        except ImageBuildError as exc:
            if method == "online":
                raise
            _say(progress, f"online build failed ({exc}); building offline instead")
    _build_offline(client, inputs, content, cache, progress)


def _registry_reachable(client: Any, progress: Progress | None) -> bool:
    """True when the online base image is local or a registry describes it quickly."""
    from docker.errors import DockerException

    if _find_image(client, ONLINE_BASE) is not None:
        return True
    quick = docker_client(timeout=15)
    try:
        quick.api.inspect_distribution(ONLINE_BASE)
    except (DockerException, OSError) as exc:
        _say(progress, f"no image registry reachable ({type(exc).__name__}); building offline")
        return False
    finally:
        quick.close()
    return True


def _stage_context(inputs: BuildInputs, dest: Path) -> None:
    """Copy runtime files, the runner and the tools into a build context folder."""
    dest.mkdir(parents=True, exist_ok=True)
    for path in _tree_files(inputs.runtime_dir):
        target = dest / path.relative_to(inputs.runtime_dir)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target)
    shutil.copy2(inputs.runner, dest / "runner.py")
    tools = _tree_files(inputs.tools_dir)
    for path in tools:
        target = dest / "tools" / path.relative_to(inputs.tools_dir)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target)


def _build_online(
    client: Any, inputs: BuildInputs, content: str, progress: Progress | None
) -> None:
    """`docker build` of `runtime/Dockerfile` on `python:3.11-slim` (needs the network)."""
    from docker.errors import DockerException

    _say(progress, f"online build from {ONLINE_BASE}")
    with tempfile.TemporaryDirectory(prefix="mledojo-ctx-") as ctx:
        _stage_context(inputs, Path(ctx))
        try:
            stream = client.api.build(
                path=ctx,
                tag=f"{IMAGE_REPOSITORY}:{content}",
                labels=_labels(content, "online", ONLINE_BASE),
                buildargs={"BASE": ONLINE_BASE},
                rm=True,
                forcerm=True,
                decode=True,
            )
            for chunk in stream:
                if "error" in chunk:
                    raise ImageBuildError(str(chunk["error"]).strip())
                line = str(chunk.get("stream", "")).strip()
                if line:
                    _say(progress, line)
        except DockerException as exc:
            raise ImageBuildError(f"docker build failed: {exc}") from exc


def _build_offline(
    client: Any, inputs: BuildInputs, content: str, cache: Path, progress: Progress | None
) -> None:
    """debootstrap + `docker import` for the base, then host-downloaded wheels on top."""
    arch = str(client.info().get("Architecture") or platform.machine())
    base = _ensure_base(client, arch, cache, progress)
    wheels = download_wheels(inputs.requirements, arch, cache, progress)
    _say(progress, "installing the runtime into the base image")
    _install_and_commit(client, base, inputs, wheels, content, cache, progress)


# --------------------------------------------------------------------------- offline: base


def apt_mirror(suite: str = DEBIAN_SUITE) -> str:
    """The Debian mirror the host's apt uses for `suite` (MLEDOJO_DEBIAN_MIRROR overrides)."""
    override = os.environ.get("MLEDOJO_DEBIAN_MIRROR")
    if override:
        return override.rstrip("/")
    for uri, suites in _apt_sources(Path("/etc/apt")):
        if suite in suites:
            return uri.rstrip("/")
    raise ImageBuildError(
        f"No apt source for Debian {suite} in /etc/apt; set MLEDOJO_DEBIAN_MIRROR to a "
        "Debian mirror URL for the offline build, or build online."
    )


def _apt_sources(etc_apt: Path) -> Iterator[tuple[str, list[str]]]:
    """(URI, suites) of every `deb` source: deb822 `.sources` files and one-line lists."""
    files = [etc_apt / "sources.list", *sorted((etc_apt / "sources.list.d").glob("*"))]
    for path in files:
        if not path.is_file():
            continue
        text = path.read_text(errors="replace")
        if path.suffix == ".sources":
            yield from _parse_deb822(text)
        elif path.suffix == ".list" or path.name == "sources.list":
            yield from _parse_one_line(text)


def _parse_deb822(text: str) -> Iterator[tuple[str, list[str]]]:
    """Sources from deb822 stanzas (blank-line separated `Key: value` fields)."""
    for stanza in text.split("\n\n"):
        fields: dict[str, str] = {}
        for line in stanza.splitlines():
            if line.startswith("#") or ":" not in line or line[:1].isspace():
                continue
            key, value = line.split(":", 1)
            fields[key.strip().lower()] = value.strip()
        if "deb" in fields.get("types", "").split() and fields.get("enabled", "yes") != "no":
            for uri in fields.get("uris", "").split():
                yield uri, fields.get("suites", "").split()


def _parse_one_line(text: str) -> Iterator[tuple[str, list[str]]]:
    """Sources from `deb [options] URI suite components...` lines."""
    for raw in text.splitlines():
        words = raw.split("#", 1)[0].split()
        if not words or words[0] != "deb":
            continue
        words = words[1:]
        if words and words[0].startswith("["):
            while words and not words[0].endswith("]"):
                words = words[1:]
            words = words[1:]
        if len(words) >= 2:
            yield words[0], [words[1]]


def _debian_arch(arch: str) -> str:
    """Docker/uname machine name -> Debian architecture name."""
    return {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(
        arch, arch
    )


def _base_tag(mirror: str, arch: str) -> str:
    """`mledojo-base:<suite>-<key>`: one imported base per suite, mirror, arch and package set."""
    key_source = json.dumps([DEBIAN_SUITE, mirror, _debian_arch(arch), DEBOOTSTRAP_INCLUDE])
    key = hashlib.sha256(key_source.encode()).hexdigest()[:12]
    return f"{BASE_REPOSITORY}:{DEBIAN_SUITE}-{key}"


def _ensure_base(client: Any, arch: str, cache: Path, progress: Progress | None) -> str:
    """The imported Debian base image's tag, importing (and bootstrapping) when missing."""
    mirror = apt_mirror()
    tag = _base_tag(mirror, arch)
    key = tag.rsplit("-", 1)[1]
    if _find_image(client, tag) is not None:
        _say(progress, f"base image {tag} exists")
        return tag
    tarball = cache / f"rootfs-{DEBIAN_SUITE}-{key}.tar"
    if tarball.is_file():
        _say(progress, f"reusing cached root file system {tarball}")
    else:
        _debootstrap_tarball(mirror, _debian_arch(arch), tarball, progress)
    _say(progress, f"importing {tarball.name} as {tag}")
    repository, _, version = tag.partition(":")
    client.api.import_image_from_file(
        str(tarball),
        repository=repository,
        tag=version,
        changes=[f"LABEL {LABEL_KIND}=base", "ENV LANG=C.UTF-8", 'CMD ["/bin/sh"]'],
    )
    if _find_image(client, tag) is None:
        raise ImageBuildError(f"docker import of {tarball} did not create {tag}")
    return tag


def _debootstrap_tarball(mirror: str, arch: str, tarball: Path, progress: Progress | None) -> None:
    """Bootstrap a minimal Debian into a temporary folder and pack it into `tarball`."""
    if shutil.which("debootstrap") is None:
        raise ImageBuildError(
            "debootstrap is missing; the offline build needs it "
            "(`apt-get install debootstrap`, or run `bash scripts/ensure_docker.sh` as root)."
        )
    if os.geteuid() != 0:
        raise ImageBuildError("The offline build runs debootstrap, which needs root.")
    tarball.parent.mkdir(parents=True, exist_ok=True)
    logfile = tarball.with_suffix(".log")
    _say(progress, f"debootstrap {DEBIAN_SUITE} ({arch}) from {mirror}; log: {logfile}")
    work = Path(tempfile.mkdtemp(prefix="rootfs-", dir=tarball.parent))
    try:
        rootfs = work / "rootfs"
        command = [
            "debootstrap",
            "--variant=minbase",
            f"--arch={arch}",
            f"--include={','.join(DEBOOTSTRAP_INCLUDE)}",
            DEBIAN_SUITE,
            str(rootfs),
            mirror,
        ]
        _run_logged(command, logfile, "debootstrap")
        _slim_rootfs(rootfs)
        partial = work / "rootfs.tar"
        _run_logged(
            ["tar", "--numeric-owner", "--xattrs", "-C", str(rootfs), "-cf", str(partial), "."],
            logfile,
            "tar",
        )
        partial.replace(tarball)
    finally:
        _unmount_below(work)
        shutil.rmtree(work, ignore_errors=True)


def _run_logged(command: list[str], logfile: Path, what: str) -> None:
    """Run a host command, appending its output to `logfile`; raise with its tail on failure."""
    with logfile.open("ab") as out:
        out.write(f"$ {' '.join(command)}\n".encode())
        out.flush()
        result = subprocess.run(command, stdout=out, stderr=subprocess.STDOUT, check=False)
    if result.returncode != 0:
        tail = logfile.read_text(errors="replace").splitlines()[-15:]
        raise ImageBuildError(f"{what} failed (exit {result.returncode}):\n" + "\n".join(tail))


def _slim_rootfs(rootfs: Path) -> None:
    """Drop package caches, apt lists, manuals and docs (but keep copyright files)."""
    for pattern in ("var/cache/apt/archives/*.deb", "var/cache/apt/*.bin", "var/lib/apt/lists/*"):
        for path in rootfs.glob(pattern):
            if path.is_file():
                path.unlink()
    for folder in ("usr/share/man", "usr/share/info", "usr/share/locale", "usr/share/lintian"):
        target = rootfs / folder
        if target.is_dir():
            shutil.rmtree(target)
            target.mkdir()
    docs = rootfs / "usr/share/doc"
    for path in sorted(docs.rglob("*"), reverse=True) if docs.is_dir() else []:
        if path.is_file() and path.name != "copyright":
            path.unlink()
        elif path.is_dir() and not any(path.iterdir()):
            path.rmdir()


def _unmount_below(folder: Path) -> None:
    """Unmount anything a failed debootstrap left mounted inside `folder` (before rmtree)."""
    prefix = str(folder.resolve()) + "/"
    try:
        mounts = Path("/proc/mounts").read_text().splitlines()
    except OSError:
        return
    points = [line.split()[1] for line in mounts if len(line.split()) > 1]
    for point in sorted((p for p in points if p.startswith(prefix)), reverse=True):
        subprocess.run(["umount", "-l", point], check=False, capture_output=True)


# --------------------------------------------------------------------------- offline: wheels


def _platform_tags(arch: str) -> list[str]:
    """manylinux tags a Debian bookworm image (glibc 2.36) on `arch` can load."""
    machine = {"amd64": "x86_64", "arm64": "aarch64"}.get(arch, arch)
    tags = [f"manylinux_2_{minor}_{machine}" for minor in range(36, 16, -1)]
    return [*tags, f"manylinux2014_{machine}"]


def download_wheels(
    requirements: Path,
    arch: str,
    cache: Path,
    progress: Progress | None = None,
    *,
    find_links: Path | None = None,
    constraints: Path | None = None,
) -> Path:
    """Download binary wheels for the image's Python and platform on the host (cached).

    `find_links` is a folder of the user's own wheels pip may take too; `constraints` pins
    what is already in the image (an extended image must not change the runtime's pins).
    """
    extra = [str(file_digest(p)) for p in sorted(find_links.glob("*.whl"))] if find_links else []
    key_source = json.dumps(
        [requirements.read_text(), arch, PYTHON_VERSION, extra]
        + ([constraints.read_text()] if constraints else [])
    )
    key = hashlib.sha256(key_source.encode()).hexdigest()[:12]
    folder = cache / f"wheels-{key}"
    if (folder / ".complete").is_file():
        _say(progress, f"reusing cached wheels {folder}")
        return folder
    _say(progress, f"downloading wheels for cp{PYTHON_VERSION.replace('.', '')} {arch}")
    partial = Path(tempfile.mkdtemp(prefix="wheels-", dir=cache))
    command = [
        sys.executable, "-m", "pip", "download", "--disable-pip-version-check",
        "--only-binary=:all:", "--python-version", PYTHON_VERSION,
        "--implementation", "cp", "--abi", f"cp{PYTHON_VERSION.replace('.', '')}",
        "--abi", "abi3", "--abi", "none",
        *[arg for tag in _platform_tags(arch) for arg in ("--platform", tag)],
        "--dest", str(partial), "-r", str(requirements),
        *(["--find-links", str(find_links)] if find_links else []),
        *(["-c", str(constraints)] if constraints else []),
    ]  # fmt: skip
    try:
        _run_logged(command, partial / "pip-download.log", "pip download")
        (partial / ".complete").write_text("ok\n")
        shutil.rmtree(folder, ignore_errors=True)
        partial.rename(folder)
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return folder


def file_digest(path: Path) -> str:
    """`<name>:<sha256>` of a file: what a wheel contributes to a cache key or a hash."""
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return f"{path.name}:{digest.hexdigest()}"


# --------------------------------------------------------------------------- offline: install


def _context_tar(inputs: BuildInputs, wheels: Path, out: Path) -> None:
    """Pack runtime files, runner, tools and wheels under `mledojo-build/` into `out`."""
    name = Path(STAGE_DIR).name
    with tempfile.TemporaryDirectory(prefix="mledojo-ctx-") as ctx, tarfile.open(out, "w") as tar:
        _stage_context(inputs, Path(ctx))
        tar.add(ctx, arcname=name)
        for wheel in sorted(wheels.glob("*.whl")):
            tar.add(wheel, arcname=f"{name}/wheels/{wheel.name}")


def _commit_changes(content: str, base: str) -> list[str]:
    """Dockerfile instructions applied when committing the offline build container."""
    changes = [f"ENV {key}={value}" for key, value in RUNTIME_ENV.items()]
    changes += [f"LABEL {key}={value}" for key, value in _labels(content, "offline", base).items()]
    changes += [f"USER {RUNTIME_USER}", f"WORKDIR {RUNTIME_WORKDIR}"]
    changes.append(f"CMD {json.dumps(list(RUNTIME_CMD))}")
    return changes


def _install_and_commit(
    client: Any,
    base: str,
    inputs: BuildInputs,
    wheels: Path,
    content: str,
    cache: Path,
    progress: Progress | None,
) -> None:
    """Run `install.sh` in a container of `base` without network, then commit it."""
    repository, _, version = f"{IMAGE_REPOSITORY}:{content}".partition(":")
    run_offline_build(
        client,
        base,
        stage=STAGE_DIR,
        script="install.sh",
        write_context=lambda archive: _context_tar(inputs, wheels, archive),
        cache=cache,
        commit=(repository, version, _commit_changes(content, base)),
        environment={"PATH": RUNTIME_ENV["PATH"], "LANG": "C.UTF-8"},
    )


def run_offline_build(
    client: Any,
    base: str,
    *,
    stage: str,
    script: str,
    write_context: Callable[[Path], None],
    cache: Path,
    commit: tuple[str, str, list[str]],
    environment: dict[str, str] | None = None,
) -> None:
    """Run `script` of the context unpacked at `stage` as root in a network-less container
    of `base`, then commit it as `commit` = (repository, tag, Dockerfile changes).

    The context (a tar written by `write_context`) goes in with `put_archive` and the
    script deletes it before the commit, so the wheels never reach a layer (a Dockerfile
    `COPY` would keep them forever). The container is labelled like an episode's with this
    process as owner, so `mledojo cleanup` and the next start's orphan reaping find a build
    whose builder was killed.
    """
    container = client.containers.create(
        base,
        command=["/bin/sh", f"{stage}/{script}"],
        user="0",
        network_disabled=True,
        environment=environment or {},
        labels={
            LABEL_KIND: "build",
            # unique: the image committed from this container inherits it, and cleanup
            # tells an episode from a plain run of the image by it (cleanup.find_labelled)
            cleanup.LABEL_EPISODE: f"image-build-{uuid.uuid4().hex[:12]}",
            cleanup.LABEL_RUN: "image-build",
            **cleanup.owner_labels(),
        },
    )
    try:
        with tempfile.NamedTemporaryFile(dir=cache, suffix=".tar") as archive:
            write_context(Path(archive.name))
            with open(archive.name, "rb") as stream:
                container.put_archive(str(Path(stage).parent), stream)
        container.start()
        for line in _log_lines(container.logs(stream=True, follow=True)):
            log.debug("%s: %s", script, line)
        status = int(container.wait().get("StatusCode", 1))
        if status != 0:
            tail = container.logs(tail=25).decode(errors="replace")
            raise ImageBuildError(f"{script} failed (exit {status}):\n{tail}")
        repository, tag, changes = commit
        container.commit(repository=repository, tag=tag, changes=changes)
    finally:
        with contextlib.suppress(Exception):
            container.remove(force=True)


def _log_lines(chunks: Iterable[bytes]) -> Iterator[str]:
    """Split a container's streamed log output into lines."""
    buffer = io.StringIO()
    for chunk in chunks:
        buffer.write(chunk.decode(errors="replace"))
        *complete, rest = buffer.getvalue().split("\n")
        yield from complete
        buffer = io.StringIO()
        buffer.write(rest)
    if buffer.getvalue():
        yield buffer.getvalue()


# --------------------------------------------------------------------------- entry point


def main(argv: list[str] | None = None) -> int:
    """`python -m mledojo.sandbox.image [--method M] [--force] [--print-tag] [--clean]`."""
    parser = argparse.ArgumentParser(prog="python -m mledojo.sandbox.image", description=__doc__)
    parser.add_argument("--method", choices=["auto", "online", "offline"], default="auto")
    parser.add_argument("--force", action="store_true", help="rebuild even if the tag exists")
    parser.add_argument("--print-tag", action="store_true", help="print the tag and exit")
    parser.add_argument("--clean", action="store_true", help="remove all but the current image")
    args = parser.parse_args(argv)
    if args.print_tag:
        print(image_tag())
        return 0
    logging.basicConfig(level=logging.WARNING)
    started = time.monotonic()

    def show(message: str) -> None:
        print(f"[image {time.monotonic() - started:6.1f}s] {message}", file=sys.stderr, flush=True)

    try:
        if args.clean:
            for name in remove_images(keep_current=True):
                print(f"removed {name}")
            return 0
        report = build_image(
            cast(Method, args.method),
            force=args.force,
            progress=show,
        )
    except (DockerUnavailableError, ImageBuildError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(report.model_dump_json())
    print(report.summary(), file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
