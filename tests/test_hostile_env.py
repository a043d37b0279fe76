"""Hostile agents against the whole env: the host stays in charge of every step.

Each test is an attack through the public API (`env.step`) that used to crash, block or
fool the host; it now gets an observation, and the episode goes on.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

import mledojo
from mledojo.env import MLEDojoEnv
from mledojo.types import MAX_TEXT_CHARS

SANDBOXES = [
    pytest.param(
        "local",
        id="local",
        marks=pytest.mark.skipif(os.geteuid() != 0, reason="LocalSandbox needs root"),
    ),
    pytest.param("docker", marks=pytest.mark.docker, id="docker"),
]
WRITE_SAMPLE = (
    "import pandas as pd, os\n"
    "pd.read_csv(os.environ['MLEDOJO_DATA'] + '/sample_submission.csv')"
    ".to_csv('submission.csv', index=False)\n"
)


@pytest.fixture(params=SANDBOXES)
def env(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[MLEDojoEnv]:
    e = mledojo.make("pump-failure", sandbox=request.param, run_dir=tmp_path / "run")
    e.reset(seed=0)
    yield e
    e.close()


def _step(env: MLEDojoEnv, code: str) -> dict[str, object]:
    obs, *_ = env.step({"action": "execute_code", "code": code})
    return obs


def _no_host_path(env: MLEDojoEnv, obs: dict[str, object]) -> None:
    text = " ".join(str(v) for v in obs.values())
    for secret in (str(env.run_folder), str(env.data.private_dir), str(env.data.public_dir)):
        assert secret not in text, (secret, text[:500])


@pytest.mark.timeout(120)
def test_a_fifo_submission_does_not_block_the_host(env: MLEDojoEnv) -> None:
    obs = _step(env, "import os\nos.mkfifo('submission.csv')")
    assert obs["submission"] == "invalid" and "not a regular file" in str(obs["info"]), obs
    _no_host_path(env, obs)


@pytest.mark.timeout(120)
def test_a_symlink_to_the_answers_is_refused(env: MLEDojoEnv) -> None:
    answers = env.data.answers_path
    obs = _step(env, f"import os\nos.symlink({str(answers)!r}, 'submission.csv')")
    assert obs["submission"] == "invalid" and obs["public_score"] is None, obs
    assert "symbolic links" in str(obs["info"]) or "no such file" in str(obs["info"]), obs
    _no_host_path(env, obs)


@pytest.mark.timeout(120)
@pytest.mark.parametrize("path", ["somedir", "a\x00b", "../../etc/passwd", "/etc/shadow"])
def test_bad_submit_paths_are_observations(env: MLEDojoEnv, path: str) -> None:
    _step(env, "import os\nos.mkdir('somedir')")
    obs, reward, terminated, truncated, _ = env.step({"action": "submit", "path": path})
    assert obs["status"] == "error" and obs["submission"] == "invalid", obs
    assert not terminated and not truncated and reward == 0.0
    _no_host_path(env, obs)


@pytest.mark.timeout(120)
def test_a_huge_sparse_submission_costs_the_host_nothing(env: MLEDojoEnv) -> None:
    obs = _step(
        env,
        "with open('submission.csv', 'wb') as f:\n"
        "    f.write(b'id,failure_24h\\n')\n"
        "    f.truncate(1500 * 1024 * 1024)\n",
    )
    assert obs["submission"] == "invalid" and "limit" in str(obs["info"]), obs
    assert all(len(str(v)) <= MAX_TEXT_CHARS for v in obs.values())
    assert sum(p.stat().st_size for p in (env.run_folder / "submissions").iterdir()) == 0


@pytest.mark.timeout(120)
def test_a_40000_column_header_is_refused_with_a_short_message(env: MLEDojoEnv) -> None:
    obs = _step(
        env,
        "cols = ','.join(f'c{i}' for i in range(40000))\n"
        "open('submission.csv', 'w').write('id,failure_24h,' + cols + '\\n1,0.5\\n')\n",
    )
    assert obs["submission"] == "invalid", obs
    assert len(str(obs["info"])) < 3000, len(str(obs["info"]))


@pytest.mark.timeout(120)
def test_the_run_folder_is_private(env: MLEDojoEnv) -> None:
    _step(env, WRITE_SAMPLE)
    assert stat.S_IMODE(env.run_folder.stat().st_mode) == 0o700
    for copy in (env.run_folder / "submissions").iterdir():
        assert stat.S_IMODE(copy.stat().st_mode) == 0o600


@pytest.mark.docker
@pytest.mark.timeout(120)
def test_public_scores_are_rounded_and_capped(tmp_path: Path) -> None:
    budget = {"max_public_grades": 1}
    with mledojo.make("pump-failure", sandbox="docker", run_dir=tmp_path, budget=budget) as e:
        e.reset(seed=0)
        code = (
            "import pandas as pd, os\n"
            "t = pd.read_csv(os.environ['MLEDOJO_DATA'] + '/test.csv')\n"
            "h = t['hours_since_maintenance'].fillna(0)\n"
            "pd.DataFrame({'id': t['id'], 'failure_24h': h / h.max()})"
            ".to_csv('submission.csv', index=False)\n"
        )
        first = _step(e, code)
        score = first["public_score"]
        assert isinstance(score, float) and round(score, 5) == score, first
        second = _step(e, WRITE_SAMPLE)
        assert second["public_score"] is None and "Not graded" in str(second["info"]), second
        assert second["submission"] == "valid"
        _, _, terminated, _, info = e.step({"action": "submit"})
    assert terminated and info["final"]["graded"], info


@pytest.mark.timeout(300)
@pytest.mark.parametrize("sandbox", SANDBOXES)
def test_a_submission_cannot_make_the_grader_fail(sandbox: str, tmp_path: Path) -> None:
    """Issue 17 item 5: a 1e308 on a private row (rmse: inf on the private part only) and a
    column of 400-digit integers (OverflowError) used to be grading faults: uncounted public
    verdicts (a membership oracle) and a final `grading_error` (a re-roll). Both are now
    invalid submissions, with the row named, counted as public grades."""
    cid = "playground-series-s3e9"
    with mledojo.make(cid, sandbox=sandbox, run_dir=tmp_path) as e:
        e.reset(seed=0)
        ans = e.scorer.answers
        private_id = int(ans.loc[ans["usage"] == "private", "id"].iloc[0])
        huge = _step(
            e,
            "import pandas as pd, os\n"
            "s = pd.read_csv(os.environ['MLEDOJO_DATA'] + '/sample_submission.csv')\n"
            "s['Strength'] = s['Strength'].astype(float)\n"
            f"s.loc[s['id'] == {private_id}, 'Strength'] = 1e308\n"
            "s.to_csv('submission.csv', index=False)\n"
            f"print('ROW', int((s['id'] == {private_id}).to_numpy().argmax()) + 1)\n",
        )
        row = str(huge["stdout"]).split("ROW ")[1].split()[0]
        assert huge["submission"] == "invalid", huge
        assert f"row(s) {row} " in str(huge["error_message"]), huge
        big = _step(
            e,
            "import pandas as pd, os\n"
            "s = pd.read_csv(os.environ['MLEDOJO_DATA'] + '/sample_submission.csv')\n"
            "s['Strength'] = '1' + '0' * 399\n"
            "s.to_csv('submission.csv', index=False)\n",
        )
        assert big["submission"] == "invalid", big
        assert "row(s) 1, 2" in str(big["error_message"]), big
        assert e.episode is not None and e.episode.public_grades == 2
        obs, _, terminated, _, info = e.step({"action": "submit", "path": "submission.csv"})
        assert not terminated and obs["submission"] == "invalid", obs
        _, _, terminated, _, info = e.step({"action": "submit"})
    assert terminated
    result = e.episode.result
    assert result is not None and result.status == "completed", result
    assert result.grading_errors == 0 and result.error is None
    assert [f.submission for f in result.feedback] == ["invalid"] * 3


def _tool(env: MLEDojoEnv, tool: str, **args: object) -> dict[str, object]:
    obs, *_ = env.step({"action": "call_tool", "tool": tool, "args": args})
    return obs


PROBES = 8
PROBE_CODE = f"""
import os
import pandas as pd
t = pd.read_csv(os.environ['MLEDOJO_DATA'] + '/test.csv')[['id']]
train = pd.DataFrame({{'x': [0, 1] * 50, 'failure_24h': [0, 1] * 50}})
train.to_csv('train_probe.csv', index=False)
for i in range({PROBES}):
    p = t.copy()
    p['x'] = 0
    p.loc[i, 'x'] = 1
    p.to_csv(f'probe_{{i}}.csv', index=False)
"""


@pytest.mark.timeout(600)
@pytest.mark.parametrize("sandbox", SANDBOXES)
def test_tool_written_submissions_share_the_public_grade_budget(
    sandbox: str, tmp_path: Path
) -> None:
    """Issue 17 item 4: `write_submission` costs no code step and was graded like a cell
    under a cap (100) above the code steps (30), so one code step plus ~100 tool calls
    decoded 100 public rows. Each probe here predicts 1 on one test row only: its public
    AUC tells that row's label and part. The probes stop at the episode's one budget of
    public grades (by default one per code step), whatever writes the submission."""
    with mledojo.make(
        "pump-failure", sandbox=sandbox, run_dir=tmp_path, budget={"max_steps": 3}
    ) as e:
        e.reset(seed=0)
        assert _step(e, PROBE_CODE)["status"] == "ok"
        trained = _tool(
            e, "train_model", train="/workspace/train_probe.csv", target="failure_24h",
            algorithm="random_forest", name="probe", features=["x"],
        )  # fmt: skip
        assert trained["status"] == "ok", trained
        scores = []
        for i in range(PROBES):
            obs = _tool(
                e, "write_submission", model="probe", data=f"/workspace/probe_{i}.csv",
                id_column="id", sample_submission="/data/sample_submission.csv",
                metric="roc_auc",
            )  # fmt: skip
            assert obs["status"] == "ok" and obs["submission"] == "valid", obs
            scores.append(obs["public_score"])
        graded = [s for s in scores if s is not None]
        assert len(graded) == 3, scores  # Budget.public_grades == max_steps == 3
        assert e.episode is not None and e.episode.public_grades == 3
        assert e.episode.tool_calls == PROBES + 1 and e.episode.steps_left == 2
