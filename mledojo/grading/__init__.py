"""Grading: metric registry, submission validation, leaderboards, HumanRank and medals.

`grade(spec, submission, answers, part=...)` returns the raw score; `grade_report(...)` adds
the place on a leaderboard. See `docs/scoring.md` for the rules.
"""

from mledojo.grading.grade import GradeReport, Part, grade, grade_report, report_for_score
from mledojo.grading.leaderboard import load_leaderboard
from mledojo.grading.metrics import (
    METRICS,
    Metric,
    MetricRegistry,
    PredictionKind,
    get_metric,
    metric,
)
from mledojo.grading.rank import (
    Medal,
    MedalThresholds,
    RankResult,
    human_rank,
    medal_positions,
    medal_thresholds,
    rank_score,
)
from mledojo.grading.validate import (
    DEFAULT_MAX_BYTES,
    normalize_labels,
    submission_layout,
    validate_submission,
)

__all__ = [
    "DEFAULT_MAX_BYTES",
    "METRICS",
    "GradeReport",
    "Medal",
    "MedalThresholds",
    "Metric",
    "MetricRegistry",
    "Part",
    "PredictionKind",
    "RankResult",
    "get_metric",
    "grade",
    "grade_report",
    "human_rank",
    "load_leaderboard",
    "medal_positions",
    "medal_thresholds",
    "metric",
    "normalize_labels",
    "rank_score",
    "report_for_score",
    "submission_layout",
    "validate_submission",
]
