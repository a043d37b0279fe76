"""Grading: metric registry, submission validation, leaderboards, HumanRank and medals.

`grade(spec, submission, answers, part=...)` returns the raw score; `grade_report(...)` adds
the place on a leaderboard. See `docs/scoring.md` for the rules. Names are loaded on first
use, so that `mledojo.grading.metrics` (needed to check specs) stays cheap to import.
"""

from __future__ import annotations

import importlib
from typing import Any

_WHERE = {
    "GradeReport": "scoring",
    "Graded": "scoring",
    "PUBLIC_DECIMALS": "scoring",
    "Part": "scoring",
    "grade": "scoring",
    "grade_report": "scoring",
    "public_score": "scoring",
    "report_for_score": "scoring",
    "reproduces_answers": "scoring",
    "score_submission": "scoring",
    "load_leaderboard": "boards",
    "METRICS": "metrics",
    "Metric": "metrics",
    "MetricRegistry": "metrics",
    "PredictionKind": "metrics",
    "get_metric": "metrics",
    "metric": "metrics",
    "Medal": "rank",
    "MedalThresholds": "rank",
    "RankResult": "rank",
    "human_rank": "rank",
    "medal_positions": "rank",
    "medal_thresholds": "rank",
    "rank_score": "rank",
    "DEFAULT_MAX_BYTES": "validate",
    "max_submission_bytes": "validate",
    "normalize_labels": "validate",
    "submission_layout": "validate",
    "validate_submission": "validate",
    "Scorer": "scorer",
    "Bootstrap": "intervals",
    "MedalProbabilities": "intervals",
    "board_mean_interval": "intervals",
    "board_rate_interval": "intervals",
    "bootstrap": "intervals",
    "medal_probabilities": "intervals",
    "replicate_scores": "intervals",
}

__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(importlib.import_module(f"mledojo.grading.{_WHERE[name]}"), name)
    raise AttributeError(f"module 'mledojo.grading' has no attribute {name!r}")
