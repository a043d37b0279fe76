"""Checksums of a competition's raw source files (`raw_checksums.yaml` in its folder)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import yaml

from mledojo.competition import Competition
from mledojo.errors import DataError

RAW_CHECKSUMS = "raw_checksums.yaml"


def md5_file(path: Path) -> str:
    """md5 of a file (the digest Kaggle-derived benchmarks publish)."""
    h = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def expected_raw_checksums(comp: Competition) -> dict[str, str]:
    """`{file name: md5}` recorded in the competition folder, or {} when none is recorded."""
    path = comp.path(RAW_CHECKSUMS)
    if not path.is_file():
        return {}
    data = yaml.safe_load(path.read_text())
    if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
        raise DataError(f"{path}: expected a mapping `file name: md5`")
    for name in data:
        if Path(str(name)).is_absolute() or ".." in Path(str(name)).parts:
            raise DataError(
                f"{path}: `{str(name):.200}` must be a file name relative to the raw folder "
                "(no absolute path, no `..`)"
            )
    return {str(k): v for k, v in data.items()}


def verify_raw_files(comp: Competition, folder: Path) -> None:
    """Every recorded raw file must be present in `folder` with the recorded md5."""
    for name, digest in expected_raw_checksums(comp).items():
        path = folder / name
        if not path.is_file():
            raise DataError(
                f"{path}: missing. The raw folder for `{comp.id}` must hold the files of the "
                f"Kaggle download ({', '.join(expected_raw_checksums(comp))})."
            )
        actual = md5_file(path)
        if actual != digest:
            raise DataError(
                f"{path}: md5 {actual} differs from the recorded {digest} "
                f"(wrong, truncated or modified file). Download it again from Kaggle."
            )
