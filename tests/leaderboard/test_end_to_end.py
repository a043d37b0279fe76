"""Real episodes in Docker -> board, compare and export, all from the run folders they wrote.

Two scripted agents (a constant guess and a logistic regression) on playground-series-s3e12
(real Kaggle data, a real Kaggle board), two seeds each, through `run_episode`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from mledojo.agent import Agent
from mledojo.layout import RunLayout
from mledojo.leaderboard.compare import compare_runs
from mledojo.leaderboard.episode import load_episodes
from mledojo.leaderboard.export import StepRecord, export_run
from mledojo.leaderboard.render import write_board
from mledojo.leaderboard.stats import build_board
from mledojo.play import run_episode
from mledojo.resolve import resolve_spec

pytestmark = [pytest.mark.docker, pytest.mark.slow]
COMPETITION = "playground-series-s3e12"

CONSTANT = """
import pandas as pd
test = pd.read_csv('/data/test.csv')
pd.DataFrame({'id': test['id'], 'target': 0.5}).to_csv('/workspace/submission.csv', index=False)
print('constant')
"""

LOGISTIC = """
import pandas as pd
from sklearn.linear_model import LogisticRegression
train, test = pd.read_csv('/data/train.csv'), pd.read_csv('/data/test.csv')
cols = [c for c in test.columns if c != 'id']
model = LogisticRegression(max_iter=2000).fit(train[cols], train['target'])
proba = model.predict_proba(test[cols])[:, 1]
pd.DataFrame({'id': test['id'], 'target': proba}).to_csv('/workspace/submission.csv', index=False)
print('logistic')
"""


class Scripted(Agent):
    """Run one cell, then submit the best submission."""

    code = ""

    def reset(self, observation: dict[str, Any], info: dict[str, Any]) -> None:
        self._sent = False

    def act(self, observation: dict[str, Any]) -> dict[str, Any]:
        if not self._sent:
            self._sent = True
            return {"action": "execute_code", "code": self.code}
        return {"action": "submit"}


class ConstantAgent(Scripted):
    name = "constant"
    code = CONSTANT


class LogisticAgent(Scripted):
    name = "logistic"
    code = LOGISTIC


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("runs")
    for agent, run_id in ((ConstantAgent(), "run-const"), (LogisticAgent(), "run-logit")):
        for seed in (0, 1):
            request = resolve_spec(
                competition=COMPETITION, agent=agent.name, seed=seed, sandbox="docker"
            )
            result = run_episode(request, agent=agent, runs_dir=root, run_id=run_id)
            assert result.status == "completed", result.error
            assert result.final.graded, result.final.reason
    return root


def test_board_from_real_runs(runs: Path, tmp_path: Path) -> None:
    episodes = load_episodes([runs])
    assert len(episodes) == 4
    board = build_board(episodes, bootstrap=100)
    (cls,) = board.classes
    agents = [a.agent for a in cls.agents]
    assert agents == ["logistic", "constant"]
    (comp,) = cls.competitions
    assert comp.flags == ["approximate"]  # a Kaggle board on mledojo's re-split
    logit = next(s for s in comp.stats if s.agent == "logistic")
    const = next(s for s in comp.stats if s.agent == "constant")
    assert const.score is not None and const.score.mean == pytest.approx(0.5)
    assert logit.human_rank.mean > const.human_rank.mean
    # the stored numbers are the ones result.json recorded, untouched
    stored = json.loads(
        (
            RunLayout(runs, "run-logit").episode_folder(
                resolve_spec(COMPETITION, agent="logistic", sandbox="docker").spec
            )
            / "result.json"
        ).read_text()
    )
    ep0 = next(e for e in episodes if e.agent == "logistic" and e.seed == 0)
    assert ep0.private_human_rank == stored["final"]["private_human_rank"]
    assert ep0.anytime and ep0.anytime[-1].best_human_rank == stored["best_public_human_rank"]
    written = write_board(board, tmp_path / "board")
    assert "logistic" in written[0].read_text()


def test_compare_real_runs(runs: Path) -> None:
    cmp = compare_runs(runs / "run-const", runs / "run-logit")
    (delta,) = cmp.deltas
    assert delta.competition == COMPETITION and delta.delta > 0
    assert delta.n_a == delta.n_b == 2


def test_export_real_runs(runs: Path) -> None:
    records = [StepRecord.model_validate_json(x) for x in export_run(runs / "run-logit", "jsonl")]
    assert [(r.episode.seed, r.step, r.action["action"]) for r in records] == [
        (0, 1, "execute_code"),
        (0, 2, "submit"),
        (1, 1, "execute_code"),
        (1, 2, "submit"),
    ]
    assert records[0].code == LOGISTIC
    assert "logistic" in records[0].outcome["stdout"]
    assert records[0].outcome["public_score"] is not None
    assert records[1].terminated and records[1].final.private_human_rank is not None
