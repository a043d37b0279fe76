"""`mledojo bot`: the MLE-Bot on any labelled CSV (an ad-hoc competition), as a typer sub-app.

The lead attaches it with `attach(app)`. The bot runs through the same env as every
benchmark episode; the user gets the report, the model file and the held-out score.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mledojo.bot.adhoc import AdhocOptions, Problem, build_adhoc


def bot(
    data: Annotated[Path, typer.Option(help="the labelled CSV")],
    target: Annotated[str, typer.Option(help="the column to predict")],
    problem: Annotated[str, typer.Option(help="the problem statement the LLM reads")] = "",
    time_column: Annotated[str | None, typer.Option(help="split by time on this column")] = None,
    group_column: Annotated[str | None, typer.Option(help="keep groups apart in the split")] = None,
    id_column: Annotated[
        str | None, typer.Option(help="a unique row id (else one is added)")
    ] = None,
    problem_type: Annotated[
        str, typer.Option(help="auto, binary, multiclass or regression")
    ] = "auto",
    model: Annotated[str, typer.Option(help="rules (no LLM) or provider/model")] = "rules",
    model_base_url: Annotated[str | None, typer.Option(help="an OpenAI-compatible URL")] = None,
    max_iterations: Annotated[int, typer.Option(help="design-execute-review rounds")] = 3,
    experiments_per_batch: Annotated[int, typer.Option(help="experiments per round (1-3)")] = 3,
    retries: Annotated[int, typer.Option(help="code retries per experiment")] = 2,
    inject_failure: Annotated[bool, typer.Option(help="corrupt the first experiment")] = False,
    llm_replay: Annotated[Path | None, typer.Option(help="replay this episode folder")] = None,
    sandbox: Annotated[str, typer.Option(help="docker, local or auto")] = "auto",
    runs_dir: Annotated[Path | None, typer.Option(help="where runs go")] = None,
    llm_usd: Annotated[float | None, typer.Option(help="LLM dollar budget")] = None,
) -> None:
    """Turn a CSV into an ad-hoc competition and let the MLE-Bot solve it."""
    from mledojo.agent import make_agent
    from mledojo.competition import load_competition
    from mledojo.env import MLEDojoEnv
    from mledojo.errors import MLEDojoError
    from mledojo.layout import default_runs_dir

    if problem_type not in ("auto", "binary", "multiclass", "regression"):
        raise typer.BadParameter(
            "use auto, binary, multiclass or regression", param_hint="--problem-type"
        )
    runs = runs_dir if runs_dir is not None else default_runs_dir()
    try:
        options = AdhocOptions(
            data=data,
            target=target,
            time_column=time_column,
            group_column=group_column,
            id_column=id_column,
            problem_type=_problem(problem_type),
            statement=problem,
        )
        folder = build_adhoc(options, runs / "adhoc")
        comp = load_competition(folder, origin="adhoc")
        budget = {"llm_usd": llm_usd} if llm_usd is not None else None
        env = MLEDojoEnv(comp, sandbox=sandbox, runs_dir=runs, agent="mle-bot", budget=budget)  # type: ignore[arg-type]
        agent = make_agent(
            "mle-bot",
            {
                "model": model,
                "model_base_url": model_base_url,
                "max_iterations": max_iterations,
                "experiments_per_batch": experiments_per_batch,
                "retries": retries,
                "inject_failure": inject_failure,
                "llm_replay": llm_replay,
                "problem": problem or None,
            },
        )
        try:
            agent.run(env, seed=0)
            result = env.result()
            episode = env.run_folder
        finally:
            env.close()
    except MLEDojoError as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(1) from None
    final = result.final if result is not None else None
    typer.echo(
        f"competition: {comp.spec.id} ({comp.spec.task}, {comp.spec.metric.name}, "
        f"held-out split by {comp.spec.split.kind})"
    )
    typer.echo(f"report:      {episode / 'report.md'} (and report.html)")
    best = _best_model(episode)
    if best:
        typer.echo(f"model:       {best}")
    if final is not None and final.graded:
        label = " [no LLM]" if model == "rules" else ""
        typer.echo(f"held-out {comp.spec.metric.name}: {final.private_score:.6g}{label}")
    else:
        typer.echo(f"not graded: {final.reason if final else 'no result'}")
        raise typer.Exit(1)


def _problem(value: str) -> Problem:
    if value == "binary":
        return "binary"
    if value == "multiclass":
        return "multiclass"
    if value == "regression":
        return "regression"
    return "auto"


def _best_model(episode: Path) -> str | None:
    from mledojo.bot.schemas import BotState

    path = episode / "bot" / "state.json"
    if not path.is_file():
        return None
    state = BotState.model_validate_json(path.read_text(encoding="utf-8"))
    best = next((e for e in state.experiments if e.plan.name == state.best), None)
    if best is None or not best.model:
        return None
    name = Path(best.model).name
    return str(episode / "workspace" / "tools" / name)


def attach(app: typer.Typer) -> None:
    """Add the `bot` command to `app`."""
    app.command("bot")(bot)
