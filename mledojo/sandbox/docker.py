"""`DockerSandbox`: one locked-down container per episode, with a warm fork-server runner.

The container is created at `start()` and removed at `stop()`. Its main process (under
Docker's `init`) is `/opt/mledojo/runner.py`, which listens on a unix socket in a small
host folder bind-mounted at `/run/mledojo`. The host connects to that socket file directly
(same kernel), so a step costs one `connect()` and one `fork()` in the container: no
`docker run` and no `docker exec` per step.

Defaults, all from the episode's `Resources`: no network, public data read-only at `/data`,
the workspace read-write at `/workspace`, uid 1000 (or the caller's own uid when it is not
root), every capability dropped, `no-new-privileges`, a read-only root file system with a
size-limited `/tmp`, memory without swap, CPU and pids resources. Disk: a per-file size limit
(RLIMIT_FSIZE) plus a workspace size check (every second during a step and after it).

Needs the Docker engine on the same kernel as the caller (Linux; not Docker Desktop's VM,
where a bind-mounted unix socket does not cross the VM boundary).
"""

from __future__ import annotations

import atexit
import logging
import os
import re
import uuid
from pathlib import Path
from typing import Any

from mledojo.errors import SandboxError
from mledojo.sandbox import cleanup, seccomp
from mledojo.sandbox.client import RunnerSandbox
from mledojo.sandbox.engine import docker_client, image_exists
from mledojo.sandbox.hostfiles import RUNNER_FILE, TOOLS_DIR, chown_tree, give_back
from mledojo.spec import Resources

log = logging.getLogger(__name__)

CONTAINER_UID = 1000
RUNNER_IN_IMAGE = "/opt/mledojo/runner.py"
TOOLS_IN_IMAGE = "/opt/mledojo/tools"
CONTROL_MOUNT = "/run/mledojo"
HOST_CODE_MOUNT = "/run/mledojo-code"
PYTHON_IN_IMAGE = "/opt/venv/bin/python"


class DockerSandbox(RunnerSandbox):
    """The default sandbox: an isolated container per episode (see the module doc).

    `image` defaults to the current runtime image tag (`mledojo.sandbox.image.image_tag()`).
    `code_from_host=True` bind-mounts this library's runner and tools read-only instead of
    using the copies baked into the image (for development: no rebuild per runner edit).
    """

    name = "docker"

    def __init__(
        self, *, image: str | None = None, code_from_host: bool = False, client: Any | None = None
    ) -> None:
        super().__init__()
        self._image = image
        self._code_from_host = code_from_host
        self._client = client
        self._container: Any | None = None
        self._episode = ""
        self._previous_episode = ""

    # -- setup

    @property
    def image(self) -> str:
        """The image tag this sandbox runs."""
        if self._image is None:
            from mledojo.sandbox.image import image_tag

            self._image = image_tag()
        return self._image

    @property
    def client(self) -> Any:
        """The Docker SDK client (connected lazily)."""
        if self._client is None:
            self._client = docker_client()
        return self._client

    def prepare(self) -> None:
        """Build the runtime image if it is missing (a no-op when it exists)."""
        if self._image is None:
            from mledojo.sandbox.image import build_image

            self._image = build_image().tag
        elif not image_exists(self.client, self._image):
            raise SandboxError(f"The image {self._image} does not exist; build or pull it.")
        else:
            from mledojo.sandbox.extend import check_extended

            check_extended(self.client, self._image)

    @property
    def container_name(self) -> str | None:
        """The running container's name, if any."""
        return None if self._container is None else str(self._container.name)

    # -- RunnerSandbox hooks

    def _launch(self) -> None:
        ctl, ws, data = self._control_dir, self._workspace, self._data_dir
        if ctl is None or ws is None or data is None:
            raise SandboxError("The sandbox is not started; call start() first.")
        if not self._episode:
            cleanup.reap_orphans(client=self.client)
            self._episode = uuid.uuid4().hex[:12]
        if not image_exists(self.client, self.image):
            raise SandboxError(
                f"The runtime image {self.image} is missing. Build it with `mledojo image build` "
                "(or `python -m mledojo.sandbox.image`)."
            )
        cleanup.write_owner(ctl)
        user = self._prepare_host_folders(ctl, ws)
        kwargs = self._container_kwargs(ctl, ws, data, user)
        import docker.errors

        try:
            self._container = self.client.containers.run(**kwargs)
        except docker.errors.DockerException as exc:
            raise SandboxError(f"Starting the sandbox container failed: {exc}") from exc
        atexit.register(self.stop)

    def _prepare_host_folders(self, ctl: Path, ws: Path) -> str:
        """Make the socket folder and the workspace writable by the container's user."""
        run_dir = ctl / "run"
        run_dir.mkdir(exist_ok=True)
        if os.geteuid() == 0:
            os.chown(run_dir, CONTAINER_UID, CONTAINER_UID)
            if self.restarts == 0:  # fresh; after a restart no step may race this walk anyway
                chown_tree(ws, CONTAINER_UID, CONTAINER_UID)
            return f"{CONTAINER_UID}:{CONTAINER_UID}"
        return f"{os.getuid()}:{os.getgid()}"

    def _container_kwargs(self, ctl: Path, ws: Path, data: Path, user: str) -> dict[str, Any]:
        resources = self._require_resources()
        runner, tools = RUNNER_IN_IMAGE, TOOLS_IN_IMAGE
        volumes: dict[str, dict[str, str]] = {
            str(data): {"bind": "/data", "mode": "ro"},
            str(ws): {"bind": "/workspace", "mode": "rw"},
            str(ctl / "run"): {"bind": CONTROL_MOUNT, "mode": "rw"},
        }
        if self._code_from_host:
            runner, tools = f"{HOST_CODE_MOUNT}/runner.py", f"{HOST_CODE_MOUNT}/tools"
            volumes[str(RUNNER_FILE)] = {"bind": runner, "mode": "ro"}
            volumes[str(TOOLS_DIR)] = {"bind": tools, "mode": "ro"}
        args = self._runner_args(
            socket_path=f"{CONTROL_MOUNT}/runner.sock",
            workspace="/workspace",
            data="/data",
            tools_dir=tools,
            extra=[
                "--sweep",
                "--as-mb",
                str(resources.memory_mb),
                "--peer",
                "outside-pidns",
                "--tmp-dir",
                "/tmp",
            ],
        )
        threads = str(max(1, int(resources.cpus)))
        memory = f"{resources.memory_mb}m"
        return {
            "image": self.image,
            "command": [PYTHON_IN_IMAGE, runner, *args],
            "name": self._name(),
            "detach": True,
            "user": user,
            "working_dir": "/workspace",
            "environment": {
                "HOME": "/tmp",
                "MPLCONFIGDIR": "/tmp",
                "MLEDOJO_DATA": "/data",
                "MLEDOJO_WORKSPACE": "/workspace",
                "OMP_NUM_THREADS": threads,
                # Idle OpenMP threads sleep instead of spinning: on a loaded or CPU-capped machine
                # spinning barriers made a 0.1 s gradient-boosting fit take minutes.
                "OMP_WAIT_POLICY": "PASSIVE",
                "OPENBLAS_NUM_THREADS": threads,
                "MKL_NUM_THREADS": threads,
            },
            "volumes": volumes,
            "network_mode": "none",
            "read_only": True,
            "tmpfs": {"/tmp": _tmpfs_options(resources)},
            "cap_drop": ["ALL"],
            # Our own seccomp profile: Docker's default, on this engine, allows io_uring.
            "security_opt": ["no-new-privileges", seccomp.security_option()],
            "pids_limit": resources.pids,
            "mem_limit": memory,
            "memswap_limit": memory,
            "nano_cpus": int(resources.cpus * 1e9),
            "init": True,
            "labels": self._container_labels(),
        }

    def _container_labels(self) -> dict[str, str]:
        run = self._labels.get(cleanup.LABEL_RUN) or self._labels.get("run") or "adhoc"
        return {
            **self._labels,
            cleanup.LABEL_EPISODE: self._episode,
            cleanup.LABEL_RUN: run,
            **cleanup.owner_labels(),
        }

    def _name(self) -> str:
        run = self._labels.get(cleanup.LABEL_RUN) or self._labels.get("run") or "adhoc"
        slug = re.sub(r"[^a-z0-9-]+", "-", run.lower()).strip("-")[:40] or "adhoc"
        return f"mledojo-{slug}-{self._episode[:6]}-{self.restarts}"

    def _teardown(self) -> None:
        container, self._container = self._container, None
        if container is not None:
            import docker.errors

            try:
                container.remove(force=True)
            except docker.errors.NotFound:
                pass
            except docker.errors.APIError as exc:
                log.warning("could not remove container %s: %s", container.name, exc)
        atexit.unregister(self.stop)

    def _runner_alive(self) -> bool:
        if self._container is None:
            return False
        try:
            self._container.reload()
        except Exception:  # noqa: BLE001 - gone or unreachable: not alive
            return False
        return bool(self._container.status in ("created", "running"))

    def _diagnostics(self) -> str:
        if self._container is None:
            return ""
        try:
            logs = self._container.logs(tail=40).decode("utf-8", errors="replace")
            state = self._container.attrs.get("State", {})
        except Exception as exc:  # noqa: BLE001 - best effort for an error message
            return f"(no logs: {exc})"
        oom = " (the container was OOM-killed)" if state.get("OOMKilled") else ""
        return f"container {self._container.name} state={state.get('Status')}{oom}\n{logs}"

    def stop(self) -> None:
        workspace = self._workspace
        super().stop()
        if self._episode:
            # A container the engine made while `containers.run` was interrupted (Ctrl-C, a
            # dead scheduler's SIGINT) was never handed to us: find it by its episode label.
            try:
                cleanup.remove(self._episode_containers(self._episode))
            except Exception as exc:  # noqa: BLE001 - best effort; `mledojo cleanup` remains
                log.warning("could not look for leftover containers: %s", exc)
        if os.geteuid() == 0 and self._episode:
            # Root-owned files lose any setuid bit a step set (setuid to a real host uid).
            try:
                survivors = self.leftovers()
            except Exception as exc:  # noqa: BLE001 - unsure is not "gone"
                survivors = [f"unknown (Docker did not answer: {exc})"]
            give_back(workspace, 0, 0, survivors=survivors)
        if self._episode:
            self._previous_episode = self._episode
        self._episode = ""

    def leftovers(self) -> list[str]:
        """Containers of this episode that still exist (for the conformance cleanup check)."""
        episode = self._episode or self._previous_episode
        if not episode:
            return []
        return [str(c.name) for c in self._episode_containers(episode)]

    def _episode_containers(self, episode: str) -> list[Any]:
        """Every container labelled with `episode`, running or not."""
        return cleanup.list_labelled(self.client, [f"{cleanup.LABEL_EPISODE}={episode}"])


def _tmpfs_options(resources: Resources) -> str:
    """`/tmp`: capped in bytes and in inodes, like the workspace."""
    return f"size={min(resources.disk_mb, 1024)}m,nr_inodes={resources.max_files},mode=1777"
