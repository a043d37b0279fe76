"""`mledojo compare RUN_A RUN_B`: per-competition HumanRank deltas and their significance.

Each run's seeds are its own (the union of the seeds it ran); a competition or seed a run
lacks counts as HumanRank 0, as on the board. The test per competition is Welch's unequal-
variance t-test over the seeds (two-sided), with Holm's correction across competitions;
the overall delta (mean over competitions) is tested with a paired t-test over competitions.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from pydantic import BaseModel, ConfigDict
from scipy import stats as sps

from mledojo.leaderboard._io import LeaderboardError
from mledojo.leaderboard.episode import BoardEpisode, load_episodes

ALPHA = 0.05


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class CompetitionDelta(_Frozen):
    """B against A on one competition: HumanRank over seeds (missing = 0) and raw score."""

    competition: str
    metric: str
    higher_is_better: bool | None
    n_a: int
    n_b: int
    mean_a: float
    mean_b: float
    delta: float  # mean_b - mean_a: positive means B ranks higher
    raw_delta: float | None  # mean raw score of B minus A's (graded episodes only)
    p_value: float | None
    p_holm: float | None
    significant: bool
    note: str = ""


class Comparison(_Frozen):
    """The whole comparison of two runs."""

    run_a: str
    run_b: str
    agent_a: str
    agent_b: str
    budget_classes: tuple[str, str]
    deltas: list[CompetitionDelta]
    overall_delta: float
    overall_p_value: float | None
    test: str = "Welch's t-test over seeds (two-sided), Holm-corrected across competitions"


def welch_p(a: Sequence[float], b: Sequence[float]) -> tuple[float | None, str]:
    """Two-sided Welch p-value, or None with the reason when the test is undefined."""
    if len(a) < 2 or len(b) < 2:
        return None, "needs at least 2 seeds in each run"
    va, vb = float(np.var(a, ddof=1)), float(np.var(b, ddof=1))
    if va == 0.0 and vb == 0.0:
        same = math.isclose(float(np.mean(a)), float(np.mean(b)), abs_tol=1e-12)
        return None, "identical on every seed" if same else "no spread over seeds in either run"
    se2_a, se2_b = va / len(a), vb / len(b)
    t = (float(np.mean(b)) - float(np.mean(a))) / math.sqrt(se2_a + se2_b)
    df = (se2_a + se2_b) ** 2 / (se2_a**2 / (len(a) - 1) + se2_b**2 / (len(b) - 1))
    return float(2 * sps.t.sf(abs(t), df)), ""


def holm(pvalues: Sequence[float | None]) -> list[float | None]:
    """Holm-Bonferroni adjusted p-values (None stays None)."""
    present = sorted((p, i) for i, p in enumerate(pvalues) if p is not None)
    m = len(present)
    out: list[float | None] = [None] * len(pvalues)
    running = 0.0
    for rank, (p, i) in enumerate(present):
        running = max(running, min(1.0, (m - rank) * p))
        out[i] = running
    return out


def _pick_agent(episodes: list[BoardEpisode], agent: str | None, run: Path) -> str:
    agents = sorted({e.agent for e in episodes})
    if not agents:
        raise LeaderboardError(f"{run}: no finished episode (no result.json) found")
    if agent is not None:
        if agent not in agents:
            raise LeaderboardError(f"{run}: no episode of agent `{agent}`; it holds {agents}")
        return agent
    if len(agents) > 1:
        raise LeaderboardError(
            f"{run} holds several agents ({', '.join(agents)}); choose one with --agent-a/--agent-b"
        )
    return agents[0]


def _run_values(
    episodes: list[BoardEpisode], competition: str, seeds: list[int | None]
) -> tuple[list[float], list[float]]:
    by_seed = {e.seed: e for e in episodes if e.competition == competition}
    hr = [by_seed[s].human_rank if s in by_seed else 0.0 for s in seeds]
    raw = [e.private_score for e in by_seed.values() if e.scored and e.private_score is not None]
    return hr, raw


def _check_unique(episodes: list[BoardEpisode], run: Path) -> None:
    seen: dict[tuple[str, int | None], str] = {}
    for e in episodes:
        k = (e.competition, e.seed)
        if k in seen:
            raise LeaderboardError(
                f"{run}: two episodes of `{e.agent}` on `{e.competition}` seed {e.seed}: "
                f"{seen[k]} and {e.source}"
            )
        seen[k] = e.source


def compare_episodes(
    a: list[BoardEpisode],
    b: list[BoardEpisode],
    *,
    run_a: str = "A",
    run_b: str = "B",
) -> Comparison:
    """Compare one agent's episodes (A) with another's (B), competition by competition."""
    if not a or not b:
        raise LeaderboardError(f"nothing to compare: {run_a if not a else run_b} has no episode")
    seeds_a = sorted({e.seed for e in a}, key=lambda s: (s is None, s or 0))
    seeds_b = sorted({e.seed for e in b}, key=lambda s: (s is None, s or 0))
    comps = sorted({e.competition for e in a} | {e.competition for e in b})
    rows: list[CompetitionDelta] = []
    raw_p: list[float | None] = []
    for c in comps:
        hr_a, raw_a = _run_values(a, c, seeds_a)
        hr_b, raw_b = _run_values(b, c, seeds_b)
        p, note = welch_p(hr_a, hr_b)
        raw_p.append(p)
        meta = next(e for e in [*a, *b] if e.competition == c)
        rows.append(
            CompetitionDelta(
                competition=c,
                metric=meta.metric,
                higher_is_better=meta.higher_is_better,
                n_a=len(hr_a),
                n_b=len(hr_b),
                mean_a=float(np.mean(hr_a)),
                mean_b=float(np.mean(hr_b)),
                delta=float(np.mean(hr_b) - np.mean(hr_a)),
                raw_delta=float(np.mean(raw_b) - np.mean(raw_a)) if raw_a and raw_b else None,
                p_value=p,
                p_holm=None,
                significant=False,
                note=note,
            )
        )
    adjusted = holm(raw_p)
    rows = [
        r.model_copy(update={"p_holm": q, "significant": q is not None and q < ALPHA})
        for r, q in zip(rows, adjusted, strict=True)
    ]
    deltas = [r.delta for r in rows]
    overall_p: float | None = None
    if len(deltas) >= 2 and float(np.var(deltas)) > 0:
        overall_p = float(sps.ttest_1samp(deltas, 0.0).pvalue)
    return Comparison(
        run_a=run_a,
        run_b=run_b,
        agent_a=a[0].agent,
        agent_b=b[0].agent,
        budget_classes=(a[0].budget_class, b[0].budget_class),
        deltas=rows,
        overall_delta=float(np.mean(deltas)),
        overall_p_value=overall_p,
    )


def compare_runs(
    run_a: Path, run_b: Path, *, agent_a: str | None = None, agent_b: str | None = None
) -> Comparison:
    """Load two run folders (or bundles) and compare one agent of each."""
    loaded = []
    for run, agent in ((run_a, agent_a), (run_b, agent_b)):
        eps = load_episodes([run])
        chosen = _pick_agent(eps, agent, run)
        mine = [e for e in eps if e.agent == chosen]
        classes = sorted({e.budget_class for e in mine})
        if len(classes) > 1:
            raise LeaderboardError(f"{run}: `{chosen}` ran in several budget classes {classes}")
        _check_unique(mine, run)
        loaded.append(mine)
    return compare_episodes(loaded[0], loaded[1], run_a=str(run_a), run_b=str(run_b))
