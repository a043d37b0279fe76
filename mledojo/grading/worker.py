"""`GradingWorker`: grading in a child process that holds nothing worth stealing.

A submission is hostile input to pandas and to our checks. The host process holds what an
exploit would want (root, API keys in its environment, every competition's answers on
disk), so grading runs in a forked child that, before it reads any submission:

* drops to `nobody` when the host is root (no other competition's answers are readable:
  they are root-only files), keeps no supplementary groups;
* empties its environment (no API keys);
* caps its address space and CPU time;
* gets the submission as bytes over a pipe and writes them to a private temporary file.

The child is forked lazily, on the first grade, from a process that already holds this
competition's `Scorer` (answers and boards loaded), so a grade costs a pipe round trip, not
a re-import. A grade that takes longer than `timeout_s` kills the child (a fresh one serves
the next grade) and is refused as the submission's fault; a child that dies otherwise is a
`GradingError` (the benchmark's fault).
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import pwd
import resource
import tempfile
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from mledojo.errors import GradingError, InvalidSubmissionError
from mledojo.grading.scorer import Scorer
from mledojo.grading.scoring import GradeReport, Part

GRADE_TIMEOUT_S = 120.0
WORKER_MEMORY_MB = 8192
UNPRIVILEGED_USER = "nobody"


class GradingWorker:
    """Grades one competition's submissions in an unprivileged child (see the module doc)."""

    def __init__(self, scorer: Scorer, *, timeout_s: float = GRADE_TIMEOUT_S) -> None:
        self.scorer = scorer
        self.timeout_s = timeout_s
        self._conn: Connection | None = None
        self._proc: Any | None = None

    def score(
        self, submission: Path, *, part: Part, display_name: str | None = None
    ) -> GradeReport:
        """Like `Scorer.score`, in the child; `submission` is a host-owned file."""
        reply = self._ask("score", submission, part, display_name)
        return GradeReport.model_validate(reply)

    def validate(self, submission: Path, *, display_name: str | None = None) -> None:
        """Like `Scorer.validate`, in the child."""
        self._ask("validate", submission, "private", display_name)

    def close(self) -> None:
        """Stop the child (idempotent)."""
        conn, proc, self._conn, self._proc = self._conn, self._proc, None, None
        if conn is not None:
            with contextlib.suppress(OSError):
                conn.close()
        if proc is not None and proc.is_alive():
            proc.kill()
        if proc is not None:
            proc.join(5)

    @property
    def pid(self) -> int | None:
        """The child's pid while it runs (for tests and diagnostics)."""
        return None if self._proc is None else int(self._proc.pid)

    def _ask(self, op: str, submission: Path, part: Part, name: str | None) -> Any:
        data = Path(submission).read_bytes()  # a file the host wrote itself
        shown = name or Path(submission).name
        conn = self._ensure()
        try:
            conn.send((op, data, part, shown))
            if not conn.poll(self.timeout_s):
                self.close()
                raise InvalidSubmissionError(
                    f"Submission `{shown}` took longer than {self.timeout_s:g} s to grade and "
                    "was refused. Write one plain row per test id."
                )
            kind, payload = conn.recv()
        except (EOFError, OSError) as exc:
            self.close()
            raise GradingError(f"the grading process died while grading `{shown}`") from exc
        if kind == "invalid":
            raise InvalidSubmissionError(str(payload))
        if kind == "error":
            raise GradingError(str(payload))
        return payload

    def _ensure(self) -> Connection:
        if self._conn is not None and self._proc is not None and self._proc.is_alive():
            return self._conn
        self.close()
        ctx = multiprocessing.get_context("fork")
        parent, child = ctx.Pipe()
        proc = ctx.Process(target=_serve, args=(self.scorer, child), daemon=True)
        proc.start()
        child.close()
        self._conn, self._proc = parent, proc
        return parent

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self.close()


def _drop_privileges(keep_fd: int) -> None:
    # Nothing inherited from the host: not its Docker connection, not its sandboxes' sockets.
    os.closerange(3, keep_fd)
    os.closerange(keep_fd + 1, _max_fd())
    os.environ.clear()
    _wipe_initial_environment()
    if os.geteuid() == 0:
        user = pwd.getpwnam(UNPRIVILEGED_USER)
        os.setgroups([])
        os.setgid(user.pw_gid)
        os.setuid(user.pw_uid)
    limit = _vm_size_bytes() + WORKER_MEMORY_MB * 1024 * 1024  # on top of what the fork holds
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def _wipe_initial_environment() -> None:
    """Zero the process's initial environment block (what `/proc/<pid>/environ` shows).

    `os.environ.clear()` unsets the variables, but the strings the process started with
    stay in its memory; the kernel says where (`env_start`, `env_end` in /proc/self/stat).
    """
    import ctypes

    with contextlib.suppress(OSError, ValueError, IndexError):
        fields = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
        start, end = int(fields[47]), int(fields[48])  # stat fields 50 and 51
        if 0 < start < end:
            ctypes.memset(start, 0, end - start)


def _max_fd() -> int:
    try:
        return max(256, int(os.sysconf("SC_OPEN_MAX")))
    except (ValueError, OSError):
        return 65536


def _vm_size_bytes() -> int:
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    return 0


def _warm_up(scorer: Scorer) -> None:
    """Grade our own sample submission once, before privileges drop.

    Grading imports modules lazily (scikit-learn, scipy, parts of the standard library);
    once the child is `nobody` it may not be able to read the Python installation (under
    a 0700 home, say). One trusted grade imports exactly what grading needs.
    """
    with contextlib.suppress(Exception):  # e.g. a one-class public part: reported later
        scorer.score(scorer.sample_path, part="public")
    with contextlib.suppress(Exception):
        scorer.score(scorer.sample_path, part="private")


def _serve(scorer: Scorer, conn: Connection) -> None:  # pragma: no cover - in the child
    _warm_up(scorer)
    _drop_privileges(conn.fileno())
    scratch = Path(tempfile.mkdtemp(prefix="mledojo-grade-"))
    path = scratch / "submission.csv"
    while True:
        try:
            op, data, part, shown = conn.recv()
        except (EOFError, OSError):
            return
        try:
            path.write_bytes(data)
            if op == "validate":
                scorer.validate(path, display_name=shown)
                reply: tuple[str, Any] = ("ok", None)
            else:
                report = scorer.score(path, part=part, display_name=shown)
                reply = ("ok", report.model_dump())
        except InvalidSubmissionError as exc:
            reply = ("invalid", str(exc))
        except MemoryError:
            reply = ("invalid", f"Submission `{shown}` needed too much memory to grade.")
        except Exception as exc:  # noqa: BLE001 - reported to the host as the benchmark's fault
            reply = ("error", f"{type(exc).__name__}: {str(exc)[:500]}")
        finally:
            path.unlink(missing_ok=True)
        conn.send(reply)
