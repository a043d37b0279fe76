"""The `mledojo` command: list, info, prepare, grade, run, image, cleanup."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import typer
from rich.markup import escape
from rich.table import Table

from mledojo._console import err, out, run_app
from mledojo.bench.cli import attach as attach_bench
from mledojo.bot.cli import attach as attach_bot
from mledojo.competition import SPLITS
from mledojo.leaderboard.cli import attach as attach_leaderboard

if TYPE_CHECKING:
    from mledojo.grading.audit import AuditReport

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
leaderboard_app = attach_leaderboard(app)
attach_bench(app, leaderboard_app)  # `bench`, and `leaderboard submit`
attach_bot(app)  # `bot`: the MLE-Bot on any CSV

SUSPECT_ROW = ("[red]suspect[/red]", "[red]past the honest ceiling; see the note[/red]")
SplitOpt = Annotated[
    str, typer.Option("--split", help=f"a split ({' | '.join(SPLITS)}) or any tag")
]
SeedOpt = Annotated[
    int | None, typer.Option("--data-seed", help="data variant (default: the spec's seed)")
]
CacheOpt = Annotated[
    Path | None, typer.Option("--cache-dir", help="data cache root (env MLEDOJO_CACHE_DIR)")
]
RawOpt = Annotated[
    Path | None, typer.Option("--raw-dir", help="folder with the raw Kaggle files (offline)")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="print JSON instead of a table")]


def _version(value: bool) -> None:
    if value:
        from mledojo import __version__

        out.print(f"mledojo {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="print the version")
    ] = False,
) -> None:
    pass


@app.command("list")
def list_cmd(split: SplitOpt = "all", as_json: JsonOpt = False) -> None:
    """List competitions (and broken competition folders, beside them).

    Example: `mledojo list --split tabular`
    """
    from mledojo.competition import discover

    cat = discover()
    if as_json:
        rows = [
            {**c.spec.model_dump(mode="json"), "versioned_id": c.spec.versioned_id}
            for c in cat.latest()
            if split == "all" or split in c.spec.tags
        ]
        problems = [str(b) for b in cat.broken]
        _print_json({"competitions": rows, "broken": problems})
        return
    table = Table("id", "version", "task", "metric", "leaderboard", "medals", "tags")
    for comp in cat.latest():
        s = comp.spec
        if split != "all" and split not in s.tags:
            continue
        arrow = "↑" if s.metric.higher_is_better else "↓"
        board = s.leaderboard.kind if s.leaderboard else "-"
        medals = s.leaderboard.medals if s.leaderboard else "-"
        table.add_row(
            s.id,
            str(s.version),
            s.task,
            f"{s.metric.name} {arrow}",
            board,
            medals,
            ", ".join(s.tags),
        )
    out.print(table)
    latest = cat.latest()
    counts = [
        f"{name} ({sum(name == 'all' or name in c.spec.tags for c in latest)})" for name in SPLITS
    ]
    out.print("splits (--split): " + ", ".join(counts))
    for broken in cat.broken:
        err.print(f"[red]broken competition[/red] {broken}")


@app.command()
def info(competition: str, as_json: JsonOpt = False) -> None:
    """Show one competition's spec and description.

    Example: `mledojo info pump-failure`
    """
    from mledojo.competition import get_competition

    comp = get_competition(competition)
    if as_json:
        payload = {**comp.spec.model_dump(mode="json"), "description_text": comp.description_text()}
        _print_json(payload)
        return
    out.print(comp.spec.model_dump_json(indent=2))
    board = comp.spec.leaderboard
    if board is not None:
        note = f": {board.medals_note}" if board.medals_note else ""
        out.print(f"Medals: {board.medals}{note} (docs/scoring.md, 'Medals and implausibility')")
    out.print(comp.description_text())


@app.command("prepare")
def prepare_cmd(
    competition: Annotated[str | None, typer.Argument(help="one competition id")] = None,
    split: Annotated[
        str | None, typer.Option("--split", help="prepare a whole split (lite, kaggle, ...)")
    ] = None,
    data_seed: SeedOpt = None,
    cache_dir: CacheOpt = None,
    raw_dir: RawOpt = None,
    force: Annotated[bool, typer.Option(help="rebuild even when cached")] = False,
) -> None:
    """Prepare a competition's data (cached and checksummed; a second call is instant).

    Example: `mledojo prepare spaceship-titanic --raw-dir ~/downloads/spaceship-titanic`,
    `mledojo prepare --split lite`
    """
    from mledojo.data.prepare import prepare

    if split is not None:
        from mledojo.bench.cli import prepare_split_command

        raise typer.Exit(
            prepare_split_command(
                split, data_seed=data_seed, cache_dir=cache_dir, raw_dir=raw_dir, force=force
            )
        )
    if competition is None:
        raise typer.BadParameter("name a competition, or a split with --split")

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


@app.command("audit")
def audit_cmd(
    competition: str,
    data_seed: SeedOpt = None,
    cache_dir: CacheOpt = None,
    raw_dir: RawOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Run the leak audit on a competition (yours too) and say what its medals mean.

    It prepares the data, then checks every public file for the answers or a near-copy of
    them, train rows repeating test rows, look-ahead in time series, that a perfect
    submission earns gold and the sample none, and grades a plain reference solution to
    measure whether a medal means anything. Exits 1 when a check fails.

    Example: `mledojo audit spaceship-titanic`
    """
    from mledojo.competition import get_competition
    from mledojo.data.prepare import prepare
    from mledojo.grading.audit import audit

    comp = get_competition(competition)
    data = prepare(
        comp,
        data_seed=data_seed,
        cache_dir=cache_dir,
        raw_dir=raw_dir,
        progress=lambda m: err.print(f"[dim]{m}[/dim]"),
    )
    with err.status(f"auditing {comp.spec.versioned_id}"):
        report = audit(comp, data)
    if as_json:
        _print_json({**report.model_dump(mode="json"), "passed": report.passed})
    else:
        _print_audit(report)
    if not report.passed:
        raise typer.Exit(1)


def _print_audit(report: AuditReport) -> None:
    # file, column and board names come from the competition's files: printed as text
    table = Table("check", "result", title=f"leak audit: {escape(report.competition)}")
    table.add_row("files looked at", escape(", ".join(report.files)))
    table.add_row("a perfect submission earns", report.perfect_medal or "no medal")
    table.add_row("the sample submission earns", report.sample_medal or "no medal")
    if report.reused_ids:
        table.add_row("test ids naming another train row", f"{report.reused_ids} (harmless)")
    for name, strength in report.declared_strong.items():
        table.add_row(f"declared strong: {escape(name)}", f"{strength:.3f}")
    medals = report.medals
    if medals is not None:
        table.add_row("medals (measured / declared)", f"{medals.measured} / {medals.declared}")
        table.add_row(
            "plain reference solution",
            f"{medals.reference_score:.6g} ({medals.reference_medal or 'no medal'}); "
            f"honest board top {medals.honest_top:.6g}",
        )
        table.add_row("private rows", f"{medals.private_rows:,}")
        table.add_row("what a medal means", escape(medals.note))
    out.print(table)
    for finding in report.findings:
        where = finding.file + (f" column `{finding.column}`" if finding.column else "")
        text = escape(f"{finding.check} in {where}: {finding.message}")
        out.print(f"[red]FAIL[/red] {text}", highlight=False)
    out.print("passed: no leak found" if report.passed else f"{len(report.findings)} finding(s)")


@app.command()
def grade(
    competition: str,
    submission: Path,
    part: Annotated[str, typer.Option(help="public | private | all")] = "private",
    data_seed: SeedOpt = None,
    cache_dir: CacheOpt = None,
    raw_dir: RawOpt = None,
    as_json: JsonOpt = False,
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
    report = Scorer(comp, data).score(submission, part=part, interval=True)  # type: ignore[arg-type]
    if as_json:
        _print_json(report.model_dump(mode="json"))
        return
    table = Table(title=f"{comp.id}: {submission}", show_header=False)
    table.add_row(
        "metric", f"{report.metric} ({'higher' if report.higher_is_better else 'lower'} is better)"
    )
    table.add_row(f"score ({part} part)", f"{report.score:.6g}")
    table.add_row("95 % interval", interval_text(report.interval, report.n_rows))
    if report.human_rank is not None:
        who = "humans" if report.leaderboard_kind == "kaggle" else "reference pool, not humans"
        table.add_row(
            "HumanRank", f"{report.human_rank:.4f} (vs {report.n_entries} entries, {who})"
        )
        medals = report.medals_status
        plain = medals in (None, "informative")
        table.add_row("medal", (report.medal or "none") + ("" if plain else f" (medals {medals})"))
        probs = report.medal_probabilities
        table.add_row("medal chances", medal_chances_text(probs.model_dump() if probs else None))
        table.add_row("above median", str(report.above_median))
    if report.implausible:
        table.add_row(*SUSPECT_ROW)
    out.print(table)
    for caveat in report.caveats:
        out.print(f"[yellow]note:[/yellow] {caveat}")


AgentOpt = Annotated[
    str, typer.Option(help="agent: a name (`mledojo agents`), path/to/agent.py or module:Class")
]
AgentArgOpt = Annotated[
    list[str] | None,
    typer.Option("--agent-arg", help="k=v given to the agent's constructor (repeatable)"),
]


@app.command()
def run(
    competition: str,
    agent: AgentOpt = "baseline",
    agent_arg: AgentArgOpt = None,
    seed: Annotated[int, typer.Option(help="episode seed")] = 0,
    sandbox: Annotated[str, typer.Option(help="docker | local | unsafe-local | auto")] = "auto",
    data_seed: SeedOpt = None,
    reward: Annotated[str, typer.Option(help="reward mode (see docs/usage.md)")] = "final_only",
    mode: Annotated[
        str | None,
        typer.Option(help="evaluation | training (default: evaluation on the evaluation split)"),
    ] = None,
    max_steps: Annotated[int | None, typer.Option(help="budget: steps")] = None,
    time_limit: Annotated[float | None, typer.Option(help="budget: episode seconds")] = None,
    step_timeout: Annotated[float | None, typer.Option(help="budget: seconds per step")] = None,
    max_llm_usd: Annotated[float | None, typer.Option(help="budget: LLM dollars")] = None,
    max_llm_tokens: Annotated[int | None, typer.Option(help="budget: LLM tokens")] = None,
    cpus: Annotated[float | None, typer.Option(help="resources: CPUs for the episode")] = None,
    memory_mb: Annotated[int | None, typer.Option(help="resources: memory (MB)")] = None,
    model: Annotated[
        str | None,
        typer.Option(help="LLM agents: openai/..., anthropic/..., openai-compatible/..., rules"),
    ] = None,
    model_base_url: Annotated[
        str | None, typer.Option(help="LLM agents: an OpenAI-compatible server's URL")
    ] = None,
    max_iterations: Annotated[int | None, typer.Option(help="LLM agents: design rounds")] = None,
    llm_replay: Annotated[
        Path | None, typer.Option(help="LLM agents: replay the model calls of an episode folder")
    ] = None,
    runs_dir: Annotated[
        Path | None, typer.Option(help="where run folders go (default: $MLEDOJO_RUNS_DIR or runs)")
    ] = None,
    run_id: Annotated[str | None, typer.Option(help="reuse a run id to resume")] = None,
    image: Annotated[
        str | None,
        typer.Option(help="Docker: the image to run, e.g. one `mledojo image extend` printed"),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Run an agent on a competition in a sandbox and print its result.

    LLM options (`--model`, `--model-base-url`, `--max-iterations`, `--llm-replay`) are the
    agent's arguments, like `--agent-arg model=...`; an agent that takes none says so.

    Example: `mledojo run pump-failure --agent baseline --seed 0 --sandbox docker`
    """
    from mledojo.agent import make_agent
    from mledojo.layout import RunLayout
    from mledojo.play import run_episode
    from mledojo.resolve import resolve_spec

    budget = {
        k: v
        for k, v in {
            "max_steps": max_steps,
            "episode_time_s": time_limit,
            "step_timeout_s": step_timeout,
            "llm_usd": max_llm_usd,
            "llm_tokens": max_llm_tokens,
        }.items()
        if v is not None
    }
    agent_args = parse_agent_args(agent_arg or [])
    llm_args = {
        "model": model,
        "model_base_url": model_base_url,
        "max_iterations": max_iterations,
        "llm_replay": str(llm_replay) if llm_replay else None,
    }
    agent_args.update({k: v for k, v in llm_args.items() if v is not None})
    try:  # names first: no image build for a typo
        episode = resolve_spec(
            competition,
            agent=agent,
            agent_args=agent_args,
            seed=seed,
            data_seed=data_seed,
            sandbox=sandbox,
            reward=reward,
            budget=budget,
            resources={
                k: v for k, v in {"cpus": cpus, "memory_mb": memory_mb}.items() if v is not None
            },
            mode=mode,
            image=image,
        )
    except ValueError as e:
        raise typer.BadParameter(str(e)) from e
    spec = episode.spec
    agent_obj = make_agent(agent, dict(spec.agent.args))
    if spec.image is not None:
        _check_image(spec.image)
    elif spec.sandbox == "docker":
        _ensure_image(required=True)
    layout = RunLayout(runs_dir, run_id)
    with _LiveStatus(f"{agent} on {spec.competition} (seed {seed})", spec.budget) as live:
        result = run_episode(
            episode,
            layout=layout,
            agent=agent_obj,
            env_kwargs={"on_step": live.update},
        )
    folder = layout.finished(spec) or layout.episode_folder(spec)
    if as_json:
        _print_json({"run_dir": str(folder), **result.model_dump(mode="json")})
    else:
        out.print(_result_table(result, f"{agent} on {competition}", folder))
        for caveat in result.final.caveats:
            out.print(f"[yellow]note:[/yellow] {caveat}")
    if result.status not in ("completed", "timeout"):
        raise typer.Exit(1)


def parse_agent_args(items: list[str]) -> dict[str, str | int | float | bool | None]:
    """`k=v` pairs; values read as JSON when they parse (`3`, `true`, `0.5`), else as text."""
    args: dict[str, str | int | float | bool | None] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise typer.BadParameter(f"--agent-arg {item!r}: expected key=value")
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError:
            parsed = value
        if not isinstance(parsed, str | int | float | bool | type(None)):
            parsed = value
        args[key.strip()] = parsed
    return args


class _LiveStatus:
    """A one-line live counter on stderr: step, elapsed time, best public score."""

    def __init__(self, title: str, budget: Any) -> None:
        self.title, self.budget = title, budget
        self.t0 = time.monotonic()
        self._status: Any = None

    def __enter__(self) -> _LiveStatus:
        self._status = err.status(f"running {self.title}")
        self._status.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._status.__exit__(*exc)

    def update(self, steps: int, obs: dict[str, Any]) -> None:
        best = obs.get("best_public_score")
        text = (
            f"running {self.title}: step {steps}/{self.budget.max_steps}, "
            f"{time.monotonic() - self.t0:.0f} s, best public "
            + ("-" if best is None else f"{best:.5g}")
        )
        try:
            if sys.stderr.isatty():
                self._status.update(text)
            else:
                err.print(text, highlight=False)
        except OSError:  # a closed terminal or pipe must not end the episode
            pass


def interval_text(interval: tuple[float, float] | None, n_rows: int | None) -> str:
    """`0.81 to 0.85 (bootstrap over 609 rows)`, or why there is none."""
    if interval is None:
        return "none (not computed, or the metric is undefined on most resamples)"
    rows = f" over {n_rows:,} rows" if n_rows is not None else " over the graded rows"
    return f"{interval[0]:.6g} to {interval[1]:.6g} (bootstrap{rows})"


def medal_chances_text(probabilities: dict[str, float] | None) -> str:
    """`gold 12%, silver+ 40%, bronze+ 71%`: shares of resamples at or past each threshold."""
    if probabilities is None:
        return "none computed"
    p = probabilities
    return (
        f"gold {p['gold']:.0%}, silver or better {p['silver']:.0%}, any medal "
        f"{p['bronze']:.0%} (share of bootstrap resamples)"
    )


def _result_table(result: Any, title: str, folder: Path) -> Table:
    f = result.final
    table = Table(title=title, show_header=False)
    table.add_row("status", f"{result.status} ({result.end_reason})")
    if result.spec is not None:
        shown = "the agent saw it" if result.spec.mode == "training" else "hidden from the agent"
        table.add_row("mode", f"{result.spec.mode} (private score {shown})")
    table.add_row(f"private {result.metric}", _fmt(f.private_score))
    if f.graded:
        table.add_row("95 % interval", interval_text(f.interval, None))
    table.add_row("best public score", _fmt(result.best_public_score))
    if f.private_human_rank is not None:
        who = "human teams" if f.leaderboard_kind == "kaggle" else "reference pool, not humans"
        table.add_row("HumanRank", f"{f.private_human_rank:.4f} (vs {f.leaderboard_entries} {who})")
        table.add_row("medal", f.medal or "none")
        table.add_row("medal chances", medal_chances_text(f.medal_probabilities))
    if f.implausible:
        table.add_row(*SUSPECT_ROW)
    box = result.sandbox
    kind = box.kind if box.kind == "docker" else f"[red]{box.kind} (weaker isolation)[/red]"
    faults = (
        f", {box.errors} error(s), {box.restarts} restart(s)" if box.errors or box.restarts else ""
    )
    table.add_row("sandbox", kind + faults)
    model = result.spec.agent.args.get("model") if result.spec is not None else None
    if model is not None:
        table.add_row("model", "rules (no LLM)" if model == "rules" else str(model))
    if result.llm.calls:
        table.add_row(
            "LLM", f"{result.llm.calls} calls, {result.llm.tokens:,} tokens, ${result.llm.usd:.4f}"
        )
    table.add_row("steps", str(result.steps))
    table.add_row("wall time", f"{result.wall_time_s:.1f} s")
    table.add_row("run folder", str(folder))
    return table


@app.command()
def agents(
    names: Annotated[
        list[str] | None, typer.Argument(help="with --install: only these agents (names or files)")
    ] = None,
    as_json: JsonOpt = False,
    install: Annotated[
        bool,
        typer.Option(
            "--install",
            help="install the cached virtual environment of every wrapped agent now, instead "
            "of in its first episode (before a bench, or on a machine about to go offline)",
        ),
    ] = False,
) -> None:
    """List the agents `--agent` accepts by name (files and module:Class work too).

    Example: `mledojo agents`, `mledojo agents --install`, `mledojo agents --install aide`
    """
    from mledojo.agent import available_agents

    found = available_agents()
    if install:
        _install_agent_venvs(names or list(found))
        return
    if names:
        raise typer.BadParameter("agent names are for --install; `mledojo agents` lists them all")
    if as_json:
        _print_json(found)
        return
    table = Table("agent", "from")
    for name, where in found.items():
        table.add_row(name, where)
    out.print(table)


def _install_agent_venvs(names: list[str]) -> None:
    """Install (or find ready) the venv of each agent that runs from its own (`venv`)."""
    from mledojo.adapters.venv import VenvInstallError, VenvSpec, ensure_venv
    from mledojo.agent import load_agent

    for name in names:
        spec = getattr(load_agent(name), "venv", None)
        if not isinstance(spec, VenvSpec):
            continue
        try:
            venv = ensure_venv(spec, progress=lambda m: err.print(f"[dim]{m}[/dim]"))
        except VenvInstallError as e:
            err.print(f"[red]error:[/red] {name}: {e}")
            raise typer.Exit(1) from None
        size_mb = venv.record.size_bytes / 1e6
        out.print(
            f"{name}: {venv.path} ({size_mb:.0f} MB, installed in {venv.record.install_s:.0f} s)"
        )


def _print_json(payload: object) -> None:
    """Machine-readable output: plain JSON on stdout, never wrapped or coloured."""
    sys.stdout.write(json.dumps(payload, indent=2) + "\n")


def _fmt(v: float | None) -> str:
    return "-" if v is None else f"{v:.6g}"


def _check_image(tag: str) -> None:
    """`--image`: the image exists here and can run episodes (before any episode starts)."""
    from mledojo.errors import SandboxError
    from mledojo.sandbox.extend import check_runnable

    try:
        check_runnable(tag)
    except SandboxError as e:
        raise typer.BadParameter(str(e)) from e


def _ensure_image(*, required: bool) -> None:
    from mledojo.sandbox.engine import docker_available
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


@image_app.command("list")
def image_list(as_json: JsonOpt = False) -> None:
    """List the runtime, extended and base images mledojo built; `current` is the one
    episodes use by default, `built on` the runtime image an extended one adds to.

    Example: `mledojo image list`
    """
    from mledojo.sandbox.image import list_images

    images = list_images()
    if as_json:
        _print_json([i.model_dump() for i in images])
        return
    table = Table("tag", "kind", "size", "created", "current", "built on")
    for i in images:
        current = "yes" if i.current else ""
        table.add_row(i.tag, i.kind, f"{i.size_mb} MB", i.created, current, i.base)
    out.print(table)


@image_app.command("extend")
def image_extend(
    requirements: Annotated[
        Path | None,
        typer.Option("--requirements", "-r", help="pinned requirement lines to add"),
    ] = None,
    wheels: Annotated[
        Path | None, typer.Option(help="a folder of your own wheels (*.whl) to add")
    ] = None,
    force: Annotated[bool, typer.Option(help="rebuild even if the tag exists")] = False,
) -> None:
    """Build the runtime image plus extra packages, offline, and print its tag.

    Wheels come from the host's package index (`-r`) and/or your folder (`--wheels`); the
    runtime's own pins cannot change. Run an episode in it with `mledojo run --image TAG`.

    Example: `mledojo image extend -r extra-requirements.txt`
    """
    from mledojo.errors import ImageBuildError
    from mledojo.sandbox.extend import extend_image

    try:
        report = extend_image(
            requirements=requirements,
            wheels=wheels,
            force=force,
            progress=lambda msg: err.print(f"[dim]{msg}[/dim]"),
        )
    except ImageBuildError as e:
        err.print(f"[red]error:[/red] {e}")
        raise typer.Exit(1) from None
    err.print(report.summary())
    sys.stdout.write(report.tag + "\n")


@image_app.command("clean")
def image_clean() -> None:
    """Remove every mledojo image but the current one and the base its next build uses
    (an image a container still uses is kept).

    Example: `mledojo image clean`
    """
    from mledojo.sandbox.image import remove_images

    removed = remove_images(keep_current=True)
    for name in removed:
        out.print(f"removed {name}")
    if not removed:
        out.print("nothing to remove")


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
    from mledojo.sandbox.cleanup import (
        find_labelled,
        reap_control_dirs,
        reap_orphans,
        reap_volumes,
        remove,
    )
    from mledojo.sandbox.engine import docker_available

    if not docker_available():
        out.print("Docker is not reachable: containers were not looked at (start it and rerun)")
    else:
        if all_:
            live = find_labelled(run)
            if live and not yes:
                typer.confirm(
                    f"remove {len(live)} container(s), live episodes included?", abort=True
                )
            removed = remove(live)
        else:
            removed = reap_orphans(run)
        shown = ": " + ", ".join(removed) if removed else ""
        out.print(f"removed {len(removed)} container(s){shown}")
    folders = reap_control_dirs()
    if folders:
        out.print(f"removed {len(folders)} stale control folder(s): {', '.join(folders)}")
    volumes = reap_volumes()
    if volumes:
        out.print(f"released {len(volumes)} disk volume(s) whose folder was deleted")


def main() -> None:
    """Entry point: one clear line on a known error, no traceback, non-zero exit."""
    run_app(app)


if __name__ == "__main__":
    main()
