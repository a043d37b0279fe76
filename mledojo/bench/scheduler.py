"""The bench scheduler: admit episodes under the limits, collect outcomes, survive Ctrl-C.

Limits, all at once: `--workers`, a hard cap (`HARD_CAP`), the executor's CPUs and memory
against each episode's `Resources` (an episode larger than the whole executor runs alone),
and a minimum interval between two starts (a burst of containers and data loads at once
is what makes a host fall over). A finished episode (a `result.json` whose status is not
to be retried) is skipped; an unfinished one (no result, or `interrupted`) is run again;
`--retry infra` also reruns `infra_error` episodes. Every start and end is appended to
`<run>/bench-log.jsonl` with its attempt number, so re-rolls are visible to a board.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, wait
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from pydantic import BaseModel, Field

from mledojo.artifacts import EpisodeStatus
from mledojo.bench.executors import HARD_CAP, INTERRUPT_GRACE_S, Executor
from mledojo.bench.plan import BenchPlan, Job, write_plan
from mledojo.bench.worker import Outcome, read_outcome
from mledojo.layout import RunLayout

LOG_FILE = "bench-log.jsonl"
ALWAYS_RERUN: tuple[EpisodeStatus, ...] = ("interrupted",)
RETRY_CHOICES: dict[str, tuple[EpisodeStatus, ...]] = {
    "infra": ("infra_error",),
    "grading": ("grading_error",),
    "model": ("model_error",),
}


class Display(Protocol):
    """What the scheduler tells the user (a rich live view, or a line per episode)."""

    def start(self, total: int, skipped: list[tuple[Job, Outcome]]) -> None: ...

    def started(self, job: Job, attempt: int) -> None: ...

    def finished(self, job: Job, outcome: Outcome) -> None: ...

    def note(self, text: str) -> None: ...

    def stop(self) -> None: ...


class BenchReport(BaseModel):
    """How a bench invocation went: every planned episode's outcome, this run or earlier."""

    run_id: str
    run_folder: str
    backend: str  # the executor's name, as `--backend` gave it
    outcomes: dict[str, Outcome] = Field(default_factory=dict)
    skipped: list[str] = Field(default_factory=list)  # finished before this invocation
    interrupted: bool = False
    wall_time_s: float = 0.0
    scheduler_overhead_s: float = 0.0  # per episode run: the scheduler's own busy time
    worker_overhead_s: float = 0.0  # per episode run: worker round trip beyond the episode

    def count(self, pred: Callable[[Outcome], bool]) -> int:
        return sum(1 for o in self.outcomes.values() if pred(o))

    @property
    def infra_failures(self) -> int:
        return self.count(lambda o: o.infra)

    @property
    def agent_failures(self) -> int:
        return self.count(lambda o: o.status in ("agent_error", "timeout"))

    @property
    def model_failures(self) -> int:
        """Episodes whose model could not be used: configuration, never the agent's result."""
        return self.count(lambda o: o.status == "model_error")

    @property
    def graded(self) -> int:
        """Episodes that ended with a private score (an ungraded end is no success)."""
        return self.count(lambda o: o.private_score is not None)

    @property
    def unfinished(self) -> int:
        return self.count(lambda o: o.status in ("interrupted", "worker_died"))


def retry_statuses(choices: list[str]) -> tuple[EpisodeStatus, ...]:
    """The statuses to run again: `interrupted` always, plus each `--retry` choice."""
    from mledojo.bench.plan import BenchError

    out = list(ALWAYS_RERUN)
    for choice in choices:
        if choice not in RETRY_CHOICES:
            raise BenchError(f"--retry {choice!r}: choose from {', '.join(RETRY_CHOICES)}")
        out.extend(RETRY_CHOICES[choice])
    return tuple(out)


class _Log:
    """`bench-log.jsonl`: one line per start and end (appended, flushed each time)."""

    def __init__(self, path: Path, backend: str) -> None:
        self.path, self.backend = path, backend

    def write(self, event: str, job: Job, **fields: Any) -> None:
        entry = {
            "time": datetime.now(UTC).isoformat(),
            "event": event,
            "key": job.key,
            "episode": job.label,
            "backend": self.backend,
            **fields,
        }
        with self.path.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(entry) + "\n")


class _Gate:
    """Admission: workers, hard cap, CPUs and memory, and the start interval."""

    def __init__(self, executor: Executor, workers: int, start_interval_s: float) -> None:
        cap = executor.capacity()
        self.cpus, self.memory_mb = cap.cpus, cap.memory_mb
        self.slots = max(1, min(workers, HARD_CAP))
        self.interval = max(0.0, start_interval_s)
        self.used_cpus, self.used_mb, self.running = 0.0, 0, 0
        self.last_start = -1e9

    def fits(self, job: Job, now: float) -> bool:
        if self.running >= self.slots or now - self.last_start < self.interval:
            return False
        if self.running == 0:
            return True  # a job bigger than the executor still runs, alone
        r = job.spec.resources
        return (
            self.used_cpus + r.cpus <= self.cpus + 1e-9
            and self.used_mb + r.memory_mb <= self.memory_mb
        )

    def take(self, job: Job, now: float) -> None:
        r = job.spec.resources
        self.used_cpus += r.cpus
        self.used_mb += r.memory_mb
        self.running += 1
        self.last_start = now

    def give_back(self, job: Job) -> None:
        r = job.spec.resources
        self.used_cpus -= r.cpus
        self.used_mb -= r.memory_mb
        self.running -= 1


def run_bench(
    plan: BenchPlan,
    *,
    runs_dir: Path,
    run_id: str,
    executor: Executor,
    display: Display,
    workers: int = 1,
    retry: tuple[EpisodeStatus, ...] = ALWAYS_RERUN,
    start_interval_s: float = 1.0,
    image: str | None = None,
) -> BenchReport:
    """Run every planned episode not finished yet; Ctrl-C stops cleanly (re-raised after)."""
    t0 = time.monotonic()
    layout = RunLayout(runs_dir, run_id)
    folder = layout.folder
    plan = write_plan(folder, plan)
    layout.record(image=image)  # once for the bench; its workers do not rewrite run.json
    log = _Log(folder / LOG_FILE, executor.name)
    report = BenchReport(run_id=run_id, run_folder=str(folder), backend=executor.name)
    pending: list[Job] = []
    done_before: list[tuple[Job, Outcome]] = []
    for job in plan.jobs:
        old = read_outcome(job, runs_dir, run_id, host="earlier")
        if old is not None and old.status not in retry:
            done_before.append((job, old))
            report.outcomes[job.key] = old
            report.skipped.append(job.key)
        else:
            pending.append(job)
    gate = _Gate(executor, workers, start_interval_s)
    running: dict[Future[Outcome], tuple[Job, float]] = {}
    worker_time = waited = 0.0
    display.start(len(plan.jobs), done_before)
    loop_start = time.monotonic()
    try:
        while pending or running:
            now = time.monotonic()
            while pending and gate.fits(pending[0], now):
                job = pending.pop(0)
                gate.take(job, now)
                attempt = _next_attempt(job, runs_dir, run_id)
                # registered before it is announced: a Ctrl-C during the announcement still
                # finds it running, so `_drain` records how it ended
                running[executor.submit(job, retry)] = (job, now)
                log.write("start", job, attempt=attempt)
                display.started(job, attempt)
            wait_s = gate.interval if pending and gate.running < gate.slots else 1.0
            t_wait = time.monotonic()
            finished, _ = wait(
                list(running), timeout=max(0.05, wait_s), return_when=FIRST_COMPLETED
            )
            waited += time.monotonic() - t_wait
            for fut in finished:
                job, started = running.pop(fut)
                gate.give_back(job)
                outcome = fut.result()
                worker_time += time.monotonic() - started
                _record(report, log, display, job, outcome)
    except KeyboardInterrupt:
        report.interrupted = True
        display.note("interrupted: stopping the running episodes (finished ones are kept)")
        _drain(executor, running, report, log, display)
        raise
    finally:
        report.wall_time_s = time.monotonic() - t0
        display.stop()
        _reap(run_id)
        ran = len(report.outcomes) - len(report.skipped)
        if ran:
            busy = time.monotonic() - loop_start - waited
            report.scheduler_overhead_s = busy / ran
            report.worker_overhead_s = _overhead(report, worker_time, ran)
    return report


def _next_attempt(job: Job, runs_dir: Path, run_id: str) -> int:
    """The attempt number the next play of `job` gets (a folder there is set aside first)."""
    layout = RunLayout(runs_dir, run_id)
    earlier = layout.finished(job.spec) or layout.episode_folder(job.spec).exists()
    return layout.attempts_before(job.spec) + (2 if earlier else 1)


def _record(report: BenchReport, log: _Log, display: Display, job: Job, outcome: Outcome) -> None:
    report.outcomes[job.key] = outcome
    log.write(
        "end",
        job,
        attempt=outcome.attempt,
        status=outcome.status,
        infra=outcome.infra,
        reason=outcome.reason[:300],
        host=outcome.host,
    )
    display.finished(job, outcome)


def _drain(
    executor: Executor,
    running: dict[Future[Outcome], tuple[Job, float]],
    report: BenchReport,
    log: _Log,
    display: Display,
) -> None:
    """After Ctrl-C: interrupt every episode, wait for each to close, then kill stragglers."""
    executor.interrupt()
    deadline = time.monotonic() + INTERRUPT_GRACE_S
    try:
        while running and time.monotonic() < deadline:
            finished, _ = wait(list(running), timeout=0.5, return_when=FIRST_COMPLETED)
            for fut in finished:
                job, _ = running.pop(fut)
                _record(report, log, display, job, fut.result())
    except KeyboardInterrupt:  # a second Ctrl-C: do not wait any longer
        pass
    kill = getattr(executor, "kill", None)
    if running and callable(kill):
        display.note(f"{len(running)} episode(s) did not stop in time: killing them")
        kill()
        wait(list(running), timeout=10)


def _reap(run_id: str) -> None:
    """Remove containers of this run whose owner died (a killed child), and stale control dirs."""
    try:
        from mledojo.sandbox.cleanup import reap_control_dirs, reap_orphans
        from mledojo.sandbox.engine import docker_available

        if docker_available():
            reap_orphans(run_id)
        reap_control_dirs()
    except Exception:  # cleanup is best effort; `mledojo cleanup` does the same later
        pass


def _overhead(report: BenchReport, worker_time: float, ran: int) -> float:
    """Per episode: time in workers beyond the episodes' own wall time (imports, set-up)."""
    episode_time = sum(o.wall_time_s for k, o in report.outcomes.items() if k not in report.skipped)
    return max(0.0, worker_time - episode_time) / ran
