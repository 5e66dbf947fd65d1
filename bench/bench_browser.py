"""Browser bench: the dashboard on the 300k-row demo in headless Chromium.

Measures, with a real server and browser:
- first render after server start: from launching `streamlit run dashboard.py` until the
  Overview's script run has finished and its charts are drawn (fresh process, cold caches;
  median of 3 fresh servers);
- Overview re-render after a filter change: from clicking a value in a sidebar filter until
  the run has finished with the new numbers (median of 5 different values, each a cache miss);
- each other page's first render in the same session (cold caches).

Prints a markdown table with the machine and writes bench/browser_results.md.
Run: `python bench/bench_browser.py [--rows 300000]` (needs Debian's chromium).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from importlib.metadata import version
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from e2e_helpers import (  # noqa: E402
    APP_IDLE,
    APP_RUNNING,
    VIEWPORT,
    AppServer,
    chromium,
    find_chromium,
    make_demo_store,
    metric_texts,
    open_page,
    wait_rendered,
)

from bench.machine import cpu_model, memory_gib  # noqa: E402

TARGET_FIRST_RENDER = 5.0
TARGET_FILTER_CHANGE = 1.0
FILTER_VALUES = [
    ("Country", "Norway"),
    ("Country", "Denmark"),
    ("Plan", "Premium"),
    ("Channel", "web"),
    ("Customer type", "business"),
]
OTHER_PAGES = ("trends", "touchpoints", "segments", "feedback")
OVERVIEW_PLOTS = 9  # 4 + 4 sparklines and the movers chart on the demo data


def machine() -> dict[str, str]:
    """What the numbers were measured on."""
    return {
        "CPU": f"{cpu_model()} ({os.cpu_count()} cores)",
        "memory": f"{memory_gib():.0f} GiB",
        "OS": platform.platform(),
        "Python": platform.python_version(),
        "streamlit / plotly / duckdb": f"{version('streamlit')} / {version('plotly')} / "
        f"{version('duckdb')}",
    }


def ensure_store(rows: int) -> Path:
    """bench/data/browser_<rows> with the demo datasets (generated once, not timed)."""
    data_dir = ROOT / "bench" / "data" / f"browser_{rows}"
    if not (data_dir / "cx.duckdb").exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        make_demo_store(data_dir, rows)
    return data_dir


def open_options(page: Any, label: str, value: str) -> Any:
    """Open a sidebar filter's drop-down and type `value`; returns the option to click."""
    box = page.locator("[data-testid='stSidebar'] [data-testid='stMultiSelect']").filter(
        has=page.get_by_text(label, exact=True)
    )
    box.locator("input").click()
    box.locator("input").fill(value)
    option = page.locator("[role='option']", has_text=value).first
    option.wait_for()
    return option


def clear_filters(page: Any) -> None:
    button = page.get_by_role("button", name="Clear filters")
    if button.count():
        button.click()
        page.wait_for_selector(APP_IDLE)
        page.wait_for_timeout(300)
        page.wait_for_selector(APP_IDLE)


def filter_change(page: Any, label: str, value: str) -> float:
    """Seconds from choosing a filter value until the Overview shows the new numbers."""
    before = metric_texts(page)
    option = open_options(page, label, value)
    started = time.perf_counter()
    option.click()
    page.wait_for_selector(APP_RUNNING, timeout=30_000)
    page.wait_for_selector(APP_IDLE, timeout=30_000)
    page.wait_for_function(
        """(before) => JSON.stringify([...document.querySelectorAll(
            "[data-testid='stMetricValue']")].map(e => e.innerText)) !== JSON.stringify(before)""",
        arg=before,
        timeout=30_000,
    )
    took = time.perf_counter() - started
    page.keyboard.press("Escape")
    return took


def cold_start(browser: Any, data_dir: Path) -> tuple[float, float, AppServer]:
    """Launch a fresh server and open the Overview; returns (health, first render, server)."""
    page = browser.new_context(viewport=VIEWPORT).new_page()  # a browser tab is ready
    server = AppServer(data_dir)
    launched = time.perf_counter()
    health = server.start()
    page.goto(f"{server.url}/", wait_until="commit")
    wait_rendered(page, plots=OVERVIEW_PLOTS)
    first = time.perf_counter() - launched
    page.wait_for_timeout(500)  # no rerun may follow: the page was complete
    assert page.locator(APP_IDLE).count() == 1
    page.context.close()
    return health, first, server


def run(rows: int, starts: int = 3) -> tuple[dict[str, Any], str]:
    """Measure; returns the figures and the markdown report."""
    browser_path = find_chromium()
    if browser_path is None:
        raise SystemExit("no Chromium found: apt-get install chromium")
    data_dir = ensure_store(rows)
    results: dict[str, Any] = {"load": os.getloadavg()[0]}
    with chromium(browser_path) as browser:
        results["chromium"] = browser.version
        healths, firsts = [], []
        for _ in range(starts - 1):
            health, first, server = cold_start(browser, data_dir)
            server.stop()
            healths.append(health)
            firsts.append(first)
        health, first, server = cold_start(browser, data_dir)
        healths.append(health)
        firsts.append(first)
        results["server_ready"] = statistics.median(healths)
        results["first_renders"] = firsts
        results["first_render"] = statistics.median(firsts)
        try:
            page = browser.new_context(viewport=VIEWPORT).new_page()
            open_page(page, f"{server.url}/")
            changes = []
            for label, value in FILTER_VALUES:
                clear_filters(page)
                changes.append(filter_change(page, label, value))
            results["filter_changes"] = changes
            results["filter_change_median"] = statistics.median(changes)
            clear_filters(page)
            for name in OTHER_PAGES:
                started = time.perf_counter()
                page.goto(f"{server.url}/{name}", wait_until="commit")
                wait_rendered(page, plots=0 if name == "feedback" else 1)
                page.wait_for_selector("[class*='st-key-comment-'], .js-plotly-plot")
                results[f"page_{name}"] = time.perf_counter() - started
        finally:
            server.stop()
    return results, report(rows, results)


def report(rows: int, r: dict[str, Any]) -> str:
    """The markdown table."""

    def ok(value: float, target: float) -> str:
        return "✓" if value <= target else "✗"

    n_starts = len(r["first_renders"])
    lines = [
        f"# Browser bench: {rows:,}-row demo, headless Chromium",
        "",
        "| measurement | seconds | target |",
        "|---|---:|---|",
        f"| server start → health check answers (median) | {r['server_ready']:.2f} | |",
        f"| server start → Overview fully rendered (first render, median of {n_starts} fresh "
        f"servers) | {r['first_render']:.2f} | ≤ {TARGET_FIRST_RENDER:.0f} s "
        f"{ok(r['first_render'], TARGET_FIRST_RENDER)} |",
        "| first renders, each | " + ", ".join(f"{x:.2f}" for x in r["first_renders"]) + " | |",
        f"| filter change → Overview re-rendered (median of {len(r['filter_changes'])}) | "
        f"{r['filter_change_median']:.2f} | ≤ {TARGET_FILTER_CHANGE:.0f} s "
        f"{ok(r['filter_change_median'], TARGET_FILTER_CHANGE)} |",
        "| filter changes, each | " + ", ".join(f"{x:.2f}" for x in r["filter_changes"]) + " | |",
        *[
            f"| {name.capitalize()} page, first visit (page load → rendered) | "
            f"{r[f'page_{name}']:.2f} | |"
            for name in OTHER_PAGES
        ],
        "",
        "Machine:",
        "",
        *[f"- {k}: {v}" for k, v in machine().items()],
        f"- Chromium: {r['chromium']}",
        f"- load average when the bench started: {r['load']:.2f}",
        "",
        "First render: from launching `streamlit run dashboard.py` (data already stored) until "
        "the Overview's run has finished and its charts are drawn in a new browser tab. A "
        "filter change is timed from the click on the option (drop-down already open) until "
        "the run has finished and the KPI tiles show new values; each change is a cache miss "
        "(a different filter), so every query runs in DuckDB.",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    """Run the bench and write bench/browser_results.md."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=300_000)
    args = parser.parse_args()
    _, text = run(args.rows)
    print(text)
    (ROOT / "bench" / "browser_results.md").write_text(text)


if __name__ == "__main__":
    main()
