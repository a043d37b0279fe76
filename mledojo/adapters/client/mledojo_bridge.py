"""The driver's side of mledojo's bridge (standard library only; runs in the agent's venv).

A driver is the small script that runs a third-party agent unchanged: it points the agent's
model at the gateway (the SDKs read `OPENAI_BASE_URL` / `OPENAI_API_KEY` and the Anthropic
pair from the environment) and its code execution at `Bridge`, whose calls run in the
episode's sandbox on the host's side::

    from mledojo_bridge import Bridge, load_config

    bridge = Bridge.from_env()
    task = bridge.task()                      # {"task": {...}, "instructions": "..."}
    out = bridge.bash("ls /data")             # {"output": ..., "returncode": 0, ...}
    bridge.submit()                           # grades; the episode is over

Every call returns the host's reply as a dict; a refused request raises `BridgeRefused`, a
closed bridge `BridgeClosed` (the episode is over or the host stopped the run).
"""

from __future__ import annotations

import json
import os
from typing import Any

FDS_VARIABLE = "MLEDOJO_BRIDGE_FDS"
CONFIG_VARIABLE = "MLEDOJO_DRIVER_CONFIG"


class BridgeClosed(Exception):
    """The host closed the bridge: the run is over."""


class BridgeRefused(Exception):
    """The host refused a request (the message says why)."""


def load_config() -> dict[str, Any]:
    """The driver's configuration (model name, the agent's options) the host wrote for it."""
    with open(os.environ[CONFIG_VARIABLE], encoding="utf-8") as f:
        data = json.load(f)
    if not isinstance(data, dict):
        raise ValueError(f"{os.environ[CONFIG_VARIABLE]}: expected a JSON object")
    return data


class Bridge:
    """Requests to the host over the two pipes it gave this process."""

    def __init__(self, request_fd: int, reply_fd: int) -> None:
        self._out = os.fdopen(request_fd, "wb", buffering=0)
        self._in = os.fdopen(reply_fd, "rb")
        self.episode_over = False

    @classmethod
    def from_env(cls) -> Bridge:
        request_fd, reply_fd = (int(x) for x in os.environ[FDS_VARIABLE].split(","))
        return cls(request_fd, reply_fd)

    def call(self, op: str, **fields: Any) -> dict[str, Any]:
        """Send one request and wait for its reply."""
        line = json.dumps({"op": op, **fields}).encode() + b"\n"
        try:
            self._out.write(line)
        except (BrokenPipeError, ValueError):
            raise BridgeClosed("the host closed the bridge") from None
        answer = self._in.readline()
        if not answer:
            raise BridgeClosed("the host closed the bridge")
        reply: dict[str, Any] = json.loads(answer)
        self.episode_over = bool(reply.get("episode_over"))
        if not reply.get("ok", False):
            raise BridgeRefused(str(reply.get("error") or "refused"))
        return reply

    def task(self) -> dict[str, Any]:
        return self.call("task")

    def bash(self, command: str, timeout_s: float | None = None) -> dict[str, Any]:
        return self.call("bash", command=command, timeout_s=timeout_s)

    def python(self, code: str) -> dict[str, Any]:
        return self.call("python", code=code)

    def submit(self, path: str | None = None) -> dict[str, Any]:
        return self.call("submit", path=path)

    def fail(self, reason: str) -> dict[str, Any]:
        return self.call("fail", reason=reason[:4000])

    def note(self, text: str) -> dict[str, Any]:
        return self.call("note", text=text[:4000])
