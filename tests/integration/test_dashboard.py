"""The dashboard in a real browser: uvicorn serving a repo with data, headless Chromium renders /ui.

The screenshot lands in tests/output/dashboard.png (gitignored) for a human to look at.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from featurestream.online.keys import key_pattern
from tests.support.demo_repo import build_demo_repo

pytestmark = pytest.mark.integration

OUTPUT = Path(__file__).resolve().parent.parent / "output"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def server(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    ns = f"ui{uuid.uuid4().hex[:8]}"
    repo = build_demo_repo(tmp_path_factory.mktemp("dashboard") / "repo", redis_url, namespace=ns)
    port = _free_port()
    env = dict(os.environ, FEATURESTREAM_SERVE_ROOT=str(repo.config.root))
    log = open(tmp_path_factory.mktemp("uvicorn") / "uvicorn.log", "w")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "featurestream.api.main:app_from_env",
            "--factory",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(url + "/healthz", timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError(f"uvicorn did not start: {Path(log.name).read_text()[-2000:]}") from None
                time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
        import redis

        client = redis.Redis.from_url(redis_url)
        for key in client.scan_iter(match=key_pattern(ns, "*", "*"), count=1000):
            client.delete(key)
        client.close()


def _chromium(args: list[str], tmp: Path) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM, "chromium is not installed (apt-get install chromium; .ci/run installs it)"
    base = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp}",
        "--window-size=1400,1000",
        "--virtual-time-budget=15000",
    ]
    if any(a.startswith("--window-size=") for a in args):
        base = [b for b in base if not b.startswith("--window-size=")]
    return subprocess.run(base + args, capture_output=True, text=True, timeout=120)


@pytest.mark.skipif(CHROMIUM is None, reason="no chromium on PATH (optional locally; .ci/run installs it)")
def test_dashboard_renders_charts_in_chromium(server: str, tmp_path: Path) -> None:
    OUTPUT.mkdir(exist_ok=True)
    shot = OUTPUT / "dashboard.png"
    shot.unlink(missing_ok=True)
    res = _chromium([f"--screenshot={shot}", server + "/ui"], tmp_path / "profile1")
    assert shot.exists(), res.stderr[-2000:]
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 50_000  # a rendered page, not a blank one

    full = OUTPUT / "dashboard-full.png"  # the whole page, charts included, for a human to look at
    _chromium([f"--screenshot={full}", "--window-size=1400,3400", server + "/ui"], tmp_path / "profile3")
    assert full.exists()

    dom = _chromium(["--dump-dom", server + "/ui"], tmp_path / "profile2").stdout
    (OUTPUT / "dashboard.html").write_text(dom)
    assert 'data-ready="1"' in dom, dom[-3000:]
    assert dom.count('class="chart line-chart"') >= 6  # lag + missing-rate chart per view with data
    assert dom.count('class="series"') >= 6 and 'class="threshold"' in dom
    assert 'id="freshness-bars"' in dom and 'class="bar breached"' in dom
    assert 'data-view="user_clicks_10m@1"' in dom and "card_spend_1h" in dom
    assert "DRIFT" in dom and "SLA breach" in dom
    assert '<div id="errors"></div>' in dom  # no load errors shown
