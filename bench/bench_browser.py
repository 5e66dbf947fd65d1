"""Browser bench: the dashboard in headless Chromium, on one or more stores.

Measures, with a real `streamlit run dashboard.py` server and browser, for each store:
- first render after server start: from launching the server until the Overview's script
  run has finished and its charts are drawn (fresh process, cold caches; median of
  `--starts` fresh servers);
- Overview re-render after a filter change: from clicking a value in a sidebar filter until
  the run has finished with the new numbers (median of 5 different values, each a cache miss);
- each other page's first render in the same session (cold caches);
- Touchpoints → Feedback: a click on a friction heatmap cell until that cell's comments are
  listed (median of 5 different cells);
- Feedback: a comment search (Enter in the search box) until the matching comments are
  listed (median of 5 different words);
- the Themes view: choosing "Themes" on the Feedback page until its charts are drawn
  (median of 5, each under another filter).

Prints a markdown table (one column per store, and the targets) with the machine and writes
bench/browser_results.md (or `--out`). The stores are only read.
Run: `python bench/bench_browser.py [--rows 300000] [--data-dir DIR ...] [--out FILE]`
(needs Debian's chromium); `--data-dir` alone measures only the given stores.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from importlib.metadata import version
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from e2e_helpers import (  # noqa: E402
    APP_IDLE,
    VIEWPORT,
    AppServer,
    chromium,
    exceptions,
    find_chromium,
    make_demo_store,
    open_page,
    wait_for_comments,
    wait_rendered,
)

from bench.machine import cpu_model, memory_gib  # noqa: E402
from cxdata.lake import CATALOG_FILE  # noqa: E402

TARGET_FIRST_RENDER = 5.0
TARGET_FILTER_CHANGE = 1.0
TARGET_CELL_CLICK = 1.0
TARGET_SEARCH = 1.0
TARGET_THEMES = 2.0
FIRST_RENDER_ROWS = 300_000  # the first-render target is for stores up to this size
REPEATS = 5  # heatmap cells per store
TIMEOUT_MS = 300_000  # a 10M-row store on a busy machine can take a while: a ceiling only
FILTER_VALUES = [
    ("Country", "Norway"),
    ("Country", "Denmark"),
    ("Plan", "Premium"),
    ("Channel", "web"),
    ("Customer type", "business"),
]
OTHER_PAGES = ("trends", "touchpoints", "segments", "feedback")
OVERVIEW_PLOTS = 9  # 4 + 4 sparklines and the movers chart on the demo data
# words each found in hundreds to thousands of the demo's comments
SEARCH_WORDS = ("delivery", "price", "staff", "refund", "checkout")
THEME_FILTERS = (
    ("country", "Norway"),
    ("country", "Denmark"),
    ("country", "Sweden"),
    ("plan", "Premium"),
    ("channel", "web"),
)
THEMES_PLOTS = 4  # volume, impact, trend and themes × touchpoints


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
    if not (data_dir / CATALOG_FILE).exists():  # the store is a lake (cxdata.lake)
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


# Timed inside the page, from the click's mousedown: when the KPI tiles first show other
# values, and when the run that the click started has finished. An observer stamps both, so
# how often the harness polls (here every 100 ms, to leave the 2 cores to the server and
# the page) does not enter the figures; polling selectors every frame delayed the run's end
# by ~0.3 s at 10M rows.
FILTER_WATCH = """() => {
    const app = document.querySelector("[data-testid='stApp']");
    const texts = () => JSON.stringify([...document.querySelectorAll(
        "[data-testid='stMetricValue']")].map(e => e.innerText));
    const before = texts();
    const w = window.__filterChange = {t0: null, kpis: null, ran: false, idle: null};
    document.addEventListener("mousedown", () => { w.t0 = performance.now(); },
                              {capture: true, once: true});
    const watch = new MutationObserver(() => {
        if (w.t0 === null) return;
        const now = performance.now();
        if (w.kpis === null && texts() !== before) w.kpis = now;
        const state = app.getAttribute("data-test-script-state");
        if (state === "running") w.ran = true;
        if (w.ran && state === "notRunning" && w.idle === null) w.idle = now;
        if (w.kpis !== null && w.idle !== null) watch.disconnect();
    });
    watch.observe(document.body, {subtree: true, childList: true, characterData: true,
                                  attributes: true, attributeFilter: ["data-test-script-state"]});
}"""


def filter_change(page: Any, label: str, value: str) -> tuple[float, float]:
    """Seconds from choosing a filter value until (the Overview's KPI tiles show the new
    numbers, the run has finished)."""
    option = open_options(page, label, value)
    page.evaluate(FILTER_WATCH)
    option.click()
    page.wait_for_function(
        "() => window.__filterChange.kpis !== null && window.__filterChange.idle !== null",
        polling=100, timeout=TIMEOUT_MS,
    )
    w = page.evaluate("() => window.__filterChange")
    page.keyboard.press("Escape")
    return (w["kpis"] - w["t0"]) / 1000, (w["idle"] - w["t0"]) / 1000


def cold_start(browser: Any, data_dir: Path, log: Path) -> tuple[float, float, AppServer]:
    """Launch a fresh server (its output to `log`, not into the store) and open the
    Overview; returns (health, first render, server)."""
    page = browser.new_context(viewport=VIEWPORT).new_page()  # a browser tab is ready
    server = AppServer(data_dir)
    server.log_path = log
    launched = time.perf_counter()
    health = server.start()
    page.goto(f"{server.url}/", wait_until="commit")
    wait_rendered(page, plots=OVERVIEW_PLOTS, timeout=TIMEOUT_MS)
    first = time.perf_counter() - launched
    page.wait_for_timeout(500)  # no rerun may follow: the page was complete
    assert page.locator(APP_IDLE).count() == 1
    page.context.close()
    return health, first, server


# --- the Touchpoints → Feedback, comment search and Themes interactions -------------------

# The friction heatmap's cells that have a value (grey, suppressed cells are NaN), from the
# trace data, not pixels: row, column and value.
HEATMAP_CELLS = """() => {
    const gd = document.querySelector('.st-key-touchpoints-heatmap .js-plotly-plot')
        || [...document.querySelectorAll('.js-plotly-plot')]
            .find(g => (g.data || []).some(t => t.type === 'heatmap'));
    // _fullData: numpy arrays arrive base64-encoded in gd.data; Plotly decodes them here
    const heat = gd._fullData.find(t => t.type === 'heatmap');
    const cells = [];
    [...heat.y].forEach((row, i) => [...heat.x].forEach((col, j) => {
        const z = heat.z[i][j];
        if (z !== null && Number.isFinite(z)) cells.push({row, col, z});
    }));
    return cells;
}"""

# The centre of one heatmap cell on screen, through Plotly's own axes (as
# e2e_helpers.click_heatmap_cell, which cannot be timed from the click itself), after
# scrolling Streamlit's main area so that the cell is in the middle of the window.
CELL_POINT = """([row, col]) => {
    const gd = document.querySelector('.st-key-touchpoints-heatmap .js-plotly-plot')
        || [...document.querySelectorAll('.js-plotly-plot')]
            .find(g => (g.data || []).some(t => t.type === 'heatmap'));
    const xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis;
    const at = () => {
        const r = gd.querySelector('.nsewdrag').getBoundingClientRect();
        return {x: r.left + xa.l2p(xa.d2l(col)), y: r.top + ya.l2p(ya.d2l(row))};
    };
    let scroller = gd.parentElement;
    while (scroller && !(scroller.scrollHeight > scroller.clientHeight
            && /auto|scroll/.test(getComputedStyle(scroller).overflowY)))
        scroller = scroller.parentElement;
    (scroller || document.scrollingElement).scrollTop += at().y - innerHeight / 2;
    return at();
}"""

# The run has finished and the comment cards are those of `label` (every card's context line
# names it), or the page says none match.
CELL_COMMENTS = """(label) => {
    const app = document.querySelector("[data-testid='stApp']");
    if (!app || app.dataset.testScriptState !== 'notRunning') return false;
    if (!location.pathname.endsWith('/feedback')) return false;
    const cards = [...document.querySelectorAll("[class*='st-key-comment-']")];
    if (app.innerText.includes('No comments match')) return true;
    return cards.length > 0 && cards.every(c => c.innerText.includes(label));
}"""

# The run has finished, the match count differs from `before` and every card contains
# `word` (the search is case-insensitive), or the page says none match.
SEARCH_RESULTS = """([word, before]) => {
    const app = document.querySelector("[data-testid='stApp']");
    if (!app || app.dataset.testScriptState !== 'notRunning') return false;
    if (!new URLSearchParams(location.search).getAll('q').includes(word)) return false;
    if (app.innerText.includes('No comments match')) return true;
    const head = [...app.querySelectorAll('p')].map(p => p.innerText)
        .find(t => /comments match/.test(t));
    if (!head || head === before) return false;
    const cards = [...document.querySelectorAll("[class*='st-key-comment-']")];
    return cards.length > 0 && cards.every(c => c.innerText.toLowerCase().includes(word));
}"""

MATCH_LINE = """() => ([...document.querySelectorAll("[data-testid='stApp'] p")]
    .map(p => p.innerText).find(t => /comments match/.test(t)) || '')"""

# The run has finished and the Themes view's charts are drawn (the comments view has none).
THEMES_READY = """(plots) => {
    const app = document.querySelector("[data-testid='stApp']");
    return app && app.dataset.testScriptState === 'notRunning'
        && new URLSearchParams(location.search).get('view') === 'themes'
        && app.innerText.includes('Themes and their impact on NPS')
        && document.querySelectorAll('.js-plotly-plot .main-svg').length >= plots;
}"""


def heatmap_cells(page: Any, url: str, n: int) -> list[tuple[str, str, str]]:
    """The `n` worst cells (highest value) of the friction heatmap on `url`, each
    (row, column, "row · column" as the comment cards write it), rows spread out."""
    open_page(page, url, timeout=TIMEOUT_MS)
    cells = sorted(page.evaluate(HEATMAP_CELLS), key=lambda c: -c["z"])
    picked: list[dict[str, Any]] = []
    for c in cells:  # one cell per touchpoint first, so each is its own comment query
        if len(picked) < n and all(p["row"] != c["row"] for p in picked):
            picked.append(c)
    picked += [c for c in cells if c not in picked][: n - len(picked)]
    return [(c["row"], c["col"], f"{c['row']} · {c['col']}") for c in picked]


def heatmap_click(page: Any, url: str, row: str, col: str, label: str) -> float:
    """Seconds from clicking the heatmap cell (row, col) on the Touchpoints page at `url`
    until the Feedback page shows that cell's comments."""
    open_page(page, url, timeout=TIMEOUT_MS)
    box = page.evaluate(CELL_POINT, [row, col])
    page.mouse.move(box["x"], box["y"])
    page.wait_for_timeout(200)  # Plotly selects the point under the hover
    started = time.perf_counter()
    page.mouse.click(box["x"], box["y"])
    page.wait_for_function(CELL_COMMENTS, arg=label, timeout=TIMEOUT_MS, polling=20)
    return time.perf_counter() - started


def comment_search(page: Any, word: str) -> float:
    """Seconds from pressing Enter in the Feedback page's comment search (with `word`
    typed) until the matching comments are listed."""
    before = page.evaluate(MATCH_LINE)
    box = page.locator(".st-key-feedback-q input")
    box.fill(word)
    started = time.perf_counter()
    box.press("Enter")
    page.wait_for_function(SEARCH_RESULTS, arg=[word, before], timeout=TIMEOUT_MS, polling=20)
    return time.perf_counter() - started


def themes_view(page: Any, url: str) -> float:
    """Seconds from choosing "Themes" on the Feedback page at `url` (its comments view,
    already shown) until the Themes view's charts are drawn."""
    open_page(page, url, charts=False, timeout=TIMEOUT_MS)
    wait_for_comments(page, timeout=TIMEOUT_MS)
    choice = page.locator(".st-key-feedback-view").get_by_text("Themes", exact=True)
    started = time.perf_counter()
    choice.click()
    page.wait_for_function(THEMES_READY, arg=THEMES_PLOTS, timeout=TIMEOUT_MS, polling=20)
    return time.perf_counter() - started


# --- the stores and the run ----------------------------------------------------------------


def count_rows(data_dir: Path) -> int:
    """The answers stored in `data_dir`, counted in a child process (read-only: its DuckDB
    connection is gone when it exits, and the store is not written)."""
    code = (
        "import sys; from cxdata import store\n"
        "s = store.connect(sys.argv[1], read_only=True, create=False)\n"
        "print(s.responses().count().execute())\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(data_dir)],
        cwd=ROOT, check=True, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    return int(out.stdout.strip().splitlines()[-1])


def measure_store(browser: Any, data_dir: Path, starts: int, log_dir: Path) -> dict[str, Any]:
    """Every measurement on one store: `starts` fresh servers for the first render, then
    the interactions on the last one. Returns the figures (seconds; lists are each
    repetition in order)."""
    r: dict[str, Any] = {"load": os.getloadavg()[0]}
    healths, firsts = [], []
    server: AppServer | None = None
    for i in range(starts):
        if server is not None:
            server.stop()
        health, first, server = cold_start(browser, data_dir, log_dir / f"server{i}.log")
        healths.append(health)
        firsts.append(first)
    assert server is not None
    r["server_ready"] = statistics.median(healths)
    r["first_renders"] = firsts
    r["first_render"] = statistics.median(firsts)
    context = browser.new_context(viewport=VIEWPORT)
    try:
        page = context.new_page()
        open_page(page, f"{server.url}/", timeout=TIMEOUT_MS)
        changes = []
        for label, value in FILTER_VALUES:
            clear_filters(page)
            changes.append(filter_change(page, label, value))
        r["filter_changes"] = [kpis for kpis, _ in changes]
        r["filter_runs"] = [run for _, run in changes]
        clear_filters(page)
        for name in OTHER_PAGES:
            started = time.perf_counter()
            page.goto(f"{server.url}/{name}", wait_until="commit")
            wait_rendered(page, plots=0 if name == "feedback" else 1, timeout=TIMEOUT_MS)
            page.wait_for_selector(
                "[class*='st-key-comment-'], .js-plotly-plot", timeout=TIMEOUT_MS
            )
            r[f"page_{name}"] = time.perf_counter() - started
        touchpoints = f"{server.url}/touchpoints"
        cells = heatmap_cells(page, touchpoints, REPEATS)
        r["cells"] = [label for _, _, label in cells]
        r["cell_clicks"] = [heatmap_click(page, touchpoints, *cell) for cell in cells]
        open_page(page, f"{server.url}/feedback", charts=False, timeout=TIMEOUT_MS)
        wait_for_comments(page, timeout=TIMEOUT_MS)
        r["searches"] = [comment_search(page, word) for word in SEARCH_WORDS]
        r["themes"] = [
            themes_view(page, f"{server.url}/feedback?{param}={value}")
            for param, value in THEME_FILTERS
        ]
        r["errors"] = exceptions(page)
    except Exception:
        print(server.log()[-3000:], file=sys.stderr)
        raise
    finally:
        context.close()
        server.stop()
    return r


def run(stores: list[Path], starts: int = 3) -> tuple[list[dict[str, Any]], str]:
    """Measure each store in turn (one server at a time); returns the figures per store
    (with "label" and "rows") and the markdown report."""
    browser_path = find_chromium()
    if browser_path is None:
        raise SystemExit("no Chromium found: apt-get install chromium")
    results = []
    with chromium(browser_path) as browser, tempfile.TemporaryDirectory() as tmp:
        for i, data_dir in enumerate(stores):
            rows = count_rows(data_dir)
            print(f"{data_dir}: {rows:,} rows", file=sys.stderr)
            log_dir = Path(tmp) / str(i)
            log_dir.mkdir()
            r = measure_store(browser, data_dir, starts, log_dir)
            r.update(rows=rows, label=f"{rows:,} rows", path=str(data_dir),
                     chromium=browser.version)  # fmt: skip
            results.append(r)
    return results, report(results)


def report(results: list[dict[str, Any]]) -> str:
    """The markdown table: one column per store, then the target."""

    def med(values: list[float]) -> float:
        return statistics.median(values)

    def cells(
        key: str, target: float | None = None, *, each: bool = False, max_rows: int = 0
    ) -> str:
        out = []
        for r in results:
            goal = target if not max_rows or r["rows"] <= max_rows else None
            if each:
                out.append(", ".join(f"{x:.2f}" for x in r[key]))
            else:
                value = med(r[key]) if isinstance(r[key], list) else r[key]
                mark = "" if goal is None else (" ✓" if value <= goal else " ✗")
                out.append(f"{value:.2f}{mark}")
        return " | ".join(out)

    def line(name: str, key: str, target: float | None = None, max_rows: int = 0) -> list[str]:
        goal = "" if target is None else f"≤ {target:g} s"
        goal += f" (stores up to {max_rows:,} rows)" if max_rows else ""
        rows = [f"| {name} | {cells(key, target, max_rows=max_rows)} | {goal} |"]
        if isinstance(results[0][key], list):
            rows.append(f"| … each | {cells(key, each=True)} | |")
        return rows

    starts = len(results[0]["first_renders"])
    r0 = results[0]
    lines = [
        "# Browser bench: the dashboard in headless Chromium, per store",
        "",
        "| measurement (seconds) | " + " | ".join(r["label"] for r in results) + " | target |",
        "|---|" + "---:|" * len(results) + "---|",
        *line("server start → health check answers (median)", "server_ready"),
        *line(f"server start → Overview fully rendered (first render, median of {starts} "
              f"fresh server{'s' if starts > 1 else ''})", "first_renders", TARGET_FIRST_RENDER,
              FIRST_RENDER_ROWS),
        *line(f"filter change → KPIs updated (median of {len(r0['filter_changes'])})",
              "filter_changes", TARGET_FILTER_CHANGE),
        *line(f"filter change → the Overview's run finished (median of "
              f"{len(r0['filter_runs'])})", "filter_runs"),
        *line(f"heatmap cell click → its comments on the Feedback page (median of "
              f"{len(r0['cell_clicks'])})", "cell_clicks", TARGET_CELL_CLICK),
        *line(f"comment search → results (median of {len(r0['searches'])})", "searches",
              TARGET_SEARCH),
        *line(f"Themes view → rendered with its charts (median of {len(r0['themes'])})",
              "themes", TARGET_THEMES),
        *[
            f"| {name.capitalize()} page, first visit (page load → rendered) | "
            + cells(f"page_{name}") + " | |"
            for name in OTHER_PAGES
        ],
        "",
        "Repetitions (each a cache miss):",
        "",
        "- filter change: " + ", ".join(f"{k} = {v}" for k, v in FILTER_VALUES),
        *[f"- heatmap cells, {r['label']}: " + "; ".join(r["cells"]) for r in results],
        "- comment search words: " + ", ".join(SEARCH_WORDS),
        "- Themes view, under the filter: " + ", ".join(f"{k}={v}" for k, v in THEME_FILTERS),
        "",
        "Stores:",
        "",
        *[f"- {r['label']}: `{r['path']}` (load average when its runs started: "
          f"{r['load']:.2f})" for r in results],
        "",
        "Machine:",
        "",
        *[f"- {k}: {v}" for k, v in machine().items()],
        f"- Chromium: {r0['chromium']}",
        "",
        "First render: from launching `streamlit run dashboard.py` (data already stored) until "
        "the Overview's run has finished and its charts are drawn in a new browser tab. Every "
        "other figure is timed from the user's action until the run has finished "
        "(`data-test-script-state='notRunning'`) and the expected content is on the page, "
        "except the filter change: timed inside the page from the click on the option "
        "(drop-down already open) until the KPI tiles show new values, and until the run "
        "has finished (the movers and hot spots below the tiles drawn). A heatmap click: from "
        "the click on the friction cell (Touchpoints page, all answers) until the Feedback "
        "page lists that cell's comments; a comment search: from pressing Enter in the "
        "search box until the match count has changed and every comment shown contains the "
        "word; the Themes view: from choosing \"Themes\" on the Feedback page (its comments "
        f"view shown, under a filter) until its {THEMES_PLOTS} charts are drawn. Each "
        "repetition is a cache miss: another filter, "
        "cell, word or filter, so its queries run in DuckDB.",
    ]
    if any(r["errors"] for r in results):
        lines += ["", "Exceptions shown on the last page: "
                  + "; ".join(e for r in results for e in r["errors"])]  # fmt: skip
    return "\n".join(lines) + "\n"


def main() -> None:
    """Run the bench and write bench/browser_results.md (or `--out`)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, help="build (once) and measure a demo store of N "
                        "rows in bench/data (default 300000 when no --data-dir is given)")
    parser.add_argument("--data-dir", type=Path, action="append", default=[],
                        help="an existing store to measure (repeatable; only read)")
    parser.add_argument("--starts", type=int, default=3,
                        help="fresh servers per store for the first render (default 3)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "browser_results.md")
    args = parser.parse_args()  # fmt: skip
    for d in args.data_dir:
        if not d.is_dir():
            parser.error(f"--data-dir {d}: no such directory")
    rows = args.rows if args.rows is not None or args.data_dir else 300_000
    stores = ([ensure_store(rows)] if rows else []) + [d.resolve() for d in args.data_dir]
    _, text = run(stores, max(1, args.starts))
    print(text)
    args.out.write_text(text)


if __name__ == "__main__":
    main()
