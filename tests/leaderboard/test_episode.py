"""Loading `BoardEpisode`s from run folders: v1 results, trajectories, hostile folders."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from mledojo.leaderboard import LeaderboardError
from mledojo.leaderboard.episode import BoardEpisode, load_episode, load_episodes, save_jsonl

WriteEpisode = Callable[..., Path]


def test_v1_result_gets_neutral_defaults_for_v2_fields(write_episode: WriteEpisode) -> None:
    folder = write_episode(
        "r", "spaceship-titanic", "baseline", 1, hr=0.7, score=0.79, medal="none"
    )
    ep = load_episode(folder / "result.json")
    assert (ep.agent, ep.competition, ep.seed, ep.reported_status) == (
        "baseline",
        "spaceship-titanic",
        1,
        "completed",
    )
    assert ep.private_human_rank == 0.7 and ep.private_score == 0.79
    assert ep.medal is None  # "none" in result.json
    assert (ep.budget_class, ep.reported_llm_tokens, ep.reported_llm_usd, ep.reported_hardware) == (
        "default",
        0,
        0.0,
        "unknown",
    )
    assert ep.flags == ["approximate"]
    assert ep.source.endswith("seed-1/result.json")


def test_v2_fields_are_read_when_present(write_episode: WriteEpisode) -> None:
    extra = {"budget_class": "1h-2cpu", "llm_tokens": 1234, "llm_usd": 0.5, "hardware": "2 cpu"}
    folder = write_episode("r", "c", "bot", 0, hr=0.5, extra=extra)
    ep = load_episode(folder / "result.json")
    assert (ep.budget_class, ep.reported_llm_tokens, ep.reported_llm_usd, ep.reported_hardware) == (
        "1h-2cpu",
        1234,
        0.5,
        "2 cpu",
    )


def test_anytime_points_from_the_trajectory(write_episode: WriteEpisode) -> None:
    llm = [{"tokens": 100, "usd": 0.25}, {"tokens": 50, "usd": 0.5}, {"tokens": 10, "usd": 0.25}]
    folder = write_episode("r", "c", "a", 0, hr=0.6, public_hrs=[0.3, 0.2, 0.6], llm=llm)
    points = load_episode(folder / "result.json").anytime
    got = [(p.elapsed_s, p.usd, p.best_human_rank) for p in points]
    # improvements at step 1 (0.3) and step 3 (0.6); the last step closes the curve
    assert got == [(10.0, 0.25, 0.3), (30.0, 1.0, 0.6), (30.0, 1.0, 0.6)]
    assert {p.part for p in points} == {"public"}


def test_unknown_schema_version_is_refused_with_a_hint(write_episode: WriteEpisode) -> None:
    folder = write_episode("r", "c", "a", 0, hr=0.5, extra={"schema_version": 99})
    with pytest.raises(LeaderboardError, match="schema_version 99.*upgrade mledojo"):
        load_episode(folder / "result.json")


def test_invalid_result_names_the_file_and_field(write_episode: WriteEpisode) -> None:
    folder = write_episode("r", "c", "a", 0, hr=0.5)
    path = folder / "result.json"
    data = json.loads(path.read_text())
    data["final"]["private_human_rank"] = 3.5
    path.write_text(json.dumps(data))
    with pytest.raises(LeaderboardError, match=r"seed-0/result.json.*private_human_rank"):
        load_episode(path)
    path.write_text("{not json")
    with pytest.raises(LeaderboardError, match=r"result.json: not valid JSON"):
        load_episode(path)


def test_markup_in_an_agent_name_is_refused(write_episode: WriteEpisode) -> None:
    folder = write_episode("r", "c", "a", 0, hr=0.5)
    path = folder / "result.json"
    data = json.loads(path.read_text())
    data["agent"] = '<img src=x onerror="alert(1)">'
    path.write_text(json.dumps(data))
    with pytest.raises(LeaderboardError, match="field `agent`"):
        load_episode(path)
    with pytest.raises(ValueError, match="agent"):
        BoardEpisode(
            agent="see http://evil.example", competition="c", seed=0, reported_status="completed"
        )


def test_a_symlinked_result_is_not_followed(write_episode: WriteEpisode, tmp_path: Path) -> None:
    folder = write_episode("r", "c", "a", 0, hr=0.5)
    secret = tmp_path / "secret.json"
    secret.write_text((folder / "result.json").read_text())
    (folder / "result.json").unlink()
    os.symlink(secret, folder / "result.json")
    with pytest.raises(LeaderboardError, match="never symlinks"):
        load_episodes([tmp_path / "r"])


def test_a_symlinked_trajectory_is_not_followed(
    write_episode: WriteEpisode, tmp_path: Path
) -> None:
    folder = write_episode("r", "c", "a", 0, hr=0.5, public_hrs=[0.5])
    (folder / "trajectory.jsonl").unlink()
    os.symlink("/etc/passwd", folder / "trajectory.jsonl")
    with pytest.raises(LeaderboardError, match="trajectory.jsonl: cannot be opened"):
        load_episode(folder / "result.json")


def test_a_huge_result_is_refused_before_it_is_read(
    write_episode: WriteEpisode, tmp_path: Path
) -> None:
    folder = write_episode("r", "c", "a", 0, hr=0.5)
    with (folder / "result.json").open("a") as f:
        f.write(" " * (2 << 20))
    with pytest.raises(LeaderboardError, match="larger than"):
        load_episode(folder / "result.json")


def test_results_in_the_workspace_or_a_failed_attempt_are_not_episodes(
    write_episode: WriteEpisode, tmp_path: Path
) -> None:
    folder = write_episode("r", "c", "a", 0, hr=0.2)
    forged = folder / "workspace" / "x"
    forged.mkdir(parents=True)
    text = (folder / "result.json").read_text().replace('"seed": 0', '"seed": 5')
    (forged / "result.json").write_text(text)
    failed = folder.with_name("seed-0.failed-123")
    failed.mkdir()
    (failed / "result.json").write_text(text)
    eps = load_episodes([tmp_path / "r"])
    assert [(e.seed, e.private_human_rank) for e in eps] == [(0, 0.2)]


def test_board_jsonl_records_load(tmp_path: Path) -> None:
    path = tmp_path / "entry.board.jsonl"
    ep = BoardEpisode(agent="a", competition="c", seed=0, reported_status="completed")
    path.write_text(ep.model_dump_json() + "\n" + json.dumps({"agent": "a"}) + "\n")
    with pytest.raises(LeaderboardError, match=r"entry.board.jsonl:2: not a BoardEpisode"):
        load_episodes([path])
    path.write_text(ep.model_dump_json() + "\n")
    (loaded,) = load_episodes([tmp_path])
    assert loaded.model_dump(exclude={"source"}) == ep.model_dump(exclude={"source"})
    assert loaded.source.endswith("entry.board.jsonl:1")


def test_entries_saved_as_board_jsonl_load_back(
    write_episode: WriteEpisode, tmp_path: Path
) -> None:
    run = write_episode("run", "c1", "bot", 0, hr=0.4, public_hrs=[0.4]).parents[2]
    eps = load_episodes([run])
    target = tmp_path / "subs" / "bot.board.jsonl"
    target.parent.mkdir()
    save_jsonl(eps, target)
    again = load_episodes([tmp_path / "subs"])
    assert [e.model_dump(exclude={"source"}) for e in again] == [
        e.model_dump(exclude={"source"}) for e in eps
    ]
    with pytest.raises(LeaderboardError, match="named"):
        save_jsonl(eps, tmp_path / "x.jsonl")
