"""Extended runtime images: the runtime image plus packages the user chose (e.g. torch).

`mledojo image extend -r extra.txt` (or `--wheels DIR`, or both) builds
`mledojo-runtime-ext:<hash>` on top of the current runtime image, offline like the runtime
image itself: the wheels are downloaded on the host (`pip download` through the host's
configured index, binary wheels for the image's Python and platform; the user's own wheels
from `--wheels`), put into a build container that has no network, installed with
`pip install --no-index`, and the container is committed. The hash covers the runtime
image's tag (so a new runner or tool means a new extended image), the requirement file and
every wheel of `--wheels`; building the same again is a no-op.

The runtime's own pins hold: the host download is constrained by `runtime/requirements.txt`
and the install by what the runtime image has (`pip freeze`), so an extension can add
packages but never change numpy, pandas or scikit-learn (a conflict fails the build).
An episode runs it with `mledojo run --image <tag>` or
`make(..., sandbox_options={"image": tag})`; `result.json` and `run.json` record the tag.
"""

from __future__ import annotations

import hashlib
import json
import logging
import platform
import tarfile
import time
from pathlib import Path
from typing import Any

from mledojo.errors import ImageBuildError, SandboxError
from mledojo.sandbox.engine import docker_client
from mledojo.sandbox.image import (
    BUILD_TIMEOUT_S,
    LABEL_BASE,
    LABEL_HASH,
    LABEL_KIND,
    LABEL_METHOD,
    RUNTIME_CMD,
    RUNTIME_USER,
    RUNTIME_WORKDIR,
    BuildInputs,
    BuildReport,
    Progress,
    _cache_root,
    _find_image,
    _report_for,
    _say,
    build_image,
    download_wheels,
    file_digest,
    image_tag,
    run_offline_build,
)

log = logging.getLogger(__name__)

EXTENDED_REPOSITORY = "mledojo-runtime-ext"
EXTENDED_KIND = "extended"
STAGE_DIR = "/tmp/mledojo-extend"
# Runs as root in a container of the runtime image without network; "$@" is what to install.
EXTEND_SCRIPT = """#!/bin/sh
set -eu
STAGE=/tmp/mledojo-extend
PIP=/opt/venv/bin/pip
if [ -f "$STAGE/requirements.txt" ]; then
    set -- -r "$STAGE/requirements.txt"
else
    set -- "$STAGE"/wheels/*.whl
fi
"$PIP" freeze > "$STAGE/constraints.txt"
"$PIP" install --no-cache-dir --disable-pip-version-check --no-index --compile \\
    --find-links "$STAGE/wheels" -c "$STAGE/constraints.txt" "$@"
"$PIP" check
find / -xdev -type f -perm /6000 -exec chmod ug-s {} +
rm -rf "$STAGE" /root/.cache
"""


def extension_hash(base: str, requirements: str | None, wheels: list[Path]) -> str:
    """First 12 hex digits of a sha256 over the base image's tag, the install script, the
    requirement list and every wheel (name and content), each length-prefixed."""
    digest = hashlib.sha256()
    parts = [base, EXTEND_SCRIPT, requirements or "", *(file_digest(w) for w in sorted(wheels))]
    for part in parts:
        data = part.encode()
        digest.update(len(data).to_bytes(8, "big"))
        digest.update(data)
    return digest.hexdigest()[:12]


def extend_image(
    *,
    requirements: Path | None = None,
    wheels: Path | None = None,
    force: bool = False,
    progress: Progress | None = None,
) -> BuildReport:
    """Build (or reuse) the extended image for `requirements` and/or a folder of `wheels`.

    With a requirement file, pip resolves it on the host (the wheels folder, if given, is
    one more source); with only a folder, every `*.whl` in it is installed. The runtime
    image is built first when missing. Raises `ImageBuildError` naming what to fix.
    """
    started = time.monotonic()
    wheel_files = _check_inputs(requirements, wheels)
    base = build_image(progress=progress).tag
    text = requirements.read_text(encoding="utf-8") if requirements is not None else None
    content = extension_hash(base, text, wheel_files)
    tag = f"{EXTENDED_REPOSITORY}:{content}"
    client = docker_client(timeout=BUILD_TIMEOUT_S)
    existing = _find_image(client, tag)
    if existing is not None and not force:
        return _report_for(existing, tag, started, reused=True)

    from filelock import FileLock

    cache = _cache_root()
    cache.mkdir(parents=True, exist_ok=True)
    with FileLock(str(cache / "build.lock")):
        existing = _find_image(client, tag)
        if existing is not None and not force:
            return _report_for(existing, tag, started, reused=True)
        if requirements is not None:
            arch = str(client.info().get("Architecture") or platform.machine())
            folder = download_wheels(
                requirements,
                arch,
                cache,
                progress,
                find_links=wheels,
                constraints=BuildInputs.default().requirements,
            )
            to_install = sorted(folder.glob("*.whl"))
        else:
            to_install = wheel_files
        _say(progress, f"installing {len(to_install)} wheel(s) into {tag}")
        _install_and_commit(client, base, tag, content, text, to_install, cache)
    return _report_for(client.images.get(tag), tag, started, reused=False)


def _check_inputs(requirements: Path | None, wheels: Path | None) -> list[Path]:
    """The wheels of `wheels`; raises when nothing (or something missing) was named."""
    if requirements is None and wheels is None:
        raise ImageBuildError(
            "Name what to add: a requirement file (-r extra.txt, pinned lines like "
            "runtime/requirements.txt), a folder of wheels (--wheels DIR), or both."
        )
    if requirements is not None and not requirements.is_file():
        raise ImageBuildError(f"The requirement file {requirements} does not exist.")
    if wheels is None:
        return []
    if not wheels.is_dir():
        raise ImageBuildError(f"The wheel folder {wheels} does not exist.")
    found = sorted(wheels.glob("*.whl"))
    if not found and requirements is None:
        raise ImageBuildError(f"The wheel folder {wheels} holds no *.whl file.")
    return found


def _context_tar(text: str | None, wheels: list[Path], out: Path) -> None:
    """The script, the requirement list and the wheels under `mledojo-extend/`."""
    name = Path(STAGE_DIR).name
    with tarfile.open(out, "w") as tar:
        _add_bytes(tar, f"{name}/extend.sh", EXTEND_SCRIPT.encode())
        if text is not None:
            _add_bytes(tar, f"{name}/requirements.txt", text.encode())
        for wheel in wheels:
            tar.add(wheel, arcname=f"{name}/wheels/{wheel.name}")


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    import io

    info = tarfile.TarInfo(name)
    info.size, info.mode = len(data), 0o644
    tar.addfile(info, io.BytesIO(data))


def _install_and_commit(
    client: Any,
    base: str,
    tag: str,
    content: str,
    text: str | None,
    wheels: list[Path],
    cache: Path,
) -> None:
    """Run `extend.sh` in a network-less container of `base`, then commit it as `tag`."""
    repository, _, version = tag.partition(":")
    changes = [
        f"LABEL {LABEL_KIND}={EXTENDED_KIND}",
        f"LABEL {LABEL_HASH}={content}",
        f"LABEL {LABEL_METHOD}=offline",
        f"LABEL {LABEL_BASE}={base}",
        f"USER {RUNTIME_USER}",
        f"WORKDIR {RUNTIME_WORKDIR}",
        f"CMD {json.dumps(list(RUNTIME_CMD))}",
    ]
    run_offline_build(
        client,
        base,
        stage=STAGE_DIR,
        script="extend.sh",
        write_context=lambda archive: _context_tar(text, wheels, archive),
        cache=cache,
        commit=(repository, version, changes),
    )


def check_runnable(tag: str) -> None:
    """`--image TAG`: the image exists on this engine and can run episodes (an extended
    image on the current runtime image, or any other image); raises `SandboxError`."""
    from mledojo.sandbox.engine import image_exists

    client = docker_client()
    if not image_exists(client, tag):
        raise SandboxError(
            f"--image {tag}: no such image on this Docker engine; `mledojo image list` shows "
            "the ones built, `mledojo image extend` builds one"
        )
    check_extended(client, tag)


def check_extended(client: Any, tag: str) -> None:
    """Refuse an extended image built on another runtime image than the current one: its
    runner would speak another protocol or serve other tools. Other images pass."""
    found = _find_image(client, tag)
    labels = (found.labels or {}) if found is not None else {}
    if labels.get(LABEL_KIND) != EXTENDED_KIND:
        return
    current = image_tag()
    if labels.get(LABEL_BASE) != current:
        raise SandboxError(
            f"The image {tag} extends {labels.get(LABEL_BASE)}, not the current runtime image "
            f"{current}: run `mledojo image extend` again with the same packages and use the "
            "tag it prints."
        )
