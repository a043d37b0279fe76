"""`mledojo bench`, `leaderboard submit` and `leaderboard reproduce`, as a typer sub-app.

    from mledojo.bench.cli import attach as attach_bench
    attach_bench(app, leaderboard_app)

`prepare_split_command` is the body of `mledojo prepare --split NAME` for the main CLI.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from mledojo._console import err, out, run_app

Opt = typer.Option


def _split_list(text: str) -> list[str]:
    return [s.strip() for s in text.split(",") if s.strip()]


def parse_seeds(text: str) -> list[int]:
    """`3` means seeds 0, 1, 2; `0,4,7` are those seeds; `2-5` is 2, 3, 4, 5."""
    from mledojo.bench.plan import BenchError

    try:
        if "," not in text and "-" not in text:
            n = int(text)
            if n < 1:
                raise BenchError("--seeds N needs N >= 1")
            return list(range(n))
        if "-" in text and "," not in text:
            lo, hi = (int(p) for p in text.split("-", 1))
            return list(range(lo, hi + 1))
        return sorted({int(p) for p in _split_list(text)})
    except ValueError as e:
        raise BenchError(
            f"--seeds {text!r}: give a count (3), a list (0,1,4) or a range (0-2)"
        ) from e


def bench(
    agents: Annotated[str, Opt(help="comma list of agents (`mledojo agents`)")] = "baseline",
    competitions: Annotated[
        str, Opt(help="comma list of competitions and splits (lite, tabular, ...)")
    ] = "lite",
    seeds: Annotated[str, Opt(help="a count (3 = seeds 0..2), a list (0,4) or a range")] = "1",
    workers: Annotated[int, Opt(help="episodes at once (also bounded by CPUs and memory)")] = 1,
    backend: Annotated[str, Opt(help="local | ray")] = "local",
    address: Annotated[str | None, Opt(help="Ray cluster address (--backend ray)")] = None,
    agent_arg: Annotated[
        list[str] | None, Opt("--agent-arg", help="AGENT:key=value for an agent (repeatable)")
    ] = None,
    sandbox: Annotated[str, Opt(help="docker | local | unsafe-local | auto")] = "auto",
    image: Annotated[
        str | None,
        Opt(help="Docker: the image episodes run, e.g. one `mledojo image extend` printed"),
    ] = None,
    data_seed: Annotated[int | None, Opt(help="data variant (default: each spec's)")] = None,
    reward: Annotated[str, Opt(help="reward mode")] = "final_only",
    max_steps: Annotated[int | None, Opt(help="budget: steps")] = None,
    time_limit: Annotated[float | None, Opt(help="budget: episode seconds")] = None,
    step_timeout: Annotated[float | None, Opt(help="budget: seconds per step")] = None,
    max_llm_usd: Annotated[float | None, Opt(help="budget: LLM dollars")] = None,
    max_llm_tokens: Annotated[int | None, Opt(help="budget: LLM tokens")] = None,
    cpus: Annotated[float | None, Opt(help="resources: CPUs per episode")] = None,
    memory_mb: Annotated[int | None, Opt(help="resources: memory per episode (MB)")] = None,
    retry: Annotated[
        list[str] | None,
        Opt(help="also rerun finished episodes that failed so: infra, grading, model"),
    ] = None,
    start_interval: Annotated[float, Opt(help="seconds between two episode starts")] = 1.0,
    runs_dir: Annotated[Path | None, Opt(help="default: $MLEDOJO_RUNS_DIR or runs")] = None,
    run_id: Annotated[str | None, Opt(help="default: derived from the bench (resumes it)")] = None,
    live: Annotated[
        bool | None, Opt("--live/--plain", help="display (default: live on a terminal)")
    ] = None,
    bundle: Annotated[bool, Opt(help="write the sha256 bundle manifest at the end")] = True,
    as_json: Annotated[bool, Opt("--json", help="print the report as JSON")] = False,
) -> None:
    """Run every (agent, competition, seed) episode; a rerun skips what finished.

    Example: `mledojo bench --agents baseline --competitions lite --seeds 3 --workers 2`

    `--image TAG` runs every episode in that image (Docker); the tag is part of each
    episode's key, so rerunning with another image plays the episodes again.
    """
    from mledojo.bench.display import make_display
    from mledojo.bench.executors import make_executor
    from mledojo.bench.plan import make_plan, parse_agent_args
    from mledojo.bench.scheduler import retry_statuses, run_bench
    from mledojo.layout import default_runs_dir

    agent_list = _split_list(agents)
    budget = _given(
        max_steps=max_steps,
        episode_time_s=time_limit,
        step_timeout_s=step_timeout,
        llm_usd=max_llm_usd,
        llm_tokens=max_llm_tokens,
    )
    plan = make_plan(
        agents=agent_list,
        competitions=_split_list(competitions),
        seeds=parse_seeds(seeds),
        agent_args=parse_agent_args(agent_arg or [], agent_list),
        data_seed=data_seed,
        sandbox=sandbox,
        reward=reward,
        budget=budget,
        resources=_given(cpus=cpus, memory_mb=memory_mb),
        image=image,
    )
    statuses = retry_statuses(retry or [])
    if image is not None:
        from mledojo.sandbox.extend import check_runnable

        check_runnable(image)  # before any episode: a typo fails here, not in every worker
    if any(j.spec.sandbox == "docker" for j in plan.jobs):
        image = _ensure_image() if image is None else image
    root = (runs_dir or default_runs_dir()).resolve()
    rid = run_id or plan.default_run_id()
    chosen = make_executor(backend, runs_dir=root, run_id=rid, address=address)
    display = make_display(err, live=live)
    try:
        report = run_bench(
            plan,
            runs_dir=root,
            run_id=rid,
            executor=chosen,
            display=display,
            workers=workers,
            retry=statuses,
            start_interval_s=start_interval,
            image=image,
        )
    except KeyboardInterrupt:
        err.print(
            f"[red]interrupted[/red]: finished episodes are kept in {root / rid}; "
            "run the same command again to resume"
        )
        raise typer.Exit(130) from None
    finally:
        chosen.close()
    if bundle:
        from mledojo.bench.bundle import write_manifest

        write_manifest(root / rid)
    if as_json:
        sys.stdout.write(report.model_dump_json(indent=2) + "\n")
    else:
        _summary(report)
    if report.infra_failures or report.unfinished or report.model_failures:
        raise typer.Exit(1)


def _given(**fields: Any) -> dict[str, Any]:
    return {k: v for k, v in fields.items() if v is not None}


def _summary(report: Any) -> None:
    counts: dict[str, int] = {}
    for o in report.outcomes.values():
        counts[o.status] = counts.get(o.status, 0) + 1
    table = Table(title=f"bench {report.run_id}", show_header=False)
    table.add_row("run folder", report.run_folder)
    table.add_row("episodes", f"{len(report.outcomes)} ({len(report.skipped)} finished earlier)")
    for status, n in sorted(counts.items()):
        table.add_row(status, str(n))
    table.add_row("graded", f"{report.graded} of {len(report.outcomes)}")
    table.add_row("infrastructure failures", str(report.infra_failures))
    table.add_row("model access failures", str(report.model_failures))
    table.add_row("agent failures", str(report.agent_failures))
    table.add_row("wall time", f"{report.wall_time_s:.1f} s")
    out.print(table)
    if report.infra_failures:
        out.print(
            "[yellow]rerun with --retry infra (sandbox, machine) and --retry grading (grader) "
            "to play the infrastructure failures again[/yellow]"
        )
    if report.model_failures:
        out.print(
            "[yellow]the agents' model could not be used (key, model name, endpoint or an "
            "outage: see each result's end_reason); fix it and rerun with --retry model[/yellow]"
        )


def _ensure_image() -> str | None:
    """Build the runtime image once, before any episode (not in every worker at once)."""
    from mledojo.sandbox.engine import docker_available
    from mledojo.sandbox.image import build_image, image_tag

    if not docker_available():
        return None  # each episode then records an infra_error naming the problem
    with err.status(f"checking the runtime image {image_tag()}") as status:
        report = build_image(progress=lambda m: status.update(str(m)))
    if not report.reused:
        err.print(report.summary())
    return image_tag()


DEFAULT_BOARD = Path("leaderboard/board.yaml")
BoardSpecOpt = Annotated[
    Path | None,
    Opt(help="the board spec (leaderboard/board.yaml: competitions, versions, data seeds, ...)"),
]
OutOpt = Annotated[Path, Opt("--out", help="where accepted entries go")]


def _board_file(board_spec: Path | None) -> Path | None:
    """The given spec file; the default one only when it exists (a board without one)."""
    if board_spec is None or board_spec.is_file():
        return board_spec
    if board_spec != DEFAULT_BOARD:
        raise typer.BadParameter(f"--board-spec {board_spec}: no such file")
    return None


def _accept(run_dir: Path, as_json: bool, **kw: Any) -> None:
    from mledojo.leaderboard.submit import SubmissionRejected, submit_run

    try:
        entry = submit_run(run_dir, **kw)
    except SubmissionRejected as e:
        if as_json:
            sys.stdout.write(json.dumps({"accepted": False, "reasons": e.reasons}, indent=2) + "\n")
        else:
            err.print(f"[red]rejected[/red] {run_dir}:")
            for reason in e.reasons:
                err.print(f"  - {reason}", highlight=False, markup=False)  # quotes the bundle
        raise typer.Exit(1) from None
    if as_json:
        sys.stdout.write(entry.model_dump_json(indent=2) + "\n")
    else:
        out.print(
            f"accepted ({entry.verification}): {entry.episodes} episode(s) re-graded, written "
            f"to {entry.path}",
            highlight=False,
        )


def submit(
    run_dir: Annotated[Path, typer.Argument(help="a bench run folder (<runs>/<run-id>)")],
    name: Annotated[str, Opt(help="the entry's name on the board")],
    board_spec: BoardSpecOpt = DEFAULT_BOARD,
    out_dir: OutOpt = Path("leaderboard/submissions"),
    cache_dir: Annotated[Path | None, Opt(help="data cache root")] = None,
    new_budget_class: Annotated[
        bool, Opt(help="without --board-spec: accept a budget class the board has not seen")
    ] = False,
    as_json: Annotated[bool, Opt("--json", help="print the verdict as JSON")] = False,
) -> None:
    """Verify a run's bundle, re-grade every submission on the host, store a self-reported entry.

    Example: `mledojo leaderboard submit runs/bench-1a2b3c4d5e6f --name my-agent`
    """
    _accept(
        run_dir,
        as_json,
        name=name,
        board_spec=_board_file(board_spec),
        out_dir=out_dir,
        cache_dir=cache_dir,
        new_budget_class=new_budget_class,
    )


def reproduce(
    run_dir: Annotated[Path, typer.Argument(help="a bench run folder (<runs>/<run-id>)")],
    name: Annotated[str, Opt(help="the entry's name on the board")],
    board_spec: BoardSpecOpt = DEFAULT_BOARD,
    out_dir: OutOpt = Path("leaderboard/submissions"),
    cache_dir: Annotated[Path | None, Opt(help="data cache root")] = None,
    live: Annotated[
        bool, Opt(help="re-run the agent's model calls with this machine's keys (no replay)")
    ] = False,
    work_dir: Annotated[
        Path | None, Opt(help="where the re-executed episodes go (default: runs/reproduce-<id>)")
    ] = None,
    as_json: Annotated[bool, Opt("--json", help="print the verdict as JSON")] = False,
) -> None:
    """Verify, re-grade and re-execute every episode of a bundle on this machine (the board's).

    Accepted as `reproduced` when each re-executed submission equals the bundle's (or its
    private score is within the board's tolerance), as `live` with --live; else refused.

    Example: `mledojo leaderboard reproduce runs/bench-1a2b3c4d5e6f --name my-agent`
    """
    spec_file = _board_file(board_spec)
    if spec_file is None:
        raise typer.BadParameter(f"--board-spec {board_spec}: reproduce needs the board spec")
    _ensure_image()
    _accept(
        run_dir,
        as_json,
        name=name,
        board_spec=spec_file,
        out_dir=out_dir,
        cache_dir=cache_dir,
        reproduce=True,
        live=live,
        work_dir=work_dir,
    )


def prepare_split_command(
    split: str, *, data_seed: int | None, cache_dir: Path | None, raw_dir: Path | None, force: bool
) -> int:
    """Body of `mledojo prepare --split NAME`: a table of what was built; 1 if any failed."""
    from mledojo.bench.prepare import prepare_split

    rows = prepare_split(
        split,
        data_seeds=[data_seed],
        cache_dir=cache_dir,
        raw_dir=raw_dir,
        force=force,
        progress=lambda m: err.print(f"[dim]{m}[/dim]"),
    )
    table = Table("competition", "data seed", "state", "detail")
    for r in rows:
        style = "red" if r.state == "failed" else "green"
        table.add_row(r.competition, str(r.data_seed), f"[{style}]{r.state}[/{style}]", r.detail)
    out.print(table)
    return 1 if any(r.state == "failed" for r in rows) else 0


def attach(app: typer.Typer, leaderboard_group: typer.Typer | None = None) -> None:
    """Add `bench` to `app` and `submit` to the `leaderboard` group (when given)."""
    app.command("bench")(bench)
    if leaderboard_group is not None:
        leaderboard_group.command("submit")(submit)
        leaderboard_group.command("reproduce")(reproduce)


def main() -> None:
    """`python -m mledojo.bench.cli bench ...` / `... submit ...` on their own."""
    standalone = typer.Typer(no_args_is_help=True, pretty_exceptions_enable=False)
    standalone.command("bench")(bench)
    standalone.command("submit")(submit)
    standalone.command("reproduce")(reproduce)
    run_app(standalone)


if __name__ == "__main__":
    main()
