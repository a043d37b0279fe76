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

Submissions are written by agents that may be hostile, so every check is linear in the
file's size and the file is refused *before* pandas parses it when it is far larger, far
longer or far wider than the competition needs (`max_submission_bytes`, `max_data_lines`,
`MAX_EXTRA_COLUMNS`). Messages never quote the file's contents: they name rows by number,
columns by their expected name or their position in the header, and ids only when they are
test ids (public, from test.csv; at most `SHOWN_CHARS` each), so a file the agent could
read is never echoed back through a rejection (docs/scoring.md, "What a rejection shows").
Messages are bounded (`MAX_MESSAGE_CHARS`) and name the file by its base name (or the
caller's `display_name`), never by its host path.

Predictions must be finite numbers no larger than `MAX_ABS_PREDICTION` in magnitude, so no
metric can overflow on them; and any exception raised while reading or checking the agent's
data is the submission's fault (`agent_data_faults`), never a `GradingError`: a grader the
agent can make fail is an uncounted oracle and a re-roll.
"""

from __future__ import annotations

import csv
import difflib
import io
import math
import re
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd

from mledojo._files import UnsafeFileError, read_bounded
from mledojo.competition import CompetitionSpec
from mledojo.errors import GradingError, InvalidSubmissionError
from mledojo.grading.metrics import RANKED_LABELS, Metric, PredictionKind, get_metric

#: Absolute cap on a submission file's size (bytes); larger files are refused before reading.
#: `max_submission_bytes` gives the (much smaller) cap of one competition.
DEFAULT_MAX_BYTES = 200 * 1024 * 1024
#: The smallest per-competition cap: a tiny test set still gets room for odd formatting.
MIN_MAX_BYTES = 1024 * 1024
#: Bytes allowed per test row: the id and line break, plus each prediction column.
ROW_BYTES = 64
COLUMN_BYTES = 40
#: The header line is read on its own first; a longer one is refused.
MAX_HEADER_BYTES = 1024 * 1024
#: Columns tolerated beyond the expected header before the file is refused unparsed.
MAX_EXTRA_COLUMNS = 32
#: How many offending ids / rows a message quotes.
SHOW = 5
#: Longest text shown for one quoted value (a test id, an expected column name).
SHOWN_CHARS = 40
#: Largest magnitude of a numeric prediction. Why: squares and sums of 1e100 stay far from
#: float overflow (1.8e308) on any test set, so every metric returns a finite number, and
#: no honest prediction comes near it.
MAX_ABS_PREDICTION = 1e100
#: Longest message of an `InvalidSubmissionError` raised while grading.
MAX_MESSAGE_CHARS = 2000
#: Longest expected header quoted in full; longer ones are shortened.
SHOWN_HEADER_CHARS = 400
USAGE_COLUMN = "usage"

_BOOL_WORDS = {"true": "True", "false": "False"}
NUMERIC_KINDS: frozenset[PredictionKind] = frozenset(
    {"probability", "class_probabilities", "value"}
)
#: Kinds whose cells hold class labels (read as text, checked against the known classes).
LABEL_KINDS: frozenset[PredictionKind] = frozenset({"label", "ranked_labels"})


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
    if spec.task == "multi_label" and not (m.multi_label and kind == "probability"):
        raise GradingError(
            f"competition `{spec.id}`: task `multi_label` needs a metric that scores one "
            f"probability per 0/1 target (such as `mean_columnwise_roc_auc`), not `{m.name}`"
        )
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
    elif kind == "probability" and spec.task == "multi_label":
        pass  # one probability column per 0/1 target
    elif kind in ("label", "probability", "ranked_labels") and len(preds) != 1:
        raise GradingError(
            f"competition `{spec.id}`: metric `{m.name}` needs exactly one prediction column, "
            f"the spec gives {preds}"
        )
    return SubmissionLayout(spec.id_column, preds, kind, m, classes)


def max_submission_bytes(spec: CompetitionSpec, n_test_rows: int) -> int:
    """A generous cap on one submission's size, proportional to what it must hold.

    Each test row gets `ROW_BYTES` (id, line break) plus `COLUMN_BYTES` per prediction
    column (per label of a ranked-labels column; widened for label columns whose declared
    class names are longer), with at
    least `MIN_MAX_BYTES` and at most `DEFAULT_MAX_BYTES` in all. Why: a fixed 200 MB cap let
    a 4 KB sparse file cost seconds of parsing and gigabytes of memory on the host for a
    test set of a thousand rows.
    """
    layout = submission_layout(spec)
    labels = RANKED_LABELS if layout.kind == "ranked_labels" else 1
    width = COLUMN_BYTES * labels
    if layout.kind in LABEL_KINDS and spec.classes:
        width = max(width, 8 + labels * (1 + max(len(str(c)) for c in spec.classes)))
    need = max(0, int(n_test_rows)) * (ROW_BYTES + width * len(layout.prediction_columns))
    return min(DEFAULT_MAX_BYTES, max(MIN_MAX_BYTES, need))


def max_data_lines(n_test_rows: int) -> int:
    """Most lines after the header a submission may have: twice the test set, plus slack.

    Quoted values may span lines and blank lines are skipped, hence the slack; anything
    beyond is refused before parsing.
    """
    return 2 * max(0, int(n_test_rows)) + 10


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


def _short(text: str, limit: int = SHOWN_CHARS) -> str:
    """`text` cut to `limit` characters, with an ellipsis when cut."""
    return text if len(text) <= limit else text[:limit] + "…"


def _where(source: str) -> str:
    return f"Submission `{_short(source, 200)}`"


def display_name_of(path: Path | str, display_name: str | None = None) -> str:
    """The name a message gives a submission file: `display_name`, else its base name.

    Why: the host grades a copy of the agent's file; its full path (run folder, user name)
    is none of the agent's business.
    """
    return display_name if display_name is not None else Path(path).name


def bounded_message(text: str, limit: int = MAX_MESSAGE_CHARS) -> str:
    """`text` cut to about `limit` characters, keeping its start and its end (the fix)."""
    if len(text) <= limit:
        return text
    tail = limit // 4
    head = limit - tail - 40  # room for the marker
    cut = len(text) - head - tail
    return f"{text[:head]} […{cut:,} characters cut…] {text[-tail:]}"


@contextmanager
def bounded_errors(limit: int = MAX_MESSAGE_CHARS) -> Iterator[None]:
    """Cap the message of any `InvalidSubmissionError` raised inside at `limit` characters.

    A last line of defence: every message already quotes agent data in bounded form, but
    a message must stay readable (and cheap to log) whatever went into it.
    """
    try:
        yield
    except InvalidSubmissionError as e:
        text = str(e)
        if len(text) > limit:
            e.args = (bounded_message(text, limit),)
        raise


def _read_bounded(path: Path, max_bytes: int, where: str) -> bytes:
    """The file's bytes by the shared bounded reader (no symlink, a regular file, at most
    `max_bytes`: the file may grow after `stat`); refusals name the file by `where` only."""
    try:
        return read_bounded(path, max_bytes=max_bytes)
    except UnsafeFileError as e:
        if e.reason == "too_large":
            raise InvalidSubmissionError(
                f"{where} is too large: over {max_bytes:,} bytes, the limit for this "
                "competition. Write only the required columns, one row per test id."
            ) from None
        raise InvalidSubmissionError(
            f"{where} cannot be read (a symlink or not a regular file). Write it as a regular file."
        ) from None
    except OSError as e:
        raise InvalidSubmissionError(
            f"{where} cannot be read ({type(e).__name__}). Write it as a regular file."
        ) from e


def _header_columns(line: bytes) -> int:
    """How many fields a header line holds (quoted commas count once)."""
    text = line.decode("utf-8", errors="replace").rstrip("\r")
    try:
        return max((len(row) for row in csv.reader([text])), default=0)
    except csv.Error:
        return line.count(b",") + 1


def check_header(data: bytes, layout: SubmissionLayout, where: str) -> None:
    """Refuse, before parsing, a header line over `MAX_HEADER_BYTES` or far too wide.

    Why: pandas would build one object per column, and the column checks would quote them;
    a header of 40,000 columns must cost no more than reading one line.
    """
    end = data.find(b"\n", 0, MAX_HEADER_BYTES + 1)
    if end < 0 and len(data) > MAX_HEADER_BYTES:
        raise InvalidSubmissionError(
            f"{where}: the header line is longer than {MAX_HEADER_BYTES:,} bytes. The header "
            f"must be exactly: {_expected_header(layout)} (any order)."
        )
    n_cols = _header_columns(data[: end if end >= 0 else len(data)])
    _check_width(n_cols, layout, where)


def _check_width(n_cols: int, layout: SubmissionLayout, where: str) -> None:
    """Refuse a header with more than `MAX_EXTRA_COLUMNS` columns beyond the expected ones."""
    most = len(layout.columns) + MAX_EXTRA_COLUMNS
    if n_cols > most:
        raise InvalidSubmissionError(
            f"{where} has {n_cols:,} columns; {len(layout.columns):,} are expected (at most "
            f"{most:,} are read). The header must be exactly: {_expected_header(layout)} "
            "(any order). Write only these columns."
        )


def _check_lines(data: bytes, n_test_rows: int, where: str) -> None:
    """Refuse more than `max_data_lines(n_test_rows)` lines after the header (one count)."""
    most = max_data_lines(n_test_rows)
    lines = data.count(b"\n") + (0 if data.endswith(b"\n") else 1) - 1
    if lines > most:
        raise InvalidSubmissionError(
            f"{where} has {lines:,} lines after the header; the test set has "
            f"{n_test_rows:,} ids and at most {most:,} lines are read. Write exactly one row "
            "per test id, without blank lines."
        )


def _check_text(data: bytes, where: str) -> None:
    """Refuse NUL bytes: no CSV holds them, and a sparse file is mostly made of them."""
    nul = data.find(b"\x00")
    if nul >= 0:
        raise InvalidSubmissionError(
            f"{where} is not a readable CSV (it holds a NUL byte at byte {nul:,}; it looks "
            "like binary data). Write a comma-separated UTF-8 file with a header line, e.g. "
            "`df.to_csv(path, index=False)`."
        )


def read_submission(
    path: Path,
    spec: CompetitionSpec,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    ids_as_text: bool = True,
    display_name: str | None = None,
    n_test_rows: int | None = None,
) -> pd.DataFrame:
    """Read a submission CSV; label columns (and ids, if `ids_as_text`) as text.

    Other columns are parsed by pandas' C parser. Integer ids may be parsed as numbers
    (`ids_as_text=False`) when the answers' ids are integers: hashing int64 is several
    times faster than hashing strings, and the comparison is the same. Text ids are
    taken as pandas infers them, and the file is parsed a second time, ids forced to text,
    only when they came out as numbers (`007`). Refuses (with
    `InvalidSubmissionError`) missing, oversized, empty and unparsable files, and, before
    parsing, files with NUL bytes, a header far wider than the layout (`check_header`) or
    (given `n_test_rows`) more than `max_data_lines(n_test_rows)` lines after the header.
    Messages call the file `display_name` (default: its base name, never the host path).
    """
    path = Path(path)
    where = _where(display_name_of(path, display_name))
    if not path.is_file():
        raise InvalidSubmissionError(
            f"{where} does not exist or is not a file. Write your predictions to it as CSV."
        )
    size = path.stat().st_size
    if size > max_bytes:
        raise InvalidSubmissionError(
            f"{where} is too large: {size:,} bytes, the limit for this competition is "
            f"{max_bytes:,} bytes. Write only the required columns, one row per test id."
        )
    if size == 0:
        raise InvalidSubmissionError(f"{where} is empty. Write a header line and one row per id.")
    data = _read_bounded(path, max_bytes, where)
    layout = submission_layout(spec)
    _check_text(data, where)
    check_header(data, layout, where)
    if n_test_rows is not None:
        _check_lines(data, n_test_rows, where)
    labels = layout.prediction_columns if layout.kind in LABEL_KINDS else []
    df = _parse_csv(data, dict.fromkeys(labels, str), where)
    ids = df.get(layout.id_column)
    if ids_as_text and isinstance(ids, pd.Series) and not _is_text(ids):
        # Ids that look like numbers (`007`) must stay text: parse again, ids as text.
        df = _parse_csv(data, dict.fromkeys([layout.id_column, *labels], str), where)
    return df


def _is_text(col: pd.Series) -> bool:
    """Whether pandas kept a column as text (its own string dtype, or Python objects)."""
    return isinstance(col.dtype, pd.StringDtype) or col.dtype == object


def _parse_csv(data: bytes, dtype: dict[str, type[str]], where: str) -> pd.DataFrame:
    """The CSV parsed by pandas' C parser; the columns in `dtype` as text.

    Why not every text column forced to `str`: a forced string column costs pandas about
    twice the parse of the whole file, while a column it infers as text is the same text.
    """
    try:
        return pd.read_csv(io.BytesIO(data), dtype=dtype, low_memory=False)
    except pd.errors.EmptyDataError as e:
        raise InvalidSubmissionError(
            f"{where} has no header or no data. Write a header line and one row per id."
        ) from e
    except (pd.errors.ParserError, UnicodeDecodeError, csv.Error, ValueError) as e:
        raise InvalidSubmissionError(
            f"{where} is not a readable CSV ({_parse_problem(e)}). Write a comma-separated "
            "UTF-8 file with a header line, e.g. `df.to_csv(path, index=False)`."
        ) from e


_FIELDS_PROBLEM = re.compile(r"Expected \d+ fields in line \d+, saw \d+")


def _parse_problem(e: Exception) -> str:
    """What went wrong while parsing, in words that quote nothing of the file.

    pandas' messages may quote the offending text (a cell, a line); only the error type,
    a byte offset or the "Expected N fields in line L, saw M" counts are shown.
    """
    if isinstance(e, UnicodeDecodeError):
        return f"not UTF-8 at byte {e.start:,}"
    found = _FIELDS_PROBLEM.search(str(e))
    return f"{type(e).__name__}: {found.group(0)}" if found else type(e).__name__


# --------------------------------------------------------------------------- checks


def _shown(v: object) -> str:
    """One quoted value, at most `SHOWN_CHARS` long (text is cut before `repr`, so cheap).

    Only for values the grader knows from public data (test ids, class names, expected
    column names) and for numbers it computed (rows, positions): never the file's contents.
    """
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, str) and len(v) > SHOWN_CHARS:
        return repr(v[:SHOWN_CHARS]) + "…"
    return _short(repr(v))


def _quote(values: Sequence[object] | npt.NDArray[np.generic], n: int = SHOW) -> str:
    """The first `n` values, each bounded by `_shown`, and how many more there are."""
    shown = ", ".join(_shown(v) for v in list(values[:n]))
    more = len(values) - n
    return shown + (f" (and {more:,} more)" if more > 0 else "")


def _positions(indices: Sequence[int], n: int = 10) -> str:
    """1-based header positions, for columns whose (agent-written) names are not shown."""
    return _quote([int(i) + 1 for i in indices], n)


@contextmanager
def agent_data_faults(where: str, doing: str) -> Iterator[None]:
    """Turn any unexpected exception raised on the agent's data into `InvalidSubmissionError`.

    Why: an exception that escaped as a `GradingError` ended an episode `grading_error` (a
    re-roll under `--retry grading`) and, on the public part, gave a grade that was not
    counted (a 1e308 on one row told public rows from private ones). Deliberate
    `GradingError`s (broken answers or spec) and `InvalidSubmissionError`s pass through. The
    message names the exception type only: its text may quote the file.
    """
    try:
        yield
    except (InvalidSubmissionError, GradingError):
        raise
    except MemoryError as e:
        raise InvalidSubmissionError(
            f"{where} needed too much memory while {doing}. Write one plain row per test id."
        ) from e
    except Exception as e:  # noqa: BLE001 - the agent's data made our checks fail
        raise InvalidSubmissionError(
            f"{where} could not be graded: {type(e).__name__} while {doing}. Write plain "
            "finite numbers (or class labels), one row per test id."
        ) from e


def _expected_header(layout: SubmissionLayout) -> str:
    """The expected header, shortened when long (many class columns)."""
    full = ",".join(layout.columns)
    if len(full) <= SHOWN_HEADER_CHARS:
        return full
    return (
        f"{full[:SHOWN_HEADER_CHARS]}… ({len(layout.columns):,} columns: "
        f"`{layout.id_column}` then one per class, as in the sample submission)"
    )


def _rows(mask: npt.NDArray[np.bool_]) -> npt.NDArray[np.intp]:
    """1-based data-row numbers (row 1 is the first line after the header)."""
    return np.flatnonzero(mask) + 1


def _check_columns(df: pd.DataFrame, layout: SubmissionLayout, where: str) -> None:
    """Missing or unexpected columns; order does not matter, duplicates are refused.

    Linear in the number of columns (one `Counter`, set look-ups), and refuses a frame far
    wider than the layout before comparing names.
    """
    _check_width(len(df.columns), layout, where)
    cols = [str(c) for c in df.columns]
    counts = Counter(cols)
    expected = layout.columns
    wanted = set(expected)
    dupes = [i for i, c in enumerate(cols) if counts[c] > 1]
    if dupes:
        named = sorted({cols[i] for i in dupes if cols[i] in wanted})
        which = f" [{_quote(named, 10)}]" if named else ""
        raise InvalidSubmissionError(
            f"{where} has duplicate columns{which} at header position(s) "
            f"{_positions(dupes)}. Keep one of each."
        )
    missing = [c for c in expected if c not in counts]
    extra = [i for i, c in enumerate(cols) if c not in wanted]
    if not missing and not extra:
        return
    parts = []
    if missing:
        parts.append(f"missing column(s) {_quote(missing, 10)}")
    if extra:
        parts.append(f"unexpected column(s) at header position(s) {_positions(extra)}")
    hint = _rename_hints(missing, {i: cols[i] for i in extra})
    raise InvalidSubmissionError(
        f"{where}: {'; '.join(parts)}. The header must be exactly: {_expected_header(layout)} "
        f"(any order).{hint}"
    )


def _rename_hints(missing: list[str], extra: dict[int, str]) -> str:
    """The hint ` Rename column 2 to `y`.` for unexpected names close to missing ones.

    The unexpected name itself is not quoted (it is the agent's text). Names are compared
    on their first `SHOWN_CHARS` characters: difflib is quadratic in the length of the
    strings, and a column name may be a megabyte long.
    """
    lowered: dict[str, int] = {}
    for i, e in extra.items():
        lowered.setdefault(_short(e.strip().lower()), i)
    hints = []
    for c in missing:
        close = difflib.get_close_matches(_short(c.lower()), list(lowered), n=1, cutoff=0.6)
        if close:
            hints.append(f"column {lowered[close[0]] + 1} to `{c}`")
    return f" Rename {', '.join(hints)}." if hints else ""


def id_keys(ids: pd.Series) -> pd.Series:
    """Ids as hashable keys: int64 for integer columns, else text (integral floats lose
    their `.0`), indexed 0..n-1.

    Why: ids are compared as strings, and the decimal text of an integer is unique, so two
    integer columns can be compared as int64 (fast). Text stays in the column's own dtype
    (pandas' Arrow-backed strings hash several times faster than Python objects).
    """
    if pd.api.types.is_integer_dtype(ids.dtype):
        return pd.Series(ids.to_numpy(dtype=np.int64), dtype=np.int64)
    if pd.api.types.is_float_dtype(ids.dtype):
        return pd.Series(normalize_labels(ids), dtype=object)
    return ids.reset_index(drop=True)


def _same_key_type(a: pd.Series, b: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Both key columns as int64, or both as text when either is text."""
    if a.dtype.kind == b.dtype.kind:
        return a, b
    return a.astype(str).astype(object), b.astype(str).astype(object)


def answer_keys(
    spec: CompetitionSpec, answers: pd.DataFrame, *, check_unique: bool = True
) -> pd.Series:
    """The answers' ids as keys (`id_keys`); a `GradingError` if one is blank or repeats.

    `check_unique=False` leaves the repeat check to `align_ids`, which sees it in the same
    hash pass that matches the submission's ids (a second pass costs a tenth of a second on
    a million text ids); `Scorer` checks its answers once, when it loads them.
    """
    keys = id_keys(answers[spec.id_column])
    if keys.isna().any():
        raise GradingError(f"answers of `{spec.id}` hold blank ids; re-prepare the data")
    if check_unique and not keys.is_unique:
        raise GradingError(f"answers of `{spec.id}` hold duplicate ids; re-prepare the data")
    return keys


def _arrow_backed(col: pd.Series) -> bool:
    """Whether a column is pandas' Arrow-backed text (pyarrow is then importable)."""
    return isinstance(col.dtype, pd.StringDtype) and col.dtype.storage == "pyarrow"


def _match_keys(ans_keys: pd.Series, sub_keys: pd.Series) -> npt.NDArray[np.intp]:
    """For each submission key, the row of an answer key equal to it; -1 when there is none.

    A repeated answer key maps to one of its rows (the caller then sees rows never hit).
    Arrow-backed text: pyarrow's `index_in` (one hash set of the answers, probed by the
    submission), else one `factorize` of both columns together.
    """
    if _arrow_backed(ans_keys) and _arrow_backed(sub_keys):
        import pyarrow as pa
        import pyarrow.compute as pc

        text = pa.large_string()  # one string type for both (a pandas column may use either)
        found = pc.index_in(
            pa.array(sub_keys.array).cast(text), value_set=pa.array(ans_keys.array).cast(text)
        )
        return np.asarray(found.fill_null(-1).to_numpy(), dtype=np.intp)
    codes, uniques = pd.factorize(pd.concat([ans_keys, sub_keys], ignore_index=True))
    n_ans = len(ans_keys)
    answer_row = np.full(len(uniques) + 1, -1, dtype=np.intp)  # the last slot: code -1 (NA)
    answer_row[codes[:n_ans]] = np.arange(n_ans, dtype=np.intp)
    answer_row[-1] = -1
    return np.asarray(answer_row[codes[n_ans:]], dtype=np.intp)


def align_ids(
    sub_ids: pd.Series, answer_ids: pd.Series, where: str, id_column: str
) -> npt.NDArray[np.intp]:
    """For each answer row, the submission row holding its id.

    `answer_ids` comes from `answer_keys` (no blanks). Refuses blank, unknown, duplicate
    and missing ids, in that order, after refusing repeated answer ids as a `GradingError`.
    One hash pass (`_match_keys`) and one `bincount` do the work; the answers' own repeat
    check runs only when something is wrong (a repeated answer id always leaves an answer
    row without a match, so a clean match proves the answers' ids unique).
    """
    blank = sub_ids.isna().to_numpy()
    sub_keys, ans_keys = _same_key_type(id_keys(sub_ids), answer_ids.reset_index(drop=True))
    n_sub, n_ans = len(sub_keys), len(ans_keys)
    pos = _match_keys(ans_keys, sub_keys)
    hits = np.bincount(pos[pos >= 0], minlength=n_ans)
    if n_sub == n_ans and (hits == 1).all():
        order = np.empty(n_ans, dtype=np.intp)
        order[pos] = np.arange(n_sub, dtype=np.intp)
        return order
    if not ans_keys.is_unique:
        raise GradingError("the answers hold duplicate ids; re-prepare the data")
    if blank.any():
        raise InvalidSubmissionError(
            f"{where}: column `{id_column}` is empty in row(s) {_quote(_rows(blank))}. "
            "Every row needs a test id."
        )
    count = f" It has {n_sub:,} rows; the test set has {n_ans:,} ids." if n_sub != n_ans else ""
    unknown = pos < 0
    if unknown.any():
        raise InvalidSubmissionError(
            f"{where}: {int(unknown.sum()):,} `{id_column}` value(s) are not test ids, in "
            f"row(s) {_quote(_rows(unknown))}.{count} Predict exactly the ids of the test file."
        )
    dup = hits[pos] > 1
    if dup.any():
        raise InvalidSubmissionError(
            f"{where}: duplicate `{id_column}` value(s) {_quote(sub_keys[dup].unique())} "
            f"(row(s) {_quote(_rows(dup))}).{count} Write exactly one row per test id."
        )
    missing = hits == 0
    raise InvalidSubmissionError(
        f"{where}: {int(missing.sum()):,} test id(s) are missing from column "
        f"`{id_column}`: {_quote(ans_keys[missing].to_numpy())}.{count} "
        "Predict every id of the test file (the whole test set is required)."
    )


def _numeric_column(
    col: pd.Series, name: str, where: str, ids: pd.Series
) -> npt.NDArray[np.float64]:
    """A prediction column as floats; refuses text, blanks (NaN), infinities and numbers
    beyond `MAX_ABS_PREDICTION` (a 400-digit integer, 1e308), naming the rows."""
    if pd.api.types.is_bool_dtype(col.dtype):
        raise InvalidSubmissionError(
            f"{where}: column `{name}` holds True/False, but numbers are needed. "
            "Write numeric predictions (e.g. probabilities)."
        )
    if not pd.api.types.is_numeric_dtype(col.dtype):
        try:
            coerced = pd.to_numeric(col, errors="coerce")
        except OverflowError:  # Python ints beyond float: one cell at a time
            coerced = pd.Series(_as_floats(col.astype(object)), index=col.index)
        bad = (coerced.isna() & col.notna()).to_numpy()
        if bad.any():
            raise InvalidSubmissionError(
                f"{where}: column `{name}` must be numeric, but {int(bad.sum()):,} row(s) are "
                f"not numbers, e.g. row(s) {_quote(_rows(bad))} (id(s) "
                f"{_quote(ids[bad].to_numpy())}). Write numbers only."
            )
        col = coerced
    x = _as_floats(col)
    nan = np.isnan(x)
    if nan.any():
        raise InvalidSubmissionError(
            f"{where}: column `{name}` is empty or NaN in {int(nan.sum()):,} row(s), e.g. row(s) "
            f"{_quote(_rows(nan))} (id(s) {_quote(ids[nan].to_numpy())}). "
            "Fill every prediction with a number."
        )
    huge = ~(np.abs(x) <= MAX_ABS_PREDICTION)
    if huge.any():
        raise InvalidSubmissionError(
            f"{where}: column `{name}` is infinite or beyond ±{MAX_ABS_PREDICTION:g} in "
            f"{int(huge.sum()):,} row(s), e.g. row(s) {_quote(_rows(huge))} (id(s) "
            f"{_quote(ids[huge].to_numpy())}). Write finite numbers of a sensible size."
        )
    return x


def _as_floats(col: pd.Series) -> npt.NDArray[np.float64]:
    """A numeric column as float64; integers too large for a float become ±inf.

    Why: pandas keeps an integer of 400 digits as a Python int (an object column), and
    converting it raises `OverflowError`; as ±inf it is refused with its row named.
    """
    if col.dtype != object:
        return np.asarray(col.to_numpy(dtype=np.float64, na_value=np.nan), dtype=np.float64)
    return np.fromiter((_to_float(v) for v in col), dtype=np.float64, count=len(col))


def _to_float(v: object) -> float:
    """One cell of an object column as a float (see `_as_floats`); text that is not a
    number is NaN, an integer too large for a float is ±inf."""
    if isinstance(v, int):
        try:
            return float(v)
        except OverflowError:
            return math.inf if v > 0 else -math.inf
    try:
        return float(str(v))
    except ValueError:
        return math.nan


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
                f"(id(s) {_quote(ids[bad].to_numpy())}). "
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
            f"{where}: column `{name}` holds label(s) that are not classes of this task in "
            f"{int(outside.sum()):,} row(s), e.g. row(s) {_quote(_rows(outside))} "
            f"(id(s) {_quote(ids[outside].to_numpy())}). Known classes: "
            f"{_quote(sorted(known), 20)}."
        )
    return labels


def ranked_parts(cells: npt.NDArray[np.object_]) -> npt.NDArray[np.object_]:
    """Normalised ranked-label cells ("a b c") as a (rows x `RANKED_LABELS`) matrix of
    labels, None where a row names fewer; cells must already hold at most that many."""
    parts = pd.Series(cells, dtype=object).str.split(n=RANKED_LABELS - 1, expand=True)
    out = np.full((len(cells), RANKED_LABELS), None, dtype=object)
    for j in range(min(parts.shape[1], RANKED_LABELS)):
        out[:, j] = normalize_labels(parts[j].astype(object))
    return out


def _ranked_column(
    col: pd.Series, name: str, where: str, ids: pd.Series, known: npt.NDArray[np.object_]
) -> npt.NDArray[np.object_]:
    """A ranked-labels column (up to `RANKED_LABELS` space-separated classes, best first) as
    normalised text joined by single spaces; refuses empty cells, more than
    `RANKED_LABELS` labels, unknown labels and a label repeated within a row.

    The labels of a row are counted before the cell is split, so a cell of a million
    words costs one regex pass, not a million objects.
    """
    text = col.astype(object).where(col.notna(), "").astype(str)
    counts = text.str.count(r"\S+").to_numpy(dtype=np.int64)
    fix = (
        f"Write up to {RANKED_LABELS} class labels per row, best first, separated by spaces "
        "(e.g. `a b c`)."
    )

    def refuse(bad: npt.NDArray[np.bool_], what: str) -> InvalidSubmissionError:
        return InvalidSubmissionError(
            f"{where}: column `{name}` {what} in {int(bad.sum()):,} row(s), e.g. row(s) "
            f"{_quote(_rows(bad))} (id(s) {_quote(ids[bad].to_numpy())}). {fix}"
        )

    if (counts == 0).any():
        raise refuse(counts == 0, "is empty")
    if (counts > RANKED_LABELS).any():
        raise refuse(counts > RANKED_LABELS, f"holds more than {RANKED_LABELS} labels")
    parts = ranked_parts(text.to_numpy(dtype=object))
    filled = pd.DataFrame(parts).notna().to_numpy()
    allowed = set(known.tolist())
    inside = np.vectorize(lambda v: v in allowed, otypes=[bool])(parts) if parts.size else filled
    outside = (filled & ~inside).any(axis=1)
    if outside.any():
        raise InvalidSubmissionError(
            f"{where}: column `{name}` holds label(s) that are not classes of this task in "
            f"{int(outside.sum()):,} row(s), e.g. row(s) {_quote(_rows(outside))} "
            f"(id(s) {_quote(ids[outside].to_numpy())}). Known classes: "
            f"{_quote(sorted(known), 20)}."
        )
    repeated = np.zeros(len(parts), dtype=bool)
    for a in range(RANKED_LABELS):
        for b in range(a + 1, RANKED_LABELS):
            repeated |= filled[:, a] & filled[:, b] & (parts[:, a] == parts[:, b])
    if repeated.any():
        raise refuse(repeated, "names the same label twice")
    first, *rest = (pd.Series(parts[:, j], dtype=object) for j in range(RANKED_LABELS))
    joined = first.str.cat(rest, sep=" ", na_rep="").str.rstrip()  # empty slots come last
    return np.asarray(joined.to_numpy(dtype=object), dtype=object)


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
    max_bytes: int | None = None,
    source: str | None = None,
    display_name: str | None = None,
) -> pd.DataFrame:
    """Check a submission and return it aligned to the answers' rows.

    The result has the expected columns (id first, as text), one row per answer row in the
    answers' order, numeric predictions as float64 and labels as normalised strings.
    Messages name the submission `display_name` (for a DataFrame, `source` works too);
    a path defaults to its base name, never the host path. `max_bytes` defaults to
    `max_submission_bytes(spec, len(answers))`. Every message is bounded
    (`bounded_errors`).
    """
    with bounded_errors():
        return _validate(spec, submission, answers, max_bytes, display_name or source)


def _validate(
    spec: CompetitionSpec,
    submission: pd.DataFrame | Path | str,
    answers: pd.DataFrame,
    max_bytes: int | None,
    display_name: str | None,
) -> pd.DataFrame:
    """`validate_submission`'s work (without the message bound).

    The answers and the spec are checked first, outside `agent_data_faults` (their faults
    are the benchmark's); everything that touches the agent's data runs inside it.
    """
    check_answers(spec, answers)
    layout = submission_layout(spec)
    answer_ids = answer_keys(spec, answers, check_unique=False)
    known = known_classes(spec, answers) if layout.kind in LABEL_KINDS else None
    if layout.kind == "ranked_labels" and known is not None:
        spaced = [str(c) for c in known if any(ch.isspace() for ch in str(c))]
        if spaced:
            raise GradingError(
                f"competition `{spec.id}`: ranked labels are space-separated, but class(es) "
                f"{spaced[:5]} hold spaces; rename the classes in the data preparation"
            )
    if isinstance(submission, str | Path):
        name = display_name_of(submission, display_name)
        where = _where(name)
        int_ids = answer_ids.dtype.kind == "i"
        cap = max_submission_bytes(spec, len(answers)) if max_bytes is None else max_bytes
        with agent_data_faults(where, "reading the file"):
            df = read_submission(
                Path(submission),
                spec,
                max_bytes=cap,
                ids_as_text=not int_ids,
                display_name=name,
                n_test_rows=len(answers),
            )
    else:
        where = _where(display_name or "<DataFrame>")
        df = submission
    with agent_data_faults(where, "checking its rows"):
        return _check_frame(df, layout, answers[spec.id_column], answer_ids, known, where)


def _check_frame(
    df: pd.DataFrame,
    layout: SubmissionLayout,
    answer_id_column: pd.Series,
    answer_ids: pd.Series,
    known: npt.NDArray[np.object_] | None,
    where: str,
) -> pd.DataFrame:
    """Columns, ids and predictions of a parsed submission, aligned to the answers' rows."""
    if len(df.columns) == 0:
        raise InvalidSubmissionError(f"{where} has no columns. Write a header line.")
    _check_columns(df, layout, where)
    if len(df) == 0:
        raise InvalidSubmissionError(
            f"{where} has a header but no rows. Write one row per test id."
        )
    ids = df[layout.id_column].reset_index(drop=True)
    order = align_ids(ids, answer_ids, where, layout.id_column)
    out: dict[str, object] = {layout.id_column: answer_id_column.reset_index(drop=True)}
    for name in layout.prediction_columns:
        col = df[name].reset_index(drop=True)
        if known is not None and layout.kind == "ranked_labels":
            values: npt.NDArray[np.generic] = _ranked_column(col, name, where, ids, known)
        elif known is not None:
            values = _label_column(col, name, where, ids, known)
        else:
            values = _numeric_column(col, name, where, ids)
            _check_range(values, name, where, ids, layout)
        out[name] = values[order]
    return pd.DataFrame(out)
