"""Evaluation mode: on the evaluation split no private grade reaches the agent.

The audit behind issue 19 flipped one of titanic's 89 private rows per episode and read the
private score back from the observation, `info["final"]` and the reward: 89 episodes gave
every hidden label. Here the agent's three channels carry no private number on the
evaluation split, while the caller's `result.json` keeps the whole grade; a training
variant (or `mode="training"`, with a warning) shows everything.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import pytest

import mledojo
from mledojo.resolve import resolve_spec

WRITE_SIGNAL = (
    "import pandas as pd, os\n"
    "t = pd.read_csv(os.environ['MLEDOJO_DATA'] + '/test.csv')\n"
    "h = t['hours_since_maintenance'].fillna(0)\n"
    "pd.DataFrame({'id': t['id'], 'failure_24h': h / h.max()})"
    ".to_csv('submission.csv', index=False)\n"
)


def _play(tmp_path: Path, **kwargs: Any) -> tuple[str, float, dict[str, Any], dict[str, Any]]:
    """One graded submission: the last observation's text, the episode's summed reward, the
    final info and the caller's result.json."""
    with mledojo.make("pump-failure", sandbox="local", run_dir=tmp_path / "r", **kwargs) as env:
        env.reset(seed=0)
        _, r1, *_ = env.step({"action": "execute_code", "code": WRITE_SIGNAL})
        obs, r2, terminated, _, info = env.step({"action": "submit"})
        assert terminated
        folder = env.run_folder
    result = json.loads((folder / "result.json").read_text())
    trajectory = (folder / "trajectory.jsonl").read_text()
    return json.dumps(obs) + trajectory, float(r1) + float(r2), info["final"], result


def _numbers(value: float) -> list[str]:
    """How a score may be printed: enough digits to be recognised."""
    return [f"{value:.6g}", f"{value:.4f}", f"{value:.3f}", repr(value)]


def test_the_evaluation_split_hides_every_private_number_from_the_agent(tmp_path: Path) -> None:
    seen, reward, final, result = _play(tmp_path)
    assert result["spec"]["mode"] == "evaluation" and result["spec"]["data_variant"] is None
    grade = result["final"]
    assert grade["graded"] and grade["private_score"] is not None  # the caller has it all
    assert final["graded"] and "withheld" in final
    hidden = ("private_score", "private_human_rank", "medal", "interval", "medal_probabilities")
    assert not set(hidden) & set(final), final
    assert reward == 0.0  # final_only pays the private HumanRank only in training mode
    for value in (grade["private_score"], grade["private_human_rank"]):
        for text in _numbers(value):
            assert text not in seen, f"{text} reached the agent"


def test_a_training_variant_shows_the_whole_grade(tmp_path: Path) -> None:
    seen, reward, final, result = _play(tmp_path, data_seed=1)
    assert result["spec"]["mode"] == "training" and result["spec"]["data_variant"] is not None
    assert final["private_score"] == result["final"]["private_score"]
    assert reward == pytest.approx(result["final"]["private_human_rank"])
    assert f"{final['private_score']:.6g}" in seen


def test_training_mode_on_the_evaluation_split_is_asked_for_and_warned(tmp_path: Path) -> None:
    with pytest.warns(UserWarning, match="not a board result"):
        seen, reward, final, result = _play(tmp_path, mode="training")
    assert result["spec"]["mode"] == "training" and final["private_score"] is not None
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # evaluation on a variant is quiet and hides the grade
        _, reward, final, result = _play(tmp_path / "v", data_seed=1, mode="evaluation")
    assert reward == 0.0 and "private_score" not in final and result["final"]["graded"]


def test_the_mode_is_part_of_the_key_and_named_when_mistyped() -> None:
    evaluation = resolve_spec("pump-failure", sandbox="local").spec
    with pytest.warns(UserWarning):
        training = resolve_spec("pump-failure", sandbox="local", mode="training").spec
    assert evaluation.mode == "evaluation" and training.mode == "training"
    assert evaluation.key != training.key
    with pytest.raises(ValueError, match="Did you mean `evaluation`"):
        resolve_spec("pump-failure", sandbox="local", mode="evalution")
