"""Raw competition files from Kaggle: a local copy, the cache, or the official `kaggle` API.

Lookup order: `$MLEDOJO_KAGGLE_DIR/<kaggle-id>/` (a root of folders holding what a Kaggle
download gives, for offline machines; when the variable is unset, `../shared/datasets/kaggle`
beside the checkout or the working folder, where the README's layout puts it), then
`<cache>/raw/<id>/` (an earlier download),
then a download with the `kaggle` package (credentials from `~/.kaggle/kaggle.json` or
`KAGGLE_USERNAME` / `KAGGLE_KEY`).
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mledojo.competition import Competition, KaggleSource
from mledojo.errors import DependencyNotInstalledError, KaggleError

KAGGLE_DIR_ENV = "MLEDOJO_KAGGLE_DIR"
COMPLETE_MARKER = ".download-complete"


def kaggle_raw_folder(comp: Competition, cache: Path, *, say: Callable[[str], None]) -> Path:
    """Return a folder holding the raw Kaggle files of `comp`, downloading when needed."""
    src = comp.spec.source
    if not isinstance(src, KaggleSource):
        raise KaggleError(f"{comp.id} is not a Kaggle competition")
    env_root = os.environ.get(KAGGLE_DIR_ENV)
    roots = [Path(env_root).expanduser()] if env_root else default_kaggle_roots()
    for root in roots:
        folder = root / src.competition
        if folder.is_dir():
            return folder
    if env_root:
        say(f"${KAGGLE_DIR_ENV} has no folder {src.competition}; trying the cache and Kaggle")
    folder = cache / "raw" / comp.id
    if (folder / COMPLETE_MARKER).is_file():
        return folder
    download(src.competition, folder, say=say)
    return folder


def default_kaggle_roots() -> list[Path]:
    """Where raw Kaggle folders are found without `$MLEDOJO_KAGGLE_DIR`: `shared/datasets/kaggle`
    beside the checkout this library runs from, and beside the working folder."""
    checkout = Path(__file__).resolve().parents[2]
    found: list[Path] = []
    for base in (checkout, Path.cwd()):
        root = base.parent / "shared" / "datasets" / "kaggle"
        if root.is_dir() and root not in found:
            found.append(root)
    return found


def credentials_present() -> bool:
    """True when the kaggle package will find credentials (where kaggle>=1.6 looks)."""
    env = os.environ
    if env.get("KAGGLE_API_TOKEN") or (env.get("KAGGLE_USERNAME") and env.get("KAGGLE_KEY")):
        return True
    dot_kaggle = Path.home() / ".kaggle"
    if env.get("KAGGLE_CONFIG_DIR"):
        config_dirs = [Path(env["KAGGLE_CONFIG_DIR"])]
    else:  # kaggle 2.x falls back to $XDG_CONFIG_HOME/kaggle when ~/.kaggle is absent
        xdg = Path(env.get("XDG_CONFIG_HOME") or Path.home() / ".config")
        config_dirs = [dot_kaggle, xdg / "kaggle"]
    candidates = [d / "kaggle.json" for d in config_dirs] + [
        dot_kaggle / name for name in ("access_token", "access_token.txt", "credentials.json")
    ]
    return any(path.is_file() for path in candidates)


def download(kaggle_id: str, folder: Path, *, say: Callable[[str], None]) -> None:
    """Download and unzip a competition's files; a partial download is never kept."""
    if not credentials_present():
        raise KaggleError(
            "No Kaggle credentials. Create an API token on your Kaggle account page and save "
            "it as ~/.kaggle/kaggle.json (chmod 600), or set KAGGLE_USERNAME and KAGGLE_KEY. "
            f"Or, offline: put the competition's files in a folder named {kaggle_id} under "
            f"${KAGGLE_DIR_ENV} (a folder of downloads, e.g. ../shared/datasets/kaggle beside "
            "the checkout, found by default) or pass --raw-dir."
        )
    api = _api()
    tmp = folder.with_name(folder.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    say(f"downloading {kaggle_id} from Kaggle")
    try:
        api.competition_download_files(kaggle_id, path=str(tmp), quiet=True)
        for archive in tmp.glob("*.zip"):
            with zipfile.ZipFile(archive) as zf:
                zf.extractall(tmp)
            archive.unlink()
    except zipfile.BadZipFile as e:
        shutil.rmtree(tmp, ignore_errors=True)
        raise KaggleError(
            f"The download of {kaggle_id} is incomplete or corrupted ({e}); run the same "
            "command again."
        ) from e
    except Exception as e:
        shutil.rmtree(tmp, ignore_errors=True)
        raise explain_api_error(kaggle_id, e) from e
    (tmp / COMPLETE_MARKER).write_text("ok\n")
    shutil.rmtree(folder, ignore_errors=True)
    tmp.rename(folder)


def explain_api_error(kaggle_id: str, error: Exception) -> KaggleError:
    """Turn a Kaggle API failure into one line that says what to do."""
    status = _status_of(error)
    rules = f"https://www.kaggle.com/competitions/{kaggle_id}/rules"
    if status == 401:
        return KaggleError(
            "Kaggle rejected the credentials (401). Create a new API token and replace "
            "~/.kaggle/kaggle.json."
        )
    if status == 403:
        return KaggleError(
            f"Kaggle refused the download (403): accept the competition rules at {rules} "
            "with the account of your API token, then run the command again."
        )
    if status == 404:
        return KaggleError(f"Kaggle has no competition `{kaggle_id}` (404). Check the id.")
    if status is None and _is_connection_error(error):
        return KaggleError(
            f"The download of {kaggle_id} failed or was interrupted ({_short(error)}); check "
            "the network and run the same command again."
        )
    return KaggleError(
        f"Downloading {kaggle_id} from Kaggle failed ({_short(error)}). "
        "Check the network and run again, or pass --raw-dir with a local copy."
    )


_CONNECTION_ERRORS = {
    # requests, urllib3 and the standard library names for a lost or refused connection
    "ConnectionError",
    "ChunkedEncodingError",
    "Timeout",
    "ProtocolError",
    "IncompleteRead",
    "TimeoutError",
}


def _is_connection_error(error: Exception) -> bool:
    return any(cls.__name__ in _CONNECTION_ERRORS for cls in type(error).__mro__)


def _short(error: Exception, limit: int = 160) -> str:
    """`Type: first line of the message`, cut to `limit` characters."""
    lines = str(error).strip().splitlines()
    text = f"{type(error).__name__}: {lines[0]}" if lines else type(error).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _status_of(error: Exception) -> int | None:
    for attr in ("status", "status_code"):
        value = getattr(error, attr, None)
        if isinstance(value, int):
            return value
    response = getattr(error, "response", None)
    code = getattr(response, "status_code", None)
    return code if isinstance(code, int) else None


def _api() -> Any:
    try:
        from kaggle.api.kaggle_api_extended import KaggleApi
    except ImportError as e:
        # kaggle 2.2 imports `six` without depending on it: name what is really missing.
        missing = e.name if e.name and e.name.split(".")[0] != "kaggle" else "kaggle"
        raise DependencyNotInstalledError(missing, "kaggle") from e
    api = KaggleApi()
    try:
        with contextlib.redirect_stdout(io.StringIO()):  # its help text; ours is one line
            api.authenticate()
    except SystemExit as e:  # kaggle calls exit(1) when it finds no usable credentials
        raise KaggleError(
            f"Kaggle found no usable credentials: {api.config} needs a JSON object with "
            '"username" and "key" (or set KAGGLE_USERNAME and KAGGLE_KEY); an access token '
            "may have expired."
        ) from e
    return api
