"""The preparation cache: reuse, self-healing, concurrency, `force`, answer permissions.

Uses a real Kaggle competition (titanic, small) from `../shared/datasets/kaggle/`.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import stat
from pathlib import Path

import pandas as pd
import pytest

from mledojo.competition import get_competition
from mledojo.data.prepare import MANIFEST, PreparedData, prepare
from mledojo.testing.shared_data import kaggle_root, need_kaggle

KAGGLE_DIR = kaggle_root()
CID = "titanic"


@pytest.fixture(autouse=True)
def _raw_files(monkeypatch: pytest.MonkeyPatch) -> None:
    need_kaggle(CID)
    monkeypatch.setenv("MLEDOJO_KAGGLE_DIR", str(KAGGLE_DIR))


def _snapshot(data: PreparedData) -> dict[str, bytes]:
    return {
        str(p.relative_to(data.root)): p.read_bytes()
        for p in sorted(data.root.rglob("*"))
        if p.is_file() and p.name != MANIFEST
    }


def test_second_prepare_reuses_the_cache(tmp_path: Path) -> None:
    # Its speed (< 0.3 s) is measured by benchmarks/bench_prepare.py, not here.
    first = prepare(CID, cache_dir=tmp_path)
    assert not first.reused
    second = prepare(CID, cache_dir=tmp_path)
    assert second.reused and second.root == first.root


def test_corrupted_file_is_detected_and_rebuilt(tmp_path: Path) -> None:
    data = prepare(CID, cache_dir=tmp_path)
    good = _snapshot(data)
    path = data.public_dir / "train.csv"
    raw = bytearray(path.read_bytes())
    raw[100] = ord("#") if raw[100] != ord("#") else ord("$")
    path.write_bytes(bytes(raw))
    again = prepare(CID, cache_dir=tmp_path)
    assert not again.reused
    assert _snapshot(again) == good


def test_half_written_cache_is_rebuilt(tmp_path: Path) -> None:
    data = prepare(CID, cache_dir=tmp_path)
    good = _snapshot(data)
    (data.root / MANIFEST).unlink()
    again = prepare(CID, cache_dir=tmp_path)
    assert not again.reused
    assert (again.root / MANIFEST).is_file()
    assert _snapshot(again) == good


def test_force_rebuilds(tmp_path: Path) -> None:
    data = prepare(CID, cache_dir=tmp_path)
    before = (data.root / MANIFEST).stat().st_mtime_ns
    again = prepare(CID, cache_dir=tmp_path, force=True)
    assert not again.reused
    assert (again.root / MANIFEST).stat().st_mtime_ns != before
    assert _snapshot(again) == _snapshot(data)


def _prepare_in_child(cache: str) -> str:
    os.environ["MLEDOJO_KAGGLE_DIR"] = str(KAGGLE_DIR)
    data = prepare(CID, cache_dir=cache)
    return str(data.root)


def test_two_processes_preparing_at_once_are_safe(tmp_path: Path) -> None:
    ctx = mp.get_context("spawn")
    with ctx.Pool(2) as pool:
        roots = pool.map(_prepare_in_child, [str(tmp_path)] * 2)
    assert roots[0] == roots[1]
    data = prepare(CID, cache_dir=tmp_path)
    assert data.reused  # both children left one complete, verified cache
    leftovers = [p.name for p in data.root.parent.iterdir() if ".tmp-" in p.name]
    assert leftovers == []


def test_answers_are_private_to_the_owner(tmp_path: Path) -> None:
    data = prepare(CID, cache_dir=tmp_path)
    for path in data.private_dir.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    assert stat.S_IMODE(data.private_dir.stat().st_mode) == 0o700


def test_public_test_has_no_target(tmp_path: Path) -> None:
    data = prepare(CID, cache_dir=tmp_path)
    target = get_competition(CID).spec.target
    assert target not in pd.read_csv(data.public_dir / "test.csv", nrows=0).columns
    assert target in pd.read_csv(data.answers_path, nrows=0).columns
