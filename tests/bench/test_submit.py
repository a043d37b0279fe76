"""`leaderboard submit` on a real bench run: the honest bundle is accepted, attacks are not.

Every attack edits a copy of one real run the way a cheater would, then re-hashes
`bundle.json` so the hashes alone cannot catch it: only the host re-grade (or the plan and
board checks) can. One attack leaves the hashes stale, to show that check too.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from mledojo.artifacts import EpisodeResult
from mledojo.bench.bundle import write_manifest
from mledojo.bench.plan import load_plan
from mledojo.leaderboard.episode import load_episodes
from mledojo.leaderboard.submit import SubmissionRejected, submit_run

pytestmark = [pytest.mark.docker, pytest.mark.slow]
COMPETITIONS = ["playground-series-s3e12", "titanic"]


@pytest.fixture(scope="module")
def honest_run(tmp_path_factory: pytest.TempPathFactory, bh: Any) -> Path:
    runs = tmp_path_factory.mktemp("runs")
    done = bh.run_bench(
        runs,
        "--agents",
        "baseline",
        "--competitions",
        ",".join(COMPETITIONS),
        "--seeds",
        "1",
        "--workers",
        "2",
        *bh.small,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    run: Path = bh.only_run(runs)
    for path in bh.results(run):
        assert EpisodeResult.load(path).final.graded, path
    return run


def _spec_file(tmp_path: Path, run: Path, **change: Any) -> Path:
    """The board spec (`leaderboard/board.yaml` format) pinning what the run ran."""
    comps = change.pop("competitions", COMPETITIONS)
    spec = {
        "seeds": [0],
        "budget": {"max_steps": 3},
        "resources": {"cpus": 1, "memory_mb": 2048},
        "competitions": [{"id": c, "version": 1, "data_seed": 0} for c in comps],
        **change,
    }
    path = tmp_path / "board.yaml"
    path.write_text(json.dumps({"schema_version": 1, "classes": [spec]}))  # JSON is YAML
    return path


def _copy(run: Path, tmp_path: Path) -> Path:
    dest = tmp_path / "copy" / run.name
    shutil.copytree(run, dest, symlinks=True)
    return dest


def _result(run: Path, competition: str) -> Path:
    (path,) = run.glob(f"{competition}-v*/*/*/result.json")
    return path


def _edit_result(path: Path, edit: Any) -> None:
    data = json.loads(path.read_text())
    edit(data)
    path.write_text(json.dumps(data))


def _rejected(run: Path, tmp_path: Path, **kw: Any) -> list[str]:
    with pytest.raises(SubmissionRejected) as info:
        submit_run(
            run,
            name="cheater",
            board_spec=kw["board_spec"] if "board_spec" in kw else _spec_file(tmp_path, run),
            out_dir=tmp_path / "out",
        )
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
    return info.value.reasons


def test_the_honest_run_is_accepted_with_re_graded_numbers(
    honest_run: Path, tmp_path: Path
) -> None:
    run = _copy(honest_run, tmp_path)
    out = tmp_path / "submissions"
    record = submit_run(run, name="baseline-ref", board_spec=_spec_file(tmp_path, run), out_dir=out)
    assert record.episodes == 2 and record.re_graded == 2
    episodes = load_episodes([out])
    assert {e.competition for e in episodes} == set(COMPETITIONS)
    for ep in episodes:
        stored = EpisodeResult.load(_result(run, ep.competition))
        assert ep.agent == "baseline-ref" and ep.reported_attempts == 1
        assert ep.verification.level == "self-reported"
        assert ep.private_score == pytest.approx(stored.final.private_score)
        assert ep.budget_class == load_plan(run).jobs[0].spec.budget_class
        assert ep.anytime and ep.anytime[-1].elapsed_s > 0  # progress plots have data
    from mledojo.leaderboard.board import build_from_sources

    _, board = build_from_sources([out], tmp_path / "board", bootstrap=20)
    (cls,) = board.classes  # the accepted entry builds a board as it is
    assert [a.agent for a in cls.agents] == ["baseline-ref"]
    saved = json.loads((out / f"baseline-ref--{run.name}.submission.json").read_text())
    assert saved["schema_version"] == 2 and saved["episodes"] == 2
    assert saved["verification"] == "self-reported"
    with pytest.raises(Exception, match="submitted under this name already"):
        submit_run(run, name="baseline-ref", board_spec=_spec_file(tmp_path, run), out_dir=out)


def test_a_tampered_score_is_rejected_by_the_re_grade(honest_run: Path, tmp_path: Path) -> None:
    run = _copy(honest_run, tmp_path)

    def better(d: dict[str, Any]) -> None:
        d["final"]["private_score"] = 0.999
        d["final"]["private_human_rank"] = 1.0

    _edit_result(_result(run, "titanic"), better)
    write_manifest(run)  # the hashes agree with the forgery
    reasons = _rejected(run, tmp_path)
    assert any("recorded private score 0.999" in r and "tampered" in r for r in reasons), reasons


def test_an_edited_submission_file_is_rejected(honest_run: Path, tmp_path: Path) -> None:
    run = _copy(honest_run, tmp_path)
    stored = EpisodeResult.load(_result(run, "playground-series-s3e12"))
    assert stored.final.submission is not None
    sub = _result(run, "playground-series-s3e12").parent / stored.final.submission
    lines = sub.read_text().splitlines()
    head, rows = lines[0], lines[1:]
    sub.write_text("\n".join([head, *[r.rsplit(",", 1)[0] + ",0.5" for r in rows]]) + "\n")
    stale = _rejected(run, tmp_path)  # the manifest still has the old hash
    assert any("sha256 does not match bundle.json" in r for r in stale), stale
    write_manifest(run)  # re-hashed: the result's own submission hash still catches it
    reasons = _rejected(run, tmp_path)
    assert any("does not match its recorded sha256" in r for r in reasons), reasons
    # and with the recorded hash forged as well, the re-grade disagrees with the stored score
    import hashlib

    forged = hashlib.sha256(sub.read_bytes()).hexdigest()
    _edit_result(
        _result(run, "playground-series-s3e12"),
        lambda d: d["final"].update(submission_sha256=forged),
    )
    write_manifest(run)
    reasons = _rejected(run, tmp_path)
    assert any("re-grade" in r for r in reasons), reasons


def test_a_missing_episode_is_rejected(honest_run: Path, tmp_path: Path) -> None:
    run = _copy(honest_run, tmp_path)
    shutil.rmtree(_result(run, "titanic").parent)  # the bad seed, dropped
    write_manifest(run)
    reasons = _rejected(run, tmp_path)
    assert any(r.startswith("missing episode") and "titanic" in r for r in reasons), reasons


def test_a_bench_that_skips_a_board_competition_is_rejected(
    honest_run: Path, tmp_path: Path
) -> None:
    run = _copy(honest_run, tmp_path)
    spec = _spec_file(tmp_path, run, competitions=[*COMPETITIONS, "spaceship-titanic"])
    reasons = _rejected(run, tmp_path, board_spec=spec)
    assert any("missing episode" in r and "spaceship-titanic" in r for r in reasons), reasons


def test_a_bundle_from_another_budget_class_is_rejected(honest_run: Path, tmp_path: Path) -> None:
    run = _copy(honest_run, tmp_path)
    board = _spec_file(tmp_path, run, budget={"max_steps": 20})
    reasons = _rejected(run, tmp_path, board_spec=board)
    assert any("budget.max_steps is 3 for titanic v1: the board pins 20" in r for r in reasons)


def test_without_a_spec_the_board_keeps_its_budget_classes(
    honest_run: Path, tmp_path: Path
) -> None:
    run = _copy(honest_run, tmp_path)
    out = tmp_path / "board"
    out.mkdir()
    (out / "other.board.jsonl").write_text(
        '{"agent": "x", "competition": "titanic", "seed": 0, "status": "completed", '
        '"budget_class": "steps=20,time=3600s,step=600s,grades=100"}\n'
    )
    with pytest.raises(SubmissionRejected) as info:
        submit_run(run, name="small-budget", out_dir=out)
    assert any("--new-budget-class" in r for r in info.value.reasons), info.value.reasons
    record = submit_run(run, name="small-budget", out_dir=out, new_budget_class=True)
    assert record.budget_classes == [load_plan(run).jobs[0].spec.budget_class]


def test_an_edited_budget_in_the_plan_is_rejected(honest_run: Path, tmp_path: Path) -> None:
    """Claiming the board's budget class for a run made with a smaller budget fails too: the
    edited spec has another key, and no episode of the run was played under it."""
    run = _copy(honest_run, tmp_path)
    plan = json.loads((run / "bench.json").read_text())
    for job in plan["jobs"]:
        job["spec"]["budget"]["max_steps"] = 20
    (run / "bench.json").write_text(json.dumps(plan))
    write_manifest(run)
    board = _spec_file(tmp_path, run, budget={"max_steps": 20})  # what the edited plan claims
    reasons = _rejected(run, tmp_path, board_spec=board)
    assert len(reasons) == 2, reasons
    assert all("missing episode" in r and "result.json is missing" in r for r in reasons), reasons


def test_feedback_showing_the_private_score_is_rejected(honest_run: Path, tmp_path: Path) -> None:
    run = _copy(honest_run, tmp_path)
    path = _result(run, "titanic")
    private = EpisodeResult.load(path).final.private_score

    def leak(d: dict[str, Any]) -> None:
        valid = [f for f in d["feedback"] if f["submission"] == "valid"]
        assert valid, d["feedback"]
        valid[0]["public_score"] = private

    _edit_result(path, leak)
    write_manifest(run)
    reasons = _rejected(run, tmp_path)
    assert any("private-part" in r for r in reasons), reasons


def test_a_private_field_in_feedback_is_rejected(honest_run: Path, tmp_path: Path) -> None:
    run = _copy(honest_run, tmp_path)

    def extra(d: dict[str, Any]) -> None:
        d["feedback"][0]["private_score"] = 0.5

    _edit_result(_result(run, "titanic"), extra)
    write_manifest(run)
    reasons = _rejected(run, tmp_path)
    assert any("beyond the public part" in r for r in reasons), reasons


def test_a_symlinked_submission_is_refused(honest_run: Path, tmp_path: Path) -> None:
    run = _copy(honest_run, tmp_path)
    stored = EpisodeResult.load(_result(run, "titanic"))
    assert stored.final.submission is not None
    sub = _result(run, "titanic").parent / stored.final.submission
    sub.unlink()
    sub.symlink_to("/etc/passwd")
    write_manifest(run)
    reasons = _rejected(run, tmp_path)
    assert any("symlink" in r for r in reasons), reasons


def test_the_submit_command_lists_every_reason_and_exits_non_zero(
    honest_run: Path, tmp_path: Path
) -> None:
    import subprocess
    import sys

    run = _copy(honest_run, tmp_path)
    shutil.rmtree(_result(run, "titanic").parent)
    _edit_result(
        _result(run, "playground-series-s3e12"),
        lambda d: d["final"].update(private_score=0.999),
    )
    write_manifest(run)
    spec = _spec_file(tmp_path, run)
    cmd = [sys.executable, "-m", "mledojo.bench.cli", "submit", str(run), "--name", "x"]
    cmd += ["--board-spec", str(spec), "--out", str(tmp_path / "out")]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 1
    assert "rejected" in done.stderr
    assert "missing episode" in done.stderr and "tampered" in done.stderr, done.stderr
    ok = subprocess.run(
        [*cmd[:4], str(_copy(honest_run, tmp_path / "b")), *cmd[5:]],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert ok.returncode == 0, ok.stderr
    assert "accepted (self-reported): 2 episode(s) re-graded" in ok.stdout


def test_anytime_points_never_follow_a_symlinked_trajectory(tmp_path: Path) -> None:
    """The host reads the bundle's trajectory for progress points: a link is not opened."""
    from mledojo.leaderboard.submit import _anytime

    secret = tmp_path / "host-secret.jsonl"
    secret.write_text('{"time": 1.0, "obs": {"best_public_human_rank": 0.9}}\n')
    folder = tmp_path / "episode"
    folder.mkdir()
    (folder / "trajectory.jsonl").symlink_to(secret)
    assert _anytime(folder) == []
    (folder / "trajectory.jsonl").unlink()
    (folder / "trajectory.jsonl").write_text(secret.read_text())
    assert [p.best_human_rank for p in _anytime(folder)][-1] == 0.9  # a real file is read


def _old_rule_key(spec: dict[str, Any]) -> str:
    """The key rule before key versions: sha256 of the spec's sorted, compact JSON, 12 hex."""
    import hashlib

    canonical = json.dumps(spec, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:12]


RULE_2_FIELDS = ("key_version", "data_variant", "mode", "image")  # what rule-1 specs never had


def test_a_run_filed_by_the_previous_key_rule_is_accepted(honest_run: Path, tmp_path: Path) -> None:
    """A run written before key versions (rule-1 keys and folders, a schema-1 plan) is
    accepted as it is: old runs can still be submitted."""
    run = _copy(honest_run, tmp_path)
    for path in list(run.glob("*/*/*/result.json")):
        data = json.loads(path.read_text())
        spec = {k: v for k, v in data["spec"].items() if k not in RULE_2_FIELDS}
        old = _old_rule_key(spec)
        assert old != data["key"]
        data["key"], data["spec"] = old, spec
        path.write_text(json.dumps(data))
        folder = path.parent
        folder.rename(
            folder.with_name(folder.name.removesuffix(folder.name.rsplit("-", 1)[1]) + old)
        )
    plan = json.loads((run / "bench.json").read_text())
    jobs = []
    for job in plan["jobs"]:
        spec = {k: v for k, v in job["spec"].items() if k not in RULE_2_FIELDS}
        jobs.append(
            {
                "competition": spec["competition"].rsplit("-v", 1)[0],
                "agent": spec["agent"]["name"],
                "agent_args": spec["agent"]["args"],
                "seed": spec["seed"],
                "data_seed": None,
                "sandbox": spec["sandbox"],
                "reward": spec["reward"],
                "budget": {"max_steps": 3},
                "resources": {"cpus": 1, "memory_mb": 2048},
                "spec": spec,
            }
        )
    (run / "bench.json").write_text(json.dumps({"schema_version": 1, "jobs": jobs}))
    write_manifest(run)
    out = tmp_path / "submissions"
    record = submit_run(run, name="old-keys", board_spec=_spec_file(tmp_path, run), out_dir=out)
    assert record.episodes == 2 and record.re_graded == 2
    assert {e.competition for e in load_episodes([out])} == set(COMPETITIONS)
