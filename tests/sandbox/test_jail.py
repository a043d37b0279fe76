"""LocalSandbox's minimal root (`_jail.py`, `jailplan.py`) with real mounts: an installed
copy of the library in a bound site-packages is covered, the rest of the prefix is not."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from mledojo.adapters.wrapped import CLIENT_DIR
from mledojo.sandbox._jail import Bind, JailPlan
from mledojo.sandbox.conformance import CONFORMANCE_RESOURCES
from mledojo.sandbox.episode_uids import free_episode_uid
from mledojo.sandbox.hostfiles import JAIL_FILE, RUNNER_FILE, TOOLS_DIR
from mledojo.sandbox.jailplan import (
    BRIDGE_INSIDE,
    PACKAGE_DIR,
    driver_jail_plan,
    jail_plan,
    library_copies,
)

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="the jail needs root")

LOOK = """
import os, sys
site = sys.argv[1]
print("PACKAGE", sorted(os.listdir(os.path.join(site, "mledojo"))))
print("OTHER", sorted(os.listdir(os.path.join(site, "other"))))
print("HOST_TMP", os.path.exists(sys.argv[2]))
"""


def _installed_prefix(root: Path) -> tuple[Path, Path]:
    """A Python prefix whose site-packages holds a regular install of mledojo."""
    site = root / "prefix" / "lib" / "python3.11" / "site-packages"
    generator = site / "mledojo" / "_builtin" / "competitions" / "pump-failure" / "generate.py"
    generator.parent.mkdir(parents=True)
    (site / "mledojo" / "__init__.py").write_text("")
    generator.write_text("def generate(seed): ...\n")
    (site / "other").mkdir()
    (site / "other" / "__init__.py").write_text("")
    return root / "prefix", site


def _plan(tmp: Path, prefix: Path, site: Path, *, masked: bool) -> JailPlan:
    for name in ("root", "data", "workspace", "run"):
        (tmp / name).mkdir(parents=True)
    plan = jail_plan(
        python=sys.executable,
        root_mount=tmp / "root",
        data=tmp / "data",
        workspace=tmp / "workspace",
        control=tmp / "run",
        runner=RUNNER_FILE,
        tools=TOOLS_DIR,
        resources=CONFORMANCE_RESOURCES,
        uid=free_episode_uid(),
        argv=(sys.executable, "-I", "-c", LOOK, str(site), str(tmp)),
    )
    extra = Bind(str(prefix), str(prefix))
    masks = library_copies([extra]) if masked else []
    return dataclasses.replace(plan, binds=(*plan.binds, extra), masks=(*plan.masks, *masks))


def _run(plan: JailPlan) -> str:
    done = subprocess.run(
        [sys.executable, "-I", "-S", str(JAIL_FILE), plan.to_json()],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@needs_root
@pytest.mark.timeout(60)
def test_an_installed_copy_of_the_library_is_covered(tmp_path: Path) -> None:
    prefix, site = _installed_prefix(tmp_path)
    assert library_copies([Bind(str(prefix), str(prefix))]) == [str(site / "mledojo")]
    out = _run(_plan(tmp_path / "masked", prefix, site, masked=True))
    assert "PACKAGE []" in out and "OTHER ['__init__.py']" in out, out
    assert "HOST_TMP False" in out, out


@needs_root
@pytest.mark.timeout(60)
def test_without_the_mask_the_copy_would_show(tmp_path: Path) -> None:
    """The check above has teeth: the same plan without its mask shows the package."""
    prefix, site = _installed_prefix(tmp_path)
    out = _run(_plan(tmp_path / "bare", prefix, site, masked=False))
    assert "PACKAGE ['__init__.py', '_builtin']" in out, out


def test_a_malformed_plan_is_refused_naming_the_field() -> None:
    done = subprocess.run(
        [sys.executable, "-I", "-S", str(JAIL_FILE), '{"root_mount": "relative"}'],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 1
    assert "not an absolute path" in done.stderr or "binds" in done.stderr, done.stderr


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--userns", "not json"], "Expecting value"),
        (["--userns", "[]"], "non-empty JSON list"),
        (["--userns", '["python", 3]'], "is not a string"),
        (["--userns"], "usage"),
        (["{}", "extra"], "usage"),
    ],
)
def test_the_userns_launcher_refuses_a_malformed_command(args: list[str], says: str) -> None:
    done = subprocess.run(
        [sys.executable, "-I", "-S", str(JAIL_FILE), *args],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode in (1, 2) and says in done.stderr, done.stderr


def test_the_plan_survives_its_json_round_trip(tmp_path: Path) -> None:
    plan = JailPlan(
        root_mount="/r",
        binds=(Bind("/a", "/b", writable=True), Bind("/dev/null", "/dev/null", device=True)),
        symlinks=(("/bin", "usr/bin"),),
        files=(("/etc/hosts", "127.0.0.1 localhost\n"),),
        masks=("/x/mledojo",),
        tmp_mb=64,
        tmp_inodes=1000,
        shm_mb=64,
        uid=5,
        gid=5,
        argv=("/usr/bin/python3", "-c", textwrap.dedent("print(1)")),
    )
    assert JailPlan.from_json(plan.to_json()) == plan


def test_a_driver_plan_survives_its_json_round_trip() -> None:
    plan = JailPlan(
        root_mount="/r",
        binds=(),
        symlinks=(),
        files=(),
        masks=(),
        tmp_mb=64,
        tmp_inodes=1000,
        shm_mb=64,
        uid=5,
        gid=5,
        argv=("/venv/bin/python", "driver.py"),
        cwd="/run/agent/work",
        listen_port=40123,
        handoff_fd=7,
        nproc=256,
    )
    assert JailPlan.from_json(plan.to_json()) == plan
    with pytest.raises(ValueError, match="not an absolute path"):
        JailPlan.from_json(plan.to_json().replace('"/run/agent/work"', '"work"'))


def test_a_driver_plan_binds_its_own_folders_and_masks_every_library_copy(
    tmp_path: Path,
) -> None:
    prefix, site = _installed_prefix(tmp_path)
    work = tmp_path / "agent" / "work"
    plan = driver_jail_plan(
        python=sys.executable,
        root_mount=tmp_path / "root",
        client=CLIENT_DIR,
        read_only=(prefix,),
        writable=(work,),
        uid=free_episode_uid(),
        cwd=work,
        argv=(sys.executable, "driver.py"),
        listen_port=40123,
        handoff_fd=7,
    )
    binds = {b.target: b for b in plan.binds}
    assert binds[str(work)].writable and binds[BRIDGE_INSIDE].source == str(CLIENT_DIR)
    assert not binds[BRIDGE_INSIDE].writable and not binds[str(prefix)].writable
    assert str(site / "mledojo") in plan.masks  # a copy in a bound folder is covered
    assert not any(str(PACKAGE_DIR).startswith(b.source + "/") for b in plan.binds)
    assert plan.cwd == str(work) and plan.listen_port == 40123 and plan.handoff_fd == 7
