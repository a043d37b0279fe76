"""mledojo's in-sandbox runner: a fork server that runs code cells and trusted tools.

Standard library only: it is copied into the runtime image (`/opt/mledojo/runner.py`) and
is also what `LocalSandbox` starts with the host's Python. It must never import mledojo.

How it works. The runner is the sandbox's main process. It listens on a unix socket and
serves one request per connection, framed as a 4-byte big-endian length followed by UTF-8
JSON. Heavy libraries (numpy, pandas, scikit-learn) are imported once, while the sandbox
is idle, so a step only pays for `fork()`. Each step runs in a forked child that:

* starts a new session (its own process group, so a timeout kills the step and nothing else);
* gets a fresh `__main__` namespace (no Python variables survive between steps) and cwd
  set to the workspace;
* has its stdout/stderr streamed through pipes into bounded head+tail buffers (a step that
  prints gigabytes never makes the runner or the host hold more than the cap).

Requests:  {"op": "ping"} | {"op": "exec", "code", "timeout_s", "output_bytes"}
           | {"op": "tool", "name", "args", "ledger", "timeout_s", "output_bytes"}
           | {"op": "read", "path", "max_bytes"} | {"op": "shutdown"}
`ping` answers the protocol version, the warm-up state and the versions of Python and of
every installed distribution (taken once, at start). A reply may carry a raw payload (the
bytes of a `read`): a second length-prefixed frame, announced by `"payload_bytes"` in the
JSON.

Trust (docs/sandbox.md, "Threat model"). The step is hostile and runs as the runner's own
uid, so the runner defends itself with what the kernel gives a same-uid process:

* it is non-dumpable (`PR_SET_DUMPABLE 0`): a step cannot ptrace it, open its
  `/proc/<pid>/mem` or its file descriptors;
* a step child keeps no descriptor but its three pipes (never the host's connection);
* status and exit code come from `waitpid` and the cgroup, never from what the step wrote;
* only the host may talk to it: a connection is accepted only from a peer outside the
  container's pid namespace (Docker) or with the host's pid (LocalSandbox), by
  `SO_PEERCRED`; anything else is closed unanswered;
* every process of the step is killed (`kill(-1)`) before the reply and before any work
  on the workspace (the `read` of a submission, the disk scan, the control-folder wipe);
* the files the host wants (a submission) are read here, by a process with the step's own
  privileges, beneath the workspace with no symlink followed, non-blocking, and capped,
  so the host never resolves a path in a tree the agent can write.
"""

from __future__ import annotations

import argparse
import ctypes
import errno
import gc
import importlib
import importlib.util
import io
import json
import linecache
import os
import resource
import select
import shutil
import signal
import socket
import stat
import struct
import sys
import time
import traceback
import types
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

PROTOCOL_VERSION = 4  # 3: the host holds a lease connection; 4: ping reports versions
HEADER = struct.Struct(">I")
MAX_REQUEST_BYTES = 64 * 1024 * 1024
MAX_READ_BYTES = 256 * 1024 * 1024
MAX_ERROR_CHARS = 2000
MAX_PATH_CHARS = 1024
DEFAULT_MAX_FILES = 100_000
PR_SET_DUMPABLE = 4
PEERCRED = struct.Struct("3i")  # struct ucred: pid, uid, gid
RESOLVE_NO_MAGICLINKS, RESOLVE_NO_SYMLINKS, RESOLVE_BENEATH = 0x02, 0x04, 0x08
SYS_OPENAT2 = 437  # x86_64 and aarch64 alike
TMP_FULL_FRACTION = 0.95
DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
MAX_TOOL_OUTPUT_BYTES = 8 * 1024 * 1024
DISK_CHECK_INTERVAL_S = 0.25
DRAIN_AFTER_EXIT_S = 0.5
CELL_FILENAME = "<cell>"
OOM_COUNTER_FILES = (
    "/sys/fs/cgroup/memory.events",  # cgroup v2
    "/sys/fs/cgroup/memory/memory.oom_control",  # cgroup v1
)
MEMORY_EVIDENCE_FRACTION = 0.5
"""A `MemoryError` is `oom` only when the kernel's peak resident set of the step grew by at
least this share of the memory budget (the step really used its memory)."""
DEFAULT_PRELOAD = (
    "numpy",
    "pandas",
    "sklearn",
    "sklearn.linear_model",
    "sklearn.model_selection",
    "sklearn.metrics",
    "sklearn.preprocessing",
    "sklearn.ensemble",
    ":tools",
)
TOOLS_PRELOAD = ":tools"
MAX_VERSIONS = 500  # distributions the runner reports (and the host keeps) at most
MAX_VERSION_NAME_CHARS = 100
MAX_VERSION_CHARS = 64


# --------------------------------------------------------------------------- framing


def send_msg(sock: socket.socket, obj: dict[str, Any], payload: bytes | None = None) -> None:
    """Send one length-prefixed JSON message, then `payload` as a second frame if given."""
    if payload is not None:
        obj = {**obj, "payload_bytes": len(payload)}
    body = json.dumps(obj, default=_json_default).encode("utf-8")
    sock.sendall(HEADER.pack(len(body)) + body)
    if payload is not None:
        sock.sendall(HEADER.pack(len(payload)))
        sock.sendall(payload)


def recv_msg(sock: socket.socket, max_bytes: int) -> dict[str, Any]:
    """Receive one length-prefixed JSON message; raise ConnectionError on EOF or oversize.

    A payload frame, when announced, is returned as bytes under the key `"payload"`.
    """
    (size,) = HEADER.unpack(_recv_exact(sock, HEADER.size))
    if size > max_bytes:
        raise ConnectionError(f"message of {size} bytes exceeds the {max_bytes} byte limit")
    obj = json.loads(_recv_exact(sock, size).decode("utf-8"))
    if not isinstance(obj, dict):
        raise ConnectionError("message is not a JSON object")
    if "payload_bytes" in obj:
        (n,) = HEADER.unpack(_recv_exact(sock, HEADER.size))
        if n != obj["payload_bytes"] or n > MAX_READ_BYTES:
            raise ConnectionError(f"payload of {n} bytes does not match its announcement")
        obj["payload"] = _recv_exact(sock, n)
    return obj


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    chunks = bytearray()
    while len(chunks) < n:
        chunk = sock.recv(min(n - len(chunks), 1 << 20))
        if not chunk:
            raise ConnectionError("connection closed before the message was complete")
        chunks += chunk
    return bytes(chunks)


def _json_default(obj: Any) -> Any:
    """Make numpy scalars/arrays and other common values JSON-serialisable."""
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if hasattr(obj, "item"):
        return obj.item()
    if isinstance(obj, set | frozenset | tuple):
        return list(obj)
    return str(obj)


# --------------------------------------------------------------------------- output capping


class HeadTail:
    """Keeps the first and the last bytes of a stream, never more than `cap` in total.

    The tail matters as much as the head: the last line of a traceback says what failed.
    """

    def __init__(self, cap: int) -> None:
        self.head_cap = cap // 2
        self.tail_cap = cap - self.head_cap
        self.head = bytearray()
        self.tail = bytearray()
        self.total = 0

    def feed(self, data: bytes) -> None:
        self.total += len(data)
        room = self.head_cap - len(self.head)
        if room > 0:
            self.head += data[:room]
            data = data[room:]
        if data:
            self.tail += data[-self.tail_cap :]
            if len(self.tail) > self.tail_cap:
                del self.tail[: len(self.tail) - self.tail_cap]

    @property
    def truncated(self) -> bool:
        return self.total > len(self.head) + len(self.tail)

    def render(self) -> str:
        if not self.truncated:
            return (self.head + self.tail).decode("utf-8", errors="replace")
        omitted = self.total - len(self.head) - len(self.tail)
        head = self.head.decode("utf-8", errors="replace")
        tail = self.tail.decode("utf-8", errors="replace")
        return f"{head}\n[... mledojo: {omitted} bytes omitted ...]\n{tail}"


# --------------------------------------------------------------------------- configuration


@dataclass(frozen=True)
class Config:
    """What the runner was started with (command-line flags)."""

    socket_path: str
    workspace: str
    data: str
    tools_dir: str | None
    preload: tuple[str, ...]
    fsize_mb: int | None
    as_mb: int | None
    nproc: int | None
    disk_mb: int | None
    max_files: int
    sweep: bool  # kill every other process of this uid after each step
    peer: str  # who may connect: "outside-pidns" (Docker) or "pid:<host pid>"
    parent_pid: int | None  # exit when re-parented (the host died)
    tmp_dir: str | None  # a size-limited /tmp to watch (Docker)
    lease_timeout_s: float | None  # exit unless the host takes a lease this soon after start

    @property
    def control_dir(self) -> str:
        """The folder of the socket: agent-writable, so measured and wiped after each step."""
        return os.path.dirname(self.socket_path)


@dataclass
class StepOutcome:
    """What the supervisor saw of one child."""

    wait_status: int | None = None
    timed_out: bool = False
    disk_exceeded: bool = False
    stdout: HeadTail = field(default_factory=lambda: HeadTail(0))
    stderr: HeadTail = field(default_factory=lambda: HeadTail(0))
    result: bytes = b""
    result_overflow: bool = False
    max_rss_kb: int = 0  # the kernel's peak resident set of the step (wait4's ru_maxrss)


# --------------------------------------------------------------------------- the child side


def _child_setup(
    cfg: Config, fds: tuple[int, int, int], timeout_s: float, *, agent_code: bool
) -> int:
    """Prepare a freshly forked child: session, fds, limits, cwd, signals, std streams.

    Every descriptor but stdin (`/dev/null`), the stdout/stderr pipes and the result pipe
    (moved to fd 3, which is returned) is closed: the child must not keep the host's
    connection, through which it could answer the host itself.
    """
    os.setsid()
    out_fd, err_fd, res_fd = fds
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.dup2(out_fd, 1)
    os.dup2(err_fd, 2)
    if res_fd != 3:
        os.dup2(res_fd, 3)
    os.closerange(4, _max_fd())
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGCHLD, signal.SIGPIPE):
        signal.signal(sig, signal.SIG_DFL)
    if agent_code:
        _set_dumpable(True)  # the runner stays non-dumpable; the step's own /proc is usual
    _try_write("/proc/self/oom_score_adj", "1000")  # the step, not the runner, is OOM-killed
    _apply_rlimits(cfg, timeout_s)
    os.chdir(cfg.workspace)
    sys.stdin = open(0, encoding="utf-8", closefd=False)  # noqa: SIM115
    sys.stdout = _line_writer(1)
    sys.stderr = _line_writer(2)
    return 3


def _max_fd() -> int:
    try:
        return max(256, int(os.sysconf("SC_OPEN_MAX")))
    except (ValueError, OSError):
        return 65536


def _set_dumpable(on: bool) -> None:
    """`prctl(PR_SET_DUMPABLE)`: a non-dumpable process cannot be ptraced or have its
    `/proc/<pid>/mem` and fds opened by another process of the same uid."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_DUMPABLE, 1 if on else 0, 0, 0, 0)
    except (OSError, AttributeError):
        pass


def _line_writer(fd: int) -> io.TextIOWrapper:
    """A line-buffered text stream on `fd`: output up to a kill is not lost in a buffer."""
    return open(  # noqa: SIM115 - lives as long as the child
        fd, "w", buffering=1, encoding="utf-8", errors="backslashreplace", closefd=False
    )


def _apply_rlimits(cfg: Config, timeout_s: float) -> None:
    """Per-process limits; cgroups do the real work in Docker, these are what LocalSandbox has."""
    mb = 1024 * 1024
    if cfg.fsize_mb:
        _set_limit(resource.RLIMIT_FSIZE, cfg.fsize_mb * mb)
    if cfg.as_mb:
        # The child inherits the runner's address space (preloaded libraries), so the
        # budget is on top of what is already mapped.
        _set_limit(resource.RLIMIT_AS, _vm_size_bytes() + cfg.as_mb * mb)
    if cfg.nproc:
        _set_limit(resource.RLIMIT_NPROC, cfg.nproc)
    cpu_s = int(timeout_s * max(1, os.cpu_count() or 1)) + 5
    _set_limit(resource.RLIMIT_CPU, cpu_s)
    _set_limit(resource.RLIMIT_CORE, 0)


def _set_limit(which: int, value: int) -> None:
    _, hard = resource.getrlimit(which)
    if hard != resource.RLIM_INFINITY:
        value = min(value, hard)
    try:
        resource.setrlimit(which, (value, hard))
    except (ValueError, OSError):
        pass


def _vm_size_bytes() -> int:
    return _status_kb("VmSize") * 1024


def _status_kb(key: str) -> int:
    """A `kB` line of /proc/self/status (VmSize, VmHWM, ...), 0 when unreadable."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith(f"{key}:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def _run_cell(code: str, res_fd: int) -> int:
    """Execute a code cell in a fresh `__main__`; report an exception on `res_fd`."""
    main = types.ModuleType("__main__")
    main.__dict__["__builtins__"] = __builtins__
    main.__dict__["__file__"] = CELL_FILENAME
    sys.modules["__main__"] = main
    sys.argv = [CELL_FILENAME]
    linecache.cache[CELL_FILENAME] = (len(code), None, code.splitlines(True), CELL_FILENAME)
    try:
        exec(compile(code, CELL_FILENAME, "exec"), main.__dict__)  # noqa: S102
    except SystemExit as exc:
        return _exit_code_of(exc)
    except BaseException as exc:  # noqa: BLE001 - report everything the cell raised
        tb = exc.__traceback__.tb_next if exc.__traceback__ else None  # hide the runner frame
        traceback.print_exception(type(exc), exc, tb)
        _write_result(res_fd, {"error_type": type(exc).__name__, "error_message": str(exc)})
        return 1
    return 0


def _exit_code_of(exc: SystemExit) -> int:
    if exc.code is None:
        return 0
    if isinstance(exc.code, int):
        return exc.code & 0xFF
    print(exc.code, file=sys.stderr)
    return 1


def _load_tools(tools_dir: str) -> Any:
    """Import the trusted tool package from `tools_dir` under a private module name; return
    its registry module (`TOOLS`, `call`)."""
    name = "_mledojo_tools"
    if f"{name}.registry" in sys.modules:
        return sys.modules[f"{name}.registry"]
    spec = importlib.util.spec_from_file_location(
        name, os.path.join(tools_dir, "__init__.py"), submodule_search_locations=[tools_dir]
    )
    if spec is None or spec.loader is None:
        raise ImportError(f"no tool package in {tools_dir}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return importlib.import_module(f"{name}.registry")


def _run_tool(cfg: Config, name: str, args: Any, ledger: Any, res_fd: int) -> int:
    """Run one trusted tool under the host's ledger; its JSON output (or error) and the
    digests of the files it wrote go to `res_fd`."""
    written: dict[str, str] = {}
    try:
        if not cfg.tools_dir:
            raise RuntimeError("this sandbox has no tools directory")
        registry = _load_tools(cfg.tools_dir)
        if name not in registry.TOOLS:
            known = ", ".join(sorted(registry.TOOLS))
            raise KeyError(f"unknown tool {name!r}; known tools: {known}")
        if not isinstance(args, dict):
            raise TypeError("tool arguments must be a JSON object")
        if ledger is not None and not isinstance(ledger, dict):
            raise TypeError("the ledger must be a JSON object")
        output = registry.call(name, args, ledger, written)
        _write_result(res_fd, {"ok": True, "output": output, "written": written})
        return 0
    except BaseException as exc:  # noqa: BLE001 - a tool failure is reported, not raised
        traceback.print_exc()
        error = f"{type(exc).__name__}: {exc}"
        _write_result(res_fd, {"ok": False, "error": error, "written": written})
        return 1


def _write_result(fd: int, obj: dict[str, Any]) -> None:
    data = json.dumps(obj, default=_json_default).encode("utf-8")
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    except OSError:
        pass


def _child_main(cfg: Config, req: dict[str, Any], fds: tuple[int, int, int]) -> None:
    """Body of a forked step; never returns."""
    code = 70
    try:
        timeout_s = float(req.get("timeout_s", 600))
        res_fd = _child_setup(cfg, fds, timeout_s, agent_code=req["op"] == "exec")
        if req["op"] == "exec":
            code = _run_cell(str(req.get("code", "")), res_fd)
        else:
            code = _run_tool(
                cfg, str(req.get("name", "")), req.get("args", {}), req.get("ledger"), res_fd
            )
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except BaseException:  # noqa: BLE001, S110 - the pipe may be gone
                pass
        os._exit(code)


# --------------------------------------------------------------------------- the parent side


def _read_oom_kills() -> int:
    """The cgroup's OOM-kill counter (0 when not in a memory cgroup we can read)."""
    for path in OOM_COUNTER_FILES:
        try:
            with open(path, encoding="ascii") as fh:
                for line in fh:
                    key, _, value = line.partition(" ")
                    if key == "oom_kill":
                        return int(value)
        except (OSError, ValueError):
            continue
    return 0


@dataclass
class Usage:
    """What a step left on disk: allocated bytes and entries (files, folders, links)."""

    bytes: int = 0
    entries: int = 0


def measure(roots: tuple[str, ...], max_entries: int, *, repair: bool) -> Usage:
    """Disk usage of folders (allocated blocks and entries), without following symlinks.

    With `repair`, a folder the runner cannot list (a step may `chmod 0300` one to hide
    what it holds) is made listable again, and setuid/setgid bits are stripped (the
    workspace is a host folder: a setuid file there would be setuid to a real host uid).
    The runner has the step's own uid, so it gains nothing by touching these files.
    Counting stops past `max_entries`.
    """
    usage = Usage()
    stack = list(roots)
    while stack and usage.entries <= max_entries:
        folder = stack.pop()
        try:
            entries = list(os.scandir(folder))
        except PermissionError:
            if not repair or not _make_listable(folder):
                continue
            try:
                entries = list(os.scandir(folder))
            except OSError:
                continue
        except OSError:
            continue
        for entry in entries:
            usage.entries += 1
            try:
                st = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            usage.bytes += st.st_blocks * 512
            if stat.S_ISDIR(st.st_mode):
                stack.append(entry.path)
            elif repair and stat.S_ISREG(st.st_mode) and st.st_mode & (stat.S_ISUID | stat.S_ISGID):
                _try_chmod(entry.path, stat.S_IMODE(st.st_mode) & ~(stat.S_ISUID | stat.S_ISGID))
    return usage


def _make_listable(folder: str) -> bool:
    try:
        st = os.lstat(folder)
    except OSError:
        return False
    return stat.S_ISDIR(st.st_mode) and _try_chmod(folder, stat.S_IMODE(st.st_mode) | 0o700)


def _try_chmod(path: str, mode: int) -> bool:
    try:
        os.chmod(path, mode)
    except OSError:
        return False
    return True


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _sweep_strays() -> None:
    """Kill every process this uid may signal but the runner itself.

    `kill(-1)` spares the caller and init, stays inside the caller's pid namespace, and is
    atomic against `fork`, so a step that escaped its process group (`setsid`, double fork)
    still dies. Only used where the runner's uid belongs to this sandbox alone (a container,
    or LocalSandbox's per-episode uid).
    """
    for _ in range(2):  # the second round catches what the first one's victims forked
        try:
            os.kill(-1, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            break
        _reap_all()
    _reap_all()


def _wipe_control_dir(cfg: Config) -> None:
    """Remove what a step put beside the socket (the folder is writable from inside)."""
    keep = os.path.basename(cfg.socket_path)
    try:
        names = os.listdir(cfg.control_dir)
    except OSError:
        return
    for name in names:
        if name == keep:
            continue
        path = os.path.join(cfg.control_dir, name)
        try:
            if os.path.isdir(path) and not os.path.islink(path):
                _make_listable(path)
                shutil.rmtree(path, ignore_errors=True)
            else:
                os.unlink(path)
        except OSError:
            pass


def _tmp_note(cfg: Config) -> str:
    """A hint when the size-limited /tmp is (nearly) full: it lives in memory."""
    if not cfg.tmp_dir:
        return ""
    try:
        st = os.statvfs(cfg.tmp_dir)
    except OSError:
        return ""
    total = st.f_blocks * st.f_frsize
    used = total - st.f_bfree * st.f_frsize
    full_inodes = st.f_files > 0 and st.f_ffree == 0
    if total <= 0 or (used < TMP_FULL_FRACTION * total and not full_inodes):
        return ""
    mb = 1024 * 1024
    return (
        f"{cfg.tmp_dir} is full ({used // mb} of {total // mb} MB used): it is held in memory "
        f"and counts against the memory limit, so steps may fail or be OOM-killed until you "
        f"delete files in {cfg.tmp_dir}"
    )


# --------------------------------------------------------------------------- reading a file


class FileRefusedError(Exception):
    """A `read` request the runner will not serve; the message is safe to show the agent."""


class _OpenHow(ctypes.Structure):
    _fields_ = [("flags", ctypes.c_uint64), ("mode", ctypes.c_uint64), ("resolve", ctypes.c_uint64)]


def check_relative(path: str) -> str | None:
    """Why `path` is not an acceptable workspace-relative path (None when it is)."""
    if not path or len(path) > MAX_PATH_CHARS:
        return f"give a path of 1 to {MAX_PATH_CHARS} characters inside /workspace"
    if "\x00" in path:
        return "the path contains a NUL character"
    if path.startswith("/"):
        return "give a path relative to /workspace (e.g. `submission.csv`)"
    if ".." in path.split("/"):
        return "`..` is not allowed: give a path inside /workspace"
    return None


def _open_beneath(root_fd: int, path: str) -> int:
    """Open `path` beneath `root_fd` read-only, non-blocking, following no symlink."""
    flags = os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOFOLLOW | os.O_NOCTTY
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        how = _OpenHow(flags, 0, RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS)
        fd = int(
            libc.syscall(SYS_OPENAT2, root_fd, path.encode(), ctypes.byref(how), ctypes.sizeof(how))
        )
        if fd >= 0:
            return fd
        err = ctypes.get_errno()
        if err not in (errno.ENOSYS, errno.EPERM):  # EPERM: a seccomp filter without openat2
            raise OSError(err, os.strerror(err))
    except AttributeError:
        pass
    # No openat2: walk one component at a time, never following a symlink.
    parts = [p for p in path.split("/") if p not in ("", ".")]
    cur = os.dup(root_fd)
    try:
        for part in parts[:-1]:
            nxt = os.open(
                part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=cur
            )
            os.close(cur)
            cur = nxt
        return os.open(parts[-1] if parts else ".", flags, dir_fd=cur)
    finally:
        os.close(cur)


def read_beneath(root: str, path: str, max_bytes: int) -> bytes:
    """The bytes of the regular file `root/path`, at most `max_bytes`, or FileRefusedError."""
    problem = check_relative(path)
    if problem:
        raise FileRefusedError(problem)
    root_fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        fd = _open_beneath(root_fd, path)
    except OSError as exc:
        raise FileRefusedError(_open_error(exc)) from None
    finally:
        os.close(root_fd)
    try:
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):
            raise FileRefusedError("it is a folder, not a file")
        if not stat.S_ISREG(st.st_mode):
            raise FileRefusedError("it is not a regular file (a FIFO, socket or device)")
        if st.st_size > max_bytes:
            raise FileRefusedError(f"it is {st.st_size:,} bytes, over the {max_bytes:,}-byte limit")
        chunks, got = [], 0
        while got <= max_bytes:
            chunk = os.read(fd, min(1 << 20, max_bytes + 1 - got))
            if not chunk:
                break
            chunks.append(chunk)
            got += len(chunk)
        if got > max_bytes:
            raise FileRefusedError(f"it grew past the {max_bytes:,}-byte limit while being read")
        return b"".join(chunks)
    finally:
        os.close(fd)


def _open_error(exc: OSError) -> str:
    if exc.errno == errno.ENOENT:
        return "no such file in /workspace"
    if exc.errno in (errno.ELOOP, errno.EXDEV, errno.ENOTDIR):
        return "symbolic links are not accepted: write a regular file"
    if exc.errno == errno.EACCES:
        return "permission denied: make the file readable"
    return f"cannot be opened ({os.strerror(exc.errno or 0)})"


def _reap_all() -> None:
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


class HostGoneError(Exception):
    """The host's lease connection closed: the host died, nobody will read our replies."""


def lease_lost(lease: socket.socket) -> bool:
    """Called when the lease is readable: EOF (or an error) means the host is gone. The
    host never sends on it; anything it did send is dropped."""
    try:
        return lease.recv(4096) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True


class Supervisor:
    """Streams one child's pipes until it exits, enforcing the deadline and the disk limit,
    and stops it at once when the host's lease closes (`HostGoneError`)."""

    def __init__(
        self,
        cfg: Config,
        pid: int,
        fds: tuple[int, int, int],
        cap: int,
        lease: socket.socket | None = None,
    ) -> None:
        self.cfg = cfg
        self.pid = pid
        self.lease = lease
        self.outcome = StepOutcome(stdout=HeadTail(cap), stderr=HeadTail(cap))
        self.sinks: dict[int, Callable[[bytes], None]] = {
            fds[0]: self.outcome.stdout.feed,
            fds[1]: self.outcome.stderr.feed,
            fds[2]: self._feed_result,
        }
        self.pidfd = _pidfd_open(pid)

    def _feed_result(self, data: bytes) -> None:
        if len(self.outcome.result) + len(data) > MAX_TOOL_OUTPUT_BYTES:
            self.outcome.result_overflow = True
        else:
            self.outcome.result += data

    def run(self, timeout_s: float) -> StepOutcome:
        start = time.monotonic()
        deadline = start + timeout_s
        next_disk_check = start + DISK_CHECK_INTERVAL_S
        drain_until: float | None = None
        while self.sinks and (drain_until is None or time.monotonic() < drain_until):
            now = time.monotonic()
            if self.outcome.wait_status is None:
                if now >= deadline:
                    self.outcome.timed_out = True
                    _kill_group(self.pid)
                    deadline = float("inf")
                if self.cfg.disk_mb and now >= next_disk_check:
                    next_disk_check = now + DISK_CHECK_INTERVAL_S
                    if over_disk_limit(self.cfg):
                        self.outcome.disk_exceeded = True
                        _kill_group(self.pid)
            wait = min(deadline, next_disk_check, drain_until or float("inf")) - now
            self._pump(max(0.0, min(wait, 0.5)))
            if self.outcome.wait_status is None and self._child_exited():
                _kill_group(self.pid)  # grandchildren left in the step's group
                drain_until = time.monotonic() + DRAIN_AFTER_EXIT_S
        if self.outcome.wait_status is None:
            _kill_group(self.pid)
            _, status, usage = os.wait4(self.pid, 0)
            self.outcome.wait_status = status
            self.outcome.max_rss_kb = usage.ru_maxrss
        self._close()
        return self.outcome

    def _pump(self, wait: float) -> None:
        watched = list(self.sinks) + ([self.pidfd] if self.pidfd is not None else [])
        if self.lease is not None:
            watched.append(self.lease.fileno())
        if self.pidfd is None:  # no pidfd: poll for the child's exit
            wait = min(wait, 0.02)
        ready, _, _ = select.select(watched, [], [], wait)
        for fd in ready:
            if fd == self.pidfd:
                continue
            if self.lease is not None and fd == self.lease.fileno():
                if lease_lost(self.lease):
                    _kill_group(self.pid)
                    raise HostGoneError("the host's lease closed during a step")
                continue
            data = os.read(fd, 1 << 16)
            if data:
                self.sinks[fd](data)
            else:
                os.close(fd)
                del self.sinks[fd]

    def _child_exited(self) -> bool:
        pid, status, usage = os.wait4(self.pid, os.WNOHANG)
        if pid == 0:
            return False
        self.outcome.wait_status = status
        self.outcome.max_rss_kb = usage.ru_maxrss
        if self.pidfd is not None:
            os.close(self.pidfd)
            self.pidfd = None
        return True

    def _close(self) -> None:
        for fd in list(self.sinks):
            os.close(fd)
        self.sinks.clear()
        if self.pidfd is not None:
            os.close(self.pidfd)
            self.pidfd = None


def over_disk_limit(cfg: Config) -> bool:
    """Whether the workspace and the control folder hold more than the disk or file limit."""
    usage = measure((cfg.workspace, cfg.control_dir), cfg.max_files, repair=True)
    return usage.entries > cfg.max_files or usage.bytes > (cfg.disk_mb or 0) * 1024 * 1024


def _pidfd_open(pid: int) -> int | None:
    opener = getattr(os, "pidfd_open", None)
    if opener is None:
        return None
    try:
        return int(opener(pid))
    except OSError:
        return None


# --------------------------------------------------------------------------- versions


def installed_versions() -> dict[str, str]:
    """The Python version and every distribution on `sys.path` as name -> version.

    Read from the names of the `.dist-info` / `.egg-info` folders (`numpy-2.4.6.dist-info`),
    so no metadata file is parsed and nothing is imported: a few directory listings, taken
    once at start, before any step ran. Names are lower-cased with `_` as `-` (how the
    installers write them varies); the first folder found for a name wins, as for imports.
    """
    found = {"python": ".".join(str(part) for part in sys.version_info[:3])}
    for entry in sys.path:
        try:
            names = sorted(os.listdir(entry or "."))
        except OSError:
            continue
        for name in names:
            stem, dot, suffix = name.rpartition(".")
            if not dot or suffix not in ("dist-info", "egg-info"):
                continue
            dist, _, version = stem.partition("-")
            key = dist.lower().replace("_", "-")
            if dist and version and key not in found and len(found) < MAX_VERSIONS:
                found[key[:MAX_VERSION_NAME_CHARS]] = version.split("-")[0][:MAX_VERSION_CHARS]
    return found


# --------------------------------------------------------------------------- the server


class Server:
    """Accepts one request per connection and runs steps one at a time."""

    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg
        self.pending_preload = list(cfg.preload)
        self.preload_errors: dict[str, str] = {}
        # Taken before the socket exists, so before any step could add a distribution.
        self.versions = installed_versions()
        self.listener = self._listen()
        self.lease: socket.socket | None = None
        self.started = time.monotonic()

    def _listen(self) -> socket.socket:
        try:
            os.unlink(self.cfg.socket_path)
        except FileNotFoundError:
            pass
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(self.cfg.socket_path)
        os.chmod(self.cfg.socket_path, 0o600)
        listener.listen(16)
        return listener

    def preload_step(self) -> None:
        """Import one pending module (done while idle, so start-up answers pings quickly).

        `TOOLS_PRELOAD` stands for the trusted tool package, so a tool call's child does not
        import it again each time.
        """
        name = self.pending_preload.pop(0)
        try:
            if name == TOOLS_PRELOAD:
                if self.cfg.tools_dir:
                    _load_tools(self.cfg.tools_dir)
            else:
                importlib.import_module(name)
        except BaseException as exc:  # noqa: BLE001 - a missing library must not stop us
            self.preload_errors[name] = f"{type(exc).__name__}: {exc}"
        if not self.pending_preload:
            # Move everything imported so far out of the collector's reach: a child's
            # garbage collections then never touch (and copy) the shared pages.
            gc.collect()
            gc.freeze()

    def serve_forever(self) -> None:
        """Serve until `shutdown`, or until the host is gone (see `_host_gone`)."""
        try:
            while True:
                watched: list[socket.socket] = [self.listener]
                if self.lease is not None:
                    watched.append(self.lease)
                # Imports wait for the host's lease: the host pings and then takes it at once,
                # and a request that arrives mid-import waits for the import (~0.2 s).
                warming = bool(self.pending_preload) and (
                    self.lease is not None or not self.cfg.lease_timeout_s
                )
                ready, _, _ = select.select(watched, [], [], 0.0 if warming else 1.0)
                if self._host_gone(lease_ready=self.lease is not None and self.lease in ready):
                    return
                if self.listener not in ready:
                    if warming:
                        self.preload_step()
                    continue
                if not self._accept_one():
                    return
        except HostGoneError as exc:
            print(f"mledojo runner: {exc}; the step was killed, exiting", flush=True)

    def _accept_one(self) -> bool:
        """Answer one connection; False when asked to shut down."""
        conn, _ = self.listener.accept()
        try:
            if not self._peer_allowed(conn):
                return True  # a process inside the sandbox: closed unanswered
            return self._handle(conn)
        finally:
            if conn is not self.lease:
                conn.close()

    def _host_gone(self, *, lease_ready: bool) -> bool:
        """Nothing will ever stop us: the host's lease closed, it took none in time after
        start, or (LocalSandbox) our parent, the host, died."""
        if lease_ready and self.lease is not None and lease_lost(self.lease):
            print("mledojo runner: the host's lease closed; exiting", flush=True)
            return True
        timeout = self.cfg.lease_timeout_s
        if self.lease is None and timeout and time.monotonic() - self.started > timeout:
            print(f"mledojo runner: no lease taken within {timeout:g} s; exiting", flush=True)
            return True
        return self.cfg.parent_pid is not None and os.getppid() != self.cfg.parent_pid

    def take_lease(self, conn: socket.socket) -> dict[str, Any]:
        """Keep `conn` open as the host's lease: when it closes, the host is gone."""
        if self.lease is not None:
            return {"ok": False, "error": "a lease is already held"}
        conn.setblocking(False)
        self.lease = conn
        return {"ok": True}

    def _peer_allowed(self, conn: socket.socket) -> bool:
        """Only the host may send requests (see the module doc)."""
        try:
            creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, PEERCRED.size)
        except OSError:
            return False
        pid = int(PEERCRED.unpack(creds)[0])
        if self.cfg.peer == "outside-pidns":
            return pid == 0  # pids outside our pid namespace read as 0
        kind, _, value = self.cfg.peer.partition(":")
        return bool(kind == "pid" and value.isdigit() and pid == int(value))

    def _handle(self, conn: socket.socket) -> bool:
        try:
            req = recv_msg(conn, MAX_REQUEST_BYTES)
        except (ConnectionError, ValueError, OSError):
            return True
        op = req.get("op")
        payload: bytes | None = None
        if op == "ping":
            reply: dict[str, Any] = {
                "ok": True,
                "pid": os.getpid(),
                "protocol": PROTOCOL_VERSION,
                "preloading": list(self.pending_preload),
                "preload_errors": self.preload_errors,
                "leased": self.lease is not None,
                "versions": self.versions,
            }
        elif op in ("exec", "tool"):
            while self.pending_preload:
                self.preload_step()
            reply = self.run_step(req)
        elif op == "read":
            reply, payload = self.read(req)
        elif op == "lease":
            reply = self.take_lease(conn)
        elif op == "shutdown":
            _try_send(conn, {"ok": True})
            return False
        else:
            reply = {"ok": False, "error": f"unknown op {str(op)[:40]!r}"}
        _try_send(conn, reply, payload)
        return True

    def read(self, req: dict[str, Any]) -> tuple[dict[str, Any], bytes | None]:
        """Serve a `read`: no step is running, so nothing can race the path walk."""
        path = req.get("path")
        max_bytes = min(int(req.get("max_bytes", 0) or 0), MAX_READ_BYTES)
        if not isinstance(path, str):
            return {"ok": False, "error": "the path must be a string"}, None
        try:
            data = read_beneath(self.cfg.workspace, path, max_bytes)
        except FileRefusedError as exc:
            return {"ok": False, "error": str(exc)}, None
        except OSError as exc:
            return {"ok": False, "error": f"cannot be read ({exc.strerror})"}, None
        return {"ok": True}, data

    def run_step(self, req: dict[str, Any]) -> dict[str, Any]:
        """Fork a child for the request, supervise it and describe the outcome."""
        timeout_s = float(req.get("timeout_s", 600))
        cap = max(1000, int(req.get("output_bytes", 64_000)))
        pipes = [os.pipe() for _ in range(3)]
        oom_before = _read_oom_kills()
        # A forked child starts with the runner's resident pages and peak: only growth
        # beyond the runner's own peak is the step's.
        runner_peak_kb = _status_kb("VmHWM")
        started = time.monotonic()
        pid = os.fork()
        if pid == 0:
            _child_main(self.cfg, req, (pipes[0][1], pipes[1][1], pipes[2][1]))
        for _, w in pipes:
            os.close(w)
        fds = (pipes[0][0], pipes[1][0], pipes[2][0])
        supervisor = Supervisor(self.cfg, pid, fds, cap, self.lease)
        outcome = supervisor.run(timeout_s)
        if self.cfg.sweep:
            _sweep_strays()
        # Nothing of the step runs any more: safe to look at what it left.
        _wipe_control_dir(self.cfg)
        if self.cfg.disk_mb and not outcome.disk_exceeded and over_disk_limit(self.cfg):
            outcome.disk_exceeded = True
        duration = time.monotonic() - started
        oom = _read_oom_kills() > oom_before
        if req["op"] == "tool":
            return _describe_tool(outcome, duration, oom)
        grown_kb = max(0, outcome.max_rss_kb - runner_peak_kb)
        return _describe_exec(self.cfg, outcome, duration, oom, timeout_s, grown_kb)


def _parse_result(outcome: StepOutcome) -> dict[str, Any]:
    if not outcome.result:
        return {}
    try:
        obj = json.loads(outcome.result.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return {}
    return obj if isinstance(obj, dict) else {}


def _memory_exhausted(cfg: Config, oom_kill: bool, error_type: str | None, grown_kb: int) -> bool:
    """Whether the kernel says the step ran out of memory, whatever the step says.

    Evidence: the cgroup's `oom_kill` counter rose during the step (Docker), or the step
    raised `MemoryError` under our RLIMIT_AS while its peak resident set (`ru_maxrss`, kept
    by the kernel) grew by `MEMORY_EVIDENCE_FRACTION` of the budget. A `MemoryError` the
    step raised or wrote itself, or one from a self-lowered limit, has neither: `error`.
    """
    if oom_kill:
        return True
    if error_type != "MemoryError" or not cfg.as_mb:
        return False
    return grown_kb * 1024 >= MEMORY_EVIDENCE_FRACTION * cfg.as_mb * 1024 * 1024


def _describe_exec(
    cfg: Config,
    outcome: StepOutcome,
    duration: float,
    oom: bool,
    timeout_s: float,
    grown_kb: int,
) -> dict[str, Any]:
    """Turn a supervised exec into the JSON the host turns into an `ExecResult`.

    The status comes from `waitpid`, the deadline, the disk check and the kernel's memory
    accounting. What the step wrote on its result pipe (the exception it raised) only names
    a failure that `waitpid` already saw, and never makes it `oom` by itself: a step that
    exits 0 is `ok` whatever it wrote there, and a `MemoryError` without kernel evidence
    (`_memory_exhausted`) is an `error`.
    """
    status_code = outcome.wait_status or 0
    exit_code = os.waitstatus_to_exitcode(status_code)
    info = _parse_result(outcome) if exit_code != 0 else {}
    error_type = _text_field(info.get("error_type"), 200)
    error_message = _text_field(info.get("error_message"), MAX_ERROR_CHARS)
    stderr = outcome.stderr.render()
    note = _tmp_note(cfg)
    if note:
        stderr += f"\n[mledojo: {note}]\n"
    if outcome.timed_out:
        status = "timeout"
        error_type, error_message = "Timeout", f"the step exceeded its {timeout_s:g} s timeout"
    elif outcome.disk_exceeded:
        status = "error"
        error_type = "DiskLimitExceeded"
        error_message = (
            f"the workspace grew past its {cfg.disk_mb} MB or {cfg.max_files:,}-file limit "
            "(the step was stopped if it was still running); delete files to continue"
        )
    elif exit_code != 0 and _memory_exhausted(cfg, oom, error_type, grown_kb):
        status = "oom"
        error_type = error_type or "OutOfMemory"
        error_message = error_message or "the step was killed for exceeding its memory limit"
        if note:
            error_message += f" ({note})"
    elif exit_code == 0:
        status = "ok"
    elif exit_code < 0:
        status = "killed"
        error_type = error_type or "Killed"
        error_message = error_message or f"the step was killed by {_signal_name(-exit_code)}"
    else:
        status = "error"
    if exit_code == -signal.SIGXFSZ:
        status = "error"
        error_type = "FileSizeLimitExceeded"
        error_message = f"a file grew past the {cfg.fsize_mb} MB limit"
    return {
        "status": status,
        "exit_code": None if outcome.timed_out else exit_code,
        "stdout": outcome.stdout.render(),
        "stderr": stderr,
        "stdout_truncated": outcome.stdout.truncated,
        "stderr_truncated": outcome.stderr.truncated,
        "error_type": error_type,
        "error_message": error_message,
        "duration_s": duration,
    }


def _text_field(value: Any, limit: int) -> str | None:
    """A string the step wrote, capped (None when absent or not a string)."""
    if not isinstance(value, str):
        return None
    return value if len(value) <= limit else value[:limit] + " [...]"


def _describe_tool(outcome: StepOutcome, duration: float, oom: bool) -> dict[str, Any]:
    info = _parse_result(outcome)
    if outcome.timed_out:
        error = "the tool exceeded its timeout"
    elif outcome.result_overflow:
        error = f"the tool's output exceeded {MAX_TOOL_OUTPUT_BYTES} bytes"
    elif oom:
        error = "the tool ran out of memory"
    elif "ok" in info:
        return {
            "ok": bool(info["ok"]),
            "output": info.get("output"),
            "error": info.get("error"),
            "written": info.get("written") or {},
            "duration_s": duration,
        }
    else:
        status = os.waitstatus_to_exitcode(outcome.wait_status or 0)
        error = f"the tool died (exit status {status}): {outcome.stderr.render()[-2000:]}"
    return {"ok": False, "output": None, "error": error, "duration_s": duration}


def _signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


def _try_send(conn: socket.socket, obj: dict[str, Any], payload: bytes | None = None) -> None:
    blocking = conn.getblocking()
    try:
        conn.setblocking(True)
        send_msg(conn, obj, payload)
    except OSError:
        pass
    finally:
        conn.setblocking(blocking)


def _try_write(path: str, text: str) -> None:
    try:
        with open(path, "w", encoding="ascii") as fh:
            fh.write(text)
    except OSError:
        pass


# --------------------------------------------------------------------------- host-side client


class RunnerLostError(ConnectionError):
    """The runner did not answer (dead, stuck, or its socket is gone)."""


def socket_identity(socket_path: str) -> tuple[int, int]:
    """`(st_dev, st_ino)` of the socket at `socket_path`; refuses anything else there.

    The folder holding it is writable from inside the sandbox, so nothing but a socket is
    followed (no symlink tricks).
    """
    import stat as _stat

    try:
        st = os.lstat(socket_path)
    except OSError as exc:
        raise RunnerLostError(f"the runner's socket is gone ({exc})") from exc
    if not _stat.S_ISSOCK(st.st_mode):
        raise RunnerLostError(f"{socket_path} is not a socket")
    return (st.st_dev, st.st_ino)


def request(
    socket_path: str,
    req: dict[str, Any],
    *,
    timeout_s: float,
    max_reply: int,
    expect: tuple[int, int] | None = None,
) -> dict[str, Any]:
    """Send one request to a runner and wait for its reply (used by the host).

    `expect` is the `socket_identity` the runner's socket had when it first answered: a step
    could swap in a socket of its own to forge the replies to later steps, so any other
    socket is refused.
    """
    found = socket_identity(socket_path)
    if expect is not None and found != expect:
        raise RunnerLostError(
            "the runner's socket was replaced from inside the sandbox; not trusting it"
        )
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout_s)
            sock.connect(socket_path)
            send_msg(sock, req)
            return recv_msg(sock, max_reply)
    except (OSError, ValueError) as exc:
        raise RunnerLostError(f"{type(exc).__name__}: {exc}") from exc


def take_lease(
    socket_path: str, *, timeout_s: float, expect: tuple[int, int] | None
) -> socket.socket:
    """Open the host's lease on a runner (used by the host): a connection held for the
    sandbox's lifetime. The runner stops its step and exits when it closes, which the
    kernel does when the host dies, even by SIGKILL."""
    found = socket_identity(socket_path)
    if expect is not None and found != expect:
        raise RunnerLostError(
            "the runner's socket was replaced from inside the sandbox; not trusting it"
        )
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)  # not inherited by children
    try:
        sock.settimeout(timeout_s)
        sock.connect(socket_path)
        send_msg(sock, {"op": "lease"})
        reply = recv_msg(sock, 1 << 16)
    except (OSError, ValueError) as exc:
        sock.close()
        raise RunnerLostError(f"taking the lease failed: {type(exc).__name__}: {exc}") from exc
    if reply.get("ok") is not True:
        sock.close()
        raise RunnerLostError(f"the runner refused the lease: {str(reply)[:200]}")
    return sock


# --------------------------------------------------------------------------- entry point


def parse_args(argv: list[str]) -> Config:
    """Parse `serve` flags into a Config."""
    p = argparse.ArgumentParser(prog="mledojo-runner")
    p.add_argument("command", choices=["serve"])
    p.add_argument("--socket", required=True)
    p.add_argument("--workspace", required=True)
    p.add_argument("--data", required=True)
    p.add_argument("--tools-dir", default=None)
    p.add_argument("--preload", default=",".join(DEFAULT_PRELOAD))
    p.add_argument("--fsize-mb", type=int, default=None)
    p.add_argument("--as-mb", type=int, default=None)
    p.add_argument("--nproc", type=int, default=None)
    p.add_argument("--disk-mb", type=int, default=None)
    p.add_argument("--max-files", type=int, default=DEFAULT_MAX_FILES)
    p.add_argument("--sweep", action="store_true")
    p.add_argument("--peer", required=True, help="outside-pidns | pid:<host pid>")
    p.add_argument("--parent-pid", type=int, default=None)
    p.add_argument("--tmp-dir", default=None)
    p.add_argument(
        "--lease-timeout",
        type=float,
        default=None,
        help="exit unless the host holds a lease connection within this many seconds",
    )
    a = p.parse_args(argv)
    return Config(
        socket_path=a.socket,
        workspace=a.workspace,
        data=a.data,
        tools_dir=os.path.abspath(a.tools_dir) if a.tools_dir else None,
        preload=tuple(m for m in a.preload.split(",") if m),
        fsize_mb=a.fsize_mb,
        as_mb=a.as_mb,
        nproc=a.nproc,
        disk_mb=a.disk_mb,
        max_files=a.max_files,
        sweep=a.sweep,
        peer=a.peer,
        parent_pid=a.parent_pid,
        tmp_dir=a.tmp_dir,
        lease_timeout_s=a.lease_timeout,
    )


def main(argv: list[str] | None = None) -> int:
    """Run the server until a `shutdown` request or SIGTERM."""
    cfg = parse_args(sys.argv[1:] if argv is None else argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    os.environ.setdefault("MLEDOJO_WORKSPACE", cfg.workspace)
    os.environ.setdefault("MLEDOJO_DATA", cfg.data)
    sys.stdout = io.TextIOWrapper(sys.stdout.buffer, line_buffering=True)
    _set_dumpable(False)
    server = Server(cfg)
    try:
        server.serve_forever()
    finally:
        if cfg.sweep:
            _sweep_strays()
        try:
            os.unlink(cfg.socket_path)
        except OSError:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
