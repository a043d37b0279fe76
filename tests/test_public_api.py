"""The public API: `import mledojo` is cheap, `__all__` resolves, Gymnasium ids exist.

The import checks run in a fresh interpreter, because this test process has usually
imported pandas, scikit-learn or the Docker SDK already.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from typing import Any

import pytest

import mledojo
from mledojo.errors import CompetitionNotFoundError

HEAVY_MODULES = ("docker", "sklearn", "pandas", "openai", "anthropic")


def _fresh_python(code: str) -> Any:
    """Run `code` in a new interpreter; return the JSON it prints on its last line."""
    result = subprocess.run(
        [sys.executable, "-W", "error::UserWarning", "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=120,
        env=os.environ.copy(),
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_import_is_cheap() -> None:
    loaded = _fresh_python(
        f"""
        import json, sys
        import mledojo
        print(json.dumps([m for m in {HEAVY_MODULES!r} if m in sys.modules]))
        """
    )
    assert loaded == [], f"`import mledojo` imported {loaded}; import them lazily"


def test_cached_prepare_does_not_import_scikit_learn() -> None:
    """A cached prepare only verifies checksums; scikit-learn costs seconds to import."""
    mledojo.prepare("pump-failure")  # make sure the cache exists
    loaded = _fresh_python(
        """
        import json, sys
        import mledojo
        data = mledojo.prepare("pump-failure")
        print(json.dumps([data.reused, "sklearn" in sys.modules]))
        """
    )
    assert loaded == [True, False]


def test_all_names_resolve() -> None:
    assert mledojo.__all__, "mledojo.__all__ is empty"
    missing = [name for name in mledojo.__all__ if not hasattr(mledojo, name)]
    assert missing == [], f"mledojo.__all__ names missing attributes: {missing}"


def test_every_competition_is_a_gymnasium_id_after_import() -> None:
    found = _fresh_python(
        """
        import json
        import gymnasium
        import mledojo
        from mledojo.competition import get_competition

        rows = []
        for cid in mledojo.list_competitions():
            env_id = f"mledojo/{get_competition(cid).spec.versioned_id}"
            spec = gymnasium.registry.get(env_id)
            rows.append([cid, env_id, None if spec is None else str(spec.entry_point)])
        print(json.dumps(rows))
        """
    )
    assert found, "no competitions discovered"
    missing = [env_id for _, env_id, entry in found if entry is None]
    assert missing == [], f"not registered with gymnasium: {missing}"
    assert {entry for _, _, entry in found} == {"mledojo.env:MLEDojoEnv"}
    assert {cid for cid, _, _ in found} == set(mledojo.list_competitions())


def test_unknown_competition_raises_with_a_suggestion() -> None:
    assert "titanic" in mledojo.list_competitions()
    with pytest.raises(CompetitionNotFoundError) as near:
        mledojo.make("titanc")
    assert "Did you mean" in str(near.value)
    assert "`titanic`" in str(near.value)
    assert near.value.suggestions[0] == "titanic"


def test_unknown_competition_without_a_near_miss() -> None:
    with pytest.raises(CompetitionNotFoundError) as far:
        mledojo.make("nonexistent")
    assert "nonexistent" in str(far.value)
    assert "mledojo list" in str(far.value)  # says what to do next


def test_every_subpackage_all_resolves() -> None:
    """Each name a package lists in `__all__` can be got (a renamed module broke one)."""
    missing = _fresh_python(
        """
        import importlib, json, pkgutil
        import mledojo
        missing = []
        packages = ["mledojo"] + [
            m.name for m in pkgutil.walk_packages(mledojo.__path__, "mledojo.") if m.ispkg
        ]
        for name in packages:
            module = importlib.import_module(name)
            for attr in getattr(module, "__all__", []):
                try:
                    getattr(module, attr)
                except Exception as exc:
                    missing.append(f"{name}.{attr}: {exc!r}")
        print(json.dumps(missing))
        """
    )
    assert missing == []
