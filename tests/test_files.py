"""The one bounded reader (`mledojo._files`) and its users: the board, export, submit, grading.

Attacks on a run folder or a submission someone else wrote: a symlink to a host secret, a
FIFO (opening one for reading blocks until a writer comes: the old reader hung there), a
file over its cap.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from mledojo._files import UnsafeFileError, iter_bounded_lines, read_bounded
from mledojo.competition import get_competition
from mledojo.errors import InvalidSubmissionError
from mledojo.grading.validate import read_submission
from mledojo.leaderboard import LeaderboardError
from mledojo.leaderboard.export import export_run


def _fifo(path: Path) -> Path:
    os.mkfifo(path)
    return path


def _no_hang(fn: Callable[[Path], object], path: Path) -> BaseException | None:
    """Run `fn(path)` in a thread and return what it raised; fail if it still blocks after 5 s
    (then a writer is opened on the FIFO, so the thread ends)."""
    caught: list[BaseException] = []

    def run() -> None:
        try:
            fn(path)
        except Exception as e:  # handed back to the test
            caught.append(e)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(5)
    if thread.is_alive():
        os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))
        pytest.fail(f"reading {path} blocked: a FIFO must be refused, not opened for reading")
    return caught[0] if caught else None


def test_the_reader_refuses_symlinks_fifos_and_oversize(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text("host secret\n")
    link = tmp_path / "link"
    link.symlink_to(secret)
    with pytest.raises(UnsafeFileError) as err:
        read_bounded(link, max_bytes=100)
    assert err.value.reason == "unopenable"
    found = _no_hang(lambda p: read_bounded(p, max_bytes=100), _fifo(tmp_path / "fifo"))
    assert isinstance(found, UnsafeFileError) and found.reason == "not_regular"
    big = tmp_path / "big"
    big.write_bytes(b"x\n" * 100)
    with pytest.raises(UnsafeFileError, match="larger than 199 bytes") as err:
        read_bounded(big, max_bytes=199)
    assert err.value.reason == "too_large"
    assert read_bounded(big, max_bytes=200) == b"x\n" * 100
    with pytest.raises(UnsafeFileError, match="big:1: a line over 1 bytes"):
        list(iter_bounded_lines(big, max_bytes=1000, max_line_bytes=1))
    with pytest.raises(UnsafeFileError, match="big: larger than 9 bytes"):
        list(iter_bounded_lines(big, max_bytes=9))


def test_export_refuses_a_fifo_trajectory_without_blocking(tmp_path: Path) -> None:
    episode = tmp_path / "run" / "c" / "a" / "seed-0"
    episode.mkdir(parents=True)
    _fifo(episode / "trajectory.jsonl")
    run = tmp_path / "run"
    found = _no_hang(lambda _: list(export_run(run, "jsonl")), episode / "trajectory.jsonl")
    assert isinstance(found, LeaderboardError) and "not a regular file" in str(found)


def test_grading_reads_no_symlinked_submission(tmp_path: Path) -> None:
    spec = get_competition("titanic").spec
    real = tmp_path / "real.csv"
    real.write_text("PassengerId,Survived\n892,0\n")
    link = tmp_path / "submission.csv"
    link.symlink_to(real)
    with pytest.raises(InvalidSubmissionError, match="submission.csv` cannot be read"):
        read_submission(link, spec)
    assert len(read_submission(real, spec)) == 1
