"""What every mledojo command line shares: its two consoles and its error boundary."""

from __future__ import annotations

import sys

import typer
from rich.console import Console
from rich.markup import escape

from mledojo._process import obey_sigint
from mledojo.errors import MLEDojoError

out = Console(width=None if sys.stdout.isatty() else 160)
err = Console(stderr=True, width=None if sys.stderr.isatty() else 160)


def run_app(app: typer.Typer) -> None:
    """Run `app`: a known error is one line and exit 1, Ctrl-C exit 130, no traceback."""
    obey_sigint()
    try:
        app()
    except MLEDojoError as e:
        err.print(f"[red]error:[/red] {escape(str(e))}", highlight=False)  # may quote agent data
        sys.exit(1)
    except KeyboardInterrupt:
        err.print("[red]interrupted[/red]")
        sys.exit(130)
