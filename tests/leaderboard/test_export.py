"""`export`: step records and chat records from episode folders."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from mledojo.leaderboard import LeaderboardError
from mledojo.leaderboard.export import ChatRecord, StepRecord, export_run

WriteEpisode = Callable[..., Path]


def test_jsonl_has_one_valid_record_per_step(write_episode: WriteEpisode) -> None:
    llm = [{"tokens": 7, "usd": 0.01, "messages": [{"role": "user", "content": "hi"}]}, {}]
    folder = write_episode("r", "c1", "bot", 3, hr=0.7, score=0.8, public_hrs=[0.4, 0.6], llm=llm)
    run = folder.parents[2]
    records = [StepRecord.model_validate_json(line) for line in export_run(run, "jsonl")]
    assert [r.step for r in records] == [1, 2]
    first, second = records
    assert first.observation["action"] == "reset"  # what the agent saw when it acted
    assert first.outcome["public_score"] == 0.4  # what came back
    assert second.observation == first.outcome
    assert first.code == "print(1)" and first.action["action"] == "execute_code"
    assert first.llm_messages == [{"role": "user", "content": "hi"}]
    assert (first.llm_tokens, first.llm_usd) == (7, 0.01)
    assert second.llm_messages is None
    assert first.episode.episode_id == "c1/bot/seed-3"
    assert (first.episode.competition, first.episode.seed) == ("c1", 3)
    assert first.final.status == "completed" and first.final.private_human_rank == 0.7


def test_chat_is_one_conversation_per_episode(write_episode: WriteEpisode) -> None:
    folder = write_episode("r", "c1", "bot", 0, hr=0.7, public_hrs=[0.4, 0.6])
    write_episode("r", "c1", "bot", 1, hr=0.1, public_hrs=[0.1])
    lines = list(export_run(folder.parents[2], "chat"))
    assert len(lines) == 2
    chat = ChatRecord.model_validate_json(lines[0])
    roles = [m["role"] for m in chat.messages]
    assert roles == ["system", "user", "assistant", "user", "assistant"]
    assert "the task" in chat.messages[1]["content"]
    assert chat.messages[2]["content"] == "execute_code\n```python\nprint(1)\n```"
    assert "public score: 0.4" in chat.messages[3]["content"]
    # an SFT filter on the episode's final private HumanRank
    kept = list(export_run(folder.parents[2], "chat", min_human_rank=0.5))
    assert [json.loads(x)["episode"]["seed"] for x in kept] == [0]


def test_an_unfinished_episode_is_exported_as_such(write_episode: WriteEpisode) -> None:
    folder = write_episode("r", "c1", "bot", 0, hr=0.7, public_hrs=[0.4])
    (folder / "result.json").unlink()
    (record,) = [StepRecord.model_validate_json(x) for x in export_run(folder, "jsonl")]
    assert record.final.status == "unfinished" and record.episode.competition is None


def test_symlinks_in_a_bundle_are_not_followed(write_episode: WriteEpisode, tmp_path: Path) -> None:
    folder = write_episode("r", "c1", "bot", 0, hr=0.7, public_hrs=[0.4])
    secret = tmp_path / "secret.jsonl"
    secret.write_text((folder / "trajectory.jsonl").read_text().replace("print(1)", "SECRET"))
    (folder / "trajectory.jsonl").unlink()
    os.symlink(secret, folder / "trajectory.jsonl")
    with pytest.raises(LeaderboardError, match="never symlinks"):
        list(export_run(folder.parents[2], "jsonl"))


def test_the_workspace_is_never_read(write_episode: WriteEpisode) -> None:
    folder = write_episode("r", "c1", "bot", 0, hr=0.7, public_hrs=[0.4])
    forged = folder / "workspace" / "fake"
    forged.mkdir(parents=True)
    (forged / "trajectory.jsonl").write_text((folder / "trajectory.jsonl").read_text())
    ids = {json.loads(x)["episode"]["episode_id"] for x in export_run(folder.parents[2], "jsonl")}
    assert ids == {"c1/bot/seed-0"}


def test_a_broken_line_names_the_file_and_line(write_episode: WriteEpisode) -> None:
    folder = write_episode("r", "c1", "bot", 0, hr=0.7, public_hrs=[0.4])
    with (folder / "trajectory.jsonl").open("a") as f:
        f.write('{"time": 1, "step": 9, "action": "oops", "obs": {}}\n')
    with pytest.raises(LeaderboardError, match=r"trajectory.jsonl:3: field `action`"):
        list(export_run(folder, "jsonl"))


def _call_line(call: int, tokens: tuple[int, int] | None, text: str = "{}") -> str:
    """One llm-calls.jsonl line as the LLM client writes it (the fields the export reads)."""
    line: dict[str, object] = {
        "v": 1,
        "call": call,
        "purpose": f"p-{call}",
        "round": "first",
        "request": {"model": "m", "messages": [{"role": "user", "content": f"q{call}"}]},
    }
    if tokens is None:
        line["error"] = {"kind": "call", "message": "HTTP 500"}
    else:
        usage = {"input_tokens": tokens[0], "output_tokens": tokens[1]}
        line["reply"] = {"text": text, "usage": usage}
    return json.dumps(line)


def test_llm_calls_are_joined_by_count_and_checked_by_tokens(write_episode: WriteEpisode) -> None:
    llm = [{"calls": 2, "tokens": 10}, {"calls": 1, "tokens": 5}]
    folder = write_episode("r", "c1", "bot", 0, hr=0.7, public_hrs=[0.4, 0.6], llm=llm)
    calls = [_call_line(1, (3, 3)), _call_line(2, None), _call_line(3, (2, 2), '{"a": 1}')]
    calls += [_call_line(4, (4, 1)), _call_line(5, (9, 9))]  # 5: after the last step
    (folder / "llm-calls.jsonl").write_text("\n".join(calls) + "\n")
    first, second = [StepRecord.model_validate_json(x) for x in export_run(folder, "jsonl")]
    assert [x.call for x in first.llm_calls or []] == [1, 2, 3]  # the failed request too
    assert first.llm_calls and first.llm_calls[1].error == "HTTP 500"
    assert first.llm_messages == [
        {"role": "user", "content": "q3"},
        {"role": "assistant", "content": '{"a": 1}'},
    ]
    assert [x.call for x in second.llm_calls or []] == [4]
    # A recording that does not add up to the trajectory's tokens is refused, naming both.
    calls[3] = _call_line(4, (4, 2))
    (folder / "llm-calls.jsonl").write_text("\n".join(calls) + "\n")
    with pytest.raises(LeaderboardError, match="charged 5 LLM tokens.*add up to 6"):
        list(export_run(folder, "jsonl"))
    (folder / "llm-calls.jsonl").write_text('{"call": "x"}\n')
    with pytest.raises(LeaderboardError, match=r"llm-calls.jsonl:1: `call`"):
        list(export_run(folder, "jsonl"))
