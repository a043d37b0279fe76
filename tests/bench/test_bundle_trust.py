"""A submitted run folder is hostile: the bundle check never follows the manifest's paths or
symlinks, reads its JSON bounded, and its rejections print as plain text."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from rich.console import Console

from mledojo.bench.bundle import (
    BUNDLE_FILE,
    FileEntry,
    load_manifest,
    verify_manifest,
    write_manifest,
)
from mledojo.bench.display import PlainDisplay
from mledojo.bench.plan import BenchError, load_plan
from mledojo.leaderboard._io import LeaderboardError

SECRET = "TOPSECRET-host-file"


def _run(tmp_path: Path) -> tuple[Path, Path]:
    run = tmp_path / "bench-x"
    ep = run / "titanic-v1" / "baseline" / "seed-0-data-0-abc"
    ep.mkdir(parents=True)
    (ep / "result.json").write_text("{}")
    (run / "bench.json").write_text("{}")
    outside = tmp_path / "host"
    outside.mkdir()
    (outside / "secret.txt").write_text(SECRET)
    return run, outside


def test_a_manifest_entry_through_a_symlinked_folder_is_never_opened(tmp_path: Path) -> None:
    run, outside = _run(tmp_path)
    write_manifest(run)
    manifest = load_manifest(run)
    (run / "link").symlink_to(outside)
    real = FileEntry(sha256="0" * 64, bytes=len(SECRET))
    files = {**manifest.files, "link/secret.txt": real, "link/nothing.txt": real}
    problems = verify_manifest(run, manifest.model_copy(update={"files": files}))
    # the same answer whether the host file exists or not, and no hash compared: no oracle
    assert "link/secret.txt: listed in bundle.json but missing" in problems
    assert "link/nothing.txt: listed in bundle.json but missing" in problems
    assert not any("sha256" in p for p in problems), problems


def test_bundle_and_plan_files_that_are_symlinks_or_huge_are_refused_unread(
    tmp_path: Path,
) -> None:
    run, outside = _run(tmp_path)
    (run / BUNDLE_FILE).symlink_to(outside / "secret.txt")
    with pytest.raises(LeaderboardError) as info:
        load_manifest(run)
    assert SECRET not in str(info.value)
    (run / "bench.json").unlink()
    (run / "bench.json").symlink_to("/dev/zero")  # would be read forever
    with pytest.raises(BenchError, match="not a bench plan mledojo wrote") as plan_info:
        load_plan(run)
    assert SECRET not in str(plan_info.value)


def test_the_plain_display_prints_agent_text_literally() -> None:
    buf = io.StringIO()
    display = PlainDisplay(Console(file=buf, width=200))
    display.note("sandbox said [/bold] and [conceal]hidden[/conceal]")  # was a MarkupError
    assert "[/bold]" in buf.getvalue() and "[conceal]hidden" in buf.getvalue()


def test_a_known_error_quoting_markup_is_printed_literally(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import typer

    from mledojo._console import run_app
    from mledojo.errors import MLEDojoError

    app = typer.Typer()

    @app.command()
    def boom() -> None:
        raise MLEDojoError("column `[/red]x` is not in the sample submission")

    monkeypatch.setattr("sys.argv", ["mledojo"])
    with pytest.raises(SystemExit) as info:
        run_app(app)
    assert info.value.code == 1
    assert "column `[/red]x` is not in the sample submission" in capsys.readouterr().err
