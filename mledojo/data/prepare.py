"""Build a competition's `public/` and `private/` folders once, cache and verify them.

Layout under the cache root (`MLEDOJO_CACHE_DIR`, else the user cache dir):
`<root>/<id>/v<version>/seed-<data_seed>/{public/, private/, manifest.json}` for the
evaluation split (the canonical data seed), and
`<root>/<id>/v<version>/training-<scheme>/seed-<data_seed>/...` for a training variant
(`mledojo.data.split`): a new variant scheme never reuses an older variant's files.
`public/` is what agents see (train, test features, sample submission, description);
`private/` holds the answers (`test.csv`, the full labelled test split) and `parts.csv`
(each test id tagged `public` or `private`). `manifest.json` is written last and holds
the sha256 of every file: a missing or mismatching manifest means "rebuild", never "use".
"""

from __future__ import annotations

import hashlib
import inspect
import json
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import platformdirs
from filelock import FileLock
from pydantic import BaseModel, ConfigDict

from mledojo._files import import_file, sha256_file
from mledojo.competition import Competition, GeneratorSource, KaggleSource, LocalSource
from mledojo.data.split import (
    SplitRole,
    assign_parts,
    carve,
    check_data_seed,
    role_variant,
    spec_splitter,
    split_frame,
    split_role,
    variant_label,
)
from mledojo.errors import DataError

CACHE_ENV_VAR = "MLEDOJO_CACHE_DIR"
MANIFEST = "manifest.json"
MANIFEST_SCHEMA = 1


class PreparedData(BaseModel):
    """Where a prepared competition lives; what `make()` and the grader read.

    `split` says which data this is: `evaluation` (the competition's canonical data seed,
    the split scores are reported on; the episode layer hides private scores from the
    agent there) or `training` (a variant re-split from the evaluation split's training
    rows only, free for training: it holds no evaluation test row).
    """

    model_config = ConfigDict(frozen=True)

    competition_id: str
    version: int
    data_seed: int
    split: SplitRole
    root: Path
    reused: bool = False

    @property
    def variant(self) -> str | None:
        """None on the evaluation split, else the variant scheme (`training-3`)."""
        return role_variant(self.split)

    @property
    def public_dir(self) -> Path:
        return self.root / "public"

    @property
    def private_dir(self) -> Path:
        return self.root / "private"

    @property
    def answers_path(self) -> Path:
        return self.private_dir / "test.csv"

    @property
    def parts_path(self) -> Path:
        return self.private_dir / "parts.csv"

    @property
    def sample_submission_path(self) -> Path:
        return self.public_dir / "sample_submission.csv"


def cache_root(override: Path | str | None = None) -> Path:
    """The data cache root: the argument, else `$MLEDOJO_CACHE_DIR/data`, else the user cache.

    `$MLEDOJO_CACHE_DIR` is mledojo's whole cache (data, runtime-image build inputs).
    """
    if override is not None:
        return Path(override).expanduser()
    env = os.environ.get(CACHE_ENV_VAR)
    base = Path(env).expanduser() if env else Path(platformdirs.user_cache_dir("mledojo"))
    return base / "data"


def prepare(
    competition: Competition | str,
    *,
    data_seed: int | None = None,
    cache_dir: Path | str | None = None,
    raw_dir: Path | str | None = None,
    force: bool = False,
    progress: Callable[[str], None] | None = None,
) -> PreparedData:
    """Prepare a competition once per (version, data seed); later calls verify and reuse.

    Safe across processes (a file lock), atomic (built in a temp folder then renamed),
    and self-healing (a corrupted or half-written cache is detected and rebuilt).
    """
    if isinstance(competition, str):
        from mledojo.competition import get_competition

        competition = get_competition(competition)
    spec = competition.spec
    seed = check_data_seed(spec.split.seed if data_seed is None else data_seed)
    role = split_role(spec.split, seed)
    variant = variant_label(spec.split, seed)
    folder = cache_root(cache_dir) / spec.id / f"v{spec.version}"
    target = (folder if variant is None else folder / variant) / f"seed-{seed}"
    result = PreparedData(
        competition_id=spec.id, version=spec.version, data_seed=seed, split=role, root=target
    )
    say = progress or (lambda _msg: None)
    recipe = recipe_digest(competition)
    if not force and _verify(target, variant, recipe):
        return result.model_copy(update={"reused": True})
    target.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(target) + ".lock", timeout=3600):
        if not force and _verify(target, variant, recipe):  # another process built it meanwhile
            return result.model_copy(update={"reused": True})
        if target.exists():
            say(
                f"cache at {target} is incomplete, corrupted or from an older recipe of the "
                "competition (its competition.yaml or code changed): rebuilding"
            )
            shutil.rmtree(target)
        tmp = target.with_name(f"{target.name}.tmp-{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        try:
            _build(competition, seed, tmp, raw_dir=raw_dir, cache_dir=cache_dir, say=say)
            _write_manifest(tmp, competition, seed, variant, recipe)
            tmp.rename(target)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return result


def _build(
    comp: Competition,
    seed: int,
    out: Path,
    *,
    raw_dir: Path | str | None,
    cache_dir: Path | str | None,
    say: Callable[[str], None],
) -> None:
    spec = comp.spec
    public, private = out / "public", out / "private"
    public.mkdir(parents=True)
    private.mkdir(parents=True)
    role = split_role(spec.split, seed)
    say(f"preparing {spec.id} v{spec.version} (data seed {seed}, {role} split)")
    if spec.prepare:
        raw = _raw_folder(comp, raw_dir, cache_dir, say)
        fn = _load_function(comp.path(spec.prepare), "prepare")
        _call_prepare(comp, fn, raw=raw, public=public, private=private, seed=seed)
    elif isinstance(spec.source, GeneratorSource):
        # a generator draws a training variant's world from its own seed space
        full = _load_table(comp, seed, raw_dir, cache_dir, say)
        train, test = split_frame(full, spec.split, seed=seed, target=spec.targets[0])
        _write_default(comp, train, test, public, private)
    else:
        full = _load_table(comp, seed, raw_dir, cache_dir, say)
        write_standard_split(comp, full, seed=seed, public=public, private=private)
    _check_outputs(comp, public, private)
    answers = pd.read_csv(private / "test.csv", usecols=[spec.id_column])
    if not (private / "parts.csv").exists():
        parts = assign_parts(answers[spec.id_column], spec.split.public_fraction, seed)
        parts.to_csv(private / "parts.csv", index=False)
    shutil.copyfile(comp.path(spec.description), public / "description.md")
    for path in private.iterdir():
        path.chmod(0o600)  # only the host user may read the answers
    private.chmod(0o700)


def _call_prepare(
    comp: Competition,
    fn: Callable[..., Any],
    *,
    raw: Path,
    public: Path,
    private: Path,
    seed: int,
) -> None:
    """Run a competition's `prepare()`; a training variant needs it to take `evaluation_seed`.

    A `prepare(raw, public, private, seed)` without that parameter cannot tell the
    evaluation split from a variant, so it is only run for the evaluation split: a variant
    it made could hold the evaluation answers.
    """
    evaluation_seed = comp.spec.split.seed
    if "evaluation_seed" in inspect.signature(fn).parameters:
        fn(raw=raw, public=public, private=private, seed=seed, evaluation_seed=evaluation_seed)
        return
    if seed != evaluation_seed:
        raise DataError(
            f"{comp.path(str(comp.spec.prepare))}: prepare() takes no `evaluation_seed`, so "
            f"it cannot make training variants; only data seed {evaluation_seed} (the "
            "evaluation split) can be prepared. Add the parameter and re-split the evaluation "
            "split's training rows for other seeds (mledojo.data.split.carve, "
            "docs/adding-a-competition.md)."
        )
    fn(raw=raw, public=public, private=private, seed=seed)


def write_standard_split(
    comp: Competition, full: pd.DataFrame, *, seed: int, public: Path, private: Path
) -> None:
    """The split `competition.yaml` declares, for the evaluation seed or a training variant
    carved from its training rows, written as the standard files. A competition's own
    `prepare.py` calls it when all it adds is extra public files."""
    spec = comp.spec
    train, test = carve(
        full,
        seed=seed,
        evaluation_seed=spec.split.seed,
        split=spec_splitter(spec.split, spec.targets[0], spec.split.seed),
        id_columns=[spec.id_column],
    )
    _write_default(comp, train, test, public, private)


def _write_default(
    comp: Competition,
    train: pd.DataFrame,
    test: pd.DataFrame,
    public: Path,
    private: Path,
) -> None:
    """The standard files: train with targets, test without, a constant sample submission."""
    spec = comp.spec
    train.to_csv(public / "train.csv", index=False)
    test.drop(columns=spec.targets).to_csv(public / "test.csv", index=False)
    test.to_csv(private / "test.csv", index=False)
    sample_submission(comp, train, test[spec.id_column]).to_csv(
        public / "sample_submission.csv", index=False
    )


def sample_submission(comp: Competition, train: pd.DataFrame, ids: pd.Series) -> pd.DataFrame:
    """A valid, uninformed submission: what a constant predictor would send."""
    from mledojo.grading.metrics import RANKED_LABELS
    from mledojo.grading.validate import normalize_labels, submission_layout

    layout = submission_layout(comp.spec)
    out = pd.DataFrame({layout.id_column: ids.to_numpy()})
    for col in layout.prediction_columns:
        if layout.kind == "class_probabilities":
            out[col] = 1.0 / len(layout.prediction_columns)
        elif layout.kind == "probability":
            out[col] = 0.5
        elif layout.kind == "label":
            out[col] = train[col].mode().iloc[0]
        elif layout.kind == "ranked_labels":  # the most frequent classes, best first
            common = train[col].dropna().value_counts().index[:RANKED_LABELS]
            out[col] = " ".join(normalize_labels(pd.Series(common, dtype=object)))
        else:
            out[col] = float(train[col].mean())
    return out


def _check_outputs(comp: Competition, public: Path, private: Path) -> None:
    """The answers must exist, and no answer column may appear in the public test file."""
    spec = comp.spec
    expected = [public / "train.csv", public / "test.csv", private / "test.csv"]
    if spec.cases is not None:
        expected.append(public / spec.cases.history)
    for path in expected:
        if not path.is_file():
            raise DataError(
                f"{comp.folder}: preparation did not write {path.name} in {path.parent}"
            )
    cols = pd.read_csv(public / "test.csv", nrows=0).columns
    leaked = [t for t in spec.targets if t in cols]
    if leaked:
        raise DataError(f"{comp.folder}: public test.csv contains answer column(s) {leaked}")


def _load_table(
    comp: Competition,
    seed: int,
    raw_dir: Path | str | None,
    cache_dir: Path | str | None,
    say: Callable[[str], None],
) -> pd.DataFrame:
    src = comp.spec.source
    if isinstance(src, GeneratorSource):
        generate = _load_function(comp.path(src.file), "generate")
        df = generate(seed)
        if not isinstance(df, pd.DataFrame):
            raise DataError(f"{comp.path(src.file)}: generate() must return a pandas DataFrame")
        return df
    folder = _raw_folder(comp, raw_dir, cache_dir, say)
    table = folder / src.files[0]
    if raw_dir is None and isinstance(src, LocalSource):
        table = comp.path(os.path.join(src.path, src.files[0]))  # inside the folder, again
    return pd.read_csv(table)


def _raw_folder(
    comp: Competition,
    raw_dir: Path | str | None,
    cache_dir: Path | str | None,
    say: Callable[[str], None],
) -> Path:
    """The folder of raw source files: given, local, or fetched from Kaggle."""
    src = comp.spec.source
    if raw_dir is not None:
        folder = Path(raw_dir).expanduser()
    elif isinstance(src, LocalSource):
        folder = comp.path(src.path)  # never outside the competition folder
    elif isinstance(src, KaggleSource):
        from mledojo.data.kaggle import kaggle_raw_folder

        folder = kaggle_raw_folder(comp, cache_root(cache_dir), say=say)
    else:
        return comp.folder
    if not folder.is_dir():
        raise DataError(f"raw data folder {folder} does not exist")
    from mledojo.data.checksums import verify_raw_files

    verify_raw_files(comp, folder)
    return folder


def _load_function(path: Path, name: str) -> Callable[..., Any]:
    module = import_file(path, "mledojo_competition")
    fn = getattr(module, name, None)
    if not callable(fn):
        raise DataError(f"{path}: expected a function `{name}`")
    return fn  # type: ignore[no-any-return]


def _files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file() and p.name != MANIFEST)


def recipe_digest(comp: Competition) -> str:
    """A hash of what in the competition's folder makes its data: `competition.yaml` and every
    Python file by content, and a local source's raw files by name, size and modification
    time. An author who edits `prepare.py` without bumping the version gets a rebuild, not
    the old (perhaps leaky) files. Raw files from elsewhere (Kaggle, `--raw-dir`) are not in
    it: after replacing those, prepare with `--force`."""
    folder = comp.folder
    digest = hashlib.sha256()
    code = [folder / "competition.yaml", *sorted(folder.rglob("*.py"))]
    for path in code:
        if path.is_file() and "__pycache__" not in path.parts:
            digest.update(f"{path.relative_to(folder)}\0{sha256_file(path)}\0".encode())
    source = comp.spec.source
    if isinstance(source, LocalSource):
        for path in sorted((folder / source.path).rglob("*")):
            if path.is_file():
                st = path.stat()
                digest.update(
                    f"{path.relative_to(folder)}\0{st.st_size}\0{st.st_mtime_ns}\0".encode()
                )
    return digest.hexdigest()[:16]


def _write_manifest(
    root: Path, comp: Competition, seed: int, variant: str | None, recipe: str
) -> None:
    manifest = {
        "schema": MANIFEST_SCHEMA,
        "competition": comp.spec.id,
        "version": comp.spec.version,
        "data_seed": seed,
        "variant": variant,
        "recipe": recipe,
        "created_unix": time.time(),
        "files": {str(p.relative_to(root)): sha256_file(p) for p in _files(root)},
    }
    (root / MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True))


def _verify(root: Path, variant: str | None, recipe: str) -> bool:
    """True when the manifest exists, is of `variant` (None: the evaluation split; older
    manifests name none) and of the competition's current `recipe`, and every file matches
    it (and none is extra)."""
    try:
        manifest = json.loads((root / MANIFEST).read_text())
    except (OSError, ValueError):
        return False
    files = manifest.get("files")
    if manifest.get("schema") != MANIFEST_SCHEMA or not isinstance(files, dict):
        return False
    # A manifest from before recipes were recorded is taken as is: upgrading must not
    # rebuild (and so delete) data that running episodes have mounted.
    if manifest.get("variant") != variant or manifest.get("recipe", recipe) != recipe:
        return False
    present = {str(p.relative_to(root)) for p in _files(root)}
    if present != set(files):
        return False
    return all(sha256_file(root / rel) == digest for rel, digest in files.items())
