"""`engineer_features`: features fitted on the training part only, applied to the others.

* rolling windows, lags and differences per group, sorted by the time column, causal: a
  row sees only itself and earlier rows of its own group. Non-training inputs may use the
  training rows as earlier history (a test period that follows the training period gets
  full windows), never the other way round, and never a later row. The target cannot be
  rolled or lagged (test rows have none).
* prediction cases (`case_history`): when each test row is a case whose past is kept in a
  separate history table keyed by the case id (pump-failure v2's `/data/history.csv`), a
  case's windows are computed from its own history rows before its hour plus the case row
  itself, never from the training rows or from another case.
* time features (hour, day of week, month, ...) from the time column;
* encodings (one-hot, ordinal, frequency, out-of-fold target mean) and scaling (standard,
  min-max, robust) and imputation whose state is learnt from the training input alone,
  saved as `<name>.pipeline.json`, and re-applied unchanged to every other input (or to
  new inputs later through `pipeline`).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from ._base import HANDLE_PATTERN, MAX_COLUMN_NAME, ToolArgs, ToolArgumentError
from ._columns import parse_time
from ._data import Table, TableMeta, read_json, read_table, require_column, write_json, write_table
from ._paths import handle_path, resolve_input, sandbox_path
from ._safe import MIN_GROUP_ROWS, label

Col = str
MAX_WINDOW = 1000
MAX_NEW_FEATURES = 2000
MAX_ONEHOT = 30
TARGET_FOLDS = 5
TARGET_SMOOTHING = 10.0
PIPELINE_SUFFIX = ".pipeline.json"
Stat = Literal["mean", "std", "min", "max", "sum"]
TimePart = Literal[
    "hour", "dayofweek", "day", "month", "dayofyear", "weekofyear", "year", "is_weekend"
]


def _default_stats() -> list[Stat]:
    return ["mean"]


Window = Annotated[int, Field(ge=1, le=MAX_WINDOW)]


class Rolling(ToolArgs):
    """Rolling statistics of one column over the last `windows` rows of the same group."""

    column: Col = Field(max_length=MAX_COLUMN_NAME)
    windows: list[Window] = Field(min_length=1, max_length=10)
    stats: list[Stat] = Field(default_factory=_default_stats, min_length=1, max_length=5)


class Lag(ToolArgs):
    """Values of one column `lags` rows earlier in the same group."""

    column: Col = Field(max_length=MAX_COLUMN_NAME)
    lags: list[Window] = Field(min_length=1, max_length=20)


class Encoding(ToolArgs):
    """How one categorical column becomes numbers."""

    column: Col = Field(max_length=MAX_COLUMN_NAME)
    method: Literal["onehot", "ordinal", "frequency", "target"]


class FeatureArgs(ToolArgs):
    """Arguments of `engineer_features`."""

    train: str | None = Field(
        default=None, description="training table (fitted on); history for rolling"
    )
    apply_to: list[str] = Field(
        default_factory=list, max_length=8, description="other tables, e.g. valid, test"
    )
    name: str = Field(
        default="feat", pattern=HANDLE_PATTERN, max_length=50, description="handle prefix"
    )
    pipeline: str | None = Field(
        default=None, description="re-apply a saved <name>.pipeline.json instead of fitting"
    )
    target: Col | None = Field(default=None, max_length=MAX_COLUMN_NAME)
    id_column: Col | None = Field(
        default=None, max_length=MAX_COLUMN_NAME, description="never scaled; default: the table's"
    )
    time_column: Col | None = Field(default=None, max_length=MAX_COLUMN_NAME)
    group_column: Col | None = Field(default=None, max_length=MAX_COLUMN_NAME)
    rolling: list[Rolling] = Field(default_factory=list, max_length=50)
    lags: list[Lag] = Field(default_factory=list, max_length=50)
    diffs: list[Col] = Field(
        default_factory=list, max_length=50, description="x - previous x in the group"
    )
    time_features: list[TimePart] = Field(default_factory=list, max_length=8)
    encode: list[Encoding] = Field(default_factory=list, max_length=100)
    scale: Literal["none", "standard", "minmax", "robust"] = "none"
    impute: Literal["none", "median", "zero"] = "none"
    drop: list[Col] = Field(default_factory=list, max_length=500)
    history: bool = Field(
        default=True, description="earlier training rows feed the windows of other inputs"
    )
    case_history: str | None = Field(
        default=None,
        description=(
            "history table of prediction cases (e.g. /data/history.csv): an `apply_to` table "
            "whose every `case_column` value is a case there gets its windows from that "
            "case's own earlier rows only"
        ),
    )
    case_column: Col | None = Field(
        default=None,
        max_length=MAX_COLUMN_NAME,
        description="case key; default: the id column, else `id`",
    )
    seed: int = Field(default=0, ge=0, le=2**31 - 1)


class FittedState(BaseModel):
    """Everything learnt from the training input; JSON on disk, re-applied verbatim."""

    model_config = ConfigDict(extra="forbid")

    spec: dict[str, Any]
    fitted_on: str  # sha256 of the training table
    onehot: dict[str, list[str]] = {}
    ordinal: dict[str, list[str]] = {}
    frequency: dict[str, dict[str, float]] = {}
    target_mean: dict[str, dict[str, float]] = {}
    target_prior: dict[str, float] = {}
    center: dict[str, float] = {}
    spread: dict[str, float] = {}
    fill: dict[str, float] = {}


def engineer_features(args: FeatureArgs) -> dict[str, Any]:
    """Fit on `train` (or load `pipeline`), transform every input, write handles."""
    if args.pipeline is not None:
        return _reapply(args)
    if args.train is None:
        raise ToolArgumentError("argument `train` is required (or give a saved `pipeline`)")
    train = read_table(args.train, argument="train")
    if train.meta.role in ("valid", "test"):
        raise ToolArgumentError(
            f"argument `train`: {train.path} is a {train.meta.role} part; encoders and scalers "
            "are fitted on training data only. Pass the train part as `train` and this one in "
            "`apply_to`."
        )
    others = [read_table(p, argument=f"apply_to[{i}]") for i, p in enumerate(args.apply_to)]
    for i, other in enumerate(others):
        if other.fingerprint == train.fingerprint:
            raise ToolArgumentError(f"argument `apply_to[{i}]` is the training table itself")
    spec = _spec(args, train)
    _check_columns(spec, [train, *others])
    base_train = _row_features(train.frame, None, spec)
    state = _fit(base_train, spec, train.fingerprint, args.seed)
    frames = [(train, _transform(base_train, state, train_rows=True, seed=args.seed))]
    cases = _Cases.read(args, spec)
    for i, other in enumerate(others):
        base = _apply_windows(other, i, train.frame if spec["history"] else None, cases, spec)
        frames.append((other, _transform(base, state, train_rows=False, seed=args.seed)))
    write_json(handle_path(args.name, PIPELINE_SUFFIX), state.model_dump())
    return _write_outputs(args.name, frames, state, spec) | cases.report()


def _reapply(args: FeatureArgs) -> dict[str, Any]:
    real = resolve_input(args.pipeline or "", argument="pipeline")
    if not real.name.endswith(PIPELINE_SUFFIX):
        raise ToolArgumentError(f"argument `pipeline`: expected a *{PIPELINE_SUFFIX} file")
    state = FittedState.model_validate(read_json(real, what="pipeline"))
    spec = state.spec
    history_table = read_table(args.train, argument="train") if args.train else None
    if not args.apply_to:
        raise ToolArgumentError("argument `apply_to`: give the tables to transform")
    others = [read_table(p, argument=f"apply_to[{i}]") for i, p in enumerate(args.apply_to)]
    _check_columns(spec, others)
    cases = _Cases.read(args, spec)
    frames = []
    for i, other in enumerate(others):
        history = history_table.frame if history_table is not None and spec["history"] else None
        base = _apply_windows(other, i, history, cases, spec)
        frames.append((other, _transform(base, state, train_rows=False, seed=args.seed)))
    out = _write_outputs(args.name, frames, state, spec, with_train=False) | cases.report()
    out["pipeline"] = sandbox_path(real)
    return out


class _Cases:
    """The history table of prediction cases, if any, and which inputs were cases."""

    def __init__(self, table: Table | None, column: str | None) -> None:
        self.table, self.column = table, column
        self.applied: list[int] = []

    @classmethod
    def read(cls, args: FeatureArgs, spec: dict[str, Any]) -> _Cases:
        if args.case_history is None:
            return cls(None, None)
        table = read_table(args.case_history, argument="case_history")
        column = args.case_column or spec["id_column"] or table.meta.id_column
        if not column and "id" in table.frame.columns:
            column = "id"
        if not column:
            raise ToolArgumentError(
                "argument `case_column`: name the column that keys the cases (no id column)"
            )
        require_column(table, column, argument="case_column")
        if not spec["time_column"]:
            raise ToolArgumentError("argument `case_history` needs `time_column`")
        _check_columns({**spec, "id_column": None, "group_column": None}, [table])
        return cls(table, column)

    def of(self, table: Table, index: int) -> pd.DataFrame | None:
        """The history rows if `table` is a set of cases of it, else None (a plain table)."""
        if self.table is None or self.column is None or self.column not in table.frame.columns:
            return None
        keys = table.frame[self.column]
        known = keys.isin(self.table.frame[self.column])
        if not known.any():
            return None
        where = f"argument `apply_to[{index}]` ({table.path})"
        if not known.all():
            raise ToolArgumentError(
                f"{where}: {int((~known).sum())} of {len(keys)} rows are not cases of "
                f"`case_history`; give a table whose every {self.column!r} is a case there, or "
                "none"
            )
        if keys.duplicated().any():
            raise ToolArgumentError(f"{where}: a case {self.column!r} repeats; one row per case")
        self.applied.append(index)
        return self.table.frame

    def report(self) -> dict[str, Any]:
        if self.table is None:
            return {}
        return {"case_history": self.table.path, "case_inputs": self.applied}


def _apply_windows(
    other: Table,
    index: int,
    history: pd.DataFrame | None,
    cases: _Cases,
    spec: dict[str, Any],
) -> pd.DataFrame:
    case_rows = cases.of(other, index)
    if case_rows is not None:
        return _row_features(other.frame, None, spec, cases=(case_rows, str(cases.column)))
    return _row_features(other.frame, history, spec)


def _spec(args: FeatureArgs, train: Table) -> dict[str, Any]:
    meta = train.meta
    spec = args.model_dump(exclude={"train", "apply_to", "name", "pipeline", "seed"})
    spec["id_column"] = args.id_column or meta.id_column
    spec["target"] = args.target or meta.target
    spec["time_column"] = args.time_column or meta.time_column
    spec["group_column"] = args.group_column or meta.group_column
    target = spec["target"]
    rolled = (
        [r["column"] for r in spec["rolling"]]
        + [lag["column"] for lag in spec["lags"]]
        + spec["diffs"]
    )
    if target and target in rolled:
        raise ToolArgumentError(
            f"the target {target!r} cannot be rolled, lagged or differenced: test rows have no "
            "target, and its past values leak the answer"
        )
    if target and target in [e["column"] for e in spec["encode"]]:
        raise ToolArgumentError(f"argument `encode`: the target {target!r} cannot be encoded")
    if rolled and not spec["time_column"]:
        raise ToolArgumentError(
            "rolling windows, lags and diffs need `time_column` to order the rows"
        )
    if spec["time_features"] and not spec["time_column"]:
        raise ToolArgumentError("argument `time_features` needs `time_column`")
    n_new = sum(len(r["windows"]) * len(r["stats"]) for r in spec["rolling"])
    n_new += sum(len(lag["lags"]) for lag in spec["lags"]) + len(spec["diffs"])
    if n_new > MAX_NEW_FEATURES:
        raise ToolArgumentError(
            f"{n_new} window features requested; the limit is {MAX_NEW_FEATURES}"
        )
    return spec


def _check_columns(spec: dict[str, Any], tables: list[Table]) -> None:
    needed = [r["column"] for r in spec["rolling"]] + [lag["column"] for lag in spec["lags"]]
    needed += spec["diffs"] + [e["column"] for e in spec["encode"]]
    for key in ("time_column", "group_column", "id_column"):
        if spec[key]:
            needed.append(spec[key])
    for table in tables:
        for column in needed:
            require_column(table, column, argument="columns")


def _row_features(
    frame: pd.DataFrame,
    history: pd.DataFrame | None,
    spec: dict[str, Any],
    *,
    cases: tuple[pd.DataFrame, str] | None = None,
) -> pd.DataFrame:
    """Time features and causal window features; nothing here is fitted.

    Windows run per group over `history` then `frame` (earlier rows only), or, with
    `cases` (history rows, case column), per case over its own rows before its hour.
    """
    df = frame.copy()
    time_col, group_col = spec["time_column"], spec["group_column"]
    if time_col:
        times = parse_time(df[time_col])
        if times is None and not pd.api.types.is_numeric_dtype(df[time_col]):
            raise ToolArgumentError(
                f"argument `time_column`: {time_col!r} holds no times or numbers"
            )
        for part in spec["time_features"]:
            if times is None:
                raise ToolArgumentError(f"time features need date/time stamps in {time_col!r}")
            df[f"{time_col}_{part}"] = _time_part(times, part)
    if not (spec["rolling"] or spec["lags"] or spec["diffs"]):
        return df
    df = df.reset_index(drop=True)
    if cases is not None:
        past, key = _case_past(df, *cases, time_col), cases[1]
    else:
        past = None if history is None else history[[c for c in history if c in df.columns]]
        key = group_col
    offset = 0 if past is None else len(past)
    both = pd.concat([past, df], ignore_index=True) if past is not None else df
    order = _sort_key(both[time_col]).rename("__order__")
    keys = [both[key], order] if key else [order]
    # a stable sort: history rows come before the input's own rows at the same instant
    ranked = pd.DataFrame({f"k{i}": k for i, k in enumerate(keys)}).sort_values(
        [f"k{i}" for i in range(len(keys))], kind="stable"
    )
    both = both.loc[ranked.index]
    by = both[key] if key else pd.Series(0, index=both.index)
    extra = _windows(both, by, spec).reindex(range(offset, offset + len(df))).reset_index(drop=True)
    return pd.concat([df, extra], axis=1)


def _case_past(
    df: pd.DataFrame, history: pd.DataFrame, case_col: str, time_col: str
) -> pd.DataFrame:
    """Each case's history rows strictly before its own hour (the case row stands for it)."""
    past = history[[c for c in history.columns if c in df.columns]]
    hour = pd.Series(_sort_key(df[time_col]).to_numpy(), index=df[case_col].to_numpy())
    before = _sort_key(past[time_col]).to_numpy() < past[case_col].map(hour).to_numpy()
    return past[before]


def _windows(both: pd.DataFrame, by: pd.Series, spec: dict[str, Any]) -> pd.DataFrame:
    """Rolling statistics, lags and differences of `both` (sorted) within each `by` group."""
    new: dict[str, pd.Series] = {}
    for r in spec["rolling"]:
        values = pd.to_numeric(both[r["column"]], errors="coerce")
        for w in r["windows"]:
            for stat in r["stats"]:
                roll = values.groupby(by, sort=False, dropna=False).rolling(w, min_periods=1)
                new[f"{r['column']}_roll{w}_{stat}"] = getattr(roll, stat)().reset_index(
                    level=0, drop=True
                )
    for lag in spec["lags"]:
        values = pd.to_numeric(both[lag["column"]], errors="coerce")
        for k in lag["lags"]:
            new[f"{lag['column']}_lag{k}"] = values.groupby(by, sort=False, dropna=False).shift(k)
    for column in spec["diffs"]:
        values = pd.to_numeric(both[column], errors="coerce")
        new[f"{column}_diff1"] = values - values.groupby(by, sort=False, dropna=False).shift(1)
    return pd.DataFrame(new)


def _sort_key(s: pd.Series) -> pd.Series:
    times = parse_time(s)
    return times if times is not None else pd.to_numeric(s, errors="coerce")


def _time_part(times: pd.Series, part: str) -> pd.Series:
    dt = times.dt
    if part == "weekofyear":
        return dt.isocalendar().week.astype("float64")
    if part == "is_weekend":
        return (dt.day_of_week >= 5).astype("float64")
    name = {"dayofweek": "day_of_week", "dayofyear": "day_of_year"}.get(part, part)
    return getattr(dt, name).astype("float64")


def _fit(df: pd.DataFrame, spec: dict[str, Any], fingerprint: str, seed: int) -> FittedState:
    state = FittedState(spec=spec, fitted_on=fingerprint)
    target = spec["target"]
    for enc in spec["encode"]:
        column, method = enc["column"], enc["method"]
        values = df[column].map(label, na_action="ignore")
        counts = values.value_counts()
        frequent = [str(k) for k, c in counts.items() if c >= MIN_GROUP_ROWS]
        if method == "onehot":
            state.onehot[column] = frequent[:MAX_ONEHOT]
        elif method == "ordinal":
            state.ordinal[column] = sorted(frequent)
        elif method == "frequency":
            state.frequency[column] = {k: float(counts[k] / len(df)) for k in frequent}
        else:
            y = _target_numeric(df, target)
            prior = float(y.mean())
            stats = y.groupby(values).agg(["sum", "count"])
            smooth = (stats["sum"] + TARGET_SMOOTHING * prior) / (stats["count"] + TARGET_SMOOTHING)
            state.target_mean[column] = {
                str(k): float(v)
                for k, v in smooth.items()
                if stats.loc[k, "count"] >= MIN_GROUP_ROWS
            }
            state.target_prior[column] = prior
    encoded = _encode(df, state, train_rows=True, seed=seed)
    dummies = {f"{c}__{cat}" for c, cats in state.onehot.items() for cat in cats}
    features = [c for c in _numeric_features(encoded, spec) if c not in dummies]  # 0/1 stay 0/1
    if spec["impute"] != "none":
        for c in features:
            value = encoded[c].median() if spec["impute"] == "median" else 0.0
            state.fill[c] = float(value) if pd.notna(value) else 0.0
    if spec["scale"] != "none":
        for c in features:
            v = encoded[c].astype(float)
            if spec["scale"] == "standard":
                center, spread = v.mean(), v.std()
            elif spec["scale"] == "minmax":
                center, spread = v.min(), v.max() - v.min()
            else:
                center, spread = v.median(), v.quantile(0.75) - v.quantile(0.25)
            state.center[c] = float(center) if pd.notna(center) else 0.0
            state.spread[c] = float(spread) if pd.notna(spread) and spread > 0 else 1.0
    return state


def _target_numeric(df: pd.DataFrame, target: str | None) -> pd.Series:
    if not target or target not in df.columns:
        raise ToolArgumentError("target encoding needs `target` in the training table")
    y = df[target]
    if pd.api.types.is_numeric_dtype(y) and y.nunique() > 2:
        return y.astype(float)
    codes, classes = pd.factorize(y, sort=True)
    if len(classes) > 2:
        raise ToolArgumentError("target encoding supports binary and regression targets")
    return pd.Series((codes == len(classes) - 1).astype(float), index=df.index).where(y.notna())


def _encode(df: pd.DataFrame, state: FittedState, *, train_rows: bool, seed: int) -> pd.DataFrame:
    out = df.copy()
    for column, cats in state.onehot.items():
        values = out[column].map(label, na_action="ignore")
        for cat in cats:
            out[f"{column}__{cat}"] = (values == cat).astype("float64")
        out = out.drop(columns=[column])
    for column, cats in state.ordinal.items():
        mapping = {c: float(i) for i, c in enumerate(cats)}
        out[column] = out[column].map(label, na_action="ignore").map(mapping).fillna(-1.0)
    for column, freq in state.frequency.items():
        out[column] = out[column].map(label, na_action="ignore").map(freq).fillna(0.0)
    for column, means in state.target_mean.items():
        values = out[column].map(label, na_action="ignore")
        prior = state.target_prior[column]
        if train_rows:
            out[column] = _out_of_fold(
                values, _target_numeric(df, state.spec["target"]), prior, seed
            )
        else:
            out[column] = values.map(means).fillna(prior).astype(float)
    return out


def _out_of_fold(values: pd.Series, y: pd.Series, prior: float, seed: int) -> pd.Series:
    """Each training row's encoding from the other folds only (its own target unseen)."""
    folds = np.random.default_rng(seed).integers(0, TARGET_FOLDS, size=len(values))
    result = pd.Series(prior, index=values.index, dtype=float)
    for k in range(TARGET_FOLDS):
        fit = folds != k
        fold_prior = float(y[fit].mean()) if fit.any() else prior  # also blind to fold k
        stats = y[fit].groupby(values[fit]).agg(["sum", "count"])
        smooth = (stats["sum"] + TARGET_SMOOTHING * fold_prior) / (
            stats["count"] + TARGET_SMOOTHING
        )
        rows = ~fit
        result[rows] = values[rows].map(smooth).fillna(fold_prior).to_numpy()
    return result


def _numeric_features(df: pd.DataFrame, spec: dict[str, Any]) -> list[str]:
    skip = {
        spec["target"],
        spec["id_column"],
        spec["time_column"],
        spec["group_column"],
        *spec["drop"],
    }
    return [
        c
        for c in df.columns
        if c not in skip
        and pd.api.types.is_numeric_dtype(df[c])
        and not pd.api.types.is_bool_dtype(df[c])
    ]


def _transform(
    df: pd.DataFrame, state: FittedState, *, train_rows: bool, seed: int
) -> pd.DataFrame:
    out = _encode(df, state, train_rows=train_rows, seed=seed)
    for c, value in state.fill.items():
        if c in out.columns:
            out[c] = out[c].fillna(value)
    for c, center in state.center.items():
        if c in out.columns:
            out[c] = (out[c].astype(float) - center) / state.spread[c]
    drop = [c for c in state.spec["drop"] if c in out.columns]
    return out.drop(columns=drop)


def _write_outputs(
    name: str,
    frames: list[tuple[Table, pd.DataFrame]],
    state: FittedState,
    spec: dict[str, Any],
    *,
    with_train: bool = True,
) -> dict[str, Any]:
    outputs: dict[str, Any] = {}
    used: set[str] = set()
    for i, (table, frame) in enumerate(frames):
        role = table.meta.role
        key = role if role not in used else f"{role}{i}"
        used.add(key)
        meta = TableMeta(
            role=role,
            target=spec["target"] if spec["target"] in frame.columns else None,
            id_column=spec["id_column"] or table.meta.id_column,
            time_column=spec["time_column"],
            group_column=spec["group_column"],
            created_by="engineer_features",
            lineage=table.meta.lineage or table.fingerprint,
            part=table.meta.part,
        )
        outputs[key] = write_table(frame, f"{name}_{key}", meta)
    first = frames[0][1]
    new_columns = [c for c in first.columns if c not in frames[0][0].frame.columns]
    return {
        "outputs": outputs,
        "pipeline": sandbox_path(handle_path(name, PIPELINE_SUFFIX)),
        "fitted_on_train": with_train,
        "new_features": new_columns[:200],
        "n_new_features": len(new_columns),
        "scaled": sorted(state.center)[:200],
    }
