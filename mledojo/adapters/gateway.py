"""The model gateway of one wrapped-agent episode: its upstream, its meter, the driver's view.

The gateway's meter is built from the env's LLM budget and charges the env as each reply is
billed (as the ReAct agent's meter does), so `result.json`'s `llm` and the budget see every
call. Exchanges are recorded in the episode's run folder. The driver gets only the gateway's
base URLs and its client token, never a provider key.
"""

from __future__ import annotations

import socket
from types import TracebackType
from typing import TYPE_CHECKING, Self

from mledojo.agent import EnvMeter
from mledojo.artifacts import LLMUsage
from mledojo.errors import MLEDojoError
from mledojo.llm import UsageMeter
from mledojo.llm.gateway import GatewayConfig, ModelGateway, Upstream
from mledojo.llm.models import ModelRef, parse_model

if TYPE_CHECKING:
    from mledojo.env import MLEDojoEnv

# The providers' own endpoints, as their SDKs default to them.
DEFAULT_BASE_URL = {
    "openai": "https://api.openai.com/v1",
    "anthropic": "https://api.anthropic.com",
}


def provider_config(model: str, base_url: str | None = None) -> tuple[GatewayConfig, ModelRef]:
    """The gateway's upstream for `--model provider/name` (the key read from the host
    environment, a missing one fails here) and the parsed model."""
    ref = parse_model(model)
    if ref.provider == "openai-compatible" and base_url is None:
        raise MLEDojoError(
            f"model {model}: an openai-compatible model needs its server's URL; pass "
            "--agent-arg model_base_url=http://HOST:PORT/v1"
        )
    upstream = Upstream.from_env(ref.provider, base_url or DEFAULT_BASE_URL[ref.provider])
    if ref.provider == "anthropic":
        return GatewayConfig(anthropic=upstream), ref
    return GatewayConfig(openai=upstream), ref


def local_config(openai_base_url: str, anthropic_base_url: str) -> GatewayConfig:
    """Both wire families to a keyless loopback server (the scripted server, offline)."""
    return GatewayConfig(
        openai=Upstream(base_url=openai_base_url, provider="openai-compatible"),
        anthropic=Upstream(base_url=anthropic_base_url, provider="openai-compatible"),
    )


class EpisodeGateway:
    """A started `ModelGateway` metering into the env's budget; a context manager."""

    def __init__(self, env: MLEDojoEnv, config: GatewayConfig) -> None:
        self.env = env
        self.metering = EnvMeter(env)
        self.gateway = ModelGateway(config, meter=self.metering.meter, record_dir=env.run_folder)

    @property
    def meter(self) -> UsageMeter:
        return self.metering.meter

    @property
    def llm(self) -> LLMUsage:
        """What the agent's calls through the gateway cost so far (charged as they happened)."""
        return self.metering.llm

    @property
    def port(self) -> int:
        """The gateway's loopback port (a jailed driver's own loopback listens on it too)."""
        return self.gateway.port

    def also_serve(self, listener: socket.socket) -> None:
        """Serve the driver's calls on `listener` too (a jailed driver's, see `jail.py`)."""
        self.gateway.also_serve(listener)

    def driver_env(self) -> dict[str, str]:
        """The variables that point the OpenAI and Anthropic SDKs at the gateway."""
        gw = self.gateway
        return {
            "OPENAI_BASE_URL": gw.openai_base_url,
            "OPENAI_API_KEY": gw.client_token,
            "ANTHROPIC_BASE_URL": gw.anthropic_base_url,
            "ANTHROPIC_API_KEY": gw.client_token,
        }

    def __enter__(self) -> Self:
        self.gateway.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.gateway.close()
