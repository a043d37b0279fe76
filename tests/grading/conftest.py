"""Shared helpers of the grading tests."""

from __future__ import annotations

from typing import Any

from mledojo.competition import CompetitionSpec

ROC_AUC = {"name": "roc_auc", "higher_is_better": True}


def make_spec(**over: Any) -> CompetitionSpec:
    """A minimal binary competition spec (`toy`, ROC AUC), with fields overridden."""
    base: dict[str, Any] = {
        "id": "toy",
        "version": 1,
        "title": "Toy",
        "task": "binary",
        "metric": ROC_AUC,
        "target": "y",
        "id_column": "id",
        "source": {"kind": "generator"},
    }
    base.update(over)
    return CompetitionSpec.model_validate(base)
