"""Leak audit of a prepared competition: can the public files give the answers away?

Checks, each a finding when it fails:

* `answer_column`: a public file keyed by test ids (other than the sample submission)
  holds a target column;
* `near_copy`: a column of such a file (one row per test id: its last row there) predicts
  the private answers almost perfectly on its own: ROC AUC (either direction) of a numeric
  column against a binary target, R² (the larger of Pearson's and Spearman's, squared)
  against a numeric target, or, for a column with few distinct values, the accuracy of
  mapping each value to its most frequent answer (above the majority rate); a column the
  spec declares in `strong_features` (a property of the data, with its reason) passes
  when train.csv holds it at the same strength against its own labels;
* `look_ahead`: what a row's later rows say: for files with a time column, each numeric
  column's minimum and maximum over the next 1 and 24 rows of the same entity, when that
  is strong and much stronger than the same over the previous rows (v1 of pump-failure
  fails here: its pumps stop after a failure);
* `id_overlap`: a test id is also the id of a labelled train row with the same features
  (the same row on both sides gives its answer away);
* `perfect_not_gold` / `sample_gold`: the answers themselves must earn gold and the sample
  submission must not (skipped when the competition has no leaderboard);
* `medals_overstated`: what a medal means, measured (`MedalCheck`): a plain reference
  solution (`mledojo.grading.reference`: default gradient boosting on the public files)
  graded on the private part. Beating the board's honest top makes the medals
  `uninformative`; a private part under `INDICATIVE_ROWS` rows makes them `indicative`.
  The competition's `leaderboard.medals` must say at least as much (a finding when it
  claims more than was measured; `none`, no medals at all, covers every measurement);
* `reference_implausible`: the reference solution, or its rounded predictions, is flagged
  implausible (past `metric.implausible_beyond` or `leaderboard.copy_share_beyond`): the
  bounds would flag honest work (docs/scoring.md, "Medals and implausibility").

The thresholds are deliberately near 1: an honest strong feature is not a finding.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict
from sklearn.metrics import roc_auc_score

from mledojo.competition import Competition, CompetitionSpec, MedalStatus
from mledojo.errors import GradingError
from mledojo.grading.boards import load_leaderboard
from mledojo.grading.plausibility import honest_top
from mledojo.grading.reference import reference_submission
from mledojo.grading.scorer import Scorer
from mledojo.grading.scoring import GradeReport
from mledojo.grading.validate import submission_layout

if TYPE_CHECKING:
    from mledojo.data.prepare import PreparedData

NEAR_PERFECT = 0.99
"""A single column whose AUC, R² or mapping accuracy reaches this is a near-copy (a real
feature can come close: breast-cancer's `worst_perimeter` has a ROC AUC of 0.98)."""
LOOK_AHEAD_LEVEL = 0.95
LOOK_AHEAD_GAIN = 0.1
"""A column's later rows leak when they reach LOOK_AHEAD_LEVEL and beat the same column now
and in its earlier rows by LOOK_AHEAD_GAIN: a slowly moving honest signal is as strong
behind as ahead, a consequence of the answer (a pump that stops) is only strong ahead."""
LOOK_AHEAD_ROWS = (1, 24)
TRAIN_MARGIN = 0.01
"""A declared strong feature must predict the target in train.csv at least this close to
its strength on the test answers (`CompetitionSpec.strong_features`)."""
MAX_LEVELS = 50
"""Columns with at most this many distinct values are also tested as a lookup table..."""
MIN_ROWS_PER_LEVEL = 10
"""...when each value covers this many rows on average (a lookup of unique values is no test)."""

INDICATIVE_ROWS = 200
"""A private part with fewer rows gives medals that are only indicative: one row moves the
score by more than 1/200, and the sampling noise is wider than the medal bands."""
MEDAL_CAUTION: tuple[MedalStatus, ...] = ("informative", "indicative", "uninformative", "none")
"""Medal statuses from the plainest claim to the most cautious."""

Check = Literal[
    "answer_column",
    "near_copy",
    "look_ahead",
    "id_overlap",
    "perfect_not_gold",
    "sample_gold",
    "medals_overstated",
    "reference_implausible",
]


class Finding(BaseModel):
    """One failed check: which file and column, the measured strength, and why it matters."""

    model_config = ConfigDict(frozen=True)

    check: Check
    file: str
    column: str | None = None
    value: float | None = None
    message: str


class MedalCheck(BaseModel):
    """What a medal of this competition means, as measured with the reference solution."""

    model_config = ConfigDict(frozen=True)

    measured: MedalStatus
    declared: MedalStatus
    private_rows: int
    reference_score: float
    reference_medal: str | None
    honest_top: float
    """The board's best entry that is not a cheat (`leaderboard.honest_below`)."""
    reference_copy_share: float
    """The largest share of rows equal to the answers among the reference's predictions and
    their rounded form (what `leaderboard.copy_share_beyond` must stay above)."""
    ceiling: float | None
    note: str


class AuditReport(BaseModel):
    """All findings of one prepared competition, and what was looked at."""

    model_config = ConfigDict(frozen=True)

    competition: str
    findings: list[Finding]
    files: list[str]
    strongest: dict[str, float]
    """Per file, the strongest single column (near-copy and look-ahead measures)."""
    perfect_medal: str | None = None
    sample_medal: str | None = None
    reused_ids: int = 0
    """Test ids that also name a (different) train row: harmless, but worth knowing."""
    medals: MedalCheck | None = None
    """None when the competition has no leaderboard."""
    declared_strong: dict[str, float] = {}
    """Near-copies let pass as the spec's `strong_features` (`file:column` -> strength)."""

    @property
    def passed(self) -> bool:
        return not self.findings


def audit(competition: Competition, data: PreparedData) -> AuditReport:
    """Run every check on a prepared competition (reads public and private files)."""
    spec = competition.spec
    scorer = Scorer(competition, data)
    answers = scorer.answers.set_index(scorer.answers[spec.id_column].astype(str))
    test_ids = set(answers.index)
    findings: list[Finding] = []
    strongest: dict[str, float] = {}
    declared: dict[str, float] = {}
    reused_ids = 0
    files = sorted(p.name for p in data.public_dir.glob("*.csv"))
    for name in files:
        path = data.public_dir / name
        if name == "train.csv":
            found, reused_ids = _id_overlap(
                path, data.public_dir / "test.csv", spec.id_column, spec.targets, test_ids
            )
            findings += found
            continue
        frame = pd.read_csv(path, low_memory=False)
        if spec.id_column not in frame.columns:
            continue
        frame[spec.id_column] = frame[spec.id_column].astype(str)
        if not frame[spec.id_column].isin(test_ids).any() or name == "sample_submission.csv":
            continue
        findings += [
            Finding(
                check="answer_column",
                file=name,
                column=t,
                message=f"{name} holds the answer column `{t}`",
            )
            for t in spec.targets
            if t in frame.columns
        ]
        found, best = _column_findings(name, frame, spec.id_column, spec.targets, answers)
        for finding in found:
            if _declared_strong(finding, spec, data.public_dir / "train.csv"):
                declared[f"{name}:{finding.column}"] = finding.value or 0.0
            else:
                findings.append(finding)
        strongest[name] = best
    perfect, sample = _medal_findings(competition, data, scorer)
    findings += perfect[0] + sample[0]
    medals, found = _medal_meaning(competition, data, scorer)
    findings += found
    return AuditReport(
        competition=spec.versioned_id,
        findings=findings,
        files=files,
        strongest=strongest,
        perfect_medal=perfect[1],
        sample_medal=sample[1],
        reused_ids=reused_ids,
        medals=medals,
        declared_strong=declared,
    )


def _id_overlap(
    path: Path, test_path: Path, id_column: str, targets: list[str], test_ids: set[str]
) -> tuple[list[Finding], int]:
    """Test ids that are labelled train ids of the same row; also the count of reused ids.

    An id reused for another row (MLE-bench renumbers both sides 1..n, e.g. nomad2018) gives
    nothing away, so only a shared id whose shared feature columns are equal is a finding.
    """
    cols = pd.read_csv(path, nrows=0).columns
    if id_column not in cols or not test_path.is_file():
        return [], 0
    train = pd.read_csv(path, dtype=str, keep_default_na=False)
    labelled = [t for t in targets if t in cols]
    if labelled:
        train = train[(train[labelled] != "").any(axis=1)]
    shared = sorted(set(train[id_column]) & test_ids)
    if not shared:
        return [], 0
    test = pd.read_csv(test_path, dtype=str, keep_default_na=False)
    common = [c for c in test.columns if c in train.columns and c not in targets]
    pairs = train[train[id_column].isin(shared)][common].merge(
        test[test[id_column].isin(shared)][common], on=common, how="inner"
    )
    same = sorted(set(pairs[id_column]))
    if not same:
        return [], len(shared)
    finding = Finding(
        check="id_overlap",
        file=path.name,
        column=id_column,
        value=float(len(same)),
        message=f"{len(same)} test rows are labelled train rows (same id and features), "
        f"e.g. ids {same[:3]}",
    )
    return [finding], len(shared)


def _declared_strong(finding: Finding, spec: CompetitionSpec, train_path: Path) -> bool:
    """Whether a near-copy is a declared strong feature (`strong_features`) that train.csv
    shows to be the data's own: the column is there and predicts a target there as well
    (within `TRAIN_MARGIN`). A column added to the test file alone is never let pass."""
    if finding.check != "near_copy" or finding.column not in spec.strong_features:
        return False
    column = finding.column
    header = pd.read_csv(train_path, nrows=0).columns
    targets = [t for t in spec.targets if t in header]
    if column not in header or not targets:
        return False
    train = pd.read_csv(train_path, usecols=[column, *targets], low_memory=False)
    in_train = max(_strength(train[column], train[t]) for t in targets)
    return in_train >= (finding.value or 0.0) - TRAIN_MARGIN


def _column_findings(
    name: str, frame: pd.DataFrame, id_column: str, targets: list[str], answers: pd.DataFrame
) -> tuple[list[Finding], float]:
    """Near-copy and look-ahead findings of one file keyed by test ids; also its best score."""
    findings: list[Finding] = []
    best = 0.0
    last = frame.groupby(id_column, sort=False).tail(1).set_index(id_column)
    last = last[last.index.isin(answers.index)]
    columns = [c for c in last.columns if c not in targets]
    windows = _windows(last)
    for target in targets:
        y = answers.loc[last.index, target]
        now = {c: _strength(last[c], y) for c in columns}
        for column, value in now.items():
            best = max(best, value)
            if value >= NEAR_PERFECT:
                findings.append(
                    Finding(
                        check="near_copy",
                        file=name,
                        column=column,
                        value=round(value, 4),
                        message=f"{name}: `{column}` alone predicts `{target}` at {value:.4f}",
                    )
                )
        for (column, rows), (ahead, behind) in windows.items():
            lead = max(_strength(s, y) for s in ahead)
            honest = max([now.get(column, 0.0), *(_strength(s, y) for s in behind)])
            best = max(best, lead)
            if lead >= LOOK_AHEAD_LEVEL and lead - honest >= LOOK_AHEAD_GAIN:
                label = f"{column} over the next {rows} rows"
                findings.append(
                    Finding(
                        check="look_ahead",
                        file=name,
                        column=label,
                        value=round(lead, 4),
                        message=f"{name}: `{label}` predicts `{target}` at {lead:.4f}, "
                        f"the same column now and in earlier rows only at {honest:.4f}",
                    )
                )
    return findings, best


def _strength(x: pd.Series, y: pd.Series) -> float:
    """How well `x` alone gives `y`: in [0, 1], 1 for a copy (see the module docstring)."""
    keep = x.notna().to_numpy() & y.notna().to_numpy()
    x, y = x[keep], y[keep]
    if len(x) < 10 or x.nunique() < 2:
        return 0.0
    scores = [0.0]
    numeric_x = pd.api.types.is_numeric_dtype(x) and not pd.api.types.is_bool_dtype(x)
    numeric_y = pd.api.types.is_numeric_dtype(y) and not pd.api.types.is_bool_dtype(y)
    if numeric_x and y.nunique() == 2:
        auc = float(roc_auc_score(y == y.max(), x.astype(float)))
        scores.append(max(auc, 1.0 - auc))
    elif numeric_x and numeric_y and y.nunique() > MAX_LEVELS:
        xs, ys = x.to_numpy(dtype=float), y.to_numpy(dtype=float)
        pearson = np.corrcoef(xs, ys)[0, 1]
        spearman = np.corrcoef(x.rank().to_numpy(), y.rank().to_numpy())[0, 1]
        scores += [float(np.nan_to_num(r) ** 2) for r in (pearson, spearman)]
    levels = x.nunique()
    if levels <= MAX_LEVELS and len(x) >= MIN_ROWS_PER_LEVEL * levels and y.nunique() <= MAX_LEVELS:
        table = pd.crosstab(x.astype(str), y.astype(str))
        accuracy = float(table.max(axis=1).sum() / len(x))
        majority = float(y.astype(str).value_counts(normalize=True).iloc[0])
        if accuracy > majority + (1 - majority) / 2:  # beats guessing by a wide margin
            scores.append(accuracy)
    return max(scores)


def _windows(frame: pd.DataFrame) -> dict[tuple[str, int], tuple[list[pd.Series], list[pd.Series]]]:
    """Per numeric column and row count: (min, max) over the next rows and over the previous
    rows of the same entity, in time order; empty for a file without a time column."""
    time_col = _time_column(frame)
    if time_col is None:
        return {}
    times = pd.to_datetime(frame[time_col], errors="coerce", format="mixed")
    entity = _entity_column(frame, time_col)
    keys = frame[entity].astype(str) if entity else pd.Series("all", index=frame.index)
    order = pd.DataFrame({"k": keys.to_numpy(), "t": times.to_numpy()}, index=frame.index)
    order = order.sort_values(["k", "t"], kind="stable").index
    ordered = frame.loc[order]
    groups = keys.loc[order].to_numpy()
    out: dict[tuple[str, int], tuple[list[pd.Series], list[pd.Series]]] = {}
    for col in ordered.columns:
        if col == time_col or not pd.api.types.is_numeric_dtype(ordered[col]):
            continue
        by = ordered[col].astype(float).groupby(groups)
        for rows in LOOK_AHEAD_ROWS:
            sides = []
            for sign in (-1, 1):  # -1: later rows, 1: earlier rows
                shifted = pd.concat([by.shift(sign * j) for j in range(1, rows + 1)], axis=1)
                sides.append(
                    [
                        shifted.min(axis=1).reindex(frame.index),
                        shifted.max(axis=1).reindex(frame.index),
                    ]
                )
            out[(str(col), rows)] = (sides[0], sides[1])
    return out


def _time_column(frame: pd.DataFrame) -> str | None:
    for col in frame.columns:
        if pd.api.types.is_numeric_dtype(frame[col]):
            continue
        if any(k in str(col).lower() for k in ("time", "date")):
            parsed = pd.to_datetime(frame[col], errors="coerce", format="mixed")
            if parsed.notna().mean() > 0.95:
                return str(col)
    return None


def _entity_column(frame: pd.DataFrame, time_col: str) -> str | None:
    """The text column naming the series of a panel (e.g. a pump), if there is one."""
    best: str | None = None
    for col in frame.columns:
        if col == time_col or pd.api.types.is_numeric_dtype(frame[col]):
            continue
        n = frame[col].nunique()
        if 2 <= n <= 500 and len(frame) / n >= 5:
            best = str(col) if best is None or n > frame[best].nunique() else best
    return best


def perfect_submission(scorer: Scorer) -> pd.DataFrame:
    """The private answers shaped as a submission of the competition's layout."""
    spec = scorer.spec
    layout = submission_layout(spec)
    answers = scorer.answers
    out = pd.DataFrame({spec.id_column: answers[spec.id_column]})
    if layout.kind == "class_probabilities":
        truth = answers[spec.targets[0]].astype(str).to_numpy()
        for cls in layout.prediction_columns:
            out[cls] = (truth == cls).astype(float)
    elif layout.kind == "probability":  # one column per 0/1 target (several: multi_label)
        for col in spec.targets:
            out[col] = pd.to_numeric(answers[col]).astype(float)
    else:
        for col in spec.targets:
            out[col] = answers[col]
    return out


def _medal_findings(
    competition: Competition, data: PreparedData, scorer: Scorer
) -> tuple[tuple[list[Finding], str | None], tuple[list[Finding], str | None]]:
    """The answers must earn gold (on a board without medals: HumanRank 1); the sample
    submission must not."""
    if competition.spec.leaderboard is None:
        return ([], None), ([], None)
    with tempfile.TemporaryDirectory(prefix="mledojo-audit-") as folder:
        path = Path(folder) / "perfect.csv"
        perfect_submission(scorer).to_csv(path, index=False)
        graded = scorer.score(path, part="private")
    perfect = graded.medal
    sample = scorer.score(data.sample_submission_path, part="private").medal
    # a board without medals (`medals: none`): the answers must still top it
    top = perfect == "gold" or (graded.medals_status == "none" and graded.human_rank == 1.0)
    found_perfect = (
        []
        if top
        else [
            Finding(
                check="perfect_not_gold",
                file="private/test.csv",
                message=f"the answers themselves earn {perfect or 'no medal'}, not gold",
            )
        ]
    )
    found_sample = (
        [
            Finding(
                check="sample_gold",
                file="sample_submission.csv",
                message="the sample submission earns gold: it carries the answers",
            )
        ]
        if sample == "gold"
        else []
    )
    return (found_perfect, perfect), (found_sample, sample)


def rounded(submission: pd.DataFrame, scorer: Scorer) -> pd.DataFrame:
    """A submission's predictions in their rounded form: hard 0/1 probabilities, one-hot
    class probabilities, whole-number values (labels are already exact). Rounding is what
    lifts an honest solution's share of rows equal to the answers the most."""
    layout = submission_layout(scorer.spec)
    out = submission.copy()
    columns = layout.prediction_columns
    if layout.kind == "class_probabilities":
        best = out[columns].to_numpy(dtype=float).argmax(axis=1)
        out[columns] = np.eye(len(columns))[best]
    elif layout.kind in ("probability", "value"):
        out[columns] = out[columns].astype(float).round()
    return out


def _grade_frame(scorer: Scorer, submission: pd.DataFrame, folder: str, name: str) -> GradeReport:
    path = Path(folder) / name
    submission.to_csv(path, index=False)
    return scorer.score(path, part="private")


def _medal_meaning(
    competition: Competition, data: PreparedData, scorer: Scorer
) -> tuple[MedalCheck | None, list[Finding]]:
    """Grade the reference solution (and its rounded form) on the private part: what a
    medal means here, and whether the implausibility bounds leave honest work alone."""
    spec = competition.spec
    board_spec = spec.leaderboard
    if board_spec is None:
        return None, []
    board = load_leaderboard(competition.path(board_spec.private))
    top = honest_top(board, spec.metric.higher_is_better, board_spec.honest_below)
    if top is None:
        raise GradingError(
            f"{spec.versioned_id}: every entry of its board is at or past "
            f"`leaderboard.honest_below` ({board_spec.honest_below}); lower it"
        )
    plain = reference_submission(spec, data.public_dir)  # on one thread (decision 109)
    with tempfile.TemporaryDirectory(prefix="mledojo-audit-") as folder:
        graded = _grade_frame(scorer, plain, folder, "reference.csv")
        hard = _grade_frame(scorer, rounded(plain, scorer), folder, "rounded.csv")
    beats_top = scorer.better(graded.score, top)
    rows = graded.n_rows or 0
    measured: MedalStatus = "informative"
    note = f"a default gradient boosting scores {graded.score:.5g} against the honest top {top:.5g}"
    if beats_top:
        measured = "uninformative"
        note = (
            f"a default gradient boosting on the public files ({graded.score:.5g}) beats the "
            f"best honest entry of the board ({top:.5g})"
        )
    elif rows < INDICATIVE_ROWS:
        measured = "indicative"
        note = f"the private part has {rows} rows (under {INDICATIVE_ROWS})"
    check = MedalCheck(
        measured=measured,
        declared=board_spec.medals,
        private_rows=rows,
        reference_score=graded.score,
        reference_medal=graded.medal,
        honest_top=top,
        reference_copy_share=max(graded.copy_share or 0.0, hard.copy_share or 0.0),
        ceiling=spec.metric.implausible_beyond,
        note=note,
    )
    findings: list[Finding] = []
    if MEDAL_CAUTION.index(board_spec.medals) < MEDAL_CAUTION.index(measured):
        findings.append(
            Finding(
                check="medals_overstated",
                file="competition.yaml",
                column="leaderboard.medals",
                value=graded.score,
                message=f"leaderboard.medals says `{board_spec.medals}` but they are "
                f"`{measured}`: {note}",
            )
        )
    for what, report in (("reference solution", graded), ("rounded reference", hard)):
        if report.implausible:
            findings.append(
                Finding(
                    check="reference_implausible",
                    file="competition.yaml",
                    value=report.score,
                    message=f"the {what} ({report.score:.5g}, {report.copy_share or 0:.1%} "
                    "of rows equal to the answers) is flagged implausible: "
                    + (report.caveats[0] if report.caveats else ""),
                )
            )
    return check, findings
