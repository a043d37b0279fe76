"""select_features chooses on the training table only; explore_dataset's views are right."""

from __future__ import annotations

import pandas as pd
import pytest

from mledojo.tools._base import ToolArgumentError

from .conftest import Box


def _parts(box: Box) -> dict[str, str]:
    split = box.call("split_dataset", path="/data/train.csv", target="failure_24h", id_column="id")
    return {k: v["path"] for k, v in split["parts"].items()}


def _read(box: Box, path: str) -> pd.DataFrame:
    return pd.read_parquet(box.workspace / path.removeprefix("/workspace/"))


def test_selection_is_made_on_train_and_applied_unchanged(box: Box) -> None:
    parts = _parts(box)
    out = box.call(
        "select_features", train=parts["train"], apply_to=[parts["valid"]], method="importance", k=4
    )
    assert out["n_kept"] == 4
    train, valid = (
        _read(box, out["outputs"]["train"]["path"]),
        _read(box, out["outputs"]["valid"]["path"]),
    )
    assert list(train.columns) == list(valid.columns)
    assert {"failure_24h", "id"} <= set(train.columns)  # target and id always stay
    # the attack: a validation table whose values would change the choice
    poisoned = _read(box, parts["valid"])
    for c in out["kept"]:
        poisoned[c] = 0.0
    poisoned.to_csv(box.workspace / "poisoned.csv", index=False)
    again = box.call(
        "select_features",
        train=parts["train"],
        apply_to=["poisoned.csv"],
        method="importance",
        k=4,
        name="again",
    )
    assert again["kept"] == out["kept"]
    with pytest.raises(ToolArgumentError, match="valid part; select on training data"):
        box.call("select_features", train=parts["valid"], method="variance")


def test_variance_and_correlation_selection(box: Box) -> None:
    df = pd.read_csv(box.data / "train.csv")
    df["constant"] = 1.0
    df["copy_of_flow"] = df["flow_m3_h"] * 2 + 1
    df.to_csv(box.data / "train.csv", index=False)
    parts = _parts(box)
    var = box.call("select_features", train=parts["train"], method="variance", threshold=0.0)
    assert "constant" in var["dropped"] and "flow_m3_h" in var["kept"]
    corr = box.call(
        "select_features", train=parts["train"], method="correlation", threshold=0.99, name="c"
    )
    assert ("copy_of_flow" in corr["dropped"]) != ("flow_m3_h" in corr["dropped"])


def test_explore_views_hold_the_right_aggregates(box: Box) -> None:
    df = pd.read_csv(box.data / "train.csv")
    out = box.call(
        "explore_dataset", path="/data/train.csv", target="failure_24h", target_by=["pump_id"],
        histograms=["load_pct"], bins=5, time_column="timestamp", period="month",
        group_column="pump_id", correlated_pairs=3,
    )  # fmt: skip
    rate = df.groupby("pump_id")["failure_24h"].mean()
    for pump, entry in out["target_by"]["pump_id"]["groups"].items():
        assert entry["target_mean"] == pytest.approx(rate[pump], rel=1e-3)
    assert sum(out["histograms"]["load_pct"]["counts"]) == df["load_pct"].notna().sum()
    months = out["time_trend"]["periods"]
    assert sum(m["rows"] for m in months.values()) == len(df)
    assert out["groups"]["n_groups"] == df["pump_id"].nunique()
    assert len(out["correlated_pairs"]) == 3
    assert abs(out["correlated_pairs"][0]["corr"]) >= abs(out["correlated_pairs"][2]["corr"])
