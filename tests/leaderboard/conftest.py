"""Fixtures for the leaderboard tests: episode folders written by mledojo's own recorder.

`write_episode` writes `result.json` with `EpisodeResult` and `trajectory.jsonl` with
`EpisodeRecorder.record_step` and `Observation`, as `MLEDojoEnv` does, so the loaders read
the real format; `tests/leaderboard/test_end_to_end.py` also runs real episodes in Docker.
"""

from __future__ import annotations

import json
import os
import subprocess
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from mledojo.artifacts import EpisodeRecorder, EpisodeResult, FinalGrade
from mledojo.leaderboard.episode import BoardEpisode
from mledojo.types import Observation

WriteEpisode = Callable[..., Path]
CHROMIUM = Path(os.environ.get("MLEDOJO_CHROMIUM", "/usr/bin/chromium"))
ENSURE_CHROMIUM = Path(__file__).resolve().parents[2] / "scripts" / "ensure_chromium.sh"


def observation(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"action": "execute_code", "status": "ok", "steps_left": 5}
    base["time_left_s"] = 100.0
    base.update(fields)
    return Observation(**base).model_dump()


@pytest.fixture
def write_episode(tmp_path: Path) -> WriteEpisode:
    """`write_episode(run, competition, agent, seed, hr=..., score=..., ...)` -> episode folder."""

    def write(
        run: str,
        competition: str,
        agent: str,
        seed: int,
        *,
        hr: float | None,
        score: float | None = None,
        medal: str | None = None,
        above_median: bool | None = None,
        status: str = "completed",
        kind: str = "kaggle",
        caveats: list[str] | None = None,
        implausible: bool = False,
        public_hrs: list[float] | None = None,
        step_s: float = 10.0,
        llm: list[dict[str, Any]] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> Path:
        folder = tmp_path / run / competition / agent / f"seed-{seed}"
        rec = EpisodeRecorder(folder)
        t0 = 1_800_000_000.0
        rec.record_step(
            {
                "time": t0,
                "step": 0,
                "action": {"action": "reset"},
                "obs": observation(action="reset", status="ready", info="the task"),
            }
        )
        best: float | None = None
        for i, phr in enumerate(public_hrs or [], 1):
            best = phr if best is None else max(best, phr)
            line: dict[str, Any] = {
                "time": t0 + step_s * i,
                "step": i,
                "action": {"action": "execute_code", "code": f"print({i})"},
                "obs": observation(
                    stdout=f"{i}\n",
                    submission="valid",
                    public_score=phr,
                    public_human_rank=phr,
                    best_public_score=best,
                    best_public_human_rank=best,
                ),
                "reward": 0.0,
                "terminated": False,
                "truncated": False,
                "duration_s": step_s,
            }
            if llm is not None:
                line["llm"] = llm[i - 1]
            rec.record_step(line)
        graded = hr is not None
        result = EpisodeResult(
            competition=competition,
            competition_version=1,
            data_seed=0,
            agent=agent,
            seed=seed,
            status=status,  # type: ignore[arg-type]
            end_reason="submitted",
            steps=len(public_hrs or []) + 1,
            wall_time_s=step_s * (len(public_hrs or []) + 1),
            best_public_score=best,
            best_public_human_rank=best,
            final=FinalGrade(
                graded=graded,
                reason="submitted" if graded else "no valid submission was made",
                private_score=score,
                private_human_rank=hr,
                medal=(medal or "none") if graded else None,  # type: ignore[arg-type]
                above_median=above_median,
                leaderboard_kind=kind,  # type: ignore[arg-type]
                leaderboard_entries=100,
                implausible=implausible,
                caveats=caveats if caveats is not None else ["Approximate: a re-split."],
            ),
            metric="accuracy",
            higher_is_better=True,
            sandbox="docker",
        )
        path = rec.write_result(result)
        if extra:
            data = json.loads(path.read_text())
            data.update(extra)
            path.write_text(json.dumps(data))
        return folder

    return write


def episode(agent: str, competition: str, seed: int, hr: float | None, **kw: Any) -> BoardEpisode:
    """A `BoardEpisode` for the statistics tests (status completed unless given)."""
    fields: dict[str, Any] = {
        "agent": agent,
        "competition": competition,
        "seed": seed,
        "reported_status": kw.pop("status", "completed"),
        "private_human_rank": hr,
        "private_score": hr,
        "leaderboard_kind": "kaggle",
    }
    fields.update(kw)
    return BoardEpisode(**fields)


@pytest.fixture
def make_episode() -> Callable[..., BoardEpisode]:
    """The `episode` helper, as a fixture (test modules cannot import conftest)."""
    return episode


@pytest.fixture(scope="module")
def chromium() -> Path:
    """The browser; installed as root if missing, else a loud skip."""
    if CHROMIUM.is_file():
        return CHROMIUM
    if os.geteuid() != 0:
        reason = (
            f"{CHROMIUM} is missing and this is not root, so it cannot be installed: the "
            "leaderboard page was NOT tested in a browser (run `bash scripts/ensure_chromium.sh` "
            "as root)"
        )
        warnings.warn(reason, stacklevel=1)
        pytest.skip(reason)
    proc = subprocess.run(
        ["bash", str(ENSURE_CHROMIUM)], capture_output=True, text=True, timeout=900
    )
    if proc.returncode != 0 or not CHROMIUM.is_file():
        pytest.fail(f"scripts/ensure_chromium.sh failed: {proc.stderr[-2000:]}")
    return CHROMIUM
