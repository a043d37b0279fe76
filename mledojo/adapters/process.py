"""The driver subprocess: started in its own session with two private pipes, read with bounds.

The driver writes requests on one pipe and reads replies on the other (their descriptor
numbers are in `MLEDOJO_BRIDGE_FDS`); its stdout and stderr go to a log file (capped) whose
tail names what went wrong when it crashes. Reads and writes have deadlines, so a driver that
hangs, floods or stops reading costs the host a bounded wait, never a hang. The driver and
everything it started are killed as a process group while its leader is still unreaped
(a reaped pid may already name another process). Given a `DriverJail` (as root), the driver
starts in it and every process of its uid is killed at stop too (`jail.py`).
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import threading
import time
from collections import deque
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mledojo.adapters.jail import DriverJail

FDS_VARIABLE = "MLEDOJO_BRIDGE_FDS"
_CHUNK = 1 << 16


class DriverGone(Exception):
    """The driver closed its request pipe (it exited or gave up on the bridge)."""


class DriverTimeout(Exception):
    """The driver sent nothing (or read nothing) before the deadline."""


class Oversized(Exception):
    """A request line longer than the bound."""


class DriverProcess:
    """One running driver; see the module docstring. Always `stop()` it (idempotent)."""

    def __init__(
        self,
        argv: list[str],
        *,
        env: dict[str, str],
        cwd: Path,
        log_path: Path,
        max_log_bytes: int = 8 << 20,
        tail_chars: int = 4000,
        jail: DriverJail | None = None,
    ) -> None:
        self._jail = jail
        jail_fds: tuple[int, ...] = ()
        if jail is not None:
            argv, jail_fds = jail.command(argv, cwd)  # OSError: nothing is left to undo
        req_r, req_w = os.pipe()
        rep_r, rep_w = os.pipe()
        env = {**env, FDS_VARIABLE: f"{req_w},{rep_r}"}
        self._log_path = log_path
        self._max_log_bytes = max_log_bytes
        self._tail: deque[str] = deque()
        self._tail_chars = tail_chars
        self._tail_len = 0
        self._lock = threading.Lock()
        try:
            self.proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=cwd,
                pass_fds=(req_w, rep_r, *jail_fds),
                start_new_session=True,
            )
        except OSError:
            for fd in (req_r, req_w, rep_r, rep_w):
                os.close(fd)
            if jail is not None:
                jail.stop()
            raise
        os.close(req_w)
        os.close(rep_r)
        self._req = req_r
        self._rep: int | None = rep_w
        os.set_blocking(self._rep, False)
        self._buffer = bytearray()
        self._pidfd = os.pidfd_open(self.proc.pid)
        self.exit_code: int | None = None
        self._pump = threading.Thread(target=self._pump_log, name="driver-log", daemon=True)
        self._pump.start()
        if jail is not None:
            try:
                jail.started()
            except OSError as exc:
                self.stop(grace_s=1.0)
                raise OSError(f"{exc}; the driver printed: {self.log_tail()[-1000:]}") from None

    # requests and replies --------------------------------------------------------------
    def read_line(self, *, max_bytes: int, timeout_s: float) -> bytes:
        """The next request line (without its newline); `DriverGone` at EOF, `DriverTimeout`
        past the deadline, `Oversized` when no newline comes within `max_bytes`."""
        deadline = time.monotonic() + timeout_s
        while True:
            end = self._buffer.find(b"\n")
            if end >= 0:
                line = bytes(self._buffer[:end])
                del self._buffer[: end + 1]
                if end + 1 > max_bytes:
                    raise Oversized(f"a request line of {end + 1} bytes (the bound is {max_bytes})")
                return line
            if len(self._buffer) > max_bytes:
                raise Oversized(f"a request line past {max_bytes} bytes without a newline")
            left = deadline - time.monotonic()
            if left <= 0:
                raise DriverTimeout(f"the driver sent no request for {timeout_s:g} s")
            readable, _, _ = select.select([self._req], [], [], left)
            if not readable:
                continue
            chunk = os.read(self._req, _CHUNK)
            if not chunk:
                raise DriverGone("the driver closed the bridge")
            self._buffer += chunk

    def send(self, data: bytes, *, timeout_s: float) -> None:
        """Write one reply line; `DriverTimeout` when the driver does not read it in time."""
        if self._rep is None:
            raise DriverGone("the reply pipe is closed")
        view = memoryview(data + b"\n")
        deadline = time.monotonic() + timeout_s
        while view:
            left = deadline - time.monotonic()
            if left <= 0:
                raise DriverTimeout(f"the driver did not read its reply for {timeout_s:g} s")
            _, writable, _ = select.select([], [self._rep], [], left)
            if not writable:
                continue
            try:
                written = os.write(self._rep, view[:_CHUNK])
            except BrokenPipeError:
                raise DriverGone("the driver closed its reply pipe") from None
            view = view[written:]

    # lifecycle -------------------------------------------------------------------------
    def wait_exit(self, timeout_s: float) -> bool:
        """Wait up to `timeout_s` for the driver to exit, without reaping it."""
        readable, _, _ = select.select([self._pidfd], [], [], timeout_s)
        return bool(readable)

    def stop(self, *, grace_s: float = 5.0) -> int | None:
        """Close the pipes, give the driver `grace_s` to exit, kill its whole process group,
        reap it; returns its exit code (negative: the signal that ended it)."""
        if self.exit_code is not None or self._pidfd < 0:
            return self.exit_code
        self._close_pipes()
        self.wait_exit(grace_s)
        # the leader is not reaped yet, so its pid (the group's id) cannot name another process
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.exit_code = self.proc.wait()
        os.close(self._pidfd)
        self._pidfd = -1
        if self._jail is not None:
            self._jail.stop()  # what left the process group: every process of its uid
        self._pump.join(timeout=5)
        return self.exit_code

    def _close_pipes(self) -> None:
        if self._rep is not None:
            os.close(self._rep)
            self._rep = None
        if self._req >= 0:
            os.close(self._req)
            self._req = -1

    # the log ---------------------------------------------------------------------------
    def _pump_log(self) -> None:
        stream = self.proc.stdout
        if stream is None:
            return
        written = 0
        fd = stream.fileno()
        with self._log_path.open("wb") as log:
            while chunk := os.read(fd, _CHUNK):
                if written < self._max_log_bytes:
                    part = chunk[: self._max_log_bytes - written]
                    log.write(part)
                    log.flush()
                    written += len(part)
                    if written >= self._max_log_bytes:
                        log.write(b"\n[mledojo: the log is cut here; the driver wrote more]\n")
                self._keep_tail(chunk.decode("utf-8", "replace"))
        stream.close()

    def _keep_tail(self, text: str) -> None:
        with self._lock:
            self._tail.append(text)
            self._tail_len += len(text)
            while self._tail_len - len(self._tail[0]) >= self._tail_chars:
                self._tail_len -= len(self._tail.popleft())

    def log_tail(self) -> str:
        """The last characters the driver printed (stdout and stderr)."""
        with self._lock:
            return "".join(self._tail)[-self._tail_chars :]
