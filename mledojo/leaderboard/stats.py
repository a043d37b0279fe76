"""Leaderboard statistics: per competition, per agent, Elo, cost, anytime curves.

Rules (docs/leaderboard.md says why):

* Episodes are grouped by budget class; nothing is compared across classes.
* A class's episodes are expected for every competition and seed of its `BoardSpec` (given,
  or the union of what was submitted). A missing, ungraded or suspect episode counts as
  HumanRank 0 and no medal, so dropping a bad seed never helps.
* Mean ± standard error (sample standard deviation / sqrt(n)) over the seeds.
* A row's raw score and medal rate also get a 95 % interval from a two-level bootstrap
  (`mledojo.grading.intervals`): episodes (agent seeds) drawn again, then each drawn
  episode's test rows, through its own row-bootstrap interval or medal probability. An
  episode without them (an older result) counts its score, or its medal, as certain.
* Elo: each competition is one game between each pair of agents, won by the higher mean
  HumanRank (a tie within 1e-9 is a draw). Ratings are the Bradley-Terry maximum-likelihood
  fit on the Elo scale (400 points = 10:1 odds, mean 1000) with one virtual draw per pair, so
  a perfect record stays finite. The 95 % interval is the 2.5-97.5 percentile over a seeded
  bootstrap that resamples the competitions and, within each, every agent's seeds.
* Medals mean what the competition's `leaderboard.medals` says (the leak audit measures it):
  an agent's medal rates count only competitions whose medals are `informative` or
  `indicative`; `uninformative` ones (a plain reference model beats the best human) are
  reported apart, `none` ones award nothing. A score past the competition's ceiling is
  suspect whatever its record says (`mledojo.leaderboard.facts.recheck`).
* Verification levels are never ranked together unlabelled: an agent's level is the weakest
  of its episodes'; agents whose every episode is `reproduced` or `live` form the
  "verified" tier, ranked (and Elo-rated) apart from and above the `self-reported` tier.
"""

from __future__ import annotations

import hashlib
import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Literal

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field

from mledojo.artifacts import INFRA_STATUSES
from mledojo.competition import MedalStatus, MetricSpec
from mledojo.grading.intervals import board_mean_interval, board_rate_interval
from mledojo.leaderboard._io import LeaderboardError
from mledojo.leaderboard.episode import (
    LEVELS,
    VERIFIED_LEVELS,
    BoardEpisode,
    BoardFlag,
    Level,
    Part,
)
from mledojo.leaderboard.facts import (
    MEDAL_RATE_STATUSES,
    CompetitionFacts,
    installed_facts,
    off_evaluation_split,
    recheck,
)

Facts = dict[tuple[str, int | None], CompetitionFacts]

BOARD_SCHEMA_VERSION = 2
ELO_BASE = 1000.0
ELO_SCALE = 400.0
TIE = 1e-9
DEFAULT_BOOTSTRAP = 1000
DEFAULT_ELO_SEED = 0

Seed = int | None
Tier = Literal["verified", "self-reported"]
TIERS: tuple[Tier, ...] = ("verified", "self-reported")


def weakest(levels: Iterable[Level]) -> Level:
    """The weakest of these levels (`self-reported` when there are none)."""
    return max(levels, key=LEVELS.index, default="self-reported")


def tier_of(level: Level) -> Tier:
    return "verified" if level in VERIFIED_LEVELS else "self-reported"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class MeanSE(_Frozen):
    """A mean with its standard error (None with fewer than two values) over `n` values."""

    mean: float
    se: float | None
    n: int


def mean_se(values: Sequence[float]) -> MeanSE:
    """Mean and standard error (sample std, ddof=1, over sqrt(n)) of `values`."""
    if not values:
        raise LeaderboardError("no values to average (an empty group reached the statistics)")
    arr = np.asarray(values, dtype=np.float64)
    se = float(arr.std(ddof=1) / math.sqrt(arr.size)) if arr.size > 1 else None
    return MeanSE(mean=float(arr.mean()), se=se, n=int(arr.size))


class BoardSpec(_Frozen):
    """What one budget class expects: every competition with every seed."""

    budget_class: str
    competitions: list[str]
    seeds: list[Seed]
    inferred: bool = Field(default=False, description="the union of what was submitted")


class CompetitionStat(_Frozen):
    """One agent on one competition, over the spec's seeds."""

    competition: str
    agent: str
    verification: Level  # the weakest level of these episodes
    tier: Tier
    verification_text: str  # e.g. `reproduced (score ±0.001)`: what the row shows
    expected: int
    present: int
    scored: int
    human_rank: MeanSE
    score: MeanSE | None
    any_medal_rate: float
    gold_rate: float
    above_median_rate: float
    score_interval: tuple[float, float] | None = None
    """95 % interval of the mean raw score: agent seeds and test rows (two-level bootstrap)."""
    any_medal_rate_interval: tuple[float, float] | None = None
    """95 % interval of the any-medal rate, the same way."""
    suspect: int = 0
    """Episodes flagged implausible (counted as HumanRank 0 and no medal), shown on the row."""
    medals: MedalStatus | None = None
    """The competition's medal status; None when this install does not know it."""


class EloRating(_Frozen):
    """A Bradley-Terry rating on the Elo scale with its bootstrap 95 % interval."""

    rating: float
    low: float
    high: float


class AgentSummary(_Frozen):
    """One agent over a budget class's whole spec; `reported_*` come from its bundles."""

    agent: str
    verification: Level  # the weakest level of its episodes
    levels: list[Level]  # every level among its episodes, strongest first
    tier: Tier  # ranked and Elo-rated only within its tier
    rank: int  # 1-based, within its tier
    human_rank: MeanSE  # over seeds of the per-seed mean over competitions
    any_medal_rate: float  # over competitions whose medals count (MEDAL_RATE_STATUSES)
    any_medal_rate_interval: tuple[float, float] | None  # two-level bootstrap, same ones
    gold_rate: float
    above_median_rate: float
    uninformative_medal_rate: float | None
    """Any-medal rate over the competitions whose medals are uninformative, kept apart
    (None when there are none)."""
    elo: EloRating
    expected: int
    present: int
    scored: int
    reported_agent_errors: int
    reported_infra_errors: int
    suspect: int
    reported_llm_tokens: int
    reported_llm_usd: float
    reported_wall_time_s: float
    reported_hardware: list[str]
    reported_attempts: int


class CurvePoint(_Frozen):
    x: float
    y: float


class AnytimeCurve(_Frozen):
    """Mean over the spec's seeds of the best HumanRank reached by x (seconds or dollars)."""

    agent: str
    axis: str  # "wall_time_s" or "usd"
    part: Part
    points: list[CurvePoint]


class CompetitionBoard(_Frozen):
    """Everything the board shows for one competition of one budget class."""

    competition: str
    metric: str
    higher_is_better: bool | None
    flags: list[BoardFlag]
    medals: MedalStatus | None
    """The competition's medal status (None: unknown to this install)."""
    stats: list[CompetitionStat]  # best mean HumanRank first
    time_curves: list[AnytimeCurve]
    usd_curves: list[AnytimeCurve]

    @property
    def metric_spec(self) -> MetricSpec | None:
        """The metric and its direction (None when no episode said which is better)."""
        if self.higher_is_better is None:
            return None
        return MetricSpec(name=self.metric or "unknown", higher_is_better=self.higher_is_better)


class ClassBoard(_Frozen):
    """One budget class: its spec, its agents ranked, its competitions."""

    spec: BoardSpec
    agents: list[AgentSummary]  # the verified tier first; within a tier best HumanRank first
    competitions: list[CompetitionBoard]


class Board(_Frozen):
    """The whole leaderboard, as the renderers and `board.json` see it."""

    schema_version: int = BOARD_SCHEMA_VERSION
    input_sha256: str
    episodes: int
    bootstrap: int
    elo_seed: int
    classes: list[ClassBoard]


# --------------------------------------------------------------------------- helpers
def _seed_key(seed: Seed) -> tuple[bool, int]:
    return (seed is None, seed or 0)


def index_episodes(
    episodes: Iterable[BoardEpisode],
) -> dict[tuple[str, str, str, Seed], BoardEpisode]:
    """Episodes by (budget class, agent, competition, seed); a second one is an error."""
    out: dict[tuple[str, str, str, Seed], BoardEpisode] = {}
    versions: dict[tuple[str, str], tuple[int | None, str]] = {}
    for ep in episodes:
        if ep.key in out:
            raise LeaderboardError(
                f"two episodes of agent `{ep.agent}` on `{ep.competition}` seed {ep.seed} "
                f"(budget class `{ep.budget_class}`): {out[ep.key].source} and {ep.source}. "
                "Keep one (a rerun replaces an episode, it does not add one)."
            )
        seen = versions.setdefault(
            (ep.budget_class, ep.competition), (ep.competition_version, ep.source)
        )
        if seen[0] != ep.competition_version:
            raise LeaderboardError(
                f"`{ep.competition}` appears as version {seen[0]} ({seen[1]}) and "
                f"{ep.competition_version} ({ep.source}) in budget class `{ep.budget_class}`; "
                "results on different versions are not comparable: re-run on one version"
            )
        out[ep.key] = ep
    return out


def infer_specs(episodes: Iterable[BoardEpisode]) -> list[BoardSpec]:
    """One spec per budget class: every competition and every seed seen in that class."""
    comps: dict[str, set[str]] = defaultdict(set)
    seeds: dict[str, set[Seed]] = defaultdict(set)
    for ep in episodes:
        comps[ep.budget_class].add(ep.competition)
        seeds[ep.budget_class].add(ep.seed)
    return [
        BoardSpec(
            budget_class=bc,
            competitions=sorted(comps[bc]),
            seeds=sorted(seeds[bc], key=_seed_key),
            inferred=True,
        )
        for bc in sorted(comps)
    ]


def _rate(flags: Iterable[bool], n: int) -> float:
    return sum(1 for f in flags if f) / n if n else 0.0


def medal_chance(ep: BoardEpisode | None) -> float:
    """The probability that an expected episode earned a medal: its share of bootstrap
    resamples at or past bronze; its medal itself when it has none; 0 when missing,
    ungraded or suspect (as for the medal rate)."""
    if ep is None or not ep.scored:
        return 0.0
    if ep.medal_probabilities is not None:
        return ep.medal_probabilities.bronze
    return 1.0 if ep.medal is not None else 0.0


def competition_stat(
    agent: str,
    competition: str,
    seeds: Sequence[Seed],
    found: dict[Seed, BoardEpisode],
    medals: MedalStatus | None = None,
) -> CompetitionStat:
    """One agent's statistics on one competition; a seed without an episode counts as zero."""
    eps = [found[s] for s in seeds if s in found]
    scored = [e for e in eps if e.scored]
    hr = [found[s].human_rank if s in found else 0.0 for s in seeds]
    raw = [e.private_score for e in scored if e.private_score is not None]
    n = len(seeds)
    level = weakest(e.verification.level for e in eps)
    return CompetitionStat(
        competition=competition,
        agent=agent,
        verification=level,
        tier=tier_of(level),
        verification_text=level_text(eps),
        expected=n,
        present=len(eps),
        scored=len(scored),
        human_rank=mean_se(hr),
        score=mean_se(raw) if raw else None,
        any_medal_rate=_rate((e.medal is not None for e in scored), n),
        gold_rate=_rate((e.medal == "gold" for e in scored), n),
        above_median_rate=_rate((bool(e.above_median) for e in scored), n),
        score_interval=board_mean_interval(
            raw, [e.interval for e in scored if e.private_score is not None]
        ),
        any_medal_rate_interval=board_rate_interval([medal_chance(found.get(s)) for s in seeds]),
        suspect=sum(1 for e in eps if e.implausible),
        medals=medals,
    )


def level_text(eps: Sequence[BoardEpisode]) -> str:
    """The label of a group of episodes: its weakest level, with the widest tolerance used."""
    level = weakest(e.verification.level for e in eps)
    tolerances = [
        e.verification.tolerance
        for e in eps
        if e.verification.level == level
        and e.verification.match == "score"
        and e.verification.tolerance is not None
    ]
    if level == "reproduced" and tolerances:
        return f"reproduced (score ±{max(tolerances):g})"
    return level


# ------------------------------------------------------------------------------- Elo
def _bt_fit(
    wins: npt.NDArray[np.float64], games: npt.NDArray[np.float64]
) -> npt.NDArray[np.float64]:
    """Bradley-Terry strengths by Hunter's MM iteration; `wins[i, j]`: i over j (a draw: 0.5)."""
    w = wins.sum(axis=1)
    p = np.ones(wins.shape[0])
    for _ in range(10_000):
        denom = (games / (p[:, None] + p[None, :])).sum(axis=1)
        new = w / denom
        new /= math.exp(float(np.log(new).mean()))
        done = float(np.max(np.abs(new - p))) < 1e-12
        p = np.asarray(new, dtype=np.float64)
        if done:
            break
    return p


def _elo_from_counts(
    wins: npt.NDArray[np.float64], games: npt.NDArray[np.float64]
) -> npt.NDArray[np.float64]:
    k = wins.shape[0]
    prior = np.full((k, k), 0.5) - np.diag(np.full(k, 0.5))  # one virtual draw per pair
    p = _bt_fit(wins + prior, games + 2 * prior)
    r = ELO_SCALE * np.log10(p)
    return np.asarray(ELO_BASE + r - r.mean(), dtype=np.float64)


def _games(
    outcomes: npt.NDArray[np.float64],
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """`outcomes[c, i, j]` is 1 / 0.5 / 0 for i against j on competition c: summed counts."""
    wins = outcomes.sum(axis=0)
    k = outcomes.shape[1]
    games = np.full((k, k), float(outcomes.shape[0])) - np.diag(
        np.full(k, float(outcomes.shape[0]))
    )
    return wins, games


def pairwise_outcomes(values: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """`values[c, i]` (agent i's mean HumanRank on competition c) as game outcomes [c, i, j]."""
    diff = values[:, :, None] - values[:, None, :]
    out = np.where(diff > TIE, 1.0, np.where(diff < -TIE, 0.0, 0.5))
    k = values.shape[1]
    out[:, np.arange(k), np.arange(k)] = 0.0
    return np.asarray(out, dtype=np.float64)


def elo_ratings(
    values: npt.NDArray[np.float64],
    *,
    bootstrap: int = DEFAULT_BOOTSTRAP,
    seed: int = DEFAULT_ELO_SEED,
) -> list[EloRating]:
    """Elo (Bradley-Terry) per agent, with bootstrap 95 % intervals.

    `values[c, i, s]` is agent i's HumanRank on competition c with seed s (a 2-D array is
    one seed). The point rating compares per-competition means over seeds. Each bootstrap
    draw resamples the competitions, then, within each, every agent's seeds (both with
    replacement), so the interval covers seed noise as well as the choice of competitions.
    """
    if values.ndim == 2:
        values = values[:, :, None]
    n_comp, k, n_seed = values.shape
    if k == 0:
        return []
    if k == 1 or n_comp == 0 or n_seed == 0:
        return [EloRating(rating=ELO_BASE, low=ELO_BASE, high=ELO_BASE) for _ in range(k)]
    point = _elo_from_counts(*_games(pairwise_outcomes(values.mean(axis=2))))
    rng = np.random.default_rng(seed)
    samples = np.empty((bootstrap, k))
    rows = np.arange(n_comp)[:, None, None]
    cols = np.arange(k)[None, :, None]
    for b in range(bootstrap):
        comps = rng.integers(0, n_comp, size=n_comp)
        seeds = rng.integers(0, n_seed, size=(n_comp, k, n_seed))
        drawn = values[comps][rows, cols, seeds].mean(axis=2)
        samples[b] = _elo_from_counts(*_games(pairwise_outcomes(drawn)))
    if bootstrap:
        low, high = np.percentile(samples, [2.5, 97.5], axis=0)
    else:
        low = high = point
    return [
        EloRating(rating=float(point[i]), low=float(low[i]), high=float(high[i])) for i in range(k)
    ]


# ----------------------------------------------------------------------- anytime curves
def _episode_step(points: Sequence[tuple[float, float]], x: float) -> float:
    best = 0.0
    for px, py in points:
        if px <= x + 1e-12:
            best = max(best, py)
    return best


def anytime_curve(
    agent: str, axis: str, episodes: Sequence[BoardEpisode | None], grid: Sequence[float]
) -> AnytimeCurve:
    """The mean over seeds (a missing episode is 0 throughout) of the best HumanRank by x."""
    per_ep: list[list[tuple[float, float]]] = []
    parts: set[Part] = set()
    for ep in episodes:
        if ep is None:
            per_ep.append([])
            continue
        parts.update(p.part for p in ep.anytime)
        per_ep.append(
            [
                (p.elapsed_s if axis == "wall_time_s" else p.usd, p.best_human_rank)
                for p in ep.anytime
            ]
        )
    n = max(1, len(per_ep))
    pts = [CurvePoint(x=x, y=sum(_episode_step(e, x) for e in per_ep) / n) for x in grid]
    part: Part = "private" if parts == {"private"} else "public"
    return AnytimeCurve(agent=agent, axis=axis, part=part, points=pts)


def _grid(episodes: Iterable[BoardEpisode], axis: str) -> list[float]:
    xs = {0.0}
    for ep in episodes:
        xs.update(p.elapsed_s if axis == "wall_time_s" else p.usd for p in ep.anytime)
    return sorted(xs)


# ------------------------------------------------------------------------------ board
def _competition_meta(eps: Sequence[BoardEpisode]) -> tuple[str, bool | None, list[BoardFlag]]:
    metric = next((e.metric for e in eps if e.metric), "")
    hib = next((e.higher_is_better for e in eps if e.higher_is_better is not None), None)
    flags: list[BoardFlag] = []
    for e in eps:
        flags.extend(f for f in e.flags if f not in flags)
    order: tuple[BoardFlag, ...] = ("approximate", "truncated", "reference", "suspect")
    return metric, hib, [f for f in order if f in flags]


def _medal_statuses(
    mine: dict[tuple[str, str, str, Seed], BoardEpisode], facts: Facts
) -> dict[str, MedalStatus]:
    """Per competition of a class, its medal status (left out when unknown)."""
    out: dict[str, MedalStatus] = {}
    for ep in mine.values():
        known = facts.get((ep.competition, ep.competition_version))
        if known is not None:
            out[ep.competition] = known.medals
    return out


def build_class(
    spec: BoardSpec,
    index: dict[tuple[str, str, str, Seed], BoardEpisode],
    *,
    bootstrap: int,
    elo_seed: int,
    facts: Facts | None = None,
) -> ClassBoard:
    """The board of one budget class."""
    mine = {k: v for k, v in index.items() if k[0] == spec.budget_class}
    medals = _medal_statuses(mine, facts or {})
    if not mine:
        raise LeaderboardError(f"budget class `{spec.budget_class}` has no episodes")
    outside = sorted({k[2] for k in mine} - set(spec.competitions))
    stray = sorted({k[3] for k in mine} - set(spec.seeds), key=_seed_key)
    if outside or stray:
        what = f"competitions {outside}" if outside else f"seeds {stray}"
        raise LeaderboardError(
            f"budget class `{spec.budget_class}`: episodes on {what}, which the board spec "
            "does not list; add them to the spec or leave those episodes out"
        )
    agents = sorted({k[1] for k in mine})
    seeds = spec.seeds
    by: dict[tuple[str, str], dict[Seed, BoardEpisode]] = defaultdict(dict)
    for (_, agent, comp, seed), ep in mine.items():
        by[(agent, comp)][seed] = ep
    stats = {
        (a, c): competition_stat(a, c, seeds, by[(a, c)], medals.get(c))
        for a in agents
        for c in spec.competitions
    }
    level = {
        a: weakest(
            ep.verification.level for (aa, _), f in by.items() if aa == a for ep in f.values()
        )
        for a in agents
    }
    summaries: list[AgentSummary] = []
    for tier in TIERS:  # each tier is ranked and Elo-rated on its own
        members = [a for a in agents if tier_of(level[a]) == tier]
        values = np.array(
            [
                [
                    [by[(a, c)][s].human_rank if s in by[(a, c)] else 0.0 for s in seeds]
                    for a in members
                ]
                for c in spec.competitions
            ],
            dtype=np.float64,
        ).reshape(len(spec.competitions), len(members), len(seeds))
        ratings = elo_ratings(values, bootstrap=bootstrap, seed=elo_seed)
        ranked = sorted(
            (
                _agent_summary(a, spec, by, stats, elo, medals)
                for a, elo in zip(members, ratings, strict=True)
            ),
            key=lambda s: (-s.human_rank.mean, -s.elo.rating, s.agent),
        )
        summaries += [s.model_copy(update={"rank": i}) for i, s in enumerate(ranked, 1)]
    comps = []
    for c in spec.competitions:
        eps = [ep for (a, cc), found in by.items() if cc == c for ep in found.values()]
        metric, hib, flags = _competition_meta(eps)
        rows = sorted(
            (stats[(a, c)] for a in agents),
            key=lambda s: (TIERS.index(s.tier), -s.human_rank.mean, s.agent),
        )
        tgrid, ugrid = _grid(eps, "wall_time_s"), _grid(eps, "usd")
        per_agent = {a: [by[(a, c)].get(s) for s in seeds] for a in agents}
        tcurves = [anytime_curve(a, "wall_time_s", per_agent[a], tgrid) for a in agents]
        ucurves = (
            [anytime_curve(a, "usd", per_agent[a], ugrid) for a in agents] if len(ugrid) > 1 else []
        )
        comps.append(
            CompetitionBoard(
                competition=c,
                metric=metric,
                higher_is_better=hib,
                flags=flags,
                medals=medals.get(c),
                stats=rows,
                time_curves=tcurves if len(tgrid) > 1 else [],
                usd_curves=ucurves,
            )
        )
    return ClassBoard(spec=spec, agents=summaries, competitions=comps)


def _agent_summary(
    agent: str,
    spec: BoardSpec,
    by: dict[tuple[str, str], dict[Seed, BoardEpisode]],
    stats: dict[tuple[str, str], CompetitionStat],
    elo: EloRating,
    medals: dict[str, MedalStatus],
) -> AgentSummary:
    per_seed = [
        float(
            np.mean(
                [
                    by[(agent, c)][s].human_rank if s in by[(agent, c)] else 0.0
                    for c in spec.competitions
                ]
            )
        )
        for s in spec.seeds
    ]
    eps = [ep for c in spec.competitions for ep in by[(agent, c)].values()]
    mine = [stats[(agent, c)] for c in spec.competitions]
    expected = sum(s.expected for s in mine)
    scored = [e for e in eps if e.scored]
    level = weakest(e.verification.level for e in eps)
    counted = [c for c in spec.competitions if medals.get(c, "informative") in MEDAL_RATE_STATUSES]
    apart = [c for c in spec.competitions if medals.get(c) == "uninformative"]
    medal_eps = [e for e in scored if e.competition in counted]
    medal_expected = sum(stats[(agent, c)].expected for c in counted)
    apart_eps = [e for e in scored if e.competition in apart]
    apart_expected = sum(stats[(agent, c)].expected for c in apart)
    return AgentSummary(
        agent=agent,
        verification=level,
        levels=[lv for lv in LEVELS if any(e.verification.level == lv for e in eps)],
        tier=tier_of(level),
        rank=0,  # set by the caller, within the tier
        human_rank=mean_se(per_seed),
        any_medal_rate=_rate((e.medal is not None for e in medal_eps), medal_expected),
        any_medal_rate_interval=board_rate_interval(
            [medal_chance(by[(agent, c)].get(s)) for c in counted for s in spec.seeds]
        ),
        gold_rate=_rate((e.medal == "gold" for e in medal_eps), medal_expected),
        above_median_rate=_rate((bool(e.above_median) for e in scored), expected),
        uninformative_medal_rate=(
            _rate((e.medal is not None for e in apart_eps), apart_expected) if apart else None
        ),
        elo=elo,
        expected=expected,
        present=len(eps),
        scored=len(scored),
        reported_agent_errors=sum(1 for e in eps if e.reported_status == "agent_error"),
        reported_infra_errors=sum(1 for e in eps if e.reported_status in INFRA_STATUSES),
        suspect=sum(1 for e in eps if e.implausible),
        reported_llm_tokens=sum(e.reported_llm_tokens for e in eps),
        reported_llm_usd=sum(e.reported_llm_usd for e in eps),
        reported_wall_time_s=sum(e.reported_wall_time_s for e in eps),
        reported_hardware=sorted({e.reported_hardware for e in eps}),
        reported_attempts=sum(e.reported_attempts for e in eps),
    )


def _digest_exclusions(ep: BoardEpisode) -> set[str]:
    """Fields left out of the digest: the source, and the interval fields when unset, so
    boards built before intervals existed keep their digest."""
    unset = {f for f in ("interval", "medal_probabilities") if getattr(ep, f) is None}
    return {"source", *unset}


def input_digest(episodes: Iterable[BoardEpisode]) -> str:
    """sha256 over the episodes (sources left out), sorted: the board's input, re-checkable."""
    h = hashlib.sha256()
    lines = sorted(ep.model_dump_json(exclude=_digest_exclusions(ep)) for ep in episodes)
    for line in lines:
        h.update(line.encode() + b"\n")
    return h.hexdigest()


def build_board(
    episodes: Sequence[BoardEpisode],
    specs: Sequence[BoardSpec] | None = None,
    *,
    bootstrap: int = DEFAULT_BOOTSTRAP,
    elo_seed: int = DEFAULT_ELO_SEED,
    facts: Facts | None = None,
) -> Board:
    """The leaderboard of these episodes: one board per budget class (deterministic).

    `facts`: each (competition, version)'s medal status and ceiling; by default read from
    the installed competitions (`installed_facts`). An episode on a training variant is
    refused (`off_evaluation_split`); every other is re-checked against its ceiling
    (`recheck`) before anything is counted.
    """
    if not episodes:
        raise LeaderboardError("no episodes to build a leaderboard from")
    if bootstrap < 0:
        raise LeaderboardError(f"bootstrap must be >= 0, got {bootstrap}")
    facts = installed_facts(episodes) if facts is None else facts
    refused = [why for ep in episodes if (why := off_evaluation_split(ep, facts)) is not None]
    if refused:
        more = f" (and {len(refused) - 5} more)" if len(refused) > 5 else ""
        raise LeaderboardError(
            "episodes on training variants; leave them out of the board's sources: "
            + "; ".join(refused[:5])
            + more
        )
    index = index_episodes([recheck(ep, facts) for ep in episodes])
    given = {s.budget_class: s for s in specs or []}
    inferred = {s.budget_class: s for s in infer_specs(episodes)}
    classes = [
        build_class(given.get(bc, spec), index, bootstrap=bootstrap, elo_seed=elo_seed, facts=facts)
        for bc, spec in sorted(inferred.items())
    ]
    return Board(
        input_sha256=input_digest(episodes),
        episodes=len(episodes),
        bootstrap=bootstrap,
        elo_seed=elo_seed,
        classes=classes,
    )
