"""The preparation cache: reuse, self-healing, concurrency, `force`, answer permissions.

Uses a real Kaggle competition (titanic, small) from `../shared/datasets/kaggle/`.
"""

from __future__ import annotations

import json
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


USER_SPEC = """\
id: edited-tumours
version: 1
title: "A competition its author is still editing"
task: binary
metric: {name: roc_auc, higher_is_better: true}
target: malignant
id_column: id
source: {kind: local, path: data, files: [table.csv]}
prepare: prepare.py
"""

USER_PREPARE = """\
import pandas as pd


def prepare(raw, public, private, seed):
    table = pd.read_csv(raw / "table.csv")
    test = table[table["id"] % 3 == 0]
    train = table[table["id"] % 3 != 0]
    train.assign(leak={leak}).to_csv(public / "train.csv", index=False)
    test.drop(columns=["malignant"]).to_csv(public / "test.csv", index=False)
    test[["id", "malignant"]].to_csv(private / "test.csv", index=False)
    test[["id"]].assign(malignant=0.5).to_csv(public / "sample_submission.csv", index=False)
"""


def test_an_edited_recipe_is_rebuilt_without_a_version_bump(tmp_path: Path) -> None:
    """An author fixes `prepare.py` (or replaces the raw table) and prepares again with the
    same version: the old files were served from the cache, so a fixed leak stayed."""
    from mledojo.competition import load_competition

    folder = tmp_path / "edited-tumours"
    (folder / "data").mkdir(parents=True)
    table = pd.DataFrame({"id": range(60), "x": range(60), "malignant": [0, 1] * 30})
    table.to_csv(folder / "data" / "table.csv", index=False)
    (folder / "competition.yaml").write_text(USER_SPEC)
    (folder / "description.md").write_text("Predict `malignant`.\n")
    (folder / "prepare.py").write_text(USER_PREPARE.format(leak="train['malignant']"))
    cache = tmp_path / "cache"

    first = prepare(load_competition(folder), cache_dir=cache)
    assert "leak" in pd.read_csv(first.public_dir / "train.csv").columns
    assert prepare(load_competition(folder), cache_dir=cache).reused  # unchanged: reused

    (folder / "prepare.py").write_text(USER_PREPARE.format(leak="0"))
    fixed = prepare(load_competition(folder), cache_dir=cache)
    assert not fixed.reused
    assert set(pd.read_csv(fixed.public_dir / "train.csv")["leak"]) == {0}

    table.assign(x=table["x"] * 2).to_csv(folder / "data" / "table.csv", index=False)
    os.utime(folder / "data" / "table.csv", ns=(1, 1))  # another time, whatever the clock
    replaced = prepare(load_competition(folder), cache_dir=cache)
    assert not replaced.reused
    assert pd.read_csv(replaced.public_dir / "train.csv")["x"].max() == 2 * 59

    manifest = json.loads((replaced.root / MANIFEST).read_text())
    del manifest["recipe"]  # a cache from before recipes: taken as is (decision 164)
    (replaced.root / MANIFEST).write_text(json.dumps(manifest))
    assert prepare(load_competition(folder), cache_dir=cache).reused
