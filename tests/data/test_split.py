"""The evaluation split and its training variants (issue 19): no variant holds an evaluation
test row, the cross-seed lookup scores at the honest level, and older variants are neither
reused from the cache nor resumed as results.

Real data: the Kaggle files from `../shared/datasets/kaggle/` and the pump-failure generator;
every test prepares into its own temporary cache.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tarfile
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import pytest

import mledojo
from mledojo._files import import_file
from mledojo.agent import Agent
from mledojo.competition import Competition, get_competition
from mledojo.data.prepare import MANIFEST, PreparedData, prepare
from mledojo.data.split import VARIANT_SCHEME
from mledojo.errors import DataError
from mledojo.grading.scorer import Scorer
from mledojo.layout import RunLayout
from mledojo.play import run_episode
from mledojo.resolve import resolve_spec
from mledojo.spec import KEY_CHARS, EpisodeSpec
from mledojo.testing.shared_data import kaggle_root, need

KAGGLE_DIR = kaggle_root()
KAGGLE_IDS = mledojo.list_competitions("kaggle")
COMPETITIONS = [*mledojo.list_competitions(), "pump-failure-v1"]
SEEDS = (1, 2, 7)
RENUMBERED_IDS = {"nomad2018-predict-transparent-conductors", "pump-failure", "pump-failure-v1"}
"""Ids that are row numbers given per data seed (renumbered Kaggle rows, generated rows or
cases): equal ids say nothing there, so those competitions are checked by row content only."""
ATTACKED = [
    "spaceship-titanic",
    "titanic",
    "playground-series-s3e12",
    "nomad2018-predict-transparent-conductors",
    "bike-sharing-demand",
]


@pytest.fixture(scope="module")
def data_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The shared raw files and one cache for the module."""
    cache = tmp_path_factory.mktemp("cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLEDOJO_KAGGLE_DIR", str(KAGGLE_DIR))
        mp.setenv("MLEDOJO_CACHE_DIR", str(cache))
        yield cache


@pytest.fixture(scope="module")
def prepared(data_env: Path) -> Callable[[str, int | None], tuple[Competition, PreparedData]]:
    """Prepare a (competition, data seed) once per module; None is the evaluation split."""
    done: dict[tuple[str, int | None], tuple[Competition, PreparedData]] = {}

    def get(cid: str, seed: int | None) -> tuple[Competition, PreparedData]:
        if (cid, seed) not in done:
            if cid in KAGGLE_IDS:
                need(KAGGLE_DIR / str(get_competition(cid).spec.source.competition))
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # pump-failure-v1 is deprecated
                comp = get_competition(cid)
                done[(cid, seed)] = (comp, prepare(comp, data_seed=seed, cache_dir=data_env))
        return done[(cid, seed)]

    return get


def read(path: Path) -> pd.DataFrame:
    """A prepared CSV as written: every cell a string, empty cells empty strings."""
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def labelled_test(comp: Competition, data: PreparedData) -> pd.DataFrame:
    """The test rows with their answers (public features joined to the private answers)."""
    ident = comp.spec.id_column
    features = read(data.public_dir / "test.csv")
    answers = read(data.answers_path)
    answers = answers[[ident, *(c for c in answers.columns if c not in features.columns)]]
    missing = [t for t in comp.spec.targets if t not in answers.columns]
    if missing:  # one-hot answers (leaf): the label is the column holding the 1
        answers[missing[0]] = answers.drop(columns=[ident]).astype(int).idxmax(axis=1)
    return features.merge(answers, on=ident, how="left", validate="one_to_one")


def variant_tables(comp: Competition, data: PreparedData) -> dict[str, pd.DataFrame]:
    """Every table of a prepared folder an agent on it could learn from: each public data
    CSV, and the test rows with their answers (a training variant may expose everything)."""
    tables = {
        str(p.relative_to(data.root)): read(p)
        for p in sorted(data.public_dir.glob("*.csv"))
        if p != data.sample_submission_path  # a constant guess, no knowledge
    }
    tables["test rows with answers"] = labelled_test(comp, data)
    return tables


def shared_rows(
    held_out: pd.DataFrame, ident: str, required: list[str], other: pd.DataFrame
) -> int | None:
    """How many rows of `other` equal a `held_out` (evaluation test) row on the columns both
    have but the id; None when `other` lacks one of `required` (then it holds no row to
    compare: a sample submission, or features without their answers where features alone
    repeat in the source, such as bike-sharing's weather of two hours)."""
    if not set(required) <= set(other.columns):
        return None
    columns = [c for c in held_out.columns if c in other.columns and c != ident]
    held = row_hashes(held_out[columns])
    return int(np.isin(row_hashes(other[columns]), held).sum())


def row_hashes(table: pd.DataFrame) -> np.ndarray:
    """One 64-bit hash per row of string cells (equal rows, equal hashes): a set of tuples
    of Python strings took most of this module's time."""
    return pd.util.hash_pandas_object(table, index=False).to_numpy()


def geometry_blobs(data: PreparedData, side: str | None) -> set[bytes]:
    """The geometry files of a nomad2018 archive (of one side, or all)."""
    path = data.public_dir / "geometry.tar"
    if not path.is_file():
        return set()
    found = set()
    with tarfile.open(path) as tar:
        for member in tar:
            handle = tar.extractfile(member)
            if handle is not None and (side is None or member.name.startswith(f"{side}/")):
                found.add(handle.read())
    return found


# --------------------------------------------------------------------------- the split


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("cid", COMPETITIONS)
def test_no_training_variant_holds_an_evaluation_test_row(cid: str, seed: int, prepared) -> None:
    comp, evaluation = prepared(cid, None)
    _, variant = prepared(cid, seed)
    assert evaluation.split == "evaluation" and variant.split == "training"
    ident = comp.spec.id_column
    held_out = labelled_test(comp, evaluation)
    features = [c for c in read(evaluation.public_dir / "test.csv").columns if c != ident]
    required = [*features, *comp.spec.targets]
    if comp.spec.source.kind == "generator":  # features alone never repeat across worlds
        required = features
    compared = 0
    for name, table in variant_tables(comp, variant).items():
        found = shared_rows(held_out, ident, required, table)
        if found is not None:
            compared += 1
            assert found == 0, f"{name} of data seed {seed} holds {found} evaluation test rows"
        if cid not in RENUMBERED_IDS and ident in table.columns:
            leaked = set(table[ident]) & set(held_out[ident])
            assert not leaked, f"{name} of data seed {seed} holds evaluation test ids"
    assert compared >= 2  # the training table and the labelled test rows at least
    # nomad2018: a test structure may also sit in the evaluation's own public train (a
    # Kaggle duplicate, 1 of 240): a variant may repeat that, never any other
    evaluation_geometry = geometry_blobs(evaluation, "test") - geometry_blobs(evaluation, "train")
    assert not evaluation_geometry & geometry_blobs(variant, None)


def test_the_row_check_finds_evaluation_rows_planted_in_a_variant(prepared) -> None:
    """The check above can fail: three evaluation test rows planted in a variant's train
    (shuffled columns, other ids) are found, by content."""
    comp, evaluation = prepared("spaceship-titanic", None)
    _, variant = prepared("spaceship-titanic", 1)
    ident = comp.spec.id_column
    held_out = labelled_test(comp, evaluation)
    train = read(variant.public_dir / "train.csv")
    planted = held_out.sample(3, random_state=0)[list(reversed(train.columns))]
    planted[ident] = ["planted-1", "planted-2", "planted-3"]
    attacked = pd.concat([train, planted], ignore_index=True)
    required = [c for c in train.columns if c != ident]
    assert shared_rows(held_out, ident, required, train) == 0
    assert shared_rows(held_out, ident, required, attacked) == 3


@pytest.mark.parametrize("cid", COMPETITIONS)
def test_the_evaluation_split_is_the_canonical_seed_and_variants_differ(cid: str, prepared) -> None:
    comp, evaluation = prepared(cid, None)
    _, same = prepared(cid, comp.spec.split.seed)
    assert same.root == evaluation.root and same.split == "evaluation"
    _, one = prepared(cid, 1)
    _, two = prepared(cid, 2)
    assert one.variant == f"training-{VARIANT_SCHEME}"
    assert one.root.parent.name == f"training-{VARIANT_SCHEME}"
    assert evaluation.root.parent == one.root.parent.parent  # <id>/v<N>/training-<k>/seed-1
    assert read(one.public_dir / "train.csv").shape != (0, 0)
    assert one.answers_path.read_bytes() != two.answers_path.read_bytes()


# --------------------------------------------------------------------------- the attack


def lookup_columns(comp: Competition, evaluation: PreparedData) -> tuple[list[str], list[str]]:
    """What a lookup matches on (the id, or the features where ids are renumbered per data
    seed) and what it copies (the prediction columns)."""
    ident = comp.spec.id_column
    test = read(evaluation.public_dir / "test.csv")
    submission = read(evaluation.sample_submission_path)
    keys = [ident] if comp.id not in RENUMBERED_IDS else [c for c in test.columns if c != ident]
    return keys, [c for c in submission.columns if c != ident]


def lookup(
    comp: Competition, evaluation: PreparedData, known: list[pd.DataFrame]
) -> tuple[pd.DataFrame, set[tuple[str, ...]]]:
    """The evaluation sample submission, with each test row found in `known` answered with
    the label found there; and the (key, label) rows used."""
    ident = comp.spec.id_column
    keys, targets = lookup_columns(comp, evaluation)
    test = read(evaluation.public_dir / "test.csv")
    submission = read(evaluation.sample_submission_path)
    table = pd.concat([k[keys + targets] for k in known if set(keys + targets) <= set(k.columns)])
    table = table.drop_duplicates(subset=keys, keep="first")
    found = test[list(dict.fromkeys([ident, *keys]))].merge(table, on=keys, how="inner")
    used = set(found[keys + targets].itertuples(index=False, name=None))
    answers = found.set_index(ident)[targets]
    hit = submission[ident].isin(answers.index)
    for col in targets:
        submission.loc[hit, col] = submission.loc[hit, ident].map(answers[col])
    return submission, used


@pytest.mark.parametrize("cid", ATTACKED)
def test_cross_seed_lookup_scores_at_the_honest_level(cid: str, prepared, tmp_path: Path) -> None:
    """A lookup built from a training variant's files (its public files and its own answers),
    submitted on the evaluation split: every answer it finds is a row of the evaluation
    split's own public train, it wins no medal and does not top the board. Before the fix,
    data seed 1 held 80-91 % of the evaluation answers (spaceship 0.987, s3e12 0.998, all
    gold) and bike-sharing's variants had the evaluation's very test hours and counts."""
    comp, evaluation = prepared(cid, None)
    _, variant = prepared(cid, 1)
    attack, used = lookup(comp, evaluation, list(variant_tables(comp, variant).values()))
    keys, targets = lookup_columns(comp, evaluation)
    train = read(evaluation.public_dir / "train.csv")
    public = set(train[keys + targets].itertuples(index=False, name=None))
    path = tmp_path / "submission.csv"
    attack.to_csv(path, index=False)
    report = Scorer(comp, evaluation).score(path, part="private")
    scored = f"the lookup scores {report.score} ({report.medal})"
    assert used <= public, f"{cid}: {len(used - public)} answers from the variant alone; {scored}"
    assert report.medal is None, f"{cid}: {scored}"
    assert report.human_rank is not None and report.human_rank < 1.0


# --------------------------------------------------------------------------- synthetic


def _generator() -> Any:
    return import_file(get_competition("pump-failure-v1").path("generate.py"), "split_test_gen")


def test_synthetic_evaluation_and_training_worlds_use_disjoint_seed_spaces() -> None:
    gen = _generator()
    for cid in ("pump-failure-v1", "pump-failure-v2"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            assert get_competition(cid).spec.split.seed == gen.EVALUATION_SEED
    evaluation = [gen.seed_words(gen.EVALUATION_SEED)] + [
        gen.seed_words(gen.EVALUATION_SEED, world, *extra)
        for world in range(1, 50)
        for extra in ((), (0xCA5E,))
    ]
    for seed in (1, 2, 7, 2**31, 2**32 - 1):
        for world in (0, 1, 2, 999):
            words = gen.seed_words(seed, world) if world else gen.seed_words(seed)
            assert words[0] == gen.TRAINING_SPACE != evaluation[0][0]
            state = np.random.SeedSequence(words).generate_state(4)
            assert all(
                not (np.random.SeedSequence(e).generate_state(4) == state).all() for e in evaluation
            )


def test_a_data_seed_cannot_alias_an_evaluation_world(data_env: Path) -> None:
    """numpy reads the int 2**32 as the words [0, 1]: data seed 2**32 was evaluation world 1's
    events (its weather, services and failures) under another fleet."""
    with pytest.raises(DataError, match=r"data seed 4294967296 must be an integer in \[0, "):
        prepare("pump-failure", data_seed=2**32, cache_dir=data_env)
    gen = _generator()
    with pytest.raises(ValueError, match="seeds and worlds must be integers"):
        gen.simulate_window(2**32, 0, 7000, 200)


# --------------------------------------------------------------------------- caches


def _manifest(data: PreparedData) -> dict[str, Any]:
    manifest: dict[str, Any] = json.loads((data.root / MANIFEST).read_text())
    return manifest


@pytest.mark.parametrize("cid", ["titanic", "pump-failure"])
def test_an_older_variant_cache_is_never_reused(cid: str, tmp_path: Path) -> None:
    """A cache written by the old scheme (a variant in `seed-<s>`, its manifest naming no
    variant) or by an older variant scheme is rebuilt, never reused; an evaluation cache
    written before (no `variant` in its manifest) is reused."""
    if cid == "titanic":
        need(KAGGLE_DIR / cid)
    evaluation = prepare(cid, cache_dir=tmp_path)
    variant = prepare(cid, data_seed=1, cache_dir=tmp_path)
    assert not variant.reused and variant.split == "training"
    # the old layout: the variant's files under <id>/v<N>/seed-1, the old manifest
    old = evaluation.root.parent / "seed-1"
    shutil.copytree(variant.root, old)
    manifest = _manifest(variant)
    del manifest["variant"]
    (old / MANIFEST).write_text(json.dumps(manifest))
    shutil.rmtree(variant.root)
    again = prepare(cid, data_seed=1, cache_dir=tmp_path)
    assert not again.reused and again.root != old
    # an older scheme's manifest at today's place
    manifest = _manifest(again)
    manifest["variant"] = f"training-{VARIANT_SCHEME - 1}"
    (again.root / MANIFEST).write_text(json.dumps(manifest))
    assert not prepare(cid, data_seed=1, cache_dir=tmp_path).reused
    # the evaluation split: an old manifest (no `variant`) still verifies
    manifest = _manifest(evaluation)
    assert manifest["variant"] is None
    del manifest["variant"]
    (evaluation.root / MANIFEST).write_text(json.dumps(manifest))
    assert prepare(cid, cache_dir=tmp_path).reused


# --------------------------------------------------------------------------- results


def old_key(spec: EpisodeSpec) -> str:
    """The key as the code before training variants and key versions computed it."""
    fields = spec.model_dump(mode="json", exclude={"data_variant", "key_version", "mode", "image"})
    canonical = json.dumps(fields, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:KEY_CHARS]


class SampleSubmitter(Agent):
    """Submits the sample submission: a quick episode that is graded."""

    name: ClassVar[str] = "sample-submitter"

    def __init__(self) -> None:
        self.calls = 0

    def act(self, observation: dict[str, Any]) -> dict[str, Any]:
        self.calls += 1
        if self.calls % 2 == 1:
            code = (
                "import os, shutil\n"
                "shutil.copy(os.environ['MLEDOJO_DATA'] + '/sample_submission.csv', "
                "'submission.csv')\n"
            )
            return {"action": "execute_code", "code": code}
        return {"action": "submit"}


def test_a_result_on_an_older_variant_is_not_resumed(tmp_path: Path) -> None:
    """The old code keyed a variant's episode like any other: its result.json, where the same
    spec without `data_variant` puts it, must not be handed back for today's variant."""
    need(KAGGLE_DIR / "titanic")
    resolved = resolve_spec("titanic", agent="sample-submitter", sandbox="local", data_seed=1)
    spec = resolved.spec
    old_spec = spec.model_copy(update={"data_variant": None, "key_version": 1})
    agent = SampleSubmitter()
    first = run_episode(resolved, agent=agent, runs_dir=tmp_path, run_id="old")
    assert first.final.graded and first.spec is not None and first.key == spec.key
    old_folder = RunLayout(tmp_path, "r").episode_folder(old_spec)
    old_folder.mkdir(parents=True, exist_ok=True)
    done = RunLayout(tmp_path, "old").finished(spec)
    assert done is not None
    shutil.copy(done / "result.json", old_folder / "result.json")
    calls = agent.calls
    again = run_episode(resolved, agent=agent, runs_dir=tmp_path, run_id="r")
    assert agent.calls > calls, "the older variant's result was resumed"
    assert again.spec is not None and again.spec.data_variant == f"training-{VARIANT_SCHEME}"
    assert again.key == spec.key != old_key(spec) == old_spec.key
    evaluation = resolve_spec("titanic", agent="x", sandbox="local").spec
    assert evaluation.data_variant is None
    assert old_key(evaluation) in evaluation.keys()  # evaluation results resume as before


# --------------------------------------------------------------------------- plug-ins

LEGACY_SPEC = """\
id: legacy-prepare
version: 1
title: "A competition whose prepare() predates training variants"
task: binary
metric: {name: roc_auc, higher_is_better: true}
target: y
id_column: id
source: {kind: local, path: data, files: [table.csv]}
prepare: prepare.py
split: {kind: random, test_size: 0.25, public_fraction: 0.4, seed: 0}
tags: [tabular]
"""

LEGACY_PREPARE = """\
from pathlib import Path

import pandas as pd


def prepare(raw: Path, public: Path, private: Path, seed: int) -> None:
    table = pd.read_csv(raw / "table.csv")
    test = table.sample(frac=0.25, random_state=seed)
    train = table.drop(test.index)
    train.to_csv(public / "train.csv", index=False)
    test.drop(columns=["y"]).to_csv(public / "test.csv", index=False)
    test.to_csv(private / "test.csv", index=False)
    test[["id"]].assign(y=0.5).to_csv(public / "sample_submission.csv", index=False)
"""


def test_a_prepare_without_evaluation_seed_makes_no_training_variant(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Such a `prepare()` re-splits the whole table on every seed (the old leak): it is
    run for the evaluation split only, and a variant is refused with what to do."""
    folder = tmp_path / "comps" / "legacy-prepare"
    (folder / "data").mkdir(parents=True)
    rng = np.random.default_rng(0)
    table = pd.DataFrame({"id": range(200), "x": rng.normal(size=200)})
    table["y"] = (table["x"] + rng.normal(size=200) > 0).astype(int)
    table.to_csv(folder / "data" / "table.csv", index=False)
    (folder / "competition.yaml").write_text(LEGACY_SPEC)
    (folder / "prepare.py").write_text(LEGACY_PREPARE)
    (folder / "description.md").write_text("# Legacy\n\nPredict `y`.\n")
    monkeypatch.setenv("MLEDOJO_COMPETITIONS_PATH", str(tmp_path / "comps"))
    evaluation = prepare("legacy-prepare", cache_dir=tmp_path / "cache")
    assert evaluation.split == "evaluation"
    with pytest.raises(DataError, match=r"prepare\(\) takes no `evaluation_seed`"):
        prepare("legacy-prepare", data_seed=1, cache_dir=tmp_path / "cache")
