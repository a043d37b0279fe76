"""The hostile-agent suite: attacks on the host through a sandbox, each one a check.

Agents trained with reinforcement learning on our rewards find every hack that pays, so
every sandbox backend must hold against the attacks an attacker's review found (see
docs/sandbox.md, "Threat model"). Shipped like the conformance suite, and run the same way:
`run_hostile(factory, tmp_dir)`, or one check at a time with `start_for_checks` and
`run_check(name, sb, ctx, checks=HOSTILE_CHECKS)` (tests/sandbox/test_conformance.py).

Each check attacks through the public `Sandbox` interface only (code cells and
`read_file`), and fails when the attack works.
"""

from __future__ import annotations

import os
import stat
import threading
import time
from collections.abc import Callable
from pathlib import Path

from mledojo.competition import Resources
from mledojo.errors import SandboxError, SandboxFileError
from mledojo.sandbox.base import Sandbox
from mledojo.sandbox.conformance import (
    CONFORMANCE_RESOURCES,
    Check,
    CheckContext,
    CheckResult,
    _expect_ok,
    _fail,
    _run,
    make_context,
    run_check,
    start_for_checks,
)

HOSTILE_RESOURCES: Resources = CONFORMANCE_RESOURCES.model_copy(update={"max_files": 1000})

# The runner's socket, as a step finds it: from the runner's command line.
FIND_SOCKET = """
import os
_args = open(f"/proc/{os.getppid()}/cmdline", "rb").read().split(b"\\0")
SOCKET = _args[_args.index(b"--socket") + 1].decode()
"""


def check_inherited_descriptors(sb: Sandbox, ctx: CheckContext) -> None:
    """A step holds no descriptor but its pipes, so it cannot answer the host itself."""
    r = _run(
        sb,
        """
        import json, os, struct
        forged = json.dumps({"status": "ok", "exit_code": 0, "stdout": "FORGED",
                             "stderr": "", "duration_s": 0.0}).encode()
        frame = struct.pack(">I", len(forged)) + forged
        held = []
        for fd in range(3, 4096):
            try:
                os.fstat(fd)
            except OSError:
                continue
            held.append(fd)
            if fd != 3:
                try:
                    os.write(fd, frame)
                except OSError:
                    pass
        print("HELD", held)
        raise SystemExit(3)
    """,
    )
    if "FORGED" in r.stdout or r.status != "error" or r.exit_code != 3:
        raise _fail("a step forged its own reply through an inherited descriptor", r)
    if "HELD [3]" not in r.stdout:
        raise _fail("a step inherited descriptors beyond its pipes", r)


def check_result_pipe(sb: Sandbox, ctx: CheckContext) -> None:
    """What a step writes on its result pipe cannot change the status `waitpid` saw."""
    r = _run(
        sb,
        """
        import os
        os.write(3, b'{"error_type": "MemoryError", "error_message": "forged"}')
        print("done")
    """,
    )
    if r.status != "ok" or r.error_type:
        raise _fail("a step that exited 0 was reported as failed by its own words", r)


def check_forged_oom(sb: Sandbox, ctx: CheckContext) -> None:
    """A failing step cannot relabel itself `oom`: that status needs the kernel's word (the
    cgroup's OOM kills, or a peak resident set near the budget), not the step's."""
    forgeries = {
        "result pipe": """
            import os
            os.write(3, b'{"error_type": "MemoryError", "error_message": "forged"}')
            os._exit(1)
        """,
        "raise": "raise MemoryError('forged')",
        "self-lowered limit": """
            import resource
            import numpy as np
            vm = int([l for l in open('/proc/self/status') if l.startswith('VmSize')][0].split()[1])
            hard = resource.getrlimit(resource.RLIMIT_AS)[1]
            resource.setrlimit(resource.RLIMIT_AS, (vm * 1024 + (64 << 20), hard))
            hoard = []
            while True:
                hoard.append(np.ones(16 << 20, dtype=np.uint8))
        """,
    }
    for how, code in forgeries.items():
        r = _run(sb, code)
        if r.status != "error":
            raise _fail(f"a step labelled itself `{r.status}` ({how}) without running out", r)


def check_runner_protected(sb: Sandbox, ctx: CheckContext) -> None:
    """A step can neither patch the runner's memory nor read its descriptors."""
    r = _expect_ok(
        sb,
        """
        import ctypes, os
        runner = os.getppid()
        found = []
        for path, mode in ((f"/proc/{runner}/mem", "r+b"), (f"/proc/{runner}/environ", "rb")):
            try:
                open(path, mode).close()
                found.append(path)
            except OSError:
                pass
        try:
            os.listdir(f"/proc/{runner}/fd")
            found.append("fd")
        except OSError:
            pass
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.ptrace(16, runner, 0, 0) == 0:  # PTRACE_ATTACH
            found.append("ptrace")
        print("OPENED", found)
    """,
    )
    if "OPENED []" not in r.stdout:
        raise _fail("a step reached into the runner process", r)


def check_smuggled_request(sb: Sandbox, ctx: CheckContext) -> None:
    """A request a step queues on the runner's socket is never served."""
    _expect_ok(
        sb,
        FIND_SOCKET
        + """
import json, socket, struct
body = json.dumps({"op": "exec", "code": "open('SMUGGLED', 'w').write('x')",
                   "timeout_s": 5, "output_bytes": 1000}).encode()
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(SOCKET)
s.sendall(struct.pack(">I", len(body)) + body)
print("queued")
""",
    )
    r = _expect_ok(sb, "import os\nprint(os.path.exists('SMUGGLED'))")
    if r.stdout != "False\n":
        raise _fail("the runner served a request sent from inside the sandbox", r)


def check_daemon_dies(sb: Sandbox, ctx: CheckContext) -> None:
    """A daemon that clears its environment and leaves its session dies with its step."""
    _expect_ok(
        sb,
        """
        import subprocess, sys
        beat = "import time\\nwhile True:\\n open('beat', 'a').write('x')\\n time.sleep(0.02)"
        subprocess.Popen([sys.executable, "-c", beat], env={}, start_new_session=True,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        import time; time.sleep(0.3)
    """,
    )
    beat = ctx.workspace / "beat"
    size = beat.stat().st_size if beat.exists() else 0
    time.sleep(0.5)
    after = beat.stat().st_size if beat.exists() else 0
    if after != size:
        raise _fail(f"a daemon kept writing after its step ended ({size} -> {after} bytes)")
    _expect_ok(sb, "import os\nos.remove('beat') if os.path.exists('beat') else None")


def _refused(sb: Sandbox, path: str, max_bytes: int = 1 << 20) -> str:
    """The refusal message for `path`, or a failure if it was read or hung."""
    outcome: dict[str, object] = {}

    def attempt() -> None:
        try:
            outcome["data"] = sb.read_file(path, max_bytes=max_bytes)
        except (SandboxFileError, SandboxError) as exc:
            outcome["error"] = exc

    worker = threading.Thread(target=attempt, daemon=True)
    worker.start()
    worker.join(15)
    if worker.is_alive():
        raise _fail(f"read_file({path!r}) blocked the host")
    if "data" in outcome:
        raise _fail(f"read_file({path!r}) returned {outcome['data'][:80]!r}")  # type: ignore[index]
    if not isinstance(outcome.get("error"), SandboxFileError):
        raise _fail(f"read_file({path!r}) failed as an infrastructure error: {outcome}")
    return str(outcome["error"])


def check_read_file_refuses(sb: Sandbox, ctx: CheckContext) -> None:
    """Symlinks, FIFOs, folders, huge sparse files and bad paths are refused, not followed."""
    _expect_ok(
        sb,
        f"""
        import os
        os.symlink({str(ctx.secret_path)!r}, "link.csv")
        os.symlink("/", "root")
        os.symlink({str(ctx.secret_path.parent)!r}, "private")
        os.mkfifo("fifo.csv")
        os.mkdir("somedir")
        with open("sparse.csv", "wb") as f:
            f.truncate({max(2, ctx.resources.disk_mb - 1)} * 1024 * 1024)  # sparse: no real disk
        open("ok.csv", "w").write("id,y\\n1,0\\n")
    """,
    )
    bad = [
        "link.csv",
        "root/etc/passwd",
        "private/answers.csv",
        "fifo.csv",
        "somedir",
        "sparse.csv",
        "missing.csv",
        "a\x00b",
        "../x",
        "/etc/passwd",
        "x" * 5000,
    ]
    for path in bad:
        message = _refused(sb, path)
        if str(ctx.tmp_dir) in message or ctx.secret_text in message:
            raise _fail(f"the refusal of {path[:40]!r} discloses a host path: {message}")
    data = sb.read_file("ok.csv", max_bytes=1 << 20)
    if data != b"id,y\n1,0\n":
        raise _fail(f"a regular file was not read back: {data!r}")
    _expect_ok(
        sb,
        """
        import os, shutil
        for name in ("link.csv", "root", "private", "fifo.csv", "sparse.csv", "ok.csv"):
            os.remove(name)
        shutil.rmtree("somedir")
    """,
    )


def check_hidden_folder_counts(sb: Sandbox, ctx: CheckContext) -> None:
    """Files under a folder the runner cannot list still count against the disk limit."""
    chunk = max(1, ctx.resources.disk_mb // 2)
    r = _run(
        sb,
        f"""
        import os
        os.mkdir("hide")
        for i in range(3):
            with open(f"hide/{{i}}.bin", "wb") as f:
                f.write(os.urandom({chunk} * 1024 * 1024 - 4096))
        os.chmod("hide", 0o300)
    """,
    )
    if r.error_type != "DiskLimitExceeded":
        raise _fail("a folder with mode 0300 hid its files from the disk limit", r)
    _expect_ok(sb, "import os, shutil\nos.chmod('hide', 0o700)\nshutil.rmtree('hide')")


def check_file_count_limit(sb: Sandbox, ctx: CheckContext) -> None:
    """Empty files count too: more entries than `max_files` is over the limit."""
    n = ctx.resources.max_files + 50
    r = _run(sb, f"import os\nos.mkdir('many')\nfor i in range({n}): open(f'many/{{i}}', 'w')")
    if r.error_type != "DiskLimitExceeded":
        raise _fail(f"{n} files went unnoticed under a {ctx.resources.max_files}-file limit", r)
    _expect_ok(sb, "import shutil\nshutil.rmtree('many')")


def check_control_folder_wiped(sb: Sandbox, ctx: CheckContext) -> None:
    """What a step leaves beside the runner's socket is gone after the step."""
    _expect_ok(
        sb,
        FIND_SOCKET
        + """
import os
open(os.path.join(os.path.dirname(SOCKET), "stash.bin"), "wb").write(b"x" * 1_000_000)
""",
    )
    r = _expect_ok(sb, FIND_SOCKET + "print(sorted(os.listdir(os.path.dirname(SOCKET))))")
    if "stash.bin" in r.stdout:
        raise _fail("a file written into the control folder survived its step", r)


def check_setuid_stripped(sb: Sandbox, ctx: CheckContext) -> None:
    """A setuid file in the workspace (a host folder) loses the bit after the step."""
    _expect_ok(sb, "import os\nopen('suid', 'w').write('x')\nos.chmod('suid', 0o6755)")
    mode = os.lstat(ctx.workspace / "suid").st_mode
    if mode & (stat.S_ISUID | stat.S_ISGID):
        raise _fail(f"the workspace holds a setuid/setgid file (mode {oct(mode)})")
    _expect_ok(sb, "import os\nos.remove('suid')")


def check_no_io_uring(sb: Sandbox, ctx: CheckContext) -> None:
    """`io_uring_setup` is refused (a large kernel surface no agent needs). Needs a seccomp
    filter, so only for backends that have one (Docker: `mledojo.sandbox.seccomp`)."""
    r = _expect_ok(
        sb,
        """
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        libc.syscall.restype = ctypes.c_long
        params = ctypes.create_string_buffer(120)  # struct io_uring_params
        fd = libc.syscall(425, 1, params)  # io_uring_setup(1 entry, params)
        print("FD", fd, "ERRNO", ctypes.get_errno())
    """,
    )
    if "FD -1 ERRNO 1\n" not in r.stdout and "FD -1 ERRNO 38\n" not in r.stdout:
        raise _fail("a step set up an io_uring (expected EPERM or ENOSYS)", r)


SECCOMP_CHECKS: tuple[tuple[str, Check], ...] = (("no_io_uring", check_no_io_uring),)
"""Checks of the kernel surface a seccomp filter removes (Docker only)."""

HOSTILE_CHECKS: tuple[tuple[str, Check], ...] = (
    ("inherited_descriptors", check_inherited_descriptors),
    ("result_pipe", check_result_pipe),
    ("forged_oom", check_forged_oom),
    ("runner_protected", check_runner_protected),
    ("smuggled_request", check_smuggled_request),
    ("daemon_dies", check_daemon_dies),
    ("read_file_refuses", check_read_file_refuses),
    ("hidden_folder_counts", check_hidden_folder_counts),
    ("file_count_limit", check_file_count_limit),
    ("control_folder_wiped", check_control_folder_wiped),
    ("setuid_stripped", check_setuid_stripped),
)
HOSTILE_CHECK_NAMES: tuple[str, ...] = tuple(name for name, _ in HOSTILE_CHECKS)


def run_hostile(
    factory: Callable[[], Sandbox], tmp_dir: Path, *, resources: Resources = HOSTILE_RESOURCES
) -> list[CheckResult]:
    """Run every hostile check against one sandbox from `factory`."""
    ctx = make_context(tmp_dir, resources)
    sb = start_for_checks(factory, ctx)
    try:
        return [run_check(name, sb, ctx, checks=HOSTILE_CHECKS) for name in HOSTILE_CHECK_NAMES]
    finally:
        sb.stop()
