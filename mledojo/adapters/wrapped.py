"""`WrappedAgent`: the base of agents that run a third-party package unchanged.

A subclass names its pinned packages (`venv`), its driver script (run with the venv's
Python) and, for the offline path, a scripted upstream. `run(env)` makes the venv (cached),
resets the env, starts the episode's gateway, runs the driver over the bridge (in its jail
as root, `jail.py`), and reports the outcome. See docs/adding-an-agent.md, "Wrapping an
agent that runs unchanged".
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from mledojo.adapters.bridge import BridgeLimits, BridgeResult, BridgeSession
from mledojo.adapters.gateway import EpisodeGateway, provider_config
from mledojo.adapters.jail import BRIDGE_INSIDE, DriverJail, isolation_available
from mledojo.adapters.venv import AgentVenv, VenvSpec, ensure_venv
from mledojo.agent import Agent, AgentOutcome
from mledojo.errors import MLEDojoError
from mledojo.llm.gateway import GatewayConfig

if TYPE_CHECKING:
    from mledojo.env import MLEDojoEnv

SCRIPTED = "scripted"
CLIENT_DIR = Path(__file__).resolve().parent / "client"
CONFIG_VARIABLE = "MLEDOJO_DRIVER_CONFIG"
CONFIG_FILE = "driver-config.json"
_SECRET_WORDS = ("KEY", "TOKEN", "SECRET", "PASSWORD", "CREDENTIAL")
_MIN_SECRET_CHARS = 8


def host_secrets() -> list[str]:
    """Values of the host's variables that look like credentials (by name): none of them may
    reach a driver."""
    return [
        value
        for name, value in os.environ.items()
        if any(word in name.upper() for word in _SECRET_WORDS)
        and len(value.strip()) >= _MIN_SECRET_CHARS
    ]


def check_no_secrets(where: str, text: str, secrets: list[str]) -> None:
    """Refuse to hand a driver `text` that holds a host credential."""
    for secret in secrets:
        if secret.strip() in text:
            raise MLEDojoError(
                f"{where} would carry a credential from the host environment to the agent's "
                "driver; refusing. Give the driver only the gateway's token."
            )


class WrappedAgent(Agent):
    """Runs a third-party agent in its own venv, its code in the sandbox (module docstring)."""

    name: ClassVar[str] = "abstract-wrapped"
    venv: ClassVar[VenvSpec]
    driver: ClassVar[Path]

    def __init__(
        self,
        model: str = SCRIPTED,
        model_base_url: str | None = None,
        idle_timeout_s: float = 1800.0,
    ) -> None:
        self.model = model
        self.model_base_url = model_base_url
        self.limits = BridgeLimits(idle_timeout_s=idle_timeout_s)
        self.last: BridgeResult | None = None

    def act(self, observation: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError(f"{self.name} drives the episode itself: use run(env)")

    # what a subclass provides ----------------------------------------------------------
    def driver_config(self, model: str) -> dict[str, Any]:
        """What the driver reads with `load_config()`; `model` is the name to ask the gateway
        for. Override to add the agent's options."""
        return {"model": model}

    @contextmanager
    def upstream(self) -> Iterator[tuple[GatewayConfig, str]]:
        """The gateway's upstream and the model name the driver asks for. The offline path
        (`model=scripted`) is the subclass's: it overrides this to serve a scripted
        conversation."""
        if self.model == SCRIPTED:
            raise MLEDojoError(f"agent {self.name} has no scripted conversation")
        config, ref = provider_config(self.model, self.model_base_url)
        yield config, ref.name

    # the run ---------------------------------------------------------------------------
    def run(self, env: MLEDojoEnv, *, seed: int | None = None) -> AgentOutcome:
        venv = ensure_venv(self.venv)  # before reset: a failed install costs no episode
        obs, info = env.reset(seed=seed)
        with self.upstream() as (config, model), EpisodeGateway(env, config) as gateway:
            folder = env.run_folder / self.name
            session = BridgeSession(
                env,
                task=dict(info["task"]),
                instructions=str(obs.get("info") or ""),
                folder=folder,
                limits=self.limits,
                budget_spent=lambda: gateway.meter.exhausted() is not None,
            )
            jail = None
            if isolation_available():
                jail = DriverJail(
                    python=venv.python,
                    client=CLIENT_DIR,
                    read_only=(self.driver.parent, folder / CONFIG_FILE),
                    folder=folder,
                    port=gateway.port,
                    serve=gateway.also_serve,
                )
            client = BRIDGE_INSIDE if jail is not None else str(CLIENT_DIR)
            driver_env = self._driver_env(venv, gateway, folder, model, client)
            result = session.run(
                [str(venv.python), "-s", "-B", str(self.driver)],
                env=driver_env,
                cwd=folder / "work",
                jail=jail,
            )
        self.last = result
        notes = list(result.notes)
        if result.error:
            notes.append(f"driver: {result.ended_by}: {result.error}")
        if self.model == SCRIPTED:
            notes.append("[scripted, no key]")
        if result.isolation == "none":
            notes.append("[driver not isolated: not root]")
        return AgentOutcome(
            steps=result.steps,
            total_reward=result.total_reward,
            terminated=result.terminated,
            truncated=result.truncated,
            llm=gateway.llm if gateway.llm.calls else None,
            notes="; ".join(notes),
        )

    def _driver_env(
        self, venv: AgentVenv, gateway: EpisodeGateway, folder: Path, model: str, client: str
    ) -> dict[str, str]:
        """A clean environment: no host variables but a minimal PATH and locale, a private
        HOME and TMPDIR, the gateway's URLs and token, the config file, the bridge client
        (the folder `client`, as the driver sees it)."""
        for sub in ("home", "tmp", "work"):
            (folder / sub).mkdir(mode=0o700, parents=True, exist_ok=True)
        config_path = folder / CONFIG_FILE
        config_text = json.dumps(self.driver_config(model), indent=2)
        secrets = host_secrets()
        check_no_secrets("the driver's config", config_text, secrets)
        config_path.write_text(config_text, encoding="utf-8")
        env = {
            "PATH": f"{venv.path / 'bin'}:/usr/local/bin:/usr/bin:/bin",
            "HOME": str(folder / "home"),
            "TMPDIR": str(folder / "tmp"),
            "LANG": "C.UTF-8",
            "PYTHONUNBUFFERED": "1",
            "PYTHONPATH": client,
            CONFIG_VARIABLE: str(config_path),
            **gateway.driver_env(),
        }
        for name, value in env.items():
            check_no_secrets(f"the driver's variable {name}", value, secrets)
        return env
