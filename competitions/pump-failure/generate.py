"""Seeded generator for the `pump-failure` competition (predictive maintenance).

`generate(seed)` returns the full labelled table: one year of hourly readings from a fleet
of 20 industrial pumps (20 x 8760 = 175,200 rows), sorted by timestamp then pump, with the
binary target `failure_24h` (1 in the 24 hours before a pump fails). The library splits it
by time afterwards.

The simulation is built so that modelling skill pays off:

* every pump has its own normal levels and noise, and each service moves them to a new
  normal (new parts), so a raw reading alone is ambiguous;
* the operating load changes in regimes and moves flow, pressure, current and vibration
  along pump curves (not linearly), and symptoms show more at high load;
* failures follow a bathtub-shaped hazard in the hours since the last service (botched
  repairs fail early, worn pumps fail late), so `hours_since_maintenance` helps a model
  that is not linear in it; scheduled maintenance and the repair after a failure take the
  pump offline and reset that counter;
* before most failures one of five failure modes ramps up over tens of hours, each moving a
  different mix of channels (some raise the noise rather than the level); a few failures
  come with almost no warning, and harmless transient anomalies mimic early degradation;
* sensor calibration drifts slowly, and sensors drop out (isolated gaps, bursts, outages);
* distractors: humidity, suction pressure and pump size carry no failure signal (ambient
  temperature only moves the bearing temperature).

Only numpy and pandas are used; all work is vectorised over rows. The few Python loops run
over pumps and maintenance events (a few hundred iterations), never over rows.
`seed` draws a fresh fleet, schedule and failure history of the same difficulty.
`world` keeps the fleet of `seed` (the same pumps, with the same constants) and replays
another independent year for it: other services, failures, weather, load and noise. World 0
is the competition's table; other worlds give prediction cases that share no history with
it (see "Known issue" in docs/pump-failure.md).

Seed spaces: `EVALUATION_SEED` (both versions' `split.seed`) is the evaluation data; its
fleet and worlds keep their numpy seed sequences (`[0]`, `[0, world]`). Every other data seed
is a training variant, drawn from `[TRAINING_SPACE, seed, world]`: a first word that no
evaluation sequence has, so no training world replays any part of an evaluation world
(before, data seed 2**32 gave the sequence `[0, 1]`, the events of evaluation world 1).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import pandas as pd

N_PUMPS = 20
N_HOURS = 8760
START = "2025-01-01 00:00"
HORIZON_H = 24
"""A row is positive when its pump fails within this many hours after it."""

WEIBULL_SCALE = 950.0
"""Median (over pumps) Weibull scale of the wear-out lifetime, in running hours."""

LEAD_IN_H = 2000
"""A window's service history starts this many hours before it (cheap: events only), so the
hours since maintenance at its start follow the fleet's steady state, as they do late in a
full year, rather than the start-up state of hour 0."""

EVALUATION_SEED = 0
"""The data seed of the evaluation world (`split.seed` in both versions' competition.yaml)."""

TRAINING_SPACE = 0x7EA1_5EED
"""First word of every training variant's seed sequence (evaluation sequences start with 0)."""

MAX_SEED = 2**32 - 1
"""Seeds and worlds are one 32-bit word each, so the spaces cannot overlap by carrying."""

MIN_UPTIME_H = 48
"""A pump runs at least this long after a service before it can fail (keeps windows whole)."""

SENSORS: tuple[str, ...] = (
    "vibration_mm_s",
    "bearing_temp_c",
    "discharge_pressure_bar",
    "flow_m3_h",
    "motor_current_a",
)
"""The five channels that failures move, in the order of the arrays below."""

DISTRACTOR_SENSOR = "suction_pressure_bar"
TARGET = "failure_24h"
COLUMNS: tuple[str, ...] = (
    "id",
    "timestamp",
    "pump_id",
    "pump_size",
    "load_pct",
    *SENSORS,
    DISTRACTOR_SENSOR,
    "ambient_temp_c",
    "humidity_pct",
    "hours_since_maintenance",
    TARGET,
)

FAILURE_MODES: tuple[str, ...] = (
    "bearing_wear",
    "seal_leak",
    "cavitation",
    "motor_winding",
    "impeller_clog",
)
MODE_PROBS = np.array([0.28, 0.22, 0.18, 0.17, 0.15])

# Shift of each channel's level at full severity, in units of that pump's noise, per mode
# (rows follow FAILURE_MODES, columns follow SENSORS).
MODE_LEVEL = np.array(
    [
        [3.0, 2.0, 0.0, 0.0, 0.8],
        [0.0, 0.5, -3.0, -2.5, -0.5],
        [1.2, 0.0, -1.0, -1.5, 0.0],
        [0.4, 3.0, 0.0, 0.0, 3.0],
        [1.0, 1.0, 2.5, -3.0, -1.0],
    ]
)
# Extra noise (multiplier minus one) on vibration and discharge pressure at full severity.
MODE_NOISE = np.array([[0.8, 0.0], [0.0, 0.3], [2.5, 2.0], [0.2, 0.0], [0.5, 0.5]])

INFANT_PROB = 0.25
"""Chance that a service is botched and the pump fails early (a bathtub-shaped hazard)."""

INFANT_MAX_H = 120.0
"""Botched services fail within this many hours of running."""

DRIFT_SIGMA = 2.0
"""Size of the slow calibration drift of each sensor, in units of that sensor's noise."""

DRIFT_HOURS = 336
"""Correlation length of that drift (two weeks): slower than any failure precursor."""

SERVICE_SHIFT_SIGMA = 2.5
"""Each service moves a pump's normal levels by this much (noise units): new parts."""

PROCESS_SIGMA = 0.6
"""Smooth (hours-long) process fluctuation, in noise units."""

SEVERITY_SCALE = 5.0
"""Global strength of failure precursors; the single knob that sets the difficulty."""


@dataclass(frozen=True)
class Fleet:
    """Constants of each pump: its normal levels, noise, reliability and service plan."""

    size: np.ndarray  # (P,) "S" / "M" / "L"
    base: np.ndarray  # (P, 5) level of each channel at full load, new pump
    sigma: np.ndarray  # (P, 5) hourly noise of each channel
    suction: np.ndarray  # (P,) suction pressure offset
    weibull_scale: np.ndarray  # (P,) hours
    weibull_shape: np.ndarray  # (P,)
    service_interval: np.ndarray  # (P,) hours between scheduled maintenances
    wear: np.ndarray  # (P, 5) level drift per 1000 h since service, in noise units


@dataclass(frozen=True)
class Services:
    """Offline periods of all pumps: scheduled maintenance and repairs after failures.

    Times are hour indices; a service runs from `start` (the pump goes offline; for a
    failure, the hour it fails) to `end` (first hour back online). Times may pass the end
    of the year so that labels near the end are truthful.
    """

    pump: np.ndarray
    start: np.ndarray
    end: np.ndarray
    failure: np.ndarray  # bool
    up_since: np.ndarray  # end of the previous service (negative before the first one)
    initial_age: np.ndarray  # (P,) hours since service at hour 0


@dataclass(frozen=True)
class Episodes:
    """Degradation episodes: a shape over a span of hours, a mode and a severity."""

    pump: np.ndarray
    first: np.ndarray  # first affected hour
    stop: np.ndarray  # one past the last affected hour (clipped to the year)
    origin: np.ndarray  # hour where the shape starts (may precede `first`)
    length: np.ndarray  # nominal length of the shape in hours
    power: np.ndarray  # ramp curvature (failures); ignored by bumps
    bump: np.ndarray  # bool: transient bump that recovers, instead of a ramp to failure
    mode: np.ndarray  # index into FAILURE_MODES
    severity: np.ndarray
    level: np.ndarray  # (E, 5) level shift per channel at full severity
    noise: np.ndarray  # (E, 2) extra noise on vibration / pressure at full severity


@dataclass(frozen=True)
class Simulation:
    """The labelled table plus the hidden event log (for tests and documentation)."""

    frame: pd.DataFrame
    events: pd.DataFrame


def generate(seed: int = 0, world: int = 0) -> pd.DataFrame:
    """Return the full labelled pump table for `seed` (default 0), sorted by time then pump."""
    return simulate(seed, world).frame


class Window(NamedTuple):
    """The simulated (pump, hour) arrays of hours [start, start + T), before any table.

    `rows(pump, hour)` turns chosen (pump, local hour) pairs into the table's columns
    (rounded as in the table): cheaper than the whole table when only a few rows are needed.
    A NamedTuple, not a dataclass: this file is imported by path, without a module entry,
    and dataclasses look plain annotations such as `int` up in that entry.
    """

    start: int
    fleet: Fleet
    load: np.ndarray  # (P, T)
    channels: list[np.ndarray]  # SENSORS then DISTRACTOR_SENSOR, (P, T) each
    ambient: np.ndarray  # (T,)
    humidity: np.ndarray  # (T,)
    age: np.ndarray  # (P, T) hours since maintenance
    label: np.ndarray  # (P, T) target

    @property
    def hours(self) -> int:
        return int(self.age.shape[1])

    def rows(self, pump: np.ndarray, hour: np.ndarray) -> dict[str, np.ndarray]:
        """Every column but `id`, for the pairs (pump[i], hour[i]) in that order."""
        first = pd.Timestamp(START) + pd.Timedelta(hours=self.start)
        times = pd.date_range(first, periods=self.hours, freq="h").to_numpy()
        pump_ids = np.array([f"P{i + 1:02d}" for i in range(N_PUMPS)])
        data: dict[str, np.ndarray] = {
            "timestamp": times[hour],
            "pump_id": pump_ids[pump],
            "pump_size": self.fleet.size[pump],
            "load_pct": np.round(self.load[pump, hour], 1),
        }
        decimals = (3, 2, 3, 2, 2, 3)
        names = (*SENSORS, DISTRACTOR_SENSOR)
        for name, x, d in zip(names, self.channels, decimals, strict=True):
            data[name] = np.round(x[pump, hour], d)
        data["ambient_temp_c"] = np.round(self.ambient, 1)[hour]
        data["humidity_pct"] = np.round(self.humidity, 1)[hour]
        data["hours_since_maintenance"] = self.age[pump, hour]
        data[TARGET] = self.label[pump, hour]
        return data


def simulate(seed: int = 0, world: int = 0, start: int = 0, hours: int = N_HOURS) -> Simulation:
    """Run the whole simulation for `seed` (and `world`); return the table and the event log.

    `start` and `hours` simulate only the hours [start, start + hours) of the year, as if
    the fleet had been switched on at `start` with each pump part-way through its service
    interval (as at hour 0 of a full year). Such a window is a cheap independent replay:
    the season follows the absolute hour, and event rates are scaled to its length. The
    defaults give the full year; other windows only make sense for worlds >= 1.
    """
    window, services, episodes = _run(seed, world, start, hours)
    return Simulation(frame=_assemble(window), events=_event_log(services, episodes))


def simulate_window(seed: int, world: int, start: int, hours: int) -> Window:
    """The arrays of `simulate(seed, world, start, hours)`, without building its table."""
    return _run(seed, world, start, hours)[0]


def seed_words(seed: int, *more: int) -> list[int]:
    """The numpy seed-sequence entropy of `seed` (and a world, ...): see the module docstring."""
    for value in (seed, *more):
        if int(value) != value or not 0 <= value <= MAX_SEED:
            raise ValueError(f"seeds and worlds must be integers in [0, {MAX_SEED}], got {value!r}")
    words = [int(v) for v in (seed, *more)]
    return words if seed == EVALUATION_SEED else [TRAINING_SPACE, *words]


def _run(seed: int, world: int, start: int, hours: int) -> tuple[Window, Services, Episodes]:
    """The simulation itself (see `simulate`)."""
    for name, value in (("seed", seed), ("world", world), ("start", start)):
        if int(value) != value or value < 0:
            raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
    if int(hours) != hours or not 0 < hours <= N_HOURS - start:
        raise ValueError(f"hours must be an integer in [1, {N_HOURS - start}], got {hours!r}")
    start, hours = int(start), int(hours)
    roots = np.random.SeedSequence(seed_words(seed)).spawn(8)
    # the fleet is always that of `seed`; in another world all that happens to it is new
    events = np.random.SeedSequence(seed_words(seed, world)).spawn(8) if world else roots
    streams = [np.random.default_rng(s) for s in (roots[0], *events[1:])]
    fleet = _draw_fleet(streams[0])
    if start == 0:
        services = _simulate_services(streams[1], fleet, hours)
    else:  # a window: its services continue a history that began LEAD_IN_H earlier
        services = _lead_in(_simulate_services(streams[1], fleet, LEAD_IN_H + hours), LEAD_IN_H)
    episodes = _concat_episodes(
        _failure_episodes(streams[2], services, hours), _transient_episodes(streams[3], hours)
    )
    ambient, humidity, reservoir = _environment(streams[4], start, hours)
    offline = _span_mask(services.pump, services.start, services.end, hours)
    load = _load(streams[5], offline)
    level, noise_mult = _degradation(episodes, fleet.sigma, hours)
    cycle, age = _cycles(services, offline)
    channels = _sensors(streams[6], fleet, load, ambient, cycle, age)
    channels = _apply_degradation(
        streams[6], channels, fleet.sigma, level, noise_mult, offline, ambient, load
    )
    suction = _suction(streams[6], fleet, reservoir)
    channels = _dropouts(streams[7], [*channels, suction])
    label = _labels(services, hours)
    window = Window(start, fleet, load, channels, ambient, humidity, age, label)
    return window, services, episodes


# --------------------------------------------------------------------------- fleet & events


def _draw_fleet(rng: np.random.Generator) -> Fleet:
    """Draw each pump's constants; pumps differ by far more than a precursor moves them."""
    size_idx = rng.integers(0, 3, N_PUMPS)
    scale = np.array([0.6, 1.0, 1.6])[size_idx] * rng.uniform(0.85, 1.15, N_PUMPS)
    base = np.column_stack(
        [
            rng.uniform(1.6, 4.8, N_PUMPS),  # vibration, mm/s
            rng.uniform(48.0, 72.0, N_PUMPS),  # bearing temperature, degC
            rng.uniform(4.0, 9.0, N_PUMPS),  # discharge pressure, bar
            95.0 * scale,  # flow, m3/h
            36.0 * scale**0.9 * rng.uniform(0.9, 1.1, N_PUMPS),  # motor current, A
        ]
    )
    rel = np.column_stack(
        [
            rng.uniform(0.04, 0.06, N_PUMPS),
            np.full(N_PUMPS, np.nan),
            rng.uniform(0.02, 0.03, N_PUMPS),
            rng.uniform(0.02, 0.03, N_PUMPS),
            rng.uniform(0.015, 0.025, N_PUMPS),
        ]
    )
    sigma = rel * base
    sigma[:, 1] = rng.uniform(0.5, 0.9, N_PUMPS)
    return Fleet(
        size=np.array(["S", "M", "L"])[size_idx],
        base=base,
        sigma=sigma,
        suction=rng.uniform(0.8, 2.0, N_PUMPS),
        weibull_scale=np.exp(rng.normal(np.log(WEIBULL_SCALE), 0.05, N_PUMPS)),
        weibull_shape=rng.uniform(1.8, 2.3, N_PUMPS),
        service_interval=rng.uniform(650.0, 1150.0, N_PUMPS),
        wear=rng.uniform(0.0, 1.0, (N_PUMPS, 5)) * np.array([1.0, 0.6, -0.3, -0.3, 0.5]),
    )


def _weibull_after(rng: np.random.Generator, scale: float, shape: float, lower: float) -> float:
    """Draw a Weibull lifetime conditional on exceeding `lower` (inverse-CDF sampling)."""
    u = rng.uniform(1e-12, 1.0)
    return float(scale * ((lower / scale) ** shape - np.log(u)) ** (1.0 / shape))


def _lead_in(services: Services, lead: int) -> Services:
    """The services moved `lead` hours earlier: hour `lead` of the history becomes hour 0."""
    return Services(
        pump=services.pump,
        start=services.start - lead,
        end=services.end - lead,
        failure=services.failure,
        up_since=services.up_since - lead,
        initial_age=services.initial_age + lead,
    )


def _simulate_services(rng: np.random.Generator, fleet: Fleet, hours: int) -> Services:
    """Walk each pump's life event by event: fail first, or get serviced on schedule first."""
    rows: list[tuple[int, int, int, bool, int]] = []
    ages = rng.uniform(0.0, fleet.service_interval)
    limit = hours + HORIZON_H
    for p in range(N_PUMPS):
        t, age, up_since = 0, float(ages[p]), -(10**6)
        while t < limit:
            due = fleet.service_interval[p] * rng.uniform(0.85, 1.15) - age
            due = max(due, float(rng.uniform(24.0, 240.0)))
            life = _weibull_after(
                rng,
                fleet.weibull_scale[p],
                fleet.weibull_shape[p],
                age + MIN_UPTIME_H,
            )
            if up_since >= 0 and rng.uniform() < INFANT_PROB:
                life = min(life, float(rng.uniform(MIN_UPTIME_H, INFANT_MAX_H)))
            to_failure = life - age
            failed = to_failure < due
            start = t + int(round(to_failure if failed else due))
            down = int(rng.integers(8, 37)) if failed else int(rng.integers(2, 9))
            rows.append((p, start, start + down, failed, up_since))
            t, age, up_since = start + down, 0.0, start + down
    arr = np.array(rows, dtype=np.int64)
    return Services(
        pump=arr[:, 0],
        start=arr[:, 1],
        end=arr[:, 2],
        failure=arr[:, 3].astype(bool),
        up_since=arr[:, 4],
        initial_age=np.round(ages).astype(np.int64),
    )


def _mode_mix(rng: np.random.Generator, modes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-episode channel weights: the mode's profile, rescaled and with random cross-talk."""
    n = len(modes)
    level = MODE_LEVEL[modes] * rng.uniform(0.6, 1.4, (n, 5)) + rng.normal(0.0, 0.35, (n, 5))
    noise = MODE_NOISE[modes] * rng.uniform(0.6, 1.4, (n, 2))
    return level, noise


def _failure_episodes(rng: np.random.Generator, services: Services, hours: int) -> Episodes:
    """A ramp before each failure: tens of hours long, mode and strength drawn per failure."""
    f = services.failure
    pump, hour, up = services.pump[f], services.start[f], services.up_since[f]
    n = len(hour)
    length = np.clip(np.exp(rng.normal(np.log(60.0), 0.45, n)), 18.0, 160.0).round()
    severity = np.exp(rng.normal(0.0, 0.45, n)) * SEVERITY_SCALE
    sudden = rng.uniform(size=n) < 0.10
    severity[sudden] *= 0.15
    length[sudden] = np.minimum(length[sudden], 12.0)
    origin = hour - length.astype(np.int64)
    modes = rng.choice(len(FAILURE_MODES), size=n, p=MODE_PROBS)
    level, noise = _mode_mix(rng, modes)
    return Episodes(
        pump=pump,
        first=np.clip(np.maximum(origin, up), 0, hours),
        stop=np.clip(hour, 0, hours),
        origin=origin,
        length=length,
        power=rng.uniform(1.0, 2.5, n),
        bump=np.zeros(n, dtype=bool),
        mode=modes,
        severity=severity,
        level=level,
        noise=noise,
    )


def _transient_episodes(rng: np.random.Generator, hours: int) -> Episodes:
    """Harmless anomalies that rise and recover without a failure (false-alarm bait)."""
    counts = rng.poisson(7.0 * hours / N_HOURS, N_PUMPS)
    n = int(counts.sum())
    pump = np.repeat(np.arange(N_PUMPS), counts)
    length = rng.uniform(12.0, 72.0, n).round()
    origin = rng.integers(0, hours, n)
    modes = rng.choice(len(FAILURE_MODES), size=n, p=MODE_PROBS)
    level, noise = _mode_mix(rng, modes)
    return Episodes(
        pump=pump,
        first=origin,
        stop=np.minimum(origin + length.astype(np.int64), hours),
        origin=origin,
        length=length,
        power=np.ones(n),
        bump=np.ones(n, dtype=bool),
        mode=modes,
        severity=np.exp(rng.normal(np.log(0.6), 0.4, n)) * SEVERITY_SCALE,
        level=level,
        noise=noise,
    )


def _concat_episodes(*parts: Episodes) -> Episodes:
    """Stack episode sets field by field (failure ramps first, then transients)."""
    fields = Episodes.__dataclass_fields__
    return Episodes(**{k: np.concatenate([getattr(e, k) for e in parts]) for k in fields})


# --------------------------------------------------------------------------- time series


def _expand(first: np.ndarray, stop: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For spans [first, stop): the span index and the hour of every covered hour."""
    lengths = np.maximum(stop - first, 0)
    which = np.repeat(np.arange(len(lengths)), lengths)
    offsets = np.arange(int(lengths.sum())) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    return which, first[which] + offsets


def _span_mask(pump: np.ndarray, first: np.ndarray, stop: np.ndarray, hours: int) -> np.ndarray:
    """(P, T) boolean mask of the hours covered by per-pump spans [first, stop)."""
    mask = np.zeros((N_PUMPS, hours), dtype=bool)
    lo, hi = np.clip(first, 0, hours), np.clip(stop, 0, hours)
    which, hour = _expand(lo, hi)
    mask[pump[which], hour] = True
    return mask


def _smooth_noise(rng: np.random.Generator, rows: int, width: int, hours: int) -> np.ndarray:
    """(rows, T) unit-variance noise, correlated over about `width` hours (box filter)."""
    white = rng.standard_normal((rows, hours + width))
    csum = np.cumsum(white, axis=1)
    box: np.ndarray = (csum[:, width:] - csum[:, :-width]) / np.sqrt(width)
    return box


def _environment(
    rng: np.random.Generator, start: int, n_hours: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Plant-wide ambient temperature, humidity and reservoir level, each of shape (T,)."""
    hours = start + np.arange(n_hours)
    day = hours / 24.0
    ambient = (
        12.0
        + 10.0 * np.sin(2 * np.pi * (day - 110.0) / 365.0)
        + 4.0 * np.sin(2 * np.pi * ((hours % 24) - 9.0) / 24.0)
        + 2.5 * _smooth_noise(rng, 1, 24, n_hours)[0]
    )
    humidity = np.clip(
        65.0 - 0.8 * (ambient - 12.0) + 8.0 * _smooth_noise(rng, 1, 12, n_hours)[0], 15.0, 100.0
    )
    reservoir = (
        0.3 * np.sin(2 * np.pi * (day - 60.0) / 365.0)
        + 0.15 * _smooth_noise(rng, 1, 48, n_hours)[0]
    )
    return ambient, humidity, reservoir


def _load(rng: np.random.Generator, offline: np.ndarray) -> np.ndarray:
    """(P, T) load setpoint in %: regimes of a day or two, a daily swing, 0 when offline."""
    n_hours = offline.shape[1]
    load = np.empty((N_PUMPS, n_hours))
    hours = np.arange(n_hours)
    for p in range(N_PUMPS):
        dwell = rng.geometric(1.0 / 36.0, n_hours // 4)
        starts = np.cumsum(dwell) - dwell
        levels = rng.uniform(55.0, 100.0, len(dwell))
        regime = levels[np.searchsorted(starts, hours, side="right") - 1]
        swing = rng.uniform(0.0, 8.0) * np.sin(2 * np.pi * (hours - rng.uniform(0, 24)) / 24.0)
        load[p] = regime + swing + rng.normal(0.0, 1.0, n_hours)
    load = np.clip(load, 40.0, 100.0)
    load[offline] = 0.0
    return load


def _cycles(services: Services, offline: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(P, T) service cycle number and hours since the last service ended.

    The cycle number counts the services finished so far; the age is 0 while offline and
    at the restart hour, then grows by one per hour.
    """
    hours = np.arange(offline.shape[1])
    cycle = np.empty(offline.shape, dtype=np.int64)
    age = np.empty(offline.shape, dtype=np.int64)
    for p in range(N_PUMPS):
        ends = np.sort(services.end[services.pump == p])
        cycle[p] = np.searchsorted(ends, hours, side="right")
        since = hours - ends[np.maximum(cycle[p] - 1, 0)]
        age[p] = np.where(cycle[p] > 0, since, services.initial_age[p] + hours)
    age[offline] = 0
    return cycle, age


def _sensors(
    rng: np.random.Generator,
    fleet: Fleet,
    load: np.ndarray,
    ambient: np.ndarray,
    cycle: np.ndarray,
    age: np.ndarray,
) -> list[np.ndarray]:
    """Healthy readings of the five channels, (P, T) each, before precursors and noise.

    Each level follows the load (pump curves) and ambient temperature, moves to a new normal
    after every service (new parts, re-mounted sensors), drifts with wear since the last
    service and with slow calibration drift, and carries smooth process noise.
    """
    lf = load / 100.0
    b = fleet.base
    healthy = [
        b[:, [0]] * (0.75 + 0.25 * lf),
        b[:, [1]] + 12.0 * (lf - 0.8) + 0.35 * (ambient[None, :] - 12.0),
        b[:, [2]] * (0.35 + 0.65 * lf**2),
        b[:, [3]] * lf,
        b[:, [4]] * (0.3 + 0.7 * lf),
    ]
    pumps = np.arange(N_PUMPS)[:, None]
    out: list[np.ndarray] = []
    for c, mean in enumerate(healthy):
        shift = SERVICE_SHIFT_SIGMA * rng.standard_normal((N_PUMPS, int(cycle.max()) + 1))
        drift = DRIFT_SIGMA * _smooth_noise(rng, N_PUMPS, DRIFT_HOURS, age.shape[1])
        wear = fleet.wear[:, [c]] * age / 1000.0
        process = PROCESS_SIGMA * _smooth_noise(rng, N_PUMPS, 8, age.shape[1])
        out.append(mean + fleet.sigma[:, [c]] * (shift[pumps, cycle] + drift + wear + process))
    return out


def _shape(episodes: Episodes, which: np.ndarray, hour: np.ndarray) -> np.ndarray:
    """Episode strength in [0, 1] at each covered hour: a power ramp, or a sin^2 bump."""
    u = (hour - episodes.origin[which] + 1) / episodes.length[which]
    u = np.clip(u, 0.0, 1.0)
    ramp = u ** episodes.power[which]
    bump = np.sin(np.pi * u) ** 2
    strength: np.ndarray = np.where(episodes.bump[which], bump, ramp)
    return strength


def _degradation(
    episodes: Episodes, sigma: np.ndarray, hours: int
) -> tuple[np.ndarray, np.ndarray]:
    """(5, P, T) level shift in physical units and (2, P, T) noise multipliers."""
    which, hour = _expand(episodes.first, episodes.stop)
    strength = _shape(episodes, which, hour) * episodes.severity[which]
    pump = episodes.pump[which]
    level = np.zeros((5, N_PUMPS, hours))
    noise = np.ones((2, N_PUMPS, hours))
    for c in range(5):
        np.add.at(level[c], (pump, hour), strength * episodes.level[which, c] * sigma[pump, c])
    for k in range(2):
        np.add.at(noise[k], (pump, hour), strength * episodes.noise[which, k])
    return level, noise


def _apply_degradation(
    rng: np.random.Generator,
    channels: list[np.ndarray],
    sigma: np.ndarray,
    level: np.ndarray,
    noise_mult: np.ndarray,
    offline: np.ndarray,
    ambient: np.ndarray,
    load: np.ndarray,
) -> list[np.ndarray]:
    """Add precursors and white noise; replace offline hours with idle readings.

    Symptoms show more at high load (bearings and windings suffer most when pushed), so a
    precursor is scaled by (load / 80 %)^2: a reading means little without its load.
    """
    out: list[np.ndarray] = []
    amp = (load / 80.0) ** 2
    extra = {0: noise_mult[0] - 1.0, 2: noise_mult[1] - 1.0}
    for c, x in enumerate(channels):
        spread = sigma[:, [c]] * (1.0 + amp * extra.get(c, 0.0))
        white = rng.standard_normal(x.shape) * spread
        y = x + amp * level[c] + white
        out.append(y)
    idle = rng.standard_normal((5, *offline.shape))
    vib, temp, pres, flow, curr = out
    vib[offline] = np.abs(0.05 + 0.02 * idle[0][offline])
    cooled = np.broadcast_to(ambient[None, :] + 4.0, offline.shape)
    temp[offline] = cooled[offline] + 0.8 * idle[1][offline]
    pres[offline] = np.abs(0.1 + 0.03 * idle[2][offline])
    flow[offline] = np.abs(0.2 * idle[3][offline])
    curr[offline] = np.abs(0.1 * idle[4][offline])
    for c, floor in {0: 0.0, 2: 0.05, 3: 0.0, 4: 0.0}.items():
        np.maximum(out[c], floor, out=out[c])  # these gauges bottom out above zero
    return out


def _suction(rng: np.random.Generator, fleet: Fleet, reservoir: np.ndarray) -> np.ndarray:
    """(P, T) suction pressure: reservoir level plus pump offset and noise; no failure signal."""
    noise = 0.03 * rng.standard_normal((N_PUMPS, len(reservoir)))
    suction: np.ndarray = fleet.suction[:, None] + reservoir[None, :] + noise
    return suction


def _dropouts(rng: np.random.Generator, channels: list[np.ndarray]) -> list[np.ndarray]:
    """Blank readings: isolated gaps, per-sensor bursts and whole-pump telemetry outages."""
    hours = channels[0].shape[1]
    share = hours / N_HOURS  # span counts are per year
    outage_counts = rng.poisson(2.0 * share, N_PUMPS)
    outage = _random_spans(rng, outage_counts, 1, 7, hours)
    out: list[np.ndarray] = []
    for x in channels:
        burst = _random_spans(rng, rng.poisson(8.0 * share, N_PUMPS), 2, 25, hours)
        isolated = rng.uniform(size=x.shape) < 0.01
        y = x.copy()
        y[outage | burst | isolated] = np.nan
        out.append(y)
    return out


def _random_spans(
    rng: np.random.Generator, counts: np.ndarray, lo: int, hi: int, hours: int
) -> np.ndarray:
    """(P, T) mask of `counts[p]` spans per pump with uniform lengths in [lo, hi)."""
    n = int(counts.sum())
    pump = np.repeat(np.arange(N_PUMPS), counts)
    first = rng.integers(0, hours, n)
    return _span_mask(pump, first, first + rng.integers(lo, hi, n), hours)


# --------------------------------------------------------------------------- output


def _labels(services: Services, hours: int) -> np.ndarray:
    """(P, T) target: 1 in the HORIZON_H hours before each failure, else 0."""
    f = services.failure
    mask = _span_mask(services.pump[f], services.start[f] - HORIZON_H, services.start[f], hours)
    return mask.astype(np.int64)


def _assemble(window: Window) -> pd.DataFrame:
    """The table of a window: rows sorted by timestamp then pump, ids from 0."""
    n = N_PUMPS * window.hours
    hour, pump = np.divmod(np.arange(n), N_PUMPS)  # time-major
    data = {"id": np.arange(n, dtype=np.int64), **window.rows(pump, hour)}
    return pd.DataFrame(data, columns=list(COLUMNS))


def _event_log(services: Services, episodes: Episodes) -> pd.DataFrame:
    """Hidden ground truth: every service (failure or scheduled), with the failure's mode.

    Hours count from the first timestamp; services may start after the last hour (they
    label the final rows). Failure episodes come first in `episodes`, in service order.
    """
    n_fail = int(services.failure.sum())
    mode = np.full(len(services.start), "", dtype=object)
    mode[services.failure] = np.array(FAILURE_MODES)[episodes.mode[:n_fail]]
    severity = np.full(len(services.start), np.nan)
    severity[services.failure] = episodes.severity[:n_fail]
    log = pd.DataFrame(
        {
            "pump_id": [f"P{p + 1:02d}" for p in services.pump],
            "start_hour": services.start,
            "end_hour": services.end,
            "kind": np.where(services.failure, "failure", "maintenance"),
            "mode": mode,
            "severity": severity,
        }
    )
    return log.sort_values(["start_hour", "pump_id"], kind="stable").reset_index(drop=True)
