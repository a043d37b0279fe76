"""The `mledojo` command: list, info, prepare, grade, run, image, cleanup."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Literal

import typer
from rich.console import Console
from rich.table import Table

from mledojo.errors import MLEDojoError

app = typer.Typer(
    help="mledojo: machine-learning engineering competitions as Gymnasium environments.\n\n"
    "Examples:\n\n"
    "  mledojo list --split lite\n\n"
    "  mledojo prepare pump-failure --data-seed 1\n\n"
    "  mledojo grade pump-failure submission.csv --part private\n\n"
    "  mledojo run pump-failure --agent baseline --seed 0",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",
)
image_app = typer.Typer(help="The runtime image the episode containers run.", no_args_is_help=True)
app.add_typer(image_app, name="image")
out = Console(width=None if sys.stdout.isatty() else 160)
err = Console(stderr=True, width=None if sys.stderr.isatty() else 160)

SUSPECT_ROW = ("[red]suspect[/red]", "[red]past the honest ceiling; see the note[/red]")
SplitOpt = Annotated[str, typer.Option("--split", help="all | tabular | lite | synthetic | kaggle")]
SeedOpt = Annotated[
    int | None, typer.Option("--data-seed", help="data variant (default: the spec's seed)")
]
CacheOpt = Annotated[
    Path | None, typer.Option("--cache-dir", help="data cache root (env MLEDOJO_CACHE_DIR)")
]
RawOpt = Annotated[
    Path | None, typer.Option("--raw-dir", help="folder with the raw Kaggle files (offline)")
]


@app.command("list")
def list_cmd(split: SplitOpt = "all") -> None:
    """List competitions (and broken competition folders, beside them).

    Example: `mledojo list --split tabular`
    """
    from mledojo.competition import discover

    cat = discover()
    table = Table("id", "version", "task", "metric", "leaderboard", "tags")
    for comp in cat.latest():
        s = comp.spec
        if split != "all" and split not in s.tags:
            continue
        arrow = "↑" if s.metric.higher_is_better else "↓"
        board = s.leaderboard.kind if s.leaderboard else "-"
        table.add_row(
            s.id, str(s.version), s.task, f"{s.metric.name} {arrow}", board, ", ".join(s.tags)
        )
    out.print(table)
    for broken in cat.broken:
        err.print(f"[red]broken competition[/red] {broken}")


@app.command()
def info(competition: str) -> None:
    """Show one competition's spec and description.

    Example: `mledojo info pump-failure`
    """
    from mledojo.competition import get_competition

    comp = get_competition(competition)
    out.print(comp.spec.model_dump_json(indent=2))
    out.print(comp.description_text())


@app.command("prepare")
def prepare_cmd(
    competition: str,
    data_seed: SeedOpt = None,
    cache_dir: CacheOpt = None,
    raw_dir: RawOpt = None,
    force: Annotated[bool, typer.Option(help="rebuild even when cached")] = False,
) -> None:
    """Prepare a competition's data (cached and checksummed; a second call is instant).

    Example: `mledojo prepare spaceship-titanic --raw-dir ~/downloads/spaceship-titanic`
    """
    from mledojo.data.prepare import prepare

    data = prepare(
        competition,
        data_seed=data_seed,
        cache_dir=cache_dir,
        raw_dir=raw_dir,
        force=force,
        progress=lambda m: err.print(f"[dim]{m}[/dim]"),
    )
    state = "reused (checksums verified)" if data.reused else "built"
    out.print(f"{data.competition_id} v{data.version} seed {data.data_seed}: {state}")
    out.print(f"public:  {data.public_dir}\nprivate: {data.private_dir}")


@app.command()
def grade(
    competition: str,
    submission: Path,
    part: Annotated[str, typer.Option(help="public | private | all")] = "private",
    data_seed: SeedOpt = None,
    cache_dir: CacheOpt = None,
    raw_dir: RawOpt = None,
) -> None:
    """Grade a submission CSV against the hidden answers; prints score, HumanRank, medal.

    Example: `mledojo grade pump-failure submission.csv --part public`
    """
    from mledojo.competition import get_competition
    from mledojo.data.prepare import prepare
    from mledojo.grading.scorer import Scorer

    if part not in ("public", "private", "all"):
        raise typer.BadParameter("--part must be public, private or all")
    comp = get_competition(competition)
    data = prepare(comp, data_seed=data_seed, cache_dir=cache_dir, raw_dir=raw_dir)
    report = Scorer(comp, data).score(submission, part=part)  # type: ignore[arg-type]
    table = Table(title=f"{comp.id}: {submission}", show_header=False)
    table.add_row(
        "metric", f"{report.metric} ({'higher' if report.higher_is_better else 'lower'} is better)"
    )
    table.add_row(f"score ({part} part)", f"{report.score:.6g}")
    if report.human_rank is not None:
        who = "humans" if report.leaderboard_kind == "kaggle" else "reference pool, not humans"
        table.add_row(
            "HumanRank", f"{report.human_rank:.4f} (vs {report.n_entries} entries, {who})"
        )
        table.add_row("medal", report.medal or "none")
        table.add_row("above median", str(report.above_median))
    if report.implausible:
        table.add_row(*SUSPECT_ROW)
    out.print(table)
    for caveat in report.caveats:
        out.print(f"[yellow]note:[/yellow] {caveat}")


@app.command()
def run(
    competition: str,
    agent: Annotated[str, typer.Option(help="agent name (mledojo agents)")] = "baseline",
    seed: Annotated[int, typer.Option(help="episode seed")] = 0,
    sandbox: Annotated[str, typer.Option(help="docker | local | unsafe-local | auto")] = "auto",
    data_seed: SeedOpt = None,
    runs_dir: Annotated[
        Path | None, typer.Option(help="where run folders go (default: $MLEDOJO_RUNS_DIR or runs)")
    ] = None,
    run_id: Annotated[str | None, typer.Option(help="reuse a run id to resume")] = None,
) -> None:
    """Run an agent on a competition in a sandbox and print its result.

    Example: `mledojo run pump-failure --agent baseline --seed 0 --sandbox docker`
    """
    from mledojo.runner import episode_dir, new_run_id, run_episode
    from mledojo.sandbox import SANDBOX_KINDS

    if sandbox not in SANDBOX_KINDS:
        raise typer.BadParameter(f"--sandbox must be one of {', '.join(SANDBOX_KINDS)}")
    if sandbox in ("docker", "auto"):
        _ensure_image(required=sandbox == "docker")
    from mledojo.artifacts import default_runs_dir

    runs_dir = runs_dir or default_runs_dir()
    rid = run_id or new_run_id()
    with err.status(f"running {agent} on {competition} (seed {seed})"):
        result = run_episode(
            competition,
            agent,
            seed=seed,
            runs_dir=runs_dir,
            run_id=rid,
            env_kwargs={"sandbox": sandbox, "data_seed": data_seed},
        )
    f = result.final
    table = Table(title=f"{agent} on {competition}", show_header=False)
    table.add_row("status", f"{result.status} ({result.end_reason})")
    table.add_row(f"private {result.metric}", _fmt(f.private_score))
    table.add_row("best public score", _fmt(result.best_public_score))
    if f.private_human_rank is not None:
        who = "human teams" if f.leaderboard_kind == "kaggle" else "reference pool, not humans"
        table.add_row("HumanRank", f"{f.private_human_rank:.4f} (vs {f.leaderboard_entries} {who})")
        table.add_row("medal", f.medal or "none")
    if f.implausible:
        table.add_row(*SUSPECT_ROW)
    table.add_row("steps", str(result.steps))
    table.add_row("wall time", f"{result.wall_time_s:.1f} s")
    table.add_row("run folder", str(episode_dir(runs_dir, rid, competition, agent, seed)))
    out.print(table)
    for caveat in f.caveats:
        out.print(f"[yellow]note:[/yellow] {caveat}")
    if result.status != "completed":
        raise typer.Exit(1)


def _fmt(v: float | None) -> str:
    return "-" if v is None else f"{v:.6g}"


def _ensure_image(*, required: bool) -> None:
    from mledojo.sandbox.docker import docker_available
    from mledojo.sandbox.image import build_image, image_tag

    if not docker_available():
        if required:
            from mledojo.errors import DockerUnavailableError

            raise DockerUnavailableError()
        return
    with err.status(f"checking the runtime image {image_tag()}") as status:
        report = build_image(progress=lambda m: status.update(str(m)))
    if not report.reused:
        err.print(report.summary())


@image_app.command("build")
def image_build(
    method: Annotated[str, typer.Option(help="auto | online | offline")] = "auto",
    force: Annotated[bool, typer.Option(help="rebuild even if the tag exists")] = False,
) -> None:
    """Build the runtime image (a no-op when the hash-tagged image exists).

    Example: `mledojo image build --method offline`
    """
    from mledojo.sandbox.image import build_image

    if method not in ("auto", "online", "offline"):
        raise typer.BadParameter("--method must be auto, online or offline")
    m: Literal["auto", "online", "offline"] = method  # type: ignore[assignment]
    report = build_image(m, force=force, progress=lambda msg: err.print(f"[dim]{msg}[/dim]"))
    out.print(report.summary())


@app.command()
def cleanup(
    run: Annotated[str | None, typer.Option(help="only containers of this run id")] = None,
    all_: Annotated[
        bool, typer.Option("--all", help="also episodes whose owner process still runs")
    ] = False,
    yes: Annotated[bool, typer.Option("--yes", help="do not ask before --all")] = False,
) -> None:
    """Remove what crashed runs left behind: containers and control folders of dead owners.

    Live episodes (their owner process still runs) are kept unless `--all` is given, which
    asks first (or not, with `--yes`).
    """
    from mledojo.sandbox.cleanup import find_labelled, reap_control_dirs, reap_orphans, remove

    if all_:
        live = find_labelled(run)
        if live and not yes:
            typer.confirm(f"remove {len(live)} container(s), live episodes included?", abort=True)
        removed = remove(live)
    else:
        removed = reap_orphans(run)
    folders = reap_control_dirs()
    out.print(
        f"removed {len(removed)} container(s)" + (": " + ", ".join(removed) if removed else "")
    )
    if folders:
        out.print(f"removed {len(folders)} stale control folder(s): {', '.join(folders)}")


def main() -> None:
    """Entry point: one clear line on a known error, no traceback, non-zero exit."""
    try:
        app()
    except MLEDojoError as e:
        err.print(f"[red]error:[/red] {e}", highlight=False)
        sys.exit(1)
    except KeyboardInterrupt:
        err.print("[red]interrupted[/red]")
        sys.exit(130)


if __name__ == "__main__":
    main()
