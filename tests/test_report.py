"""The board report (cxdata.report): the same numbers as the digest and the engine, a
self-contained HTML (no script, no external resource), the viewer's restriction kept,
suppressed cells never showing a value, the PDF, the CLI and the button on every page."""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from cxdata import cli, config, fmt, queries, schema
from cxdata.demo import demo_responses
from cxdata.notify.digest import view_digest
from cxdata.notify.render import ChartRenderer, no_charts
from cxdata.report import find_browser, page_of, parse_view, report_pdf, view_report
from cxdata.store import Store, close, connect
from cxdata.targets import Targets
from cxdata.voc.persist import compute_themes

ROOT = Path(__file__).resolve().parents[1]
TODAY = dt.date(2100, 1, 1)  # after the data: the view ends on the data's last day
REGION = "Skåne"
PAGES = ("pages/overview.py", "pages/trends.py", "pages/touchpoints.py",
         "pages/segments.py", "pages/feedback.py")  # fmt: skip


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return demo_responses(rows=1500, seed=5)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory, frame: pd.DataFrame) -> Iterator[Store]:
    folder = tmp_path_factory.mktemp("report_demo")
    store = connect(folder)
    store.replace_table(schema.RESPONSES, frame)
    compute_themes(store)
    yield store
    close(folder)


@pytest.fixture(scope="module")
def renderer() -> Iterator[ChartRenderer]:
    with ChartRenderer() as r:
        yield r


def report(store: Store, url: str, renderer: ChartRenderer | None = None, base: str = ""):
    path, params, _ = parse_view(url)
    th = config.thresholds()
    if renderer is not None:
        return view_report(store, path, params, th=th, targets=Targets(), title="Board",
                           renderer=renderer, today=TODAY, base_url=base)
    with no_charts() as none:
        return view_report(store, path, params, th=th, targets=Targets(), title="Board",
                           renderer=none, today=TODAY, base_url=base)


def test_urls_map_to_pages() -> None:
    assert page_of("/trends") == ("trends", "")
    assert page_of("/")[0] == "overview" and page_of("")[1] == ""
    key, note = page_of("/nowhere")
    assert key == "overview" and "not a dashboard page" in note
    path, params, base = parse_view("https://cx.example.com/app/trends?split=region&region=Oslo"
                                    "&region=Viken&embed=true")
    assert (path, base) == ("/app/trends", "https://cx.example.com/app")
    assert params == {"split": ["region"], "region": ["Oslo", "Viken"]}
    assert parse_view("/segments?path=country")[2] == ""


def test_tiles_equal_the_digest_and_the_engine(demo: Store) -> None:
    url = "/?period=12m&vs=prev&plan=Basic"
    r = report(demo, url)
    _, params, _ = parse_view(url)
    d = view_digest(demo, "overview", params, th=config.thresholds(), targets=Targets(),
                    base_url="", title="Board", today=TODAY)
    assert d is not None and r.digest is not None
    assert r.digest.current == d.current and r.digest.current.where == (("plan", ("Basic",)),)
    engine = queries.kpis(demo, d.current, config.thresholds())
    assert r.digest.responses == d.responses == engine.responses > 100
    for tile, want, m in zip(r.tiles, d.tiles, ("nps", "csat", "ces"), strict=False):
        score = engine.score(m)
        assert want.score.n == score.n and want.score.value == pytest.approx(score.value)
        assert tile["value"] == fmt.value(m, score.value)
        assert f"n = {score.n:,}" in tile["lines"]
        assert tile["value"] in r.html and f"n = {score.n:,}" in r.html
    assert r.tiles[3]["value"] == fmt.count(engine.responses)
    assert "Plan: Basic" in r.html and "Definitions" in r.html


def test_html_is_self_contained(demo: Store, renderer: ChartRenderer) -> None:
    base = "https://cx.example.com"
    r = report(demo, "/trends?period=12m&grain=month", renderer, base)
    assert "<script" not in r.html.lower()
    images = re.findall(r'<img[^>]*src="([^"]*)"', r.html)
    assert images and all(src.startswith("data:image/png;base64,") for src in images)
    refs = re.findall(r'(?:src|href)\s*=\s*"([^"]*)"', r.html)
    external = [x for x in refs if re.match(r"(?i)\s*(https?:)?//", x)]
    assert external == [f"{base}/trends?period=12m&amp;grain=month"]  # the dashboard link
    assert not re.search(r"(?i)url\(|@import|<link", r.html)
    assert "@page { size: A4; margin: 15mm; }" in r.html
    # the trend's table: one row per month with value, CI and n
    section = r.sections[0]
    assert section.header == ["Period", "NPS", "95% CI", "n", "Note"]
    assert 12 <= len(section.rows) <= 13 and all(row[3] != "0" for row in section.rows)
    no_link = report(demo, "/trends?period=12m")
    assert "href" not in no_link.html


def test_restricted_report_shows_only_the_readers_rows(demo: Store, frame: pd.DataFrame) -> None:
    mine = demo.restricted({"region": [REGION]})
    for url in ("/?period=all", "/trends?period=all&split=region&grain=quarter",
                "/segments?period=all&path=region&path=plan",
                "/touchpoints?period=all&cols=region"):
        r = report(mine, url)
        others = set(frame["region"]) - {REGION}
        assert not [name for name in others if name in r.html], url
        assert r.digest is not None
        assert r.digest.responses == int((frame["region"] == REGION).sum())
        assert "Your view: Region: Skåne" in r.html


def test_suppressed_cells_say_n_too_small(demo: Store) -> None:
    r = report(demo, "/touchpoints?period=all&cols=region")
    matrix = queries.friction_matrix(demo, r.digest.current, "touchpoint", "region",
                                     "friction", config.thresholds())
    small = matrix[matrix["suppressed"]]
    assert len(small) > 0 and (~matrix["suppressed"]).sum() > 0
    rows = {(row[0], row[1]): row for row in r.sections[0].rows}
    assert len(rows) == len(matrix)
    for _, cell in small.iterrows():
        row = rows[(cell["touchpoint"], cell["region"])]
        assert row[2] == fmt.too_small(int(cell["n"])) and row[3] == "–"
        assert not re.search(r"\d+\.\d", row[2])  # never a value
    shown = matrix[~matrix["suppressed"]].iloc[0]
    assert rows[(shown["touchpoint"], shown["region"])][2] == fmt.value("friction", shown["value"])


def test_every_page_has_content(demo: Store) -> None:
    for url, title in (("/segments?period=all", "Each country vs the rest: NPS"),
                       ("/feedback?period=all", "Themes and their NPS impact"),
                       ("/?period=all", "NPS per month, the 12 months to the period's end")):
        r = report(demo, url)
        section = next(s for s in r.sections if s.title == title)
        assert section.rows, url


def need_tool(found: str | None, why: str) -> None:
    """Skip visibly without the tool — except in CI, where .ci/run installs it."""
    if found is None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true but {why}")
        pytest.skip(why)


def test_pdf(demo: Store, renderer: ChartRenderer, tmp_path: Path) -> None:
    need_tool(find_browser(), "no Chromium on this machine to print the PDF with")
    pdf = report_pdf(report(demo, "/?period=12m", renderer).html)
    assert pdf.startswith(b"%PDF") and len(pdf) > 20_000
    need_tool(shutil.which("pdftoppm"), "pdftoppm (poppler-utils) is not installed")
    (tmp_path / "r.pdf").write_bytes(pdf)
    subprocess.run(["pdftoppm", "-png", "-r", "60", "-f", "1", "-l", "1",
                    str(tmp_path / "r.pdf"), str(tmp_path / "page")], check=True, timeout=60)
    png = next(tmp_path.glob("page*.png"))
    assert png.read_bytes().startswith(b"\x89PNG")


def test_cli_writes_the_file(tmp_path: Path, frame: pd.DataFrame,
                             monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    data = tmp_path / "store"  # its own store: main() closes the directory it opened
    store = connect(data)
    store.replace_table(schema.RESPONSES, frame)
    close(data)
    monkeypatch.chdir(tmp_path)
    code = cli.main(["--data-dir", str(data), "report", "--view",
                     "http://localhost:8501/trends?period=all&grain=quarter", "--title", "Q"])
    assert code == 0
    out = Path(capsys.readouterr().out.strip())
    assert out.name == f"report-trends-{dt.date.today().isoformat()}.html"
    html = (tmp_path / out).read_text(encoding="utf-8")
    assert "<h1>Q</h1>" in html and f"n = {frame['nps'].notna().sum():,}" in html
    assert 'href="http://localhost:8501/trends?period=all&amp;grain=quarter"' in html


@pytest.fixture(scope="module")
def app_dir(tmp_path_factory: pytest.TempPathFactory, frame: pd.DataFrame) -> Iterator[Path]:
    folder = tmp_path_factory.mktemp("report_app")
    connect(folder).replace_table(schema.RESPONSES, frame)
    yield folder
    close(folder)


def test_every_page_has_the_button(app_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CX_DATA_DIR", str(app_dir))
    monkeypatch.delenv("CX_DATABASE_URL", raising=False)
    monkeypatch.delenv("CX_AUTO_DEMO", raising=False)
    monkeypatch.chdir(ROOT)
    at = AppTest.from_file(str(ROOT / "dashboard.py"), default_timeout=60)
    at.run()
    for page in PAGES:
        if page != PAGES[0]:
            at.switch_page(page).run()
        assert not at.exception, [e.value for e in at.exception]
        labels = [b.proto.label for b in at.get("download_button")]
        assert "Download report" in labels, (page, labels)


@pytest.mark.browser
def test_the_button_downloads_the_pages_view(chromium_path: str,
                                             tmp_path_factory: pytest.TempPathFactory) -> None:
    """In a real browser: the report of the page's current view (URL and page options)."""
    from e2e_helpers import VIEWPORT, chromium, exceptions, open_page, running_app

    from cxdata.demo import store_demo

    data_dir = tmp_path_factory.mktemp("report_e2e")
    # the demo `python -m cxdata demo --rows 3000 --skip-themes` stores, written by this
    # process (a CLI process costs seconds of start-up) and closed before the server opens it
    try:
        store_demo(connect(data_dir), rows=3000)
    finally:
        close(data_dir)
    with running_app(data_dir) as app, chromium(chromium_path) as browser:
        page = browser.new_page(viewport=VIEWPORT)
        open_page(page, f"{app.url}/trends?period=all&grain=quarter&split=region&top=3")
        assert not exceptions(page)
        button = page.get_by_role("button", name=re.compile("Download report"))
        with page.expect_download(timeout=120_000) as info:
            button.click()
        path = info.value.path()
        assert path is not None, info.value.failure()
        html = Path(path).read_text(encoding="utf-8")
        assert info.value.suggested_filename.startswith("report-trends-")
    assert "<h1>Trends report</h1>" in html and "NPS per quarter by Region" in html
    assert html.count("data:image/png;base64,") >= 1 and "<script" not in html
    assert f'href="{app.url}/trends?' in html  # the link back: this view on this server
