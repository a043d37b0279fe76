"""Third-party competitions and agents arrive through entry points of an installed package."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from mledojo.agent import available_agents, load_agent
from mledojo.competition import discover, get_competition
from mledojo.errors import AgentNotFoundError

PLUGIN = """
from typing import ClassVar
from mledojo.agent import Agent

FOLDER = {folder!r}


def competitions():
    return FOLDER


def plugged_sandbox(**kwargs):
    from mledojo.sandbox.local import LocalSandbox

    return LocalSandbox(unsafe=True, **kwargs)


def not_a_sandbox(**kwargs):
    return object()


class EchoAgent(Agent):
    name: ClassVar[str] = "echo"

    def act(self, observation):
        return {{"action": "submit"}}
"""


@pytest.fixture
def plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A real (tiny) installed distribution declaring both entry-point groups."""
    comps = tmp_path / "plugin_comps"
    folder = comps / "plug-comp"
    folder.mkdir(parents=True)
    spec = {
        "id": "plug-comp",
        "version": 1,
        "title": "Plugged",
        "task": "regression",
        "metric": {"name": "rmse", "higher_is_better": False},
        "target": "y",
        "id_column": "id",
        "source": {"kind": "local", "path": "."},
    }
    (folder / "competition.yaml").write_text(yaml.safe_dump(spec))
    (folder / "description.md").write_text("# Plugged\n")
    site = tmp_path / "site"
    site.mkdir()
    (site / "mledojo_test_plugin.py").write_text(PLUGIN.format(folder=str(comps)))
    dist = site / "mledojo_test_plugin-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: mledojo-test-plugin\nVersion: 0.1\n"
    )
    (dist / "entry_points.txt").write_text(
        "[mledojo.competitions]\nplug = mledojo_test_plugin:competitions\n\n"
        "[mledojo.agents]\necho = mledojo_test_plugin:EchoAgent\n\n"
        "[mledojo.sandboxes]\nplugged = mledojo_test_plugin:plugged_sandbox\n"
        "broken = mledojo_test_plugin:not_a_sandbox\n"
    )
    monkeypatch.syspath_prepend(str(site))
    return folder


def test_entry_point_competitions_are_discovered(plugin: Path) -> None:
    comp = get_competition("plug-comp")
    assert comp.folder == plugin and comp.origin == "entry point plug"
    assert "plug-comp" in discover().ids()


def test_entry_point_agents_load(plugin: Path) -> None:
    assert "echo" in available_agents()
    assert load_agent("echo").name == "echo"
    assert load_agent("baseline").name == "baseline"
    with pytest.raises(AgentNotFoundError, match="Did you mean `echo`"):
        load_agent("ecco")


def test_entry_point_sandboxes_are_backends(plugin: Path) -> None:
    from mledojo.errors import SandboxError
    from mledojo.sandbox import make_sandbox, resolve_sandbox_kind, sandbox_kinds
    from mledojo.sandbox.base import Sandbox

    assert {"docker", "local", "plugged", "auto"} <= set(sandbox_kinds())
    box = make_sandbox("plugged")
    assert isinstance(box, Sandbox) and box.name == "unsafe-local"
    assert resolve_sandbox_kind("plugged") == "plugged"
    with pytest.raises(ValueError, match="Did you mean `plugged`"):
        make_sandbox("pluged")
    with pytest.raises(SandboxError, match="did not return a Sandbox"):
        make_sandbox("broken")
