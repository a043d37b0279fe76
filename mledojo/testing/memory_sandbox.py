"""`MemorySandboxDouble`: a test double of the `Sandbox` interface that runs code in-process.

NOT A SANDBOX. It isolates nothing: a code cell runs in the calling Python process, as
the caller, with the caller's files, network and memory. It exists so that tests of what
lies above the sandbox (the episode, the env, rewards, budgets, the MLE-Bot, the bench's
scheduling) need not start a runner, a jail or a container for every episode; tests of
isolation use the real backends (`tests/sandbox/`, the Docker tests).

What it keeps of the interface contract (`sandbox/base.py`), checked by the conformance
checks in `APPLICABLE_CHECKS`:

* `exec`: a fresh `__main__` per cell (variables do not survive a step), the workspace as
  the working directory, `MLEDOJO_DATA` / `MLEDOJO_WORKSPACE` set, stdout and stderr
  capped head-and-tail like the runner's, `sys.exit(n)` as `error` with exit code `n`, an
  exception as `error` with its type, message and traceback;
* `call_tool`: the trusted tools (`mledojo.tools`) with the ledger, their JSON output and
  the digests of what they wrote, as the runner reports them;
* `read_file`: the runner's own bounded reader (beneath the workspace, no symlink, a
  regular file, at most `max_bytes`).

What it does not do: no timeout is enforced (a cell runs to its end; one that overran is
reported as `timeout` afterwards), no memory, disk or process limit, `/data` and
`/workspace` are not mapped (code must use the two variables or relative paths), processes
a cell starts are not tracked. Cells of every double in the process run one at a time
(they share the working directory, the environment and `sys.stdout`).

It refuses to start outside a pytest test, is not in the sandbox registry (no
`sandbox="..."` name selects it) and records itself as `memory-double` in every result.
"""

from __future__ import annotations

import io
import json
import os
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from mledojo.errors import SandboxError, SandboxFileError
from mledojo.sandbox import _runner
from mledojo.sandbox.base import ExecResult, ExecStatus, Sandbox, ToolResult
from mledojo.spec import Resources

NAME = "memory-double"
LIMIT = _runner.MAX_ERROR_CHARS
APPLICABLE_CHECKS = (
    "exec_ok",
    "exit_code",
    "exception",
    "output_cap",
    "workspace_persists",
    "tool_call",
    "tool_ledger",
)
"""The conformance checks this double passes; the others test isolation it does not have."""

NOT_A_SANDBOX_MESSAGE = (
    "MemorySandboxDouble is a test double, not a sandbox: it runs agent code inside this "
    "Python process with no isolation, so it only starts inside a pytest test. Use "
    "sandbox='docker' (or 'local' as root) for real episodes."
)

_PROCESS_STATE = threading.RLock()
"""Held while a cell or tool runs: the working directory, the environment, `sys.stdout`,
`sys.argv` and `__main__` are the whole process's."""


class _CappedText(io.TextIOBase):
    """A text stream that keeps the head and tail of what is written (the runner's cap)."""

    def __init__(self, cap: int) -> None:
        self.kept = _runner.HeadTail(cap)

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        self.kept.feed(text.encode("utf-8", errors="replace"))
        return len(text)


class MemorySandboxDouble(Sandbox):
    """The in-process test double of `Sandbox` (see the module doc: it isolates nothing)."""

    name = NAME

    def __init__(self) -> None:
        self._data_dir: Path | None = None
        self._workspace: Path | None = None
        self._resources: Resources | None = None
        self._last_workspace: Path | None = None

    def prepare(self) -> None:
        if not os.environ.get("PYTEST_CURRENT_TEST"):
            raise SandboxError(NOT_A_SANDBOX_MESSAGE)

    def start(
        self, *, data_dir: Path, workspace: Path, resources: Resources, labels: dict[str, str]
    ) -> None:
        self.prepare()
        if self._workspace is not None:
            raise SandboxError("The sandbox is already started; call stop() before start().")
        data_dir, workspace = Path(data_dir).resolve(), Path(workspace).resolve()
        if not data_dir.is_dir():
            raise SandboxError(f"The data folder {data_dir} does not exist; prepare the data.")
        workspace.mkdir(parents=True, exist_ok=True)
        self._data_dir, self._workspace, self._resources = data_dir, workspace, resources

    def stop(self) -> None:
        if self._workspace is not None:
            self._last_workspace = self._workspace
        self._data_dir = self._workspace = self._resources = None

    @property
    def workspace_host_path(self) -> Path:
        if self._workspace is None:
            raise SandboxError("The sandbox is not started; call start() first.")
        return self._workspace

    def exec(self, code: str, *, timeout_s: float) -> ExecResult:
        resources = self._require_resources()
        stdout, stderr = _CappedText(resources.output_bytes), _CappedText(resources.output_bytes)
        started = time.monotonic()
        with self._inside(stdout, stderr):
            code_of_exit, error = _run_cell(code)
        duration = time.monotonic() - started
        status: ExecStatus = "ok" if code_of_exit == 0 else "error"
        exit_code: int | None = code_of_exit
        error_type, error_message = error if error else (None, None)
        if duration > timeout_s:
            status, exit_code = "timeout", None
            error_type, error_message = "Timeout", f"the step exceeded its {timeout_s:g} s timeout"
        return ExecResult(
            status=status,
            exit_code=exit_code,
            stdout=stdout.kept.render(),
            stderr=stderr.kept.render(),
            stdout_truncated=stdout.kept.truncated,
            stderr_truncated=stderr.kept.truncated,
            error_type=error_type,
            error_message=error_message,
            duration_s=duration,
        )

    def call_tool(
        self,
        name: str,
        args: dict[str, Any],
        *,
        timeout_s: float,
        ledger: Mapping[str, str] | None = None,
    ) -> ToolResult:
        resources = self._require_resources()
        from mledojo.tools import registry  # the trusted tools, imported like the runner does

        sink = _CappedText(resources.output_bytes)
        written: dict[str, str] = {}
        started = time.monotonic()
        with self._inside(sink, sink):
            try:
                if name not in registry.TOOLS:
                    known = ", ".join(sorted(registry.TOOLS))
                    raise KeyError(f"unknown tool {name!r}; known tools: {known}")
                output = registry.call(name, dict(args), _plain(ledger), written)
                # The runner sends the output as JSON: the same values come back here.
                reply = json.loads(json.dumps(output, default=_runner._json_default))
                ok, error = True, None
            except Exception as exc:  # noqa: BLE001 - a tool failure is reported, not raised
                reply, ok, error = None, False, f"{type(exc).__name__}: {exc}"
        duration = time.monotonic() - started
        if duration > timeout_s:
            reply, ok, error = None, False, "the tool exceeded its timeout"
        return ToolResult(ok=ok, output=reply, error=error, written=written, duration_s=duration)

    def read_file(self, path: str, *, max_bytes: int) -> bytes:
        workspace = self.workspace_host_path
        try:
            return _runner.read_beneath(str(workspace), path, max_bytes)
        except _runner.FileRefusedError as exc:
            raise SandboxFileError(f"`{path[:200]}`: {exc}") from None

    def leftovers(self) -> list[str]:
        """Nothing runs between calls (cells run in the caller's thread and end with it)."""
        return []

    def _require_resources(self) -> Resources:
        if self._resources is None:
            raise SandboxError("The sandbox is not started; call start() first.")
        return self._resources

    @contextmanager
    def _inside(self, stdout: io.TextIOBase, stderr: io.TextIOBase) -> Iterator[None]:
        """The process as a cell expects it, restored afterwards (one cell at a time)."""
        if self._workspace is None or self._data_dir is None:
            raise SandboxError("The sandbox is not started; call start() first.")
        variables = {"MLEDOJO_DATA": str(self._data_dir), "MLEDOJO_WORKSPACE": str(self._workspace)}
        threads = max(1, int(self._require_resources().cpus))
        from threadpoolctl import threadpool_limits  # scikit-learn's; the sandbox's env vars

        # The sandbox caps OpenMP and BLAS threads at its CPUs through the environment of a
        # fresh process; here the libraries are loaded already, so their pools are capped.
        with _PROCESS_STATE, threadpool_limits(limits=threads):
            saved_env = {k: os.environ.get(k) for k in variables}
            saved = (os.getcwd(), sys.stdout, sys.stderr, sys.argv, sys.modules["__main__"])
            os.environ.update(variables)
            os.chdir(self._workspace)
            sys.stdout, sys.stderr = stdout, stderr
            try:
                yield
            finally:
                os.chdir(saved[0])
                sys.stdout, sys.stderr, sys.argv, sys.modules["__main__"] = saved[1:]
                for key, value in saved_env.items():
                    if value is None:
                        os.environ.pop(key, None)
                    else:
                        os.environ[key] = value


def _run_cell(code: str) -> tuple[int, tuple[str, str] | None]:
    """Execute a cell as the runner's step child does (`_runner._run_cell`: a fresh
    `__main__`, the traceback on stderr): its exit code and (type, message) if it raised."""
    with tempfile.TemporaryFile() as result:
        try:
            exit_code = _runner._run_cell(code, result.fileno())
        finally:
            sys.stdout.flush()
        result.seek(0)
        raw = result.read()
    if not raw:
        return exit_code, None
    reported = json.loads(raw)  # capped as the runner caps them (`_describe_exec`)
    error_type = _runner._text_field(reported.get("error_type"), 200) or "Exception"
    return exit_code, (error_type, _runner._text_field(reported.get("error_message"), LIMIT) or "")


def _plain(ledger: Mapping[str, str] | None) -> dict[str, str] | None:
    return dict(ledger) if ledger is not None else None
