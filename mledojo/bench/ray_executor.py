"""`RayExecutor`: each episode a Ray task with the competition's CPUs and memory as resources.

The task plays the episode in the Ray worker process, on that node's Docker engine (the
runner's control socket needs the engine on the same kernel, so a container never runs on
another node than its task). Ray retries a task whose worker or node died (`max_retries`);
the retry finds the dead attempt's folder without a `result.json`, sets it aside as an
attempt and plays the episode again. The runs folder must be the same path on every node
(one machine, or a shared file system). Ray is imported only here, with an install hint.
"""

from __future__ import annotations

from concurrent.futures import Future
from pathlib import Path
from typing import Any

from mledojo.artifacts import EpisodeStatus
from mledojo.bench.executors import Capacity
from mledojo.bench.plan import BenchError, Job
from mledojo.bench.worker import Outcome, read_outcome
from mledojo.layout import RunLayout

TASK_RETRIES = 3  # a node or worker that dies mid-episode: the episode is played again


def _import_ray() -> Any:
    try:
        import ray
    except ImportError as e:
        raise BenchError(
            "--backend ray needs Ray: pip install 'mledojo[ray]' (or 'ray[default]')"
        ) from e
    return ray


def _episode_task(job_json: str, runs_dir: str, run_id: str, retry: list[str]) -> dict[str, Any]:
    """The body of one Ray task: play the job on this node (runs in a Ray worker)."""
    from mledojo.bench.worker import run_job

    job = Job.model_validate_json(job_json)
    return run_job(job, Path(runs_dir), run_id, tuple(retry)).model_dump()  # type: ignore[arg-type]


class RayExecutor:
    """Episodes as Ray tasks on the cluster at `address` (None: start a local Ray)."""

    name = "ray"

    def __init__(self, runs_dir: Path, run_id: str, *, address: str | None = None) -> None:
        self.ray = _import_ray()
        self.runs_dir, self.run_id = runs_dir.resolve(), run_id
        if not self.ray.is_initialized():
            self.ray.init(
                address=address, include_dashboard=False, log_to_driver=False, logging_level="ERROR"
            )
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
