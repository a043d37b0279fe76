"""Where bench episodes run: `LocalExecutor` (a child process each) and `RayExecutor`.

An executor turns a `Job` into a `Future[Outcome]`, says how many CPUs and how much memory
it has (the scheduler's admission limits) and can stop what runs (`--backend local|ray`
chooses one). The local executor puts
every episode in its own child process, in a session of its own, so a crash in one
episode cannot take the bench down and Ctrl-C reaches each child exactly once (forwarded).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from mledojo.artifacts import EpisodeStatus
from mledojo.bench.plan import BenchError, Job
from mledojo.bench.worker import (
    INTERRUPTED_EXIT,
    PARENT_ENV,
    Outcome,
    OutcomeStatus,
    read_outcome,
)
from mledojo.layout import RunLayout

HARD_CAP = 32  # episodes at once on one executor, whatever --workers says
INTERRUPT_GRACE_S = 30.0  # how long a child may take to close its episode after Ctrl-C
WORKER_DIR = ".workers"  # per-episode worker logs and outcomes (hidden: not a result)


@dataclass(frozen=True)
class Capacity:
    """What the executor can give episodes at once."""

    cpus: float
    memory_mb: int


class Executor(Protocol):
    name: str

    def capacity(self) -> Capacity: ...

    def submit(self, job: Job, retry: tuple[EpisodeStatus, ...]) -> Future[Outcome]: ...

    def interrupt(self) -> None: ...

    def close(self) -> None: ...


def machine_capacity() -> Capacity:
    """This machine's usable CPUs (affinity) and available memory (MemAvailable)."""
    try:
        cpus = float(len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        cpus = float(os.cpu_count() or 1)
    memory_mb = 0
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    memory_mb = int(line.split()[1]) // 1024
                    break
    except (OSError, ValueError, IndexError):
        pass
    if memory_mb <= 0:
        try:
            memory_mb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2**20
        except (ValueError, OSError):
            memory_mb = 4096
    return Capacity(cpus=cpus, memory_mb=memory_mb)


# The reason of an episode a Ctrl-C stopped before it began: no attempt folder, nothing played.
NOT_BEGUN = "interrupted before its episode began"


class LocalExecutor:
    """Each episode in a child process (`python -m mledojo.bench.worker`) on this machine."""

    name = "local"

    def __init__(self, runs_dir: Path, run_id: str) -> None:
        self.runs_dir, self.run_id = runs_dir, run_id
        self._pool = ThreadPoolExecutor(max_workers=HARD_CAP, thread_name_prefix="bench")
        self._children: dict[int, subprocess.Popen[str]] = {}
        self._lock = threading.Lock()
        self._stopping = False

    def capacity(self) -> Capacity:
        return machine_capacity()

    def submit(self, job: Job, retry: tuple[EpisodeStatus, ...]) -> Future[Outcome]:
        return self._pool.submit(self._run, job, retry)

    def _run(self, job: Job, retry: tuple[EpisodeStatus, ...]) -> Outcome:
        logs = self.runs_dir / self.run_id / WORKER_DIR
        logs.mkdir(parents=True, exist_ok=True)
        outcome_path = logs / f"{job.key}.outcome.json"
        outcome_path.unlink(missing_ok=True)
        log_path = logs / f"{job.key}.log"
        cmd = [
            sys.executable,
            "-m",
            "mledojo.bench.worker",
            str(self.runs_dir),
            self.run_id,
            ",".join(retry),
            str(outcome_path),
        ]
        with self._lock:
            if self._stopping:
                return _unfinished(job, self.runs_dir, self.run_id, NOT_BEGUN, status="interrupted")
            with log_path.open("a", encoding="utf-8") as log:
                child = subprocess.Popen(
                    cmd,
                    stdin=subprocess.PIPE,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    text=True,
                    start_new_session=True,  # Ctrl-C on the terminal reaches it once, from us
                    env={**os.environ, PARENT_ENV: str(os.getpid())},
                )
            self._children[child.pid] = child
        try:
            _feed(child, job.model_dump_json())
            # Wait for the exit without reaping: while the child is an unreaped zombie its pid
            # and process group cannot name another process, so `interrupt` and `kill`, which
            # signal under the lock, only reach this run's workers.
            os.waitid(os.P_PID, child.pid, os.WEXITED | os.WNOWAIT)
        finally:
            with self._lock:
                self._children.pop(child.pid, None)
        child.wait()
        if child.returncode == 0 and outcome_path.is_file():
            return Outcome.model_validate_json(outcome_path.read_text(encoding="utf-8"))
        recorded = read_outcome(job, self.runs_dir, self.run_id, host="local")
        if recorded is not None:  # written atomically: the episode's truth, whatever the exit
            return recorded
        began = RunLayout(self.runs_dir, self.run_id).episode_folder(job.spec).exists()
        if interrupted_before_begin(self._stopping, child.returncode, began=began):
            return _unfinished(job, self.runs_dir, self.run_id, NOT_BEGUN, status="interrupted")
        return _unfinished(
            job,
            self.runs_dir,
            self.run_id,
            f"worker exited with code {child.returncode}: {_tail(log_path)} (log: {log_path})",
        )

    def interrupt(self) -> None:
        """Forward SIGINT once to every running child (each closes its episode)."""
        with self._lock:
            self._stopping = True
            self._signal_all(signal.SIGINT)

    def kill(self) -> None:
        """SIGKILL children that ignored the interrupt (their containers are then reaped)."""
        with self._lock:
            self._signal_all(signal.SIGKILL)

    def _signal_all(self, sig: signal.Signals) -> None:
        """Signal every child's process group; the caller holds the lock (see `_run`)."""
        for pid in self._children:
            try:
                os.killpg(pid, sig)
            except (ProcessLookupError, PermissionError):
                pass

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


def _feed(child: subprocess.Popen[str], text: str) -> None:
    """Write the job to the child's stdin and close it (a child that died early is fine)."""
    stdin = child.stdin
    if stdin is None:
        return
    try:
        stdin.write(text)
    except BrokenPipeError:
        pass
    finally:
        with contextlib.suppress(BrokenPipeError):
            stdin.close()  # closes the pipe even when its flush fails


def _tail(path: Path, lines: int = 3) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    return " | ".join(text.strip().splitlines()[-lines:])[-500:]


def interrupted_before_begin(stopping: bool, returncode: int | None, *, began: bool) -> bool:
    """Whether a worker that recorded no outcome was stopped by our Ctrl-C, not dead.

    Its exit says so (130, or death by SIGINT before Python set its handler); so does any
    exit once we had sent the Ctrl-C while its episode had no folder yet: a SIGINT that lands
    while the interpreter still starts ends it with status 1 and an import traceback, and
    nothing was played either way. A rerun plays the episode.
    """
    if not stopping:
        return False
    return returncode in (INTERRUPTED_EXIT, -signal.SIGINT) or not began


def _unfinished(
    job: Job, runs_dir: Path, run_id: str, reason: str, *, status: OutcomeStatus = "worker_died"
) -> Outcome:
    attempt = RunLayout(runs_dir, run_id).attempts_before(job.spec) + 1
    return Outcome(key=job.key, status=status, reason=reason, attempt=attempt)


def make_executor(name: str, *, runs_dir: Path, run_id: str, address: str | None = None) -> Any:
    """The executor `--backend name` chooses (`local` or `ray`)."""
    if name == "local":
        return LocalExecutor(runs_dir, run_id)
    if name == "ray":
        from mledojo.bench.ray_executor import RayExecutor

        return RayExecutor(runs_dir, run_id, address=address)
    raise BenchError(f"--backend {name!r}: choose local or ray")
