"""LocalSandbox's launches from threads: an exec'd launcher, never Python between `fork` and
`exec`.

The MLE-Bot steps its env from a thread pool. A `preexec_fn` (how `unsafe-local` entered
its namespace) or an `os.fork()` running Python in the child (how `local` killed an
episode's uid at `stop`) makes the fork go through Python's fork hooks, which take the locks
`os.register_at_fork` guards (logging's among them): a start or a stop then waits for, or
inherits, whatever another thread holds. The launcher (`_jail.py --userns`,
`_jail.py --kill-uid`) does that work after `exec` instead.

`unsafe-local` is reached by reporting a non-root euid to the library: the runner's Python
lives where another uid cannot run it on this machine (it really runs as root, in a user
namespace of its own, as `unsafe-local` does for any caller).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor, wait
from pathlib import Path

import pytest

from mledojo.sandbox.conformance import CONFORMANCE_RESOURCES, make_context
from mledojo.sandbox.local import LocalSandbox

EPISODES = 4
WORKERS = 4
DEADLINE_S = 90.0


@pytest.fixture
def not_root(monkeypatch: pytest.MonkeyPatch) -> None:
    """The library takes its non-root (`unsafe-local`) path."""
    monkeypatch.setattr(os, "geteuid", lambda: 1000)


def _started(folder: Path, kind: str) -> LocalSandbox:
    """A started LocalSandbox of `kind` on a fresh conformance context in `folder`."""
    ctx = make_context(folder)
    box = LocalSandbox(unsafe=kind == "unsafe-local")
    box.start(
        data_dir=ctx.data_dir, workspace=ctx.workspace, resources=CONFORMANCE_RESOURCES, labels={}
    )
    return box


def _episode(root: Path, index: int, kind: str = "unsafe-local") -> str:
    """Start, step, read back and stop one sandbox of `kind`; '' when all went well."""
    box = _started(root / f"ep{index}", kind)
    try:
        r = box.exec(f"open('out.txt', 'w').write('episode {index}')", timeout_s=30)
        if r.status != "ok":
            return f"episode {index}: step {r.status}: {r.stderr[-300:]}"
        if box.read_file("out.txt", max_bytes=100) != f"episode {index}".encode():
            return f"episode {index}: wrong file read back"
    finally:
        box.stop()
    return f"episode {index}: left {box.leftovers()}" if box.leftovers() else ""


@pytest.fixture(
    params=[
        pytest.param("unsafe-local"),
        pytest.param(
            "local",
            marks=pytest.mark.skipif(os.geteuid() != 0, reason="LocalSandbox needs root"),
        ),
    ]
)
def kind(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """The LocalSandbox mode under test: `unsafe-local` (non-root path) or `local` (root)."""
    if request.param == "unsafe-local":
        monkeypatch.setattr(os, "geteuid", lambda: 1000)
    return str(request.param)


@pytest.mark.timeout(240)
def test_episodes_from_a_thread_pool_work_while_other_threads_hold_locks(
    tmp_path: Path, kind: str
) -> None:
    assert _episode(tmp_path, 0, kind) == ""  # warm: imports and logger caches are filled
    stop = threading.Event()
    locked = threading.Event()

    def hold_logging_lock() -> None:
        # Logging's module lock is taken by every fork that runs Python hooks (`os.fork`, a
        # fork with a preexec_fn); a thread inside `logging.getLogger` holds it the same way.
        with logging._lock:  # type: ignore[attr-defined]  # the lock register_at_fork takes
            locked.set()
            stop.wait(DEADLINE_S + 30)

    def allocate() -> None:
        while not stop.is_set():
            chunks = [bytearray(64 * 1024) for _ in range(64)]
            del chunks

    others = [threading.Thread(target=hold_logging_lock, daemon=True)]
    others += [threading.Thread(target=allocate, daemon=True) for _ in range(2)]
    for thread in others:
        thread.start()
    locked.wait(10)
    pool = ThreadPoolExecutor(WORKERS)
    try:
        futures = [pool.submit(_episode, tmp_path, i, kind) for i in range(1, EPISODES + 1)]
        done, pending = wait(futures, timeout=DEADLINE_S)
    finally:
        stop.set()  # a start stuck on the lock goes on now, so the pool can wind down
        pool.shutdown(wait=True)
    assert not pending, f"{len(pending)} of {EPISODES} episodes hung while a lock was held"
    problems = [p for p in (f.result() for f in done) if p]
    assert not problems, problems


@pytest.mark.timeout(60)
@pytest.mark.usefixtures("not_root")
def test_the_runner_runs_in_a_user_and_network_namespace_of_its_own(tmp_path: Path) -> None:
    host_userns = os.readlink("/proc/self/ns/user")
    host_netns = os.readlink("/proc/self/ns/net")
    box = _started(tmp_path, "unsafe-local")
    try:
        r = box.exec(
            "import os\n"
            "print(os.readlink('/proc/self/ns/user'), os.readlink('/proc/self/ns/net'))\n"
            "rows = open('/proc/self/net/dev').read().splitlines()[2:]\n"
            "print(sorted(row.split(':')[0].strip() for row in rows))",
            timeout_s=30,
        )
    finally:
        box.stop()
    assert r.status == "ok", r
    namespaces, interfaces = r.stdout.splitlines()
    userns, netns = namespaces.split()
    assert userns != host_userns and netns != host_netns, r.stdout
    assert interfaces == "['lo']", r.stdout
    started = time.monotonic()
    while box.leftovers() and time.monotonic() - started < 10:
        time.sleep(0.05)
    assert box.leftovers() == []
