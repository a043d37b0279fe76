"""The agent interface and agent discovery.

Built-in agents live in the repo's `agents/<name>/agent.py` (shipped in the wheel); third
parties register classes in the entry-point group `mledojo.agents`. An agent can also be
named by a file (`path/to/agent.py`, holding exactly one `Agent` subclass) or by
`package.module:Class`. Agent arguments (`--agent-arg k=v`) go to the class's constructor.
"""

from __future__ import annotations

import importlib
import inspect
import threading
from abc import ABC, abstractmethod
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel

from mledojo._files import import_file
from mledojo.artifacts import LLMUsage
from mledojo.errors import AgentNotFoundError, MLEDojoError
from mledojo.llm.meter import UsageMeter
from mledojo.llm.models import CallUsage

if TYPE_CHECKING:
    from mledojo.env import MLEDojoEnv


class AgentOutcome(BaseModel):
    """What an agent's run reports besides the env's own result."""

    steps: int
    total_reward: float
    terminated: bool
    truncated: bool
    llm: LLMUsage | None = None  # what the agent's model calls cost, if it used a model
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


class EpisodeEnded(Exception):
    """The env ended the episode (a budget); nothing more can be done."""


class EnvRun:
    """The bookkeeping of an agent that drives `env.step` itself (ReAct, hill-climb): steps,
    reward, steps left and whether the episode is over. `_step` raises `EpisodeEnded` once
    the env has truncated the episode or it is over."""

    def __init__(self, env: MLEDojoEnv) -> None:
        self.env = env
        self.steps = 0
        self.reward = 0.0
        self.terminated = self.truncated = False
        self.steps_left = 10**9

    def _step(self, action: dict[str, Any]) -> dict[str, Any]:
        if self.terminated or self.truncated:
            raise EpisodeEnded("the episode is over")
        obs, reward, terminated, truncated, _ = self.env.step(action)
        self.steps += 1
        self.reward += float(reward)
        self.steps_left = int(obs.get("steps_left", self.steps_left))
        self.terminated, self.truncated = bool(terminated), bool(truncated)
        if truncated and not terminated:
            raise EpisodeEnded(str(obs.get("error_message") or "the episode was truncated"))
        return obs

    def _submit(self) -> None:
        if not (self.terminated or self.truncated):
            self._step({"action": "submit"})


class EnvMeter:
    """A `UsageMeter` on the env's LLM budget for an agent's own model calls: each billed
    call is charged to the env as it happens (so the budget is enforced) and summed in
    `llm`, the agent's `AgentOutcome.llm`. Thread-safe: agents call models from threads."""

    def __init__(self, env: MLEDojoEnv) -> None:
        self.env = env
        self.llm = LLMUsage()
        self._lock = threading.Lock()
        budget = env.budget
        self.meter = UsageMeter(
            max_tokens=budget.llm_tokens, max_usd=budget.llm_usd, on_charge=self._charge
        )

    def _charge(self, usage: CallUsage) -> None:
        u = usage.as_llm_usage()
        with self._lock:
            self.llm = self.llm.plus(u)
        self.env.charge_llm(u)


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
    found = sorted(builtin_agents_root().glob("*/agent.py"))
    out = {p.parent.name.replace("_", "-"): str(p) for p in found}  # agents/mle_bot: mle-bot
    for ep in metadata.entry_points(group="mledojo.agents"):
        out.setdefault(ep.name, f"entry point {ep.value}")
    return out


def load_agent(name: str) -> type[Agent]:
    """The agent class named `name`: built-in, entry point, `file.py` or `module:Class`."""
    path = builtin_agents_root() / name.replace("-", "_") / "agent.py"
    if "/" not in name and path.is_file():
        return _load_file_agent(path)
    if name.endswith(".py"):
        file = Path(name).expanduser()
        if not file.is_file():
            raise MLEDojoError(f"agent file {name} does not exist")
        return _load_file_agent(file.resolve())
    if ":" in name:
        return _load_qualified(name)
    for ep in metadata.entry_points(group="mledojo.agents"):
        if ep.name == name:
            cls = ep.load()
            if not (isinstance(cls, type) and issubclass(cls, Agent)):
                raise MLEDojoError(f"entry point {ep.value} is not an mledojo Agent subclass")
            return cls
    raise AgentNotFoundError(name, available_agents())


def _load_qualified(name: str) -> type[Agent]:
    module_name, _, attr = name.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as e:
        raise MLEDojoError(f"agent {name}: cannot import module `{module_name}`: {e}") from e
    cls = getattr(module, attr, None)
    if not (isinstance(cls, type) and issubclass(cls, Agent)):
        raise MLEDojoError(f"agent {name}: `{attr}` in `{module_name}` is not an Agent subclass")
    return cls


def make_agent(name: str, args: dict[str, object] | None = None) -> Agent:
    """An instance of the agent `name`, its constructor given `args` (checked by name)."""
    cls = load_agent(name)
    args = dict(args or {})
    params = inspect.signature(cls.__init__).parameters
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    known = [k for k in params if k != "self"]
    unknown = sorted(set(args) - set(known))
    if unknown and not takes_any:
        from mledojo.errors import did_you_mean

        _, hint = did_you_mean(unknown[0], known)
        raise MLEDojoError(
            f"agent {name} takes no argument {unknown[0]!r}.{hint} "
            f"It takes: {', '.join(known) or 'no arguments'}"
        )
    try:
        return cls(**args)
    except (TypeError, ValueError) as e:
        raise MLEDojoError(f"agent {name}: bad arguments {args}: {e}") from e
