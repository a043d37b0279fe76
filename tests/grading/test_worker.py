"""`GradingWorker`: grades like `Scorer`, in a child with no privileges, keys or host fds."""

from __future__ import annotations

import os
import pickle
import secrets
import signal
import sys
from pathlib import Path

import pandas as pd
import pytest

import mledojo
from mledojo.competition import get_competition
from mledojo.errors import GradingError, InvalidSubmissionError
from mledojo.grading import worker as worker_module
from mledojo.grading.scorer import Scorer
from mledojo.grading.worker import GradingWorker


@pytest.fixture(scope="module")
def scorer() -> Scorer:
    return Scorer(get_competition("pump-failure"), mledojo.prepare("pump-failure"))


@pytest.fixture
def sample(scorer: Scorer, tmp_path: Path) -> Path:
    data = mledojo.prepare("pump-failure")
    sub = pd.read_csv(data.public_dir / "test.csv")[["id"]]
    sub["failure_24h"] = (sub["id"] % 7) / 7
    path = tmp_path / "sub.csv"
    sub.to_csv(path, index=False)
    return path


def test_the_worker_grades_like_the_scorer(scorer: Scorer, sample: Path) -> None:
    worker = GradingWorker(scorer)
    try:
        for part in ("public", "private"):
            assert worker.score(sample, part=part) == scorer.score(sample, part=part)  # type: ignore[arg-type]
    finally:
        worker.close()


def test_the_worker_holds_no_privilege_no_key_and_no_host_descriptor(
    scorer: Scorer, sample: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-must-not-leak")
    leaked = os.open(os.devnull, os.O_RDONLY)  # stands for the host's Docker connection
    worker = GradingWorker(scorer)
    try:
        worker.validate(sample)
        pid = worker.pid
        assert pid is not None
        status = Path(f"/proc/{pid}/status").read_text()
        uids = next(line for line in status.splitlines() if line.startswith("Uid:")).split()[1:]
        if os.geteuid() == 0:
            assert set(uids) == {str(65534)}, uids
        assert Path(f"/proc/{pid}/environ").read_bytes().strip(b"\0") == b""
        fds = {int(fd) for fd in os.listdir(f"/proc/{pid}/fd")}
        assert leaked not in fds and len(fds) <= 4, fds
    finally:
        worker.close()
        os.close(leaked)


def test_a_slow_grade_is_refused_and_the_next_one_works(scorer: Scorer, sample: Path) -> None:
    worker = GradingWorker(scorer, timeout_s=1e-4)
    try:
        with pytest.raises(InvalidSubmissionError, match="longer than"):
            worker.score(sample, part="public")
        worker.timeout_s = 60
        assert worker.score(sample, part="public").score > 0
    finally:
        worker.close()


def test_a_worker_that_dies_mid_grade_is_a_grading_error_and_is_replaced(
    scorer: Scorer, sample: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Killed after the request went out and before its reply. The worker is stopped
    (SIGSTOP) before the request, so it cannot answer first: a fast worker under load had
    written its reply into the pipe before the kill landed, and the grade succeeded."""
    worker = GradingWorker(scorer)
    read_reply = worker._read_reply

    def die_then_read(proc, deadline):  # type: ignore[no-untyped-def]
        proc.kill()
        proc.wait(10)
        return read_reply(proc, deadline)

    try:
        worker.validate(sample)
        monkeypatch.setattr(worker, "_read_reply", die_then_read)
        assert worker.pid is not None
        os.kill(worker.pid, signal.SIGSTOP)  # it reads nothing and answers nothing until killed
        with pytest.raises(GradingError, match="died"):
            worker.score(sample, part="public")
        monkeypatch.setattr(worker, "_read_reply", read_reply)
        assert worker.score(sample, part="public").score > 0
    finally:
        worker.close()


def test_a_worker_dead_between_grades_is_replaced_silently(scorer: Scorer, sample: Path) -> None:
    worker = GradingWorker(scorer)
    try:
        worker.validate(sample)
        first = worker.pid
        assert first is not None
        os.kill(first, signal.SIGKILL)
        assert worker._proc is not None
        worker._proc.wait(10)
        assert worker.score(sample, part="public").score > 0
        assert worker.pid not in (None, first)
    finally:
        worker.close()


# --------------------------------------------------------------------------- issue 17 item 10


def _readable_memory(pid: int) -> bytes:
    """Every readable region of process `pid`'s memory (root reads another uid's)."""
    out = bytearray()
    with open(f"/proc/{pid}/maps") as maps, open(f"/proc/{pid}/mem", "rb", 0) as mem:
        for line in maps:
            fields = line.split()
            if "r" not in fields[1] or (len(fields) > 5 and fields[5] in ("[vvar]", "[vsyscall]")):
                continue
            start, end = (int(x, 16) for x in fields[0].split("-"))
            try:
                mem.seek(start)
                out += mem.read(end - start)
            except (OSError, ValueError, OverflowError):
                continue
    return bytes(out)


@pytest.mark.skipif(os.geteuid() != 0, reason="reading another process's memory needs root")
def test_the_worker_holds_none_of_the_hosts_secrets(
    scorer: Scorer, sample: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The worker used to be a fork of the host: the host's heap (API keys, a pasted token)
    was in its memory. Now it is a fresh interpreter with an empty environment."""
    canary = "sk-canary-" + secrets.token_hex(16)
    monkeypatch.setenv("OPENAI_API_KEY", canary)
    held = [canary.encode() + b"-in-the-heap" for _ in range(3)]  # noqa: F841 - kept alive
    worker = GradingWorker(scorer)
    try:
        worker.validate(sample)
        pid = worker.pid
        assert pid is not None
        assert canary.encode() not in Path(f"/proc/{pid}/environ").read_bytes()
        memory = _readable_memory(pid)
        assert len(memory) > 10_000_000  # the scan did read the interpreter's memory
        assert canary.encode() not in memory
    finally:
        worker.close()


EVIL_WORKER = """
import os, pickle, struct
def frame(fd):
    n = struct.unpack(">I", os.read(fd, 4))[0]
    data = b""
    while len(data) < n:
        data += os.read(fd, n - len(data))
    return data
def send(data):
    os.write(1, struct.pack(">I", len(data)) + data)
class Boom:
    def __reduce__(self):
        return (open, ({mark!r}, "w"))
frame(0)
if {after_ready!r}:
    send(b'{{"kind": "ready"}}')
    frame(0)
    frame(0)
send({reply})
import time
time.sleep(30)
"""


@pytest.mark.parametrize("after_ready", [False, True], ids=["at-start", "as-a-grade"])
@pytest.mark.parametrize(
    "reply",
    ["pickle.dumps(Boom())", "b'{not json'", 'b\'{"kind": "ok", "report": 3}\'', "b'x' * 2000000"],
    ids=["pickle", "not-json", "wrong-shape", "oversized"],
)
def test_a_hostile_worker_reply_is_a_grading_error_never_executed(
    scorer: Scorer,
    sample: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    after_ready: bool,
    reply: str,
) -> None:
    """The root host used to unpickle the `nobody` worker's replies: a compromised worker
    could make it run code. Replies are now JSON frames validated by `WorkerReply`."""
    mark = tmp_path / "pwned"
    control = tmp_path / "armed"
    if reply.startswith("pickle"):  # the payload is live: unpickling it creates a file
        source = EVIL_WORKER.format(mark=str(control), after_ready=False, reply="b''")
        namespace: dict[str, object] = {}
        exec(source.split("frame(0)\n", 1)[0], namespace)  # noqa: S102 - defines Boom only
        pickle.loads(pickle.dumps(namespace["Boom"]()))  # noqa: S301 - the control
        assert control.exists()
    script = EVIL_WORKER.format(mark=str(mark), after_ready=after_ready, reply=reply)
    monkeypatch.setattr(worker_module, "worker_argv", lambda: [sys.executable, "-c", script])
    worker = GradingWorker(scorer, timeout_s=20, start_timeout_s=20)
    try:
        with pytest.raises(GradingError, match="malformed|failed to start"):
            worker.score(sample, part="public")
        assert not mark.exists(), "the host ran code from the worker's reply"
        assert worker.pid is None  # stopped
    finally:
        worker.close()
