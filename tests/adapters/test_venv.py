"""The per-agent venv cache with a tiny local wheel (no index): made once and reused, keyed by
its pins and the Python version, never in mledojo's own venv; a half-made venv (an install
killed before its marker) is never used; a failed install leaves nothing that is used."""

from __future__ import annotations

import http.server
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from pydantic import ValidationError

from mledojo.adapters.venv import VenvInstallError, VenvSpec, ensure_venv, read_record

from .conftest import make_wheel


def spec_for(wheels: Path, version: str = "1.0") -> VenvSpec:
    return VenvSpec(
        name="tiny",
        requirements=(f"tinyagent=={version}",),
        pip_args=("--no-index", "--find-links", str(wheels)),
    )


def version_in(python: Path) -> str:
    out = subprocess.run(
        [str(python), "-c", "import tinyagent, sys; print(tinyagent.VERSION, sys.prefix)"],
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.strip()


@pytest.mark.slow
def test_a_venv_is_made_once_then_reused_and_keyed_by_its_pins(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    make_wheel(wheels, "1.0")
    make_wheel(wheels, "2.0")
    root = tmp_path / "cache"
    said: list[str] = []
    first = ensure_venv(spec_for(wheels), root=root, progress=said.append)
    assert first.path.parent == root and first.path.name.startswith("tiny-")
    assert version_in(first.python) == f"1.0 {first.path}"
    assert first.record.install_s > 0 and first.record.size_bytes > 1_000_000
    assert any("first use" in s for s in said)
    said.clear()
    again = ensure_venv(spec_for(wheels), root=root, progress=said.append)
    assert again == first and said == []  # reused: nothing installed
    other = ensure_venv(spec_for(wheels, "2.0"), root=root)
    assert other.path != first.path and version_in(other.python) == f"2.0 {other.path}"
    # never mledojo's own venv
    mine = subprocess.run(
        [sys.executable, "-c", "import tinyagent"], capture_output=True, check=False
    )
    assert mine.returncode != 0


def test_the_key_covers_pins_pip_arguments_and_the_python_version() -> None:
    spec = VenvSpec(name="a", requirements=("x==1", "y==2"))
    assert spec.key() == VenvSpec(name="a", requirements=("y==2", "x==1")).key()
    assert spec.key() != VenvSpec(name="a", requirements=("x==1", "y==3")).key()
    assert spec.key() != spec.key(python="cpython-3.99.0")
    assert spec.key() != VenvSpec(name="a", requirements=("x==1", "y==2"), pip_args=("-U",)).key()


@pytest.mark.parametrize("req", ["numpy", "numpy>=1", "numpy==1.0; rm -rf /", "-e ."])
def test_unpinned_requirements_are_refused(req: str) -> None:
    with pytest.raises(ValidationError, match="not pinned"):
        VenvSpec(name="a", requirements=(req,))


@pytest.mark.slow
def test_a_half_made_venv_is_removed_and_installed_again(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    make_wheel(wheels)
    root = tmp_path / "cache"
    spec = spec_for(wheels)
    # what a killed install leaves: the folder, an interpreter, no marker
    half = root / f"tiny-{spec.key()}"
    (half / "bin").mkdir(parents=True)
    (half / "bin" / "python").symlink_to(sys.executable)
    (half / "left-by-the-killed-install").write_text("x")
    venv = ensure_venv(spec, root=root)
    assert venv.path == half and not (half / "left-by-the-killed-install").exists()
    assert version_in(venv.python).startswith("1.0 ")


@pytest.mark.slow
def test_a_failed_install_leaves_no_marker_and_says_what_failed(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    wheels.mkdir()  # empty: pip finds nothing
    root = tmp_path / "cache"
    spec = spec_for(wheels)
    with pytest.raises(VenvInstallError, match="(?s)pip install failed.*tinyagent==1.0"):
        ensure_venv(spec, root=root)
    path = root / f"tiny-{spec.key()}"
    assert read_record(path) is None and not path.exists()
    make_wheel(wheels)
    assert version_in(ensure_venv(spec, root=root).python).startswith("1.0 ")


class _Links(http.server.BaseHTTPRequestHandler):
    """A find-links page that hangs (until told to serve) and then serves the wheel."""

    wheels: Path
    asked = threading.Event()
    serve = threading.Event()

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        return

    def do_GET(self) -> None:  # noqa: N802
        type(self).asked.set()
        if not type(self).serve.wait(timeout=300):
            return
        name = self.path.strip("/")
        if name.endswith(".whl"):
            data, ctype = (self.wheels / name).read_bytes(), "application/octet-stream"
        else:
            links = "".join(f'<a href="/{w.name}">{w.name}</a>' for w in self.wheels.iterdir())
            data, ctype = f"<html><body>{links}</body></html>".encode(), "text/html"
        self.send_response(200)
        self.send_header("content-type", ctype)
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.mark.slow
def test_an_install_killed_midway_is_never_used(wheels: Path, tmp_path: Path) -> None:
    handler = type(
        "Links",
        (_Links,),
        {"wheels": wheels, "asked": threading.Event(), "serve": threading.Event()},
    )
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/"
    spec = VenvSpec(
        name="tiny",
        requirements=("tinyagent==1.0",),
        pip_args=("--no-index", "--find-links", url, "--trusted-host", "127.0.0.1"),
    )
    root = tmp_path / "cache"
    code = (
        "import sys; from pathlib import Path; from mledojo.adapters.venv import VenvSpec, "
        f"ensure_venv; ensure_venv(VenvSpec.model_validate_json({spec.model_dump_json()!r}), "
        f"root=Path({str(root)!r}))"
    )
    child = subprocess.Popen([sys.executable, "-c", code], start_new_session=True)
    try:
        assert handler.asked.wait(timeout=300), "pip never asked for the package"
        os.killpg(child.pid, signal.SIGKILL)  # mid-install: pip is waiting for our page
    finally:
        child.wait()
    half = root / f"tiny-{spec.key()}"
    assert (half / "bin" / "python").exists() and read_record(half) is None
    handler.serve.set()
    try:
        venv = ensure_venv(spec, root=root)
    finally:
        server.shutdown()
        server.server_close()
    assert venv.path == half and read_record(half) is not None
    assert version_in(venv.python).startswith("1.0 ")


def test_the_cli_installs_an_agents_venv_ahead_and_then_finds_it_ready(
    wheels: Path, tmp_path: Path
) -> None:
    """`mledojo agents --install` (what the test command runs before pytest) makes the venv
    an agent's first episode would make, and only agents that have one."""
    agent = tmp_path / "tiny_agent.py"
    agent.write_text(
        "from mledojo.adapters.venv import VenvSpec\n"
        "from mledojo.agent import Agent\n\n"
        "class Tiny(Agent):\n"
        f"    venv = VenvSpec(name='tiny', requirements=('tinyagent==1.0',), pip_args=("
        f"'--no-index', '--find-links', {str(wheels)!r}))\n\n"
        "    def act(self, observation):\n"
        "        return {}\n"
    )
    env = {**os.environ, "MLEDOJO_CACHE_DIR": str(tmp_path / "cache")}
    command = [sys.executable, "-m", "mledojo.cli", "agents", "--install", str(agent), "baseline"]
    first = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    assert first.returncode == 0, first.stderr
    ready = ensure_venv(spec_for(wheels), root=tmp_path / "cache" / "agent-venvs")
    assert f"{agent}: {ready.path}" in " ".join(first.stdout.split())
    assert "baseline" not in first.stdout  # no venv of its own: nothing to install
    assert version_in(ready.python).startswith("1.0 ")
