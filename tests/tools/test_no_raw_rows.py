"""Profiling and exploration (and every other tool reply) carry aggregates only.

Sentinel values are planted in real pump data, each occurring in exactly one row; no
tool's reply or error may contain them, whatever the tool is asked.
"""

from __future__ import annotations

import json
from typing import Any

import pandas as pd
import pytest

from mledojo.tools._base import ToolError

from .conftest import Box

SENTINEL_FLOAT = 987.654321  # the maximum of a column: min/max must not reveal it exactly
SENTINEL_TEXT = "ZQXSENTINEL"  # a category that occurs once
SENTINEL_NOTE = "QWVSECRETNOTE"  # a free-text column, unique per row


def _plant(box: Box) -> None:
    df = pd.read_csv(box.data / "train.csv")
    df.loc[17, "vibration_mm_s"] = SENTINEL_FLOAT
    df.loc[23, "pump_size"] = SENTINEL_TEXT
    df["note"] = [f"{SENTINEL_NOTE}{i}" if i == 5 else f"n{i}" for i in range(len(df))]
    df.to_csv(box.data / "train.csv", index=False)


def _leaks(reply: Any) -> list[str]:
    text = json.dumps(reply, default=str)
    found = [s for s in (SENTINEL_TEXT, SENTINEL_NOTE, "987.65", "987.654321") if s in text]
    return found


def test_profile_and_explore_never_show_a_planted_value(box: Box) -> None:
    _plant(box)
    replies = [
        box.call(
            "profile_dataset", path="/data/train.csv", target="failure_24h", top_categories=50
        ),
        box.call(
            "explore_dataset",
            path="/data/train.csv",
            target="failure_24h",
            target_by=["pump_size", "vibration_mm_s", "note", "pump_id"],
            histograms=["vibration_mm_s"],
            bins=50,
            correlated_pairs=10,
            time_column="timestamp",
            period="hour",
            group_column="pump_size",
        ),
    ]
    for reply in replies:
        assert _leaks(reply) == []
    profile = replies[0]["column_profiles"]
    # the aggregates are still there: the maximum is rounded, rare categories are lumped
    assert profile["vibration_mm_s"]["max"] == pytest.approx(987.7)
    assert "(other)" in profile["pump_size"]["top_values"]
    assert profile["note"]["kind"] == "text" and "top_values" not in profile["note"]


def test_the_whole_chain_never_returns_a_planted_value(box: Box) -> None:
    _plant(box)
    replies = []
    split = box.call(
        "split_dataset", path="/data/train.csv", target="failure_24h", kind="time",
        time_column="timestamp", group_column="pump_id", id_column="id",
    )  # fmt: skip
    replies.append(split)
    parts = split["parts"]
    feats = box.call(
        "engineer_features",
        train=parts["train"]["path"],
        apply_to=[parts["valid"]["path"]],
        rolling=[{"column": "vibration_mm_s", "windows": [3], "stats": ["max"]}],
        encode=[
            {"column": "pump_size", "method": "onehot"},
            {"column": "note", "method": "ordinal"},
        ],
    )
    replies.append(feats)
    train, valid = feats["outputs"]["train"]["path"], feats["outputs"]["valid"]["path"]
    replies.append(box.call("profile_dataset", path=train, target="failure_24h"))
    model = box.call(
        "train_model",
        train=train,
        algorithm="lightgbm",
        params={"n_estimators": 10},
        exclude=["pump_id"],
    )
    replies.append(model)
    replies.append(box.call("evaluate_model", model="model", data=valid, metric="roc_auc"))
    replies.append(box.call("get_predictions", model="model", data=valid))
    replies.append(box.call("rank_experiments", metric="roc_auc"))
    # errors too: a text feature makes training fail, a bad class makes evaluation fail
    for bad in (
        lambda: box.call(
            "train_model",
            train="/data/train.csv",
            target="failure_24h",
            algorithm="xgboost",
            features=["note", "pump_size"],
        ),
        lambda: box.call(
            "train_model", train="/data/train.csv", target="note", algorithm="xgboost"
        ),
        lambda: box.call("explore_dataset", path="/data/train.csv", histograms=["note"]),
    ):
        with pytest.raises(ToolError) as err:
            bad()
        replies.append(str(err.value))
    for reply in replies:
        assert _leaks(reply) == [], reply


def test_groups_smaller_than_five_rows_are_not_shown(box: Box) -> None:
    df = pd.read_csv(box.data / "train.csv").head(200)
    df["rare"] = ["big"] * 196 + ["tiny"] * 4
    df.to_csv(box.data / "train.csv", index=False)
    out = box.call(
        "explore_dataset", path="/data/train.csv", target="failure_24h", target_by=["rare"]
    )
    groups = out["target_by"]["rare"]["groups"]
    assert "tiny" not in groups and groups["(other)"] == {"rows": 4}
    assert groups["big"]["rows"] == 196


def test_a_table_of_fewer_than_five_rows_is_not_summarised(box: Box) -> None:
    pd.read_csv(box.data / "train.csv").head(4).to_csv(box.workspace / "four.csv", index=False)
    for tool in ("profile_dataset", "explore_dataset"):
        with pytest.raises(ToolError, match="at least 5 rows"):
            box.call(tool, path="four.csv")


def test_a_class_of_one_row_is_shown_by_index_only(box: Box) -> None:
    df = pd.read_csv(box.data / "train.csv").head(600)
    df["kind"] = ["common"] * 300 + ["usual"] * 299 + [SENTINEL_TEXT]
    df.to_csv(box.workspace / "rare.csv", index=False)
    trained = box.call(
        "train_model",
        train="rare.csv",
        target="kind",
        algorithm="random_forest",
        params={"n_estimators": 5},
        features=["load_pct", "flow_m3_h"],
    )
    evaluated = box.call("evaluate_model", model="model", data="rare.csv")
    for reply in (trained, evaluated):
        assert _leaks(reply) == []
    assert "(rare class 0)" in trained["classes"] and "common" in trained["classes"]
    assert evaluated["confusion_matrix"]["labels"] == trained["classes"]
