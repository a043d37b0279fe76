"""pump-failure v2: the test set as prediction cases, so that no public file holds a future.

Train is v1's: the flat first 80 % of world 0 (the hours before 2025-10-20 00:00). The test
set is `N_CASES` cases. Each case is one (pump, hour t) of an independent replay of the
fleet's year (`simulate(seed, world=w)`, w = 1, 2, ..., the same pumps with other
services, failures, weather and noise), taken while the pump runs, at an hour of the test
period. It comes with that pump's own readings of the last `HISTORY_H` hours up to and
including t (`history.csv`) and one row in `test.csv` (the readings of hour t). One case
per pump and world: a second case of the same replay would show the first one's future.

A world only needs the hours up to the end of its segment of case hours, so each one is a
short window of the year (`WARMUP_H` hours of burn-in, the history, then `SEGMENT_H` case
hours): about a seventh of a year, which keeps preparation within seconds.

Files: public `train.csv`, `test.csv` (one row per case), `history.csv` (`HISTORY_H` rows per
case, keyed by the case `id`), `sample_submission.csv`; private `test.csv` (the answers),
`parts.csv` (public/private part per case, stratified by label) and `cases.csv` (world, pump,
hour of each case: host-side ground truth for tests and audits, never shown to agents).
"""

from __future__ import annotations

import importlib.util
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import numpy as np
import pandas as pd

from mledojo.competition import SplitSpec
from mledojo.data.fastcsv import write_csv
from mledojo.data.split import split_frame

GENERATOR = Path(__file__).resolve().parent.parent / "pump-failure" / "generate.py"
ID = "id"
TARGET = "failure_24h"
N_CASES = 2000
"""Cases of the test set; worlds are replayed until there are this many."""
MAX_WORLDS = 1000
HISTORY_H = 168
"""Hours of readings per case, the case hour included."""
WARMUP_H = 48
"""Burn-in hours simulated before a case's history starts (services settle into cycles)."""
SEGMENT_H = 168
"""Case hours of one world: a random week of the test period."""
TEST_FRACTION = 0.2
POSITIVE_SHARE = 0.4
"""Chance that a pump's case is sought among its positive hours of the week. A pump without
any then gives no case, so every negative hour has the same chance to be drawn, whether or
not its pump fails that week: the selection depends on the label only, which ROC AUC
ignores (drawing a random hour instead would under-sample the hard negatives of failing
pumps: just after a repair, or degraded but more than 24 h before the failure)."""
PUBLIC_FRACTION = 0.3
CASE_ID_BASE = 200_000
"""Case ids start here: above every row id of world 0, so no case id is also a train id."""


@dataclass(frozen=True)
class Cases:
    """Everything `prepare` writes, as frames (the benchmark and tests use them directly)."""

    train: pd.DataFrame
    test: pd.DataFrame  # one row per case, no target
    history: pd.DataFrame  # HISTORY_H rows per case, no target
    answers: pd.DataFrame  # id, failure_24h
    log: pd.DataFrame  # id, world, pump_id, hour, window_start, window_hours


def load_generator() -> ModuleType:
    """Import v1's generate.py (the simulation is shared; only the test layout differs)."""
    name = "mledojo_pump_failure_generate"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, GENERATOR)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {GENERATOR}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def build(seed: int, n_cases: int = N_CASES) -> Cases:
    """Make the train table and the prediction cases of data seed `seed`."""
    gen = load_generator()
    full = gen.generate(seed)
    split = SplitSpec(kind="time", time_column="timestamp", test_size=TEST_FRACTION)
    train, _ = split_frame(full, split, seed=seed, target=TARGET)
    test_start = int(gen.N_HOURS * (1 - TEST_FRACTION))
    logs, parts = [], []
    found, world = 0, 0
    while found < n_cases:
        world += 1
        if world > MAX_WORLDS:
            raise RuntimeError(f"{MAX_WORLDS} worlds gave only {found} of {n_cases} cases")
        log, rows = _world_cases(gen, seed, world, test_start)
        log, rows = (
            log.iloc[: n_cases - found],
            {k: v[: (n_cases - found) * HISTORY_H] for k, v in rows.items()},
        )
        found += len(log)
        logs.append(log)
        parts.append(rows)
    log = pd.concat(logs, ignore_index=True)
    columns = [c for c in gen.COLUMNS if c != ID]
    history = pd.DataFrame({c: np.concatenate([r[c] for r in parts]) for c in columns})
    # ids in a seeded random order, so neither the world nor the draw shows in an id
    order = np.random.default_rng(gen.seed_words(seed, 0x1D5)).permutation(len(log))
    ids = np.empty(len(log), dtype=np.int64)
    ids[order] = CASE_ID_BASE + np.arange(len(log))
    log.insert(0, ID, ids)
    history.insert(0, ID, np.repeat(ids, HISTORY_H))
    log = log.sort_values(ID, kind="stable").reset_index(drop=True)
    history = history.sort_values([ID, "timestamp"], kind="stable").reset_index(drop=True)
    last = history.groupby(ID, sort=True).tail(1).reset_index(drop=True)
    if not (last[TARGET].to_numpy() == log[TARGET].to_numpy()).all():
        raise RuntimeError("internal error: a case's last history row is not its case hour")
    test = last[[c for c in gen.COLUMNS if c != TARGET]]
    answers = pd.DataFrame({ID: log[ID], TARGET: log.pop(TARGET)})
    return Cases(
        train=train.reset_index(drop=True),
        test=test,
        history=history.drop(columns=[TARGET]),
        answers=answers,
        log=log,
    )


def _world_cases(
    gen: ModuleType, seed: int, world: int, test_start: int
) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """One case per pump of one world: its log and its history columns (case by case)."""
    rng = np.random.default_rng(gen.seed_words(seed, world, 0xCA5E))
    segment = int(rng.integers(test_start, gen.N_HOURS - SEGMENT_H + 1))
    start = segment - HISTORY_H - WARMUP_H
    hours = segment + SEGMENT_H - start
    window = gen.simulate_window(seed, world, start, hours)
    first = segment - start
    picked, pumps, ends = [], [], []
    for p in range(gen.N_PUMPS):
        running = first + np.flatnonzero(window.load[p, first:] > 0)
        if len(running) == 0:
            continue  # offline for the whole week (never seen, but not an error)
        pool = running
        if rng.random() < POSITIVE_SHARE:
            pool = running[window.label[p, running] == 1]
            if len(pool) == 0:
                continue  # no positive hour this week: no case (see POSITIVE_SHARE)
        t = int(pool[rng.integers(len(pool))])
        picked.append((world, f"P{p + 1:02d}", start + t, start, hours, int(window.label[p, t])))
        pumps.append(p)
        ends.append(t)
    log = pd.DataFrame(
        picked, columns=["world", "pump_id", "hour", "window_start", "window_hours", TARGET]
    )
    offsets = np.arange(HISTORY_H) - HISTORY_H + 1
    hour = (np.array(ends)[:, None] + offsets[None, :]).ravel()
    pump = np.repeat(np.array(pumps), HISTORY_H)
    return log, window.rows(pump, hour)


def assign_case_parts(answers: pd.DataFrame, seed: int) -> pd.DataFrame:
    """`public` / `private` per case, stratified by label so both parts hold positives."""
    rng = np.random.default_rng([seed, 0x5EED])
    usage = np.full(len(answers), "private", dtype=object)
    for value in (0, 1):
        idx = np.flatnonzero(answers[TARGET].to_numpy() == value)
        chosen = rng.permutation(idx)[: round(len(idx) * PUBLIC_FRACTION)]
        usage[chosen] = "public"
    return pd.DataFrame({ID: answers[ID], "usage": usage})


def prepare(raw: Path, public: Path, private: Path, seed: int, evaluation_seed: int) -> None:
    """Write the v2 files (see the module docstring); `raw` is unused (generated data).

    A training variant (any seed but the evaluation one) is a fresh fleet and fresh worlds
    from the generator's training seed space, which shares nothing with the evaluation's.
    """
    del raw
    gen = load_generator()
    if evaluation_seed != gen.EVALUATION_SEED:
        raise ValueError(
            f"competition.yaml's split.seed {evaluation_seed} is not the generator's "
            f"EVALUATION_SEED {gen.EVALUATION_SEED} ({GENERATOR})"
        )
    cases = build(seed)
    write_csv(cases.train, public / "train.csv")  # what to_csv writes, twice as fast
    write_csv(cases.test, public / "test.csv")
    write_csv(cases.history, public / "history.csv")
    pd.DataFrame({ID: cases.test[ID], TARGET: 0.5}).to_csv(
        public / "sample_submission.csv", index=False
    )
    cases.answers.to_csv(private / "test.csv", index=False)
    assign_case_parts(cases.answers, seed).to_csv(private / "parts.csv", index=False)
    cases.log.to_csv(private / "cases.csv", index=False)
