"""The host bridge: serves a driver's requests against a reset env until the run ends.

`BridgeSession.run` starts the driver (`process.py`), answers each request through
`env.step` (bash commands and Python cells run in the episode's sandbox, never on the
host), and ends the episode however the driver ends: `submit` grades; `fail`, a crash, a
hang, or a driver that keeps breaking the protocol ends it as `agent_error` with the
driver's log tail (unless the LLM budget is spent: the model's refusals broke the agent, and
its best submission is graded); a driver that exits cleanly without submitting gets its best
submission graded. Nothing the driver does raises out of `run`.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from mledojo.adapters.jail import DriverJail, Isolation
from mledojo.adapters.process import DriverGone, DriverProcess, DriverTimeout, Oversized
from mledojo.adapters.protocol import (
    MAX_REQUEST_BYTES,
    BashRequest,
    FailRequest,
    NoteRequest,
    ProtocolError,
    PythonRequest,
    Reply,
    Request,
    SubmitRequest,
    TaskRequest,
    parse_request,
)

if TYPE_CHECKING:
    from mledojo.env import MLEDojoEnv

EndedBy = Literal["submit", "episode_over", "fail", "exit", "crash", "protocol", "timeout"]
_EXIT_MARK = "__mledojo_exit_"
_TRANSCRIPT_CHARS = 2000


class BridgeLimits(BaseModel):
    """Bounds on what a driver may cost the host."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_request_bytes: int = Field(default=MAX_REQUEST_BYTES, gt=0)
    start_timeout_s: float = Field(default=300.0, gt=0)  # for the first request (imports)
    idle_timeout_s: float = Field(default=1800.0, gt=0)  # between a reply and the next request
    reply_timeout_s: float = Field(default=60.0, gt=0)  # for the driver to read a reply
    max_protocol_errors: int = Field(default=5, ge=1)  # refused requests in a row
    max_free_requests: int = Field(default=1000, ge=1)  # in a row without an env step
    max_notes: int = Field(default=100, ge=0)  # notes kept for the report
    exit_grace_s: float = Field(default=10.0, ge=0)
    max_log_bytes: int = Field(default=8 << 20, gt=0)


class BridgeResult(BaseModel):
    """How the driver's run went (the env holds the episode's own result)."""

    model_config = ConfigDict(extra="forbid")

    steps: int = 0
    total_reward: float = 0.0
    terminated: bool = False
    truncated: bool = False
    ended_by: EndedBy = "exit"
    error: str | None = None
    exit_code: int | None = None
    notes: list[str] = Field(default_factory=list)
    log_tail: str = ""
    # "jail": the driver ran in its own root, network and uid (`jail.py`); "none": as the
    # host's user, with the host's files and network (not root; warned)
    isolation: Isolation = "none"


class _Failure(Exception):
    """The driver broke the bridge; ends the run as `agent_error`."""

    def __init__(self, ended_by: EndedBy, message: str) -> None:
        super().__init__(message)
        self.ended_by: EndedBy = ended_by


def bash_cell(command: str, timeout_s: float | None, mark: str) -> str:
    """A Python cell running `command` with bash in the workspace (its own session, killed
    whole on a timeout), printing its merged output, then `mark` and the exit code."""
    return (
        "import os, signal, subprocess, sys\n"
        f"_p = subprocess.Popen(['bash', '-c', {command!r}], "
        "stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, "
        "start_new_session=True)\n"
        "try:\n"
        f"    _out, _ = _p.communicate(timeout={timeout_s!r})\n"
        "    _rc = str(_p.returncode)\n"
        "except subprocess.TimeoutExpired:\n"
        "    os.killpg(_p.pid, signal.SIGKILL)\n"
        "    _out, _ = _p.communicate()\n"
        "    _rc = 'timeout'\n"
        "sys.stdout.write(_out.decode('utf-8', 'replace'))\n"
        f"print('\\n{mark}' + _rc)\n"
    )


class BridgeSession:
    """Serves one driver over one reset env (see the module docstring)."""

    def __init__(
        self,
        env: MLEDojoEnv,
        *,
        task: dict[str, Any],
        instructions: str,
        folder: Path,
        limits: BridgeLimits | None = None,
        budget_spent: Callable[[], bool] | None = None,
    ) -> None:
        self.env = env
        self.budget_spent = budget_spent
        self.task = task
        self.instructions = instructions
        self.folder = folder
        self.limits = limits or BridgeLimits()
        self.result = BridgeResult()
        self._over = False

    def run(
        self,
        argv: list[str],
        *,
        env: dict[str, str],
        cwd: Path,
        jail: DriverJail | None = None,
    ) -> BridgeResult:
        """Start the driver (in `jail` when given) and serve it to the end; returns how it
        went."""
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.result.isolation = "none" if jail is None else "jail"
        self._log({"isolation": self.result.isolation})  # the transcript's first line
        try:
            driver = DriverProcess(
                argv,
                env=env,
                cwd=cwd,
                log_path=self.folder / "driver.log",
                max_log_bytes=self.limits.max_log_bytes,
                jail=jail,
            )
        except OSError as exc:
            self.result.ended_by = "crash"
            self.result.error = f"the driver could not start: {argv[0]}: {exc}"
            self._finish()
            return self.result
        try:
            self._serve(driver)
        except _Failure as failure:
            self.result.ended_by = failure.ended_by
            self.result.error = str(failure)
        finally:
            self.result.exit_code = driver.stop(grace_s=self.limits.exit_grace_s)
            self.result.log_tail = driver.log_tail()
        self._finish()
        return self.result

    # serving ---------------------------------------------------------------------------
    def _serve(self, driver: DriverProcess) -> None:
        refused = free = 0
        limits = self.limits
        timeout_s = limits.start_timeout_s
        while True:
            if free >= limits.max_free_requests:
                raise _Failure("protocol", f"{free} requests in a row without a step")
            free += 1
            try:
                line = driver.read_line(max_bytes=limits.max_request_bytes, timeout_s=timeout_s)
            except DriverGone:
                self.result.ended_by = "episode_over" if self._over else "exit"
                return
            except DriverTimeout as exc:
                raise _Failure("timeout", f"the driver hangs: {exc}") from None
            except Oversized as exc:
                raise _Failure("protocol", f"the driver broke the protocol: {exc}") from None
            timeout_s = limits.idle_timeout_s
            try:
                request = parse_request(line)
            except ProtocolError as exc:
                refused += 1
                self._log(
                    {
                        "refused": str(exc),
                        "line": line[:_TRANSCRIPT_CHARS].decode("utf-8", "replace"),
                    }
                )
                if refused >= limits.max_protocol_errors:
                    raise _Failure(
                        "protocol", f"{refused} refused requests in a row; the last: {exc}"
                    ) from None
                self._reply(driver, Reply(ok=False, error=str(exc)))
                continue
            refused = 0
            if isinstance(request, BashRequest | PythonRequest | SubmitRequest):
                free = 0
            reply = self._answer(request)
            self._log({"request": _clip_request(request), "reply": _clip_reply(reply)})
            try:
                self._reply(driver, reply)
            except DriverGone:
                pass  # it exited after asking (e.g. after submit); the loop sees EOF next
            if isinstance(request, FailRequest):
                raise _Failure("fail", f"the agent gave up: {request.reason}")
            if self._over:  # nothing more can be done: the driver is stopped
                self.result.ended_by = (
                    "submit" if isinstance(request, SubmitRequest) else "episode_over"
                )
                return

    def _reply(self, driver: DriverProcess, reply: Reply) -> None:
        try:
            driver.send(reply.model_dump_json().encode(), timeout_s=self.limits.reply_timeout_s)
        except DriverTimeout as exc:
            raise _Failure("timeout", f"the driver hangs: {exc}") from None

    def _answer(self, request: Request) -> Reply:
        if isinstance(request, TaskRequest):
            return Reply(task=self.task, instructions=self.instructions)
        if isinstance(request, NoteRequest):
            if len(self.result.notes) < self.limits.max_notes:
                self.result.notes.append(request.text)
            return Reply()
        if isinstance(request, FailRequest):
            return Reply(episode_over=True)
        if self._over:
            return Reply(ok=False, error="the episode is over", episode_over=True)
        if isinstance(request, BashRequest):
            mark = f"{_EXIT_MARK}{secrets.token_hex(8)}="
            obs = self._step(
                {
                    "action": "execute_code",
                    "code": bash_cell(request.command, request.timeout_s, mark),
                }
            )
            return _bash_reply(obs, mark, self._over)
        if isinstance(request, PythonRequest):
            obs = self._step({"action": "execute_code", "code": request.code})
            return _cell_reply(obs, self._over)
        obs = self._step({"action": "submit", "path": request.path})
        return _cell_reply(obs, self._over)

    def _step(self, action: dict[str, Any]) -> dict[str, Any]:
        obs, reward, terminated, truncated, _ = self.env.step(action)
        result = self.result
        result.steps += 1
        result.total_reward += float(reward)
        result.terminated, result.truncated = bool(terminated), bool(truncated)
        self._over = result.terminated or result.truncated
        return obs

    # the end ---------------------------------------------------------------------------
    def _finish(self) -> None:
        """End the episode if the driver did not: grade the best submission, or fail it."""
        result = self.result
        if self._over:
            return
        episode = self.env.episode
        if episode is None or episode.done:
            return
        if result.ended_by == "exit" and result.exit_code == 0:
            result.notes.append(
                "the driver exited without submitting: the best submission is graded"
            )
            self._step({"action": "submit"})
            return
        if result.ended_by == "exit":
            result.ended_by = "crash"
            result.error = f"the driver exited with code {result.exit_code}"
        error = f"{result.error}\n--- driver log tail ---\n{result.log_tail}"
        self.env.finish(
            f"the agent's driver failed: {result.error}", status="agent_error", error=error
        )
        result.terminated = True

    def _log(self, entry: dict[str, Any]) -> None:
        with (self.folder / "bridge.jsonl").open("a", encoding="utf-8") as f:
            f.write(json.dumps(entry, default=str) + "\n")


def _cell_reply(obs: dict[str, Any], over: bool) -> Reply:
    parts = [str(obs.get("stdout") or ""), str(obs.get("stderr") or "")]
    if obs.get("error_type"):
        parts.append(f"{obs['error_type']}: {obs.get('error_message') or ''}")
    return Reply(
        output="\n".join(p for p in parts if p),
        status=str(obs.get("status") or ""),
        error_type=str(obs.get("error_type") or ""),
        info=str(obs.get("info") or ""),
        public_score=obs.get("public_score"),
        steps_left=obs.get("steps_left"),
        time_left_s=obs.get("time_left_s"),
        episode_over=over,
    )


def _bash_reply(obs: dict[str, Any], mark: str, over: bool) -> Reply:
    reply = _cell_reply(obs, over)
    output, returncode = reply.output, None
    head, found, tail = output.rpartition("\n" + mark)
    if found:
        code = tail.split("\n", 1)[0].strip()
        output = head + tail.split("\n", 1)[1] if "\n" in tail else head
        returncode = int(code) if code.lstrip("-").isdigit() else None
        if code == "timeout":
            output += "\n[the command timed out and was killed]"
    return reply.model_copy(update={"output": output, "returncode": returncode})


def _clip_request(request: Request) -> dict[str, Any]:
    data = request.model_dump()
    for key in ("command", "code", "reason", "text"):
        if isinstance(data.get(key), str):
            data[key] = data[key][:_TRANSCRIPT_CHARS]
    return data


def _clip_reply(reply: Reply) -> dict[str, Any]:
    data = reply.model_dump(exclude={"task", "instructions"})
    for key in ("output", "info"):
        data[key] = data[key][:_TRANSCRIPT_CHARS]
    return data
