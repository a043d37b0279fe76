"""What LocalSandbox's runner may see: the mounts and files of its own minimal root.

Decided on the host, carried out by the launcher (`_jail.py`) in the runner's process. The
new root holds, read-only, only what the Python interpreter needs (the system folders, a
few `/etc` files, the interpreter's prefixes with their site-packages), with every copy of
the mledojo library in them covered (its `prepare` and the competitions' generators would
rebuild the hidden answers); the runner and the tools at the image's paths; the data at
`/data`, the workspace at `/workspace`, the control folder at `/run/mledojo`; device nodes
and a fresh `/proc`. Everything else on the host (the library's checkout, caches, shared
datasets, other episodes, `/tmp`) is simply absent.
"""

from __future__ import annotations

import dataclasses
import functools
import glob
import json
import os
import subprocess
import sys
from pathlib import Path

from mledojo.competition import ENV_PATH_VAR, builtin_root
from mledojo.errors import SandboxError
from mledojo.sandbox._jail import Bind, JailPlan
from mledojo.spec import Resources

RUNNER_INSIDE = "/opt/mledojo/runner.py"
TOOLS_INSIDE = "/opt/mledojo/tools"
CONTROL_INSIDE = "/run/mledojo"
DATA_INSIDE = "/data"
WORKSPACE_INSIDE = "/workspace"
# A wrapped agent's bridge client: outside every path a mask may cover (an installed mledojo
# in a bound site-packages is masked whole, its client folder with it).
BRIDGE_INSIDE = "/opt/mledojo/bridge"

SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
# The dynamic loader's cache, the time zone and the alternatives links some tools go through.
ETC_PATHS = ("/etc/ld.so.cache", "/etc/localtime", "/etc/alternatives")
DEVICES = ("/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom")
DEV_LINKS = (
    ("/dev/fd", "/proc/self/fd"),
    ("/dev/stdin", "/proc/self/fd/0"),
    ("/dev/stdout", "/proc/self/fd/1"),
    ("/dev/stderr", "/proc/self/fd/2"),
)
SITE_PATTERNS = (
    "lib/python3*/site-packages",
    "lib/python3*/dist-packages",
    "lib/python3/dist-packages",
    "local/lib/python3*/site-packages",
    "local/lib/python3*/dist-packages",
)
SHM_MB = 64
# A driver writes to its own folder (TMPDIR); its `/tmp` is a small scratch space.
DRIVER_TMP_MB = 64
DRIVER_TMP_INODES = 4096
# Processes and threads of a driver's uid: an agent needs a few dozen; a fork bomb stops here.
DRIVER_NPROC = 256
PACKAGE_DIR = Path(__file__).resolve().parent.parent  # the mledojo package in use

View = tuple[list[Bind], list[tuple[str, str]], list[str]]
"""(binds, symlinks, masks), as `system_view` returns them plus a plan's own binds."""


def jail_plan(
    *,
    python: str,
    root_mount: Path,
    data: Path,
    workspace: Path,
    control: Path,
    runner: Path,
    tools: Path,
    resources: Resources,
    uid: int,
    argv: tuple[str, ...],
) -> JailPlan:
    """The plan for one runner launch (see the module doc)."""
    binds, symlinks, masks = system_view(python)
    binds += [
        Bind(str(runner), RUNNER_INSIDE),
        Bind(str(tools), TOOLS_INSIDE),
        Bind(str(data), DATA_INSIDE),
        Bind(str(workspace), WORKSPACE_INSIDE, writable=True),
        Bind(str(control), CONTROL_INSIDE, writable=True),
    ]
    return _plan(
        root_mount,
        (binds, symlinks, masks),
        uid=uid,
        argv=argv,
        tmp_mb=min(resources.disk_mb, 1024),
        tmp_inodes=resources.max_files,
    )


def driver_jail_plan(
    *,
    python: str,
    root_mount: Path,
    client: Path,
    read_only: tuple[Path, ...],
    writable: tuple[Path, ...],
    uid: int,
    cwd: Path,
    argv: tuple[str, ...],
    listen_port: int,
    handoff_fd: int,
) -> JailPlan:
    """The plan for a wrapped agent's driver: the system folders and `python`'s prefixes (the
    agent's venv) with every mledojo copy masked, as for the runner; then `read_only` (the
    driver's folder, its config file) and `writable` (its home, temporary and working
    folders) at their host paths, so its environment's paths hold inside too, and the bridge
    `client` at `BRIDGE_INSIDE`; at most `DRIVER_NPROC` processes and threads. The gateway's
    port is listened on inside and handed to the host (`_jail.py`)."""
    own = [Bind(str(p), str(p)) for p in read_only]
    own += [Bind(str(p), str(p), writable=True) for p in writable]
    binds, symlinks, masks = system_view(python, own)
    binds.append(Bind(str(client), BRIDGE_INSIDE))
    plan = _plan(
        root_mount,
        (binds, symlinks, masks),
        uid=uid,
        argv=argv,
        tmp_mb=DRIVER_TMP_MB,
        tmp_inodes=DRIVER_TMP_INODES,
    )
    return dataclasses.replace(
        plan, cwd=str(cwd), listen_port=listen_port, handoff_fd=handoff_fd, nproc=DRIVER_NPROC
    )


def _plan(
    root_mount: Path,
    view: View,
    *,
    uid: int,
    argv: tuple[str, ...],
    tmp_mb: int,
    tmp_inodes: int,
) -> JailPlan:
    """A plan over `view` for the episode uid `uid` (its own `/etc` account files, the
    shared `/dev/shm` size)."""
    binds, symlinks, masks = view
    return JailPlan(
        root_mount=str(root_mount),
        binds=tuple(binds),
        symlinks=tuple(symlinks),
        files=account_files(uid),
        masks=tuple(masks),
        shm_mb=SHM_MB,
        uid=uid,
        gid=uid,
        argv=argv,
        tmp_mb=tmp_mb,
        tmp_inodes=tmp_inodes,
    )


def system_view(python: str, extra: list[Bind] | None = None) -> View:
    """What every jail shows: the system folders, a few `/etc` files and `python`'s prefixes
    read-only, the basic device nodes, then `extra`; with the masks over every mledojo copy
    the system folders, the prefixes and `extra` expose."""
    binds: list[Bind] = []
    symlinks: list[tuple[str, str]] = list(DEV_LINKS)
    for path in (*SYSTEM_DIRS, *ETC_PATHS):
        if os.path.islink(path):
            symlinks.append((path, os.readlink(path)))
        elif os.path.exists(path):
            binds.append(Bind(path, path))
    for prefix in python_prefixes(python):
        if not any(_under(prefix, b.source) for b in binds) or os.path.ismount(prefix):
            binds.append(Bind(prefix, prefix))
    binds += extra or []
    masks = library_copies(binds)
    binds += [Bind(dev, dev, writable=True, device=True) for dev in DEVICES if os.path.exists(dev)]
    return binds, symlinks, masks


def account_files(uid: int) -> tuple[tuple[str, str], ...]:
    """`/etc/passwd`, `/etc/group` and `/etc/hosts` naming only root and the episode's uid."""
    return (
        ("/etc/passwd", f"root:x:0:0::/:/usr/sbin/nologin\nagent:x:{uid}:{uid}::/tmp:/bin/sh\n"),
        ("/etc/group", f"root:x:0:\nagent:x:{uid}:\n"),
        ("/etc/hosts", "127.0.0.1\tlocalhost\n::1\tlocalhost\n"),
    )


def python_prefixes(python: str) -> tuple[str, ...]:
    """The folders `python` runs from: its prefixes (the venv with its site-packages, the
    base installation) and the folders of the executable, before and after symlinks."""
    if python == sys.executable:
        found = {sys.prefix, sys.exec_prefix, sys.base_prefix, sys.base_exec_prefix}
    else:
        found = set(_other_prefixes(python))
    found |= {os.path.dirname(python), os.path.dirname(os.path.realpath(python))}
    kept: list[str] = []
    for path in sorted(os.path.abspath(p) for p in found):  # an ancestor sorts first
        if not any(_under(path, k) for k in kept) or os.path.ismount(path):
            kept.append(path)
    return tuple(kept)


@functools.lru_cache(maxsize=8)
def _other_prefixes(python: str) -> tuple[str, ...]:
    code = "import json, sys; print(json.dumps([sys.prefix, sys.exec_prefix, sys.base_prefix]))"
    try:
        done = subprocess.run(
            [python, "-I", "-c", code], capture_output=True, text=True, timeout=30, check=True
        )
        prefixes = json.loads(done.stdout)
    except (OSError, subprocess.SubprocessError, ValueError) as exc:
        raise SandboxError(f"LocalSandbox could not ask {python} for its prefixes: {exc}") from exc
    return tuple(str(p) for p in prefixes)


def library_copies(binds: list[Bind]) -> list[str]:
    """Paths inside the new root that would show a copy of the mledojo library or of the
    competitions: the package in use and its competitions (an installed copy lives in a
    site-packages that is bound; an editable checkout is outside every bind, so absent),
    every `mledojo` package in the bound site-packages, and `MLEDOJO_COMPETITIONS_PATH`."""
    candidates = [PACKAGE_DIR, builtin_root()]
    candidates += [Path(p) for p in os.environ.get(ENV_PATH_VAR, "").split(os.pathsep) if p]
    for bind in binds:
        for pattern in SITE_PATTERNS:
            candidates += [
                Path(p) for p in glob.glob(os.path.join(bind.source, pattern, "mledojo"))
            ]
    masks: list[str] = []
    for candidate in candidates:
        if not candidate.is_dir():
            continue
        real = os.path.realpath(candidate)
        for bind in binds:
            source = os.path.realpath(bind.source)
            if _under(real, source):
                inside = os.path.join(bind.target, os.path.relpath(real, source))
                if inside not in masks:
                    masks.append(os.path.normpath(inside))
    return masks


def _under(path: str, folder: str) -> bool:
    """Whether `path` is `folder` or lies beneath it (textually)."""
    return path == folder or path.startswith(folder.rstrip("/") + "/")
