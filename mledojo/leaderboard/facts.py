"""What the board reads from a competition's own metadata: medal status, ceiling, data seed.

The board never trusts an episode's record for these (docs/leaderboard.md, "Medals and
suspect results"): a result written before a ceiling existed, or a hand-made
`.board.jsonl`, says `implausible: false` whatever its score; the board re-checks the score
against the competition's `metric.implausible_beyond`, and takes the medal status
(`leaderboard.medals`) from the competition, not from the episode. Nor does it take an
episode on a training variant: only the evaluation split's data seed (`split.seed`) counts.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from pydantic import BaseModel, ConfigDict

from mledojo.competition import Catalogue, MedalStatus, discover
from mledojo.errors import MLEDojoError
from mledojo.leaderboard.episode import BoardEpisode

MEDAL_RATE_STATUSES: tuple[MedalStatus, ...] = ("informative", "indicative")
"""Competitions whose medals count in an agent's medal rates; `uninformative` ones are
reported apart and `none` ones award no medal."""


class CompetitionFacts(BaseModel):
    """One competition version's medal status, implausibility ceiling and evaluation seed."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    medals: MedalStatus = "informative"
    implausible_beyond: float | None = None
    higher_is_better: bool = True
    evaluation_seed: int | None = None
    """The data seed of the evaluation split (None: not checked)."""

    def past_ceiling(self, score: float) -> bool:
        """Whether `score` lies past the ceiling in the better direction."""
        if self.implausible_beyond is None:
            return False
        if self.higher_is_better:
            return score > self.implausible_beyond
        return score < self.implausible_beyond


def _lookup(catalogue: Catalogue, competition: str, version: int | None) -> CompetitionFacts | None:
    wanted = f"{competition}-v{version}" if version is not None else competition
    try:
        spec = catalogue.get(wanted).spec
    except MLEDojoError:
        return None  # a competition this install does not know: nothing to re-check
    board = spec.leaderboard
    return CompetitionFacts(
        medals=board.medals if board is not None else "none",
        implausible_beyond=spec.metric.implausible_beyond,
        higher_is_better=spec.metric.higher_is_better,
        evaluation_seed=spec.split.seed,
    )


def installed_facts(
    episodes: Iterable[BoardEpisode],
) -> dict[tuple[str, int | None], CompetitionFacts]:
    """The facts of every (competition, version) among `episodes`, from the installed
    competitions; one the install does not know is left out."""
    catalogue = discover()
    out: dict[tuple[str, int | None], CompetitionFacts] = {}
    for key in sorted({(e.competition, e.competition_version) for e in episodes}, key=str):
        found = _lookup(catalogue, *key)
        if found is not None:
            out[key] = found
    return out


def recheck(
    episode: BoardEpisode, facts: Mapping[tuple[str, int | None], CompetitionFacts]
) -> BoardEpisode:
    """The episode, marked implausible when its private score is past its competition's
    ceiling (whatever its record says), with the reason as its first caveat."""
    known = facts.get((episode.competition, episode.competition_version))
    score = episode.private_score
    if known is None or score is None or episode.implausible or not known.past_ceiling(score):
        return episode
    reason = (
        f"SUSPECT (board): a private score of {score:.6g} is past the competition's ceiling "
        f"{known.implausible_beyond:g}; counted as HumanRank 0, no medal."
    )
    return episode.model_copy(update={"implausible": True, "caveats": [reason, *episode.caveats]})


def off_evaluation_split(
    episode: BoardEpisode, facts: Mapping[tuple[str, int | None], CompetitionFacts]
) -> str | None:
    """Why the board refuses an episode as not on its evaluation split (None: it takes it).

    A recorded `data_variant` is a training variant; so is a recorded data seed other than
    the installed competition's evaluation seed. An entry that records neither (written
    before they were recorded) is taken.
    """
    where = f"{episode.source or episode.agent}: {episode.competition} seed {episode.seed}"
    if episode.data_variant is not None:
        return (
            f"{where}: data_variant {episode.data_variant!r} is a training variant; the board "
            "takes the evaluation split only"
        )
    known = facts.get((episode.competition, episode.competition_version))
    seed = None if known is None else known.evaluation_seed
    if seed is not None and episode.data_seed is not None and episode.data_seed != seed:
        return (
            f"{where}: data_seed {episode.data_seed} is a training variant; the board takes "
            f"the evaluation split, data seed {seed}"
        )
    return None
