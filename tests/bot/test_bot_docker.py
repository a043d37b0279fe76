"""Full MLE-Bot episodes on pump-failure in Docker, with the rules and with scripted LLMs."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from mledojo.agent import make_agent
from mledojo.bot.schemas import BotState
from mledojo.testing.llm_server import ScriptedLLMServer

from .conftest import ScriptedEngineer, files_text, server_for

pytestmark = [pytest.mark.docker, pytest.mark.slow]
FLAGSHIP = "pump-failure-v2"  # prediction cases: the bot must pass their history.csv on

PUMP_DESIGN = {
    "strategy": "Causal rolling features per pump for boosting; a linear baseline.",
    "experiments": [
        {
            "name": "lgbm_roll",
            "algorithm": "lightgbm",
            "params": [{"name": "n_estimators", "value": 200}],
            "feature_strategy": "rolling",
            "rationale": "each pump has its own levels: rolling windows per pump",
        },
        {
            "name": "logreg",
            "algorithm": "logistic_regression",
            "params": [],
            "feature_strategy": "encoded",
            "rationale": "linear baseline",
        },
    ],
}


def episode(make_env: Callable[..., Any], **agent_args: Any) -> tuple[Any, Any]:
    env = make_env(FLAGSHIP, sandbox="docker", budget={"max_steps": 40})
    agent = make_agent("mle-bot", agent_args)
    outcome = agent.run(env, seed=0)
    result = env.result()
    assert result is not None
    return env, (outcome, result)


def check_scored(env: Any, result: Any) -> BotState:
    assert result.status == "completed", result.final.reason
    assert result.final.graded and result.final.private_score is not None
    assert 0.8 < result.final.private_score < 0.97  # honest; without case_history v2 gives ~0.65
    state = BotState.model_validate_json((env.run_folder / "bot" / "state.json").read_text())
    assert state.best is not None and state.submitted
    assert (env.run_folder / "report.html").is_file()
    return state


def test_rules_reach_a_real_score(make_env: Callable[..., Any]) -> None:
    env, (outcome, result) = episode(make_env, model="rules", max_iterations=1)
    state = check_scored(env, result)
    assert state.best == "lgbm_rolling"
    assert "[no LLM]" in outcome.notes and result.llm.calls == 0


@pytest.mark.parametrize("model", ["openai/gpt-5-mini", "anthropic/claude-sonnet-4-5"])
def test_scripted_llm_reaches_a_real_score(
    make_env: Callable[..., Any], llm_server: ScriptedLLMServer, model: str
) -> None:
    llm_server.set_script(ScriptedEngineer(PUMP_DESIGN))
    env, (outcome, result) = episode(
        make_env,
        model=model,
        model_base_url=server_for(model, llm_server),
        max_iterations=1,
        experiments_per_batch=2,
    )
    state = check_scored(env, result)
    assert state.best == "lgbm_roll"
    assert result.llm.calls == len(llm_server.requests) == 3  # design + 2 code
    for path, data in files_text(env.run_folder):
        assert b"SENTINEL" not in data, path
