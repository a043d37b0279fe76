"""The tool list an LLM gets, and the package's promise to the runner: it imports nothing
from mledojo and works when loaded under a private name, as the runner loads it."""

from __future__ import annotations

import ast
import importlib.util
import json
import sys
from pathlib import Path

import pytest

from mledojo.tools.registry import TOOLS, tool_definitions

from .conftest import Box

PACKAGE = Path(__file__).resolve().parents[2] / "mledojo" / "tools"
EXPECTED = {
    "profile_dataset", "explore_dataset", "split_dataset", "engineer_features",
    "select_features", "resample_dataset", "train_model", "get_predictions",
    "evaluate_model", "rank_experiments", "write_submission",
}  # fmt: skip


def test_definitions_list_every_tool_with_a_json_schema() -> None:
    defs = tool_definitions()
    assert {d["name"] for d in defs} == EXPECTED == set(TOOLS)
    for d in defs:
        schema = d["parameters"]
        assert schema["type"] == "object" and schema["additionalProperties"] is False
        assert len(d["description"]) > 40
        assert "$ref" not in json.dumps(d) and "$defs" not in schema  # self-contained
    train = next(d for d in defs if d["name"] == "train_model")["parameters"]
    assert "xgboost" in json.dumps(train["properties"]["algorithm"])
    assert "max_depth: an integer in [1, 16]" in train["properties"]["params"]["description"]
    assert set(train["required"]) == {"train", "algorithm"}
    rolling = next(d for d in defs if d["name"] == "engineer_features")["parameters"]["properties"]
    window = rolling["rolling"]["items"]["properties"]["windows"]["items"]
    assert window == {"maximum": 1000, "minimum": 1, "type": "integer"}


def test_a_reply_stays_small_for_a_very_wide_table(box: Box) -> None:
    import numpy as np
    import pandas as pd

    wide = pd.DataFrame(
        np.random.default_rng(0).random((50, 3000)), columns=[f"c{i}" for i in range(3000)]
    )
    wide["y"] = [0, 1] * 25
    wide.to_csv(box.workspace / "wide.csv", index=False)
    reply = box.call("profile_dataset", path="wide.csv", target="y")
    assert reply["columns_shown"] == 300 and len(json.dumps(reply)) < 200_000


def test_the_package_imports_nothing_from_mledojo() -> None:
    for path in sorted(PACKAGE.glob("*.py")):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                assert all(not a.name.startswith("mledojo") for a in node.names), path.name
            if isinstance(node, ast.ImportFrom) and node.level == 0:
                assert not (node.module or "").startswith("mledojo"), path.name


def test_loaded_under_a_private_name_like_the_runner_does(box: Box) -> None:
    name = "_private_tools_copy"
    spec = importlib.util.spec_from_file_location(
        name, PACKAGE / "__init__.py", submodule_search_locations=[str(PACKAGE)]
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
        registry = importlib.import_module(f"{name}.registry")
        out = registry.TOOLS["profile_dataset"](
            {"path": "/data/train.csv", "target": "failure_24h"}
        )
        assert out["target"]["task"] == "binary"
        with pytest.raises(Exception, match="unknown argument"):
            registry.TOOLS["profile_dataset"]({"path": "/data/train.csv", "nope": 1})
    finally:
        for key in [k for k in sys.modules if k == name or k.startswith(name + ".")]:
            del sys.modules[key]
