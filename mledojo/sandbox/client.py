"""The host side of the runner protocol, shared by every runner-based backend.

`RunnerSandbox` turns the `Sandbox` interface into typed requests (`protocol.py`) sent over a
`Transport` to `_runner.py`, turns replies into `ExecResult` / `ToolResult` / bytes, and
restarts a runner that died. Backends say only how the runner is launched and torn down.
The transport today is a unix socket in the episode's control folder; a TCP or `docker
exec` transport (Docker Desktop, remote engines) implements the same two methods.
"""

from __future__ import annotations

import logging
import re
import shutil
import socket
import tempfile
import time
from abc import abstractmethod
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

from pydantic import ValidationError

from mledojo.errors import SandboxError, SandboxFileError
from mledojo.sandbox import _runner, cleanup, quota
from mledojo.sandbox.base import ExecResult, Sandbox, ToolResult
from mledojo.sandbox.protocol import (
    ExecRequest,
    PingRequest,
    ReadRequest,
    Request,
    ToolRequest,
    runner_versions,
)
from mledojo.sandbox.treecopy import CopyReport
from mledojo.spec import Resources

log = logging.getLogger(__name__)

SOCKET_NAME = "runner.sock"
REPLY_GRACE_S = 20.0
READ_TIMEOUT_S = 30.0
START_TIMEOUT_S = 60.0
LEASE_TIMEOUT_S = START_TIMEOUT_S
"""A runner exits if the host has not taken its lease this long after the runner started."""


class Transport(Protocol):
    """How requests reach a runner: one request, one reply, or `RunnerLostError`."""

    def connectable(self) -> bool:
        """Whether the runner's endpoint exists yet (polled while it starts)."""

    def pin(self) -> None:
        """Trust from now on only the endpoint that is there now (called before the first
        ping; raises `_runner.RunnerLostError` if there is none)."""

    def round_trip(self, request: Request, *, timeout_s: float, max_reply: int) -> dict[str, Any]:
        """Send `request`, return the reply; `_runner.RunnerLostError` if none comes."""

    def lease(self, *, timeout_s: float) -> socket.socket:
        """Open the connection the host holds while the sandbox lives (the runner stops
        when it closes); `_runner.RunnerLostError` if the runner refuses."""


class UnixSocketTransport:
    """The runner's unix socket, pinned to the socket that first answered.

    The socket's folder is writable from inside the sandbox; a step could put a socket of
    its own there to forge later replies, so after the first answer only that exact socket
    (device and inode) is trusted.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._identity: tuple[int, int] | None = None

    def connectable(self) -> bool:
        return self.path.exists()

    def pin(self) -> None:
        """Trust from now on only the socket that is there now."""
        self._identity = _runner.socket_identity(str(self.path))

    def round_trip(self, request: Request, *, timeout_s: float, max_reply: int) -> dict[str, Any]:
        return _runner.request(
            str(self.path),
            request.model_dump(),
            timeout_s=timeout_s,
            max_reply=max_reply,
            expect=self._identity,
        )

    def lease(self, *, timeout_s: float) -> socket.socket:
        return _runner.take_lease(str(self.path), timeout_s=timeout_s, expect=self._identity)


RESTARTED_MESSAGE = (
    "The sandbox runner died during this step (did the code kill it, or exhaust memory?). "
    "It was restarted: files in the workspace are kept, running processes and this step's "
    "output are lost."
)


class RunnerSandbox(Sandbox):
    """A sandbox whose steps go to a `_runner.py` fork server over a unix socket.

    Subclasses say how the runner is launched and torn down; this class owns the protocol,
    the conversion to `ExecResult` / `ToolResult`, the restart of a dead runner, and the
    episode's disk volume (`quota.py`: made before the first launch, released at `stop`;
    `quota_policy` overrides `$MLEDOJO_DISK_QUOTA`, `disk_quota` says what was in force).
    """

    def __init__(self) -> None:
        self._resources: Resources | None = None
        self._data_dir: Path | None = None
        self._workspace: Path | None = None
        self._labels: dict[str, str] = {}
        self._control_dir: Path | None = None
        self._transport: Transport | None = None
        self._quota: quota.DiskQuota | None = None
        self._lease: socket.socket | None = None
        self.restarts = 0
        self.quota_policy: quota.QuotaPolicy | None = None  # None: $MLEDOJO_DISK_QUOTA
        self.last_copy_out: CopyReport | None = None

    # -- lifecycle hooks for subclasses

    @abstractmethod
    def _launch(self) -> None:
        """Start the runner (container or process); `_socket_path` must appear."""

    @abstractmethod
    def _teardown(self) -> None:
        """Stop the runner and everything it started; idempotent."""

    @abstractmethod
    def _runner_alive(self) -> bool:
        """Whether the runner process (or its container) still runs."""

    @abstractmethod
    def _diagnostics(self) -> str:
        """Recent runner logs, for error messages."""

    def _make_transport(self) -> Transport:
        """How to reach the runner; the unix socket in the control folder by default."""
        return UnixSocketTransport(self._socket_path)

    # -- the public interface

    @property
    def workspace_host_path(self) -> Path:
        if self._workspace is None:
            raise SandboxError("The sandbox is not started; call start() first.")
        return self._workspace

    @property
    def started(self) -> bool:
        """Whether start() succeeded and stop() has not been called since."""
        return self._control_dir is not None

    def start(
        self, *, data_dir: Path, workspace: Path, resources: Resources, labels: dict[str, str]
    ) -> None:
        if self.started:
            raise SandboxError("The sandbox is already started; call stop() before start().")
        data_dir, workspace = Path(data_dir).resolve(), Path(workspace).resolve()
        if not data_dir.is_dir():
            raise SandboxError(f"The data folder {data_dir} does not exist; prepare the data.")
        workspace.mkdir(parents=True, exist_ok=True)
        self._data_dir, self._workspace, self._resources = data_dir, workspace, resources
        self._labels = dict(labels)
        self.runtime_versions = {}
        cleanup.reap_control_dirs()
        policy = self.quota_policy or quota.policy_from_env()
        self._control_dir = Path(tempfile.mkdtemp(prefix=cleanup.CONTROL_PREFIX))
        try:
            self._quota = quota.make_quota(
                workspace=workspace,
                control_dir=self._control_dir,
                resources=resources,
                policy=policy,
            )
            self.disk_quota = "walk" if self._quota is None else "filesystem"
            self._launch()
            self._wait_ready()
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        try:
            self._drop_lease()
            self._teardown()
        finally:
            try:
                if self._quota is not None:
                    self.last_copy_out = self._quota.release(copy_out=self._all_dead())
            finally:
                self._quota = None
                if self._control_dir is not None and not quota.still_mounted(self._control_dir):
                    shutil.rmtree(self._control_dir, ignore_errors=True)
                # else: a release cut short; the records stay for `mledojo cleanup`
                self._control_dir = None

    def _all_dead(self) -> bool:
        """After `_teardown`: whether nothing of the sandbox runs, so the workspace can be
        copied out without a process racing the copy (else it is dropped, with a warning)."""
        try:
            survivors = self.leftovers()
        except Exception as exc:  # noqa: BLE001 - unsure is not "dead"
            survivors = [f"unknown ({exc})"]
        if survivors:
            log.warning(
                "%s: the workspace is not copied out (still running: %s)",
                self.name,
                ", ".join(survivors),
            )
        return not survivors

    def exec(self, code: str, *, timeout_s: float) -> ExecResult:
        resources = self._require_resources()
        req = ExecRequest(code=code, timeout_s=timeout_s, output_bytes=resources.output_bytes)
        started = time.monotonic()
        try:
            reply = self._request(req, timeout_s)
        except _runner.RunnerLostError as exc:
            detail = self._recover(exc)
            return ExecResult.sandbox_error(
                "SandboxRestarted",
                RESTARTED_MESSAGE,
                detail=detail,
                duration_s=time.monotonic() - started,
            )
        return _exec_result(reply)

    def call_tool(
        self,
        name: str,
        args: dict[str, Any],
        *,
        timeout_s: float,
        ledger: Mapping[str, str] | None = None,
    ) -> ToolResult:
        resources = self._require_resources()
        req = ToolRequest(
            name=name,
            args=args,
            ledger=dict(ledger) if ledger is not None else None,
            timeout_s=timeout_s,
            output_bytes=resources.output_bytes,
        )
        started = time.monotonic()
        try:
            reply = self._request(req, timeout_s)
        except _runner.RunnerLostError as exc:
            self._recover(exc)
            return ToolResult(
                ok=False, error=RESTARTED_MESSAGE, duration_s=time.monotonic() - started
            )
        return _tool_result(reply, time.monotonic() - started)

    def read_file(self, path: str, *, max_bytes: int) -> bytes:
        path = workspace_relative(path)  # the runner checks it (one place for the rules)
        req = ReadRequest(path=path, max_bytes=max_bytes)
        try:
            reply = self._request(req, READ_TIMEOUT_S)
        except _runner.RunnerLostError as exc:
            self._recover(exc)
            raise SandboxError(f"the sandbox died while reading `{_shown(path)}`") from exc
        if not reply.get("ok"):
            error = str(reply.get("error") or "refused")[:500]
            raise SandboxFileError(f"`{_shown(path)}`: {error}")
        payload = reply.get("payload")
        if not isinstance(payload, bytes) or len(payload) > max_bytes:
            raise SandboxError("the runner sent an invalid reply to a read")
        return payload

    def ping(self) -> dict[str, Any]:
        """Ask the runner whether it is alive (and which imports are still warming up)."""
        return self._request(PingRequest(), 5.0)

    # -- internals

    @property
    def _socket_path(self) -> Path:
        if self._control_dir is None:
            raise SandboxError("The sandbox is not started; call start() first.")
        return self._control_dir / "run" / SOCKET_NAME

    def _require_resources(self) -> Resources:
        if self._resources is None or not self.started:
            raise SandboxError("The sandbox is not started; call start() first.")
        return self._resources

    def _request(self, req: Request, timeout_s: float) -> dict[str, Any]:
        resources = self._require_resources()
        if self._transport is None:
            raise SandboxError("The sandbox is not started; call start() first.")
        max_reply = 8 * resources.output_bytes + _runner.MAX_TOOL_OUTPUT_BYTES + (1 << 20)
        return self._transport.round_trip(
            req, timeout_s=timeout_s + REPLY_GRACE_S, max_reply=max_reply
        )

    def _wait_ready(self) -> None:
        """Poll until the runner answers a ping on a pinned endpoint, or fail."""
        self._transport = transport = self._make_transport()
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if transport.connectable():
                try:
                    transport.pin()
                    hello = self.ping()
                    protocol = hello.get("protocol")
                    if protocol != _runner.PROTOCOL_VERSION:
                        raise SandboxError(
                            f"The sandbox runner speaks protocol {protocol}, this library "
                            f"{_runner.PROTOCOL_VERSION}: rebuild the image "
                            "(`mledojo image build`)."
                        )
                    if not self.runtime_versions:  # the first start's; a restart keeps them
                        self.runtime_versions = runner_versions(hello.get("versions"))
                    self._lease = transport.lease(timeout_s=5.0)
                    return
                except _runner.RunnerLostError:
                    pass
            if not self._runner_alive():
                raise SandboxError(f"The sandbox runner exited at start:\n{self._diagnostics()}")
            time.sleep(0.005)
        raise SandboxError(
            f"The sandbox runner did not answer within {START_TIMEOUT_S:.0f} s:\n"
            f"{self._diagnostics()}"
        )

    def _recover(self, exc: Exception) -> str:
        """The runner is lost: tear it down and launch a fresh one on the same workspace."""
        detail = f"runner lost: {exc}\n{self._diagnostics()}"
        log.warning("%s: %s; restarting the sandbox", self.name, exc)
        self._drop_lease()
        self._teardown()
        self._socket_path.unlink(missing_ok=True)  # never ping a socket a step left behind
        self.restarts += 1
        try:
            self._launch()
            self._wait_ready()
        except (SandboxError, OSError) as restart_exc:
            raise SandboxError(f"Restarting the sandbox failed: {restart_exc}") from exc
        return detail

    def _drop_lease(self) -> None:
        """Close the lease: the runner (if still alive) stops its step and exits."""
        lease, self._lease = self._lease, None
        if lease is not None:
            lease.close()

    def _runner_args(
        self, *, socket_path: str, workspace: str, data: str, tools_dir: str, extra: list[str]
    ) -> list[str]:
        resources = self._require_resources()
        return [
            "serve",
            "--socket",
            socket_path,
            "--workspace",
            workspace,
            "--data",
            data,
            "--tools-dir",
            tools_dir,
            "--fsize-mb",
            str(resources.disk_mb),
            "--disk-mb",
            str(resources.disk_mb),
            "--max-files",
            str(resources.max_files),
            "--preload",
            ",".join(preload_for(resources)),
            "--lease-timeout",
            str(LEASE_TIMEOUT_S),
            *extra,
        ]


def workspace_relative(path: str) -> str:
    """`/workspace/x.csv` and `./x.csv` as `x.csv`; anything else as given."""
    for prefix in ("/workspace/", "./"):
        if path.startswith(prefix):
            return path[len(prefix) :]
    return path


def _shown(path: str) -> str:
    """An agent-chosen path, printable and short, for a message."""
    text = path.replace("\x00", "\\0")
    return text if len(text) <= 120 else text[:120] + "..."


def preload_for(resources: Resources) -> tuple[str, ...]:
    """What the runner imports up front: everything, unless memory is too tight for it."""
    if resources.memory_mb >= 1024:
        return _runner.DEFAULT_PRELOAD
    if resources.memory_mb >= 512:
        return ("numpy", "pandas")
    return ("numpy",)


def _exec_result(reply: dict[str, Any]) -> ExecResult:
    """The reply as an `ExecResult`; a reply of the wrong shape is a sandbox fault, never a
    host crash (the episode counts it like any other)."""
    fields = {k: reply[k] for k in ExecResult.model_fields if k in reply}
    try:
        if "status" in fields:
            return ExecResult(**fields)
    except ValidationError:
        pass
    return ExecResult.sandbox_error(
        "ProtocolError", "the runner sent an unexpected reply", detail=str(reply)[:2000]
    )


def _tool_result(reply: dict[str, Any], elapsed_s: float) -> ToolResult:
    """The reply as a `ToolResult`; one of the wrong shape is a failed call."""
    try:
        return ToolResult(
            ok=bool(reply.get("ok")),
            output=reply.get("output"),
            error=reply.get("error"),
            written=_digests(reply.get("written")),
            duration_s=float(reply.get("duration_s", elapsed_s)),
        )
    except (ValidationError, TypeError, ValueError):
        return ToolResult(ok=False, error="the runner sent an unexpected reply", duration_s=0.0)


_DIGEST = re.compile(r"[0-9a-f]{64}")


def _digests(value: object) -> dict[str, str]:
    """The `written` map of a tool reply, keeping only well-formed workspace entries."""
    if not isinstance(value, dict):
        return {}
    return {
        k: v
        for k, v in value.items()
        if isinstance(k, str)
        and k.startswith("/workspace/")
        and len(k) < 4096
        and isinstance(v, str)
        and _DIGEST.fullmatch(v)
    }
