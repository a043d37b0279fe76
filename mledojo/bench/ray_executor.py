"""`RayExecutor`: each episode a Ray task with the competition's CPUs and memory as resources.

The task plays the episode in the Ray worker process, on that node's Docker engine (the
runner's control socket needs the engine on the same kernel, so a container never runs on
another node than its task). Ray retries a task whose worker or node died (`max_retries`);
the retry finds the dead attempt's folder without a `result.json`, sets it aside as an
attempt and plays the episode again. The runs folder must be the same path on every node
(one machine, or a shared file system). Ray is imported only here, with an install hint.

Starting (or reaching) Ray is bounded: `ray.init` runs in a helper thread and the caller
waits at most `START_TIMEOUT_S`, so a start that cannot finish ends with a message naming
the fix instead of hanging for minutes, and SIGTERM ends the process at once meanwhile
(`ray.init` in the main thread installs a SIGTERM handler that cannot run while it blocks).
Without an address, a new single-node Ray starts on loopback: `address="local"`, so a stale
`/tmp/ray/ray_current_cluster` or `RAY_ADDRESS` is never joined, and
`RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0`, which makes Ray take 127.0.0.1 as the node address
instead of the default route's (which a host may not reach).
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from mledojo.artifacts import EpisodeStatus
from mledojo.bench.executors import Capacity
from mledojo.bench.plan import BenchError, Job
from mledojo.bench.worker import Outcome, read_outcome
from mledojo.layout import RunLayout

TASK_RETRIES = 3  # a node or worker that dies mid-episode: the episode is played again
START_TIMEOUT_S = 60.0  # a local start takes 5-10 s on a 2-core machine
LOOPBACK_ENV = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"
"""Read by Ray once, at import: `0` makes a local start use 127.0.0.1 as the node address."""
LOOPBACK_HEAD = "ray start --head --node-ip-address 127.0.0.1 --port 6379"


def _import_ray(*, local: bool) -> Any:
    """Ray, imported now; for a local start with the loopback node address (unless the
    caller set `LOOPBACK_ENV` or imported Ray already)."""
    if local:
        os.environ.setdefault(LOOPBACK_ENV, "0")
    try:
        import ray
    except ImportError as e:
        raise BenchError(
            "--backend ray needs Ray: pip install 'mledojo[ray]' (or 'ray[default]')"
        ) from e
    return ray


def start_ray(ray: Any, address: str | None, timeout_s: float = START_TIMEOUT_S) -> RayStart:
    """`ray.init` (a new local Ray without `address`), waiting at most `timeout_s`.

    The call runs in a daemon thread: the caller's thread stays free for signals, and on a
    timeout the process can still exit. The thread then waits for `RayStart.release`: a
    local start's processes die with the thread that started them (Ray asks the kernel for
    that, `PR_SET_PDEATHSIG`, which follows the thread), so it lives as long as Ray is used.
    """
    handle = RayStart()
    failure: list[BaseException] = []
    done = threading.Event()

    def init() -> None:
        try:
            ray.init(
                address=address or "local",
                include_dashboard=False,
                log_to_driver=False,
                logging_level="ERROR",
            )
        except BaseException as e:  # noqa: BLE001 - handed to the waiting thread
            failure.append(e)
        finally:
            done.set()
        handle.released.wait()

    threading.Thread(target=init, name="mledojo-ray", daemon=True).start()
    if not done.wait(timeout_s):
        raise BenchError(_start_timeout_message(address, timeout_s))
    if failure:
        handle.release()
        raise BenchError(f"Ray did not start: {type(failure[0]).__name__}: {failure[0]}") from (
            failure[0]
        )
    return handle


class RayStart:
    """The thread that started Ray; `release()` after `ray.shutdown()` lets it end."""

    def __init__(self) -> None:
        self.released = threading.Event()

    def release(self) -> None:
        self.released.set()


def _start_timeout_message(address: str | None, timeout_s: float) -> str:
    if address:
        return (
            f"Ray: no cluster answered at {address} within {timeout_s:g} s. Check that its head "
            f"runs and is reachable from here (`ray status --address {address}`), or drop "
            "--address to start a local Ray."
        )
    return (
        f"Ray: a local start did not finish within {timeout_s:g} s. Its processes listen on "
        "the node's IP address, which Ray resolves from the default route unless "
        f"{LOOPBACK_ENV}=0 was set before Ray was imported (mledojo sets it for a local "
        "start); on a host whose own address is unreachable, start a head on loopback "
        f"yourself, `{LOOPBACK_HEAD}`, and pass `--address 127.0.0.1:6379`."
    )


def _episode_task(job_json: str, runs_dir: str, run_id: str, retry: list[str]) -> dict[str, Any]:
    """The body of one Ray task: play the job on this node (runs in a Ray worker)."""
    from mledojo.bench.worker import run_job

    job = Job.model_validate_json(job_json)
    return run_job(job, Path(runs_dir), run_id, tuple(retry)).model_dump()  # type: ignore[arg-type]


class RayExecutor:
    """Episodes as Ray tasks on the cluster at `address` (None: start a local Ray)."""

    name = "ray"

    def __init__(
        self,
        runs_dir: Path,
        run_id: str,
        *,
        address: str | None = None,
        start_timeout_s: float = START_TIMEOUT_S,
    ) -> None:
        self.ray = _import_ray(local=address is None)
        self.runs_dir, self.run_id = runs_dir.resolve(), run_id
        self._start: RayStart | None = None
        if not self.ray.is_initialized():
            self._start = start_ray(self.ray, address, start_timeout_s)
        self._task = self.ray.remote(_episode_task)
        self._refs: list[Any] = []

    def capacity(self) -> Capacity:
        res = self.ray.cluster_resources()
        memory_mb = int(res.get("memory", 0) // 2**20)
        return Capacity(cpus=float(res.get("CPU", 1.0)), memory_mb=memory_mb)

    def submit(self, job: Job, retry: tuple[EpisodeStatus, ...]) -> Future[Outcome]:
        r = job.spec.resources
        ref = self._task.options(
            num_cpus=r.cpus, memory=r.memory_mb * 2**20, max_retries=TASK_RETRIES
        ).remote(job.model_dump_json(), str(self.runs_dir), self.run_id, list(retry))
        self._refs.append(ref)
        out: Future[Outcome] = Future()

        def done(inner: Future[Any]) -> None:
            try:
                out.set_result(Outcome.model_validate(inner.result()))
            except BaseException as e:  # cancelled, or the task failed past its retries
                recorded = read_outcome(job, self.runs_dir, self.run_id, host="ray")
                layout = RunLayout(self.runs_dir, self.run_id)
                out.set_result(
                    recorded
                    or Outcome(
                        key=job.key,
                        status="worker_died",
                        reason=f"Ray task failed: {type(e).__name__}: {str(e)[:300]}",
                        attempt=layout.attempts_before(job.spec) + 1,
                    )
                )

        ref.future().add_done_callback(done)
        return out

    def interrupt(self) -> None:
        """Cancel every task: a running one gets KeyboardInterrupt and closes its episode."""
        for ref in self._refs:
            try:
                self.ray.cancel(ref)
            except Exception:  # already finished
                pass

    def kill(self) -> None:
        for ref in self._refs:
            try:
                self.ray.cancel(ref, force=True)
            except Exception:
                pass

    def close(self) -> None:
        self.ray.shutdown()
        if self._start is not None:
            self._start.release()
