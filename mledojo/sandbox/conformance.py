"""The sandbox conformance suite: what every `Sandbox` backend must guarantee.

Shipped in the library (like Gymnasium's `check_env`) so a third-party backend can be
checked in its own CI::

    from mledojo.sandbox.conformance import run_conformance
    results = run_conformance(lambda: MySandbox(), tmp_dir)
    assert all(r.passed for r in results), [r for r in results if not r.passed]

or parametrized over `CHECK_NAMES` with `start_for_checks` + `run_check` (see
tests/sandbox/test_conformance.py). Each check takes a started sandbox and leaves it
working; `cleanup` runs last, after `stop()`.
"""

from __future__ import annotations

import contextlib
import socket
import textwrap
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from mledojo.sandbox.base import ExecResult, Sandbox
from mledojo.spec import Resources

CONFORMANCE_RESOURCES = Resources(
    memory_mb=768,
    cpus=1,
    pids=128,
    disk_mb=64,
    output_bytes=4000,
)
STEP_TIMEOUT_S = 30.0


class CheckFailedError(AssertionError):
    """A conformance check found a broken guarantee."""


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one check."""

    name: str
    passed: bool
    detail: str
    seconds: float


@dataclass(frozen=True)
class CheckContext:
    """Files the checks use: the data folder, the workspace and a planted secret."""

    tmp_dir: Path
    data_dir: Path
    workspace: Path
    secret_path: Path
    secret_text: str
    resources: Resources


Check = Callable[[Sandbox, CheckContext], None]


def make_context(tmp_dir: Path, resources: Resources = CONFORMANCE_RESOURCES) -> CheckContext:
    """Create the data folder, an empty workspace, and a root-only secret outside both."""
    data = tmp_dir / "data"
    data.mkdir(parents=True, exist_ok=True)
    rows = ["id,x,target"] + [f"{i},{i * 0.5},{i % 2}" for i in range(100)]
    (data / "train.csv").write_text("\n".join(rows) + "\n")
    workspace = tmp_dir / "workspace"
    workspace.mkdir(exist_ok=True)
    secret_text = f"SECRET-{uuid.uuid4().hex}"
    secret = tmp_dir / "private" / "answers.csv"
    secret.parent.mkdir(exist_ok=True)
    secret.write_text(f"id,target\n0,{secret_text}\n")
    secret.chmod(0o600)
    secret.parent.chmod(0o700)
    return CheckContext(tmp_dir, data, workspace, secret, secret_text, resources)


def _fail(message: str, result: ExecResult | None = None) -> CheckFailedError:
    if result is not None:
        message += (
            f"\nstatus={result.status} exit={result.exit_code} error={result.error_type}: "
            f"{result.error_message}\nstdout={result.stdout[-800:]!r}\n"
            f"stderr={result.stderr[-800:]!r}"
        )
    return CheckFailedError(message)


def _run(sb: Sandbox, code: str, timeout_s: float = STEP_TIMEOUT_S) -> ExecResult:
    return sb.exec(textwrap.dedent(code), timeout_s=timeout_s)


def _expect_ok(sb: Sandbox, code: str, timeout_s: float = STEP_TIMEOUT_S) -> ExecResult:
    result = _run(sb, code, timeout_s)
    if result.status != "ok":
        raise _fail("a plain step did not succeed", result)
    return result


# --------------------------------------------------------------------------- checks


def check_exec_ok(sb: Sandbox, ctx: CheckContext) -> None:
    """stdout, stderr and exit status 0 of a simple step."""
    r = _expect_ok(sb, "import sys\nprint('hello')\nprint('oops', file=sys.stderr)")
    if r.stdout != "hello\n" or r.stderr != "oops\n" or r.exit_code != 0:
        raise _fail("stdout/stderr/exit code not as printed", r)


def check_exit_code(sb: Sandbox, ctx: CheckContext) -> None:
    """`sys.exit(3)` is an error with exit code 3."""
    r = _run(sb, "import sys\nsys.exit(3)")
    if r.status != "error" or r.exit_code != 3:
        raise _fail("sys.exit(3) must give status=error, exit_code=3", r)


def check_exception(sb: Sandbox, ctx: CheckContext) -> None:
    """An exception gives error_type/error_message and a traceback whose last line survives."""
    r = _run(sb, "def f():\n    raise ValueError('bad value 42')\nf()\n")
    if r.status != "error" or r.error_type != "ValueError" or r.error_message != "bad value 42":
        raise _fail("the exception was not reported", r)
    if not r.stderr.rstrip().endswith("ValueError: bad value 42") or "line 2" not in r.stderr:
        raise _fail("the traceback is missing or incomplete", r)


def check_timeout(sb: Sandbox, ctx: CheckContext) -> None:
    """A timeout kills the step (and its children) only; the next step works at once."""
    code = """
        import subprocess, time
        subprocess.Popen(['sleep', '60'])
        print('before', flush=True)
        time.sleep(60)
    """
    started = time.monotonic()
    r = _run(sb, code, timeout_s=1.0)
    elapsed = time.monotonic() - started
    if r.status != "timeout" or "before" not in r.stdout:
        raise _fail("a sleeping step was not reported as a timeout with its output", r)
    if elapsed > 10:
        raise _fail(f"the timeout took {elapsed:.1f} s to act (limit 1 s)")
    restarts = sb.restarts
    after = _expect_ok(sb, "print('after')")
    if after.stdout != "after\n" or sb.restarts != restarts:
        raise _fail("the step after a timeout needed a restart or failed", after)
    leftover = _expect_ok(sb, _COUNT_SLEEPERS)
    if leftover.stdout.strip() != "0":
        raise _fail("the timed-out step's child process survived", leftover)


# Only this sandbox's processes count (same uid): a host's /proc also shows other users'.
_COUNT_SLEEPERS = """
    import os
    n = 0
    for p in os.listdir('/proc'):
        try:
            cmd = open(f'/proc/{p}/cmdline', 'rb').read()
            mine = os.stat(f'/proc/{p}').st_uid == os.getuid()
        except OSError:
            continue
        n += mine and cmd.startswith(b'sleep\\x0060')
    print(n)
"""


def check_output_cap(sb: Sandbox, ctx: CheckContext) -> None:
    """Long output keeps head and tail, says it was truncated, and stays near the cap."""
    code = """
        for i in range(200000):
            print('line', i)
        raise RuntimeError('final words')
    """
    r = _run(sb, code)
    cap = ctx.resources.output_bytes
    if not r.stdout_truncated or "line 0\n" not in r.stdout or "line 199999" not in r.stdout:
        raise _fail("stdout must keep its head and tail and be flagged truncated", r)
    if len(r.stdout.encode()) > cap + 200:
        raise _fail(f"stdout holds {len(r.stdout)} bytes, over the {cap} byte cap", r)
    if not r.stderr.rstrip().endswith("RuntimeError: final words"):
        raise _fail("the final traceback line was lost", r)


def check_memory_limit(sb: Sandbox, ctx: CheckContext) -> None:
    """Using up the memory limit is reported as `oom`; one allocation far beyond it fails
    at once with `MemoryError`; the next step works.

    The single allocation uses no memory, so the kernel has no evidence of exhaustion and it
    is an `error` (docs/sandbox.md, "Outcomes of a step"); either label is accepted here.
    """
    r = _run(
        sb,
        """
        import numpy as np
        hoard = []
        while True:
            hoard.append(np.ones(32 << 20, dtype=np.uint8))
    """,
    )
    if r.status != "oom":
        raise _fail("using up the memory limit was not reported as oom", r)
    n_bytes = ctx.resources.memory_mb * 3 * 1024 * 1024
    r = _run(sb, f"import numpy as np\na = np.ones({n_bytes}, dtype=np.uint8)\nprint(a.sum())")
    if r.status not in ("oom", "error") or r.error_type != "MemoryError":
        raise _fail("an allocation far beyond the memory limit did not fail with MemoryError", r)
    _expect_ok(sb, "print('alive')")


def check_workspace_persists(sb: Sandbox, ctx: CheckContext) -> None:
    """Files in the workspace persist and show on the host; Python variables do not."""
    _expect_ok(
        sb,
        """
        import os
        with open(os.path.join(os.environ['MLEDOJO_WORKSPACE'], 'note.txt'), 'w') as fh:
            fh.write('kept')
        with open('relative.txt', 'w') as fh:
            fh.write('cwd is the workspace')
        x = 41
    """,
    )
    host = sb.workspace_host_path
    if (host / "note.txt").read_text() != "kept" or not (host / "relative.txt").exists():
        raise _fail("a file written in the workspace is not visible on the host")
    r = _expect_ok(sb, "print(open('note.txt').read())")
    if r.stdout != "kept\n":
        raise _fail("a workspace file did not persist to the next step", r)
    r = _run(sb, "print(x)")
    if r.error_type != "NameError":
        raise _fail("Python variables must not survive between steps", r)


def check_data_read_only(sb: Sandbox, ctx: CheckContext) -> None:
    """Data is readable and cannot be changed."""
    before = (ctx.data_dir / "train.csv").read_bytes()
    r = _run(
        sb,
        """
        import os
        d = os.environ['MLEDOJO_DATA']
        print(open(os.path.join(d, 'train.csv')).readline().strip())
        for attempt in (lambda: open(os.path.join(d, 'train.csv'), 'a').write('x'),
                        lambda: open(os.path.join(d, 'new.txt'), 'w').write('x'),
                        lambda: os.remove(os.path.join(d, 'train.csv'))):
            try:
                attempt()
            except OSError:
                continue
            print('WRITABLE')
    """,
    )
    if r.status != "ok" or "id,x,target" not in r.stdout or "WRITABLE" in r.stdout:
        raise _fail("the data folder must be readable and read-only", r)
    if (ctx.data_dir / "train.csv").read_bytes() != before or (ctx.data_dir / "new.txt").exists():
        raise _fail("the data folder changed on the host")


@contextlib.contextmanager
def _host_listener() -> Iterator[int]:
    """A TCP server on all host interfaces that accepts and closes connections."""
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("0.0.0.0", 0))  # noqa: S104 - the point is to be reachable if possible
    server.listen(8)
    server.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            with contextlib.suppress(OSError):
                conn, _ = server.accept()
                conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield int(server.getsockname()[1])
    finally:
        stop.set()
        thread.join(timeout=2)
        server.close()


def _host_addresses() -> list[str]:
    addresses = {"127.0.0.1"}
    with contextlib.suppress(OSError):
        addresses.add(socket.gethostbyname(socket.gethostname()))
    with contextlib.suppress(OSError), socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.connect(("10.255.255.255", 1))
        addresses.add(s.getsockname()[0])
    return sorted(addresses)


def check_no_network(sb: Sandbox, ctx: CheckContext) -> None:
    """No TCP to the host, no DNS, no interface but loopback."""
    with _host_listener() as port:
        targets = [(addr, port) for addr in _host_addresses()] + [("8.8.8.8", 53)]
        r = _run(
            sb,
            f"""
            import os, socket
            for target in {targets!r}:
                try:
                    socket.create_connection(tuple(target), timeout=2).close()
                    print('CONNECTED', target)
                except OSError:
                    pass
            try:
                socket.getaddrinfo('example.com', 80)
                print('DNS')
            except OSError:
                pass
            lines = open('/proc/self/net/dev').read().splitlines()[2:]
            print('IFACES', sorted(line.split(':')[0].strip() for line in lines))
        """,
        )
    if r.status != "ok" or "CONNECTED" in r.stdout or "DNS" in r.stdout:
        raise _fail("the sandbox reached the network", r)
    if "IFACES ['lo']" not in r.stdout:
        raise _fail("the sandbox has a network interface besides loopback", r)


def check_answers_unreachable(sb: Sandbox, ctx: CheckContext) -> None:
    """A root-only file outside the mounts (like the private answers) cannot be read."""
    r = _run(
        sb,
        f"""
        try:
            print(open({str(ctx.secret_path)!r}).read())
        except OSError as exc:
            print('denied', type(exc).__name__)
    """,
    )
    if ctx.secret_text in r.stdout or ctx.secret_text in r.stderr or "denied" not in r.stdout:
        raise _fail("the planted secret was readable", r)


def check_tool_call(sb: Sandbox, ctx: CheckContext) -> None:
    """`profile_dataset` runs in the sandbox; an unknown tool is an error, not a crash."""
    r = sb.call_tool(
        "profile_dataset", {"path": "train.csv", "target": "target"}, timeout_s=STEP_TIMEOUT_S
    )
    if r.ok:  # a relative path is the workspace's; train.csv lives in the data folder
        raise _fail("profile_dataset found train.csv in the workspace")
    r = sb.call_tool(
        "profile_dataset", {"path": "/data/train.csv", "target": "target"}, timeout_s=STEP_TIMEOUT_S
    )
    if not r.ok or r.output is None or r.output.get("shape") != [100, 3]:
        raise _fail(f"profile_dataset failed: {r}")
    if r.output["target"]["distribution"] != {"0": 0.5, "1": 0.5}:
        raise _fail(f"profile_dataset target distribution is wrong: {r.output['target']}")
    unknown = sb.call_tool("no_such_tool", {}, timeout_s=STEP_TIMEOUT_S)
    if unknown.ok or "no_such_tool" not in (unknown.error or ""):
        raise _fail(f"an unknown tool must be reported: {unknown}")


def check_tool_ledger(sb: Sandbox, ctx: CheckContext) -> None:
    """A call reports what it wrote, and refuses a sidecar the agent changed since."""
    split = {"path": "/data/train.csv", "target": "target", "kind": "random", "name": "lg"}
    r = sb.call_tool("split_dataset", split, timeout_s=STEP_TIMEOUT_S, ledger={})
    sidecar = "/workspace/tools/lg_train.meta.json"
    if not r.ok or sidecar not in r.written or "/workspace/tools/lg_train.parquet" not in r.written:
        raise _fail(f"the tool call did not report the files it wrote: {r}")
    _expect_ok(
        sb,
        """
        import json
        path = 'tools/lg_train.meta.json'  # the workspace is the cell's working directory
        meta = json.load(open(path))
        meta['role'] = 'valid'
        json.dump(meta, open(path, 'w'))
    """,
    )
    args = {"train": "/workspace/tools/lg_train.parquet", "algorithm": "random_forest"}
    forged = sb.call_tool("train_model", args, timeout_s=STEP_TIMEOUT_S, ledger=r.written)
    if forged.ok or "changed after the tool" not in (forged.error or ""):
        raise _fail(f"a sidecar the agent changed was trusted: {forged}")


FORGE_SOCKET = """
import json, os, socket, struct
argv = open(f'/proc/{os.getppid()}/cmdline', 'rb').read().split(b'\\0')
path = argv[argv.index(b'--socket') + 1].decode()
os.unlink(path)
server = socket.socket(socket.AF_UNIX)
server.bind(path)
server.listen()
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        server.settimeout(15)
        forged = json.dumps({'status': 'ok', 'exit_code': 0, 'stdout': 'FORGED\\n',
                             'stderr': '', 'duration_s': 0.0}).encode()
        try:
            while True:
                conn, _ = server.accept()
                conn.recv(1 << 20)
                conn.sendall(struct.pack('>I', len(forged)) + forged)
                conn.close()
        except OSError:
            pass
    os._exit(0)
print('replaced')
"""


def check_control_socket(sb: Sandbox, ctx: CheckContext) -> None:
    """A step that swaps the runner's socket for its own server cannot answer later steps."""
    _expect_ok(sb, "open('kept.txt', 'w').write('kept')")
    _expect_ok(sb, FORGE_SOCKET)
    r = _run(sb, "print('genuine')")
    if "FORGED" in r.stdout:
        raise _fail("a forged runner answered the host's next request", r)
    if r.status not in ("ok", "sandbox_error") or (r.status == "ok" and r.stdout != "genuine\n"):
        raise _fail("expected the step to run or the sandbox to restart", r)
    r = _expect_ok(sb, "print(open('kept.txt').read())")
    if r.stdout != "kept\n":
        raise _fail("the workspace did not survive the recovery", r)


def check_cleanup(sb: Sandbox, ctx: CheckContext) -> None:
    """After stop (twice), nothing of the sandbox runs; the workspace files remain."""
    _expect_ok(
        sb,
        """
        import subprocess
        subprocess.Popen(['sleep', '300'], start_new_session=True)
        open('survivor.txt', 'w').write('still here')
    """,
    )
    sb.stop()
    sb.stop()
    deadline = time.monotonic() + 10
    while (left := sb.leftovers()) and time.monotonic() < deadline:
        time.sleep(0.1)
    if left:
        raise _fail(f"still running after stop(): {left}")
    if not (ctx.workspace / "survivor.txt").exists():
        raise _fail("stop() removed the workspace files")


CHECKS: tuple[tuple[str, Check], ...] = (
    ("exec_ok", check_exec_ok),
    ("exit_code", check_exit_code),
    ("exception", check_exception),
    ("timeout", check_timeout),
    ("output_cap", check_output_cap),
    ("memory_limit", check_memory_limit),
    ("workspace_persists", check_workspace_persists),
    ("data_read_only", check_data_read_only),
    ("no_network", check_no_network),
    ("answers_unreachable", check_answers_unreachable),
    ("tool_call", check_tool_call),
    ("tool_ledger", check_tool_ledger),
    ("control_socket", check_control_socket),
    ("cleanup", check_cleanup),
)
CHECK_NAMES: tuple[str, ...] = tuple(name for name, _ in CHECKS)


def start_for_checks(factory: Callable[[], Sandbox], ctx: CheckContext) -> Sandbox:
    """A started sandbox on the context's folders."""
    sb = factory()
    sb.prepare()
    sb.start(
        data_dir=ctx.data_dir,
        workspace=ctx.workspace,
        resources=ctx.resources,
        labels={"mledojo.run": "conformance"},
    )
    return sb


def run_check(
    name: str,
    sb: Sandbox,
    ctx: CheckContext,
    *,
    checks: tuple[tuple[str, Check], ...] | None = None,
) -> CheckResult:
    """Run one named check of `checks` (default: this suite) and time it.

    A failure is a result, not an exception.
    """
    check = dict(checks or CHECKS)[name]
    started = time.monotonic()
    try:
        check(sb, ctx)
    except CheckFailedError as exc:
        return CheckResult(name, False, str(exc), time.monotonic() - started)
    return CheckResult(name, True, "", time.monotonic() - started)


def run_conformance(
    factory: Callable[[], Sandbox], tmp_dir: Path, *, resources: Resources = CONFORMANCE_RESOURCES
) -> list[CheckResult]:
    """Run every check against one sandbox from `factory`; `cleanup` last."""
    ctx = make_context(tmp_dir, resources)
    sb = start_for_checks(factory, ctx)
    try:
        return [run_check(name, sb, ctx) for name in CHECK_NAMES]
    finally:
        sb.stop()
