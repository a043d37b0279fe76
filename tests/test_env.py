"""`MLEDojoEnv` through its public API: on Docker (the real sandbox), and on the in-process
test double where the sandbox is not what is tested (isolation: tests/sandbox/)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gymnasium
import pandas as pd
import pytest
from gymnasium.utils.env_checker import check_env

import mledojo
from mledojo.env import MLEDojoEnv
from mledojo.spec import EpisodeSpec
from mledojo.testing.memory_sandbox import MemorySandboxDouble


def result_key(spec: dict[str, Any]) -> str:
    return EpisodeSpec.model_validate(spec).key


SANDBOXES = [
    pytest.param("memory", id="memory"),
    pytest.param("docker", marks=pytest.mark.docker, id="docker"),
]

WRITE_SAMPLE = (
    "import pandas as pd, os\n"
    "sub = pd.read_csv(os.environ['MLEDOJO_DATA'] + '/sample_submission.csv')\n"
    "sub.to_csv('submission.csv', index=False)\nprint('ok', len(sub))\n"
)
# A strong-ish honest submission: hours since maintenance is a weak but real signal.
WRITE_SIGNAL = (
    "import pandas as pd, os\n"
    "t = pd.read_csv(os.environ['MLEDOJO_DATA'] + '/test.csv')\n"
    "h = t['hours_since_maintenance'].fillna(0)\n"
    "pd.DataFrame({'id': t['id'], 'failure_24h': h / h.max()})"
    ".to_csv('submission.csv', index=False)\n"
)


@pytest.fixture(params=SANDBOXES)
def env(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[MLEDojoEnv]:
    e = mledojo.make(
        "pump-failure",
        sandbox=MemorySandboxDouble() if request.param == "memory" else request.param,
        run_dir=tmp_path / "run",
        budget={"max_steps": 6},
        reward="human_rank_delta",
    )
    yield e
    e.close()


def test_reset_and_step_share_keys_and_spaces(env: MLEDojoEnv) -> None:
    obs, info = env.reset(seed=0)
    assert obs["status"] == "ready" and ("ROC" in obs["info"] or "roc_auc" in obs["info"])
    assert env.observation_space.contains(obs)
    assert info["task"]["targets"] == ["failure_24h"]
    obs2, reward, terminated, truncated, _ = env.step(
        {"action": "execute_code", "code": "print(6*7)"}
    )
    assert set(obs2) == set(obs)
    assert env.observation_space.contains(obs2)
    assert obs2["status"] == "ok" and obs2["stdout"].strip() == "42"
    assert reward == 0.0 and not terminated and not truncated
    assert obs2["steps_left"] == 5


def test_execute_grades_public_part_and_return_is_best_human_rank(env: MLEDojoEnv) -> None:
    env.reset(seed=0)
    _, r1, *_ = env.step({"action": "execute_code", "code": WRITE_SAMPLE})
    obs, r2, *_ = env.step({"action": "execute_code", "code": WRITE_SIGNAL})
    assert obs["submission"] == "valid"
    assert obs["public_score"] is not None and obs["public_score"] > 0.5
    obs3, r3, *_ = env.step({"action": "execute_code", "code": WRITE_SAMPLE})  # worse again
    assert obs3["public_score"] == pytest.approx(0.5)
    assert obs3["best_public_score"] == obs["public_score"]
    assert r3 == 0.0
    assert r1 + r2 + r3 == pytest.approx(obs3["best_public_human_rank"])


def test_submit_grades_private_part_and_writes_artifacts(env: MLEDojoEnv) -> None:
    env.reset(seed=0)
    env.step({"action": "execute_code", "code": WRITE_SIGNAL})
    obs, _, terminated, truncated, info = env.step({"action": "submit"})
    assert terminated and not truncated and obs["status"] == "submitted"
    assert info["final"]["graded"] and "private_score" not in info["final"]  # evaluation mode
    folder = env.run_folder
    result = json.loads((folder / "result.json").read_text())
    final = result["final"]  # the caller's copy has the whole grade
    assert final["graded"] and final["private_score"] > 0.5
    assert final["leaderboard_kind"] == "reference"
    assert any("reference pool" in c for c in final["caveats"])
    assert result["schema_version"] == 2 and result["spec"]["mode"] == "evaluation"
    assert result["key"] == result_key(result["spec"]) and result["spec"]["seed"] == 0
    sandbox = env.episode.sandbox
    assert result["sandbox"] == {
        "kind": sandbox.name,
        "errors": 0,
        "restarts": 0,
        "disk_quota": sandbox.disk_quota,
        "image": sandbox.image,  # the runtime image's tag in Docker, None for `local`
    }
    assert sandbox.disk_quota in ("filesystem", "walk", None)  # None: the double
    shown = [f for f in result["feedback"] if f["submission"] == "valid"]
    assert [f["step"] for f in shown] == [1] and shown[0]["public_score"] > 0.5
    lines = (folder / "trajectory.jsonl").read_text().splitlines()
    assert [json.loads(line)["step"] for line in lines] == [0, 1, 2]
    assert (folder / "code" / "step-001-execute_code.py").read_text() == WRITE_SIGNAL
    assert (folder / "submissions" / "step-001.csv").is_file()
    with pytest.raises(mledojo.errors.ResetNeededError):
        env.step({"action": "request_info"})


def test_step_budget_truncates_and_grades_best(env: MLEDojoEnv) -> None:
    env.reset(seed=0)
    env.step({"action": "execute_code", "code": WRITE_SIGNAL})
    truncated = False
    info: dict[str, Any] = {}
    for _ in range(5):
        _, _, terminated, truncated, info = env.step({"action": "request_info", "topic": "budget"})
        if truncated:
            break
    assert truncated and not terminated
    assert info["final"]["graded"] and info["final"]["reason"] == "step budget used up"


def test_errors_are_observations_not_exceptions(env: MLEDojoEnv) -> None:
    env.reset(seed=0)
    obs, *_ = env.step({"action": "dance"})
    assert obs["status"] == "invalid_action" and "execute_code" in obs["error_message"]
    obs, *_ = env.step({"action": "execute_code", "code": "def f(:\n"})
    assert obs["status"] == "error" and obs["error_type"] == "SyntaxError"
    obs, *_ = env.step({"action": "execute_code", "code": "1/0"})
    assert obs["status"] == "error" and obs["error_type"] == "ZeroDivisionError"
    assert "ZeroDivisionError" in obs["stderr"]
    obs, *_ = env.step(
        {
            "action": "execute_code",
            "code": "open('submission.csv','w').write('id,failure_24h\\n1,0.3\\n')",
        }
    )
    assert obs["submission"] == "invalid" and "rejected" in obs["info"]


def test_symlinked_submission_to_answers_is_refused(env: MLEDojoEnv) -> None:
    env.reset(seed=0)
    answers = env.data.answers_path
    os.symlink(answers, env.run_folder / "workspace" / "submission.csv")
    obs, *_ = env.step({"action": "submit", "path": "submission.csv"})
    assert obs["status"] == "error" and "symbolic links" in obs["error_message"]
    obs, *_ = env.step({"action": "submit", "path": "../../private/test.csv"})
    assert obs["status"] == "error" and "inside /workspace" in obs["error_message"]


def test_validate_code_checks_format_without_grading(env: MLEDojoEnv) -> None:
    env.reset(seed=0)
    obs, *_ = env.step({"action": "validate_code", "code": WRITE_SAMPLE})
    assert obs["submission"] == "valid" and obs["public_score"] is None
    assert obs["best_public_score"] is None


def test_close_is_idempotent_and_context_manager(tmp_path: Path) -> None:
    with mledojo.make("pump-failure", sandbox=MemorySandboxDouble(), run_dir=tmp_path / "r") as e:
        e.reset(seed=1)
    e.close()
    e.close()
    result = json.loads((tmp_path / "r" / "result.json").read_text())
    assert result["status"] == "interrupted"


def test_default_reward_reveals_nothing_before_the_end(tmp_path: Path) -> None:
    with mledojo.make("pump-failure", sandbox=MemorySandboxDouble(), run_dir=tmp_path / "r") as e:
        assert e.reward_mode == "final_only"


@pytest.mark.parametrize("mode", ["raw_delta", "position", "final_only"])
def test_reward_modes(tmp_path: Path, mode: str) -> None:
    with mledojo.make(
        "pump-failure", sandbox=MemorySandboxDouble(), run_dir=tmp_path / "r", reward=mode
    ) as e:
        e.reset(seed=0)
        _, r1, *_ = e.step({"action": "execute_code", "code": WRITE_SAMPLE})
        obs, r2, *_ = e.step({"action": "execute_code", "code": WRITE_SIGNAL})
        _, r3, term, _, info = e.step({"action": "submit"})
    if mode == "raw_delta":
        assert r1 == 0.0 and r2 == pytest.approx(obs["public_score"] - 0.5) and r3 == 0.0
    elif mode == "position":
        assert r2 == pytest.approx(obs["public_human_rank"]) and r3 == 0.0
    else:
        assert r1 == r2 == r3 == 0.0  # evaluation mode: no private grade reaches the agent
    result = e.episode.result if e.episode is not None else None
    assert result is not None
    if mode == "final_only":
        assert result.reward_warning is None
    else:  # a public reward mode is opt-in, with a warning in the result
        assert result.reward_warning is not None and mode in result.reward_warning


@pytest.mark.parametrize("mode", ["human_rank_delta", "raw_delta", "position"])
def test_public_reward_modes_warn(tmp_path: Path, mode: str) -> None:
    with pytest.warns(UserWarning, match="pays for public scores"):
        mledojo.make(
            "pump-failure", sandbox=MemorySandboxDouble(), run_dir=tmp_path / "r", reward=mode
        ).close()


def test_gymnasium_make_uses_registered_id(tmp_path: Path) -> None:
    assert "mledojo/pump-failure-v2" in gymnasium.registry
    e = gymnasium.make(
        "mledojo/pump-failure-v2", sandbox=MemorySandboxDouble(), run_dir=tmp_path / "g"
    )
    try:
        obs, _ = e.reset(seed=0)
        assert obs["status"] == "ready"
        # the same object mledojo.make gives: no wrapper hides run_folder, episode, result()
        assert type(e) is MLEDojoEnv and e.run_folder.is_dir()
        assert e.spec is not None and e.spec.id == "mledojo/pump-failure-v2"
    finally:
        e.close()
    plain = mledojo.make("pump-failure", sandbox=MemorySandboxDouble())
    assert type(plain) is type(e)
    plain.close()


@pytest.mark.parametrize("competition", mledojo.list_competitions())
def test_check_env_every_competition(competition: str, tmp_path: Path) -> None:
    e = mledojo.make(competition, sandbox=MemorySandboxDouble(), run_dir=tmp_path / "c")
    try:
        check_env(e, skip_render_check=True)
    finally:
        e.close()


def test_sample_submission_scores_half_auc() -> None:
    data = mledojo.prepare("pump-failure")
    sample = pd.read_csv(data.sample_submission_path)
    assert set(sample["failure_24h"]) == {0.5}


def test_a_misspelt_reward_mode_is_refused() -> None:
    with pytest.raises(ValueError, match="Did you mean `final_only`"):
        mledojo.make("pump-failure", sandbox=MemorySandboxDouble(), reward="final-only")  # type: ignore[arg-type]


def test_unknown_reset_options_are_refused(tmp_path: Path) -> None:
    with mledojo.make("pump-failure", sandbox=MemorySandboxDouble(), run_dir=tmp_path / "r") as e:
        with pytest.raises(ValueError, match="data_sed"):
            e.reset(seed=0, options={"data_sed": 1})


def test_an_invalid_action_says_which_field_is_wrong(tmp_path: Path) -> None:
    with mledojo.make("pump-failure", sandbox=MemorySandboxDouble(), run_dir=tmp_path / "r") as e:
        e.reset(seed=0)
        obs, *_ = e.step({"action": "execute_code"})
    assert obs["status"] == "invalid_action"
    assert obs["error_message"] == "execute_code.code: Field required", obs


def test_grading_faults_are_the_benchmarks_not_the_agents(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mledojo.errors import GradingError

    with mledojo.make("pump-failure", sandbox=MemorySandboxDouble(), run_dir=tmp_path / "r") as e:
        e.reset(seed=0)
        real = e.grader.score

        def broken(path: Path, *, part: str, display_name: str | None = None) -> object:
            raise GradingError("one class in the public part")

        monkeypatch.setattr(e.grader, "score", broken)
        obs, *_ = e.step({"action": "execute_code", "code": WRITE_SAMPLE})
        assert obs["error_type"] == "GradingError" and obs["status"] == "ok", obs
        monkeypatch.setattr(e.grader, "score", real)
        obs, *_ = e.step({"action": "execute_code", "code": WRITE_SIGNAL})
        assert obs["submission"] == "valid"
        monkeypatch.setattr(e.grader, "score", broken)
        _, _, terminated, _, info = e.step({"action": "submit"})
    assert terminated and not info["final"]["graded"]
    result = json.loads((tmp_path / "r" / "result.json").read_text())
    assert result["status"] == "grading_error" and "one class" in result["error"], result


def test_result_names_the_submission_by_relative_path_and_hash(tmp_path: Path) -> None:
    import hashlib

    with mledojo.make("pump-failure", sandbox=MemorySandboxDouble(), run_dir=tmp_path / "r") as e:
        e.reset(seed=0)
        e.step({"action": "execute_code", "code": WRITE_SIGNAL})
        e.step({"action": "submit"})
    final = json.loads((tmp_path / "r" / "result.json").read_text())["final"]
    path = tmp_path / "r" / final["submission"]
    assert not Path(final["submission"]).is_absolute() and path.is_file()
    assert hashlib.sha256(path.read_bytes()).hexdigest() == final["submission_sha256"]


def test_the_old_limits_spelling_still_works_with_a_warning() -> None:
    """Scripts written before the budget/resources split pass `limits=`."""
    with pytest.warns(DeprecationWarning, match="budget=.*resources="):
        e = mledojo.make(
            "pump-failure",
            sandbox=MemorySandboxDouble(),
            limits={"max_steps": 3, "memory_mb": 1024},
            budget={"episode_time_s": 600},
        )
    with e:
        assert (e.budget.max_steps, e.budget.episode_time_s) == (3, 600)
        assert e.resources.memory_mb == 1024
    with pytest.raises(ValueError, match="max_stesp.*Did you mean `max_steps`"):
        mledojo.make("pump-failure", sandbox=MemorySandboxDouble(), limits={"max_stesp": 3})


def test_an_env_never_closed_still_ends_its_episode_interrupted(tmp_path: Path) -> None:
    """A script that exits without close(): the episode still gets its result.json."""
    script = (
        "import sys, mledojo\n"
        "from mledojo.testing.memory_sandbox import MemorySandboxDouble\n"
        "env = mledojo.make('pump-failure', sandbox=MemorySandboxDouble(), run_dir=sys.argv[1])\n"
        "env.reset(seed=0)\n"
        "env.step({'action': 'execute_code', 'code': 'print(1)'})\n"
        "print(env.run_folder)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "run")],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    folder = Path(done.stdout.strip().splitlines()[-1])
    result = json.loads((folder / "result.json").read_text())
    assert result["status"] == "interrupted" and result["end_reason"] == "the env was never closed"
    assert result["steps"] == 1


def test_an_invalid_final_submission_is_the_agents_fault_not_a_grading_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 17 item 5: the private grade of a submission the agent's data breaks ends the
    episode ungraded with its own status, never `grading_error` (a re-roll)."""
    from mledojo.errors import InvalidSubmissionError

    with mledojo.make("pump-failure", sandbox=MemorySandboxDouble(), run_dir=tmp_path / "r") as e:
        e.reset(seed=0)
        obs, *_ = e.step({"action": "execute_code", "code": WRITE_SAMPLE})
        assert obs["submission"] == "valid"
        real = e.grader.score

        def private_fails(path: Path, *, part: str, display_name: str | None = None) -> object:
            if part == "private":
                raise InvalidSubmissionError("Submission `submission.csv`: row(s) 7 ...")
            return real(path, part=part, display_name=display_name)  # type: ignore[arg-type]

        monkeypatch.setattr(e.grader, "score", private_fails)
        _, _, terminated, _, info = e.step({"action": "submit"})
    assert terminated and not info["final"]["graded"]
    assert "the final submission is invalid" in info["final"]["reason"]
    result = e.episode.result if e.episode is not None else None
    assert result is not None and result.status == "completed" and result.error is None
