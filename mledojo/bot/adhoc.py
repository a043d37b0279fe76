"""`mledojo bot --data my.csv`: any labelled CSV becomes an ad-hoc competition.

The CSV is read once on the host to choose the task, the metric and the split; a held-out
part (the competition's test rows) is split off by time, group or class, and the bot never
sees its labels. The folder written here is an ordinary competition folder (source `local`),
so preparation, grading and the episode are the library's own. Its id is a hash of the
file's bytes and the options, so the data cache never serves a stale split.
"""

from __future__ import annotations

import hashlib
import re
import warnings
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field

from mledojo.errors import MLEDojoError
from mledojo.grading.metrics import get_metric
from mledojo.tools._columns import infer_task  # the tools' own rule: one answer

Problem = Literal["auto", "binary", "multiclass", "regression"]
ID_COLUMN = "row_id"


class AdhocOptions(BaseModel):
    """What the user told `mledojo bot` about their CSV."""

    model_config = ConfigDict(extra="forbid")

    data: Path
    target: str
    time_column: str | None = None
    group_column: str | None = None
    id_column: str | None = None
    problem_type: Problem = "auto"
    statement: str = ""
    test_size: float = Field(default=0.2, gt=0.05, lt=0.5)


class AdhocError(MLEDojoError):
    """The CSV or the options cannot make a competition (the message says which and why)."""


def build_adhoc(options: AdhocOptions, root: Path) -> Path:
    """Write the competition folder under `root`; return it (load with `load_competition`)."""
    import pandas as pd

    path = options.data.expanduser().resolve()
    if not path.is_file():
        raise AdhocError(f"--data {options.data}: no such file")
    try:
        df = pd.read_csv(path)
    except (ValueError, OSError) as e:
        raise AdhocError(f"--data {path}: not a readable CSV ({type(e).__name__}: {e})") from None
    for flag, col in (
        ("--target", options.target),
        ("--time-column", options.time_column),
        ("--group-column", options.group_column),
        ("--id-column", options.id_column),
    ):
        if col is not None and col not in df.columns:
            shown = ", ".join(map(str, df.columns[:30]))
            raise AdhocError(f"{flag} {col!r}: {path.name} has no such column (it has: {shown})")
    y = df[options.target]
    if y.isna().any():
        raise AdhocError(
            f"--target {options.target!r}: {int(y.isna().sum())} row(s) of {path.name} have no "
            "value; drop or fill them first"
        )
    task = options.problem_type if options.problem_type != "auto" else infer_task(y)
    if task != "regression" and y.value_counts().min() < 2:
        raise AdhocError(f"--target {options.target!r}: a class with a single row cannot be split")
    if len(df) < 50:
        raise AdhocError(f"{path.name} has {len(df)} rows; an ad-hoc competition needs >= 50")
    if options.time_column is not None:
        with warnings.catch_warnings():  # mixed formats are what this check is for
            warnings.simplefilter("ignore", UserWarning)
            parsed = pd.to_datetime(df[options.time_column], errors="coerce")
        if parsed.isna().mean() > 0.05:
            raise AdhocError(
                f"--time-column {options.time_column!r}: more than 5% of its values are not dates"
            )
    digest = hashlib.sha256(path.read_bytes())
    digest.update(options.model_dump_json(exclude={"statement"}).encode())
    key = digest.hexdigest()[:10]
    comp_id = f"adhoc-{_slug(path.stem)}-{key}"
    folder = root / comp_id
    folder.mkdir(parents=True, exist_ok=True)
    id_column = options.id_column
    if id_column is None or df[id_column].duplicated().any():
        id_column = ID_COLUMN if ID_COLUMN not in df.columns else f"{ID_COLUMN}_"
        df.insert(0, id_column, range(len(df)))
    df.to_csv(folder / "table.csv", index=False)
    metric = {"binary": "roc_auc", "multiclass": "accuracy", "regression": "rmse"}[task]
    split: dict[str, object] = {"test_size": options.test_size, "public_fraction": 0.3, "seed": 0}
    if options.time_column:
        split.update(kind="time", time_column=options.time_column)
    elif options.group_column:
        split.update(kind="group", group_column=options.group_column)
    else:
        split["kind"] = "random" if task == "regression" else "stratified"
    spec = {
        "id": comp_id,
        "version": 1,
        "title": f"Ad-hoc: {path.name}, predict {options.target}",
        "task": task,
        "metric": {"name": metric, "higher_is_better": get_metric(metric).higher_is_better},
        "target": options.target,
        "id_column": id_column,
        "source": {"kind": "local", "path": ".", "files": ["table.csv"]},
        "split": split,
        "budget": {"max_steps": 60, "episode_time_s": 3600, "step_timeout_s": 900},
        "tags": ["adhoc"],
    }
    if task == "multiclass":
        spec["classes"] = sorted(map(str, y.unique()))
    (folder / "competition.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    statement = options.statement.strip() or f"Predict `{options.target}`."
    (folder / "description.md").write_text(
        f"# {spec['title']}\n\n{statement}\n\nRows are identified by `{id_column}`. "
        f"Metric: {metric}. The held-out part was split by {split['kind']}.\n"
    )
    return folder


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:30] or "data"
