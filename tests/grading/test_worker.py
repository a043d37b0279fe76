"""`GradingWorker`: grades like `Scorer`, in a child with no privileges, keys or host fds."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pandas as pd
import pytest

import mledojo
from mledojo.competition import get_competition
from mledojo.errors import GradingError, InvalidSubmissionError
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


def test_a_dead_worker_is_a_grading_error_and_is_replaced(scorer: Scorer, sample: Path) -> None:
    worker = GradingWorker(scorer)
    try:
        worker.validate(sample)
        assert worker.pid is not None
        os.kill(worker.pid, signal.SIGSTOP)
        os.kill(worker.pid, signal.SIGKILL)
        with pytest.raises(GradingError, match="died"):
            worker.score(sample, part="public")
        assert worker.score(sample, part="public").score > 0
    finally:
        worker.close()
