"""The leaderboard commands, as a typer sub-app the main CLI attaches with one line.

    from mledojo.leaderboard.cli import attach
    leaderboard_app = attach(app)  # leaderboard build, compare, export

`attach` returns the `leaderboard` group so `leaderboard submit` can join it.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from mledojo._console import err, out, run_app

leaderboard_app = typer.Typer(
    help="Our leaderboard: built from verified submissions.", no_args_is_help=True
)

DEFAULT_SOURCE = Path("leaderboard/submissions")
DEFAULT_OUT = Path("leaderboard")


@leaderboard_app.command("build")
def build(
    source: Annotated[
        list[Path] | None,
        typer.Option(
            "--source",
            help="folders of accepted entries, run folders or *.board.jsonl files "
            "(repeatable; default leaderboard/submissions)",
        ),
    ] = None,
    out_dir: Annotated[Path, typer.Option("--out", help="where the board goes")] = DEFAULT_OUT,
    spec: Annotated[
        Path | None,
        typer.Option(help="a JSON list of board specs (budget class, competitions, seeds)"),
    ] = None,
    bootstrap: Annotated[int, typer.Option(help="bootstrap resamples for Elo intervals")] = 1000,
    elo_seed: Annotated[int, typer.Option(help="seed of the Elo bootstrap")] = 0,
) -> None:
    """Aggregate episodes into leaderboard/README.md, index.html and board.json.

    Example: `mledojo leaderboard build --source leaderboard/submissions`
    """
    from mledojo.leaderboard.board import build_from_sources

    written, board = build_from_sources(
        source or [DEFAULT_SOURCE], out_dir, spec_file=spec, bootstrap=bootstrap, elo_seed=elo_seed
    )
    for cb in board.classes:
        table = Table(title=f"budget class {cb.spec.budget_class}")
        for col in ("tier", "#", "agent", "level", "mean HumanRank", "Elo [95 % CI]"):
            table.add_column(col)
        for col in ("any medal", "graded"):
            table.add_column(col)
        for a in cb.agents:
            se = f" ± {a.human_rank.se:.3f}" if a.human_rank.se is not None else ""
            table.add_row(
                a.tier,
                str(a.rank),
                a.agent,
                a.verification,
                f"{a.human_rank.mean:.3f}{se}",
                f"{a.elo.rating:.0f} [{a.elo.low:.0f}, {a.elo.high:.0f}]",
                f"{100 * a.any_medal_rate:.0f} %",
                f"{a.scored}/{a.expected}",
            )
        out.print(table)
    out.print("wrote " + ", ".join(str(p) for p in written))


def compare(
    run_a: Annotated[Path, typer.Argument(help="the baseline run folder (A)")],
    run_b: Annotated[Path, typer.Argument(help="the run compared with it (B)")],
    agent_a: Annotated[str | None, typer.Option(help="agent in RUN_A, if several")] = None,
    agent_b: Annotated[str | None, typer.Option(help="agent in RUN_B, if several")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="print the comparison as JSON")] = False,
) -> None:
    """Per-competition HumanRank deltas of RUN_B against RUN_A, with Welch's t-test over seeds.

    Example: `mledojo compare runs/20260101-a runs/20260102-b`
    """
    from mledojo.leaderboard.compare import compare_runs

    cmp = compare_runs(run_a, run_b, agent_a=agent_a, agent_b=agent_b)
    if json_out:
        out.print_json(cmp.model_dump_json())
        return
    table = Table(title=f"{cmp.agent_b} (B) against {cmp.agent_a} (A): HumanRank, missing = 0")
    for col in ("competition", "A", "B", "Δ (B−A)", "raw Δ", "p (Welch)", "p (Holm)", ""):
        table.add_column(col)
    for d in cmp.deltas:
        raw = "-" if d.raw_delta is None else f"{d.raw_delta:+.4g}"
        p = "-" if d.p_value is None else f"{d.p_value:.3g}"
        q = "-" if d.p_holm is None else f"{d.p_holm:.3g}"
        mark = "[green]significant[/green]" if d.significant else d.note
        table.add_row(
            d.competition,
            f"{d.mean_a:.3f} (n={d.n_a})",
            f"{d.mean_b:.3f} (n={d.n_b})",
            f"{d.delta:+.3f}",
            raw,
            p,
            q,
            mark,
        )
    out.print(table)
    p = "-" if cmp.overall_p_value is None else f"{cmp.overall_p_value:.3g}"
    out.print(
        f"overall Δ mean HumanRank {cmp.overall_delta:+.3f} (paired over competitions: p={p})"
    )
    if cmp.budget_classes[0] != cmp.budget_classes[1]:
        err.print(
            f"[yellow]warning:[/yellow] budget classes differ ({cmp.budget_classes[0]} vs "
            f"{cmp.budget_classes[1]}): not a like-for-like comparison"
        )


def export(
    run_dir: Annotated[Path, typer.Argument(help="a run folder (or one episode folder)")],
    format_: Annotated[str, typer.Option("--format", help="jsonl | chat")] = "jsonl",
    output: Annotated[
        Path | None, typer.Option("--out", help="file to write (default: standard output)")
    ] = None,
    min_human_rank: Annotated[
        float | None, typer.Option(help="keep only episodes with at least this private HumanRank")
    ] = None,
) -> None:
    """Export rollouts as training data: one record per step (jsonl) or per episode (chat).

    Example: `mledojo export runs/20260101-a --format chat --out sft.jsonl`
    """
    from mledojo.leaderboard.export import EXPORT_FORMATS, export_run

    if format_ not in EXPORT_FORMATS:
        raise typer.BadParameter(f"--format must be one of {', '.join(EXPORT_FORMATS)}")
    lines = export_run(run_dir, format_, min_human_rank=min_human_rank)  # type: ignore[arg-type]
    count = 0
    if output is None:
        for line in lines:
            sys.stdout.write(line + "\n")
            count += 1
    else:
        tmp = output.with_name(f".{output.name}.tmp")
        with tmp.open("w", encoding="utf-8") as f:
            for line in lines:
                f.write(line + "\n")
                count += 1
        tmp.replace(output)
    err.print(f"exported {count} record(s)" + (f" to {output}" if output else ""))


def attach(app: typer.Typer) -> typer.Typer:
    """Add `leaderboard` (a group), `compare` and `export` to `app`; returns the group."""
    app.add_typer(leaderboard_app, name="leaderboard")
    app.command("compare")(compare)
    app.command("export")(export)
    return leaderboard_app


def main() -> None:
    """`python -m mledojo.leaderboard.cli`: these commands alone, with the main CLI's errors."""
    app = typer.Typer(no_args_is_help=True, pretty_exceptions_enable=False)
    attach(app)
    run_app(app)


if __name__ == "__main__":
    main()
