"""Tests of the `pump-failure` data generator (competitions/pump-failure/generate.py).

They check the contract the library relies on (shape, columns, order, dtypes, determinism)
and the properties that make the task meaningful (label windows, maintenance resets, a
few missing readings, visible precursors). Each test fails if its property breaks.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pandas as pd
import pytest

GENERATOR = Path(__file__).resolve().parents[2] / "competitions" / "pump-failure" / "generate.py"
EXPECTED_COLUMNS = [
    "id",
    "timestamp",
    "pump_id",
    "pump_size",
    "load_pct",
    "vibration_mm_s",
    "bearing_temp_c",
    "discharge_pressure_bar",
    "flow_m3_h",
    "motor_current_a",
    "suction_pressure_bar",
    "ambient_temp_c",
    "humidity_pct",
    "hours_since_maintenance",
    "failure_24h",
]
SENSORS = EXPECTED_COLUMNS[5:11]
N_PUMPS, N_HOURS = 20, 8760


def _load() -> ModuleType:
    """Import the generator from its file (the folder name is not a Python identifier)."""
    spec = importlib.util.spec_from_file_location("pump_failure_generate_under_test", GENERATOR)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def gen() -> ModuleType:
    return _load()


@pytest.fixture(scope="module")
def sim0(gen: ModuleType) -> Any:
    return gen.simulate(0)


@pytest.fixture(scope="module")
def df0(sim0: Any) -> pd.DataFrame:
    frame: pd.DataFrame = sim0.frame
    return frame


def _by_pump(df: pd.DataFrame, column: str) -> np.ndarray:
    """(pumps, hours) array of one column; rows are time-major, so a reshape suffices."""
    return np.asarray(df[column].to_numpy()).reshape(N_HOURS, N_PUMPS).T


def test_shape_columns_and_dtypes(df0: pd.DataFrame) -> None:
    assert df0.shape == (N_PUMPS * N_HOURS, len(EXPECTED_COLUMNS))
    assert list(df0.columns) == EXPECTED_COLUMNS
    assert df0["id"].dtype == np.int64
    assert (df0["id"].to_numpy() == np.arange(len(df0))).all()
    assert pd.api.types.is_datetime64_any_dtype(df0["timestamp"])
    assert pd.api.types.is_string_dtype(df0["pump_id"])
    assert pd.api.types.is_string_dtype(df0["pump_size"])
    for col in [*SENSORS, "load_pct", "ambient_temp_c", "humidity_pct"]:
        assert df0[col].dtype == np.float64, col
    assert df0["hours_since_maintenance"].dtype == np.int64
    assert pd.api.types.is_integer_dtype(df0["failure_24h"])
    assert set(df0["failure_24h"].unique()) == {0, 1}
    assert set(df0["pump_size"].unique()) <= {"S", "M", "L"}


def test_rows_sorted_by_time_then_pump_and_hourly(df0: pd.DataFrame) -> None:
    ordered = df0.sort_values(["timestamp", "pump_id"], kind="stable")
    assert (ordered.index == df0.index).all()
    assert sorted(df0["pump_id"].unique()) == [f"P{i:02d}" for i in range(1, 21)]
    assert (df0.groupby("pump_id").size() == N_HOURS).all()
    times = pd.DatetimeIndex(df0["timestamp"].unique())
    assert times[0] == pd.Timestamp("2025-01-01 00:00")
    assert len(times) == N_HOURS
    assert (np.diff(times.asi8) == np.diff(times.asi8)[0]).all()
    assert times[1] - times[0] == pd.Timedelta(hours=1)


@pytest.mark.parametrize("seed", [0, 1])
def test_positive_rate_about_three_percent(gen: ModuleType, seed: int) -> None:
    rate = gen.generate(seed)["failure_24h"].mean()
    assert 0.02 <= rate <= 0.04


def test_same_seed_gives_identical_table_and_csv(gen: ModuleType, df0: pd.DataFrame) -> None:
    again = gen.generate(0)
    pd.testing.assert_frame_equal(df0, again)
    assert df0.to_csv(index=False).encode() == again.to_csv(index=False).encode()


def test_different_seeds_give_different_data(gen: ModuleType, df0: pd.DataFrame) -> None:
    other = gen.generate(1)
    assert list(other.columns) == list(df0.columns)
    assert not np.array_equal(other["failure_24h"], df0["failure_24h"])
    for col in ["vibration_mm_s", "hours_since_maintenance", "load_pct"]:
        assert not other[col].equals(df0[col]), col


def test_default_seed_is_zero(gen: ModuleType, df0: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(gen.generate(), df0)


def test_invalid_seed_is_rejected(gen: ModuleType) -> None:
    with pytest.raises(ValueError, match="non-negative"):
        gen.generate(-1)
    with pytest.raises(ValueError, match="world must be"):
        gen.generate(0, world=1.5)


def test_another_world_keeps_the_fleet_and_replays_its_year(
    gen: ModuleType, sim0: Any, df0: pd.DataFrame
) -> None:
    pd.testing.assert_frame_equal(gen.generate(0, world=0), df0)
    other = gen.simulate(0, world=1)
    assert list(other.frame.columns) == list(df0.columns) and len(other.frame) == len(df0)
    assert other.frame["pump_size"].equals(df0["pump_size"])  # the same pumps
    assert not other.events.equals(sim0.events)  # other failures and services
    assert not other.frame["vibration_mm_s"].equals(df0["vibration_mm_s"])
    assert 0.02 <= other.frame["failure_24h"].mean() <= 0.04


def test_missing_values_present_but_few(df0: pd.DataFrame) -> None:
    for col in SENSORS:
        frac = df0[col].isna().mean()
        assert 0.005 <= frac <= 0.05, (col, frac)
    complete = [c for c in EXPECTED_COLUMNS if c not in SENSORS]
    assert not df0[complete].isna().any().any()


def test_target_is_one_exactly_in_the_24h_before_each_failure(sim0: Any) -> None:
    """Against the hidden event log: positive iff a failure starts within the next 24 h."""
    df, events = sim0.frame, sim0.events
    expected = np.zeros((N_PUMPS, N_HOURS), dtype=np.int64)
    failures = events[events["kind"] == "failure"]
    assert len(failures) > 100
    for pump, start in zip(failures["pump_id"], failures["start_hour"], strict=True):
        p = int(pump[1:]) - 1
        expected[p, max(start - 24, 0) : min(start, N_HOURS)] = 1
    assert (_by_pump(df, "failure_24h") == expected).all()


def test_positive_windows_are_24h_and_end_where_the_pump_stops(df0: pd.DataFrame) -> None:
    """From the table alone: each window lasts 24 h, then the pump is down and reset."""
    target = _by_pump(df0, "failure_24h")
    load = _by_pump(df0, "load_pct")
    hsm = _by_pump(df0, "hours_since_maintenance")
    edges = np.diff(np.pad(target, ((0, 0), (1, 1))), axis=1)
    n_windows = 0
    for p in range(N_PUMPS):
        starts, ends = np.flatnonzero(edges[p] == 1), np.flatnonzero(edges[p] == -1)
        for s, e in zip(starts, ends, strict=True):
            if e == N_HOURS:  # the failure falls after the last hour
                assert e - s <= 24
                continue
            assert e - s == 24 or s == 0
            assert load[p, e] == 0.0 and hsm[p, e] == 0  # offline and reset at failure
            assert (load[p, s:e] > 0).all()  # running during the warning window
            n_windows += 1
    assert n_windows > 100


def test_hours_since_maintenance_counts_up_and_resets(df0: pd.DataFrame) -> None:
    hsm = _by_pump(df0, "hours_since_maintenance")
    load = _by_pump(df0, "load_pct")
    step = np.diff(hsm, axis=1)
    reset = hsm[:, 1:] == 0
    assert ((step == 1) | reset).all()
    assert (hsm[load == 0] == 0).all()  # zero while offline for a service
    restarts = (load[:, :-1] == 0) & (load[:, 1:] > 0)
    assert (hsm[:, 1:][restarts] == 0).all()  # the restart hour starts a new count
    assert restarts.sum(axis=1).min() >= 3  # every pump is serviced several times a year
    assert hsm.max() < 2000


def test_precursors_visible_against_the_pumps_own_normal(df0: pd.DataFrame) -> None:
    """Per-pump standardised readings move further from normal just before failures."""
    running = df0[df0["load_pct"] > 0]
    per_pump = running.groupby("pump_id")[SENSORS[:5]]
    z = (running[SENSORS[:5]] - per_pump.transform("median")) / per_pump.transform("std")
    size = z.abs().mean(axis=1)
    positive = running["failure_24h"] == 1
    assert size[positive].mean() > 1.3 * size[~positive].mean()
