"""Submission validation: every way a submission can be unusable, with a precise message.

`validate_submission` checks a submission (a CSV path or a DataFrame) against the hidden
answers and returns it aligned to the answers' row order, with prediction columns already
converted (floats for numeric kinds, normalised strings for labels). Every problem raises
`InvalidSubmissionError` naming the file, the column and the first offending ids / rows, and
saying what to do. All checks are vectorised (no per-row Python), so a million rows cost
well under a second on top of reading the CSV.

Ids are compared as strings, so `17` and `"17"` match. Labels are compared as normalised
strings (see `normalize_labels`), so a CSV round trip of `True`/`False` or `0`/`1` still
matches the answers.
"""

from __future__ import annotations

import csv
import difflib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd

from mledojo.competition import CompetitionSpec
from mledojo.errors import GradingError, InvalidSubmissionError
from mledojo.grading.metrics import Metric, PredictionKind, get_metric

#: Default cap on a submission file's size (bytes); larger files are refused before reading.
DEFAULT_MAX_BYTES = 200 * 1024 * 1024
#: How many offending ids / rows a message quotes.
SHOW = 5
USAGE_COLUMN = "usage"

_BOOL_WORDS = {"true": "True", "false": "False"}
NUMERIC_KINDS: frozenset[PredictionKind] = frozenset(
    {"probability", "class_probabilities", "value"}
)


@dataclass(frozen=True)
class SubmissionLayout:
    """What a submission of this competition must look like.

    `prediction_columns` are the columns after the id column; `classes` is set for
    `class_probabilities` (the class names, in column order).
    """

    id_column: str
    prediction_columns: list[str]
    kind: PredictionKind
    metric: Metric
    classes: list[str] | None = None

    @property
    def columns(self) -> list[str]:
        """The full expected header."""
        return [self.id_column, *self.prediction_columns]


# --------------------------------------------------------------------------- layout


def prediction_kind(spec: CompetitionSpec, m: Metric) -> PredictionKind:
    """The kind a competition's submission holds.

    A metric accepting several kinds (roc_auc, log_loss) reads per-class probability columns
    for multiclass tasks and a single positive-class probability otherwise.
    """
    if len(m.kinds) == 1:
        return m.kinds[0]
    if spec.task == "multiclass" and "class_probabilities" in m.kinds:
        return "class_probabilities"
    if "probability" in m.kinds:
        return "probability"
    return m.kinds[0]


def submission_layout(spec: CompetitionSpec) -> SubmissionLayout:
    """Expected columns and prediction kind, from the spec (and its metric's declaration)."""
    m = get_metric(spec.metric.name)
    if m.higher_is_better != spec.metric.higher_is_better:
        raise GradingError(
            f"competition `{spec.id}` declares metric `{m.name}` with higher_is_better="
            f"{spec.metric.higher_is_better}, but the metric is registered with "
            f"{m.higher_is_better}; fix competition.yaml"
        )
    kind = prediction_kind(spec, m)
    classes: list[str] | None = None
    if spec.submission_columns is not None:
        preds = [c for c in spec.submission_columns if c != spec.id_column]
    elif kind == "class_probabilities":
        if not spec.classes:
            raise GradingError(
                f"competition `{spec.id}`: metric `{m.name}` on a multiclass task needs "
                "`classes` (or `submission_columns`) in competition.yaml"
            )
        preds = list(spec.classes)
    else:
        preds = spec.targets
    if kind == "class_probabilities":
        classes = preds
    elif kind in ("label", "probability") and len(preds) != 1:
        raise GradingError(
            f"competition `{spec.id}`: metric `{m.name}` needs exactly one prediction column, "
            f"the spec gives {preds}"
        )
    return SubmissionLayout(spec.id_column, preds, kind, m, classes)


# --------------------------------------------------------------------------- labels


def normalize_labels(values: pd.Series | Sequence[object]) -> npt.NDArray[np.object_]:
    """Labels as comparable strings: `True`/`False` for bool-likes, `3` for 3, 3.0 and "3.0".

    Why: a CSV round trip turns booleans and integers into text (or text into numbers), and
    the answers and the submission must still compare equal.
    """
    s = values if isinstance(values, pd.Series) else pd.Series(list(values), dtype=object)
    if pd.api.types.is_bool_dtype(s.dtype):
        return np.where(s.to_numpy(dtype=bool), "True", "False").astype(object)
    if pd.api.types.is_integer_dtype(s.dtype):
        return np.asarray(s.astype("int64").astype(str).to_numpy(dtype=object), dtype=object)
    if pd.api.types.is_float_dtype(s.dtype):
        return _floats_as_labels(s.to_numpy(dtype=np.float64))
    # Normalise each distinct value once, then broadcast by code: labels repeat a lot.
    codes, uniques = pd.factorize(s, use_na_sentinel=True)
    table = np.array([_one_label(u) for u in uniques] + [None], dtype=object)
    return np.asarray(table[codes], dtype=object)  # code -1 (missing) picks the trailing None


def _floats_as_labels(x: npt.NDArray[np.float64]) -> npt.NDArray[np.object_]:
    """Integral floats as integer text (3.0 -> "3"), others as repr-style text."""
    out = np.empty(x.shape, dtype=object)
    finite = np.isfinite(x)
    integral = finite & (np.mod(np.where(finite, x, 0.0), 1) == 0)
    out[integral] = x[integral].astype(np.int64).astype(str)
    rest = ~integral
    out[rest] = [repr(float(v)) for v in x[rest]] if rest.any() else []
    out[np.isnan(x)] = None
    return out


def _one_label(v: object) -> str:
    """Normalise one label (called through `Series.map`, on the object-dtype fallback only)."""
    if isinstance(v, bool | np.bool_):
        return "True" if v else "False"
    if isinstance(v, int | np.integer):
        return str(int(v))
    if isinstance(v, float | np.floating):
        f = float(v)
        return str(int(f)) if f.is_integer() else repr(f)
    text = str(v).strip()
    low = text.lower()
    if low in _BOOL_WORDS:
        return _BOOL_WORDS[low]
    try:
        f = float(text)
    except ValueError:
        return text
    return str(int(f)) if f.is_integer() and "e" not in low and "inf" not in low else text


# --------------------------------------------------------------------------- reading


def _where(source: str) -> str:
    return f"Submission `{source}`"


def read_submission(
    path: Path,
    spec: CompetitionSpec,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    ids_as_text: bool = True,
) -> pd.DataFrame:
    """Read a submission CSV; label columns (and ids, if `ids_as_text`) as text.

    Other columns are parsed by pandas' C parser. Integer ids may be parsed as numbers
    (`ids_as_text=False`) when the answers' ids are integers: hashing int64 is several
    times faster than hashing strings, and the comparison is the same. Refuses (with
    `InvalidSubmissionError`) missing, oversized, empty and unparsable files.
    """
    path = Path(path)
    where = _where(str(path))
    if not path.is_file():
        raise InvalidSubmissionError(
            f"{where} does not exist or is not a file. Write your predictions to it as CSV."
        )
    size = path.stat().st_size
    if size > max_bytes:
        raise InvalidSubmissionError(
            f"{where} is too large: {size:,} bytes, the limit is {max_bytes:,} bytes. "
            "Write only the required columns, one row per test id."
        )
    if size == 0:
        raise InvalidSubmissionError(f"{where} is empty. Write a header line and one row per id.")
    layout = submission_layout(spec)
    text_cols = [layout.id_column] if ids_as_text else []
    text_cols += layout.prediction_columns if layout.kind == "label" else []
    try:
        df = pd.read_csv(path, dtype=dict.fromkeys(text_cols, str), low_memory=False)
    except pd.errors.EmptyDataError as e:
        raise InvalidSubmissionError(
            f"{where} has no header or no data. Write a header line and one row per id."
        ) from e
    except (pd.errors.ParserError, UnicodeDecodeError, csv.Error, ValueError) as e:
        raise InvalidSubmissionError(
            f"{where} is not a readable CSV ({type(e).__name__}: {str(e).strip()[:200]}). "
            "Write a comma-separated UTF-8 file with a header line, e.g. `df.to_csv(path, "
            "index=False)`."
        ) from e
    return df


# --------------------------------------------------------------------------- checks


def _quote(values: Sequence[object] | npt.NDArray[np.generic], n: int = SHOW) -> str:
    plain = [v.item() if isinstance(v, np.generic) else v for v in list(values[:n])]
    shown = ", ".join(repr(v) for v in plain)
    more = len(values) - n
    return shown + (f" (and {more:,} more)" if more > 0 else "")


def _rows(mask: npt.NDArray[np.bool_]) -> npt.NDArray[np.intp]:
    """1-based data-row numbers (row 1 is the first line after the header)."""
    return np.flatnonzero(mask) + 1


def _check_columns(df: pd.DataFrame, layout: SubmissionLayout, where: str) -> None:
    """Missing or unexpected columns; order does not matter, duplicates are refused."""
    cols = [str(c) for c in df.columns]
    dupes = sorted({c for c in cols if cols.count(c) > 1})
    if dupes:
        raise InvalidSubmissionError(f"{where} has duplicate columns {dupes}. Keep one of each.")
    expected = layout.columns
    missing = [c for c in expected if c not in cols]
    extra = [c for c in cols if c not in expected]
    if not missing and not extra:
        return
    parts = []
    if missing:
        parts.append(f"missing column(s) {_quote(missing, 10)}")
    if extra:
        parts.append(f"unexpected column(s) {_quote(extra, 10)}")
    hints = []
    lowered = {e.strip().lower(): e for e in extra}
    for c in missing:
        close = difflib.get_close_matches(c.lower(), list(lowered), n=1, cutoff=0.6)
        if close:
            hints.append(f"`{lowered[close[0]]}` -> `{c}`")
    hint = f" Rename {', '.join(hints)}." if hints else ""
    raise InvalidSubmissionError(
        f"{where}: {'; '.join(parts)}. The header must be exactly: {','.join(expected)} "
        f"(any order).{hint}"
    )


def id_keys(ids: pd.Series) -> npt.NDArray[np.generic]:
    """Ids as hashable keys: int64 for integer columns, else normalised text.

    Why: ids are compared as strings, and the decimal text of an integer is unique, so two
    integer columns can be compared as int64 (fast); anything else becomes text ("17", and
    integral floats lose their `.0`).
    """
    if pd.api.types.is_integer_dtype(ids.dtype):
        return np.asarray(ids.to_numpy(dtype=np.int64), dtype=np.int64)
    if pd.api.types.is_float_dtype(ids.dtype):
        return normalize_labels(ids)
    return np.asarray(ids.to_numpy(dtype=object, na_value=None), dtype=object)


def _same_key_type(
    a: npt.NDArray[np.generic], b: npt.NDArray[np.generic]
) -> tuple[npt.NDArray[np.generic], npt.NDArray[np.generic]]:
    """Both key arrays as int64, or both as text when either is text."""
    if a.dtype.kind == b.dtype.kind:
        return a, b
    return a.astype(str).astype(object), b.astype(str).astype(object)


def answer_index(spec: CompetitionSpec, answers: pd.DataFrame) -> pd.Index:
    """The answers' ids as a unique index (a `GradingError` if they repeat)."""
    index = pd.Index(id_keys(answers[spec.id_column]))
    if not index.is_unique:
        raise GradingError(f"answers of `{spec.id}` hold duplicate ids; re-prepare the data")
    return index


def align_ids(
    sub_ids: pd.Series, answer_ids: pd.Index, where: str, id_column: str
) -> npt.NDArray[np.intp]:
    """For each answer row, the submission row holding its id.

    Refuses blank, unknown, duplicate and missing ids, in that order. One hash look-up
    (submission ids into the answers' index) and one `bincount` do all the work.
    """
    blank = sub_ids.isna().to_numpy()
    if blank.any():
        raise InvalidSubmissionError(
            f"{where}: column `{id_column}` is empty in row(s) {_quote(_rows(blank))}. "
            "Every row needs a test id."
        )
    sub_keys = id_keys(sub_ids)
    if sub_keys.dtype.kind != answer_ids.dtype.kind:
        sub_keys, ans_keys = _same_key_type(sub_keys, answer_ids.to_numpy())
        answer_ids = pd.Index(ans_keys)
    n_sub, n_ans = len(sub_keys), len(answer_ids)
    count = f" It has {n_sub:,} rows; the test set has {n_ans:,} ids." if n_sub != n_ans else ""
    if n_sub == n_ans and np.array_equal(sub_keys, answer_ids.to_numpy()):
        return np.arange(n_ans, dtype=np.intp)  # same ids, same order: nothing to hash
    pos = answer_ids.get_indexer(sub_keys)
    unknown = pos < 0
    if unknown.any():
        raise InvalidSubmissionError(
            f"{where}: {int(unknown.sum()):,} `{id_column}` value(s) are not test ids: "
            f"{_quote(sub_keys[unknown])} (row(s) {_quote(_rows(unknown))}).{count} "
            "Predict exactly the ids of the test file."
        )
    hits = np.bincount(pos, minlength=n_ans)
    dup = hits[pos] > 1
    if dup.any():
        raise InvalidSubmissionError(
            f"{where}: duplicate `{id_column}` value(s) {_quote(pd.unique(sub_keys[dup]))} "
            f"(row(s) {_quote(_rows(dup))}).{count} Write exactly one row per test id."
        )
    missing = hits == 0
    if missing.any():
        raise InvalidSubmissionError(
            f"{where}: {int(missing.sum()):,} test id(s) are missing from column "
            f"`{id_column}`: {_quote(answer_ids[missing])}.{count} "
            "Predict every id of the test file (the whole test set is required)."
        )
    order = np.empty(n_ans, dtype=np.intp)
    order[pos] = np.arange(n_sub, dtype=np.intp)
    return order


def _numeric_column(
    col: pd.Series, name: str, where: str, ids: pd.Series
) -> npt.NDArray[np.float64]:
    """A prediction column as floats; refuses text, blanks (NaN) and infinities."""
    if pd.api.types.is_bool_dtype(col.dtype):
        raise InvalidSubmissionError(
            f"{where}: column `{name}` holds True/False, but numbers are needed. "
            "Write numeric predictions (e.g. probabilities)."
        )
    if not pd.api.types.is_numeric_dtype(col.dtype):
        coerced = pd.to_numeric(col, errors="coerce")
        bad = (coerced.isna() & col.notna()).to_numpy()
        if bad.any():
            raise InvalidSubmissionError(
                f"{where}: column `{name}` must be numeric, but row(s) "
                f"{_quote(_rows(bad))} (id(s) {_quote(ids[bad].to_numpy())}) hold "
                f"{_quote(col[bad].to_numpy())}. Write numbers only."
            )
        col = coerced
    x = np.asarray(col.to_numpy(dtype=np.float64, na_value=np.nan), dtype=np.float64)
    nan = np.isnan(x)
    if nan.any():
        raise InvalidSubmissionError(
            f"{where}: column `{name}` is empty or NaN in {int(nan.sum()):,} row(s), e.g. row(s) "
            f"{_quote(_rows(nan))} (id(s) {_quote(ids[nan].to_numpy())}). "
            "Fill every prediction with a number."
        )
    inf = np.isinf(x)
    if inf.any():
        raise InvalidSubmissionError(
            f"{where}: column `{name}` is infinite in {int(inf.sum()):,} row(s), e.g. row(s) "
            f"{_quote(_rows(inf))} (id(s) {_quote(ids[inf].to_numpy())}). "
            "Write finite numbers."
        )
    return x


def _check_range(
    x: npt.NDArray[np.float64], name: str, where: str, ids: pd.Series, layout: SubmissionLayout
) -> None:
    """Probabilities in [0, 1]; predictions >= 0 for metrics that need it (rmsle)."""
    if layout.kind in ("probability", "class_probabilities"):
        bad = (x < 0) | (x > 1)
        if bad.any():
            raise InvalidSubmissionError(
                f"{where}: column `{name}` must hold probabilities in [0, 1], but "
                f"{int(bad.sum()):,} row(s) do not, e.g. row(s) {_quote(_rows(bad))} "
                f"(id(s) {_quote(ids[bad].to_numpy())}) = {_quote(x[bad])}. "
                "Write probabilities (e.g. `predict_proba`), not scores or labels."
            )
    if layout.metric.nonnegative:
        bad = x < 0
        if bad.any():
            raise InvalidSubmissionError(
                f"{where}: column `{name}` must be >= 0 for metric `{layout.metric.name}`, but "
                f"{int(bad.sum()):,} row(s) are negative, e.g. row(s) {_quote(_rows(bad))} "
                f"(id(s) {_quote(ids[bad].to_numpy())}). Clip predictions at 0."
            )


def _label_column(
    col: pd.Series, name: str, where: str, ids: pd.Series, known: npt.NDArray[np.object_]
) -> npt.NDArray[np.object_]:
    """A label column as normalised strings; refuses blanks and labels outside the classes."""
    labels = normalize_labels(col)
    blank = pd.isna(labels)
    if blank.any():
        raise InvalidSubmissionError(
            f"{where}: column `{name}` is empty in {int(blank.sum()):,} row(s), e.g. row(s) "
            f"{_quote(_rows(blank))} (id(s) {_quote(ids[blank].to_numpy())}). "
            "Predict a class for every row."
        )
    outside = ~pd.Series(labels, dtype=object).isin(known).to_numpy()
    if outside.any():
        raise InvalidSubmissionError(
            f"{where}: column `{name}` holds label(s) that are not classes of this task: "
            f"{_quote(pd.unique(labels[outside]))} in row(s) {_quote(_rows(outside))} "
            f"(id(s) {_quote(ids[outside].to_numpy())}). Known classes: "
            f"{_quote(sorted(known), 20)}."
        )
    return labels


# --------------------------------------------------------------------------- entry point


def check_answers(spec: CompetitionSpec, answers: pd.DataFrame) -> None:
    """The answers must hold the id, target(s) and usage columns with unique ids."""
    need = [spec.id_column, *spec.targets, USAGE_COLUMN]
    missing = [c for c in need if c not in answers.columns]
    if missing:
        raise GradingError(
            f"answers of `{spec.id}` lack column(s) {missing}; they must hold {need}. "
            "Re-run the competition's data preparation."
        )


def known_classes(spec: CompetitionSpec, answers: pd.DataFrame) -> npt.NDArray[np.object_]:
    """Valid labels: the answers' target values plus any `classes` the spec declares."""
    found = pd.unique(normalize_labels(answers[spec.targets[0]]))
    declared = normalize_labels(pd.Series(spec.classes or [], dtype=object))
    values = np.concatenate([np.asarray(found, dtype=object), declared])
    return np.asarray(sorted({v for v in values if v is not None}), dtype=object)


def validate_submission(
    spec: CompetitionSpec,
    submission: pd.DataFrame | Path | str,
    answers: pd.DataFrame,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    source: str | None = None,
) -> pd.DataFrame:
    """Check a submission and return it aligned to the answers' rows.

    The result has the expected columns (id first, as text), one row per answer row in the
    answers' order, numeric predictions as float64 and labels as normalised strings.
    `source` names a DataFrame submission in messages (a path names itself).
    """
    check_answers(spec, answers)
    layout = submission_layout(spec)
    answer_ids = answer_index(spec, answers)
    if isinstance(submission, str | Path):
        where = _where(str(submission))
        int_ids = answer_ids.dtype.kind == "i"
        df = read_submission(Path(submission), spec, max_bytes=max_bytes, ids_as_text=not int_ids)
    else:
        where = _where(source or "<DataFrame>")
        df = submission
    if len(df.columns) == 0:
        raise InvalidSubmissionError(f"{where} has no columns. Write a header line.")
    _check_columns(df, layout, where)
    if len(df) == 0:
        raise InvalidSubmissionError(
            f"{where} has a header but no rows. Write one row per test id."
        )
    ids = df[layout.id_column].reset_index(drop=True)
    order = align_ids(ids, answer_ids, where, layout.id_column)
    out: dict[str, object] = {layout.id_column: answers[spec.id_column].to_numpy()}
    known = known_classes(spec, answers) if layout.kind == "label" else None
    for name in layout.prediction_columns:
        col = df[name].reset_index(drop=True)
        if known is not None:
            values: npt.NDArray[np.generic] = _label_column(col, name, where, ids, known)
        else:
            values = _numeric_column(col, name, where, ids)
            _check_range(values, name, where, ids, layout)
        out[name] = values[order]
    return pd.DataFrame(out)
