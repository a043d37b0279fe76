"""engineer_features: causal windows per group, state fitted on the training input only."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from mledojo.tools._base import ToolArgumentError

from .conftest import Box

WINDOWS = {
    "rolling": [{"column": "vibration_mm_s", "windows": [6], "stats": ["mean", "max"]}],
    "lags": [{"column": "bearing_temp_c", "lags": [1, 3]}],
    "diffs": ["motor_current_a"],
}


def _split(box: Box) -> dict[str, str]:
    out = box.call(
        "split_dataset", path="/data/train.csv", target="failure_24h", kind="time",
        time_column="timestamp", group_column="pump_id", id_column="id",
    )  # fmt: skip
    return {role: p["path"] for role, p in out["parts"].items()}


def _read(box: Box, handle: str) -> pd.DataFrame:
    return pd.read_parquet(box.workspace / "tools" / f"{handle}.parquet")


def test_window_features_see_only_earlier_rows_of_the_same_pump(box: Box) -> None:
    df = pd.read_csv(box.data / "train.csv")
    shuffled = df.sample(frac=1.0, random_state=1)  # the tool must sort, not trust the order
    shuffled.to_csv(box.workspace / "a.csv", index=False)
    # the attack: change the future of one pump and everything of another
    times = pd.to_datetime(df["timestamp"])
    cut = times.quantile(0.5)
    later = df.copy()
    future = (times > cut) & (df["pump_id"] == "P01")
    later.loc[future, ["vibration_mm_s", "bearing_temp_c", "motor_current_a"]] = 1e6
    later.loc[
        df["pump_id"] == "P02", ["vibration_mm_s", "bearing_temp_c", "motor_current_a"]
    ] = -1e6
    later.sample(frac=1.0, random_state=2).to_csv(box.workspace / "b.csv", index=False)
    outs = []
    for name in ("a", "b"):
        box.call(
            "engineer_features",
            train=f"{name}.csv",
            time_column="timestamp",
            group_column="pump_id",
            name=name,
            **WINDOWS,
        )
        outs.append(_read(box, f"{name}_raw").set_index("id").sort_index())
    a, b = outs
    new = [c for c in a.columns if "_roll" in c or "_lag" in c or "_diff" in c]
    assert len(new) == 5
    past_p01 = a.index[(pd.to_datetime(a["timestamp"]) <= cut) & (a["pump_id"] == "P01")]
    others = a.index[~a["pump_id"].isin(["P01", "P02"])]
    pd.testing.assert_frame_equal(a.loc[past_p01, new], b.loc[past_p01, new])
    pd.testing.assert_frame_equal(a.loc[others, new], b.loc[others, new])
    # and the values are the real causal ones: a lag of 1 is the previous hour of the pump
    p03 = df[df["pump_id"] == "P03"].sort_values("timestamp")
    expected = p03["bearing_temp_c"].shift(1).to_numpy()
    np.testing.assert_allclose(
        a.loc[p03["id"], "bearing_temp_c_lag1"].to_numpy(), expected, equal_nan=True
    )
    roll = p03["vibration_mm_s"].rolling(6, min_periods=1).max().to_numpy()
    np.testing.assert_allclose(a.loc[p03["id"], "vibration_mm_s_roll6_max"].to_numpy(), roll)


def test_test_rows_use_training_history_but_never_the_reverse(box: Box) -> None:
    parts = _split(box)
    out = box.call(
        "engineer_features",
        train=parts["train"],
        apply_to=[parts["valid"], "/data/test.csv"],
        name="f",
        **WINDOWS,
    )
    valid, train = _read(box, "f_valid"), _read(box, "f_train")
    # the first validation hour of each pump has a full lag from the training period
    first = valid.sort_values("timestamp").groupby("pump_id").head(1)
    assert first["bearing_temp_c_lag3"].notna().all()
    # training features are identical whether or not later tables are transformed with them
    box.call("engineer_features", train=parts["train"], name="g", **WINDOWS)
    pd.testing.assert_frame_equal(train, _read(box, "g_train"))
    assert out["outputs"]["test"]["role"] == "test"


def test_scalers_and_encoders_are_fitted_on_train_only(box: Box) -> None:
    parts = _split(box)
    spec = {
        "encode": [
            {"column": "pump_size", "method": "onehot"},
            {"column": "pump_id", "method": "target"},
            {"column": "pump_size", "method": "frequency"},
        ][:2],
        "scale": "standard",
        "impute": "median",
    }
    box.call("engineer_features", train=parts["train"], apply_to=[parts["valid"]], name="a", **spec)
    # the attack: wildly different validation values must not move anything learnt
    valid = pd.read_parquet(box.workspace / parts["valid"].removeprefix("/workspace/"))
    valid["load_pct"] = valid["load_pct"] * 1000 + 5e5
    valid["pump_size"] = "XL"
    valid.to_csv(box.workspace / "poisoned_valid.csv", index=False)
    box.call(
        "engineer_features", train=parts["train"], apply_to=["poisoned_valid.csv"], name="b", **spec
    )
    state_a = json.loads((box.workspace / "tools" / "a.pipeline.json").read_text())
    state_b = json.loads((box.workspace / "tools" / "b.pipeline.json").read_text())
    for key in ("center", "spread", "fill", "onehot", "target_mean"):
        assert state_a[key] == state_b[key]
    train = pd.read_parquet(box.workspace / parts["train"].removeprefix("/workspace/"))
    assert state_a["center"]["load_pct"] == pytest.approx(train["load_pct"].mean())
    scaled = _read(box, "a_train")["load_pct"]
    assert scaled.mean() == pytest.approx(0.0, abs=1e-9) and scaled.std() == pytest.approx(1.0)
    # an unseen category encodes as "none of the known ones", not as a new column
    raw = _read(box, "b_raw")
    onehot = [f"pump_size__{c}" for c in state_a["onehot"]["pump_size"]]
    assert len(onehot) >= 2 and set(onehot) <= set(raw.columns)
    assert (raw[onehot].sum(axis=1) == 0).all()


def test_fitting_on_a_validation_or_test_table_is_refused(box: Box) -> None:
    parts = _split(box)
    for path in (parts["valid"], "/data/test.csv"):
        with pytest.raises(ToolArgumentError, match="fitted on training data only"):
            box.call("engineer_features", train=path, apply_to=[parts["train"]], scale="standard")
    with pytest.raises(ToolArgumentError, match="training table itself"):
        box.call("engineer_features", train=parts["train"], apply_to=[parts["train"]])


def test_the_target_cannot_be_rolled_lagged_or_encoded(box: Box) -> None:
    parts = _split(box)
    for spec in (
        {"lags": [{"column": "failure_24h", "lags": [1]}]},
        {"rolling": [{"column": "failure_24h", "windows": [24]}]},
        {"diffs": ["failure_24h"]},
        {"encode": [{"column": "failure_24h", "method": "target"}]},
    ):
        with pytest.raises(ToolArgumentError, match="target"):
            box.call("engineer_features", train=parts["train"], **spec)


def test_target_encoding_of_a_training_row_ignores_its_own_target(box: Box) -> None:
    df = pd.read_csv(box.data / "train.csv")
    df["cell"] = (df.index // 10).astype(str)  # small categories: leakage would be visible
    df.to_csv(box.workspace / "a.csv", index=False)
    flipped = df.copy()
    flipped.loc[0, "failure_24h"] = 1 - flipped.loc[0, "failure_24h"]
    flipped.to_csv(box.workspace / "b.csv", index=False)
    enc = [{"column": "cell", "method": "target"}]
    for name in ("a", "b"):
        box.call(
            "engineer_features", train=f"{name}.csv", target="failure_24h", encode=enc, name=name
        )
    a, b = _read(box, "a_raw"), _read(box, "b_raw")
    assert a.loc[0, "cell"] == b.loc[0, "cell"]  # its own encoding did not move
    assert not np.allclose(a["cell"], b["cell"])  # the others' did: the target is used


def test_a_saved_pipeline_reapplies_identically(box: Box) -> None:
    parts = _split(box)
    spec = {
        "scale": "robust",
        "encode": [{"column": "pump_size", "method": "ordinal"}],
        "time_features": ["hour", "is_weekend"],
        **WINDOWS,
    }
    box.call(
        "engineer_features", train=parts["train"], apply_to=[parts["valid"]], name="fit", **spec
    )
    out = box.call(
        "engineer_features",
        pipeline="/workspace/tools/fit.pipeline.json",
        train=parts["train"],
        apply_to=[parts["valid"]],
        name="again",
    )
    assert out["fitted_on_train"] is False
    pd.testing.assert_frame_equal(_read(box, "fit_valid"), _read(box, "again_valid"))


def test_the_id_column_is_never_scaled_nor_a_feature(box: Box) -> None:
    box.call("engineer_features", train="/data/train.csv", id_column="id", scale="minmax", name="s")
    raw = pd.read_csv(box.data / "train.csv")
    scaled = _read(box, "s_raw")
    assert (scaled["id"] == raw["id"]).all() and scaled["load_pct"].max() == pytest.approx(1.0)
    out = box.call(
        "train_model",
        train="/workspace/tools/s_raw.parquet",
        target="failure_24h",
        algorithm="lightgbm",
        params={"n_estimators": 5},
    )
    assert out["n_features"] == len(scaled.select_dtypes("number").columns) - 2  # id, target


def _cases(box: Box, n: int = 12, hours: int = 10) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A prediction-case layout (pump-failure v2's) cut from /data/test.csv: one row per case
    in cases.csv, each case's own last `hours` hours in history.csv under the case id."""
    test = pd.read_csv(box.data / "test.csv").sort_values(["pump_id", "timestamp"])
    rows, history = [], []
    for i, (_, pump) in enumerate(test.groupby("pump_id")):
        for j in range(n // 6):
            end = hours + 30 * j + i
            case_id = 900_000 + len(rows)
            past = pump.iloc[end - hours + 1 : end + 1].assign(id=case_id)
            history.append(past)
            rows.append(past.iloc[-1])
    return pd.DataFrame(rows).reset_index(drop=True), pd.concat(history, ignore_index=True)


def test_case_windows_come_from_the_cases_own_past_only(box: Box) -> None:
    cases, history = _cases(box)
    cases.to_csv(box.workspace / "cases.csv", index=False)
    history.to_csv(box.workspace / "history.csv", index=False)
    args = dict(train="/data/train.csv", time_column="timestamp", group_column="pump_id", **WINDOWS)
    out = box.call(
        "engineer_features", apply_to=["cases.csv"], case_history="history.csv", name="c", **args
    )
    assert out["case_inputs"] == [0] and out["case_history"].endswith("history.csv")
    honest = _read(box, "c_raw1").set_index("id")
    # the values are the case's own: a lag of 1 is the hour before, within its history
    for case_id, past in history.groupby("id"):
        past = past.sort_values("timestamp")
        assert honest.loc[case_id, "bearing_temp_c_lag1"] == pytest.approx(
            past["bearing_temp_c"].iloc[-2], nan_ok=True
        )
        assert honest.loc[case_id, "vibration_mm_s_roll6_max"] == pytest.approx(
            past["vibration_mm_s"].iloc[-6:].max()
        )
    # the attack: rows after each case hour in its history, another case's rows and the
    # training rows of the same pumps all changed; no case feature may move
    future = history.assign(timestamp=pd.to_datetime(history["timestamp"]) + pd.Timedelta("30D"))
    future[["vibration_mm_s", "bearing_temp_c", "motor_current_a"]] = 1e6
    hostile = pd.concat([history, future], ignore_index=True).sample(frac=1.0, random_state=3)
    hostile.to_csv(box.workspace / "history.csv", index=False)
    train = pd.read_csv(box.data / "train.csv")
    train[["vibration_mm_s", "bearing_temp_c", "motor_current_a"]] = -1e6
    train.to_csv(box.workspace / "train.csv", index=False)
    box.call(
        "engineer_features",
        apply_to=["cases.csv"],
        case_history="history.csv",
        name="d",
        **(args | {"train": "train.csv"}),
    )
    attacked = _read(box, "d_raw1").set_index("id")
    new = [c for c in honest.columns if "_roll" in c or "_lag" in c or "_diff" in c]
    assert len(new) == 5
    pd.testing.assert_frame_equal(honest[new], attacked[new])


def test_case_history_applies_only_to_tables_of_its_cases(box: Box) -> None:
    cases, history = _cases(box)
    cases.to_csv(box.workspace / "cases.csv", index=False)
    history.to_csv(box.workspace / "history.csv", index=False)
    parts = _split(box)
    common = dict(time_column="timestamp", group_column="pump_id", case_history="history.csv")
    out = box.call(
        "engineer_features",
        train=parts["train"],
        apply_to=[parts["valid"], "cases.csv"],
        name="e",
        **common,
        **WINDOWS,
    )
    assert out["case_inputs"] == [1]  # the validation part keeps the training history
    first = _read(box, "e_valid").sort_values("timestamp").groupby("pump_id").head(1)
    assert first["bearing_temp_c_lag3"].notna().all()
    mixed = pd.concat([cases, pd.read_csv(box.data / "test.csv").head(3)])
    mixed.to_csv(box.workspace / "mixed.csv", index=False)
    with pytest.raises(ToolArgumentError, match=r"apply_to\[0\].*3 of 15 rows are not cases"):
        box.direct(
            "engineer_features", train=parts["train"], apply_to=["mixed.csv"], **common, **WINDOWS
        )
    pd.concat([cases, cases.head(1)]).to_csv(box.workspace / "twice.csv", index=False)
    with pytest.raises(ToolArgumentError, match="a case 'id' repeats"):
        box.direct(
            "engineer_features", train=parts["train"], apply_to=["twice.csv"], **common, **WINDOWS
        )
