"""Competition specs: loading, every class of spec error, discovery, versioned ids."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from mledojo.competition import (
    ENV_PATH_VAR,
    Competition,
    CompetitionSpec,
    discover,
    get_competition,
    list_competitions,
    load_competition,
    load_one,
)
from mledojo.errors import CompetitionNotFoundError, SpecError

GOOD = {
    "id": "toy",
    "version": 2,
    "title": "Toy",
    "task": "binary",
    "metric": {"name": "roc_auc", "higher_is_better": True},
    "target": "y",
    "id_column": "id",
    "source": {"kind": "local", "path": "."},
    "tags": ["tabular"],
}


def write_comp(root: Path, spec: dict[str, object] | str, name: str = "toy") -> Path:
    folder = root / name
    folder.mkdir(parents=True)
    text = spec if isinstance(spec, str) else yaml.safe_dump(spec)
    (folder / "competition.yaml").write_text(text)
    (folder / "description.md").write_text("# Toy\n")
    return folder


def test_good_spec_loads_with_defaults(tmp_path: Path) -> None:
    comp = load_competition(write_comp(tmp_path, GOOD))
    assert comp.spec.versioned_id == "toy-v2"
    assert comp.spec.targets == ["y"]
    assert comp.spec.split.kind == "random"
    assert comp.spec.budget.max_steps > 0
    assert comp.description_text() == "# Toy\n"


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ({"metric": {"name": "roc_auc"}}, "metric.higher_is_better", "Field required"),
        ({"task": "clustering"}, "task", "binary"),
        ({"version": 0}, "version", "greater than or equal"),
        ({"version": "two"}, "version", "integer"),
        ({"id": "Toy Comp"}, "id", "lowercase"),
        ({"id": "toy-v3"}, "id", "-vN"),
        ({"surprise": 1}, "surprise", "Extra inputs"),
        ({"split": {"kind": "time"}}, "split", "time_column"),
        ({"split": {"test_size": 1.5}}, "split.test_size", "less than 1"),
        ({"source": {"kind": "ftp"}}, "source", "kind"),
    ],
)
def test_each_spec_error_names_file_and_field(
    tmp_path: Path, change: dict[str, object], field: str, words: str
) -> None:
    folder = write_comp(tmp_path, {**GOOD, **change})
    with pytest.raises(SpecError) as info:
        load_competition(folder)
    msg = str(info.value)
    assert str(folder / "competition.yaml") in msg
    assert f"`{field}" in msg
    assert words in msg


def test_missing_required_field(tmp_path: Path) -> None:
    spec = dict(GOOD)
    del spec["target"]
    with pytest.raises(SpecError, match=r"field `target`: Field required"):
        load_competition(write_comp(tmp_path, spec))


def test_invalid_yaml_and_non_mapping(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="not valid YAML"):
        load_competition(write_comp(tmp_path, "id: [unclosed", name="a"))
    with pytest.raises(SpecError, match="expected a mapping"):
        load_competition(write_comp(tmp_path, "- just\n- a list\n", name="b"))


def test_missing_referenced_file(tmp_path: Path) -> None:
    spec = {**GOOD, "leaderboard": {"kind": "kaggle", "private": "lb.csv"}}
    with pytest.raises(SpecError, match=r"refers to `lb.csv`, which is not a file"):
        load_competition(write_comp(tmp_path, spec))


def test_broken_folder_is_reported_beside_the_others(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_comp(tmp_path, GOOD, name="good")
    write_comp(tmp_path, {**GOOD, "id": "bad", "task": "nope"}, name="bad")
    monkeypatch.setenv(ENV_PATH_VAR, str(tmp_path))
    cat = discover()
    assert "toy" in cat.competitions
    assert any("bad" in str(b.path) and "`task`" in str(b) for b in cat.broken)
    assert "toy" in list_competitions()
    assert "toy" in list_competitions("tabular")
    assert "toy" not in list_competitions("lite")


def test_versioned_ids_resolve_latest_and_exact(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_comp(tmp_path, GOOD, name="v2")
    write_comp(tmp_path, {**GOOD, "version": 1, "title": "Old"}, name="v1")
    monkeypatch.setenv(ENV_PATH_VAR, str(tmp_path))
    assert get_competition("toy").spec.version == 2
    assert get_competition("toy-v1").spec.title == "Old"
    assert get_competition("mledojo/toy-v2").spec.version == 2
    with pytest.raises(CompetitionNotFoundError, match="toy-v3"):
        get_competition("toy-v3")


def test_a_broken_newer_version_is_raised_not_replaced_by_an_older_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_comp(tmp_path, {**GOOD, "version": 1, "title": "Old"}, name="toy-old")
    write_comp(tmp_path, {**GOOD, "version": 2, "unknown_field": 1}, name="toy-new")
    monkeypatch.setenv(ENV_PATH_VAR, str(tmp_path))
    with pytest.raises(SpecError, match=r"toy-new.*unknown_field"):
        get_competition("toy")  # v1 must not stand in silently for a broken v2
    assert get_competition("toy-v1").spec.title == "Old"  # asked for by version: fine


def test_unknown_id_suggests_close_ones() -> None:
    with pytest.raises(CompetitionNotFoundError) as info:
        get_competition("pump-failur")
    assert "Did you mean `pump-failure" in str(info.value)
    assert "mledojo list" in str(info.value)


def test_missing_env_path_folder_is_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV_PATH_VAR, str(tmp_path / "nowhere"))
    assert any("does not exist" in str(b) for b in discover().broken)


def test_every_builtin_competition_loads() -> None:
    cat = discover()
    assert not [b for b in cat.broken if "competitions" in str(b.path)], cat.broken
    assert "pump-failure" in cat.competitions


def test_spec_round_trips_through_json() -> None:
    spec = get_competition("pump-failure").spec
    assert CompetitionSpec.model_validate_json(spec.model_dump_json()) == spec


# -- attack: a third-party folder naming host files (issue 17, item 6) ---------------------

PATH_FIELDS: dict[str, tuple[str, ...]] = {
    # field -> where in the spec it goes (a path of keys), and its kind
    "description": ("description",),
    "prepare": ("prepare",),
    "leaderboard.private": ("leaderboard", "private"),
    "leaderboard.public": ("leaderboard", "public"),
    "source.file": ("source", "file"),
    "source.path": ("source", "path"),
    "source.files.0": ("source", "files", "0"),
}


def _spec_with(field: str, value: str) -> dict[str, object]:
    """GOOD with `value` in `field` (and whatever else that field needs to be valid)."""
    spec: dict[str, object] = dict(GOOD)
    if field.startswith("leaderboard."):
        board = {"kind": "kaggle", "private": "lb.csv", "public": "lb.csv"}
        board[field.split(".")[1]] = value
        spec["leaderboard"] = board
    elif field == "source.file":
        spec["source"] = {"kind": "generator", "file": value}
    elif field == "source.path":
        spec["source"] = {"kind": "local", "path": value}
    elif field == "source.files.0":
        spec["source"] = {"kind": "local", "path": ".", "files": [value]}
    else:
        spec[field] = value
    return spec


def _outside(tmp_path: Path, field: str, how: str, folder: Path) -> str:
    """A path for `field` that leads out of `folder` to a real host file or folder."""
    secret = tmp_path / "host" / "secret.txt"
    secret.parent.mkdir(exist_ok=True)
    secret.write_text("id,y\n1,host secret\n")
    target = secret.parent if field == "source.path" else secret
    if how == "absolute":
        return "/etc" if field == "source.path" else "/etc/passwd"
    if how == "dotdot":
        return str(Path("..") / "host" / target.relative_to(tmp_path / "host"))
    link = folder / "innocent"
    link.symlink_to(target)
    return "innocent"


@pytest.mark.parametrize("how", ["absolute", "dotdot", "symlink"])
@pytest.mark.parametrize("field", sorted(PATH_FIELDS))
def test_every_declared_path_must_stay_in_the_folder(tmp_path: Path, field: str, how: str) -> None:
    root = tmp_path / "comps"
    folder = write_comp(root, GOOD)
    (folder / "lb.csv").write_text("rank,score\n1,0.9\n")
    (folder / "generate.py").write_text("def generate(seed): ...\n")
    value = _outside(tmp_path / "comps", field, how, folder)
    (folder / "competition.yaml").write_text(yaml.safe_dump(_spec_with(field, value)))
    with pytest.raises(SpecError) as info:
        load_competition(folder)
    msg = str(info.value)
    assert str(folder / "competition.yaml") in msg
    assert f"field `{field}`" in msg and "outside the competition folder" in msg


def test_in_folder_paths_and_symlinks_still_load(tmp_path: Path) -> None:
    folder = write_comp(tmp_path, GOOD)
    (folder / "data").mkdir()
    (folder / "data" / "t.csv").write_text("id,y\n1,0\n")
    (folder / "same").symlink_to(folder / "data")  # a symlink that stays inside is fine
    spec = {**GOOD, "source": {"kind": "local", "path": "same", "files": ["t.csv"]}}
    (folder / "competition.yaml").write_text(yaml.safe_dump(spec))
    comp = load_competition(folder)
    assert comp.path("same/t.csv") == (folder / "data" / "t.csv").resolve()


def test_a_file_swapped_for_a_symlink_after_loading_is_refused_at_use(tmp_path: Path) -> None:
    folder = write_comp(tmp_path, GOOD)
    comp = load_competition(folder)
    (folder / "description.md").unlink()
    (folder / "description.md").symlink_to("/etc/passwd")
    with pytest.raises(SpecError, match="outside the competition folder"):
        comp.description_text()


@pytest.mark.parametrize(
    ("source", "field"),
    [
        ({"kind": "kaggle", "competition": "../../etc"}, "source.kaggle.competition"),
        ({"kind": "kaggle", "competition": "titanic", "files": ["/etc/passwd"]}, "source.files.0"),
        ({"kind": "kaggle", "competition": "titanic", "files": ["../x.csv"]}, "source.files.0"),
    ],
)
def test_kaggle_source_names_stay_in_the_download(
    tmp_path: Path, source: dict[str, object], field: str
) -> None:
    folder = write_comp(tmp_path, {**GOOD, "source": source})
    with pytest.raises(SpecError, match=rf"field `{field}`"):
        load_competition(folder)


def test_preparing_never_copies_a_host_file_into_public(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """End to end: the description symlinked out after loading never reaches /data."""
    from mledojo.data.prepare import prepare

    monkeypatch.setenv("MLEDOJO_CACHE_DIR", str(tmp_path / "cache"))
    folder = write_comp(tmp_path / "comps", GOOD)
    rows = "".join(f"{i},{i % 2}\n" for i in range(40))
    (folder / "t.csv").write_text("id,y\n" + rows)
    spec = {**GOOD, "source": {"kind": "local", "path": ".", "files": ["t.csv"]}}
    (folder / "competition.yaml").write_text(yaml.safe_dump(spec))
    comp = load_competition(folder)
    (folder / "description.md").unlink()
    (folder / "description.md").symlink_to("/etc/passwd")
    with pytest.raises(SpecError, match="field|outside"):
        prepare(comp, data_seed=0)
    copies = list((tmp_path / "cache").rglob("description.md"))
    assert all(b"root:" not in p.read_bytes() for p in copies)


# ------------------------------------------------------------------ one name, one folder


@pytest.mark.filterwarnings("ignore::mledojo.competition.CompetitionDeprecatedWarning")
def test_load_one_gives_what_the_catalogue_gives(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for asked in ("pump-failure", "pump-failure-v1", "mledojo/pump-failure-v2", "titanic"):
        assert load_one(asked).folder == get_competition(asked).folder, asked
    write_comp(tmp_path, {**GOOD, "version": 1, "title": "Old"}, name="toy-old")
    write_comp(tmp_path, {**GOOD, "version": 2, "unknown_field": 1}, name="toy-new")
    write_comp(tmp_path, "id: [unclosed", name="other")
    monkeypatch.setenv(ENV_PATH_VAR, str(tmp_path))
    with pytest.raises(SpecError, match=r"toy-new.*unknown_field"):
        load_one("toy")  # v1 must not stand in silently for a broken v2
    assert load_one("toy-v1").spec.title == "Old"
    with pytest.raises(CompetitionNotFoundError, match="toy-v3"):
        load_one("toy-v3")
    with pytest.raises(CompetitionNotFoundError, match="Did you mean `pump-failure"):
        load_one("pump-failur")
    with pytest.raises(SpecError, match="other"):
        load_one("other")  # an unreadable folder that may be it: the catalogue's error


def test_a_bench_plan_loads_only_the_competition_it_names(monkeypatch: pytest.MonkeyPatch) -> None:
    """Resolving one name used to load and check every competition of the catalogue."""
    import mledojo.competition as competition
    from mledojo.bench.plan import make_plan

    loaded: list[str] = []

    def counting(folder: Path, origin: str = "builtin") -> Competition:
        loaded.append(folder.name)
        return load_competition(folder, origin)

    monkeypatch.setattr(competition, "_catalogue", None)  # a new process knows nothing
    monkeypatch.setattr(competition, "load_competition", counting)
    plan = make_plan(
        agents=["baseline"], competitions=["pump-failure"], seeds=[0, 1], sandbox="local"
    )
    assert [j.spec.competition for j in plan.jobs] == ["pump-failure-v2"] * 2
    seen = list(loaded)
    assert seen == [get_competition("pump-failure").folder.name]
