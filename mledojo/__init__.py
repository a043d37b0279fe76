"""mledojo: machine-learning engineering as a Gymnasium benchmark for AI agents.

    import mledojo
    env = mledojo.make("pump-failure")      # or gymnasium.make("mledojo/pump-failure-v2")

Importing stays cheap: Docker, scikit-learn, pandas and the LLM SDKs load on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from mledojo.competition import CompetitionSpec
    from mledojo.env import MLEDojoEnv
    from mledojo.types import CallTool, ExecuteCode, Observation, RequestInfo, Submit, ValidateCode

__all__ = [
    "CallTool",
    "CompetitionSpec",
    "ExecuteCode",
    "MLEDojoEnv",
    "Observation",
    "RequestInfo",
    "Submit",
    "ValidateCode",
    "list_competitions",
    "make",
    "prepare",
    "register_envs",
]

_LAZY = {
    "MLEDojoEnv": "mledojo.env",
    "CompetitionSpec": "mledojo.competition",
    "Observation": "mledojo.types",
    "RequestInfo": "mledojo.types",
    "ValidateCode": "mledojo.types",
    "ExecuteCode": "mledojo.types",
    "CallTool": "mledojo.types",
    "Submit": "mledojo.types",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'mledojo' has no attribute {name!r}")


def make(competition_id: str, **overrides: Any) -> MLEDojoEnv:
    """Create the env of a competition: `make("pump-failure", sandbox="docker", ...)`.

    The keyword arguments are `MLEDojoEnv`'s; they are resolved once into the env's
    `EpisodeSpec` (`mledojo.resolve.resolve_spec`), the same way `mledojo run` and the
    bench resolve theirs.
    """
    from mledojo.env import MLEDojoEnv

    return MLEDojoEnv(competition_id, **overrides)


def list_competitions(split: str = "all") -> list[str]:
    """Ids of registered competitions; `split` is `all`, `tabular`, `lite`, ..."""
    from mledojo.competition import list_competitions as _list

    return _list(split)


def prepare(competition_id: str, **kwargs: Any) -> Any:
    """Prepare (or verify the cache of) a competition's data; see `mledojo.data.prepare`."""
    from mledojo.data.prepare import prepare as _prepare

    return _prepare(competition_id, **kwargs)


def register_envs() -> list[str]:
    """Register every competition with Gymnasium as `mledojo/<id>-v<version>`.

    Runs once at `import mledojo` (Gymnasium 1.x has no plug-in autoload), so that
    `gymnasium.make("mledojo/pump-failure-v2")` works after the import; safe to call again.
    """
    import gymnasium

    from mledojo.competition import discover

    ids = []
    for versions in discover().competitions.values():
        for comp in versions:
            env_id = f"mledojo/{comp.spec.versioned_id}"
            if env_id not in gymnasium.registry:
                gymnasium.register(
                    id=env_id,
                    entry_point="mledojo.env:MLEDojoEnv",
                    kwargs={"competition": comp.spec.versioned_id},
                    nondeterministic=True,  # wall-clock budgets and real code execution
                    # The same bare env as `mledojo.make`: the env enforces reset-before-step
                    # itself, and CI runs `check_env` over every registered competition.
                    order_enforce=False,
                    disable_env_checker=True,
                )
            ids.append(env_id)
    return ids


def _register_at_import() -> None:
    import warnings

    try:
        register_envs()
    except Exception as e:  # a broken plug-in must never break `import mledojo`
        warnings.warn(f"mledojo: registering competitions with gymnasium failed: {e}", stacklevel=2)


_register_at_import()
