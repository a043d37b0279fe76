"""Find and remove mledojo's episode containers by label.

Every episode container carries `mledojo.episode`, `mledojo.run`, `mledojo.owner_host`,
`mledojo.owner_pid` and `mledojo.owner_start` (the owner's start time, so a reused pid is
not mistaken for the owner). `DockerSandbox.start` reaps orphans of dead owners on this
host; `mledojo cleanup [--run R]` reaps the same orphans (`--all` also live episodes).

Every sandbox also has a host control folder (`mledojo-ctl-*` in the temp dir) with an
`owner.json` of the same labels (and LocalSandbox's episode uid): a host killed with
SIGKILL leaves it behind, and `reap_control_dirs` removes it once its owner is dead,
killing what still runs under its uid, and releasing its disk quota volume (mounts, loop
device, image; see `quota.release_leftover`).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import socket
import tempfile
from pathlib import Path
from typing import Any

from mledojo.sandbox.episode_uids import kill_uid
from mledojo.sandbox.quota import release_leftover, release_orphans, still_mounted

log = logging.getLogger(__name__)

LABEL_EPISODE = "mledojo.episode"
LABEL_RUN = "mledojo.run"
LABEL_OWNER_HOST = "mledojo.owner_host"
LABEL_OWNER_PID = "mledojo.owner_pid"
LABEL_OWNER_START = "mledojo.owner_start"


def process_start_ticks(pid: int) -> str:
    """A process's start time in clock ticks since boot ('' if unknown)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as fh:
            stat = fh.read()
    except OSError:
        return ""
    # The command name (field 2) may contain spaces; fields after the last ')' are safe.
    fields = stat.rsplit(")", 1)[-1].split()
    return fields[19] if len(fields) > 19 else ""


def owner_labels() -> dict[str, str]:
    """Labels that identify this process as the owner of a container."""
    pid = os.getpid()
    return {
        LABEL_OWNER_HOST: socket.gethostname(),
        LABEL_OWNER_PID: str(pid),
        LABEL_OWNER_START: process_start_ticks(pid),
    }


def owner_alive(labels: dict[str, str]) -> bool:
    """Whether the process that started a container still runs (True when unsure)."""
    if labels.get(LABEL_OWNER_HOST) != socket.gethostname():
        return True  # another machine's container: not ours to judge
    try:
        pid = int(labels.get(LABEL_OWNER_PID, ""))
    except ValueError:
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    start = labels.get(LABEL_OWNER_START)
    return not start or process_start_ticks(pid) in ("", start)


def _client(client: Any | None) -> Any:
    if client is not None:
        return client
    import docker  # heavy; only when needed

    return docker.from_env(timeout=60)


def list_labelled(client: Any, labels: list[str]) -> list[Any]:
    """Containers (running or not) carrying every one of `labels` ("key" or "key=value").

    The engine lists ids and the SDK then inspects each one: a container another session
    removes in between is skipped, not a 404 (another test's teardown or reaper once failed
    an unrelated episode's start this way).
    """
    return list(client.containers.list(all=True, filters={"label": labels}, ignore_removed=True))


def find_labelled(run_id: str | None = None, *, client: Any | None = None) -> list[Any]:
    """All mledojo episode containers (running or not), optionally of one run.

    A container whose episode label is the one its image carries was not labelled by an
    episode: a runtime image is committed from its labelled build container, so a plain
    `docker run` of it inherits the build's episode and (dead) owner labels. Those used to
    be reaped as orphans, killed with SIGKILL (exit 137) under whoever ran them.
    """
    client = _client(client)
    label = [LABEL_EPISODE] if run_id is None else [LABEL_EPISODE, f"{LABEL_RUN}={run_id}"]
    image_labels: dict[str, dict[str, str]] = {}
    found = []
    for container in list_labelled(client, label):
        image_id = str(container.attrs.get("Image", ""))
        if image_id not in image_labels:
            image_labels[image_id] = _image_labels(client, image_id)
        episode = container.labels.get(LABEL_EPISODE)
        if episode != image_labels[image_id].get(LABEL_EPISODE):
            found.append(container)
    return found


def _image_labels(client: Any, image_id: str) -> dict[str, str]:
    import docker.errors

    try:
        return dict(client.images.get(image_id).labels or {})
    except docker.errors.NotFound:
        return {}


def remove(containers: list[Any]) -> list[str]:
    import docker.errors

    removed = []
    for container in containers:
        try:
            container.remove(force=True)
            removed.append(container.name)
        except docker.errors.NotFound:
            removed.append(container.name)
        except docker.errors.APIError as exc:
            log.warning("could not remove container %s: %s", container.name, exc)
    return removed


def remove_labelled(run_id: str | None = None, *, client: Any | None = None) -> list[str]:
    """Remove every mledojo episode container (of `run_id` if given); return their names."""
    return remove(find_labelled(run_id, client=client))


def reap_orphans(run_id: str | None = None, *, client: Any | None = None) -> list[str]:
    """Remove containers (of `run_id` if given) whose owner process on this host is gone."""
    found = find_labelled(run_id, client=client)
    orphans = [c for c in found if not owner_alive(dict(c.labels))]
    if orphans:
        log.warning("removing %d orphaned mledojo container(s)", len(orphans))
    return remove(orphans)


CONTROL_PREFIX = "mledojo-ctl-"
OWNER_FILE = "owner.json"


def write_owner(control_dir: Path, *, uid: int | None = None) -> None:
    """Record who owns a control folder (see `reap_control_dirs`)."""
    owner = {**owner_labels(), "uid": uid}
    (control_dir / OWNER_FILE).write_text(json.dumps(owner))


def reap_control_dirs(root: Path | None = None) -> list[str]:
    """Remove control folders whose owner process is dead; return their names."""
    removed = []
    for folder in Path(root or tempfile.gettempdir()).glob(f"{CONTROL_PREFIX}*"):
        try:
            st = folder.lstat()
            owner = json.loads((folder / OWNER_FILE).read_text())
        except (OSError, ValueError):
            continue
        if st.st_uid != os.geteuid() or not isinstance(owner, dict):
            continue  # not ours, or not a control folder we wrote
        if owner_alive({k: str(v) for k, v in owner.items()}):
            continue
        uid = owner.get("uid")
        if isinstance(uid, int) and os.geteuid() == 0:
            kill_uid(uid)
        if os.geteuid() == 0:
            release_leftover(folder)  # before the rmtree: its binds sit in the folder
        if still_mounted(folder):  # keep the records for the next cleanup to try again
            log.warning("cleanup: %s still has mounts; kept for the next cleanup", folder)
            continue
        shutil.rmtree(folder, ignore_errors=True)
        removed.append(folder.name)
    return removed


def reap_volumes() -> list[str]:
    """Release disk volumes whose image was deleted while mounted (their episode folder was
    removed under them, so no control folder leads to them); return the images. Root only."""
    return release_orphans() if os.geteuid() == 0 else []
