"""nomad2018-predict-transparent-conductors: MLE-bench's split, byte for byte.

A 10% random split of Kaggle's `train.csv` (`random_state=seed`); ids of each side are
renumbered 1..n in split order. The sample submission is the constant
(0.1779, 1.8892). With the default data seed (0) the four CSV files have the MD5s published
in MLE-bench's `checksums.yaml`. That split is the evaluation split; any other data seed
re-splits its training rows (Kaggle ids, before renumbering) the same way: a training
variant, which holds no evaluation test row (`mledojo.data.split.carve`; its renumbered ids
say nothing of the evaluation rows).

Geometry: when the raw folder holds the atom positions (`geometry_xyz.tar.gz` from the
organisers' repository, or Kaggle's unzipped `train/<id>/geometry.xyz`), they are written to
one archive, `public/geometry.tar`, holding `train/<new id>/geometry.xyz` and
`test/<new id>/geometry.xyz` (MLE-bench's folder layout, under the new ids). One archive
instead of 2,700 small files keeps preparation and cache checks fast; its bytes are
deterministic (fixed mtime and owner). Without the raw geometry only the tables are prepared.
"""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pandas as pd
from sklearn.model_selection import train_test_split

from mledojo.data.io import read_exact
from mledojo.data.split import carve

TARGETS = ["formation_energy_ev_natom", "bandgap_energy_ev"]
ID = "id"
SAMPLE = {"formation_energy_ev_natom": 0.1779, "bandgap_energy_ev": 1.8892}
ARCHIVE = "geometry_xyz.tar.gz"
XYZ = "geometry.xyz"


def renumber(part: pd.DataFrame) -> tuple[pd.DataFrame, dict[int, int]]:
    """The rows with ids 1..n (in order) and the map old id -> new id."""
    mapping = {int(old): new for new, old in enumerate(part[ID], start=1)}
    out = part.copy()
    out[ID] = out[ID].map(mapping)
    return out, mapping


def _raw_geometry(raw: Path) -> dict[int, bytes]:
    """`{Kaggle train id: geometry.xyz bytes}` from the raw folder ({} when absent)."""
    found: dict[int, bytes] = {}
    if (raw / ARCHIVE).is_file():
        with tarfile.open(raw / ARCHIVE) as tar:
            for member in tar:
                parts = member.name.split("/")
                if member.isfile() and len(parts) == 3 and parts[0] == "train" and parts[2] == XYZ:
                    handle = tar.extractfile(member)
                    if handle is not None and parts[1].isdigit():
                        found[int(parts[1])] = handle.read()
        return found
    for folder in (raw / "train" / "train", raw / "train"):
        for path in folder.glob(f"*/{XYZ}"):
            if path.parent.name.isdigit():
                found[int(path.parent.name)] = path.read_bytes()
        if found:
            break
    return found


def write_geometry(
    geometry: dict[int, bytes], sides: dict[str, dict[int, int]], dest: Path
) -> None:
    """One deterministic tar: `<side>/<new id>/geometry.xyz` for every kept row."""
    with tarfile.open(dest, "w", format=tarfile.USTAR_FORMAT) as tar:
        for side, mapping in sides.items():
            for old, new in sorted(mapping.items(), key=lambda item: item[1]):
                data = geometry[old]
                info = tarfile.TarInfo(f"{side}/{new}/{XYZ}")
                info.size, info.mtime, info.mode = len(data), 0, 0o644
                tar.addfile(info, io.BytesIO(data))


def mlebench_split(full: pd.DataFrame, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """MLE-bench's split: 10 % random, `random_state=seed`."""
    train, test = train_test_split(full, test_size=0.1, random_state=seed)
    return train, test


def prepare(raw: Path, public: Path, private: Path, seed: int, evaluation_seed: int) -> None:
    """Write public train/test/sample submission (+ geometry) and the private answers."""
    full = read_exact(raw / "train.csv")
    old_train, old_test = carve(
        full, seed=seed, evaluation_seed=evaluation_seed, split=mlebench_split, id_columns=[ID]
    )
    train, train_ids = renumber(old_train)
    test, test_ids = renumber(old_test)
    train.to_csv(public / "train.csv", index=False)
    test.to_csv(private / "test.csv", index=False)
    test.drop(columns=TARGETS).to_csv(public / "test.csv", index=False)
    pd.DataFrame({ID: test[ID], **SAMPLE}).to_csv(public / "sample_submission.csv", index=False)
    geometry = _raw_geometry(raw)
    if geometry:
        missing = [i for i in (*train_ids, *test_ids) if i not in geometry]
        if missing:
            raise ValueError(f"{raw}: no geometry.xyz for id(s) {missing[:5]}")
        write_geometry(geometry, {"train": train_ids, "test": test_ids}, public / "geometry.tar")
