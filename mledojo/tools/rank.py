"""`rank_experiments`: the recorded evaluations, best first, by the metric the caller names.

Only like is compared with like: every ranked evaluation was made on the same table (the
same bytes), and evaluations on a model's own training rows are left out. When records
span several tables, `data` picks one.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import Field

from ._base import ToolArgs, ToolArgumentError
from ._ledger import sha256, vouched
from ._metrics import METRICS, get_metric
from ._model import EVAL_INFIX
from ._paths import resolve_input, sandbox_path, tools_dir

MAX_RECORDS = 1000


class RankArgs(ToolArgs):
    """Arguments of `rank_experiments`."""

    metric: str = Field(max_length=60, description="metric to rank by, e.g. the competition's")
    data: str | None = Field(default=None, description="rank only evaluations on this table")
    top: int = Field(default=20, ge=1, le=200)


def rank_experiments(args: RankArgs) -> dict[str, Any]:
    """Rank; see the module docstring."""
    metric = get_metric(args.metric)
    records, forged = _records()
    if not records:
        why = (
            f" ({forged} record(s) not as evaluate_model wrote them are ignored)" if forged else ""
        )
        raise ToolArgumentError(f"no evaluations recorded yet{why}; run evaluate_model first")
    excluded = {"in_sample": 0, "metric_missing": 0, "other_data": 0, "not_a_tool_record": forged}
    wanted = sha256(resolve_input(args.data, argument="data")) if args.data else None
    usable = []
    for r in records:
        if r.get("in_sample"):
            excluded["in_sample"] += 1
        elif r.get("metrics", {}).get(metric.name) is None:
            excluded["metric_missing"] += 1
        elif wanted is not None and r.get("data_fingerprint") != wanted:
            excluded["other_data"] += 1
        else:
            usable.append(r)
    tables = sorted({str(r.get("data")) for r in usable})
    if len({r.get("data_fingerprint") for r in usable}) > 1:
        raise ToolArgumentError(
            f"the evaluations were made on {len(tables)} different tables "
            f"({', '.join(tables[:5])}); "
            "scores on different rows are not comparable: pass `data` to rank one of them"
        )
    sign = -1.0 if metric.higher_is_better else 1.0
    usable.sort(key=lambda r: (sign * float(r["metrics"][metric.name]), str(r.get("model"))))
    ranking = [
        {
            "rank": i + 1,
            "model": r.get("model"),
            "algorithm": r.get("algorithm"),
            "score": r["metrics"][metric.name],
            "n_features": r.get("n_features"),
            "params": r.get("params"),
        }
        for i, r in enumerate(usable[: args.top])
    ]
    return {
        "metric": metric.name,
        "higher_is_better": metric.higher_is_better,
        "data": tables[0] if tables else None,
        "ranking": ranking,
        "best": ranking[0] if ranking else None,
        "excluded": excluded,
        "known_metrics": sorted(METRICS),
    }


def _records() -> tuple[list[dict[str, Any]], int]:
    """The evaluation records, and how many files the ledger does not vouch for."""
    out, forged = [], 0
    for path in sorted(tools_dir().glob(f"*{EVAL_INFIX}*.json"))[:MAX_RECORDS]:
        if path.is_symlink() or not path.is_file():
            continue
        try:
            text = path.read_bytes()
            record = json.loads(text)
        except (OSError, ValueError):
            continue
        if not vouched(sandbox_path(path), text):
            forged += 1  # not evaluate_model's bytes: no claim
            continue
        if isinstance(record, dict) and isinstance(record.get("metrics"), dict):
            out.append(record)
    return out, forged
