"""Helpers of the adapters tests: a tiny local wheel for venvs that need no index, and a
tiny wrapped agent over it whose driver the test writes."""

from __future__ import annotations

import base64
import hashlib
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import ClassVar

import pytest

from mledojo.adapters import VenvSpec, WrappedAgent, provider_config
from mledojo.llm.gateway import GatewayConfig
from mledojo.testing.llm_server import ScriptedLLMServer

TinyAgent = Callable[[Path, ScriptedLLMServer], WrappedAgent]


# The honest end of every test driver: one model call through the gateway's base URL, then
# the sample submission, submitted (what must still work whatever the driver tried first).
CALL_MODEL_AND_SUBMIT = """\
request = urllib.request.Request(
    os.environ["OPENAI_BASE_URL"] + "/chat/completions",
    data=json.dumps({"model": config["model"],
                     "messages": [{"role": "user", "content": "hi"}]}).encode(),
    headers={"Authorization": "Bearer " + os.environ["OPENAI_API_KEY"],
             "Content-Type": "application/json"},
)
answer = json.load(urllib.request.urlopen(request, timeout=60))
bridge.note("model said " + answer["choices"][0]["message"]["content"])
bridge.bash('cp "$MLEDOJO_DATA/sample_submission.csv" submission.csv')
bridge.submit()
"""


def make_wheel(folder: Path, version: str = "1.0") -> Path:
    """A pure-Python wheel of `tinyagent` (one module saying its version)."""
    name = f"tinyagent-{version}"
    files = {
        "tinyagent.py": f"VERSION = {version!r}\n",
        f"{name}.dist-info/METADATA": (
            f"Metadata-Version: 2.1\nName: tinyagent\nVersion: {version}\n"
        ),
        f"{name}.dist-info/WHEEL": (
            "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        ),
    }
    record = []
    for path, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=")
        record.append(f"{path},sha256={digest.decode()},{len(text.encode())}")
    record.append(f"{name}.dist-info/RECORD,,")
    files[f"{name}.dist-info/RECORD"] = "\n".join(record) + "\n"
    wheel = folder / f"{name}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as z:
        for path, text in files.items():
            z.writestr(path, text)
    return wheel


@pytest.fixture(scope="session")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding `tinyagent` 1.0."""
    folder = tmp_path_factory.mktemp("wheels")
    make_wheel(folder)
    return folder


@pytest.fixture(scope="session")
def venv_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One venv cache for the tests that run a tiny wrapped agent (installed once)."""
    return tmp_path_factory.mktemp("venv-cache")


def write_driver(tmp_path: Path, text: str) -> Path:
    """A driver script in a folder of its own (a jailed driver sees its whole folder)."""
    folder = tmp_path / "driver"
    folder.mkdir()
    driver = folder / "driver.py"
    driver.write_text(text, encoding="utf-8")
    return driver


@pytest.fixture
def tiny_agent(wheels: Path, venv_cache: Path, monkeypatch: pytest.MonkeyPatch) -> TinyAgent:
    """Builds a wrapped agent on `tinyagent` 1.0 running `driver`, its model calls going to
    the scripted `server` through the episode's gateway (venvs cached in `venv_cache`; a
    test may set its own `OPENAI_API_KEY` canary after this)."""
    monkeypatch.setenv("MLEDOJO_CACHE_DIR", str(venv_cache))
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-upstream-key")  # the scripted server's

    def build(driver: Path, server: ScriptedLLMServer) -> WrappedAgent:
        class Tiny(WrappedAgent):
            name: ClassVar[str] = "tiny"
            venv: ClassVar[VenvSpec] = VenvSpec(
                name="tiny",
                requirements=("tinyagent==1.0",),
                pip_args=("--no-index", "--find-links", str(wheels)),
            )

            @contextmanager
            def upstream(self) -> Iterator[tuple[GatewayConfig, str]]:
                config, ref = provider_config("openai/gpt-5-mini", server.openai_base_url)
                yield config, ref.name

        Tiny.driver = driver
        return Tiny(model="openai/gpt-5-mini")

    return build
