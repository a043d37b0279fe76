"""`leaderboard submit`: verify a run's bundle and re-grade it on the host, never trusting it.

Checks, each a reason in the rejection (all are collected, not just the first):

- the bundle: `bundle.json` present and every hash matching, no unlisted or non-regular file;
- the plan: every planned episode has a `result.json` whose key and spec are the plan's,
  each spec resolves today to the same spec (competition version, defaults), the sandbox
  is `docker`, every spec is on its competition's evaluation split (never a training
  variant, with or without a board spec), and every spec is one the board spec pins
  (`leaderboard/board.yaml`: competition version, data seed, seed, budget, resources,
  reward; refusals name the field), with every episode the board expects present;
- no episode unfinished (`interrupted`);
- the final submission: a regular file under `submissions/`, its sha256 the recorded one,
  **re-graded on the private part**; the recorded score and HumanRank must equal the
  re-grade (a tampered score is rejected, not silently corrected: it is evidence);
- feedback: every recorded feedback entry has only the public-part fields, and each
  `valid` one equals the public re-grade of that step's submission; a value that matches
  the private part instead, or any `private` key in the trajectory's observations, is a
  private-part signal and the run is rejected.

This proves only that the stored submission grades to the shown score, so the entry is
`self-reported`; with `reproduce=True` (`leaderboard reproduce`) every episode is then
re-executed on this machine (`mledojo.bench.reproduce`) and the entry is `reproduced`
(or `live`). The accepted entry is the re-graded numbers as `BoardEpisode`s in
`<out>/<name>--<run-id>.board.jsonl` (via `mledojo.leaderboard.episode.save_jsonl`), with
`<name>--<run-id>.submission.json` beside it (schema-versioned: who, when, bundle hash).
"""

from __future__ import annotations

import json
import math
import os
import re
import stat
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from mledojo._files import UnsafeFileError, read_bounded, sha256_file
from mledojo.artifacts import INFRA_STATUSES, RESULT_FILE, EpisodeResult, Feedback
from mledojo.bench.bundle import BUNDLE_FILE, load_manifest, verify_manifest
from mledojo.bench.plan import BenchError, BenchPlan, Job, load_plan
from mledojo.errors import MLEDojoError
from mledojo.layout import RunLayout
from mledojo.leaderboard._io import LeaderboardError
from mledojo.leaderboard.boardspec import BoardFile, load_board_file, off_evaluation_split
from mledojo.leaderboard.episode import LEVELS, Level, Verification

SUBMISSION_SCHEMA_VERSION = 2
MAX_RESULT_BYTES = 1 << 20
MAX_TRAJECTORY_BYTES = 512 << 20
SCORE_RTOL = 1e-9
FEEDBACK_KEYS = frozenset(Feedback.model_fields)
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+@-]{0,79}$")


class SubmissionRejected(BenchError):
    """The bundle failed verification; `reasons` lists every problem found."""

    def __init__(self, reasons: list[str]) -> None:
        self.reasons = reasons
        super().__init__("submission rejected:\n" + "\n".join(f"- {r}" for r in reasons))


class SubmissionRecord(BaseModel):
    """`<name>--<run-id>.submission.json`: the accepted entry's provenance."""

    model_config = ConfigDict(extra="forbid")

    schema_version: int = SUBMISSION_SCHEMA_VERSION
    name: str
    run_id: str
    accepted_at: str
    bundle_sha256: str
    episodes: int
    budget_classes: list[str]
    re_graded: int
    verification: Level = "self-reported"
    path: str


class _Grader:
    """One Scorer per (competition, data seed), built on first use."""

    def __init__(self, cache_dir: Path | None) -> None:
        self.cache_dir = cache_dir
        self._scorers: dict[tuple[str, int], Any] = {}

    def scorer(self, competition: str, data_seed: int) -> Any:
        key = (competition, data_seed)
        if key not in self._scorers:
            from mledojo.competition import get_competition
            from mledojo.data.prepare import prepare
            from mledojo.grading.scorer import Scorer

            comp = get_competition(competition)
            data = prepare(comp, data_seed=data_seed, cache_dir=self.cache_dir)
            self._scorers[key] = Scorer(comp, data)
        return self._scorers[key]


def _close(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is b
    return math.isclose(a, b, rel_tol=SCORE_RTOL, abs_tol=1e-12)


def _regular(path: Path, inside: Path) -> str | None:
    """Why `path` may not be read as evidence (None when it is a regular file inside)."""
    try:
        rel = path.relative_to(inside)
    except ValueError:
        return "points outside the episode folder"
    if ".." in rel.parts:
        return "points outside the episode folder"
    for part in [inside, *[inside.joinpath(*rel.parts[: i + 1]) for i in range(len(rel.parts))]]:
        if os.path.islink(part):
            return "is or passes through a symlink"
    try:
        st = os.lstat(path)
    except OSError:
        return "is missing"
    return None if stat.S_ISREG(st.st_mode) else "is not a regular file"


def _read_json(path: Path, max_bytes: int) -> Any:
    """JSON from a bundle file, by the bounded reader (raises `UnsafeFileError`, a ValueError
    for bad JSON)."""
    return json.loads(read_bounded(path, max_bytes=max_bytes))


def _hardware(run_folder: Path) -> str:
    try:
        host = _read_json(run_folder / "run.json", MAX_RESULT_BYTES).get("host", {})
        mem = host.get("memory_bytes")
        gb = f", {mem / 2**30:.0f} GB" if isinstance(mem, int | float) else ""
        return f"{host.get('machine', '?')}, {host.get('cpus', '?')} CPUs{gb}"[:200]
    except (OSError, ValueError, AttributeError, UnsafeFileError):
        return "unknown"


def _load_board(path: Path | None) -> BoardFile | None:
    if path is None:
        return None
    try:
        return load_board_file(path)
    except LeaderboardError as e:
        raise BenchError(f"not a board spec: {e}") from e


def _check_plan_against_board(plan: BenchPlan, board: BoardFile | None) -> list[str]:
    """Every episode pinned by the board (field by field), and every pinned one present.

    Without a board spec, still every episode on its competition's evaluation split: the
    board never takes a training variant, whatever spec (if any) the submitter passes.
    """
    if board is None:
        off: list[str] = []
        for job in plan.jobs:
            try:
                off += off_evaluation_split(job.spec, job.label)
            except MLEDojoError as e:  # a competition or version this mledojo does not have
                off.append(f"{job.label}: {e}")
        return off
    from mledojo.competition import get_competition

    reasons: list[str] = []
    known = []
    for job in plan.jobs:
        try:
            reasons += board.check_episode(job.spec, job.label)
            known.append(job)
        except MLEDojoError as e:  # a competition or version this mledojo does not have
            reasons.append(f"{job.label}: {e}")
    for cls in sorted({j.spec.budget_class for j in known}):
        spec = board.class_of(cls)
        if spec is None:
            continue  # each of its episodes was refused above, with the differing fields
        jobs = [j for j in known if j.spec.budget_class == cls]
        have = {(j.agent, get_competition(j.spec.competition).id, j.spec.seed) for j in jobs}
        for agent in sorted({j.agent for j in jobs}):
            for pin in spec.competitions:
                for seed in spec.seeds:
                    if (agent, pin.id, seed) not in have:
                        reasons.append(
                            f"missing episode: {agent} on {pin.id} seed {seed} (the board expects "
                            f"competitions {[p.id for p in spec.competitions]} x seeds "
                            f"{spec.seeds})"
                        )
    return reasons


def _check_known_classes(plan: BenchPlan, out_dir: Path) -> list[str]:
    """Without a board spec, the board's budget classes are those already accepted."""
    from mledojo.leaderboard.episode import load_episodes

    if not out_dir.is_dir() or not any(out_dir.iterdir()):
        return []  # the first entry of a board sets its class
    known = {e.budget_class for e in load_episodes([out_dir])}
    return [
        f"budget class {cls!r} is not one of the board's ({', '.join(sorted(known))}); "
        "pass --board-spec, or --new-budget-class to open a new class on purpose"
        for cls in sorted({j.spec.budget_class for j in plan.jobs} - known)
    ]


def _check_episode(
    job: Job, run_folder: Path, grader: _Grader
) -> tuple[list[str], tuple[dict[str, Any], EpisodeResult] | None]:
    """Reasons to reject one episode, else its re-graded numbers and its checked result (the
    file is read once: a second read could see other bytes than the ones checked)."""
    from mledojo.resolve import competition_of

    where = f"{job.label} ({job.key})"
    try:
        competition_of(job.spec)
    except (ValueError, MLEDojoError) as e:
        return [f"{where}: the spec no longer resolves: {e}"], None
    folder = job.folder(run_folder.parent, run_folder.name)
    result_path = folder / RESULT_FILE
    why = _regular(result_path, run_folder)
    if why is not None:
        return [f"missing episode: {where}: result.json {why}"], None
    try:
        raw = _read_json(result_path, MAX_RESULT_BYTES)
        result = EpisodeResult.model_validate(raw)
    except (OSError, ValueError, ValidationError, UnsafeFileError) as e:
        return [f"{where}: result.json is not a valid result: {str(e)[:300]}"], None
    reasons: list[str] = []
    if (
        result.spec is None
        or result.key != result.spec.key
        or not result.spec.same_episode(job.spec)
    ):
        reasons.append(f"{where}: result.json's spec is not the planned spec")
    if job.spec.sandbox != "docker":
        reasons.append(f"{where}: ran in sandbox {job.spec.sandbox!r}; the board takes docker only")
    if result.status == "interrupted":
        reasons.append(f"{where}: unfinished (interrupted); run the bench again to finish it")
    reasons += _check_final_file(result, folder, where)
    if not reasons:
        reasons += _check_feedback(raw, result, job, folder, grader, where)
    if reasons:
        return reasons, None
    regraded = _regrade_final(result, job, folder, grader, where)
    if isinstance(regraded, list):
        return regraded, None
    return [], (regraded, result)


def _check_feedback(
    raw: dict[str, Any], result: EpisodeResult, job: Job, folder: Path, grader: _Grader, where: str
) -> list[str]:
    reasons: list[str] = []
    for i, entry in enumerate(raw.get("feedback") or []):
        extra = sorted(set(entry) - FEEDBACK_KEYS) if isinstance(entry, dict) else []
        if extra:
            reasons.append(f"{where}: feedback[{i}] has fields {extra} beyond the public part's")
    scorer = None
    for fb in result.feedback:
        if fb.submission != "valid":
            continue
        sub = folder / "submissions" / f"step-{fb.step:03d}.csv"
        why = _regular(sub, folder)
        if why is not None:
            reasons.append(f"{where}: feedback at step {fb.step}: its submission {why}")
            continue
        scorer = scorer or grader.scorer(job.spec.competition, job.spec.data_seed)
        try:
            public = scorer.score(sub, part="public")
            private = scorer.score(sub, part="private")
        except Exception as e:
            reasons.append(f"{where}: step {fb.step}'s submission no longer grades: {e}")
            continue
        if _close(fb.public_score, public.score):
            continue
        if (
            _close(fb.public_score, private.score)
            or _close(fb.public_human_rank, private.human_rank)
            and not _close(fb.public_human_rank, public.human_rank)
        ):
            reasons.append(
                f"{where}: feedback at step {fb.step} shows the private-part score "
                f"({fb.public_score}), not the public one ({public.score}): a private-part signal"
            )
        else:
            reasons.append(
                f"{where}: feedback at step {fb.step} says public score {fb.public_score}; "
                f"the public re-grade is {public.score}"
            )
    reasons += _trajectory_private_keys(folder / "trajectory.jsonl", where)
    return reasons


def _trajectory_private_keys(path: Path, where: str) -> list[str]:
    """Any `private` key in an observation the agent was shown is a private-part signal."""
    if not os.path.lexists(path):
        return []
    if _regular(path, path.parent) is not None:
        return [f"{where}: trajectory.jsonl is not a regular file"]
    try:
        data = read_bounded(path, max_bytes=MAX_TRAJECTORY_BYTES)
    except UnsafeFileError as e:
        return [f"{where}: trajectory.jsonl: {e}"]
    for number, line in enumerate(data.decode("utf-8", "replace").splitlines(), 1):
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            return [f"{where}: trajectory.jsonl line {number} is not JSON"]
        obs = entry.get("obs") if isinstance(entry, dict) else None
        if isinstance(obs, dict) and any("private" in str(k).lower() for k in obs):
            return [f"{where}: trajectory.jsonl line {number}: an observation field is `private`"]
    return []


def _check_final_file(result: EpisodeResult, folder: Path, where: str) -> list[str]:
    """The graded submission: a regular file under `submissions/` with its recorded hash."""
    f = result.final
    if not f.graded:
        return []
    if not f.submission:
        return [f"{where}: graded, but no submission file is named"]
    sub = folder / f.submission
    why = _regular(sub, folder)
    if why is not None or Path(f.submission).parts[:1] != ("submissions",):
        why = why or "is not under submissions/"
        return [f"{where}: the final submission {f.submission!r} {why}"]
    if sha256_file(sub) != f.submission_sha256:
        return [f"{where}: {f.submission} does not match its recorded sha256 (the file was edited)"]
    return []


def _regrade_final(
    result: EpisodeResult, job: Job, folder: Path, grader: _Grader, where: str
) -> list[str] | dict[str, Any]:
    f = result.final
    if not f.graded:
        return {
            "private_score": None,
            "private_human_rank": None,
            "medal": None,
            "above_median": None,
            "implausible": False,
            "caveats": f.caveats,
            "leaderboard_kind": f.leaderboard_kind,
            "interval": None,
            "medal_probabilities": None,
        }
    sub = folder / str(f.submission)  # checked by _check_final_file
    scorer = grader.scorer(job.spec.competition, job.spec.data_seed)
    try:
        report = scorer.score(sub, part="private")
    except Exception as e:
        return [f"{where}: {f.submission} does not grade: {e}"]
    reasons = []
    if not _close(f.private_score, report.score):
        reasons.append(
            f"{where}: recorded private score {f.private_score} but the re-grade is "
            f"{report.score} (a tampered score)"
        )
    if not _close(f.private_human_rank, report.human_rank):
        reasons.append(
            f"{where}: recorded HumanRank {f.private_human_rank} but the re-grade gives "
            f"{report.human_rank}"
        )
    if reasons:
        return reasons
    return {
        "private_score": report.score,
        "private_human_rank": report.human_rank,
        "medal": report.medal,
        "above_median": report.above_median,
        "implausible": report.implausible or f.implausible,
        "caveats": list(report.caveats),
        "leaderboard_kind": report.leaderboard_kind,
        "interval": report.interval,  # from the board's own re-grade, not the bundle's claim
        "medal_probabilities": (
            None if report.medal_probabilities is None else report.medal_probabilities.model_dump()
        ),
    }


def _numbers_of(result: EpisodeResult) -> dict[str, Any]:
    """The row's numbers from a result the board itself graded (a live re-run)."""
    f = result.final
    return {
        "private_score": f.private_score if f.graded else None,
        "private_human_rank": f.private_human_rank if f.graded else None,
        "medal": f.medal if f.graded else None,
        "above_median": f.above_median if f.graded else None,
        "implausible": f.implausible,
        "caveats": list(f.caveats),
        "leaderboard_kind": f.leaderboard_kind,
        "interval": f.interval if f.graded else None,
        "medal_probabilities": f.medal_probabilities if f.graded else None,
    }


def _reproduce_all(
    graded: list[tuple[Job, dict[str, Any], EpisodeResult]],
    run_folder: Path,
    board: BoardFile,
    *,
    live: bool,
    work_dir: Path,
    cache_dir: Path | None,
) -> tuple[list[str], list[tuple[Job, dict[str, Any], EpisodeResult, Verification]]]:
    """Re-execute every episode on the board; the rows to store, or every reason to refuse."""
    from mledojo.bench.reproduce import agent_problem, compare, live_problem, reexecute

    reasons: list[str] = []
    for agent in sorted({job.agent for job, _, _ in graded}):
        why = agent_problem(agent)
        if why is not None:
            reasons.append(why)
    for job, _, _ in graded:
        unsafe = live_problem(job) if live else None
        if unsafe is not None:
            reasons.append(unsafe)
    if reasons:
        return reasons, []
    rows = []
    for job, numbers, recorded in graded:
        folder = job.folder(run_folder.parent, run_folder.name)
        where = f"{job.label} ({job.key})"
        again = reexecute(job, folder, work_dir=work_dir, live=live, cache_dir=cache_dir)
        if live:
            if again.status in INFRA_STATUSES:
                reasons.append(f"{where}: the board's live run failed on the board's side")
                continue
            rows.append((job, _numbers_of(again), again, Verification(level="live")))
            continue
        cls = board.class_of(job.spec.budget_class)
        tolerance = cls.reproduce_tolerance if cls is not None else 0.0
        verdict = compare(recorded, again, tolerance=tolerance, where=where)
        if isinstance(verdict, str):
            reasons.append(verdict)
        else:
            rows.append((job, numbers, recorded, verdict))
    return reasons, rows


def _may_replace(board_path: Path, level: Level) -> bool:
    """A stored entry of this run may be replaced only by a stronger level (an upgrade)."""
    from mledojo.leaderboard.episode import load_jsonl

    try:
        stored = load_jsonl(board_path)
    except LeaderboardError:
        return False
    return all(LEVELS.index(e.verification.level) > LEVELS.index(level) for e in stored)


def submit_run(
    run_folder: Path,
    *,
    name: str,
    board_spec: Path | None = None,
    out_dir: Path = Path("leaderboard/submissions"),
    cache_dir: Path | None = None,
    new_budget_class: bool = False,
    reproduce: bool = False,
    live: bool = False,
    work_dir: Path | None = None,
) -> SubmissionRecord:
    """Verify and re-grade `run_folder`; write the accepted entry or raise `SubmissionRejected`.

    Without `reproduce` the entry is `self-reported`. With it, every episode is re-executed
    on this machine (`mledojo.bench.reproduce`; under `work_dir`) and the entry is
    `reproduced`, or `live` with `live` (the agent's model called with this machine's keys);
    any episode that does not reproduce refuses the whole bundle.
    """
    from mledojo.competition import get_competition
    from mledojo.layout import default_runs_dir
    from mledojo.leaderboard.episode import BoardEpisode, save_jsonl

    if not NAME_RE.match(name):
        raise BenchError(f"--name {name!r}: letters, digits and ._+@- only (at most 80)")
    board = _load_board(board_spec)
    if (reproduce or live) and board is None:
        raise BenchError(
            "reproduce needs the board spec (--board-spec leaderboard/board.yaml): it pins the "
            "data seed, budget, resources and tolerance the board re-executes with"
        )
    run_folder = run_folder.resolve()
    if not (run_folder / BUNDLE_FILE).is_file():
        raise SubmissionRejected(
            [f"{run_folder}: no {BUNDLE_FILE}; a run made by `mledojo bench` has one"]
        )
    try:
        manifest = load_manifest(run_folder)
    except (OSError, ValueError, LeaderboardError) as e:
        raise SubmissionRejected([f"{BUNDLE_FILE} is not a valid bundle manifest: {e}"]) from e
    reasons = verify_manifest(run_folder, manifest)
    try:
        plan = load_plan(run_folder)
    except BenchError as e:
        raise SubmissionRejected([*reasons, str(e)]) from e
    reasons += _check_plan_against_board(plan, board)
    if board is None and not new_budget_class:
        reasons += _check_known_classes(plan, out_dir)
    grader = _Grader(cache_dir)
    graded: list[tuple[Job, dict[str, Any], EpisodeResult]] = []
    if not reasons:  # re-grading a bundle that already failed would only add noise
        for job in plan.jobs:
            problems, checked = _check_episode(job, run_folder, grader)
            reasons += problems
            if checked is not None:
                graded.append((job, *checked))
    if reasons:
        raise SubmissionRejected(reasons)
    rows = [(job, numbers, result, Verification()) for job, numbers, result in graded]
    if board is not None and (reproduce or live):
        if manifest.schema_version < 2 and not live:
            raise SubmissionRejected(
                [
                    f"{BUNDLE_FILE} is schema {manifest.schema_version}: it does not carry the "
                    "agent's LLM recording, so it cannot be reproduced; it can stay self-reported "
                    "(`leaderboard submit`), or be re-run live"
                ]
            )
        work = work_dir or default_runs_dir() / f"reproduce-{run_folder.name}"
        reasons, rows = _reproduce_all(
            graded, run_folder, board, live=live, work_dir=work.resolve(), cache_dir=cache_dir
        )
        if reasons:
            raise SubmissionRejected(reasons)
    level: Level = "live" if live else "reproduced" if reproduce else "self-reported"
    agents = sorted({j.agent for j in plan.jobs})
    hardware = _hardware(run_folder)
    episodes = []
    for job, numbers, result, verification in rows:
        label = name if len(agents) == 1 else f"{name}/{job.spec.agent.label}"
        folder = job.folder(run_folder.parent, run_folder.name)
        comp = get_competition(job.spec.competition)
        episodes.append(
            BoardEpisode(
                agent=label,
                competition=comp.id,
                competition_version=comp.spec.version,
                seed=job.spec.seed,
                data_seed=job.spec.data_seed,
                data_variant=job.spec.data_variant,
                reported_status=result.status,
                metric=result.metric,
                higher_is_better=result.higher_is_better,
                budget_class=job.spec.budget_class,
                reported_llm_tokens=result.llm.tokens,
                reported_llm_usd=result.llm.usd,
                reported_wall_time_s=result.wall_time_s,
                reported_hardware=result.hardware if result.hardware != "unknown" else hardware,
                reported_attempts=1
                if live
                else RunLayout(run_folder.parent, run_folder.name).attempts_before(job.spec) + 1,
                verification=verification,
                anytime=_anytime(folder),
                **numbers,
            )
        )
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = f"{name}--{run_folder.name}"
    board_path = out_dir / f"{stem}.board.jsonl"
    if board_path.exists() and not _may_replace(board_path, level):
        raise BenchError(f"{board_path} exists: this run was submitted under this name already")
    save_jsonl(episodes, board_path)
    record = SubmissionRecord(
        name=name,
        run_id=run_folder.name,
        accepted_at=datetime.now(UTC).isoformat(),
        bundle_sha256=sha256_file(run_folder / BUNDLE_FILE),
        episodes=len(episodes),
        budget_classes=sorted({e.budget_class for e in episodes}),
        re_graded=sum(1 for e in episodes if e.private_score is not None),
        verification=level,
        path=str(board_path),
    )
    (out_dir / f"{stem}.submission.json").write_text(record.model_dump_json(indent=2), "utf-8")
    return record


def _anytime(folder: Path) -> list[Any]:
    """The episode's progress points from its bundled trajectory (reported by the submitter,
    like the wall time they are measured in); none when it is missing or unreadable."""
    from mledojo.leaderboard.episode import anytime_points

    try:  # the bounded reader refuses a symlink or a non-regular file
        return list(anytime_points(folder / "trajectory.jsonl"))
    except (OSError, LeaderboardError):
        return []
