"""Hostile code against DockerSandbox: each attack is contained, reported, and the next
step still works. One container is shared by the module to keep the suite fast.
"""

from __future__ import annotations

import resource
import shutil
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from mledojo.sandbox.base import ExecResult
from mledojo.sandbox.conformance import CONFORMANCE_RESOURCES, CheckContext, make_context

pytestmark = [pytest.mark.docker, pytest.mark.timeout(60)]

RESOURCES = CONFORMANCE_RESOURCES  # the hostile checks run under the conformance budgets


@pytest.fixture(scope="module")
def box(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[object, CheckContext]]:
    from mledojo.sandbox.docker import DockerSandbox

    ctx = make_context(tmp_path_factory.mktemp("hostile"), RESOURCES)
    sb = DockerSandbox(image=request.getfixturevalue("runtime_image"))
    sb.start(
        data_dir=ctx.data_dir,
        workspace=ctx.workspace,
        resources=RESOURCES,
        labels={"mledojo.run": "hostile-tests"},
    )
    yield sb, ctx
    sb.stop()


def run(sb: object, code: str, timeout_s: float = 20) -> ExecResult:
    return sb.exec(textwrap.dedent(code), timeout_s=timeout_s)  # type: ignore[attr-defined, no-any-return]


def still_works(sb: object) -> None:
    r = run(sb, "import pandas as pd\nprint(pd.DataFrame({'a': [1, 2]}).a.sum())")
    assert (r.status, r.stdout) == ("ok", "3\n"), r


def test_read_the_answers(box: tuple[object, CheckContext]) -> None:
    sb, ctx = box
    r = run(
        sb,
        f"""
        import glob, os
        found = []
        for path in [{str(ctx.secret_path)!r}, '/proc/1/root' + {str(ctx.secret_path)!r}]:
            try:
                found.append(open(path).read())
            except OSError as exc:
                print('denied', path, type(exc).__name__)
        for top in ('/data', '/workspace', '/tmp', '/run', '/home', '/root', '/mnt', '/var'):
            found += glob.glob(top + '/**/answers*', recursive=True)
        print('FOUND', found)
    """,
        timeout_s=30,
    )
    assert ctx.secret_text not in r.stdout + r.stderr
    assert "FOUND []" in r.stdout, r
    still_works(sb)


def test_reach_the_network(box: tuple[object, CheckContext]) -> None:
    sb, _ = box
    r = run(
        sb,
        """
        import os, socket
        for family in (socket.AF_PACKET, socket.AF_INET):
            try:
                socket.socket(family, socket.SOCK_RAW, 0)
                print('RAW SOCKET')
            except (OSError, AttributeError):
                pass
        print('docker.sock' , os.path.exists('/var/run/docker.sock'))
        try:
            socket.create_connection(('1.1.1.1', 443), timeout=2)
            print('CONNECTED')
        except OSError as exc:
            print('no route', exc.errno)
    """,
    )
    assert r.status == "ok", r
    assert "RAW SOCKET" not in r.stdout and "CONNECTED" not in r.stdout
    assert "docker.sock False" in r.stdout
    still_works(sb)


def test_fork_bomb(box: tuple[object, CheckContext]) -> None:
    sb, _ = box
    r = run(
        sb,
        """
        import os, time
        while True:
            try:
                os.fork()
            except OSError:
                time.sleep(0.01)
    """,
        timeout_s=3,
    )
    assert r.status == "timeout", r
    still_works(sb)
    r = run(sb, "import os\nprint(len([p for p in os.listdir('/proc') if p.isdigit()]))")
    assert int(r.stdout) <= 4, r  # init, runner, this step (and maybe its reader)


def test_exhaust_memory_gradually(box: tuple[object, CheckContext]) -> None:
    sb, _ = box
    r = run(
        sb,
        """
        import numpy as np
        hoard = []
        while True:
            hoard.append(np.ones(32 << 20, dtype=np.uint8))
    """,
    )
    assert r.status == "oom", r
    still_works(sb)


def test_fill_the_disk(box: tuple[object, CheckContext]) -> None:
    sb, ctx = box
    try:
        r = run(sb, "open('huge.bin', 'wb').write(b'x' * (100 << 20))")
        # Refused either by the file-size limit (EFBIG) or, when the runner's disk check fires
        # first (a loaded machine), by the step being stopped: both keep the disk bounded.
        refused = "File too large" in r.stderr or "limit" in (r.error_message or "")
        assert r.status == "error" and refused, r
        r = run(sb, "import os; os.remove('huge.bin')")
        assert r.status == "ok", r
        r = run(
            sb,
            """
            import os, time
            os.makedirs('fill', exist_ok=True)
            for i in range(10_000):
                with open(f'fill/{i}.bin', 'wb') as fh:
                    fh.write(b'x' * (4 << 20))
                time.sleep(0.05)
        """,
        )
        assert r.status == "error" and r.error_type == "DiskLimitExceeded", r
        used = sum(p.stat().st_size for p in ctx.workspace.rglob("*") if p.is_file())
        assert used < 2 * RESOURCES.disk_mb * 1024 * 1024, used
        r = run(sb, "print('still over the limit')")
        assert r.error_type == "DiskLimitExceeded", r
        r = run(sb, "import shutil\nshutil.rmtree('fill')")
        assert r.status == "ok", r
    finally:
        shutil.rmtree(ctx.workspace / "fill", ignore_errors=True)
        (ctx.workspace / "huge.bin").unlink(missing_ok=True)
    still_works(sb)


def test_write_outside_the_workspace(box: tuple[object, CheckContext]) -> None:
    sb, ctx = box
    r = run(
        sb,
        """
        for path in ('/etc/evil', '/opt/mledojo/runner.py', '/data/evil', '/evil',
                     '/run/mledojo/evil.sock', '/home/agent/evil'):
            try:
                open(path, 'w').write('x')
                print('WROTE', path)
            except OSError:
                pass
        open('/tmp/scratch', 'w').write('tmp is fine')
    """,
    )
    assert r.status == "ok", r
    assert "WROTE" not in r.stdout.replace("WROTE /run/mledojo/evil.sock", ""), r
    assert not (ctx.data_dir / "evil").exists()
    still_works(sb)


@pytest.mark.parametrize(
    "attack", ["import os; os.kill(os.getppid(), 9)", "import os; os.kill(-1, 9)"]
)
def test_kill_the_runner(box: tuple[object, CheckContext], attack: str) -> None:
    sb, ctx = box
    run(sb, "open('precious.txt', 'w').write('survives')")
    restarts = sb.restarts  # type: ignore[attr-defined]
    r = run(sb, attack)
    assert r.status in ("sandbox_error", "killed"), r
    assert r.status == "killed" or "restarted" in (r.error_message or ""), r
    assert sb.restarts >= restarts  # type: ignore[attr-defined]
    r = run(sb, "print(open('precious.txt').read())")
    assert (r.status, r.stdout) == ("ok", "survives\n"), r
    still_works(sb)


def test_print_gigabytes(box: tuple[object, CheckContext]) -> None:
    sb, _ = box
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    r = run(
        sb,
        """
        import sys
        chunk = 'x' * (1 << 20) + '\\n'
        for _ in range(1024):
            sys.stdout.write(chunk)
        sys.stdout.flush()
        print('the end')
    """,
        timeout_s=40,
    )
    assert r.status == "ok", r.model_copy(update={"stdout": r.stdout[:100]})
    assert r.stdout_truncated and r.stdout.endswith("the end\n")
    assert len(r.stdout) <= RESOURCES.output_bytes + 200
    rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    assert rss_after - rss_before < 100 * 1024  # KiB: the host never held the gigabyte
    still_works(sb)


def test_escaped_background_process_dies_with_its_step(
    box: tuple[object, CheckContext], tmp_path: Path
) -> None:
    sb, ctx = box
    r = run(
        sb,
        """
        import subprocess
        subprocess.Popen(['sh', '-c', 'while true; do date >> ticker.txt; sleep 0.2; done'],
                         start_new_session=True)
    """,
    )
    assert r.status == "ok", r
    ticker = ctx.workspace / "ticker.txt"
    size = ticker.stat().st_size if ticker.exists() else 0
    r = run(sb, "import time; time.sleep(1)")
    after = ticker.stat().st_size if ticker.exists() else 0
    assert after == size, "a background process kept running after its step"
    still_works(sb)


def test_full_tmp_is_named(box: tuple[object, CheckContext]) -> None:
    sb, _ = box
    r = run(
        sb,
        """
        import os
        with open('/tmp/fill', 'wb') as f:
            try:
                while True:
                    f.write(b'x' * (1 << 20))
            except OSError as e:
                print('full', e.errno)
    """,
    )
    later = run(sb, "print('next step')")
    assert "/tmp is full" in later.stderr and "delete files in /tmp" in later.stderr, later
    run(sb, "import os\nos.remove('/tmp/fill')")
    after = run(sb, "print(1)")
    assert "/tmp is full" not in after.stderr, (r, after)
    still_works(sb)


def test_io_uring_is_refused(box: tuple[object, CheckContext]) -> None:
    from mledojo.sandbox.conformance import run_check
    from mledojo.sandbox.hostile import SECCOMP_CHECKS

    sb, ctx = box
    result = run_check("no_io_uring", sb, ctx, checks=SECCOMP_CHECKS)  # type: ignore[arg-type]
    assert result.passed, result.detail
