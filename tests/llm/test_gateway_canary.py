"""The key canary through a real Docker episode: with the real key in the host environment
and the gateway serving the episode, the key is in neither the container's environment, nor
the agent's observations and replies, nor any file the run wrote; and the container cannot
reach the gateway on the host."""

from __future__ import annotations

import secrets
from pathlib import Path

import openai
import pytest

import mledojo
from mledojo.llm import UsageMeter
from mledojo.llm.gateway import EXCHANGES_FILE, GatewayConfig, ModelGateway, Upstream
from mledojo.testing.llm_server import Reply, ScriptedLLMServer

PROBE = """
import os, socket, pandas as pd
print("ENV", sorted(os.environ.items()))
print("PID1", open("/proc/1/environ", "rb").read().decode(errors="replace"))
for host in ("127.0.0.1", "172.17.0.1", "host.docker.internal"):
    try:
        socket.create_connection((host, {port}), timeout=2).close()
        print("REACHED", host)
    except OSError as exc:
        print("unreachable", host, type(exc).__name__)
pd.read_csv(os.environ["MLEDOJO_DATA"] + "/sample_submission.csv").to_csv(
    "submission.csv", index=False)
"""


@pytest.mark.docker
@pytest.mark.timeout(180)
def test_the_key_never_reaches_the_container_or_the_run_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    canary = "sk-canary-" + secrets.token_hex(16)
    monkeypatch.setenv("OPENAI_API_KEY", canary)
    run_dir = tmp_path / "run"
    with ScriptedLLMServer([Reply.say(f"write the sample ({canary})")]) as server:
        with mledojo.make("pump-failure", sandbox="docker", run_dir=run_dir) as env:
            env.reset(seed=0)
            config = GatewayConfig(openai=Upstream.from_env("openai", server.openai_base_url))
            with ModelGateway(config, meter=UsageMeter(), record_dir=env.run_folder) as gw:
                agent = openai.OpenAI(base_url=gw.openai_base_url, api_key=gw.client_token)
                reply = agent.chat.completions.create(
                    model="gpt-5-mini", messages=[{"role": "user", "content": "plan?"}]
                )
                code = PROBE.replace("{port}", str(int(gw.base_url.rsplit(":", 1)[1])))
                obs, *_ = env.step({"action": "execute_code", "code": code})
                _, _, terminated, _, info = env.step({"action": "submit"})
    seen = " ".join(str(v) for v in obs.values())
    assert "ENV" in seen and "PID1" in seen, seen[:2000]
    assert "REACHED" not in seen and seen.count("unreachable") == 3, seen[-1500:]
    assert terminated and info["final"]["graded"], info
    # the canary was live: the upstream got it, the gateway recorded into the run folder
    assert server.requests[0].headers["authorization"] == f"Bearer {canary}"
    assert (env.run_folder / EXCHANGES_FILE).is_file()
    assert canary not in seen and canary not in reply.model_dump_json()
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert len(files) > 3, files
    for path in files:
        assert canary.encode() not in path.read_bytes(), f"the key leaked into {path}"
