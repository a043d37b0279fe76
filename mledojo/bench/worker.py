"""One bench episode, run where the executor puts it: a child process or a Ray task.

`python -m mledojo.bench.worker RUNS_DIR RUN_ID RETRY OUTCOME` reads a `Job` (JSON: the
resolved spec) on stdin, loads its competition once, plays it with
`mledojo.play.run_episode` and writes its `Outcome` to the file OUTCOME. A SIGINT (Ctrl-C
forwarded by the scheduler, or the scheduler's death) stops the episode through the
episode's own interrupt path, which removes its container. The
scheduler gives the child a log file, never a pipe, for stdout and stderr: a pipe to a dead
scheduler would make the first warning during that clean-up fail it.
"""

from __future__ import annotations

import os
import signal
import socket
import sys
import time
from pathlib import Path
from typing import Literal

from pydantic import BaseModel

from mledojo._files import write_text_atomic
from mledojo._process import obey_sigint
from mledojo.artifacts import INFRA_STATUSES, RESULT_FILE, EpisodeResult, EpisodeStatus
from mledojo.bench.plan import Job
from mledojo.layout import RunLayout

INTERRUPTED_EXIT = 130  # the exit status after a SIGINT, as a shell reports Ctrl-C
OutcomeStatus = EpisodeStatus | Literal["worker_died"]
PARENT_ENV = "MLEDOJO_BENCH_PARENT"
PR_SET_PDEATHSIG = 1


class Outcome(BaseModel):
    """What became of one job: the episode's status and grade, or that its worker died."""

    key: str
    status: OutcomeStatus
    reason: str = ""
    private_score: float | None = None
    private_human_rank: float | None = None
    wall_time_s: float = 0.0
    host: str = ""
    attempt: int = 1
    overhead_s: float = 0.0  # time in the worker outside the episode (imports, setup)

    @property
    def infra(self) -> bool:
        """A failure of the benchmark, reported apart from the agent's own failures."""
        return self.status in INFRA_STATUSES or self.status == "worker_died"


def outcome_from_result(result: EpisodeResult, *, host: str, attempt: int) -> Outcome:
    f = result.final
    return Outcome(
        key=result.key or "",
        status=result.status,
        reason=result.end_reason,
        private_score=f.private_score if f.graded else None,
        private_human_rank=f.private_human_rank if f.graded else None,
        wall_time_s=result.wall_time_s,
        host=host,
        attempt=attempt,
    )


def read_outcome(job: Job, runs_dir: Path, run_id: str, *, host: str = "") -> Outcome | None:
    """The outcome recorded in the job's `result.json`, or None when it has none."""
    layout = RunLayout(runs_dir, run_id)
    folder = layout.finished(job.spec)
    if folder is None:
        return None
    return outcome_from_result(
        EpisodeResult.load(folder / RESULT_FILE),
        host=host,
        attempt=layout.attempts_before(job.spec) + 1,
    )


def run_job(job: Job, runs_dir: Path, run_id: str, retry: tuple[EpisodeStatus, ...]) -> Outcome:
    """Play one job (skipping it when finished and not to be retried) and say how it went."""
    t0 = time.monotonic()
    from mledojo.play import run_episode
    from mledojo.resolve import ResolvedEpisode, competition_of

    layout = RunLayout(runs_dir, run_id)
    episode = ResolvedEpisode(job.spec, competition_of(job.spec))
    result = run_episode(episode, layout=layout, retry=retry, record=False)
    out = outcome_from_result(
        result, host=socket.gethostname(), attempt=layout.attempts_before(job.spec) + 1
    )
    out.overhead_s = max(0.0, time.monotonic() - t0 - result.wall_time_s)
    return out


def die_with_parent() -> bool:
    """Get SIGINT when the scheduler dies (crash, SIGKILL), so the episode closes cleanly.

    Without it, a killed scheduler would leave children playing on, and a rerun would set
    their folders aside under them. Returns False when the parent is already gone.
    """
    if sys.platform.startswith("linux"):
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGINT), 0, 0, 0)
    expected = os.environ.get(PARENT_ENV)
    return not expected or os.getppid() == int(expected)


def main(argv: list[str]) -> int:
    obey_sigint()  # before the parent-death signal is armed: it is a SIGINT too
    if not die_with_parent():
        return INTERRUPTED_EXIT
    if len(argv) != 4:
        sys.stderr.write(
            "usage: python -m mledojo.bench.worker RUNS_DIR RUN_ID RETRY OUTCOME < job.json\n"
        )
        return 2
    runs_dir, run_id, retry_text, outcome_path = Path(argv[0]), argv[1], argv[2], Path(argv[3])
    retry = tuple(s for s in retry_text.split(",") if s)
    job = Job.model_validate_json(sys.stdin.read())
    try:
        out = run_job(job, runs_dir, run_id, retry)  # type: ignore[arg-type]
    except KeyboardInterrupt:
        return INTERRUPTED_EXIT
    write_text_atomic(outcome_path, out.model_dump_json())
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main(sys.argv[1:]))
