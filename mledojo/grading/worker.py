"""`GradingWorker`: grading in a fresh process that holds nothing worth stealing.

A submission is hostile input to pandas and to our checks. The host process holds what an
exploit would want (root, API keys in its environment and heap, every competition's
answers on disk), so grading runs in a child that:

* is a new interpreter (`subprocess`, `python -I`), not a fork: none of the host's memory
  is in it, and it gets an empty environment (no API keys);
* loads only this competition's answers (from the spec and the data paths it is sent),
  then drops to `nobody` when the host is root (no other competition's answers are
  readable: they are root-only files), keeps no supplementary groups and no descriptor but
  its pipes, and caps its address space;
* gets each submission as bytes over a pipe and answers in JSON frames that the host
  validates (`WorkerReply`, at most `MAX_REPLY_BYTES`): the root host never unpickles what
  the `nobody` worker sends, so a compromised worker cannot make it run code.

The child starts on the first grade (a second or two: it imports pandas and scikit-learn
and grades our sample once) and then serves every grade of the env. A grade that takes
longer than `timeout_s` kills the child (a fresh one serves the next grade) and is refused
as the submission's fault; a child that dies, or replies with anything but a well-formed
frame, is a `GradingError` (the benchmark's fault) and is replaced.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
from pathlib import Path

from pydantic import ValidationError

from mledojo.errors import GradingError, InvalidSubmissionError
from mledojo.grading.scorer import Scorer
from mledojo.grading.scoring import GradeReport, Part
from mledojo.grading.worker_protocol import (
    MAX_REPLY_BYTES,
    FrameError,
    WorkerInit,
    WorkerReply,
    WorkerRequest,
    read_frame,
    write_frame,
)

GRADE_TIMEOUT_S = 120.0
START_TIMEOUT_S = 300.0
#: The child's entry point: a module run by a fresh interpreter (see `worker_argv`).
ENTRY_MODULE = "mledojo._grading_worker"


def worker_argv() -> list[str]:
    """The command that starts a worker: this interpreter, isolated (`-I`: no PYTHON*
    variables, no user site, no current folder), importing mledojo from where the host
    did (appended to `sys.path`, so it never shadows an installed package)."""
    root = str(Path(__file__).resolve().parents[2])
    boot = (
        f"import sys; sys.path.append({root!r}); "
        f"import runpy; runpy.run_module({ENTRY_MODULE!r}, run_name='__main__')"
    )
    return [sys.executable, "-I", "-c", boot]


class GradingWorker:
    """Grades one competition's submissions in a fresh unprivileged child (module doc)."""

    def __init__(
        self,
        scorer: Scorer,
        *,
        timeout_s: float = GRADE_TIMEOUT_S,
        start_timeout_s: float = START_TIMEOUT_S,
    ) -> None:
        self.scorer = scorer
        self.timeout_s = timeout_s
        self.start_timeout_s = start_timeout_s
        self._proc: subprocess.Popen[bytes] | None = None

    def score(
        self, submission: Path, *, part: Part, display_name: str | None = None
    ) -> GradeReport:
        """Like `Scorer.score`, in the child; `submission` is a host-owned file."""
        reply = self._ask("score", submission, part, display_name)
        if reply.report is None:
            self.close()
            raise GradingError("the grading worker answered a grade without a report")
        return reply.report

    def validate(self, submission: Path, *, display_name: str | None = None) -> None:
        """Like `Scorer.validate`, in the child."""
        self._ask("validate", submission, "private", display_name)

    def close(self) -> None:
        """Stop the child (idempotent)."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        for stream in (proc.stdin, proc.stdout):
            with contextlib.suppress(OSError):
                if stream is not None:
                    stream.close()
        with contextlib.suppress(OSError):
            proc.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(5)

    @property
    def pid(self) -> int | None:
        """The child's pid while it runs (for tests and diagnostics)."""
        return None if self._proc is None else int(self._proc.pid)

    def _ask(self, op: str, submission: Path, part: Part, name: str | None) -> WorkerReply:
        data = Path(submission).read_bytes()  # a file the host wrote itself
        shown = name or Path(submission).name
        proc = self._ensure()
        request = WorkerRequest(op=op, part=part, display_name=shown[:500])  # type: ignore[arg-type]
        try:
            _write(proc, request.model_dump_json().encode())
            _write(proc, data)
            reply = self._read_reply(proc, time.monotonic() + self.timeout_s)
        except TimeoutError:
            self.close()
            raise InvalidSubmissionError(
                f"Submission `{shown}` took longer than {self.timeout_s:g} s to grade and "
                "was refused. Write one plain row per test id."
            ) from None
        except FrameError as exc:
            self.close()
            raise GradingError(
                f"the grading worker sent a malformed reply while grading `{shown}` ({exc}); "
                "it was stopped and nothing of it was used"
            ) from None
        except (EOFError, OSError) as exc:
            self.close()
            raise GradingError(f"the grading process died while grading `{shown}`") from exc
        if reply.kind == "invalid":
            raise InvalidSubmissionError(reply.message or f"Submission `{shown}` is invalid.")
        if reply.kind == "error":
            raise GradingError(reply.message or "the grading process failed")
        if reply.kind != "ok":
            self.close()
            raise GradingError(f"the grading worker answered `{reply.kind}` to a request")
        return reply

    def _read_reply(self, proc: subprocess.Popen[bytes], deadline: float) -> WorkerReply:
        """One reply frame, validated; anything else stops the worker (a `GradingError`)."""
        if proc.stdout is None:
            raise GradingError("the grading worker has no reply pipe")
        body = read_frame(proc.stdout.fileno(), max_bytes=MAX_REPLY_BYTES, deadline=deadline)
        try:
            return WorkerReply.model_validate_json(body)
        except ValidationError:
            self.close()
            raise GradingError(
                f"the grading worker sent a malformed reply ({len(body):,} bytes that are not "
                "a WorkerReply in JSON); it was stopped and nothing of it was used"
            ) from None

    def _ensure(self) -> subprocess.Popen[bytes]:
        if self._proc is not None and self._proc.poll() is None:
            return self._proc
        self.close()
        proc = subprocess.Popen(  # noqa: S603 - our own interpreter and entry point
            worker_argv(),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env={},  # not one variable of the host's (API keys)
            cwd="/",
            close_fds=True,
            bufsize=0,
        )
        self._proc = proc
        init = WorkerInit(
            spec=self.scorer.spec.model_dump(mode="json"),
            folder=str(self.scorer.competition.folder),
            origin=self.scorer.competition.origin,
            data=self.scorer.data.model_dump(mode="json"),
            max_bytes=self.scorer.max_bytes,
        )
        try:
            _write(proc, init.model_dump_json().encode())
            ready = self._read_reply(proc, time.monotonic() + self.start_timeout_s)
        except (EOFError, FrameError, OSError, TimeoutError) as exc:
            self.close()
            raise GradingError(
                f"the grading process for `{self.scorer.spec.id}` failed to start"
            ) from exc
        if ready.kind != "ready":
            self.close()
            raise GradingError(f"the grading worker answered `{ready.kind}` instead of `ready`")
        return proc

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self.close()


def _write(proc: subprocess.Popen[bytes], payload: bytes) -> None:
    if proc.stdin is None:
        raise OSError("the grading worker has no request pipe")
    write_frame(proc.stdin.fileno(), payload)
