"""A wrapped agent's driver is hostile code's first host: as root it runs in a jail of its own.

A real driver (the tiny agent's venv, a real launcher, real namespaces and mounts) tries what
an exploited third-party agent would: read the episode's hidden answers, the mledojo
checkout, a root-only host file; reach a host port that is not the gateway; leave a process
behind after stop; fork without bound. Each attack is blocked, while the same driver still
reaches the model gateway and submits; a driver left by a host killed with SIGKILL is
reaped by cleanup.
Without root the driver runs as before, and the host says so; a jail that cannot be built
is a driver that could not start.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

import mledojo
from mledojo.adapters import jail
from mledojo.adapters.bridge import BridgeResult
from mledojo.agent import AgentOutcome
from mledojo.artifacts import EpisodeResult
from mledojo.sandbox import cleanup
from mledojo.sandbox.episode_uids import is_episode_uid, kill_uid, pids_of_uid
from mledojo.sandbox.jailplan import DRIVER_NPROC
from mledojo.testing.llm_server import Reply, ScriptedLLMServer
from mledojo.testing.memory_sandbox import MemorySandboxDouble

from .conftest import CALL_MODEL_AND_SUBMIT, TinyAgent, write_driver

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="the driver's jail needs root")

# Tries the attack named in its config, notes the outcome, then calls the model through the
# gateway and submits (the honest path must still work in the jail).
HOSTILE_DRIVER = (
    """\
import json, os, socket, subprocess, sys, time, urllib.request
from mledojo_bridge import Bridge, load_config

bridge = Bridge.from_env()
config = load_config()
attack, target = config["attack"], config["target"]
try:
    if attack == "read":
        with open(target, "rb") as f:
            outcome = "LEAKED " + f.read(200).decode("utf-8", "replace")
    elif attack == "connect":
        with socket.create_connection(("127.0.0.1", int(target)), timeout=5) as s:
            outcome = "LEAKED " + s.recv(100).decode("utf-8", "replace")
    elif attack == "fork":
        for started in range(int(target)):
            if os.fork() == 0:
                time.sleep(600)
                os._exit(0)
        outcome = f"LEAKED {int(target)} processes started"
    else:  # "linger": a daemon in a session of its own, out of the driver's process group
        child = subprocess.Popen(
            [sys.executable, "-c", "import time; time.sleep(600)", target],
            start_new_session=True,
        )
        with open("lingerer.pid", "w") as f:
            f.write(str(child.pid))
        outcome = "started"
except Exception as exc:
    outcome = f"blocked {type(exc).__name__}: {exc}"
bridge.note(f"attack {outcome}")
bridge.note(f"uid {os.getuid()}")
"""
    + CALL_MODEL_AND_SUBMIT
)


@dataclass
class HostileRun:
    result: EpisodeResult | None
    notes: dict[str, str]  # the driver's notes by their first word
    last: BridgeResult
    outcome: AgentOutcome
    transcript: list[str]  # bridge.jsonl's lines


def run_hostile(
    tiny_agent: TinyAgent, tmp_path: Path, attack: str, target: str | None = None
) -> HostileRun:
    """Run the hostile driver with `attack` on `target` (default: the env's answers file)."""
    env = mledojo.make("pump-failure", sandbox=MemorySandboxDouble(), run_dir=tmp_path / "run")
    target = target if target is not None else str(env.data.answers_path)
    driver = write_driver(tmp_path, HOSTILE_DRIVER)
    with ScriptedLLMServer([Reply.say("hello from upstream")]) as server:
        agent = tiny_agent(driver, server)
        base = agent.driver_config
        agent.driver_config = lambda model: {**base(model), "attack": attack, "target": target}
        outcome = agent.run(env, seed=0)
    env.close()
    assert agent.last is not None
    notes = {n.split(" ", 1)[0]: n.split(" ", 1)[1] for n in agent.last.notes}
    transcript = (tmp_path / "run" / "tiny" / "bridge.jsonl").read_text().splitlines()
    return HostileRun(env.result(), notes, agent.last, outcome, transcript)


def assert_honest_path(run: HostileRun) -> None:
    """The attack did not break the driver's own work: the gateway answered, it submitted."""
    assert run.notes.get("model") == "said hello from upstream", (run.notes, run.last.log_tail)
    assert run.result is not None and run.result.status == "completed", (run.result, run.last)
    assert run.last.isolation == "jail"
    assert run.transcript[0] == '{"isolation": "jail"}'


def assert_blocked(run: HostileRun, what: str) -> None:
    outcome = run.notes.get("attack", "")
    assert outcome.startswith("blocked"), f"the driver could {what}: {outcome[:300]}"


@needs_root
@pytest.mark.slow
def test_the_driver_cannot_read_the_episodes_hidden_answers(
    tiny_agent: TinyAgent, tmp_path: Path
) -> None:
    run = run_hostile(tiny_agent, tmp_path, "read")
    assert_blocked(run, "read the hidden answers")
    assert_honest_path(run)


@needs_root
@pytest.mark.slow
def test_the_driver_cannot_read_the_mledojo_checkout(tiny_agent: TinyAgent, tmp_path: Path) -> None:
    # the module that rebuilds the hidden answers from the raw data
    prepare = Path(mledojo.__file__).resolve().parent / "data" / "prepare.py"
    assert prepare.is_file()
    run = run_hostile(tiny_agent, tmp_path, "read", str(prepare))
    assert_blocked(run, "read the mledojo checkout")
    assert_honest_path(run)


@needs_root
@pytest.mark.slow
def test_the_driver_cannot_read_a_root_only_host_file(
    tiny_agent: TinyAgent, tmp_path: Path
) -> None:
    secret = tmp_path / "host-secret.txt"
    canary = "canary-" + secrets.token_hex(16)
    secret.write_text(canary, encoding="utf-8")
    secret.chmod(0o600)
    run = run_hostile(tiny_agent, tmp_path, "read", str(secret))
    assert canary not in json.dumps(run.notes)
    assert_blocked(run, "read a root-only file")
    assert_honest_path(run)


@pytest.fixture
def host_port() -> Iterator[int]:
    """A TCP service on the host's 127.0.0.1 (not the gateway) that greets whoever connects."""
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            with conn:
                conn.sendall(b"host service says hi")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield int(server.getsockname()[1])
    stop.set()
    thread.join(timeout=5)
    server.close()


@needs_root
@pytest.mark.slow
def test_the_driver_reaches_the_gateway_but_no_other_host_port(
    tiny_agent: TinyAgent, tmp_path: Path, host_port: int
) -> None:
    run = run_hostile(tiny_agent, tmp_path, "connect", str(host_port))
    assert "host service says hi" not in json.dumps(run.notes)
    assert_blocked(run, "connect to a host port")
    assert_honest_path(run)


@needs_root
@pytest.mark.slow
def test_nothing_the_driver_started_outlives_the_run_and_its_uid_is_released(
    tiny_agent: TinyAgent, tmp_path: Path
) -> None:
    marker = "lingerer-" + secrets.token_hex(8)
    run = run_hostile(tiny_agent, tmp_path, "linger", marker)
    pid = int((tmp_path / "run" / "tiny" / "work" / "lingerer.pid").read_text())
    try:
        cmdline = Path(f"/proc/{pid}/cmdline")
        alive = cmdline.exists() and marker.encode() in cmdline.read_bytes()
        assert not alive, f"the driver's daemon (pid {pid}) outlived the run"
    finally:
        _kill_marked(pid, marker)  # on a failure, do not leave it behind
    assert_honest_path(run)
    uid = int(run.notes["uid"])
    assert is_episode_uid(uid), f"the driver ran as uid {uid}, not an episode uid of its own"
    assert pids_of_uid(uid) == []
    owned = [p for p in (tmp_path / "run").rglob("*") if p.lstat().st_uid == uid]
    assert owned == [], f"files still owned by the driver's uid: {owned[:5]}"


def _kill_marked(pid: int, marker: str) -> None:
    """SIGKILL `pid` only if it is still the lingerer this test started."""
    try:
        fd = os.pidfd_open(pid)
    except OSError:
        return
    try:
        if marker.encode() in Path(f"/proc/{pid}/cmdline").read_bytes():
            signal.pidfd_send_signal(fd, signal.SIGKILL)
    except OSError:
        pass
    finally:
        os.close(fd)


@pytest.mark.slow
def test_without_root_the_driver_runs_as_before_and_the_host_warns(
    tiny_agent: TinyAgent, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    jail._warn_not_isolated.cache_clear()  # once per process: this test wants it now
    with pytest.warns(RuntimeWarning, match=re.escape("not running as root")):
        run = run_hostile(tiny_agent, tmp_path, "read", "/etc/hostname")
    assert run.last.isolation == "none"
    assert run.transcript[0] == '{"isolation": "none"}'
    assert run.result is not None and run.result.status == "completed", run.result
    assert run.notes.get("model") == "said hello from upstream", run.notes
    assert "[driver not isolated: not root]" in run.outcome.notes


@needs_root
@pytest.mark.slow
def test_a_jail_that_cannot_be_built_is_a_driver_that_could_not_start(
    tiny_agent: TinyAgent, tmp_path: Path
) -> None:
    env = mledojo.make("pump-failure", sandbox=MemorySandboxDouble(), run_dir=tmp_path / "run")
    with ScriptedLLMServer([]) as server:
        agent = tiny_agent(tmp_path / "no-such-folder" / "driver.py", server)
        agent.run(env, seed=0)
    env.close()
    assert agent.last is not None and agent.last.ended_by == "crash", agent.last
    assert "could not start" in (agent.last.error or "")
    assert "mledojo jail:" in (agent.last.error or ""), agent.last.error  # the launcher's word
    result = env.result()
    assert result is not None and result.status == "agent_error", result


HOST = """\
import sys, time
from pathlib import Path
from mledojo.adapters.jail import DriverJail
from mledojo.adapters.wrapped import CLIENT_DIR

folder = Path(sys.argv[1])
(folder / "driver").mkdir()
(folder / "driver" / "driver.py").write_text("import time\\ntime.sleep(600)\\n")
kept = []
jail = DriverJail(python=Path(sys.executable), client=CLIENT_DIR,
                  read_only=(folder / "driver",), folder=folder / "agent", port=40999,
                  serve=kept.append)
import subprocess
argv, fds = jail.command([sys.executable, str(folder / "driver" / "driver.py")],
                         folder / "agent" / "work")
subprocess.Popen(argv, pass_fds=fds, start_new_session=True)
jail.started()
print(jail.uid, flush=True)
time.sleep(600)
"""


@needs_root
@pytest.mark.slow
def test_a_driver_left_by_a_host_killed_with_sigkill_is_reaped_by_cleanup(
    tmp_path: Path,
) -> None:
    temp = tmp_path / "temp"  # the host's temp dir: its control folder lands here
    temp.mkdir()
    host = subprocess.Popen(
        [sys.executable, "-c", HOST, str(tmp_path)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "TMPDIR": str(temp)},
    )
    assert host.stdout is not None
    uid = int(host.stdout.readline())
    try:
        # the launcher hands the gateway's socket over before it drops to the uid and execs
        deadline = time.monotonic() + 30
        while not pids_of_uid(uid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert is_episode_uid(uid) and pids_of_uid(uid), "the jailed driver did not start"
        host.kill()
        host.wait()
        assert pids_of_uid(uid), "the driver died with its host: nothing to reap"
        reaped = cleanup.reap_control_dirs(temp)
        assert len(reaped) == 1, reaped
        assert pids_of_uid(uid) == []
        assert list(temp.iterdir()) == []
    finally:
        host.kill()
        kill_uid(uid)  # on a failure, do not leave the driver behind


@needs_root
@pytest.mark.slow
def test_a_fork_bomb_in_the_driver_stops_at_its_process_limit(
    tiny_agent: TinyAgent, tmp_path: Path
) -> None:
    run = run_hostile(tiny_agent, tmp_path, "fork", str(2 * DRIVER_NPROC))
    assert_blocked(run, "start any number of processes")
    assert "Resource temporarily unavailable" in run.notes["attack"], run.notes["attack"]
    assert_honest_path(run)
    assert pids_of_uid(int(run.notes["uid"])) == []
