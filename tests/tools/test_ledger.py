"""The host's ledger of tool outputs: a sidecar, model or record the agent wrote or changed
is refused (or, for rank_experiments, ignored) while a ledger is active."""

from __future__ import annotations

import json
import os
import pickle
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from mledojo.tools import registry
from mledojo.tools._base import ToolError

from .conftest import Box, copy_kaggle


class Host:
    """What the episode does: one ledger per episode, fed by every call's `written`."""

    def __init__(self) -> None:
        self.ledger: dict[str, str] = {}

    def call(self, tool: str, **args: Any) -> dict[str, Any]:
        written: dict[str, str] = {}
        try:
            return registry.call(tool, args, self.ledger, written)
        finally:
            self.ledger.update(written)


def _split(host: Host) -> dict[str, str]:
    out = host.call(
        "split_dataset", path="/data/train.csv", target="failure_24h", kind="time",
        time_column="timestamp", id_column="id", name="s",
    )  # fmt: skip
    return {role: p["path"] for role, p in out["parts"].items()}


def _real(box: Box, sandbox_path: str) -> Path:
    return box.workspace / sandbox_path.removeprefix("/workspace/")


def test_the_ledger_holds_every_file_a_call_wrote(box: Box) -> None:
    host = Host()
    parts = _split(host)
    for path in parts.values():
        assert path in host.ledger
        assert path.replace(".parquet", ".meta.json") in host.ledger
    host.call("train_model", train=parts["train"], algorithm="logistic_regression", name="m")
    assert "/workspace/tools/m.model.pkl" in host.ledger
    out = host.call("evaluate_model", model="m", data=parts["valid"], metric="roc_auc")
    assert out["record"] in host.ledger


def test_a_relabelled_sidecar_is_refused(box: Box) -> None:
    host = Host()
    parts = _split(host)
    sidecar = _real(box, parts["valid"].replace(".parquet", ".meta.json"))
    meta = json.loads(sidecar.read_text())
    meta["role"] = "train"  # the attack: train on the validation part, as if it were train
    sidecar.write_text(json.dumps(meta))
    args = {"train": parts["valid"], "algorithm": "logistic_regression", "name": "m"}
    box.call("train_model", **args)  # without a ledger the forgery works: the gap it closes
    with pytest.raises(ToolError, match=r"s_valid.meta.json was changed after the tool"):
        host.call("train_model", **args)


def test_a_changed_table_behind_an_intact_sidecar_is_refused(box: Box) -> None:
    host = Host()
    parts = _split(host)
    host.call("train_model", train=parts["train"], algorithm="logistic_regression", name="m")
    valid, train = _real(box, parts["valid"]), _real(box, parts["train"])
    valid.write_bytes(train.read_bytes())  # training rows under the validation label
    with pytest.raises(ToolError, match=r"s_valid.parquet was changed after the tool"):
        host.call("evaluate_model", model="m", data=parts["valid"], metric="roc_auc")


def test_a_planted_table_with_its_own_sidecar_is_refused(box: Box) -> None:
    host = Host()
    parts = _split(host)
    for suffix in (".parquet", ".meta.json"):
        src = _real(box, parts["valid"].replace(".parquet", suffix))
        (box.workspace / "tools" / f"mine{suffix}").write_bytes(src.read_bytes())
    with pytest.raises(ToolError, match=r"mine.meta.json was not written by a tool"):
        host.call("engineer_features", train="/workspace/tools/mine.parquet", name="f")


class _Marker:
    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple[Any, ...]:
        return (os.mkdir, (str(self.path),))


def test_a_planted_model_is_refused_before_it_is_unpickled(box: Box, tmp_path: Path) -> None:
    host = Host()
    parts = _split(host)
    host.call("train_model", train=parts["train"], algorithm="logistic_regression", name="m")
    marker = tmp_path / "unpickled"
    (box.workspace / "tools" / "m.model.pkl").write_bytes(pickle.dumps(_Marker(marker)))
    with pytest.raises(ToolError, match=r"m.model.pkl was changed after the tool"):
        host.call("evaluate_model", model="m", data=parts["valid"], metric="roc_auc")
    assert not marker.exists(), "the planted pickle ran"


def test_rank_experiments_ignores_a_forged_record(box: Box) -> None:
    host = Host()
    parts = _split(host)
    host.call("train_model", train=parts["train"], algorithm="logistic_regression", name="m")
    out = host.call("evaluate_model", model="m", data=parts["valid"], metric="roc_auc")
    honest = host.call("rank_experiments", metric="roc_auc")
    assert [r["model"] for r in honest["ranking"]] == ["m"]
    record = _real(box, out["record"])
    forged = json.loads(record.read_text())
    forged["metrics"]["roc_auc"], forged["model"] = 0.9999, "forged"
    forged_path = record.with_name(record.name.replace("m", "forged", 1))
    forged_path.write_text(json.dumps(forged))
    record.write_text(json.dumps(forged | {"model": "m"}))  # and the honest record altered
    assert "forged" in [r["model"] for r in box.call("rank_experiments", metric="roc_auc")[
        "ranking"]]  # fmt: skip
    with pytest.raises(ToolError, match=r"2 record\(s\) not as evaluate_model wrote them"):
        host.call("rank_experiments", metric="roc_auc")


def test_a_forged_pipeline_is_refused(box: Box) -> None:
    host = Host()
    parts = _split(host)
    out = host.call(
        "engineer_features", train=parts["train"], apply_to=[parts["valid"]], name="f",
        scale="standard",
    )  # fmt: skip
    pipeline = _real(box, out["pipeline"])
    state = json.loads(pipeline.read_text())
    state["center"] = {k: 0.0 for k in state["center"]}  # the attack: a scaler never fitted
    pipeline.write_text(json.dumps(state))
    args = {"pipeline": out["pipeline"], "apply_to": [parts["valid"]], "name": "g"}
    box.call("engineer_features", **args)  # without a ledger the forged state is applied
    with pytest.raises(ToolError, match=r"f.pipeline.json was changed after the tool"):
        host.call("engineer_features", **args)


@pytest.mark.parametrize(
    "reencode",
    [
        "csv-default",  # the fast tier keeps one re-encoding; the full suite runs all three
        pytest.param("csv-float-format-and-column-order", marks=pytest.mark.slow),
        pytest.param("csv-without-id", marks=pytest.mark.slow),
    ],
)
def test_a_re_encoded_validation_part_is_in_sample_by_content(box: Box, reencode: str) -> None:
    """Issue 17 item 9: agent code copies the validation part into a CSV of its own (no
    sidecar, so `raw`), a model trained on it memorises those rows and scored 1.0 with
    `in_sample: false`, ranked first. Rows are now compared by content."""
    host = Host()
    parts = _split(host)
    honest = host.call("train_model", train=parts["train"], algorithm="random_forest", name="h")
    assert honest["train_rows"] > 0
    fair = host.call("evaluate_model", model="h", data=parts["valid"], metric="roc_auc")
    assert fair["in_sample"] is False and fair["training_rows_found"] == 0
    valid = pd.read_parquet(_real(box, parts["valid"]))
    copy = box.workspace / "mine.csv"
    if reencode == "csv-default":
        valid.to_csv(copy, index=False)
    elif reencode == "csv-float-format-and-column-order":
        valid[list(reversed(valid.columns))].to_csv(copy, index=False, float_format="%.8g")
    else:
        valid.drop(columns=["id"]).sample(frac=1.0, random_state=1).to_csv(copy, index=False)
    drop = ["timestamp", "pump_id"] + ([] if reencode == "csv-without-id" else ["id"])
    cheat = host.call(
        "train_model", train="/workspace/mine.csv", target="failure_24h",
        algorithm="random_forest", name="cheat", exclude=drop,
        params={"n_estimators": 50, "min_samples_leaf": 1},
    )  # fmt: skip
    assert cheat["train_rows"] == len(valid)
    out = host.call("evaluate_model", model="cheat", data=parts["valid"], metric="roc_auc")
    assert out["score"] > fair["score"], (out["score"], fair["score"])  # memorised
    assert out["in_sample"] is True, out
    assert out["training_rows_found"] == len(valid)
    ranked = host.call("rank_experiments", metric="roc_auc", data=parts["valid"])
    assert ranked["best"]["model"] == "h" and ranked["excluded"]["in_sample"] == 1, ranked


def test_a_model_without_its_training_rows_is_refused(box: Box) -> None:
    """Deleting the content keys must not turn the content check off."""
    host = Host()
    parts = _split(host)
    host.call("train_model", train=parts["train"], algorithm="logistic_regression", name="m")
    (box.workspace / "tools" / "m.rows.npy").unlink()
    with pytest.raises(ToolError, match="training rows"):
        host.call("evaluate_model", model="m", data=parts["valid"], metric="roc_auc")


def test_look_alike_rows_are_not_copies_but_a_copy_is(box: Box) -> None:
    """titanic's numeric columns repeat honestly (33 of 178 validation rows equal training
    rows): the content test allows for chance there, and still catches a copied part."""
    copy_kaggle(box, "titanic")
    host = Host()
    split = host.call(
        "split_dataset", path="/data/train.csv", target="Survived", id_column="PassengerId",
        name="t",
    )  # fmt: skip
    parts = {role: p["path"] for role, p in split["parts"].items()}
    features = ["Pclass", "Age", "SibSp", "Parch", "Fare"]
    host.call("train_model", train=parts["train"], algorithm="random_forest", name="h",
              features=features)  # fmt: skip
    fair = host.call("evaluate_model", model="h", data=parts["valid"], metric="accuracy")
    assert fair["training_rows_found"] > 0 and fair["in_sample"] is False, fair
    valid = pd.read_parquet(_real(box, parts["valid"]))
    valid.to_csv(box.workspace / "mine.csv", index=False, float_format="%.7g")
    host.call("train_model", train="/workspace/mine.csv", target="Survived",
              algorithm="random_forest", name="cheat", features=features)  # fmt: skip
    out = host.call("evaluate_model", model="cheat", data=parts["valid"], metric="accuracy")
    assert out["in_sample"] is True, out
