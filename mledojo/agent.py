"""The agent interface and agent discovery.

Built-in agents live in the repo's `agents/<name>/agent.py` (shipped in the wheel); third
parties register classes in the entry-point group `mledojo.agents`. An agent module
exposes a subclass of `Agent`; its `name` is the name users type.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel

from mledojo._files import import_file
from mledojo.errors import AgentNotFoundError, MLEDojoError

if TYPE_CHECKING:
    from mledojo.env import MLEDojoEnv


class AgentOutcome(BaseModel):
    """What an agent's run reports besides the env's own result."""

    steps: int
    total_reward: float
    terminated: bool
    truncated: bool
    llm_cost_usd: float = 0.0
    notes: str = ""


class Agent(ABC):
    """A policy over `MLEDojoEnv`. Subclasses set `name` and implement `act`, or `run`."""

    name: ClassVar[str] = "abstract"

    def reset(self, observation: dict[str, Any], info: dict[str, Any]) -> None:  # noqa: B027
        """Called once after `env.reset`, before the first `act`."""

    @abstractmethod
    def act(self, observation: dict[str, Any]) -> dict[str, Any]:
        """The next action for this observation."""

    def run(self, env: MLEDojoEnv, *, seed: int | None = None) -> AgentOutcome:
        """Play one episode: reset, then `act` until terminated or truncated."""
        obs, info = env.reset(seed=seed)
        self.reset(obs, info)
        total, steps = 0.0, 0
        terminated = truncated = False
        while not (terminated or truncated):
            obs, reward, terminated, truncated, info = env.step(self.act(obs))
            total += float(reward)
            steps += 1
        return AgentOutcome(
            steps=steps, total_reward=total, terminated=terminated, truncated=truncated
        )


def builtin_agents_root() -> Path:
    """`agents/` inside the wheel, else in the source checkout."""
    here = Path(__file__).resolve().parent
    wheel = here / "_builtin" / "agents"
    return wheel if wheel.is_dir() else here.parent / "agents"


def _load_file_agent(path: Path) -> type[Agent]:
    module = import_file(path, "mledojo_agent")
    found = [
        v
        for v in vars(module).values()
        if isinstance(v, type)
        and issubclass(v, Agent)
        and v is not Agent
        and v.__module__ == module.__name__
    ]
    if len(found) != 1:
        raise MLEDojoError(f"{path}: expected exactly one Agent subclass, found {len(found)}")
    return found[0]


def available_agents() -> dict[str, str]:
    """`{name: where it comes from}` without importing any agent."""
    out = {p.parent.name: str(p) for p in sorted(builtin_agents_root().glob("*/agent.py"))}
    for ep in metadata.entry_points(group="mledojo.agents"):
        out.setdefault(ep.name, f"entry point {ep.value}")
    return out


def load_agent(name: str) -> type[Agent]:
    """The agent class registered under `name`."""
    path = builtin_agents_root() / name / "agent.py"
    if path.is_file():
        return _load_file_agent(path)
    for ep in metadata.entry_points(group="mledojo.agents"):
        if ep.name == name:
            cls = ep.load()
            if not (isinstance(cls, type) and issubclass(cls, Agent)):
                raise MLEDojoError(f"entry point {ep.value} is not an mledojo Agent subclass")
            return cls
    raise AgentNotFoundError(name, available_agents())
