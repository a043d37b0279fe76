"""The metering model gateway: an OpenAI- and Anthropic-compatible endpoint on loopback that
third-party agents call by `base_url`, so they never hold the key (see `server.py`)."""

from mledojo.llm.gateway.exchanges import EXCHANGES_FILE, Exchange, read_exchanges
from mledojo.llm.gateway.replay import ReplayUpstream
from mledojo.llm.gateway.server import GatewayConfig, ModelGateway, Upstream

__all__ = [
    "EXCHANGES_FILE",
    "Exchange",
    "GatewayConfig",
    "ModelGateway",
    "ReplayUpstream",
    "Upstream",
    "read_exchanges",
]
