"""index.html in headless Chromium (Debian's `chromium`), served from 127.0.0.1.

Checks: the overall table renders (a screenshot has ink where the table's box is and none
beside it), clicking a header sorts the rows, and the page's Content-Security-Policy stops
an injected inline script. Without /usr/bin/chromium the test installs it with
`scripts/ensure_chromium.sh` when root; otherwise it skips, loudly (a warning and the reason).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import struct
import subprocess
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from mledojo.leaderboard.episode import AnytimePoint, BoardEpisode
from mledojo.leaderboard.render import SORT_SCRIPT, write_board
from mledojo.leaderboard.stats import build_board
from mledojo.testing.browser import HEIGHT, WIDTH, dump_dom, run_chromium, serve_folder

pytestmark = pytest.mark.slow

Make = Callable[..., BoardEpisode]
ENSURE = Path(__file__).resolve().parents[2] / "scripts" / "ensure_chromium.sh"
AGENTS = {"delta": 0.3, "alpha": 0.9, "charlie": 0.5, "bravo": 0.1}


@pytest.fixture
def site(tmp_path: Path, make_episode: Make) -> Iterator[tuple[str, Path]]:
    """A built board in a folder served on 127.0.0.1: (base URL, folder)."""
    eps = [
        make_episode(
            agent,
            comp,
            seed,
            base + 0.02 * seed,
            medal="gold" if base > 0.8 else None,
            anytime=[AnytimePoint(elapsed_s=60, usd=0.2, best_human_rank=base)],
        )
        for agent, base in AGENTS.items()
        for comp in ("spaceship-titanic", "titanic")
        for seed in (0, 1, 2)
    ]
    folder = tmp_path / "site"
    write_board(build_board(eps, bootstrap=100), folder)
    with serve_folder(folder) as base:
        yield base, folder


def _probe(folder: Path, name: str, script: str) -> None:
    """A copy of index.html with `script` appended, allowed by the page's CSP (by hash)."""
    page = (folder / "index.html").read_text()
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    page = page.replace("script-src ", f"script-src 'sha256-{digest}' ", 1)
    page = page.replace("</body>", f"<script>{script}</script></body>")
    (folder / name).write_text(page)


def _png_rgb(path: Path) -> npt.NDArray[np.uint8]:
    """Decode an 8-bit RGB/RGBA non-interlaced PNG (what Chromium writes) to an RGB array."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, header = 8, b"", b""
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", header)
    assert depth == 8 and colour in (2, 6) and interlace == 0, (depth, colour, interlace)
    bpp = 3 if colour == 2 else 4
    raw = zlib.decompress(idat)
    stride = width * bpp
    out = np.zeros((height, stride), dtype=np.int32)
    prev = np.zeros(stride, dtype=np.int32)
    for y in range(height):
        ftype = raw[y * (stride + 1)]
        line = np.frombuffer(raw, np.uint8, stride, y * (stride + 1) + 1).astype(np.int32)
        if ftype == 0:
            cur = line
        elif ftype == 2:
            cur = (line + prev) & 0xFF
        else:
            cur = line.copy()
            for x in range(stride):
                a = cur[x - bpp] if x >= bpp else 0
                b = prev[x]
                if ftype == 1:
                    cur[x] = (cur[x] + a) & 0xFF
                elif ftype == 3:
                    cur[x] = (cur[x] + (a + b) // 2) & 0xFF
                else:
                    c = prev[x - bpp] if x >= bpp else 0
                    p = a + b - c
                    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                    pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                    cur[x] = (cur[x] + pred) & 0xFF
        out[y] = cur
        prev = cur
    pixels = out.reshape(height, width, bpp).astype(np.uint8)
    return pixels[:, :, :3]


RECT_PROBE = """
var t = document.getElementById('overall-0-self-reported').getBoundingClientRect();
var pre = document.createElement('pre'); pre.id = 'probe';
pre.textContent = JSON.stringify({left: t.left, top: t.top, right: t.right, bottom: t.bottom,
  rows: document.querySelectorAll('#overall-0-self-reported tbody tr').length});
document.body.appendChild(pre);
""".strip()

SORT_PROBE = """
var table = document.getElementById('overall-0-self-reported');
var heads = table.tHead.rows[0].cells;
function names() {
  return Array.prototype.map.call(table.tBodies[0].rows, function (r) {
    return r.cells[1].textContent; });
}
var out = {};
heads[1].click(); out.by_name = names();
heads[1].click(); out.by_name_again = names();
heads[3].click(); out.by_rank = names();
heads[3].click(); out.by_rank_again = names();
heads[0].click(); out.by_position = names();
var pre = document.createElement('pre'); pre.id = 'probe';
pre.textContent = JSON.stringify(out);
document.body.appendChild(pre);
""".strip()


def _probe_json(dom: str) -> dict[str, object]:
    m = re.search(r'<pre id="probe">(.*?)</pre>', dom, re.S)
    assert m is not None, "the probe script did not run: " + dom[-500:]
    return json.loads(m.group(1).replace("&quot;", '"'))  # type: ignore[no-any-return]


def test_the_table_renders_in_a_screenshot(
    chromium: Path, site: tuple[str, Path], tmp_path: Path
) -> None:
    base, folder = site
    _probe(folder, "rect.html", RECT_PROBE)
    rect = _probe_json(dump_dom(chromium, tmp_path / "p1", f"{base}/rect.html"))
    assert rect["rows"] == len(AGENTS)
    shot = tmp_path / "shot.png"
    proc = run_chromium(chromium, tmp_path / "p2", f"--screenshot={shot}", f"{base}/index.html")
    assert proc.returncode == 0 and shot.is_file(), proc.stderr[-2000:]
    img = _png_rgb(shot)
    assert img.shape[:2] == (HEIGHT, WIDTH)
    left, top = int(rect["left"]), int(rect["top"])  # type: ignore[call-overload]
    right, bottom = int(rect["right"]), int(rect["bottom"])  # type: ignore[call-overload]
    assert 0 <= left < right <= WIDTH and 0 <= top < bottom <= HEIGHT
    box = img[top:bottom, left:right]
    ink = (box.min(axis=2) < 128).mean()  # dark pixels: text and borders
    tinted = (np.abs(box.astype(int) - 255).sum(axis=2) > 30).mean()  # any non-white
    assert ink > 0.02, f"only {ink:.1%} dark pixels where the table is"
    assert tinted > 0.1, f"only {tinted:.1%} non-white pixels where the table is"
    # every body row has text: split the box into header + one band per agent
    bands = np.array_split(box, len(AGENTS) + 1, axis=0)
    assert all((band.min(axis=2) < 128).mean() > 0.01 for band in bands)
    beside = img[top:bottom, min(WIDTH - 1, right + 40) :]
    if beside.size:
        assert (beside.min(axis=2) < 128).mean() < 0.001, "ink beside the table: layout broke"


def test_clicking_a_header_sorts_the_rows(
    chromium: Path, site: tuple[str, Path], tmp_path: Path
) -> None:
    base, folder = site
    _probe(folder, "sort.html", SORT_PROBE)
    got = _probe_json(dump_dom(chromium, tmp_path / "p", f"{base}/sort.html"))
    ranked = sorted(AGENTS, key=lambda a: -AGENTS[a])
    assert got["by_name"] == sorted(AGENTS)  # text: ascending first
    assert got["by_name_again"] == sorted(AGENTS, reverse=True)
    assert got["by_rank"] == ranked  # numbers: best (highest) first
    assert got["by_rank_again"] == list(reversed(ranked))
    assert got["by_position"] == ranked  # "#": 1 first


def test_the_policy_blocks_an_injected_script(
    chromium: Path, site: tuple[str, Path], tmp_path: Path
) -> None:
    base, folder = site
    page = (folder / "index.html").read_text()
    injected = "document.title = 'pwned'; document.body.setAttribute('data-pwned', '1');"
    (folder / "inject.html").write_text(page.replace("</h1>", f"</h1><script>{injected}</script>"))
    dom = dump_dom(chromium, tmp_path / "p", f"{base}/inject.html")
    assert 'data-pwned="1"' not in dom and "<title>mledojo leaderboard</title>" in dom
    assert "<title>pwned</title>" not in dom
    # ...while a script the policy allows (by hash) does run in the same page
    _probe(folder, "ok.html", "document.body.setAttribute('data-probe', '1');")
    assert 'data-probe="1"' in dump_dom(chromium, tmp_path / "q", f"{base}/ok.html")
    assert SORT_SCRIPT in page


def test_ensure_chromium_is_idempotent_and_explains_without_root(chromium: Path) -> None:
    again = subprocess.run(["bash", str(ENSURE)], capture_output=True, text=True, timeout=60)
    assert again.returncode == 0 and again.stderr == "", again.stderr  # nothing to do
    if os.geteuid() != 0:
        return
    # as an unprivileged user, with the browser "missing": exit 1 and say what to do
    proc = subprocess.run(
        ["runuser", "-u", "nobody", "--", "bash", str(ENSURE)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "MLEDOJO_CHROMIUM": "/nonexistent/chromium"},
    )
    assert proc.returncode == 1
    assert "not running as root" in proc.stderr and "apt-get install chromium" in proc.stderr
