"""split_dataset leaks nothing across parts; resample_dataset touches training parts only."""

from __future__ import annotations

import pandas as pd
import pytest

from mledojo.tools._base import ToolArgumentError

from .conftest import Box, copy_kaggle


def _parts(box: Box, out: dict) -> dict[str, pd.DataFrame]:  # type: ignore[type-arg]
    return {
        role: pd.read_parquet(box.workspace / "tools" / f"{p['handle']}.parquet")
        for role, p in out["parts"].items()
    }


def test_time_split_puts_every_later_row_after_every_training_row(box: Box) -> None:
    out = box.call(
        "split_dataset", path="/data/train.csv", target="failure_24h", kind="time",
        time_column="timestamp", valid_fraction=0.2, test_fraction=0.1, id_column="id",
    )  # fmt: skip
    parts = _parts(box, out)
    t = {r: pd.to_datetime(df["timestamp"]) for r, df in parts.items()}
    assert t["train"].max() < t["valid"].min() and t["valid"].max() < t["test"].min()
    total = sum(len(df) for df in parts.values())
    assert total == len(pd.read_csv(box.data / "train.csv"))
    ids = [set(df["id"]) for df in parts.values()]
    assert not (ids[0] & ids[1] or ids[0] & ids[2] or ids[1] & ids[2])
    assert 0.15 < len(parts["valid"]) / total < 0.25
    assert out["parts"]["test"]["role"] == "test"


def test_group_split_keeps_each_group_on_one_side(box: Box) -> None:
    out = box.call(
        "split_dataset",
        path="/data/train.csv",
        target="failure_24h",
        kind="group",
        group_column="pump_id",
        valid_fraction=0.3,
    )
    parts = _parts(box, out)
    assert not set(parts["train"]["pump_id"]) & set(parts["valid"]["pump_id"])
    assert len(set(parts["valid"]["pump_id"])) >= 1


def test_stratified_split_keeps_class_shares_on_a_kaggle_table(box: Box) -> None:
    copy_kaggle(box, "spaceship-titanic")
    out = box.call(
        "split_dataset", path="/data/train.csv", target="Transported", id_column="PassengerId"
    )
    assert out["kind"] == "stratified" and "warning" not in out
    parts = _parts(box, out)
    shares = [df["Transported"].mean() for df in parts.values()]
    assert abs(shares[0] - shares[1]) < 0.01
    assert not set(parts["train"]["PassengerId"]) & set(parts["valid"]["PassengerId"])


def test_a_random_split_of_dated_rows_warns(box: Box) -> None:
    out = box.call("split_dataset", path="/data/train.csv", target="failure_24h", kind="random")
    assert "use kind=time" in out["warning"]
    timed = box.call(
        "split_dataset",
        path="/data/train.csv",
        target="failure_24h",
        kind="time",
        time_column="timestamp",
    )
    assert "warning" not in timed


def test_a_validation_or_unlabelled_table_cannot_be_split_again(box: Box) -> None:
    out = box.call("split_dataset", path="/data/train.csv", target="failure_24h")
    with pytest.raises(ToolArgumentError, match="valid part"):
        box.call("split_dataset", path=out["parts"]["valid"]["path"], target="failure_24h")
    with pytest.raises(ToolArgumentError, match="test part"):
        box.call("split_dataset", path="/data/test.csv", target="failure_24h")


def test_resampling_refuses_everything_but_a_training_part(box: Box) -> None:
    out = box.call("split_dataset", path="/data/train.csv", target="failure_24h", test_fraction=0.1)
    for role in ("valid", "test"):
        with pytest.raises(ToolArgumentError, match=f"{role} table; only a training part"):
            box.call("resample_dataset", path=out["parts"][role]["path"], method="oversample")
    for raw in ("/data/train.csv", "/data/test.csv"):  # before a split, copies would leak
        with pytest.raises(ToolArgumentError, match="only a training part"):
            box.call("resample_dataset", path=raw, method="oversample", target="failure_24h")
    done = box.call(
        "resample_dataset", path=out["parts"]["train"]["path"], method="undersample", ratio=0.5
    )
    after = done["class_counts_after"]
    assert after["0"] == 2 * after["1"]
    assert done["role"] == "train"
    over = box.call(
        "resample_dataset", path=out["parts"]["train"]["path"], method="oversample", name="over"
    )
    assert over["class_counts_after"]["0"] == over["class_counts_after"]["1"]


def test_resampling_a_continuous_target_is_refused(box: Box) -> None:
    copy_kaggle(box, "playground-series-s3e9")
    out = box.call("split_dataset", path="/data/train.csv", target="Strength")
    with pytest.raises(ToolArgumentError, match="continuous"):
        box.call("resample_dataset", path=out["parts"]["train"]["path"], method="oversample")
