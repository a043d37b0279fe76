"""What a bench shows: a rich live view on a terminal, one plain line per episode otherwise."""

from __future__ import annotations

import time
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from mledojo.bench.plan import Job
from mledojo.bench.worker import Outcome

_STYLE = {
    "completed": "green",
    "timeout": "yellow",
    "agent_error": "yellow",
    "infra_error": "red",
    "grading_error": "red",
    "model_error": "red",
    "worker_died": "red",
    "interrupted": "magenta",
}
MAX_ROWS = 25  # finished episodes shown in the live table (the latest ones)


def _num(v: float | None, digits: int = 5) -> str:
    return "-" if v is None else f"{v:.{digits}g}"


def outcome_line(job: Job, outcome: Outcome) -> str:
    kind = "INFRA " if outcome.infra else ""
    return (
        f"{kind}{outcome.status:<13} {job.label}: private {_num(outcome.private_score)}, "
        f"HumanRank {_num(outcome.private_human_rank, 3)}, {outcome.wall_time_s:.1f} s, "
        f"attempt {outcome.attempt}" + (f" ({outcome.reason[:120]})" if outcome.infra else "")
    )


class PlainDisplay:
    """A line per event on stderr: for logs, CI and pipes."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.total = 0
        self.done = 0

    def start(self, total: int, skipped: list[tuple[Job, Outcome]]) -> None:
        self.total, self.done = total, len(skipped)
        self.console.print(
            f"bench: {total} episode(s), {len(skipped)} finished earlier (skipped)",
            highlight=False,
        )

    def started(self, job: Job, attempt: int) -> None:
        again = f" (attempt {attempt})" if attempt > 1 else ""
        self.console.print(f"start         {job.label}{again}", highlight=False, markup=False)

    def finished(self, job: Job, outcome: Outcome) -> None:
        self.done += 1
        self.console.print(
            f"[{self.done}/{self.total}] " + outcome_line(job, outcome),
            highlight=False,
            markup=False,  # a reason may quote agent text (a sandbox error, a log tail)
        )

    def note(self, text: str) -> None:
        self.console.print(text, highlight=False, markup=False)

    def stop(self) -> None:
        pass


class LiveDisplay:
    """Progress bar, running episodes and a table of finished ones with their scores."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.progress = Progress(
            TextColumn("bench"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
        )
        self.task: Any = None
        self.rows: list[tuple[Job, Outcome]] = []
        self.running: dict[str, tuple[Job, float]] = {}
        self.notes: list[str] = []
        self.live = Live(console=console, refresh_per_second=4, get_renderable=self._render)

    def start(self, total: int, skipped: list[tuple[Job, Outcome]]) -> None:
        self.task = self.progress.add_task("bench", total=total, completed=len(skipped))
        self.rows.extend(skipped)
        self.live.start()

    def started(self, job: Job, attempt: int) -> None:
        self.running[job.key] = (job, time.monotonic())

    def finished(self, job: Job, outcome: Outcome) -> None:
        self.running.pop(job.key, None)
        self.rows.append((job, outcome))
        self.progress.advance(self.task)

    def note(self, text: str) -> None:
        self.notes.append(text)

    def stop(self) -> None:
        self.live.stop()

    def _render(self) -> Group:
        table = Table("episode", "status", "private score", "HumanRank", "wall s", "attempt")
        for job, o in self.rows[-MAX_ROWS:]:
            style = _STYLE.get(o.status, "")
            status = f"[{style}]{o.status}[/{style}]" if style else o.status
            table.add_row(
                job.label,
                status,
                _num(o.private_score),
                _num(o.private_human_rank, 3),
                f"{o.wall_time_s:.1f}",
                str(o.attempt),
            )
        now = time.monotonic()
        running = Table("running", "for s", show_edge=False)
        for job, t0 in self.running.values():
            running.add_row(job.label, f"{now - t0:.0f}")
        parts: list[Any] = [self.progress, running, table, *self.notes[-3:]]
        return Group(*parts)


def make_display(console: Console, *, live: bool | None = None) -> PlainDisplay | LiveDisplay:
    """Live on a terminal, plain lines otherwise (or as `live` says)."""
    use_live = console.is_terminal if live is None else live
    return LiveDisplay(console) if use_live else PlainDisplay(console)
