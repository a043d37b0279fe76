"""Label-based cleanup: remove a run's containers, reap orphans of dead owners."""

from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from mledojo.sandbox import cleanup
from mledojo.spec import Resources

pytestmark = [pytest.mark.docker, pytest.mark.timeout(60)]


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_remove_labelled_removes_a_runs_containers(runtime_image: str, tmp_path: Path) -> None:
    from mledojo.sandbox.docker import DockerSandbox

    run_id = f"cleanup-{uuid.uuid4().hex[:8]}"
    (tmp_path / "data").mkdir()
    sb = DockerSandbox(image=runtime_image)
    sb.start(
        data_dir=tmp_path / "data",
        workspace=tmp_path / "ws",
        resources=Resources(memory_mb=512),
        labels={"mledojo.run": run_id},
    )
    try:
        names = [c.name for c in cleanup.find_labelled(run_id)]
        assert names == [sb.container_name]
        assert cleanup.remove_labelled(run_id) == names
        assert cleanup.find_labelled(run_id) == []
    finally:
        sb.stop()  # idempotent even though the container is already gone
    assert sb.leftovers() == []


def test_orphans_of_dead_owners_are_reaped(docker_client: object, runtime_image: str) -> None:
    labels = {
        cleanup.LABEL_EPISODE: uuid.uuid4().hex[:12],
        cleanup.LABEL_RUN: "orphan-test",
        **cleanup.owner_labels(),
    }
    live = docker_client.containers.create(  # type: ignore[attr-defined]
        runtime_image, ["sleep", "60"], labels=labels, network_mode="none"
    )
    orphan = docker_client.containers.create(  # type: ignore[attr-defined]
        runtime_image,
        ["sleep", "60"],
        network_mode="none",
        labels={**labels, cleanup.LABEL_OWNER_PID: str(_dead_pid())},
    )
    try:
        reaped = cleanup.reap_orphans()
        assert orphan.name in reaped
        assert live.name not in reaped
    finally:
        for c in (live, orphan):
            try:
                c.remove(force=True)
            except Exception:  # noqa: BLE001, S110 - already gone
                pass


def test_owner_alive_checks_host_pid_and_start_time() -> None:
    mine = cleanup.owner_labels()
    assert cleanup.owner_alive(mine)
    assert not cleanup.owner_alive({**mine, cleanup.LABEL_OWNER_PID: str(_dead_pid())})
    assert cleanup.owner_alive({**mine, cleanup.LABEL_OWNER_HOST: "another-machine"})
    assert not cleanup.owner_alive({**mine, cleanup.LABEL_OWNER_START: "1"})


def test_cli_cleanup_reports_what_it_removed(runtime_image: str, tmp_path: Path) -> None:
    """`mledojo cleanup` keeps a live episode; `--all --yes` removes it and names it."""
    from mledojo.sandbox.docker import DockerSandbox

    run_id = f"cli-{uuid.uuid4().hex[:8]}"
    (tmp_path / "data").mkdir()
    sb = DockerSandbox(image=runtime_image)
    sb.start(
        data_dir=tmp_path / "data",
        workspace=tmp_path / "ws",
        resources=Resources(memory_mb=512),
        labels={"mledojo.run": run_id},
    )
    try:
        kept = subprocess.run(
            [sys.executable, "-m", "mledojo.cli", "cleanup", "--run", run_id],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert kept.returncode == 0 and "removed 0 container(s)" in kept.stdout, kept
        assert len(cleanup.find_labelled(run_id)) == 1  # a live episode is not an orphan
        res = subprocess.run(
            [sys.executable, "-m", "mledojo.cli", "cleanup", "--run", run_id, "--all", "--yes"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert res.returncode == 0, res.stderr
        assert f"removed 1 container(s): {sb.container_name}" in res.stdout
        assert cleanup.find_labelled(run_id) == []
    finally:
        sb.stop()


def test_a_container_removed_while_listing_is_skipped_not_a_404(
    docker_client: object, runtime_image: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another session's teardown removed a container between the engine's list and the SDK's
    inspect of it: every episode start (which reaps orphans) then failed with a 404 in CI."""
    from docker.models.containers import ContainerCollection

    run_id = f"race-{uuid.uuid4().hex[:8]}"
    labels = {cleanup.LABEL_EPISODE: uuid.uuid4().hex[:12], cleanup.LABEL_RUN: run_id}
    made = [
        docker_client.containers.create(  # type: ignore[attr-defined]
            runtime_image, ["sleep", "60"], labels=labels, network_mode="none"
        )
        for _ in range(2)
    ]
    inspect = ContainerCollection.get
    removed: list[str] = []

    def removed_by_another_session(self: ContainerCollection, container_id: str) -> object:
        if not removed:  # the first listed container goes away right before its inspect
            docker_client.api.remove_container(container_id, force=True)  # type: ignore[attr-defined]
            removed.append(container_id)
        return inspect(self, container_id)

    monkeypatch.setattr(ContainerCollection, "get", removed_by_another_session)
    try:
        found = cleanup.find_labelled(run_id)
        assert removed, "the race was not staged"
        assert [c.id for c in found] == [c.id for c in made if c.id not in removed]
    finally:
        monkeypatch.undo()
        cleanup.remove_labelled(run_id)


def test_a_plain_run_of_the_runtime_image_is_never_reaped(
    docker_client: object, runtime_image: str
) -> None:
    """The runtime image is committed from its labelled build container, so a plain
    `docker run` of it (a benchmark's, a user's) carries the build's episode label and a dead
    owner: every episode start reaped it as an orphan, SIGKILL, exit 137 (the benchmark
    smokes' unexplained kills, decisions 94 and 166)."""
    plain = docker_client.containers.run(  # type: ignore[attr-defined]
        runtime_image, ["sleep", "60"], detach=True, network_mode="none"
    )
    try:
        reaped = cleanup.reap_orphans()
        plain.reload()
        assert plain.name not in reaped and plain.status == "running"
        assert plain.id not in {c.id for c in cleanup.find_labelled()}
    finally:
        plain.remove(force=True)
