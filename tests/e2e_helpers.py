"""Browser test plumbing: a demo store, the dashboard server as a subprocess, headless
Chromium through Playwright, and waits that know when a Streamlit run has finished.

Used by tests/test_e2e.py and bench/bench_browser.py (see DEVELOPERS.md / DESIGN §8).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome")
LAUNCH_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]  # fmt: skip
APP_IDLE = "[data-testid='stApp'][data-test-script-state='notRunning']"
APP_RUNNING = "[data-testid='stApp'][data-test-script-state='running']"
EXCEPTION = "[data-testid='stException']"
PLOT = ".js-plotly-plot"
VIEWPORT = {"width": 1440, "height": 1000}


def find_chromium() -> str | None:
    """The Chromium binary: $CHROMIUM_PATH, the Debian paths, or on PATH."""
    env = os.environ.get("CHROMIUM_PATH")
    if env and Path(env).exists():
        return env
    for path in CHROMIUM_CANDIDATES:
        if Path(path).exists():
            return path
    return shutil.which("chromium") or shutil.which("chromium-browser")


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def make_demo_store(data_dir: Path, rows: int, *, themes: bool = True) -> None:
    """Fill `data_dir` with the demo datasets through the CLI, in its own process: the
    DuckDB file is released when it exits, so the server process can open it (one process
    per file), and no connection of this process is touched. `themes=False` skips the
    comment analysis (seconds at 20k rows)."""
    cmd = [sys.executable, "-m", "cxdata", "--data-dir", str(data_dir), "demo", "--rows", str(rows)]
    subprocess.run(
        cmd if themes else [*cmd, "--skip-themes"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        timeout=300,
    )


def store_demo_here(data_dir: Path, rows: int) -> None:
    """The demo datasets without the comment themes (what `make_demo_store(..., themes=False)`
    stores: cxdata.demo.store_demo, the default seed, one change), written by this process,
    whose connection to `data_dir` is closed again before a server opens it (the lake takes
    several processes). For the tests whose pages show no themes: a CLI process only added
    its start-up, about a CPU-second each on the 2-core machine. The CLI's own `demo`
    stays covered: make_demo_store (tests/test_e2e.py, with the themes), tests/test_cli.py
    and tests/test_access.py run it."""
    from cxdata.demo import store_demo
    from cxdata.store import close, connect

    try:
        store_demo(connect(data_dir), rows=rows)
    finally:
        close(data_dir)


class AppServer:
    """`streamlit run dashboard.py` on a free port (or `port`) with its own data directory.

    Several servers may share one data directory (the store is a DuckLake): give each its
    own `log_name` (default server.log, in the data directory)."""

    def __init__(
        self,
        data_dir: Path,
        env: dict[str, str] | None = None,
        args: tuple[str, ...] = (),
        *,
        port: int | None = None,
        log_name: str = "server.log",
    ) -> None:
        self.data_dir = data_dir
        self.extra_args = args
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.extra_env = env or {}
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = data_dir / log_name
        self.started_at = 0.0

    def start(self, timeout: float = 60) -> float:
        """Start the server; returns the seconds until its health check answered."""
        # Open mode is read-only unless CX_OPEN_ADMIN=1; the browser tests import and
        # replace data, so they run as local admins unless a test says otherwise.
        env = {"CX_OPEN_ADMIN": "1", **os.environ, "CX_DATA_DIR": str(self.data_dir),
               **self.extra_env}
        env.pop("CX_DATABASE_URL", None)
        cmd = [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            "dashboard.py",
            "--server.headless",
            "true",
            "--server.port",
            str(self.port),
            "--server.address",
            "127.0.0.1",
            "--browser.gatherUsageStats",
            "false",
            "--server.fileWatcherType",
            "none",
            *self.extra_args,
        ]
        self.started_at = time.perf_counter()
        self.proc = subprocess.Popen(
            cmd, cwd=ROOT, env=env, stdout=self.log_path.open("wb"), stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the dashboard exited: {self.log()}")
            try:
                with urllib.request.urlopen(f"{self.url}/_stcore/health", timeout=2) as r:
                    if r.status == 200:
                        return time.perf_counter() - self.started_at
            except OSError:
                time.sleep(0.1)
        raise TimeoutError(f"the dashboard did not start in {timeout} s: {self.log()}")

    def log(self) -> str:
        """The server's output so far."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self) -> None:
        """Stop the server process this object started."""
        terminate(self.proc, grace=15)
        self.proc = None


@contextmanager
def running_app(data_dir: Path, env: dict[str, str] | None = None) -> Iterator[AppServer]:
    """A started AppServer, stopped afterwards."""
    server = AppServer(data_dir, env)
    server.start()
    try:
        yield server
    finally:
        server.stop()


CADDYFILE = ROOT / "deploy" / "Caddyfile"


class CaddyProxy:
    """Caddy with the repository's deploy/Caddyfile in front of `upstreams` (host:port
    strings), on a free loopback port (admin endpoint on another); its state goes to
    `workdir`, never to the user's home."""

    def __init__(self, upstreams: list[str], workdir: Path) -> None:
        self.upstreams = upstreams
        self.workdir = workdir
        self.port = free_port()
        self.admin = f"127.0.0.1:{free_port()}"
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = workdir / "caddy.log"

    def start(self, timeout: float = 30) -> None:
        """Start Caddy; returns once a health check through it reaches a dashboard.
        Raises RuntimeError when Caddy exits, TimeoutError when nothing answers."""
        caddy = shutil.which("caddy")
        if caddy is None:
            raise RuntimeError("caddy is not installed (apt-get install caddy)")
        self.workdir.mkdir(parents=True, exist_ok=True)
        env = {
            **os.environ,
            "CX_SITE": self.url,
            "CX_BIND": "127.0.0.1",
            "CX_UPSTREAMS": " ".join(self.upstreams),
            "CX_CADDY_ADMIN": self.admin,
            "XDG_DATA_HOME": str(self.workdir / "data"),
            "XDG_CONFIG_HOME": str(self.workdir / "config"),
        }
        cmd = [caddy, "run", "--config", str(CADDYFILE), "--adapter", "caddyfile"]
        log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            cmd, cwd=self.workdir, env=env, stdout=log, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"caddy exited: {self.log()[-3000:]}")
            try:
                with urllib.request.urlopen(f"{self.url}/_stcore/health", timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.1)
        raise TimeoutError(f"caddy did not answer in {timeout} s: {self.log()[-3000:]}")

    def in_flight(self) -> dict[str, int]:
        """Requests each upstream is serving right now, by host:port, from Caddy's admin
        API (an open websocket is one request for as long as it stays open)."""
        with urllib.request.urlopen(f"http://{self.admin}/reverse_proxy/upstreams") as r:
            return {u["address"]: int(u["num_requests"]) for u in json.load(r)}

    def log(self) -> str:
        """Caddy's output so far."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self) -> None:
        """Stop the Caddy process this object started."""
        terminate(self.proc, grace=10)
        self.proc = None


def terminate(proc: subprocess.Popen[bytes] | None, grace: float) -> None:
    """Stop `proc` if it still runs: SIGTERM, then SIGKILL after `grace` seconds."""
    if proc is not None and proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


@contextmanager
def chromium(executable: str) -> Iterator[Any]:
    """A headless Chromium browser (Playwright sync API)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, args=LAUNCH_ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


def wait_idle(page: Any, timeout: float = 30_000, settle_ms: int = 250) -> None:
    """Wait until the script run has finished and the page stopped changing."""
    page.wait_for_selector(APP_IDLE, timeout=timeout)
    # a rerun can start right after (query-param sync, a switch_page): let it begin, then
    # wait for the final idle state
    page.wait_for_timeout(settle_ms)
    page.wait_for_selector(APP_IDLE, timeout=timeout)


def open_page(page: Any, url: str, *, charts: bool = True, timeout: float = 45_000) -> None:
    """Navigate and wait until the run finished (and, optionally, a Plotly chart is drawn)."""
    page.goto(url, wait_until="domcontentloaded", timeout=timeout)
    page.wait_for_selector("[data-testid='stApp']", timeout=timeout)
    wait_idle(page, timeout)
    if charts:
        page.wait_for_selector(f"{PLOT} .main-svg", timeout=timeout)
        page.wait_for_timeout(300)  # Plotly finishes layout after the SVG appears


def wait_rendered(page: Any, plots: int = 1, timeout: float = 45_000) -> None:
    """Wait (without fixed pauses) until the run has finished and at least `plots` Plotly
    charts are drawn: the moment a user sees the complete page."""
    page.wait_for_function(
        """(plots) => {
            const app = document.querySelector("[data-testid='stApp']");
            return app && app.dataset.testScriptState === 'notRunning'
                && document.querySelectorAll('.js-plotly-plot .main-svg').length >= plots;
        }""",
        arg=plots,
        timeout=timeout,
        polling=20,
    )


# What a finished page shows, checked in the browser together with "the run has finished"
# (idle alone can come before the elements are drawn, and while a rerun runs the previous
# run's elements are still on the page). kind: "tiles" (the KPI tiles: the Responses number,
# or the notice that no answers match), "plots" (at least `n` Plotly charts drawn) or
# "comments" (at least `n` comment cards, or the notice why there are none). Async tests
# pass it to `page.wait_for_function(PAGE_READY, arg=[kind, n])` themselves.
PAGE_READY = r"""([kind, n]) => {
    const app = document.querySelector("[data-testid='stApp']");
    if (!app || app.dataset.testScriptState !== 'notRunning') return false;
    const text = document.body.innerText;
    if (kind === 'tiles')
        return /Responses\s*\n?\s*[\d,]+/.test(text) || text.includes('No answers match');
    if (kind === 'plots')
        return document.querySelectorAll('.js-plotly-plot .main-svg').length >= n;
    if (kind === 'comments')
        return document.querySelectorAll("[class*='st-key-comment-']").length >= n
            || text.includes('No comments match') || text.includes('Comments are withheld');
    throw new Error('unknown kind ' + kind);
}"""
READY_KIND = {"": "tiles", "overview": "tiles", "feedback": "comments"}  # others: "plots"


def wait_ready(page: Any, kind: str, n: int = 1, timeout: float = 45_000) -> None:
    """Wait until the run has finished and the page shows what `kind` names (PAGE_READY)."""
    page.wait_for_function(PAGE_READY, arg=[kind, n], timeout=timeout, polling=50)


def wait_for_tiles(page: Any, timeout: float = 45_000) -> None:
    """Wait until the run has finished and the KPI tiles are drawn (or no answers match)."""
    wait_ready(page, "tiles", timeout=timeout)


def wait_for_comments(page: Any, at_least: int = 1, timeout: float = 45_000) -> None:
    """Wait until the run has finished and at least `at_least` comment cards are listed (or
    the page says why none are)."""
    wait_ready(page, "comments", at_least, timeout)


def wait_for_text(page: Any, *texts: str, timeout: float = 45_000) -> str:
    """Wait until the run has finished and the page's text contains every one of `texts`;
    returns the page's text."""
    page.wait_for_function(
        """(texts) => {
            const app = document.querySelector("[data-testid='stApp']");
            return app && app.dataset.testScriptState === 'notRunning'
                && texts.every(t => app.innerText.includes(t));
        }""",
        arg=list(texts),
        timeout=timeout,
        polling=50,
    )
    return str(page.inner_text("[data-testid='stApp']"))


def wait_page(page: Any, path: str, timeout: float = 45_000) -> None:
    """Wait for what the dashboard page at `path` ("", "trends", "feedback"…) shows."""
    wait_ready(page, READY_KIND.get(path.strip("/").split("?")[0], "plots"), timeout=timeout)


def metric_texts(page: Any) -> list[str]:
    """The texts of all st.metric values on the page, once the KPI tiles are drawn."""
    wait_for_tiles(page)
    return page.locator("[data-testid='stMetricValue']").all_inner_texts()


def exceptions(page: Any) -> list[str]:
    """Texts of any Streamlit exception boxes (tracebacks) on the page."""
    return page.locator(EXCEPTION).all_inner_texts()


def content_height(page: Any) -> int:
    """Height of the tallest scrolling area (Streamlit scrolls inside its main area, so a
    plain full-page screenshot would stop at the window's height)."""
    return int(
        page.evaluate(
            """() => Math.max(...['[data-testid="stMain"]', '[data-testid="stAppViewContainer"]',
                             '[data-testid="stSidebarContent"]', 'body']
            .map(s => document.querySelector(s)).filter(Boolean).map(e => e.scrollHeight))"""
        )
    )


def screenshot(page: Any, name: str, directory: Path = ARTIFACTS) -> Path:
    """Save a screenshot of the whole page (all of the main area) and return its path."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.png"
    size = page.viewport_size or VIEWPORT
    height = min(max(content_height(page) + 40, size["height"]), 8000)
    page.set_viewport_size({"width": size["width"], "height": height})
    page.wait_for_timeout(400)  # charts re-layout to the new size
    try:
        page.screenshot(path=str(path), full_page=True)
    finally:
        page.set_viewport_size(size)
    return path


def click_heatmap_cell(page: Any, row: str, col: str) -> None:
    """Click the centre of one heatmap cell, located through Plotly's own axes."""
    box = page.evaluate(
        """([row, col]) => {
            const gd = [...document.querySelectorAll('.js-plotly-plot')]
                .find(g => (g.data || []).some(t => t.type === 'heatmap'));
            const xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis;
            const r = gd.querySelector('.nsewdrag').getBoundingClientRect();
            const x = xa.l2p(xa.d2l(col)), y = ya.l2p(ya.d2l(row));
            return {x: r.left + x, y: r.top + y};
        }""",
        [row, col],
    )
    page.mouse.move(box["x"], box["y"])
    page.wait_for_timeout(200)
    page.mouse.click(box["x"], box["y"])
