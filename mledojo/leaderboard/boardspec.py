"""The board spec (`leaderboard/board.yaml`): what the board accepts, pinned.

Per budget class: the episode seeds, and for each competition its version and data seed,
the budget and resource overrides (applied on the pinned version's defaults, as
`mledojo bench --max-steps ...` applies them), the reward mode, the sandbox (docker) and
the tolerance `leaderboard reproduce` allows between a bundle's private score and the
board's re-execution when the submissions differ. `leaderboard submit` refuses an episode
whose spec is outside it and names the field; `leaderboard build --spec` reads the
competitions and seeds each class expects.

The board is about evaluation splits only (docs/scoring.md): a pinned data seed must be its
competition's evaluation seed (`split.seed`), and an episode on a training variant
(`data_variant` set, or another data seed) is refused, since a variant's scores say nothing
about the evaluation split and its answers were never hidden from the agent.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from mledojo.competition import get_competition
from mledojo.leaderboard._io import MAX_RESULT_BYTES, LeaderboardError, read_text
from mledojo.leaderboard.stats import BoardSpec
from mledojo.spec import (
    BUDGET_FIELDS,
    RESOURCE_FIELDS,
    Budget,
    EpisodeSpec,
    Resources,
    budget_class,
)

BOARD_SPEC_SCHEMA_VERSION = 1
DEFAULT_BOARD_FILE = Path("leaderboard/board.yaml")


class PinnedCompetition(BaseModel):
    """One competition of a class: its id, the version and the data seed the board takes."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$", max_length=100)
    version: int = Field(ge=1)
    data_seed: int = Field(ge=0)

    @property
    def versioned_id(self) -> str:
        return f"{self.id}-v{self.version}"


class BoardClass(BaseModel):
    """One budget class of the board: every agent runs every competition with every seed."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    seeds: list[int] = Field(min_length=1)
    competitions: list[PinnedCompetition] = Field(min_length=1)
    budget: dict[str, Any] = Field(default_factory=dict)
    resources: dict[str, Any] = Field(default_factory=dict)
    reward: str = "final_only"
    sandbox: Literal["docker"] = "docker"
    reproduce_tolerance: float = Field(
        default=0.0, ge=0, allow_inf_nan=False, description="absolute private-score tolerance"
    )

    @field_validator("budget")
    @classmethod
    def _budget_fields(cls, v: dict[str, Any]) -> dict[str, Any]:
        return _known(v, BUDGET_FIELDS, "budget")

    @field_validator("resources")
    @classmethod
    def _resource_fields(cls, v: dict[str, Any]) -> dict[str, Any]:
        return _known(v, RESOURCE_FIELDS, "resources")

    def pinned(self, competition_id: str) -> PinnedCompetition | None:
        return next((c for c in self.competitions if c.id == competition_id), None)

    def expected_budget(self, pin: PinnedCompetition) -> Budget:
        spec = get_competition(pin.versioned_id).spec
        return Budget.model_validate({**spec.budget.model_dump(), **self.budget})

    def expected_resources(self, pin: PinnedCompetition) -> Resources:
        spec = get_competition(pin.versioned_id).spec
        return Resources.model_validate({**spec.resources.model_dump(), **self.resources})

    @property
    def budget_class(self) -> str:
        return budget_class(self.expected_budget(self.competitions[0]))


def evaluation_seed(versioned_id: str) -> int:
    """The data seed of a competition version's evaluation split (its `split.seed`)."""
    return get_competition(versioned_id).spec.split.seed


def off_evaluation_split(spec: EpisodeSpec, where: str) -> list[str]:
    """Why an episode is not on its competition's evaluation split (empty: it is), by field."""
    reasons = []
    if spec.data_variant is not None:
        reasons.append(
            f"{where}: data_variant {spec.data_variant!r}: a training variant; the board takes "
            "episodes on the evaluation split only (data_variant null)"
        )
    if spec.mode != "evaluation":
        reasons.append(
            f"{where}: mode {spec.mode!r}: the agent was shown its private score; the board "
            "takes evaluation-mode episodes only (mode evaluation, the evaluation split's default)"
        )
    seed = evaluation_seed(spec.competition)
    if spec.data_seed != seed:
        reasons.append(
            f"{where}: data_seed {spec.data_seed} is a training variant of {spec.competition}: "
            f"the board takes its evaluation split, data seed {seed}"
        )
    return reasons


def _known(values: dict[str, Any], fields: tuple[str, ...], where: str) -> dict[str, Any]:
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise ValueError(f"unknown {where} field(s) {unknown}; known: {', '.join(fields)}")
    return values


class BoardFile(BaseModel):
    """`leaderboard/board.yaml`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    schema_version: Literal[1] = 1
    classes: list[BoardClass] = Field(min_length=1)

    def stats_specs(self) -> list[BoardSpec]:
        """What `leaderboard build` expects per budget class (competitions x seeds)."""
        return [
            BoardSpec(
                budget_class=c.budget_class,
                competitions=[p.id for p in c.competitions],
                seeds=list(c.seeds),
            )
            for c in self.classes
        ]

    def class_of(self, budget_class_name: str) -> BoardClass | None:
        return next((c for c in self.classes if c.budget_class == budget_class_name), None)

    def check_episode(self, spec: EpisodeSpec, where: str) -> list[str]:
        """Why the board refuses an episode of this spec (empty: it is pinned), field by field."""
        comp = get_competition(spec.competition).spec
        candidates = [c for c in self.classes if c.pinned(comp.id) is not None]
        if not candidates:
            pinned = sorted({p.id for c in self.classes for p in c.competitions})
            return [f"{where}: competition {comp.id} is not on the board (it pins {pinned})"]
        cls = next((c for c in candidates if c.budget_class == spec.budget_class), candidates[0])
        pin = cls.pinned(comp.id)
        if pin is None:  # unreachable: candidates pin it
            return [f"{where}: competition {comp.id} is not on the board"]
        if comp.version != pin.version:
            return [
                f"{where}: {comp.id} version {comp.version} is not pinned: the board accepts "
                f"v{pin.version}"
            ]
        name = f"{pin.id} v{pin.version}"
        reasons = off_evaluation_split(spec, where)
        if spec.data_seed != pin.data_seed and not reasons:
            reasons.append(
                f"{where}: data_seed {spec.data_seed} is not pinned for {name}: the board "
                f"accepts {pin.data_seed}"
            )
        if spec.seed not in cls.seeds:
            reasons.append(
                f"{where}: seed {spec.seed} is not pinned for {name}: the board accepts "
                f"{', '.join(map(str, cls.seeds))}"
            )
        for field, have, want in (
            ("sandbox", spec.sandbox, cls.sandbox),
            ("reward", spec.reward, cls.reward),
        ):
            if have != want:
                reasons.append(f"{where}: {field} {have!r} for {name}: the board pins {want!r}")
        for group, have_model, want_model in (
            ("budget", spec.budget, cls.expected_budget(pin)),
            ("resources", spec.resources, cls.expected_resources(pin)),
        ):
            have_d, want_d = have_model.model_dump(), want_model.model_dump()
            for field in sorted(want_d):
                if have_d[field] != want_d[field]:
                    reasons.append(
                        f"{where}: {group}.{field} is {have_d[field]} for {name}: the board "
                        f"pins {want_d[field]}"
                    )
        return reasons


def _first_problem(e: ValidationError) -> str:
    first = e.errors()[0]
    loc = ".".join(str(p) for p in first["loc"]) or "(top level)"
    return f"field `{loc}`: {first['msg']}"


def load_board_file(path: Path) -> BoardFile:
    """Read and check a board spec; every class must resolve to one budget class."""
    text = read_text(path, max_bytes=MAX_RESULT_BYTES)
    try:
        board = BoardFile.model_validate(yaml.safe_load(text))
    except yaml.YAMLError as e:
        raise LeaderboardError(f"{path}: not valid YAML: {e}") from e
    except ValidationError as e:
        raise LeaderboardError(f"{path}: {_first_problem(e)}") from e
    seen: dict[str, int] = {}
    for i, cls in enumerate(board.classes):
        names = {}
        for pin in cls.competitions:
            try:
                names[pin.versioned_id] = budget_class(cls.expected_budget(pin))
                seed = evaluation_seed(pin.versioned_id)
            except Exception as e:  # an unknown competition or version, a bad budget value
                raise LeaderboardError(f"{path}: classes[{i}] {pin.versioned_id}: {e}") from e
            if pin.data_seed != seed:
                raise LeaderboardError(
                    f"{path}: classes[{i}] {pin.versioned_id}: data_seed {pin.data_seed} is a "
                    f"training variant; pin the evaluation split's data seed, {seed}"
                )
        if len(set(names.values())) > 1:
            raise LeaderboardError(
                f"{path}: classes[{i}]: its competitions resolve to different budget classes "
                f"({names}); pin the differing budget fields in the class's `budget`"
            )
        name = next(iter(names.values()))
        if name in seen:
            raise LeaderboardError(
                f"{path}: classes[{i}] and classes[{seen[name]}] are both budget class {name}"
            )
        seen[name] = i
    return board
