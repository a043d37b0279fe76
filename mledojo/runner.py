"""Run one agent episode end to end, keeping infrastructure and agent failures apart.

`runs/<run-id>/<competition>/<agent>/seed-<n>/` holds everything; a finished
`result.json` there makes a second call skip the episode (so a crashed batch resumes).
"""

from __future__ import annotations

import os
import secrets
import time
import traceback
from pathlib import Path
from typing import Any

from mledojo.agent import Agent, load_agent
from mledojo.artifacts import RESULT_FILE, EpisodeResult, default_runs_dir
from mledojo.errors import DockerUnavailableError, SandboxError


def episode_dir(
    runs_dir: Path, run_id: str, competition: str, agent: str, seed: int | None
) -> Path:
    """Where one episode's artifacts go."""
    return runs_dir / run_id / competition / agent / f"seed-{seed if seed is not None else 0}"


def new_run_id() -> str:
    """A sortable, readable run id, unique per process and call (two runs started in the
    same second never share one)."""
    return f"{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}-{secrets.token_hex(2)}"


def run_episode(
    competition: str,
    agent: str | Agent,
    *,
    seed: int | None = 0,
    runs_dir: Path | str | None = None,
    run_id: str | None = None,
    env_kwargs: dict[str, Any] | None = None,
) -> EpisodeResult:
    """Play one episode and return its `result.json`; skip it when already finished."""
    from mledojo.env import MLEDojoEnv

    agent_obj = load_agent(agent)() if isinstance(agent, str) else agent
    root = Path(runs_dir) if runs_dir is not None else default_runs_dir()
    folder = episode_dir(root, run_id or new_run_id(), competition, agent_obj.name, seed)
    done = folder / RESULT_FILE
    if done.is_file():
        return EpisodeResult.model_validate_json(done.read_text())
    if folder.exists():  # an earlier attempt died mid-episode: keep it, start clean
        folder.rename(folder.with_name(f"{folder.name}.failed-{int(time.time())}"))
    env = MLEDojoEnv(competition, run_dir=folder, agent_name=agent_obj.name, **(env_kwargs or {}))
    try:
        agent_obj.run(env, seed=seed)
    except (SandboxError, DockerUnavailableError) as e:
        env.finish(f"infrastructure failure: {e}", status="infra_error", error=_trace(e))
    except KeyboardInterrupt:
        env.close()
        raise
    except Exception as e:  # the agent's own bug: graded with what it had achieved
        env.finish(f"agent crashed: {type(e).__name__}: {e}", status="agent_error", error=_trace(e))
    finally:
        env.close()
    result = env.result()
    if result is None:
        raise SandboxError(f"the episode in {folder} ended without a result.json")
    return result


def _trace(e: BaseException) -> str:
    return "".join(traceback.format_exception(e))[-8000:]
