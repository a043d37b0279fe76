"""Importing a Python file by path (competition helpers and agents are not packages)."""

from __future__ import annotations

import hashlib
import importlib.util
from pathlib import Path
from types import ModuleType

from mledojo.errors import MLEDojoError


def import_file(path: Path, prefix: str) -> ModuleType:
    """Import `path` as a module named `<prefix>_<hash of the path>` (hyphens are fine)."""
    name = f"{prefix}_" + hashlib.sha1(str(path).encode()).hexdigest()[:12]
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise MLEDojoError(f"{path}: cannot be imported")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
