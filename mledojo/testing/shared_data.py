"""Where the test suite finds the real data it needs, one rule for every test.

`shared/` (real Kaggle files and leaderboards) sits beside the checkout, or where
`MLEDOJO_SHARED_DIR` says; the raw Kaggle folders are `$MLEDOJO_KAGGLE_DIR` when set, else
`<shared>/datasets/kaggle`. A test that needs data it cannot find is skipped, or fails when
`MLEDOJO_REQUIRE_DATA=1` (CI sets it, like `MLEDOJO_REQUIRE_DOCKER`), so a run that lost its
data never passes silently.
"""

from __future__ import annotations

import os
from pathlib import Path

REQUIRE_DATA_ENV = "MLEDOJO_REQUIRE_DATA"
CHECKOUT = Path(__file__).resolve().parents[2]


def shared_root() -> Path:
    """`$MLEDOJO_SHARED_DIR`, else the `shared` folder beside the checkout."""
    env = os.environ.get("MLEDOJO_SHARED_DIR")
    return Path(env) if env else CHECKOUT.parent / "shared"


def kaggle_root() -> Path:
    """`$MLEDOJO_KAGGLE_DIR`, else `<shared>/datasets/kaggle`."""
    env = os.environ.get("MLEDOJO_KAGGLE_DIR")
    return Path(env) if env else shared_root() / "datasets" / "kaggle"


def leaderboards_root() -> Path:
    """The real leaderboards: `<shared>/datasets/leaderboards`."""
    return shared_root() / "datasets" / "leaderboards"


def missing(path: Path) -> None:
    """Skip the calling test (or fail it when data is required): `path` is not here."""
    import pytest

    message = (
        f"real data not found at {path}: put shared/ beside the checkout or set "
        "MLEDOJO_SHARED_DIR / MLEDOJO_KAGGLE_DIR"
    )
    if os.environ.get(REQUIRE_DATA_ENV) == "1":
        pytest.fail(message)
    pytest.skip(message)


def need(path: Path) -> Path:
    """`path` when it exists, else skip (or fail) the calling test."""
    if not path.exists():
        missing(path)
    return path


def need_kaggle(competition: str, file: str = "") -> Path:
    """The raw folder of a Kaggle competition (or a file in it), or skip/fail."""
    folder = kaggle_root() / competition
    return need(folder / file if file else folder)
