"""Bulk preparation: every competition of a split, so a bench starts with warm caches.

`mledojo prepare --split lite` (wired by the main CLI) calls `prepare_split`. A failure on
one competition (say, a Kaggle competition whose raw files are not here) is reported with
its reason and does not stop the others.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from pydantic import BaseModel

from mledojo.bench.plan import resolve_competitions


class PreparedRow(BaseModel):
    """One competition's preparation: built, reused, or failed (with why)."""

    competition: str
    data_seed: int | None
    state: str  # built | reused | failed
    detail: str = ""


def prepare_split(
    split: str,
    *,
    data_seeds: list[int | None] | None = None,
    cache_dir: Path | None = None,
    raw_dir: Path | None = None,
    force: bool = False,
    progress: Callable[[str], None] | None = None,
) -> list[PreparedRow]:
    """Prepare each competition of `split` (or a comma list of ids) for each data seed."""
    from mledojo.data.prepare import prepare
    from mledojo.errors import MLEDojoError

    rows: list[PreparedRow] = []
    for comp_id in resolve_competitions([s for s in split.split(",") if s]):
        for seed in data_seeds or [None]:
            # A per-competition raw folder: `<raw-dir>/<id>` when it exists, else `raw_dir`.
            raw = raw_dir
            if raw_dir is not None and (raw_dir / comp_id).is_dir():
                raw = raw_dir / comp_id
            try:
                data = prepare(
                    comp_id,
                    data_seed=seed,
                    cache_dir=cache_dir,
                    raw_dir=raw,
                    force=force,
                    progress=progress,
                )
            except (MLEDojoError, OSError, ValueError) as e:
                rows.append(
                    PreparedRow(competition=comp_id, data_seed=seed, state="failed", detail=str(e))
                )
                continue
            state = "reused" if data.reused else "built"
            rows.append(
                PreparedRow(
                    competition=comp_id,
                    data_seed=data.data_seed,
                    state=state,
                    detail=str(data.root),
                )
            )
    return rows
