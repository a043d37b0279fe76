"""Helpers of the adapters tests: a tiny local wheel for venvs that need no index."""

from __future__ import annotations

import base64
import hashlib
import zipfile
from pathlib import Path

import pytest


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
