"""`Scorer`: one prepared competition's answers and leaderboards, loaded once, graded often."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
import pandas as pd

from mledojo.competition import Competition
from mledojo.errors import GradingError
from mledojo.grading.boards import load_leaderboard
from mledojo.grading.scoring import (
    GradeReport,
    Part,
    public_score,
    report_for_score,
    score_submission,
)
from mledojo.grading.validate import (
    answer_keys,
    max_submission_bytes,
    submission_layout,
    validate_submission,
)

if TYPE_CHECKING:
    from mledojo.data.prepare import PreparedData


class Scorer:
    """Grades submissions of one prepared competition on the host (never in a sandbox).

    `max_bytes` defaults to `max_submission_bytes(spec, len(answers))`: a cap proportional
    to the test set, so a huge (or sparse) file is refused before it is read.
    """

    def __init__(
        self, competition: Competition, data: PreparedData, *, max_bytes: int | None = None
    ) -> None:
        self.competition = competition
        self.data = data
        self.spec = competition.spec
        self.sample_path = data.sample_submission_path
        self.answers = load_answers(competition, data)
        answer_keys(self.spec, self.answers)  # blank or repeated ids: the benchmark's fault
        self.max_bytes = (
            max_submission_bytes(self.spec, len(self.answers)) if max_bytes is None else max_bytes
        )
        board = self.spec.leaderboard
        self._boards: dict[str, npt.NDArray[np.float64] | None] = {"private": None, "public": None}
        if board is not None:
            private = load_leaderboard(competition.path(board.private))
            public = load_leaderboard(competition.path(board.public)) if board.public else None
            self._boards = {"private": private, "public": public if public is not None else private}

    @property
    def metric_name(self) -> str:
        return self.spec.metric.name

    @property
    def higher_is_better(self) -> bool:
        return self.spec.metric.higher_is_better

    @property
    def expected_columns(self) -> list[str]:
        return submission_layout(self.spec).columns

    def better(self, a: float, b: float) -> bool:
        """Whether score `a` is strictly better than `b` (asks the metric spec)."""
        return self.spec.metric.better(a, b)

    def validate(self, submission: Path, *, display_name: str | None = None) -> None:
        """Raise `InvalidSubmissionError` when the file cannot be graded.

        Messages call the file `display_name` (default: its base name, never its host path).
        """
        validate_submission(
            self.spec,
            submission,
            self.answers,
            max_bytes=self.max_bytes,
            display_name=display_name,
        )

    def score(
        self,
        submission: Path,
        *,
        part: Part,
        display_name: str | None = None,
        interval: bool | None = None,
    ) -> GradeReport:
        """Grade on one part of the test set and place the score on the matching board.

        A `public` score is rounded to `PUBLIC_DECIMALS` (rank and medal follow the rounded
        value), so repeated public feedback cannot be mined for single rows; `private` and
        `all` scores are exact. Messages call the file `display_name` (default: base name).
        `interval` adds the bootstrap interval and medal probabilities (default: on the
        private and `all` parts, not on the public feedback an agent sees every step; a
        public interval is rounded like the score).
        """
        want = part != "public" if interval is None else interval
        graded = score_submission(
            self.spec,
            submission,
            self.answers,
            part=part,
            max_bytes=self.max_bytes,
            display_name=display_name,
            interval=want,
        )
        value, found = graded.score, graded.bootstrap
        if part == "public":
            value = public_score(value)
            if found is not None:
                found = found._replace(lo=public_score(found.lo), hi=public_score(found.hi))
        board = self._boards["public" if part == "public" else "private"]
        kind = self.spec.leaderboard.kind if self.spec.leaderboard else None
        return report_for_score(
            self.spec,
            value,
            leaderboard=board,
            leaderboard_kind=kind,
            part=part,
            n_rows=graded.n_rows,
            copies_answers=graded.copies_answers,
            replicates=found,
            # An exact-match share on the public part would be an oracle in the agent's
            # feedback (a guessed row moves it by 1/n); the copy check is the private grade's.
            copy_share=None if part == "public" else graded.copy_share,
        )


def load_answers(competition: Competition, data: PreparedData) -> pd.DataFrame:
    """`[id] + targets + usage` from the private folder.

    Answers stored one-hot (one column per class, as MLE-bench stores leaf-classification)
    are turned back into the label column the grader expects.
    """
    spec = competition.spec
    try:
        answers = pd.read_csv(data.answers_path)
        parts = pd.read_csv(data.parts_path)
    except (OSError, ValueError) as e:
        raise GradingError(
            f"cannot read the answers of {spec.id} in {data.private_dir}: {e}. "
            f"Run `mledojo prepare {spec.id} --force`."
        ) from e
    missing = [t for t in spec.targets if t not in answers.columns]
    if missing and spec.classes and set(spec.classes) <= set(answers.columns):
        answers[spec.targets[0]] = answers[list(spec.classes)].idxmax(axis=1)
        missing = [t for t in spec.targets if t not in answers.columns]
    if missing or spec.id_column not in answers.columns:
        raise GradingError(
            f"{data.answers_path}: expected columns {[spec.id_column, *spec.targets]}; "
            f"run `mledojo prepare {spec.id} --force`"
        )
    merged = answers[[spec.id_column, *spec.targets]].merge(
        parts, on=spec.id_column, how="left", validate="one_to_one"
    )
    if merged["usage"].isna().any():
        raise GradingError(f"{data.parts_path}: some test ids have no public/private part")
    return merged
