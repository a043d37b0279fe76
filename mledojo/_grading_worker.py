"""The grading worker process's entry point (`mledojo.grading.worker` starts it).

It is started fresh (`subprocess`, a new interpreter with an empty environment), never
forked from the host, so nothing the host held (API keys in its environment or heap, other
episodes' state) is in its memory. It reads one `WorkerInit` frame on stdin (a competition
spec and the prepared data's paths), loads that competition's answers, grades our own
sample submission once (so every module grading needs is imported while the Python
installation is readable), then drops its privileges and answers `WorkerRequest`s with
`WorkerReply` frames on stdout (JSON, see `mledojo.grading.worker_protocol`).

It sits outside the package's layers, like a command-line entry point: it builds a
`PreparedData` (data) for a `Scorer` (grading), which the grading layer may not import.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import resource
import tempfile
from pathlib import Path

from pydantic import ValidationError

from mledojo.competition import Competition, CompetitionSpec
from mledojo.data.prepare import PreparedData
from mledojo.errors import InvalidSubmissionError
from mledojo.grading.scorer import Scorer
from mledojo.grading.worker_protocol import (
    MAX_MESSAGE_CHARS,
    MAX_REPLY_BYTES,
    MAX_REQUEST_BYTES,
    WorkerInit,
    WorkerReply,
    WorkerRequest,
    read_frame,
    write_frame,
)

WORKER_MEMORY_MB = 8192
UNPRIVILEGED_USER = "nobody"


def main() -> None:  # pragma: no cover - runs in the worker process
    """Serve grades until stdin closes (see the module docstring)."""
    reply_fd = os.dup(1)  # frames only: stray prints of a library go to /dev/null
    os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
    try:
        init = WorkerInit.model_validate_json(read_frame(0, max_bytes=MAX_REPLY_BYTES))
    except (EOFError, ValueError, ValidationError):
        return
    scorer = _scorer(init)
    _warm_up(scorer)
    _drop_privileges(keep=(0, 1, 2, reply_fd))
    scratch = Path(tempfile.mkdtemp(prefix="mledojo-grade-"))
    path = scratch / "submission.csv"
    _send(reply_fd, WorkerReply(kind="ready"))
    while True:
        try:
            request = WorkerRequest.model_validate_json(read_frame(0, max_bytes=MAX_REPLY_BYTES))
            data = read_frame(0, max_bytes=MAX_REQUEST_BYTES)
        except (EOFError, OSError, ValueError, ValidationError):
            return
        _send(reply_fd, _grade(scorer, request, data, path))


def _grade(scorer: Scorer, request: WorkerRequest, data: bytes, path: Path) -> WorkerReply:
    """One request's reply; faults are classified as in `Episode` (docs/episode.md)."""
    shown = request.display_name
    try:
        path.write_bytes(data)
        if request.op == "validate":
            scorer.validate(path, display_name=shown)
            return WorkerReply(kind="ok")
        report = scorer.score(path, part=request.part, display_name=shown)
        return WorkerReply(kind="ok", report=report)
    except InvalidSubmissionError as exc:
        return WorkerReply(kind="invalid", message=str(exc)[:MAX_MESSAGE_CHARS])
    except MemoryError:
        return WorkerReply(
            kind="invalid", message=f"Submission `{shown}` needed too much memory to grade."
        )
    except Exception as exc:  # noqa: BLE001 - reported to the host as the benchmark's fault
        return WorkerReply(kind="error", message=f"{type(exc).__name__}: {str(exc)[:500]}")
    finally:
        path.unlink(missing_ok=True)


def _send(fd: int, reply: WorkerReply) -> None:
    write_frame(fd, reply.model_dump_json().encode())


def _scorer(init: WorkerInit) -> Scorer:
    spec = CompetitionSpec.model_validate(init.spec)
    competition = Competition(spec=spec, folder=Path(init.folder), origin=init.origin)
    data = PreparedData.model_validate(init.data)
    return Scorer(competition, data, max_bytes=init.max_bytes)


def _warm_up(scorer: Scorer) -> None:
    """Grade our own sample submission once, before privileges drop (imports everything
    grading needs while the installation is readable; see decision 30)."""
    with contextlib.suppress(Exception):  # e.g. a one-class public part: reported later
        scorer.score(scorer.sample_path, part="public")
    with contextlib.suppress(Exception):
        scorer.score(scorer.sample_path, part="private")


def _drop_privileges(keep: tuple[int, ...]) -> None:
    """`nobody` when started as root (other competitions' answers are root-only), no
    descriptor but `keep`, a memory cap, no core dumps."""
    top = _max_fd()
    low = 0
    for fd in sorted(keep):
        if low < fd:
            os.closerange(low, fd)
        low = fd + 1
    os.closerange(low, top)
    if os.geteuid() == 0:
        user = pwd.getpwnam(UNPRIVILEGED_USER)
        os.setgroups([])
        os.setgid(user.pw_gid)
        os.setuid(user.pw_uid)
    limit = _vm_size_bytes() + WORKER_MEMORY_MB * 1024 * 1024
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


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


if __name__ == "__main__":  # pragma: no cover
    main()
