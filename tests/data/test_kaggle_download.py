"""Kaggle downloads through the real `kaggle` package, against a scripted loopback server.

How the server is reached: the package knows a fixed set of endpoints. With
`KAGGLE_API_ENVIRONMENT=LOCALHOST` (read when `kaggle` is imported; it puts `--local` into
`KaggleApi.args`) it talks plain HTTP to `http://localhost/api/v1/...` instead of
`https://api.kaggle.com/v1/...`; `requests` then honours `http_proxy`, which points at a
`http.server` on 127.0.0.1 that answers as Kaggle does:

* `POST /api/v1/competitions.CompetitionApiService/DownloadDataFiles` with HTTP basic auth
  (username, key) and a JSON body `{"competitionName": ...}`: a 302 to the archive's
  (signed) storage URL, or a JSON error `{"code": 401|403|404, "message": ...}` with that
  status;
* `GET` of the storage URL: the bytes of `<competition>.zip`.

Nothing of `kaggle` is mocked. The package is imported only inside the fixtures, after
HOME and the config dirs point into `tmp_path` (its import creates a config folder and
authenticates), so the real home is never touched.
"""

from __future__ import annotations

import base64
import importlib.util
import io
import json
import os
import sys
import threading
import time
import zipfile
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from mledojo.competition import Competition, get_competition, load_competition
from mledojo.data import kaggle as kaggle_data
from mledojo.data.checksums import RAW_CHECKSUMS, md5_file, verify_raw_files
from mledojo.errors import DataError, KaggleError
from mledojo.testing.shared_data import need, shared_root

COMPETITION = "toy-comp"
USER = "dojo-user"
KEY = "0123456789abcdef"
API = "/api/v1/competitions.CompetitionApiService/"
TRAIN_CSV = b"id,y\n" + b"".join(f"{i},{i % 2}\n".encode() for i in range(2000))
MAX_REQUESTS = 40  # the server refuses more: a runaway retry loop cannot spin for long

needs_kaggle = pytest.mark.skipif(
    importlib.util.find_spec("kaggle") is None,
    reason="the `kaggle` package is not installed (pip install 'mledojo[kaggle]')",
)
pytestmark = pytest.mark.timeout(60)


def _zip_bytes() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("train.csv", TRAIN_CSV)
    return buf.getvalue()


class FakeKaggle(ThreadingHTTPServer):
    """Kaggle's download endpoint and its storage, as one HTTP proxy on loopback."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.scenario = "ok"  # ok | 403 | truncated | interrupted
        self.archive = _zip_bytes()
        self.calls: list[tuple[str, str, dict[str, Any]]] = []
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"


class _Handler(BaseHTTPRequestHandler):
    server: FakeKaggle
    timeout = 5  # seconds a client may stay silent before the connection is dropped

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - base signature
        pass

    def _record(self, body: dict[str, Any]) -> bool:
        with self.server.lock:
            self.server.calls.append((self.command, urlsplit(self.path).path, body))
            return len(self.server.calls) <= MAX_REQUESTS

    def _json(self, status: int, message: str) -> None:
        data = json.dumps({"code": status, "message": message}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:  # noqa: N802 - http.server naming
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = json.loads(raw or b"{}")
        if not self._record(body):
            return self._json(503, "too many requests in one test")
        path = urlsplit(self.path).path
        if path != API + "DownloadDataFiles":
            return self._json(404, f"no route {path}")
        expected = "Basic " + base64.b64encode(f"{USER}:{KEY}".encode()).decode()
        if self.headers.get("Authorization") != expected:
            return self._json(401, "Unauthenticated")
        name = body.get("competitionName")
        if name != COMPETITION:
            return self._json(404, "Competition not found")
        if self.server.scenario == "403":
            return self._json(
                403, "You must accept this competition's rules before you can download files."
            )
        self.send_response(302)
        self.send_header("Location", f"http://localhost/storage/{name}.zip?X-Goog-Signature=00")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_GET(self) -> None:  # noqa: N802 - http.server naming
        if not self._record({"range": self.headers.get("Range")}):
            return self._json(503, "too many requests in one test")
        if urlsplit(self.path).path != f"/storage/{COMPETITION}.zip":
            return self._json(404, "no such object")
        data = self.server.archive
        sent = data
        if self.server.scenario in ("truncated", "interrupted"):
            sent = data[: len(data) // 2]
        self.send_response(200)
        self.send_header("Content-Type", "application/zip")
        # truncated: a complete response of a broken archive; interrupted: the connection
        # drops after half of the announced bytes.
        length = len(data) if self.server.scenario == "interrupted" else len(sent)
        self.send_header("Content-Length", str(length))
        self.end_headers()
        self.wfile.write(sent)
        self.close_connection = True


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh HOME and Kaggle config dir; no KAGGLE_* variable or proxy from outside."""
    home = tmp_path / "home"
    (home / ".kaggle").mkdir(parents=True)
    for name in list(os.environ):
        if name.startswith("KAGGLE_") or name.lower().endswith("_proxy"):
            monkeypatch.delenv(name)
    monkeypatch.delenv(kaggle_data.KAGGLE_DIR_ENV, raising=False)
    monkeypatch.setattr(kaggle_data, "default_kaggle_roots", list)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("KAGGLE_CONFIG_DIR", str(home / ".kaggle"))
    return home


@pytest.fixture
def kaggle_api(home: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The real `KaggleApi` class, imported under the temp HOME, aimed at localhost."""
    monkeypatch.setenv("KAGGLE_API_ENVIRONMENT", "LOCALHOST")
    from kaggle.api.kaggle_api_extended import KaggleApi

    # These are computed once, when `kaggle` is first imported in this process: give them the
    # values this test's environment would have produced.
    monkeypatch.setattr(KaggleApi, "args", ["--local"])
    monkeypatch.setattr(KaggleApi, "config_dir", str(home / ".kaggle"))
    monkeypatch.setattr(KaggleApi, "config", str(home / ".kaggle" / "kaggle.json"))
    return KaggleApi


@pytest.fixture
def server(kaggle_api: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeKaggle]:
    """The scripted Kaggle on 127.0.0.1, reached as `http_proxy`; valid credentials set."""
    srv = FakeKaggle()
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    monkeypatch.setenv("http_proxy", srv.url)
    monkeypatch.setenv("KAGGLE_USERNAME", USER)
    monkeypatch.setenv("KAGGLE_KEY", KEY)
    try:
        yield srv
    finally:
        srv.shutdown()
        srv.server_close()
        thread.join(timeout=5)


def _download(tmp_path: Path, kaggle_id: str = COMPETITION) -> tuple[Path, list[str]]:
    said: list[str] = []
    folder = tmp_path / "cache" / "raw" / "toy"
    kaggle_data.download(kaggle_id, folder, say=said.append)
    return folder, said


def _assert_nothing_kept(tmp_path: Path) -> None:
    raw = tmp_path / "cache" / "raw"
    left = sorted(p.name for p in raw.iterdir()) if raw.exists() else []
    assert left == [], "a failed download left files behind"


def _one_line(err: pytest.ExceptionInfo[KaggleError]) -> str:
    message = str(err.value)
    assert "\n" not in message
    return message


def _competition(root: Path, checksums: dict[str, str] | None = None) -> Competition:
    folder = root / "comp"
    folder.mkdir(parents=True)
    spec = {
        "id": "toy",
        "version": 1,
        "title": "Toy",
        "task": "binary",
        "metric": {"name": "roc_auc", "higher_is_better": True},
        "target": "y",
        "id_column": "id",
        "source": {"kind": "kaggle", "competition": COMPETITION},
        "tags": ["tabular"],
    }
    (folder / "competition.yaml").write_text(yaml.safe_dump(spec))
    (folder / "description.md").write_text("# Toy\n")
    if checksums is not None:
        (folder / RAW_CHECKSUMS).write_text(yaml.safe_dump(checksums))
    return load_competition(folder)


# --- the real kaggle package against the scripted server -------------------------------


@needs_kaggle
def test_download_unzips_marks_complete_and_drops_partial(
    server: FakeKaggle, tmp_path: Path
) -> None:
    folder, said = _download(tmp_path)
    assert (folder / "train.csv").read_bytes() == TRAIN_CSV
    assert (folder / kaggle_data.COMPLETE_MARKER).is_file()
    assert sorted(p.name for p in folder.iterdir()) == [kaggle_data.COMPLETE_MARKER, "train.csv"]
    assert not folder.with_name(folder.name + ".partial").exists()
    assert said == [f"downloading {COMPETITION} from Kaggle"]
    # What the package really sent: the API call (POST, JSON body), then the redirect's GET.
    assert [(m, p) for m, p, _ in server.calls] == [
        ("POST", API + "DownloadDataFiles"),
        ("GET", f"/storage/{COMPETITION}.zip"),
    ]
    assert server.calls[0][2] == {"competitionName": COMPETITION}


@needs_kaggle
def test_kaggle_raw_folder_downloads_once_then_uses_the_cache(
    server: FakeKaggle, tmp_path: Path
) -> None:
    comp = _competition(tmp_path)
    cache = tmp_path / "cache"
    first = kaggle_data.kaggle_raw_folder(comp, cache, say=lambda _: None)
    assert (first / "train.csv").read_bytes() == TRAIN_CSV
    assert len(server.calls) == 2
    again = kaggle_data.kaggle_raw_folder(comp, cache, say=lambda _: None)
    assert again == first and len(server.calls) == 2  # the marker makes it a cache hit


@needs_kaggle
def test_wrong_key_is_401(
    server: FakeKaggle, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KAGGLE_KEY", "not-the-key")
    with pytest.raises(KaggleError) as err:
        _download(tmp_path)
    message = _one_line(err)
    assert "(401)" in message and "kaggle.json" in message
    _assert_nothing_kept(tmp_path)


@needs_kaggle
def test_rules_not_accepted_is_403_with_rules_page(server: FakeKaggle, tmp_path: Path) -> None:
    server.scenario = "403"
    with pytest.raises(KaggleError) as err:
        _download(tmp_path)
    message = _one_line(err)
    assert "(403)" in message
    assert f"https://www.kaggle.com/competitions/{COMPETITION}/rules" in message
    _assert_nothing_kept(tmp_path)


@needs_kaggle
def test_unknown_competition_is_404(server: FakeKaggle, tmp_path: Path) -> None:
    with pytest.raises(KaggleError) as err:
        _download(tmp_path, "no-such-comp")
    message = _one_line(err)
    assert "(404)" in message and "`no-such-comp`" in message
    _assert_nothing_kept(tmp_path)


@needs_kaggle
def test_truncated_zip_is_reported_and_not_kept(server: FakeKaggle, tmp_path: Path) -> None:
    server.scenario = "truncated"
    with pytest.raises(KaggleError) as err:
        _download(tmp_path)
    message = _one_line(err)
    assert "incomplete or corrupted" in message and "run the same command again" in message
    assert isinstance(err.value.__cause__, zipfile.BadZipFile)
    _assert_nothing_kept(tmp_path)


class _NoBackoffTime:
    """`time` for kaggle_api_extended without the retry backoff (2 s, 4 s, ... up to 60 s)."""

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)

    @staticmethod
    def sleep(seconds: float) -> None:
        pass


@needs_kaggle
def test_interrupted_download_is_reported_and_not_kept(
    server: FakeKaggle, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys.modules["kaggle.api.kaggle_api_extended"], "time", _NoBackoffTime())
    server.scenario = "interrupted"
    with pytest.raises(KaggleError) as err:
        _download(tmp_path)
    message = _one_line(err)
    assert "interrupted" in message and "run the same command again" in message
    gets = [c for c in server.calls if c[0] == "GET"]
    assert len(gets) > 1 and gets[1][2]["range"]  # the package retried, resuming by Range
    _assert_nothing_kept(tmp_path)


@needs_kaggle
def test_unreadable_kaggle_json_is_a_kaggle_error(
    kaggle_api: Any, home: Path, tmp_path: Path
) -> None:
    # credentials_present() sees the file, but the package finds no username/key in it and
    # calls exit(1): that must become a KaggleError, not end the program.
    (home / ".kaggle" / "kaggle.json").write_text("{}")
    with pytest.raises(KaggleError) as err:
        _download(tmp_path)
    assert "kaggle.json" in _one_line(err)
    _assert_nothing_kept(tmp_path)


# --- no network -------------------------------------------------------------------------


def test_no_credentials_says_where_to_put_them(home: Path, tmp_path: Path) -> None:
    with pytest.raises(KaggleError) as err:
        _download(tmp_path)
    message = _one_line(err)
    assert "~/.kaggle/kaggle.json" in message and "KAGGLE_USERNAME" in message
    assert not (tmp_path / "cache").exists()


@pytest.mark.parametrize(
    "where",
    ["KAGGLE_CONFIG_DIR", "~/.kaggle", "XDG_CONFIG_HOME", "access_token", "KAGGLE_API_TOKEN"],
)
def test_credentials_found_where_kaggle_looks(
    where: str, home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert not kaggle_data.credentials_present()
    token = json.dumps({"username": USER, "key": KEY})
    if where == "KAGGLE_CONFIG_DIR":
        (tmp_path / "cfg").mkdir()
        (tmp_path / "cfg" / "kaggle.json").write_text(token)
        monkeypatch.setenv("KAGGLE_CONFIG_DIR", str(tmp_path / "cfg"))
    elif where == "~/.kaggle":
        monkeypatch.delenv("KAGGLE_CONFIG_DIR")
        (home / ".kaggle" / "kaggle.json").write_text(token)
    elif where == "XDG_CONFIG_HOME":  # kaggle 2.x, when ~/.kaggle does not exist
        monkeypatch.delenv("KAGGLE_CONFIG_DIR")
        (home / ".kaggle").rmdir()
        (home / ".config" / "kaggle").mkdir(parents=True)
        (home / ".config" / "kaggle" / "kaggle.json").write_text(token)
    elif where == "access_token":
        (home / ".kaggle" / "access_token").write_text("KGAT_0123\n")
    else:
        monkeypatch.setenv("KAGGLE_API_TOKEN", "KGAT_0123")
    assert kaggle_data.credentials_present()


def test_local_kaggle_dir_short_circuits(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "downloads"
    (root / COMPETITION).mkdir(parents=True)
    monkeypatch.setenv(kaggle_data.KAGGLE_DIR_ENV, str(root))

    def no_network(*args: object, **kwargs: object) -> None:
        raise AssertionError("no download may start when the local copy exists")

    monkeypatch.setattr(kaggle_data, "download", no_network)
    comp = _competition(tmp_path)
    found = kaggle_data.kaggle_raw_folder(comp, tmp_path / "cache", say=no_network)
    assert found == root / COMPETITION


def test_the_shared_folder_beside_the_checkout_is_found_without_the_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A fresh clone beside `../shared` prepares Kaggle competitions with no setup."""
    shared = need(shared_root() / "datasets" / "kaggle" / "titanic").parent
    monkeypatch.delenv(kaggle_data.KAGGLE_DIR_ENV, raising=False)
    monkeypatch.chdir(tmp_path)  # found from the checkout, not from the working folder

    def no_network(*args: object, **kwargs: object) -> None:
        raise AssertionError("no download may start when ../shared holds the files")

    monkeypatch.setattr(kaggle_data, "download", no_network)
    comp = get_competition("titanic")
    found = kaggle_data.kaggle_raw_folder(comp, tmp_path / "cache", say=lambda _: None)
    assert found.resolve() == (shared / "titanic").resolve()


def test_without_data_the_error_names_both_ways_to_get_it(home: Path, tmp_path: Path) -> None:
    with pytest.raises(KaggleError) as caught:
        kaggle_data.download("titanic", tmp_path / "raw", say=lambda _: None)
    message = str(caught.value)
    assert "kaggle.json" in message and kaggle_data.KAGGLE_DIR_ENV in message
    assert "folder named titanic" in message


def test_recorded_checksum_mismatch_names_the_file(tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "train.csv").write_bytes(TRAIN_CSV)
    good = md5_file(raw / "train.csv")
    comp = _competition(tmp_path, {"train.csv": good})
    verify_raw_files(comp, raw)  # matching files pass
    (raw / "train.csv").write_bytes(TRAIN_CSV[:-10])
    with pytest.raises(DataError) as err:
        verify_raw_files(comp, raw)
    message = str(err.value)
    assert str(raw / "train.csv") in message and good in message
