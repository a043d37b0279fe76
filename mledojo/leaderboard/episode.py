"""`BoardEpisode`: the one record the leaderboard, `compare` and the statistics read.

Its verification level says how far the board checked it; what the board cannot re-derive
(status, wall time, LLM usage, hardware, attempts) is named `reported_*`.

Loaded from an episode folder's `result.json` (schema v1 today; fields v1 lacks get neutral
defaults: budget class `default`, no LLM tokens or dollars, hardware `unknown`) and its
`trajectory.jsonl` (the anytime points). A later result schema is mapped onto the same
record, so nothing downstream changes when `result.json` grows.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from mledojo._files import write_text_atomic
from mledojo.artifacts import RESULT_FILE, EpisodeResult, EpisodeStatus
from mledojo.leaderboard._io import (
    MAX_RESULT_BYTES,
    LeaderboardError,
    find_files,
    iter_lines,
    read_text,
)

BOARD_EPISODE_SCHEMA_VERSION = 2
#: v1 names of the fields the board cannot re-derive, now prefixed `reported_`.
_V1_REPORTED = ("status", "llm_tokens", "llm_usd", "wall_time_s", "hardware", "attempts")
KNOWN_RESULT_SCHEMAS = (1, 2)
TRAJECTORY_FILE = "trajectory.jsonl"
BOARD_SUFFIX = ".board.jsonl"
DEFAULT_BUDGET_CLASS = "default"
MAX_NAME_CHARS = 200
#: Agent, competition and budget-class names: identifiers, never markup or links.
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9 ._+@/()=,-]*$"

BoardFlag = Literal["approximate", "truncated", "reference", "suspect"]
Part = Literal["public", "private"]
Level = Literal["self-reported", "reproduced", "live"]
#: Strongest first. `live` and `reproduced` are "verified"; `self-reported` is honour-based.
LEVELS: tuple[Level, ...] = ("live", "reproduced", "self-reported")
VERIFIED_LEVELS: tuple[Level, ...] = ("live", "reproduced")


class Verification(BaseModel):
    """How far the board checked an episode (docs/leaderboard.md, "Verification levels").

    `self-reported`: the bundle's stored submission re-graded on the private part; nothing
    shows the agent produced it. `reproduced`: the board re-executed the episode (agent,
    arguments, recorded LLM replies replayed, its own sandbox, the pinned data seed) and got
    the same submission bytes (`match: submission`) or one whose private score is within
    `tolerance` of the bundle's (`match: score`, `reproduced_private_score` beside it).
    `live`: the board re-ran the agent with its own model keys; the row's numbers are that run's.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    level: Level = "self-reported"
    match: Literal["submission", "score"] | None = None
    tolerance: float | None = Field(default=None, ge=0, allow_inf_nan=False)
    reproduced_private_score: float | None = Field(default=None, allow_inf_nan=False)

    @property
    def verified(self) -> bool:
        return self.level in VERIFIED_LEVELS

    @property
    def text(self) -> str:
        """The row's label: `self-reported`, `reproduced`, `reproduced (score ±0.001)`, `live`."""
        if self.level == "reproduced" and self.match == "score":
            return f"reproduced (score ±{self.tolerance:g})"
        return self.level


class AnytimePoint(BaseModel):
    """The best HumanRank an episode had reached after `elapsed_s` seconds and `usd` dollars."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    elapsed_s: float = Field(ge=0, allow_inf_nan=False)
    usd: float = Field(ge=0, allow_inf_nan=False)
    best_human_rank: float = Field(ge=0, le=1)
    part: Part = "public"


Finite = Annotated[float, Field(allow_inf_nan=False)]
Probability = Annotated[float, Field(ge=0, le=1)]


class MedalChances(BaseModel):
    """Share of an episode's bootstrap resamples at or past each medal's threshold."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    gold: Probability
    silver: Probability
    bronze: Probability


class BoardEpisode(BaseModel):
    """One (agent, competition, seed) episode as the leaderboard sees it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    schema_version: int = BOARD_EPISODE_SCHEMA_VERSION
    agent: str = Field(max_length=MAX_NAME_CHARS, pattern=NAME_PATTERN)
    competition: str = Field(max_length=MAX_NAME_CHARS, pattern=NAME_PATTERN)
    competition_version: int | None = None
    seed: int | None
    data_seed: int | None = Field(default=None, ge=0)
    """The data seed the episode ran on (None: not recorded, in entries written before)."""
    data_variant: str | None = Field(default=None, max_length=MAX_NAME_CHARS)
    """None on the evaluation split; a training variant's scheme (`training-3`) otherwise:
    the board refuses those (`mledojo.leaderboard.facts.off_evaluation_split`)."""
    reported_status: EpisodeStatus
    private_score: float | None = Field(default=None, allow_inf_nan=False)
    private_human_rank: float | None = Field(default=None, ge=0, le=1)
    medal: Literal["gold", "silver", "bronze"] | None = None
    above_median: bool | None = None
    leaderboard_kind: Literal["kaggle", "reference"] | None = None
    metric: str = ""
    higher_is_better: bool | None = None
    budget_class: str = Field(default=DEFAULT_BUDGET_CLASS, max_length=100, pattern=NAME_PATTERN)
    reported_llm_tokens: int = Field(default=0, ge=0)
    reported_llm_usd: float = Field(default=0.0, ge=0, allow_inf_nan=False)
    reported_wall_time_s: float = Field(default=0.0, ge=0, allow_inf_nan=False)
    reported_hardware: str = Field(default="unknown", max_length=MAX_NAME_CHARS)
    implausible: bool = False
    caveats: list[str] = Field(default_factory=list)
    anytime: list[AnytimePoint] = Field(default_factory=list)
    reported_attempts: int = Field(
        default=1, ge=1, description="plays of this episode (from `.attempt-*` folders)"
    )
    verification: Verification = Field(default_factory=Verification)
    source: str = Field(default="", description="where it was loaded from (for messages)")
    interval: tuple[Finite, Finite] | None = None
    """Bootstrap 95 % interval of `private_score` over the private rows (None: not given)."""
    medal_probabilities: MedalChances | None = None

    @field_validator("interval")
    @classmethod
    def _ordered(cls, v: tuple[float, float] | None) -> tuple[float, float] | None:
        if v is not None and v[0] > v[1]:
            raise ValueError("an interval's low end must not exceed its high end")
        return v

    @model_validator(mode="before")
    @classmethod
    def _from_v1(cls, data: object) -> object:
        """A v1 record (`status`, `wall_time_s`, ...): the same values, named as reported."""
        if isinstance(data, dict) and data.get("schema_version", 1) == 1:
            data = {(f"reported_{k}" if k in _V1_REPORTED else k): v for k, v in data.items()}
            data["schema_version"] = BOARD_EPISODE_SCHEMA_VERSION
        return data

    @field_validator("medal", mode="before")
    @classmethod
    def _no_medal(cls, v: object) -> object:
        return None if v == "none" else v

    @property
    def key(self) -> tuple[str, str, str, int | None]:
        """(budget class, agent, competition, seed): at most one episode per key."""
        return (self.budget_class, self.agent, self.competition, self.seed)

    @property
    def scored(self) -> bool:
        """Whether this episode earns its HumanRank (graded on the private part, not suspect)."""
        return self.private_human_rank is not None and not self.implausible

    @property
    def human_rank(self) -> float:
        """The HumanRank that counts: the private one, or 0 when ungraded or suspect."""
        if self.private_human_rank is None or self.implausible:
            return 0.0
        return self.private_human_rank

    @property
    def flags(self) -> list[BoardFlag]:
        """What the board this episode was ranked on is: approximate, truncated, reference."""
        out: list[BoardFlag] = []
        text = " ".join(self.caveats).lower()
        if self.leaderboard_kind == "kaggle" and "approximat" in text:
            out.append("approximate")
        if "truncated board" in text:
            out.append("truncated")
        if self.leaderboard_kind == "reference":
            out.append("reference")
        if self.implausible:
            out.append("suspect")
        return out


def _parse_json(text: str, where: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise LeaderboardError(f"{where}: not valid JSON ({e.msg} at line {e.lineno})") from e


def _problems(e: ValidationError) -> str:
    parts = []
    for err in e.errors()[:5]:
        loc = ".".join(str(p) for p in err["loc"]) or "(top level)"
        parts.append(f"field `{loc}`: {err['msg']}")
    return "; ".join(parts)


def _optional(data: dict[str, Any], key: str, default: Any) -> Any:
    value = data.get(key)
    return default if value is None else value


def from_result_dict(
    data: Any, *, source: str, anytime: list[AnytimePoint] | None = None
) -> BoardEpisode:
    """A `BoardEpisode` from a parsed `result.json` (schema v1; v2's extra fields if present)."""
    if not isinstance(data, dict):
        raise LeaderboardError(f"{source}: a result.json is a JSON object")
    version = data.get("schema_version")
    if version not in KNOWN_RESULT_SCHEMAS:
        raise LeaderboardError(
            f"{source}: result schema_version {version!r} is not one this mledojo reads "
            f"({', '.join(map(str, KNOWN_RESULT_SCHEMAS))}); upgrade mledojo or re-run the episode"
        )
    try:
        result = EpisodeResult.model_validate(data)
    except ValidationError as e:
        raise LeaderboardError(f"{source}: not a valid result.json: {_problems(e)}") from e
    final = result.final
    try:
        return BoardEpisode(
            agent=result.agent,
            competition=result.competition,
            competition_version=result.competition_version,
            seed=result.seed,
            data_seed=result.spec.data_seed if result.spec is not None else result.data_seed,
            data_variant=result.spec.data_variant if result.spec is not None else None,
            reported_status=result.status,
            private_score=final.private_score if final.graded else None,
            private_human_rank=final.private_human_rank if final.graded else None,
            medal=final.medal if final.graded else None,  # type: ignore[arg-type]
            above_median=final.above_median if final.graded else None,
            leaderboard_kind=final.leaderboard_kind,
            metric=result.metric,
            higher_is_better=result.higher_is_better,
            budget_class=(
                result.spec.budget_class
                if result.spec is not None
                else _optional(data, "budget_class", DEFAULT_BUDGET_CLASS)
            ),
            reported_llm_tokens=result.llm.tokens or _optional(data, "llm_tokens", 0),
            reported_llm_usd=result.llm.usd or _optional(data, "llm_usd", 0.0),
            reported_wall_time_s=result.wall_time_s,
            reported_hardware=_optional(data, "hardware", "unknown"),
            implausible=final.implausible,
            caveats=final.caveats,
            anytime=anytime or [],
            source=source,
            interval=final.interval if final.graded else None,
            medal_probabilities=(
                MedalChances.model_validate(final.medal_probabilities)
                if final.graded and final.medal_probabilities is not None
                else None
            ),
        )
    except ValidationError as e:
        raise LeaderboardError(f"{source}: {_problems(e)}") from e


def _step_llm(entry: dict[str, Any]) -> tuple[int, float]:
    """(tokens, dollars) a trajectory line reports under `llm`, else (0, 0)."""
    llm = entry.get("llm")
    if not isinstance(llm, dict):
        return 0, 0.0
    tokens, usd = llm.get("tokens", 0), llm.get("usd", 0.0)
    ok_tokens = isinstance(tokens, int) and not isinstance(tokens, bool) and tokens >= 0
    ok_usd = isinstance(usd, int | float) and not isinstance(usd, bool) and math.isfinite(usd)
    return (tokens if ok_tokens else 0), (float(usd) if ok_usd and usd >= 0 else 0.0)


def _finite_time(value: object) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


def anytime_points(path: Path) -> list[AnytimePoint]:
    """Best public HumanRank against wall time and dollars, from a `trajectory.jsonl`.

    One point per improvement, plus one at the last step, so a curve runs to the episode's
    end. Wall time counts from the `reset` line; dollars add up each step's `llm.usd`.
    """
    points: list[AnytimePoint] = []
    t0: float | None = None
    usd, best, last_t = 0.0, 0.0, 0.0
    for number, line in iter_lines(path):
        entry = _parse_json(line, f"{path}:{number}")
        if not isinstance(entry, dict):
            raise LeaderboardError(f"{path}:{number}: a trajectory line is a JSON object")
        stamp = _finite_time(entry.get("time"))
        if stamp is None:
            raise LeaderboardError(f"{path}:{number}: field `time` is missing or not a number")
        t0 = stamp if t0 is None else t0
        last_t = max(last_t, stamp - t0)
        usd += _step_llm(entry)[1]
        obs = entry.get("obs")
        hr = obs.get("best_public_human_rank") if isinstance(obs, dict) else None
        if isinstance(hr, int | float) and not isinstance(hr, bool) and 0 <= hr <= 1 and hr > best:
            best = float(hr)
            points.append(AnytimePoint(elapsed_s=last_t, usd=usd, best_human_rank=best))
    if t0 is not None:
        points.append(AnytimePoint(elapsed_s=last_t, usd=usd, best_human_rank=best))
    return points


def load_episode(result_path: Path) -> BoardEpisode:
    """The episode whose `result.json` is `result_path` (its trajectory beside it, if any)."""
    text = read_text(result_path, max_bytes=MAX_RESULT_BYTES)
    data = _parse_json(text, str(result_path))
    trajectory = result_path.parent / TRAJECTORY_FILE
    points = anytime_points(trajectory) if trajectory.exists() or trajectory.is_symlink() else []
    return from_result_dict(data, source=str(result_path), anytime=points)


def load_jsonl(path: Path) -> list[BoardEpisode]:
    """`BoardEpisode` records, one JSON object a line (the form `leaderboard submit` may store)."""
    out = []
    for number, line in iter_lines(path):
        where = f"{path}:{number}"
        data = _parse_json(line, where)
        if isinstance(data, dict):
            data = {**data, "source": where}
        try:
            out.append(BoardEpisode.model_validate(data))
        except ValidationError as e:
            raise LeaderboardError(f"{where}: not a BoardEpisode: {_problems(e)}") from e
    return out


def save_jsonl(episodes: list[BoardEpisode], path: Path) -> Path:
    """Write episodes as a `*.board.jsonl` file (atomically), the form `load_episodes` finds."""
    if not path.name.endswith(BOARD_SUFFIX):
        raise LeaderboardError(f"{path}: a board entry file is named `*{BOARD_SUFFIX}`")
    lines = [ep.model_dump_json(exclude={"source"}) for ep in episodes]
    return write_text_atomic(path, "".join(line + "\n" for line in lines))


def load_episodes(sources: list[Path]) -> list[BoardEpisode]:
    """Every episode under the given folders (their `result.json` files) and `.jsonl` files."""
    episodes: list[BoardEpisode] = []
    for src in sources:
        if src.is_file() and src.name.endswith(".jsonl"):
            episodes.extend(load_jsonl(src))
        elif src.is_file() and src.name == RESULT_FILE:
            episodes.append(load_episode(src))
        elif src.is_dir() and not src.is_symlink():
            for path in find_files(src, lambda n: n == RESULT_FILE or n.endswith(BOARD_SUFFIX)):
                if path.name == RESULT_FILE:
                    episodes.append(load_episode(path))
                else:
                    episodes.extend(load_jsonl(path))
        elif not (src.exists() or src.is_symlink()):
            raise LeaderboardError(
                f"{src}: no such file or folder (run from the repository root, submit entries "
                "with `mledojo leaderboard submit`, or pass --source)"
            )
        else:
            raise LeaderboardError(
                f"{src}: give a run folder, a submissions folder, a result.json or a "
                "*.board.jsonl file (symlinks are not followed)"
            )
    return episodes
