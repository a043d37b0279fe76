"""The board against a forger (issue 17, item 1): re-grading alone cannot make a self-run
result trustworthy, so the board labels it and offers a level that is not honour-based.

The attack: `prepare` is deterministic from public code and the data seed, so anyone can
rebuild the hidden answers, store a noisy copy as the final submission of an honest run's
bundle, patch `result.json` to the re-grade, re-hash with `write_manifest` and submit. It
re-grades to gold. It must stay `self-reported` (labelled, ranked apart from verified
rows), and `leaderboard reproduce` must refuse it: the board re-executes the agent, which
does not write that submission.

Also: an honest bundle reproduces (Docker, the baseline agent), and the board spec refuses
an episode outside it, naming the field.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

from mledojo.artifacts import EpisodeResult
from mledojo.bench.bundle import write_manifest
from mledojo.competition import get_competition
from mledojo.leaderboard._io import LeaderboardError
from mledojo.leaderboard.boardspec import load_board_file
from mledojo.leaderboard.episode import BoardEpisode, load_episodes, load_jsonl
from mledojo.leaderboard.render import render_html, render_markdown
from mledojo.leaderboard.stats import build_board
from mledojo.leaderboard.submit import SubmissionRejected, submit_run
from mledojo.resolve import resolve_spec

COMP = "playground-series-s3e3"  # 336 private rows; the baseline's honest AUC is about 0.81
SMALL = ["--cpus", "1", "--memory-mb", "2048", "--max-steps", "3", "--sandbox", "docker"]


def _board(tmp_path: Path, **change: Any) -> Path:
    """A board spec pinning what the honest run below ran (the test's small budget)."""
    cls: dict[str, Any] = {
        "seeds": [0],
        "budget": {"max_steps": 3},
        "resources": {"cpus": 1, "memory_mb": 2048},
        "reproduce_tolerance": 1e-4,
        "competitions": [{"id": COMP, "version": 1, "data_seed": 0}],
    }
    cls.update(change)
    path = tmp_path / "board.yaml"
    path.write_text(yaml.safe_dump({"schema_version": 1, "classes": [cls]}))
    return path


def _bench(runs: Path, *extra: str) -> Path:
    """One `mledojo bench` run of the baseline on COMP, seed 0, the small budget; its folder."""
    cmd = [sys.executable, "-m", "mledojo.bench.cli", "bench", "--runs-dir", str(runs)]
    cmd += ["--plain", "--agents", "baseline", "--competitions", COMP, "--seeds", "1", *SMALL]
    done = subprocess.run(
        [*cmd, *extra], capture_output=True, text=True, timeout=600, env=dict(os.environ)
    )
    assert done.returncode == 0, done.stdout + done.stderr
    (run,) = [p for p in runs.iterdir() if p.is_dir()]
    return run


@pytest.fixture(scope="module")
def honest_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _bench(tmp_path_factory.mktemp("runs"))


@pytest.fixture(scope="module")
def variant_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same honest run on a training variant (data seed 1): practice data, whose
    answers were never hidden from an agent that trains on variants."""
    return _bench(tmp_path_factory.mktemp("variant-runs"), "--data-seed", "1")


def _copy(run: Path, dest: Path) -> Path:
    out = dest / run.name
    shutil.copytree(run, out, symlinks=True)
    return out


def _result_path(run: Path) -> Path:
    (path,) = run.glob(f"{COMP}-v1/*/*/result.json")
    return path


def forge(run: Path, attacker_cache: Path) -> float:
    """The attacker's forgery, with public code only; returns the forged private score."""
    from mledojo.data.prepare import prepare
    from mledojo.grading.scorer import Scorer

    comp = get_competition(COMP)
    data = prepare(comp, data_seed=0, cache_dir=attacker_cache)  # the hidden answers, rebuilt
    answers = pd.read_csv(data.answers_path)
    sample = pd.read_csv(data.sample_submission_path)
    id_col, target = sample.columns[0], sample.columns[1]
    truth = answers.set_index(id_col).loc[sample[id_col], target].to_numpy(dtype=float)
    noise = np.random.default_rng(0).random(len(sample))
    sample[target] = 0.4 * truth + 0.6 * noise  # a noisy copy: not flagged as a copy
    path = _result_path(run)
    data_out = json.loads(path.read_text())
    sub = path.parent / data_out["final"]["submission"]
    sample.to_csv(sub, index=False)
    scorer = Scorer(comp, data)
    private, public = scorer.score(sub, part="private"), scorer.score(sub, part="public")
    data_out["final"].update(
        submission_sha256=hashlib.sha256(sub.read_bytes()).hexdigest(),
        private_score=private.score,
        private_human_rank=private.human_rank,
        medal=private.medal or "none",
        above_median=private.above_median,
        implausible=private.implausible,
    )
    for fb in data_out["feedback"]:
        if fb["step"] == 1:
            fb.update(public_score=public.score, public_human_rank=public.human_rank)
    path.write_text(json.dumps(data_out))
    write_manifest(run)  # the library's own manifest writer: the hashes agree
    assert private.medal == "gold" and not private.implausible, private
    return float(private.score)


@pytest.mark.docker
@pytest.mark.slow
def test_a_forged_bundle_stays_self_reported_and_reproduce_refuses_it(
    honest_run: Path, tmp_path: Path
) -> None:
    honest_score = EpisodeResult.load(_result_path(honest_run)).final.private_score
    forged = _copy(honest_run, tmp_path / "forger")
    forged_score = forge(forged, tmp_path / "attacker-cache")
    assert honest_score is not None and forged_score > honest_score + 0.05
    board, out = _board(tmp_path), tmp_path / "submissions"

    # submit re-grades it (the stored submission does grade to gold) but only as self-reported
    record = submit_run(forged, name="forger", board_spec=board, out_dir=out)
    assert record.verification == "self-reported"
    (row,) = load_jsonl(out / f"forger--{forged.name}.board.jsonl")
    assert row.verification.level == "self-reported" and row.medal == "gold"

    # reproduce re-executes the agent on the board: it does not write that submission
    with pytest.raises(SubmissionRejected) as info:
        submit_run(
            forged,
            name="forger",
            board_spec=board,
            out_dir=out,
            reproduce=True,
            work_dir=tmp_path / "board-work",
        )
    (reason,) = info.value.reasons
    assert "re-executed" in reason and "not what this agent produces" in reason, reason
    assert f"{honest_score}"[:6] in reason  # the board's own run scores what the honest run did
    assert load_jsonl(out / f"forger--{forged.name}.board.jsonl")[0].verification.level == (
        "self-reported"
    )

    # the honest bundle reproduces; on the board it is ranked apart from, and above, the forgery
    honest = _copy(honest_run, tmp_path / "honest")
    ok = submit_run(
        honest,
        name="honest",
        board_spec=board,
        out_dir=out,
        reproduce=True,
        work_dir=tmp_path / "board-work",
    )
    assert ok.verification == "reproduced"
    (cls,) = build_board(load_episodes([out]), load_board_file(board).stats_specs()).classes
    by = {a.agent: a for a in cls.agents}
    assert [a.agent for a in cls.agents] == ["honest", "forger"]  # verified tier first
    assert (by["honest"].tier, by["honest"].rank) == ("verified", 1)
    assert (by["forger"].tier, by["forger"].verification) == ("self-reported", "self-reported")
    assert by["forger"].human_rank.mean > by["honest"].human_rank.mean  # gold, yet second
    page, readme = (
        render_html(build_board(load_episodes([out]))),
        render_markdown(build_board(load_episodes([out]))),
    )
    verified = page.split('id="overall-0-verified"')[1].split("</table>")[0]
    apart = page.split('id="overall-0-self-reported"')[1].split("</table>")[0]
    assert "honest" in verified and "forger" not in verified
    assert "forger" in apart and ">self-reported<" in apart
    assert "Self-reported (honour-based)" in readme and "(reported)" in readme


@pytest.mark.docker
@pytest.mark.slow
def test_an_honest_bundle_reproduces_with_the_same_submission(
    honest_run: Path, tmp_path: Path
) -> None:
    run = _copy(honest_run, tmp_path)
    out = tmp_path / "submissions"
    first = submit_run(run, name="baseline", board_spec=_board(tmp_path), out_dir=out)
    assert first.verification == "self-reported"
    record = submit_run(
        run,
        name="baseline",
        board_spec=_board(tmp_path),
        out_dir=out,
        reproduce=True,
        work_dir=tmp_path / "work",
    )  # replaces the self-reported entry of the same run: an upgrade
    assert record.verification == "reproduced"
    (row,) = load_jsonl(Path(record.path))
    assert row.verification.level == "reproduced"
    assert row.verification.match in ("submission", "score")
    if row.verification.match == "score":  # not bit-reproducible: the tolerance is on the row
        assert row.verification.tolerance == 1e-4
    stored = EpisodeResult.load(_result_path(run)).final
    assert row.private_score == pytest.approx(stored.private_score)
    # the board's re-execution is its own episode, under the board's work folder
    (again,) = (tmp_path / "work").glob(f"*/{COMP}-v1/*/*/result.json")
    assert EpisodeResult.load(again).spec == EpisodeResult.load(_result_path(run)).spec
    with pytest.raises(Exception, match="submitted under this name already"):
        submit_run(run, name="baseline", board_spec=_board(tmp_path), out_dir=out)
    # the operator's live re-run: the row's numbers are the board's own run
    live = submit_run(
        run,
        name="baseline",
        board_spec=_board(tmp_path),
        out_dir=out,
        live=True,
        work_dir=tmp_path / "live",
    )
    (row,) = load_jsonl(Path(live.path))
    (board_run,) = (tmp_path / "live").glob(f"*/{COMP}-v1/*/*/result.json")
    mine = EpisodeResult.load(board_run)
    assert row.verification.level == "live" and row.private_score == mine.final.private_score
    assert row.reported_wall_time_s == mine.wall_time_s and row.reported_attempts == 1


@pytest.mark.docker
@pytest.mark.slow
def test_submit_refuses_a_bundle_off_the_board_spec_naming_the_field(
    honest_run: Path, tmp_path: Path
) -> None:
    run = _copy(honest_run, tmp_path)
    cases = {
        "budget": ({"budget": {"max_steps": 20}}, "budget.max_steps is 3 for"),
        "resources": ({"resources": {"cpus": 2}}, "resources.cpus is 1.0 for"),
        "seed": ({"seeds": [1]}, f"seed 0 is not pinned for {COMP} v1: the board accepts 1"),
    }
    for field, (change, message) in cases.items():
        with pytest.raises(SubmissionRejected) as info:
            submit_run(run, name="x", board_spec=_board(tmp_path, **change), out_dir=tmp_path)
        assert any(message in r for r in info.value.reasons), (field, info.value.reasons)


@pytest.mark.docker
@pytest.mark.slow
def test_the_board_refuses_a_training_variant_run_and_takes_the_evaluation_one(
    honest_run: Path, variant_run: Path, tmp_path: Path
) -> None:
    """Issue 19: a score on a training variant is not a score on the evaluation split, and
    an agent that trains on variants may have seen that variant's answers. `submit` must
    refuse it, with the board spec and without one; `build` must refuse it in its sources."""
    variant = _copy(variant_run, tmp_path / "variant")
    for spec in (_board(tmp_path), None):
        with pytest.raises(SubmissionRejected) as info:
            submit_run(variant, name="x", board_spec=spec, out_dir=tmp_path / "refused")
        reasons = " ".join(info.value.reasons)
        assert "data_variant 'training-3': a training variant" in reasons, (spec, reasons)
        assert f"data_seed 1 is a training variant of {COMP}-v1" in reasons, (spec, reasons)
    assert not (tmp_path / "refused").exists() or not any((tmp_path / "refused").iterdir())
    honest = _copy(honest_run, tmp_path / "honest")
    for spec, out in ((_board(tmp_path), "pinned"), (None, "unpinned")):
        record = submit_run(honest, name="x", board_spec=spec, out_dir=tmp_path / out)
        (row,) = load_jsonl(Path(record.path))
        assert (row.data_seed, row.data_variant) == (0, None)
    (ep,) = load_episodes([variant])  # a run folder given to `leaderboard build --source`
    assert (ep.data_seed, ep.data_variant) == (1, "training-3")
    with pytest.raises(LeaderboardError, match="data_variant 'training-3' is a training variant"):
        build_board([ep], bootstrap=0)
    (good,) = load_episodes([honest])
    assert (good.data_seed, good.data_variant) == (0, None)
    assert build_board([good], bootstrap=0).classes[0].agents[0].scored == 1


@pytest.mark.docker
@pytest.mark.slow
def test_an_llm_agent_reproduces_from_its_recording_without_a_key_or_a_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The MLE-Bot with a (scripted) model: the bundle carries `llm-calls.jsonl`, and the
    board replays it with no key and no server. A schema-1 bundle (no recording carried)
    still verifies, and stays self-reported: reproduce refuses it."""
    from mledojo.bench.bundle import BUNDLE_FILE, load_manifest
    from mledojo.testing.llm_server import ScriptedLLMServer
    from mledojo.testing.scripted_bot import ScriptedEngineer

    with ScriptedLLMServer() as server:
        server.set_script(ScriptedEngineer())
        cmd = [sys.executable, "-m", "mledojo.bench.cli", "bench", "--runs-dir", str(tmp_path)]
        cmd += ["--plain", "--agents", "mle-bot", "--competitions", COMP, "--seeds", "1"]
        for arg in ("model=openai/gpt-5-mini", "max_iterations=1"):
            cmd += ["--agent-arg", arg]
        cmd += ["--agent-arg", f"model_base_url={server.openai_base_url}"]
        cmd += [*SMALL[:4], "--max-steps", "10", "--sandbox", "docker"]
        env = {**os.environ, "OPENAI_API_KEY": "sk-test-SENTINEL-board-5e1f"}
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env)
        assert done.returncode == 0, done.stdout + done.stderr
        asked = len(server.requests)
    assert asked > 0
    (run,) = [p for p in tmp_path.iterdir() if p.name.startswith("bench-")]
    assert any(k.endswith("/llm-calls.jsonl") for k in load_manifest(run).files)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)  # a replay needs neither key nor server
    board = _board(tmp_path, budget={"max_steps": 10})
    old = _copy(run, tmp_path / "old")
    record = submit_run(
        run,
        name="bot",
        board_spec=board,
        out_dir=tmp_path / "out",
        reproduce=True,
        work_dir=tmp_path / "work",
    )
    (row,) = load_jsonl(Path(record.path))
    assert row.verification.level == "reproduced", row.verification
    (again,) = (tmp_path / "work").glob(f"*/{COMP}-v1/*/*/llm-calls.jsonl")
    (first,) = run.glob(f"{COMP}-v1/*/*/llm-calls.jsonl")
    assert again.read_bytes() == first.read_bytes()  # every call replayed, in order

    # live calls the model with the board's key: never through an endpoint the bundle names
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-SENTINEL-board-operator")
    with pytest.raises(SubmissionRejected, match="would send the board's key there"):
        submit_run(
            run,
            name="bot",
            board_spec=board,
            out_dir=tmp_path / "out",
            live=True,
            work_dir=tmp_path / "live",
        )
    assert not (tmp_path / "live").exists()  # refused before anything ran
    monkeypatch.delenv("OPENAI_API_KEY")

    manifest = load_manifest(old)  # as an older mledojo wrote it: no recording listed
    files = {k: v for k, v in manifest.files.items() if not k.endswith("/llm-calls.jsonl")}
    v1 = manifest.model_copy(update={"schema_version": 1, "files": files})
    (old / BUNDLE_FILE).write_text(v1.model_dump_json())
    assert submit_run(old, name="old", board_spec=board, out_dir=tmp_path / "o").verification == (
        "self-reported"
    )
    with pytest.raises(SubmissionRejected, match="schema 1: it does not carry"):
        submit_run(
            old,
            name="old",
            board_spec=board,
            out_dir=tmp_path / "o",
            reproduce=True,
            work_dir=tmp_path / "work",
        )


# ------------------------------------------------------------ the spec alone (no Docker)
def _spec(**request: Any) -> Any:
    fields: dict[str, Any] = {
        "competition": COMP,
        "agent": "baseline",
        "seed": 0,
        "sandbox": "docker",
        "budget": {"max_steps": 3},
        "resources": {"cpus": 1, "memory_mb": 2048},
        **request,
    }
    return resolve_spec(**fields).spec


@pytest.mark.filterwarnings("ignore:pump-failure-v1 is deprecated")
def test_the_board_spec_names_each_field_outside_it(tmp_path: Path) -> None:
    board = load_board_file(_board(tmp_path))
    assert board.check_episode(_spec(), "e") == []
    assert board.check_episode(_spec(data_seed=3), "e") == [
        "e: data_variant 'training-3': a training variant; the board takes episodes on the "
        "evaluation split only (data_variant null)",
        TRAINING_MODE,
        f"e: data_seed 3 is a training variant of {COMP}-v1: the board takes its evaluation "
        "split, data seed 0",
    ]
    assert board.check_episode(_spec(seed=7), "e") == [
        f"e: seed 7 is not pinned for {COMP} v1: the board accepts 0"
    ]
    assert board.check_episode(_spec(budget={"max_steps": 20}), "e") == [
        f"e: budget.max_steps is 20 for {COMP} v1: the board pins 3"
    ]
    assert board.check_episode(_spec(reward="raw_delta"), "e") == [
        f"e: reward 'raw_delta' for {COMP} v1: the board pins 'final_only'"
    ]
    assert board.check_episode(_spec(competition="titanic"), "e") == [
        f"e: competition titanic is not on the board (it pins ['{COMP}'])"
    ]
    other = load_board_file(
        _board(tmp_path, competitions=[{"id": "pump-failure", "version": 2, "data_seed": 0}])
    )
    assert other.check_episode(_spec(competition="pump-failure-v1"), "e") == [
        "e: pump-failure version 1 is not pinned: the board accepts v2"
    ]


def test_a_board_spec_with_unknown_fields_or_versions_is_refused(tmp_path: Path) -> None:
    with pytest.raises(LeaderboardError, match="unknown budget field"):
        load_board_file(_board(tmp_path, budget={"max_stepz": 3}))
    with pytest.raises(LeaderboardError, match=f"{COMP}-v9"):
        load_board_file(_board(tmp_path, competitions=[{"id": COMP, "version": 9, "data_seed": 0}]))
    assert load_board_file(Path(__file__).parents[2] / "leaderboard" / "board.yaml").classes


def test_a_v1_board_entry_loads_with_its_numbers_as_reported(tmp_path: Path) -> None:
    path = tmp_path / "old.board.jsonl"
    old = {"agent": "a", "competition": "c", "seed": 0, "status": "agent_error"}
    path.write_text(json.dumps({**old, "wall_time_s": 5.0, "attempts": 3, "hardware": "x"}))
    (ep,) = load_episodes([path])
    assert (ep.reported_status, ep.reported_wall_time_s, ep.reported_attempts) == (
        "agent_error",
        5.0,
        3,
    )
    assert ep.reported_hardware == "x" and ep.verification.level == "self-reported"


def test_the_board_spec_pins_only_evaluation_seeds(tmp_path: Path) -> None:
    """A board.yaml pinning a training variant's data seed is refused on load, naming it."""
    variant = [{"id": COMP, "version": 1, "data_seed": 1}]
    with pytest.raises(LeaderboardError, match=f"{COMP}-v1: data_seed 1 is a training variant"):
        load_board_file(_board(tmp_path, competitions=variant))
    repo = load_board_file(Path(__file__).parents[2] / "leaderboard" / "board.yaml")
    for pin in (p for c in repo.classes for p in c.competitions):
        assert pin.data_seed == get_competition(pin.versioned_id).spec.split.seed, pin


def test_a_spec_claiming_a_variant_is_refused_even_on_the_pinned_seed(tmp_path: Path) -> None:
    board = load_board_file(_board(tmp_path))
    forged = _spec().model_copy(update={"data_variant": "training-3"})
    assert board.check_episode(forged, "e") == [
        "e: data_variant 'training-3': a training variant; the board takes episodes on the "
        "evaluation split only (data_variant null)"
    ]


TRAINING_MODE = (
    "e: mode 'training': the agent was shown its private score; the board takes "
    "evaluation-mode episodes only (mode evaluation, the evaluation split's default)"
)


def test_a_training_mode_episode_on_the_evaluation_split_is_refused(tmp_path: Path) -> None:
    """`mode="training"` showed the agent its private score: never a board result."""
    board = load_board_file(_board(tmp_path))
    with pytest.warns(UserWarning, match="not a board result"):
        shown = _spec(mode="training")
    assert shown.data_seed == 0 and shown.data_variant is None
    assert board.check_episode(shown, "e") == [TRAINING_MODE]


def test_board_building_refuses_entries_on_a_training_variant() -> None:
    """Entries (a `.board.jsonl` or a result) recording a variant never reach the board."""
    base = {"agent": "a", "competition": COMP, "competition_version": 1, "seed": 0}
    base |= {"reported_status": "completed", "private_score": 0.8, "private_human_rank": 0.2}
    assert build_board([BoardEpisode(**base, data_seed=0)], bootstrap=0).episodes == 1
    assert build_board([BoardEpisode(**base)], bootstrap=0).episodes == 1  # not recorded
    with pytest.raises(LeaderboardError, match="data_seed 1 is a training variant"):
        build_board([BoardEpisode(**base, data_seed=1)], bootstrap=0)
    with pytest.raises(LeaderboardError, match="data_variant 'training-3'"):
        build_board([BoardEpisode(**base, data_seed=0, data_variant="training-3")], bootstrap=0)
