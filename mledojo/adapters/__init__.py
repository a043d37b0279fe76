"""The seam for third-party agents that run unchanged (AIDE, mini-swe-agent, your own).

- `venv.py`: a cached virtual environment per agent (pinned, `--no-deps`, atomic install).
- `process.py`, `protocol.py`, `bridge.py`: the agent's driver as a subprocess in that venv,
  talking to the host over bounded JSON lines; its commands run in the episode's sandbox.
- `gateway.py`: the episode's model gateway (the env's LLM budget, no key for the driver).
- `jail.py`: as root, the driver in a jail of its own (own root, uid, loopback-only network
  where only the gateway answers); not root, as the host's user, warned.
- `wrapped.py`: `WrappedAgent`, the base class tying them together.
- `client/mledojo_bridge.py`: the driver's side of the bridge (standard library only).
"""

from mledojo.adapters.bridge import BridgeLimits, BridgeResult, BridgeSession
from mledojo.adapters.gateway import EpisodeGateway, local_config, provider_config
from mledojo.adapters.venv import AgentVenv, VenvSpec, ensure_venv
from mledojo.adapters.wrapped import SCRIPTED, WrappedAgent

__all__ = [
    "SCRIPTED",
    "AgentVenv",
    "BridgeLimits",
    "BridgeResult",
    "BridgeSession",
    "EpisodeGateway",
    "VenvSpec",
    "WrappedAgent",
    "ensure_venv",
    "local_config",
    "provider_config",
]
