"""The whole tool chain through the env in a real container: profile -> split -> engineer ->
train -> evaluate -> write_submission on pump-failure v2 (prediction cases, their past in
/data/history.csv), then a graded submission."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import mledojo
from mledojo.env import MLEDojoEnv


def _tool(env: MLEDojoEnv, tool: str, **args: Any) -> dict[str, Any]:
    obs, reward, terminated, truncated, info = env.step(
        {"action": "call_tool", "tool": tool, "args": args}
    )
    assert obs["status"] == "ok", (tool, obs.get("error_message"))
    assert not terminated and not truncated
    assert json.loads(obs["info"]) == info["tool"]  # the observation carries the same JSON
    return info["tool"]  # type: ignore[no-any-return]


@pytest.mark.docker
def test_tool_chain_in_docker_reaches_a_graded_submission(tmp_path: Path) -> None:
    with mledojo.make("pump-failure-v2", sandbox="docker", run_dir=tmp_path / "run") as env:
        _, info = env.reset(seed=0)
        assert info["task"]["case_history"] == "/data/history.csv"
        profile = _tool(env, "profile_dataset", path="/data/train.csv", target="failure_24h")
        assert profile["target"]["task"] == "binary"
        assert "timestamp" in profile["candidates"]["time_columns"]
        split = _tool(
            env, "split_dataset", path="/data/train.csv", target="failure_24h", kind="time",
            time_column="timestamp", group_column="pump_id", id_column="id",
        )  # fmt: skip
        parts = split["parts"]
        feats = _tool(
            env, "engineer_features", train=parts["train"]["path"],
            apply_to=[parts["valid"]["path"], "/data/test.csv"],
            case_history="/data/history.csv",
            rolling=[{"column": c, "windows": [6, 24], "stats": ["mean", "std"]}
                     for c in ("vibration_mm_s", "bearing_temp_c", "motor_current_a")],
            lags=[{"column": "vibration_mm_s", "lags": [1, 24]}],
            encode=[{"column": "pump_size", "method": "onehot"}], drop=["pump_id"],
        )  # fmt: skip
        out = feats["outputs"]
        assert feats["case_inputs"] == [1]  # the test cases, not the validation part
        assert out["test"]["path"].startswith("/workspace/tools/")
        _tool(env, "train_model", train=out["train"]["path"], algorithm="lightgbm",
              params={"n_estimators": 200, "learning_rate": 0.05}, name="lgb")  # fmt: skip
        ev = _tool(env, "evaluate_model", model="lgb", data=out["valid"]["path"], metric="roc_auc")
        assert ev["score"] > 0.75 and ev["in_sample"] is False
        attack = {"path": out["valid"]["path"], "method": "oversample"}
        bad, *_ = env.step({"action": "call_tool", "tool": "resample_dataset", "args": attack})
        assert bad["status"] == "error" and "only a training part" in bad["error_message"]
        sub = _tool(env, "write_submission", model="lgb", data=out["test"]["path"],
                    sample_submission="/data/sample_submission.csv", metric="roc_auc")  # fmt: skip
        assert sub["submission"] == "/workspace/submission.csv"
        written = json.loads((env.run_folder / "trajectory.jsonl").read_text().splitlines()[-1])
        assert written["obs"]["submission"] == "valid", "a tool's submission is graded like code's"
        assert written["obs"]["public_score"] is not None
        obs, _, terminated, _, info = env.step({"action": "submit", "path": "submission.csv"})
        assert terminated and obs["status"] == "submitted"
        result = env.result()
        assert info["final"]["graded"] and result is not None  # the grade is the caller's
        score = result.final.private_score
        assert score is not None and score > 0.8  # v2 without case_history: ~0.65


@pytest.mark.docker
def test_the_episode_keeps_a_ledger_so_a_forged_sidecar_is_refused(tmp_path: Path) -> None:
    with mledojo.make("pump-failure-v2", sandbox="docker", run_dir=tmp_path / "run") as env:
        env.reset(seed=0)
        split = _tool(
            env, "split_dataset", path="/data/train.csv", target="failure_24h", kind="time",
            time_column="timestamp", id_column="id", name="s",
        )  # fmt: skip
        valid = split["parts"]["valid"]["path"]
        forge = (
            "import json\n"
            f"p = {valid.replace('.parquet', '.meta.json')!r}\n"
            "m = json.load(open(p)); m['role'] = 'train'; json.dump(m, open(p, 'w'))\n"
        )
        obs, *_ = env.step({"action": "execute_code", "code": forge})
        assert obs["status"] == "ok", obs
        args = {"train": valid, "algorithm": "logistic_regression", "name": "m"}
        bad, *_ = env.step({"action": "call_tool", "tool": "train_model", "args": args})
        assert bad["status"] == "error"
        assert "s_valid.meta.json was changed after the tool" in bad["error_message"]
        honest = {**args, "train": split["parts"]["train"]["path"]}
        _tool(env, "train_model", **honest)  # the tools' own outputs still work
