"""`split_dataset`: cut a labelled table into train / valid (/ test) handles, leak-free.

* `time`: every validation (and test) row is strictly later than every training row; the
  cut falls between two distinct time stamps, so one instant never straddles the cut.
* `group`: each group (e.g. a pump or a customer) lands in exactly one part.
* `stratified`: each class keeps its share in every part.
* `random`: a seeded shuffle.
* `auto`: time when a time column is given, else group, else stratified for a class
  target, else random.
The parts share no row, and each handle records its role, so later tools know which part
may be fitted or resampled.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import Field

from ._base import HANDLE_PATTERN, ToolArgs, ToolArgumentError
from ._columns import infer_task, parse_time
from ._data import Role, TableMeta, read_table, require_column, write_table
from ._safe import frequent_counts, num, time_bounds

SplitKind = Literal["auto", "random", "stratified", "time", "group"]


class SplitArgs(ToolArgs):
    """Arguments of `split_dataset`."""

    path: str = Field(description="labelled table, e.g. /data/train.csv")
    target: str = Field(max_length=200, description="target column")
    kind: SplitKind = Field(default="auto", description="how rows are assigned to parts")
    time_column: str | None = Field(default=None, max_length=200)
    group_column: str | None = Field(default=None, max_length=200)
    id_column: str | None = Field(default=None, max_length=200)
    valid_fraction: float = Field(default=0.2, ge=0.05, le=0.5)
    test_fraction: float = Field(default=0.0, ge=0.0, le=0.5, description="0: no test part")
    seed: int = Field(default=0, ge=0, le=2**31 - 1)
    name: str = Field(
        default="split", pattern=HANDLE_PATTERN, max_length=50, description="handle prefix"
    )


def split_dataset(args: SplitArgs) -> dict[str, Any]:
    """Split one table; see the module docstring."""
    table = read_table(args.path, argument="path")
    if table.meta.role in ("valid", "test"):
        raise ToolArgumentError(
            f"argument `path`: {table.path} is a {table.meta.role} part; split the training data"
        )
    df = table.frame
    target = require_column(table, args.target, argument="target")
    if df[target].isna().all():
        raise ToolArgumentError(
            f"argument `target`: {target!r} is empty in {table.path} (unlabelled?)"
        )
    for arg in ("time_column", "group_column", "id_column"):
        if getattr(args, arg):
            require_column(table, getattr(args, arg), argument=arg)
    if args.valid_fraction + args.test_fraction > 0.7:
        raise ToolArgumentError("arguments `valid_fraction` + `test_fraction` must be <= 0.7")
    kind = _choose(args, df[target])
    parts = _assign(df, args, kind, target)
    meta = table.meta
    out: dict[str, Any] = {"kind": kind, "parts": {}}
    if kind in ("random", "stratified"):
        dated = [c for c in df.columns[:200] if c != target and parse_time(df[c]) is not None]
        if dated:
            out["warning"] = (
                f"{dated[0]!r} holds dates: a {kind} split puts later rows in training; for "
                "time-ordered data use kind=time"
            )
    for role in ("train", "valid", "test"):
        mask = parts == role
        if not mask.any():
            continue
        if mask.sum() < 2:
            raise ToolArgumentError(f"the {role} part would hold fewer than 2 rows; use more data")
        part_meta = TableMeta(
            role=_role(role),
            target=target,
            id_column=args.id_column or meta.id_column,
            time_column=args.time_column or meta.time_column,
            group_column=args.group_column or meta.group_column,
            created_by="split_dataset",
            lineage=meta.lineage or table.fingerprint,
            part=f"{table.fingerprint[:16]}/{kind}/{args.seed}/{args.valid_fraction}/"
            f"{args.test_fraction}/{role}",
        )
        part = df.loc[mask]
        info = write_table(part.reset_index(drop=True), f"{args.name}_{role}", part_meta)
        info["target"] = _target_summary(part[target])
        if args.time_column:
            parsed = parse_time(part[args.time_column])
            if parsed is not None:
                info.update(time_bounds(parsed))
        out["parts"][role] = info
    return out


def _role(name: str) -> Role:
    return "train" if name == "train" else "valid" if name == "valid" else "test"


def _choose(args: SplitArgs, y: pd.Series) -> str:
    if args.kind != "auto":
        return args.kind
    if args.time_column:
        return "time"
    if args.group_column:
        return "group"
    return "random" if infer_task(y) == "regression" else "stratified"


def _assign(df: pd.DataFrame, args: SplitArgs, kind: str, target: str) -> np.ndarray:
    """'train' / 'valid' / 'test' for each row."""
    n = len(df)
    rng = np.random.default_rng(args.seed)
    labels = np.full(n, "train", dtype=object)
    tail = args.valid_fraction + args.test_fraction
    if kind == "time":
        if not args.time_column:
            raise ToolArgumentError("argument `time_column` is required for a time split")
        times = parse_time(df[args.time_column])
        if times is None:
            times = df[args.time_column]
            if not pd.api.types.is_numeric_dtype(times):
                raise ToolArgumentError(
                    f"argument `time_column`: {args.time_column!r} holds neither times nor numbers"
                )
        if times.isna().any():
            raise ToolArgumentError(
                f"argument `time_column`: {args.time_column!r} has missing values"
            )
        distinct = np.sort(times.unique())
        if len(distinct) < 3:
            raise ToolArgumentError("argument `time_column`: fewer than 3 distinct time stamps")
        ranks = np.searchsorted(distinct, times.to_numpy())
        order = np.argsort(ranks, kind="stable")
        start_valid = _cut_rank(ranks, order, 1.0 - tail)
        start_test = (
            _cut_rank(ranks, order, 1.0 - args.test_fraction) if args.test_fraction else None
        )
        labels[ranks >= start_valid] = "valid"
        if start_test is not None:
            labels[ranks >= start_test] = "test"
        return labels
    if kind == "group":
        if not args.group_column:
            raise ToolArgumentError("argument `group_column` is required for a group split")
        groups = df[args.group_column].astype(str).fillna("(missing)")
        unique = np.array(sorted(groups.unique()))
        if len(unique) < 3:
            raise ToolArgumentError(
                "argument `group_column`: fewer than 3 groups; use another split"
            )
        rng.shuffle(unique)
        sizes = groups.value_counts()
        cum = np.cumsum([sizes[g] for g in unique]) / n
        to_test = set(unique[cum <= args.test_fraction]) if args.test_fraction else set()
        to_valid = set(unique[(cum > args.test_fraction) & (cum <= tail)]) - to_test
        if not to_valid:
            to_valid = {unique[len(to_test)]}
        labels[groups.isin(to_valid).to_numpy()] = "valid"
        labels[groups.isin(to_test).to_numpy()] = "test"
        return labels
    if kind == "stratified":
        y = df[target].astype(str).fillna("(missing)").to_numpy()
        for cls in np.unique(y):
            idx = np.flatnonzero(y == cls)
            rng.shuffle(idx)
            _assign_shares(labels, idx, args)
        return labels
    idx = np.arange(n)
    rng.shuffle(idx)
    _assign_shares(labels, idx, args)
    return labels


def _cut_rank(ranks: np.ndarray, order: np.ndarray, share: float) -> int:
    """The first time rank of the later part: at least `share` of rows stay before it."""
    position = min(len(order) - 1, max(1, int(round(share * len(order)))))
    cut = int(ranks[order[position]])
    return max(1, cut)


def _assign_shares(labels: np.ndarray, idx: np.ndarray, args: SplitArgs) -> None:
    n_valid = int(round(args.valid_fraction * len(idx)))
    n_test = int(round(args.test_fraction * len(idx)))
    labels[idx[:n_valid]] = "valid"
    labels[idx[n_valid : n_valid + n_test]] = "test"


def _target_summary(y: pd.Series) -> dict[str, Any]:
    if infer_task(y) == "regression":
        return {"mean": num(y.mean()), "std": num(y.std())}
    total = max(1, int(y.notna().sum()))
    return {k: num(v / total) for k, v in frequent_counts(y, 50).items()}
