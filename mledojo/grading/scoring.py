"""Grading: validate a submission, score it on one part of the test set, place it on a board.

The answers hold `[id_column] + targets + ["usage"]`, where `usage` is `public` or `private`
(Kaggle's split of the test set between its two leaderboards). As on Kaggle, a submission
must predict every test id, but the score only uses the rows of the requested part.

Feedback is built so that it cannot be mined: `Scorer` shows public scores rounded to
`PUBLIC_DECIMALS` (as Kaggle's public board does), and a submission that reproduces the
hidden answers exactly is reported as `implausible` with `copies_answers=True`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Literal, NamedTuple, TypeAlias

import numpy as np
import numpy.typing as npt
import pandas as pd
from pydantic import BaseModel, ConfigDict

from mledojo.competition import CompetitionSpec, MedalStatus
from mledojo.errors import GradingError, InvalidSubmissionError
from mledojo.grading.boards import load_leaderboard
from mledojo.grading.intervals import Bootstrap, MedalProbabilities, bootstrap, medal_probabilities
from mledojo.grading.metrics import positive_label
from mledojo.grading.plausibility import copied_rows, copy_share
from mledojo.grading.rank import Medal, MedalThresholds, rank_score
from mledojo.grading.validate import (
    USAGE_COLUMN,
    SubmissionLayout,
    agent_data_faults,
    bounded_errors,
    display_name_of,
    known_classes,
    normalize_labels,
    ranked_parts,
    submission_layout,
    validate_submission,
)

Part: TypeAlias = Literal["public", "private", "all"]
LeaderboardKind: TypeAlias = Literal["kaggle", "reference"]
Scores: TypeAlias = npt.NDArray[np.floating] | Sequence[float]
Arrays: TypeAlias = tuple[npt.NDArray[np.generic], npt.NDArray[np.generic]]
PARTS: tuple[Part, ...] = ("public", "private", "all")
#: Decimals of a public score shown to the agent (Kaggle's public board shows five).
#: Why: an exact public score leaks information about single rows to a probing agent.
PUBLIC_DECIMALS = 5
#: Tolerance under which numeric predictions count as a copy of the answers.
COPY_ATOL = 1e-12


class GradeReport(BaseModel):
    """A graded submission: raw score and, given a leaderboard, its place on it."""

    model_config = ConfigDict(frozen=True)

    competition: str
    score: float
    part: Part
    metric: str
    higher_is_better: bool
    n_rows: int | None = None
    leaderboard_kind: LeaderboardKind | None = None
    n_entries: int | None = None
    human_rank: float | None = None
    medal: Medal | None = None
    above_median: bool | None = None
    thresholds: MedalThresholds | None = None
    implausible: bool = False
    copies_answers: bool = False
    copy_share: float | None = None
    """Share of the graded rows whose prediction equals the answer (partial-copy check)."""
    medals_status: MedalStatus | None = None
    """What the board's medals mean (`leaderboard.medals`): informative, indicative, ..."""
    caveats: list[str] = []
    interval: tuple[float, float] | None = None
    """Bootstrap 95 % interval of the score over the graded rows (`grading.intervals`)."""
    medal_probabilities: MedalProbabilities | None = None
    """Share of bootstrap replicates at or past each medal threshold (given a board)."""

    @property
    def any_medal(self) -> bool:
        """Whether any medal was earned."""
        return self.medal is not None


# --------------------------------------------------------------------------- parts


def part_mask(answers: pd.DataFrame, part: Part) -> npt.NDArray[np.bool_]:
    """Rows of the answers that belong to `part` (`all`: every row)."""
    if part not in PARTS:
        raise GradingError(f"part must be one of {', '.join(PARTS)}, not {part!r}")
    usage = answers[USAGE_COLUMN]
    # Normalise the few distinct values, not every row (a million rows stay cheap).
    names = {u: str(u).strip().lower() for u in pd.unique(usage)}
    odd = sorted(str(u) for u, n in names.items() if n not in ("public", "private"))
    if odd:
        raise GradingError(
            f"answers column `{USAGE_COLUMN}` must be `public` or `private`; found "
            f"{odd[:5]}. Re-prepare the data."
        )
    wanted = [u for u, n in names.items() if n == part]
    mask = np.ones(len(answers), dtype=bool) if part == "all" else usage.isin(wanted).to_numpy()
    if not mask.any():
        raise GradingError(f"the answers hold no `{part}` rows; cannot score that part")
    return mask


# --------------------------------------------------------------------------- metric inputs


def _binary_truth(
    answers: pd.DataFrame, spec: CompetitionSpec, target: str | None = None
) -> npt.NDArray[np.int64]:
    """Answers of a binary target (default: the first) as 0/1, positive class = 1 (see
    `positive_label`)."""
    col = answers[target or spec.targets[0]]
    declared_pair = bool(spec.classes and len(spec.classes) == 2)
    if not declared_pair and (
        pd.api.types.is_bool_dtype(col.dtype) or pd.api.types.is_integer_dtype(col.dtype)
    ):
        values = np.asarray(col.to_numpy(dtype=np.int64), dtype=np.int64)
        if np.isin(values, (0, 1)).all():
            return values
    classes = [str(c) for c in known_classes(spec, answers)]
    if len(classes) > 2:
        raise GradingError(
            f"competition `{spec.id}`: a binary metric needs two classes, the answers hold "
            f"{len(classes)} ({classes[:5]})"
        )
    text = normalize_labels(col)
    return np.asarray(text == positive_label(classes, spec.classes), dtype=np.int64)


def _one_hot(
    labels: npt.NDArray[np.object_], classes: list[str], spec_id: str
) -> npt.NDArray[np.float64]:
    """Indicator matrix of the answers' labels over the submission's class columns."""
    names = pd.Index(normalize_labels(pd.Series(classes, dtype=object)))
    codes = names.get_indexer(labels)
    if (codes < 0).any():
        odd = sorted({str(v) for v in labels[codes < 0]})[:5]
        raise GradingError(
            f"answers of `{spec_id}` hold label(s) {odd} that are not class columns; "
            "fix `classes` in competition.yaml"
        )
    out = np.zeros((labels.size, len(classes)), dtype=np.float64)
    out[np.arange(labels.size), codes] = 1.0
    return out


def _answers_as_numbers(
    answers: pd.DataFrame, targets: list[str], spec_id: str
) -> npt.NDArray[np.float64]:
    """Target columns of the answers as floats (a `GradingError` if any is not a number)."""
    frame = answers[targets].apply(pd.to_numeric, errors="coerce")
    values = np.asarray(frame.to_numpy(dtype=np.float64), dtype=np.float64)
    if np.isnan(values).any():
        raise GradingError(f"answers of `{spec_id}` hold blank or non-numeric target values")
    return values


def metric_inputs(
    spec: CompetitionSpec,
    layout: SubmissionLayout,
    aligned: pd.DataFrame,
    answers: pd.DataFrame,
    mask: npt.NDArray[np.bool_],
) -> Arrays:
    """(y_true, y_pred) arrays shaped for the metric's prediction kind, on the masked rows."""
    target = spec.targets[0]
    cols = layout.prediction_columns
    if layout.kind == "value":
        y_true = _answers_as_numbers(answers, spec.targets, spec.id)[mask]
        y_pred = aligned[cols].to_numpy(dtype=np.float64)[mask]
        if y_true.shape[1] != y_pred.shape[1]:
            raise GradingError(f"`{spec.id}`: {len(spec.targets)} targets but columns {cols}")
        return (y_true[:, 0], y_pred[:, 0]) if y_true.shape[1] == 1 else (y_true, y_pred)
    if layout.kind == "class_probabilities":
        labels = normalize_labels(answers[target])[mask]
        return _one_hot(labels, cols, spec.id), aligned[cols].to_numpy(dtype=np.float64)[mask]
    if layout.kind == "probability" and len(cols) > 1:  # multi_label: one 0/1 per target
        truth = np.column_stack([_binary_truth(answers, spec, t) for t in spec.targets])[mask]
        return truth, aligned[cols].to_numpy(dtype=np.float64)[mask]
    if layout.kind == "probability":
        truth = _binary_truth(answers, spec)[mask]
        return truth, aligned[cols[0]].to_numpy(dtype=np.float64)[mask]
    if layout.kind == "ranked_labels":
        return _ranked_inputs(spec, aligned[cols[0]].to_numpy(dtype=object), answers, mask)
    return _label_inputs(spec, layout, aligned[cols[0]].to_numpy(dtype=object), answers, mask)


def label_codes(classes: Sequence[str]) -> npt.NDArray[np.float64]:
    """The number standing for each class: its value when every class is a number (ordinal
    ratings keep their distances), else its index in sorted order.

    Why: sklearn sorts labels with `np.unique`, which is slow on a million Python strings
    and fast on floats; every label metric is unchanged by renaming classes, except
    quadratic weighted kappa, whose classes are numbers anyway.
    """
    try:
        return np.array([float(c) for c in classes], dtype=np.float64)
    except ValueError:
        return np.arange(len(classes), dtype=np.float64)


def _label_inputs(
    spec: CompetitionSpec,
    layout: SubmissionLayout,
    predicted: npt.NDArray[np.object_],
    answers: pd.DataFrame,
    mask: npt.NDArray[np.bool_],
) -> Arrays:
    """Label arrays as class codes (see `label_codes`), or 0/1 for binary metrics."""
    classes = [str(c) for c in known_classes(spec, answers)]
    truth = normalize_labels(answers[spec.targets[0]])[mask]
    predicted = predicted[mask]
    if layout.metric.binary:
        if len(classes) > 2:
            raise GradingError(
                f"metric `{layout.metric.name}` is binary; the answers hold {classes[:5]}"
            )
        pos = positive_label(classes, spec.classes)
        return (truth == pos).astype(np.int64), (predicted == pos).astype(np.int64)
    index = pd.Index(classes)
    codes = label_codes(classes)
    return codes[index.get_indexer(truth)], codes[index.get_indexer(predicted)]


def _ranked_inputs(
    spec: CompetitionSpec,
    cells: npt.NDArray[np.object_],
    answers: pd.DataFrame,
    mask: npt.NDArray[np.bool_],
) -> Arrays:
    """Truth as class codes (1-D) and the ranked guesses as a (rows x `RANKED_LABELS`)
    matrix of class codes, NaN for a slot a row leaves empty."""
    classes = [str(c) for c in known_classes(spec, answers)]
    index = pd.Index(classes)
    codes = np.append(label_codes(classes), np.nan)  # position -1 (no label) -> NaN
    truth = normalize_labels(answers[spec.targets[0]])[mask]
    parts = ranked_parts(cells[mask])
    ranked = np.column_stack(
        [codes[index.get_indexer(pd.Index(parts[:, j]))] for j in range(parts.shape[1])]
    )
    return codes[index.get_indexer(truth)], ranked


def reproduces_answers(
    spec: CompetitionSpec,
    layout: SubmissionLayout,
    aligned: pd.DataFrame,
    answers: pd.DataFrame,
    mask: npt.NDArray[np.bool_],
    inputs: Arrays,
) -> bool:
    """Whether the predictions on the masked rows are the hidden answers themselves.

    Labels must be equal (as normalised text); numbers within `COPY_ATOL` of the answers'
    values, of the 0/1 truth (`probability`) or of its one-hot matrix
    (`class_probabilities`), i.e. of the metric's own `y_true`. Why: no honest model
    reproduces every hidden value to twelve decimals; a submission that does has read the
    answers (a leak or a sandbox escape), whatever its score says.
    """
    if layout.kind == "label":
        truth = normalize_labels(answers[spec.targets[0]])[mask]
        predicted = aligned[layout.prediction_columns[0]].to_numpy(dtype=object)[mask]
        return bool(np.array_equal(truth, predicted))
    if layout.kind == "ranked_labels":  # every first guess is the answer
        return bool(copied_rows(layout.kind, *inputs).all())
    y_true, y_pred = (np.asarray(a, dtype=np.float64) for a in inputs)
    return y_true.shape == y_pred.shape and bool(
        np.allclose(y_pred, y_true, atol=COPY_ATOL, rtol=0.0)
    )


def public_score(score: float) -> float:
    """A public score as the agent sees it: rounded to `PUBLIC_DECIMALS` decimals."""
    return round(float(score), PUBLIC_DECIMALS)


# --------------------------------------------------------------------------- grading


class Graded(NamedTuple):
    """A scored submission: the raw score, rows scored, whether it copies the answers, and
    (when asked) the bootstrap of the score over the scored rows, and the share of rows equal
    to the answers."""

    score: float
    n_rows: int
    copies_answers: bool
    bootstrap: Bootstrap | None = None
    copy_share: float = 0.0


def grade(
    spec: CompetitionSpec,
    submission: pd.DataFrame | Path | str,
    answers: pd.DataFrame,
    *,
    part: Part = "private",
    max_bytes: int | None = None,
    display_name: str | None = None,
) -> float:
    """Validate `submission` against all test ids, then score it on the rows of `part`.

    Raises `InvalidSubmissionError` for the submission's faults and `GradingError` for the
    benchmark's (broken answers or spec). `max_bytes` defaults to the competition's
    `max_submission_bytes`; messages call the file `display_name` (default: its base name).
    """
    return score_submission(
        spec, submission, answers, part=part, max_bytes=max_bytes, display_name=display_name
    ).score


def score_submission(
    spec: CompetitionSpec,
    submission: pd.DataFrame | Path | str,
    answers: pd.DataFrame,
    *,
    part: Part = "private",
    max_bytes: int | None = None,
    display_name: str | None = None,
    interval: bool = False,
) -> Graded:
    """`grade`, also returning the number of scored rows and `reproduces_answers`, and with
    `interval` the score's bootstrap over the scored rows (`grading.intervals`)."""
    with bounded_errors():
        layout = submission_layout(spec)
        aligned = validate_submission(
            spec, submission, answers, max_bytes=max_bytes, display_name=display_name
        )
        answers = answers.reset_index(drop=True)
        mask = part_mask(answers, part)
        shown = (
            display_name or "<DataFrame>"
            if isinstance(submission, pd.DataFrame)
            else display_name_of(submission, display_name)
        )
        where = f"Submission `{shown[:200]}`"
        with agent_data_faults(where, f"scoring the {part} part"):
            inputs = metric_inputs(spec, layout, aligned, answers, mask)
            copies = reproduces_answers(spec, layout, aligned, answers, mask, inputs)
            share = copy_share(layout.kind, *inputs)
            score = layout.metric(*inputs)
        if not math.isfinite(score):
            raise InvalidSubmissionError(
                f"{where} scores {score} on the {part} part: its predictions are too extreme "
                "for the metric. Write finite predictions of a sensible size."
            )
        found = bootstrap(layout.metric, *inputs) if interval else None
        return Graded(score, int(mask.sum()), copies, bootstrap=found, copy_share=share)


def _auto_caveats(kind: LeaderboardKind, part: Part) -> list[str]:
    if kind == "reference":
        return [
            "The leaderboard is a reference pool (runs of fixed reference solutions), "
            "not human teams; rank and medals are relative to that pool."
        ]
    return [
        f"The leaderboard is Kaggle's; this score is on mledojo's own labelled test split "
        f"({part} part), so rank and medals are an approximation."
    ]


def report_for_score(
    spec: CompetitionSpec,
    score: float,
    *,
    leaderboard: Scores | Path | str | None = None,
    leaderboard_kind: LeaderboardKind | None = None,
    part: Part = "private",
    n_rows: int | None = None,
    copies_answers: bool = False,
    replicates: Bootstrap | None = None,
    copy_share: float | None = None,
) -> GradeReport:
    """A `GradeReport` for an already computed score (e.g. when re-ranking stored results).

    Given the score's bootstrap `replicates`, the report carries its interval and, with a
    leaderboard, the probability of each medal.

    A score past the metric's `implausible_beyond`, a submission that `copies_answers`, or
    one whose `copy_share` is past the board's `copy_share_beyond` (a partial copy) makes
    the report `implausible`, with a caveat starting with "SUSPECT:" first. Medal positions
    use the board's real `teams`; a board with `medals: none` awards none.
    """
    past_ceiling = spec.metric.is_implausible(score)
    board_spec = spec.leaderboard
    caveats = list(board_spec.caveats) if board_spec else []
    if board_spec is not None and board_spec.medals != "informative":
        caveats.append(f"Medals {board_spec.medals}: {board_spec.medals_note or 'see the spec'}.")
    copy_limit = board_spec.copy_share_beyond if board_spec else None
    partial_copy = (
        not copies_answers
        and copy_share is not None
        and copy_limit is not None
        and copy_share > copy_limit
    )
    if partial_copy:
        caveats.insert(
            0,
            f"SUSPECT: {copy_share:.1%} of the {part} rows equal the hidden answers, past the "
            f"{copy_limit:.1%} no reference solution exceeds; part of the answers was most "
            "likely read (a leak, another data seed's files, or an escape from the sandbox).",
        )
    if past_ceiling:
        caveats.insert(
            0,
            f"SUSPECT: a {spec.metric.name} of {score:.6g} is past "
            f"{spec.metric.implausible_beyond:g}, beyond the reach of an honest solution for "
            "this competition; it most likely exploits a known leak (see the caveats below).",
        )
    if copies_answers:
        rows = f" ({n_rows:,} rows)" if n_rows is not None else ""
        caveats.insert(
            0,
            f"SUSPECT: the submission reproduces the hidden answers exactly on the {part} "
            f"part{rows}; no honest model does, so it most likely read them (a leak of the "
            "answers or an escape from the sandbox).",
        )
    implausible = past_ceiling or copies_answers or partial_copy
    base = GradeReport(
        competition=spec.id,
        score=float(score),
        part=part,
        metric=spec.metric.name,
        higher_is_better=spec.metric.higher_is_better,
        n_rows=n_rows,
        implausible=implausible,
        copies_answers=copies_answers,
        copy_share=copy_share,
        medals_status=board_spec.medals if board_spec else None,
        caveats=caveats,
        interval=None if replicates is None else (replicates.lo, replicates.hi),
    )
    if leaderboard is None:
        return base.model_copy(update={"caveats": [*base.caveats, "No leaderboard given."]})
    scores = load_leaderboard(leaderboard) if isinstance(leaderboard, str | Path) else leaderboard
    kind: LeaderboardKind = leaderboard_kind or (
        spec.leaderboard.kind if spec.leaderboard else "reference"
    )
    placed = rank_score(
        score,
        scores,
        spec.metric.higher_is_better,
        teams=board_spec.teams if board_spec else None,
        medals=board_spec is None or board_spec.medals != "none",
    )
    return GradeReport.model_validate(
        {
            **base.model_dump(),
            "leaderboard_kind": kind,
            "n_entries": placed.n_entries,
            "human_rank": placed.human_rank,
            "medal": placed.medal,
            "above_median": placed.above_median,
            "thresholds": placed.thresholds,
            "caveats": [*base.caveats, *_auto_caveats(kind, part)],
            "medal_probabilities": None
            if replicates is None
            else medal_probabilities(replicates.scores, placed.thresholds, spec.metric),
        }
    )


def grade_report(
    spec: CompetitionSpec,
    submission: pd.DataFrame | Path | str,
    answers: pd.DataFrame,
    *,
    leaderboard: Scores | Path | str | None = None,
    leaderboard_kind: LeaderboardKind | None = None,
    part: Part = "private",
    max_bytes: int | None = None,
    display_name: str | None = None,
    interval: bool = True,
) -> GradeReport:
    """Grade a submission and place the score on `leaderboard` (scores or a board CSV).

    With `interval` (the default) the report carries the score's bootstrap 95 % interval
    and medal probabilities (`grading.intervals`; about 2 s more on a million rows).

    Pass the board matching `part` (Kaggle's private board for `private`). The kind
    defaults to the spec's `leaderboard.kind`, else `reference`. The score is exact; see
    `Scorer.score` for the rounded public feedback.
    """
    graded = score_submission(
        spec,
        submission,
        answers,
        part=part,
        max_bytes=max_bytes,
        display_name=display_name,
        interval=interval,
    )
    return report_for_score(
        spec,
        graded.score,
        leaderboard=leaderboard,
        leaderboard_kind=leaderboard_kind,
        part=part,
        n_rows=graded.n_rows,
        copies_answers=graded.copies_answers,
        replicates=graded.bootstrap,
        copy_share=graded.copy_share,
    )
