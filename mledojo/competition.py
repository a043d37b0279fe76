"""Competition specs (`competitions/<id>/competition.yaml`) and their discovery.

A competition is a folder holding `competition.yaml`, `description.md` and optional
helpers (`generate.py`, `prepare.py`, leaderboard CSVs, `checksums.yaml`, `SOURCE.md`).
Folders come from the built-in `competitions/` directory, from every folder named in
`MLEDOJO_COMPETITIONS_PATH` (os.pathsep-separated) and from the entry-point group
`mledojo.competitions` (each entry point returns a folder path). A broken folder never
hides the others: it is reported beside them.
"""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Annotated, Literal, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from mledojo.errors import CompetitionNotFoundError, SpecError
from mledojo.spec import Budget, Resources, split_limits

SPEC_FILE = "competition.yaml"
ENV_PATH_VAR = "MLEDOJO_COMPETITIONS_PATH"
ID_RE = re.compile(r"^(?P<name>[a-z0-9][a-z0-9-]*?)(?:-v(?P<version>\d+))?$")

T = TypeVar("T")

TaskType = Literal[
    "binary",
    "multiclass",
    "multi_label",
    "regression",
    "multi_target_regression",
    "ordinal",
    "technique",
]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MetricSpec(_Model):
    """The competition's metric; the direction is declared, never inferred.

    `implausible_beyond`: a score past this value (in the better direction) is out of reach
    of an honest solution, for example because it needs a known leak; graded reports flag
    such scores instead of celebrating them.
    """

    name: str
    higher_is_better: bool
    implausible_beyond: float | None = Field(default=None, allow_inf_nan=False)

    def better(self, a: float, b: float) -> bool:
        """Whether score `a` is strictly better than `b` in the metric's direction.

        Why here: which score is better was decided in seven places; the direction is the
        metric's, so every comparison of two scores asks its spec.
        """
        return a > b if self.higher_is_better else a < b

    def at_or_past(self, score: float, threshold: float) -> bool:
        """Whether `score` reaches `threshold` (equal counts) in the better direction."""
        return score >= threshold if self.higher_is_better else score <= threshold

    def gain(self, new: float, old: float) -> float:
        """How much `new` improves on `old`, in the metric's units (negative when worse)."""
        return new - old if self.higher_is_better else old - new

    def sort_key(self, score: float) -> float:
        """A key that sorts scores best first in ascending order (`sorted(key=...)`)."""
        return -score if self.higher_is_better else score

    def best(self, scores: Iterable[float]) -> float | None:
        """The best of `scores`, or None when there are none."""
        return self.best_by(scores, lambda s: s)

    def best_by(self, items: Iterable[T], score: Callable[[T], float]) -> T | None:
        """The item whose `score(item)` is best (the first one on ties), None when empty."""
        return min(items, key=lambda item: self.sort_key(score(item)), default=None)

    def is_implausible(self, score: float) -> bool:
        """Whether `score` lies past `implausible_beyond` in the better direction."""
        if self.implausible_beyond is None:
            return False
        return self.better(score, self.implausible_beyond)


class GeneratorSource(_Model):
    """Data made by `generate(seed) -> DataFrame` in a file of the competition folder."""

    kind: Literal["generator"]
    file: str = "generate.py"


class KaggleSource(_Model):
    """Data downloaded with the `kaggle` package (or imported from a local copy)."""

    kind: Literal["kaggle"]
    competition: str
    files: list[str] = Field(default_factory=lambda: ["train.csv"])

    @field_validator("competition")
    @classmethod
    def _slug(cls, v: str) -> str:
        if not re.fullmatch(r"[a-z0-9][a-z0-9-]*", v):
            raise ValueError("must be a Kaggle competition slug: lowercase letters, digits, dashes")
        return v


class LocalSource(_Model):
    """Data from a folder of CSV files inside the competition folder.

    A data folder elsewhere on the host is the user's choice, not the folder's: pass it as
    `--raw-dir` (or `raw_dir=`), never as an absolute `path` (docs/adding-a-competition.md).
    """

    kind: Literal["local"]
    path: str
    files: list[str] = Field(default_factory=lambda: ["train.csv"])


SourceSpec = Annotated[GeneratorSource | KaggleSource | LocalSource, Field(discriminator="kind")]


class SplitSpec(_Model):
    """How the labelled table becomes train / test, and test becomes public / private parts.

    `random` reproduces `sklearn.model_selection.train_test_split(test_size, random_state)`
    exactly (MLE-bench's recipe). The data seed replaces `seed` when one is given.
    """

    kind: Literal["random", "stratified", "time", "group"] = "random"
    test_size: float = Field(default=0.2, gt=0, lt=1)
    public_fraction: float = Field(default=0.3, gt=0, lt=1)
    seed: int = 0
    time_column: str | None = None
    group_column: str | None = None
    stratify_column: str | None = None

    @model_validator(mode="after")
    def _columns_for_kind(self) -> SplitSpec:
        needed = {"time": "time_column", "group": "group_column"}
        col = needed.get(self.kind)
        if col and getattr(self, col) is None:
            raise ValueError(f"split.kind `{self.kind}` needs `split.{col}`")
        return self


MedalStatus = Literal["informative", "indicative", "uninformative", "none"]
"""What a medal on a competition's board means (docs/scoring.md, "Medals and implausibility"):
`informative`; `indicative` (the private part is too small for the medal bands);
`uninformative` (a plain reference solution beats the best honest entry: kept out of the
board's medal rates); `none` (no medals are awarded)."""


class LeaderboardSpec(_Model):
    """Leaderboard files of the competition folder, what kind of entries they hold, and what
    its medals and scores can mean (docs/scoring.md, "Medals and implausibility")."""

    kind: Literal["kaggle", "reference"]
    private: str
    public: str | None = None
    source_note: str = ""
    caveats: list[str] = Field(default_factory=list)
    teams: int | None = Field(default=None, ge=1)
    """The real number of teams when the board file lists only the top of the field (a
    truncated board): medal positions are taken with this N, never the file's row count."""
    medals: MedalStatus = "informative"
    """As the leak audit measures it (`mledojo.grading.audit`); `none` is declared."""
    medals_note: str = ""
    """Why the medals are not plainly informative: the audit's measurement, in words."""
    honest_below: float | None = Field(default=None, allow_inf_nan=False)
    """Board scores at or past this (in the better direction) are cheats, not honest
    entries (titanic's public test labels); None: only the metric's perfect score is."""
    copy_share_beyond: float | None = Field(default=None, gt=0, le=1)
    """A submission whose share of rows equal to the answers is past this is a partial copy
    (flagged implausible): above what any reference solution reaches."""


class CaseLayout(_Model):
    """A test set of prediction cases: each test row is one case, and its past (the case's
    own earlier rows, keyed by the case column) is in the public file `history`."""

    history: str = "history.csv"
    case_column: str | None = None
    """The key of a case in both files; default: the competition's `id_column`."""

    @field_validator("history")
    @classmethod
    def _bare_name(cls, v: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9_.-]+\.csv", v) or v.startswith("."):
            raise ValueError("must be a file name in the public folder, such as history.csv")
        return v


class CompetitionSpec(_Model):
    """Everything needed to prepare, run and grade one competition."""

    id: str
    version: int = Field(ge=1)
    title: str
    task: TaskType
    metric: MetricSpec
    target: str | list[str]
    id_column: str
    source: SourceSpec
    split: SplitSpec = Field(default_factory=SplitSpec)
    leaderboard: LeaderboardSpec | None = None
    budget: Budget = Field(default_factory=Budget)
    resources: Resources = Field(default_factory=Resources)
    description: str = "description.md"
    prepare: str | None = None
    tags: list[str] = Field(default_factory=list)
    classes: list[str] | None = None
    submission_columns: list[str] | None = None
    cases: CaseLayout | None = None
    """Set when the test set is prediction cases with a history file (pump-failure v2)."""
    strong_features: dict[str, str] = Field(default_factory=dict)
    """Public feature columns that predict the answer almost on their own by the data's own
    construction (s3e6: a price of about 100 x squareMeters), each with why. The leak audit
    lets such a column pass its near-copy check only when train.csv holds it and it is as
    strong there (docs/scoring.md, "Medals and implausibility")."""
    deprecated: str | None = None
    """Set on a superseded version: why, and which version to use instead (shown as a warning)."""

    @model_validator(mode="before")
    @classmethod
    def _legacy_limits(cls, data: object) -> object:
        """`limits:` (one flat mapping) is still read, as `budget:` plus `resources:`."""
        if isinstance(data, dict) and isinstance(data.get("limits"), dict):
            data = dict(data)
            parts = split_limits(data.pop("limits"))
            for key, part in parts.items():
                data[key] = {**part, **(data.get(key) or {})}
        return data

    @field_validator("id")
    @classmethod
    def _id_shape(cls, v: str) -> str:
        if not re.fullmatch(r"[a-z0-9][a-z0-9-]*", v) or re.search(r"-v\d+$", v):
            raise ValueError("must be lowercase letters, digits and dashes, without a -vN suffix")
        return v

    @property
    def targets(self) -> list[str]:
        """The target column(s) as a list."""
        return [self.target] if isinstance(self.target, str) else list(self.target)

    @property
    def versioned_id(self) -> str:
        """`<id>-v<version>`, the Gymnasium-style id."""
        return f"{self.id}-v{self.version}"


@dataclass(frozen=True)
class Competition:
    """A loaded spec and the folder it came from."""

    spec: CompetitionSpec
    folder: Path
    origin: str = "builtin"

    @property
    def id(self) -> str:
        return self.spec.id

    def path(self, relative: str) -> Path:
        """A file of the competition folder, resolved; refused if it resolves outside it.

        Loading already checked every declared path; this check again at use time covers a
        folder changed since (a file swapped for a symlink out of it).
        """
        resolved = resolve_inside(self.folder, relative)
        if resolved is None:
            raise SpecError(
                self.folder / SPEC_FILE,
                [
                    f"`{relative}` resolves outside the competition folder {self.folder}; "
                    "every file a competition names must be inside its folder"
                ],
                competition_id=self.spec.id,
            )
        return resolved

    def description_text(self) -> str:
        """The task description shown to agents."""
        return self.path(self.spec.description).read_text(encoding="utf-8")


@dataclass(frozen=True)
class Catalogue:
    """What discovery found: loadable competitions and broken folders."""

    competitions: dict[str, list[Competition]] = field(default_factory=dict)
    broken: list[SpecError] = field(default_factory=list)

    def ids(self) -> list[str]:
        return sorted(self.competitions)

    def latest(self) -> list[Competition]:
        return [max(v, key=lambda c: c.spec.version) for _, v in sorted(self.competitions.items())]

    def get(self, competition_id: str) -> Competition:
        """Resolve `name` (latest version) or `name-vN`; unknown ids suggest close ones.

        A broken file that claims `name` is raised rather than skipped when the latest
        version is asked for: it may be the latest, and an older one must not stand in.
        """
        ns_free = competition_id.split("/", 1)[-1]
        m = ID_RE.match(ns_free)
        known = [c.spec.versioned_id for v in self.competitions.values() for c in v]
        known += list(self.competitions)
        name = m.group("name") if m is not None else ns_free
        broken = [
            b
            for b in self.broken
            if b.competition_id == name
            or (b.competition_id is None and ns_free.startswith(Path(str(b.path)).parent.name))
        ]
        if m is None or name not in self.competitions:
            if broken:
                raise broken[0]
            raise CompetitionNotFoundError(competition_id, known)
        versions = self.competitions[name]
        if m.group("version") is None:
            if broken:
                raise broken[0]
            return max(versions, key=lambda c: c.spec.version)
        for c in versions:
            if c.spec.version == int(m.group("version")):
                return c
        raise CompetitionNotFoundError(competition_id, known)


def builtin_root() -> Path:
    """The built-in competitions folder: inside the wheel, else the source checkout."""
    here = Path(__file__).resolve().parent
    wheel = here / "_builtin" / "competitions"
    return wheel if wheel.is_dir() else here.parent / "competitions"


def _format_validation(err: ValidationError) -> list[str]:
    problems = []
    for e in err.errors():
        loc = ".".join(str(p) for p in e["loc"]) or "(top level)"
        problems.append(f"field `{loc}`: {e['msg']} (got {e.get('input')!r:.60})")
    return problems


def load_competition(folder: Path, origin: str = "builtin") -> Competition:
    """Load and check one competition folder; raise `SpecError` naming file and field."""
    spec_path = folder / SPEC_FILE
    try:
        raw = yaml.safe_load(spec_path.read_text(encoding="utf-8"))
    except FileNotFoundError as e:
        raise SpecError(spec_path, ["file not found; every competition folder needs one"]) from e
    except yaml.YAMLError as e:
        raise SpecError(spec_path, [f"not valid YAML: {e}"]) from e
    if not isinstance(raw, dict):
        raise SpecError(spec_path, ["expected a mapping of fields (id, version, title, ...)"])
    claimed = raw["id"] if isinstance(raw.get("id"), str) else None
    try:
        spec = CompetitionSpec.model_validate(raw)
    except ValidationError as e:
        raise SpecError(spec_path, _format_validation(e), competition_id=claimed) from e
    problems = _metric_problems(spec) + _path_problems(spec, folder)
    if problems:
        raise SpecError(spec_path, problems, competition_id=spec.id)
    return Competition(spec=spec, folder=folder, origin=origin)


def _metric_problems(spec: CompetitionSpec) -> list[str]:
    """The metric must be registered, with the direction it is registered with."""
    from mledojo.errors import GradingError
    from mledojo.grading.metrics import get_metric

    try:
        registered = get_metric(spec.metric.name)
    except GradingError as e:
        return [f"field `metric.name`: {e}"]
    if registered.higher_is_better != spec.metric.higher_is_better:
        return [
            f"field `metric.higher_is_better`: `{spec.metric.name}` is registered with "
            f"higher_is_better={registered.higher_is_better}"
        ]
    return []


def resolve_inside(folder: Path, relative: str) -> Path | None:
    """`folder / relative` with every symlink resolved, or None when that is not inside
    `folder` (an absolute path, a `..` escape, a symlink pointing out, a NUL byte)."""
    try:
        root = folder.resolve()
        if Path(relative).is_absolute():
            return None
        target = (root / relative).resolve()
    except (OSError, ValueError, RuntimeError):
        return None
    return target if target.is_relative_to(root) else None


def _declared_paths(spec: CompetitionSpec) -> list[tuple[str, str, Literal["file", "dir", "any"]]]:
    """Every path the spec names, relative to the competition folder: (field, path, kind)."""
    found: list[tuple[str, str, Literal["file", "dir", "any"]]] = [
        ("description", spec.description, "file")
    ]
    if spec.prepare:
        found.append(("prepare", spec.prepare, "file"))
    if spec.leaderboard is not None:
        found.append(("leaderboard.private", spec.leaderboard.private, "file"))
        if spec.leaderboard.public:
            found.append(("leaderboard.public", spec.leaderboard.public, "file"))
    src = spec.source
    if isinstance(src, GeneratorSource):
        found.append(("source.file", src.file, "file"))
    elif isinstance(src, LocalSource):
        found.append(("source.path", src.path, "dir"))
        for i, name in enumerate(src.files):
            found.append((f"source.files.{i}", os.path.join(src.path, name), "any"))
    return found


def _path_problems(spec: CompetitionSpec, folder: Path) -> list[str]:
    """Each declared path must resolve inside `folder`; named files must exist.

    A path out of the folder would let a downloaded competition copy any host file the
    user can read into the public data (and so to agents), or read it as a table.
    """
    problems = []
    for name, rel, kind in _declared_paths(spec):
        resolved = resolve_inside(folder, rel)
        if resolved is None:
            problems.append(
                f"field `{name}`: `{rel:.200}` resolves outside the competition folder "
                f"{folder} (absolute path, `..` or a symlink out); put the file inside the "
                "folder, or pass a data folder elsewhere with --raw-dir"
            )
        elif kind == "file" and not resolved.is_file():
            problems.append(f"field `{name}`: refers to `{rel}`, which is not a file in {folder}")
        elif kind == "dir" and not resolved.is_dir():
            problems.append(f"field `{name}`: refers to `{rel}`, which is not a folder in {folder}")
    if isinstance(spec.source, KaggleSource):
        for i, name in enumerate(spec.source.files):
            if Path(name).is_absolute() or ".." in Path(name).parts or "\0" in name:
                problems.append(
                    f"field `source.files.{i}`: `{name:.200}` must be a relative path inside "
                    "the Kaggle download (no absolute path, no `..`)"
                )
    return problems


def _candidate_roots(extra: Iterable[Path] = ()) -> list[tuple[Path, str]]:
    roots: list[tuple[Path, str]] = [(builtin_root(), "builtin")]
    for part in os.environ.get(ENV_PATH_VAR, "").split(os.pathsep):
        if part.strip():
            roots.append((Path(part).expanduser(), ENV_PATH_VAR))
    for ep in metadata.entry_points(group="mledojo.competitions"):
        try:
            target = ep.load()
            path = Path(target() if callable(target) else target)
        except Exception as e:  # a broken plug-in must not hide the others
            roots.append((Path(f"<entry point {ep.name}: {e}>"), "entry-point-error"))
            continue
        roots.append((path, f"entry point {ep.name}"))
    roots.extend((p, "extra") for p in extra)
    return roots


def _folders_under(root: Path) -> list[Path]:
    if (root / SPEC_FILE).is_file():
        return [root]
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir() if p.is_dir() and (p / SPEC_FILE).is_file())


_catalogue: tuple[object, Catalogue] | None = None


def discover(extra_roots: Iterable[Path] = ()) -> Catalogue:
    """Find every competition; broken folders are collected, not raised.

    The catalogue is cached in the process and rebuilt when a root, a competition folder's
    entries or its `competition.yaml` changed (a bench plan resolves each competition of
    the bench, `make()` is called in loops: loading and checking every spec each time cost
    more than the lookups).
    """
    global _catalogue
    roots = _candidate_roots(extra_roots)
    key = (roots, [_stamp(f) for root, _ in roots for f in _folders_under(root)])
    if _catalogue is not None and _catalogue[0] == key:
        return _catalogue[1]
    catalogue = _discover(roots)
    _catalogue = (key, catalogue)
    return catalogue


def _stamp(folder: Path) -> tuple[str, int, int, int]:
    """What changes when a competition folder or its spec file changes."""
    try:
        spec = (folder / SPEC_FILE).stat()
        return (str(folder), folder.stat().st_mtime_ns, spec.st_mtime_ns, spec.st_size)
    except OSError:
        return (str(folder), -1, -1, -1)


def _discover(roots: list[tuple[Path, str]]) -> Catalogue:
    found: dict[str, list[Competition]] = {}
    broken: list[SpecError] = []
    for root, origin in roots:
        if origin == "entry-point-error":
            broken.append(SpecError(root, ["the entry point failed to load"]))
            continue
        if origin != "builtin" and not root.exists():
            broken.append(SpecError(root, [f"folder named by {origin} does not exist"]))
            continue
        for folder in _folders_under(root):
            try:
                comp = load_competition(folder, origin)
            except SpecError as e:
                broken.append(e)
                continue
            versions = found.setdefault(comp.id, [])
            if any(c.spec.version == comp.spec.version for c in versions):
                continue  # first root wins: built-ins, then the env var, then plug-ins
            versions.append(comp)
    return Catalogue(competitions=found, broken=broken)


class CompetitionDeprecatedWarning(UserWarning):
    """A deprecated competition version was loaded; its message names the replacement."""


def get_competition(competition_id: str) -> Competition:
    """Resolve one id (`name`, `name-vN` or `mledojo/name-vN`); warn if it is deprecated."""
    comp = discover().get(competition_id)
    _warn_deprecated(comp)
    return comp


def load_one(competition_id: str) -> Competition:
    """One competition (`name`, `name-vN` or `mledojo/name-vN`), loading and checking only
    the folder of that version, not the whole catalogue.

    What a resolver needs for one name (a bench plan, `mledojo run`, `make()`, a bench
    worker's spec): the same competition `get_competition` gives, as `discover` would pick
    it (the first root holding a version wins; no version asked: the highest one claimed).
    The other folders' `id` and `version` are read, not checked. Anything else (no such
    name or version, a broken or unreadable folder that may be this name's) goes through
    `get_competition`, whose errors name the known ids and the broken file.
    """
    ns_free = competition_id.split("/", 1)[-1]
    m = ID_RE.match(ns_free)
    if m is None:
        return get_competition(competition_id)
    name, asked = m.group("name"), m.group("version")
    found: dict[int, tuple[Path, str]] = {}  # version -> its first folder, in roots' order
    for root, origin in _candidate_roots():
        if origin == "entry-point-error":
            continue
        for folder in _folders_under(root):
            claimed, version = _claims(folder)
            if claimed is None and ns_free.startswith(folder.name):
                return get_competition(competition_id)  # unreadable: the catalogue reports it
            if claimed == name and version is None:
                return get_competition(competition_id)  # broken: the catalogue reports it
            if claimed == name and version is not None:
                found.setdefault(version, (folder, origin))
    wanted = int(asked) if asked is not None else max(found, default=0)
    if wanted not in found:
        return get_competition(competition_id)
    try:
        comp = load_competition(*found[wanted])
    except SpecError:
        return get_competition(competition_id)  # broken: the catalogue reports it
    _warn_deprecated(comp)
    return comp


def _claims(folder: Path) -> tuple[str | None, int | None]:
    """The (id, version) a `competition.yaml` claims, read without checking the rest;
    None for a part that is missing or of the wrong type (the file may be broken)."""
    try:
        raw = yaml.safe_load((folder / SPEC_FILE).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return None, None
    if not isinstance(raw, dict):
        return None, None
    claimed, version = raw.get("id"), raw.get("version")
    return (
        claimed if isinstance(claimed, str) else None,
        version if isinstance(version, int) and not isinstance(version, bool) else None,
    )


def _warn_deprecated(comp: Competition) -> None:
    if comp.spec.deprecated:
        warnings.warn(
            f"{comp.spec.versioned_id} is deprecated: {comp.spec.deprecated}",
            CompetitionDeprecatedWarning,
            stacklevel=3,
        )


SPLITS: dict[str, str] = {
    "all": "every competition",
    "lite": "a small representative subset: each baseline episode under 2 minutes (decision 100)",
    "tabular": "tables of rows (every competition so far)",
    "timeseries": "series split by time (forecasts, hourly series): the test is a later period",
    "kaggle": "real Kaggle competitions, scored against their real boards",
    "synthetic": "generated data (pump-failure)",
}
"""The documented catalogue splits; every one but `all` is the tag of that name."""


def list_competitions(split: str = "all") -> list[str]:
    """Ids of the registered competitions (latest versions), optionally one catalogue split."""
    comps = discover().latest()
    if split != "all":
        comps = [c for c in comps if split in c.spec.tags]
    return [c.id for c in comps]
