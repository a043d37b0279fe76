"""mini-swe-agent's `DefaultAgent`, unchanged, inside an mledojo episode (runs in its own venv).

Its two public extension points are filled in: the environment (`SandboxEnvironment`: every
bash command goes over mledojo's bridge and runs in the episode's sandbox) and the model
(`GatewayModel`: the `openai` SDK's Chat Completions with mini-swe-agent's bash tool, pointed
at the episode's gateway by `OPENAI_BASE_URL` / `OPENAI_API_KEY`). Its own config
(`mini.yaml`: prompts, observation and format-error templates) is used as shipped. Its end,
`echo COMPLETE_TASK_AND_SUBMIT_FINAL_OUTPUT`, submits: the env grades the best submission.
"""

from __future__ import annotations

import os
import platform
import shlex
import sys
import time
from pathlib import Path
from typing import Any

# before minisweagent is imported: no banner, its global config in our private HOME
os.environ.setdefault("MSWEA_SILENT_STARTUP", "1")
os.environ.setdefault("MSWEA_GLOBAL_CONFIG_DIR", str(Path.home() / "mini-swe-agent"))

import openai  # noqa: E402
import yaml  # noqa: E402
from minisweagent import package_dir  # noqa: E402
from minisweagent.agents.default import DefaultAgent  # noqa: E402
from minisweagent.exceptions import FormatError, LimitsExceeded, Submitted  # noqa: E402
from minisweagent.models.utils.actions_toolcall import (  # noqa: E402
    BASH_TOOL,
    format_toolcall_observation_messages,
    parse_toolcall_actions,
)
from mledojo_bridge import Bridge, BridgeRefused, load_config  # noqa: E402
from pydantic import BaseModel, ConfigDict  # noqa: E402

SUBMIT_LINE = "COMPLETE_TASK_AND_SUBMIT_FINAL_OUTPUT"
# Chat Completions parameters a config may set; anything else (litellm's own) is dropped
CHAT_PARAMETERS = ("temperature", "top_p", "max_tokens", "max_completion_tokens", "seed")
CHAT_PARAMETERS += ("reasoning_effort", "parallel_tool_calls", "stop")
TASK_NOTE = """
How this environment works: this is a Kaggle-style machine-learning competition. Every bash
command runs in a fresh subshell in /workspace, whose files persist between commands; the
competition's public files are in $MLEDOJO_DATA (/data, read-only). Write your predictions
for the test set to /workspace/submission.csv in the format of sample_submission.csv: a
command that writes it gets it scored on the public part of the test set. When you are done,
submit with `echo {submit}` alone: the best valid submission is graded.
"""


class SandboxEnvironmentConfig(BaseModel):
    """mini-swe-agent's environment settings that apply here."""

    model_config = ConfigDict(extra="ignore")

    cwd: str = ""
    env: dict[str, str] = {}
    timeout: int = 600


class SandboxEnvironment:
    """mini-swe-agent's `Environment` protocol; commands run in the sandbox over the bridge."""

    def __init__(self, *, bridge: Bridge, **kwargs: Any) -> None:
        self.config = SandboxEnvironmentConfig(**kwargs)
        self.bridge = bridge

    def execute(
        self, action: dict[str, Any], cwd: str = "", *, timeout: int | None = None
    ) -> dict[str, Any]:
        lines = [f"export {k}={shlex.quote(v)}" for k, v in self.config.env.items()]
        if cwd or self.config.cwd:
            lines.append(f"cd {shlex.quote(cwd or self.config.cwd)}")
        command = "\n".join([*lines, str(action.get("command", ""))])
        try:
            reply = self.bridge.bash(command, timeout_s=float(timeout or self.config.timeout))
        except BridgeRefused as exc:
            return {"output": "", "returncode": -1, "exception_info": f"refused: {exc}"}
        output: dict[str, Any] = {
            "output": reply.get("output", ""),
            "returncode": reply.get("returncode"),
            "exception_info": "",
        }
        if output["returncode"] is None:
            output["returncode"] = -1
            output["exception_info"] = reply.get("status") or "the command did not finish"
        if reply.get("episode_over"):
            raise LimitsExceeded(_exit("EpisodeOver", "the episode ended (a budget ran out)"))
        first = str(output["output"]).lstrip().split("\n", 1)[0].strip()
        if first == SUBMIT_LINE and output["returncode"] == 0:
            raise Submitted(_exit("Submitted", ""))
        return output

    def get_template_vars(self, **kwargs: Any) -> dict[str, Any]:
        # the sandbox shares the host's kernel: uname is the same there
        return {**self.config.model_dump(), **platform.uname()._asdict(), **kwargs}

    def serialize(self) -> dict[str, Any]:
        return {
            "info": {
                "config": {
                    "environment": self.config.model_dump(mode="json"),
                    "environment_type": "mledojo.SandboxEnvironment",
                }
            }
        }


class GatewayModelConfig(BaseModel):
    """mini-swe-agent's model settings that apply here."""

    model_config = ConfigDict(extra="ignore")

    model_name: str
    model_kwargs: dict[str, Any] = {}
    observation_template: str
    format_error_template: str
    multimodal_regex: str = ""


class GatewayModel:
    """mini-swe-agent's `Model` protocol over the `openai` SDK's Chat Completions."""

    def __init__(self, **kwargs: Any) -> None:
        self.config = GatewayModelConfig(**kwargs)
        self.client = openai.OpenAI(max_retries=4, timeout=600.0)  # base URL and key: env

    def query(self, messages: list[dict[str, Any]], **kwargs: Any) -> dict[str, Any]:
        options = {
            k: v for k, v in {**self.config.model_kwargs, **kwargs}.items() if k in CHAT_PARAMETERS
        }
        sent = [{k: v for k, v in m.items() if k != "extra"} for m in messages]
        response = self.client.chat.completions.create(
            model=self.config.model_name,
            messages=sent,
            tools=[BASH_TOOL],
            **options,  # type: ignore[arg-type]
        )
        data = response.model_dump(mode="json")
        choice = response.choices[0]
        try:
            actions = parse_toolcall_actions(
                list(choice.message.tool_calls or []),
                format_error_template=self.config.format_error_template,
                template_kwargs={"finish_reason": choice.finish_reason},
            )
        except FormatError as exc:
            exc.messages[0]["extra"]["response"] = data
            raise
        message: dict[str, Any] = {"role": "assistant", "content": choice.message.content}
        if choice.message.tool_calls:
            message["tool_calls"] = data["choices"][0]["message"]["tool_calls"]
        message["extra"] = {
            "actions": actions,
            "response": data,
            "cost": 0.0,
            "timestamp": time.time(),
        }
        return message

    def format_message(self, **kwargs: Any) -> dict[str, Any]:
        return dict(kwargs)

    def format_observation_messages(
        self,
        message: dict[str, Any],
        outputs: list[dict[str, Any]],
        template_vars: dict[str, Any] | None = None,
    ) -> list[dict[str, Any]]:
        return format_toolcall_observation_messages(
            actions=message.get("extra", {}).get("actions", []),
            outputs=outputs,
            observation_template=self.config.observation_template,
            template_vars=template_vars,
            multimodal_regex=self.config.multimodal_regex,
        )

    def get_template_vars(self, **kwargs: Any) -> dict[str, Any]:
        return self.config.model_dump()

    def serialize(self) -> dict[str, Any]:
        return {
            "info": {
                "config": {
                    "model": self.config.model_dump(mode="json"),
                    "model_type": "mledojo.GatewayModel",
                }
            }
        }


def _exit(status: str, content: str) -> dict[str, Any]:
    return {"role": "exit", "content": content, "extra": {"exit_status": status, "submission": ""}}


def task_text(task: dict[str, Any]) -> str:
    return str(task.get("instructions") or "") + "\n" + TASK_NOTE.format(submit=SUBMIT_LINE)


def main() -> int:
    bridge = Bridge.from_env()
    config = load_config()
    shipped = yaml.safe_load(
        (Path(package_dir) / "config" / "mini.yaml").read_text(encoding="utf-8")
    )
    model = GatewayModel(model_name=config["model"], **shipped.get("model", {}))
    environment = SandboxEnvironment(
        bridge=bridge, **{**shipped.get("environment", {}), "timeout": config["command_timeout_s"]}
    )
    agent_config = {
        **shipped["agent"],
        "step_limit": config["step_limit"],
        "output_path": Path("trajectory.json").resolve(),
    }
    agent = DefaultAgent(model, environment, **agent_config)
    text = task_text(bridge.task())
    try:
        result = agent.run(text)
    except openai.APIStatusError as exc:
        if exc.status_code == 429 and "insufficient_quota" in str(exc.body):
            bridge.note("the LLM budget is used up: the best submission is graded")
            bridge.submit()
            return 0
        bridge.fail(f"the model call failed: {type(exc).__name__}: {exc}")
        return 1
    except Exception as exc:  # noqa: BLE001 - any failure of the agent ends as its failure
        bridge.fail(f"mini-swe-agent failed: {type(exc).__name__}: {exc}")
        return 1
    status = str(result.get("exit_status") or "")
    if bridge.episode_over:  # the env ended the episode; the host has stopped serving
        return 0
    bridge.note(f"mini-swe-agent ended: {status}")
    if status in ("Submitted", "LimitsExceeded", "TimeExceeded"):
        bridge.submit()
        return 0
    bridge.fail(
        f"mini-swe-agent stopped: {status}: {str(result.get('exception_str') or '')[:2000]}"
    )
    return 1


if __name__ == "__main__":
    sys.exit(main())
