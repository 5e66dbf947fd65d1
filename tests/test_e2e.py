"""End to end in headless Chromium: the dashboard server on 100k demo answers, driven with
Playwright. Screenshots of every page (light and dark) go to test-artifacts/.

Skipped, with the reason shown, only when no Chromium is installed and CI is not "true";
under CI=true a missing browser fails the run.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
from e2e_helpers import (
    VIEWPORT,
    AppServer,
    click_heatmap_cell,
    exceptions,
    make_demo_store,
    metric_texts,
    open_page,
    running_app,
    screenshot,
    wait_for_comments,
    wait_idle,
    wait_page,
    wait_rendered,
)
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

ROWS = 100_000
PAGES = {
    "overview": "",
    "trends": "trends",
    "touchpoints": "touchpoints",
    "segments": "segments",
    "feedback": "feedback",
}


@pytest.fixture(scope="module")
def server(chromium_path: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[AppServer]:
    data_dir = tmp_path_factory.mktemp("e2e_store")
    make_demo_store(data_dir, ROWS)
    with running_app(data_dir) as app:
        yield app


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport=VIEWPORT)
    try:
        yield context.new_page()
    finally:
        context.close()


def sidebar_multiselect(page: Any, label: str) -> Any:
    return page.locator("[data-testid='stSidebar'] [data-testid='stMultiSelect']").filter(
        has=page.get_by_text(label, exact=True)
    )


def choose(page: Any, label: str, value: str) -> None:
    """Pick a value in one of the sidebar's dimension filters, as a user would."""
    box = sidebar_multiselect(page, label)
    box.locator("input").click()
    box.locator("input").fill(value)
    page.locator("[role='option']", has_text=value).first.click()
    page.keyboard.press("Escape")
    wait_idle(page)


def query(url: str) -> dict[str, list[str]]:
    return parse_qs(urlparse(url).query)


@pytest.mark.parametrize("name", list(PAGES))
def test_every_page_renders_with_charts(server: AppServer, page: Any, name: str) -> None:
    open_page(page, f"{server.url}/{PAGES[name]}", charts=name != "feedback")
    wait_page(page, PAGES[name])
    assert not exceptions(page)
    if name == "feedback":
        wait_for_comments(page, 10)
        assert page.locator("[class*='st-key-comment-']").count() >= 10, "comments are listed"
    else:
        assert page.locator(".js-plotly-plot").count() >= 1
    assert screenshot(page, f"light_{name}").stat().st_size > 10_000


@pytest.mark.parametrize("name", list(PAGES))
def test_dark_theme(server: AppServer, browser: Any, name: str) -> None:
    context = browser.new_context(viewport=VIEWPORT, color_scheme="dark")
    try:
        page = context.new_page()
        open_page(page, f"{server.url}/{PAGES[name]}", charts=name != "feedback")
        wait_page(page, PAGES[name])
        assert not exceptions(page)
        background = page.evaluate(
            "getComputedStyle(document.querySelector('[data-testid=stApp]')).backgroundColor"
        )
        rgb = [int(x) for x in re.findall(r"\d+", background)[:3]]
        assert sum(rgb) / 3 < 80, f"not a dark background: {background}"
        assert screenshot(page, f"dark_{name}").stat().st_size > 10_000
    finally:
        context.close()


def test_a_page_url_as_the_first_request_of_a_fresh_server(
    server: AppServer, browser: Any
) -> None:
    # Streamlit starts each process in its legacy pages/ mode until st.navigation has run
    # once; the first request for /segments must still get the whole dashboard. A second
    # process, never asked anything, on the module's store (a DuckLake: several processes
    # may share one data directory), with its own log.
    fresh = AppServer(server.data_dir, log_name="fresh_server.log")
    fresh.start()
    context = browser.new_context(viewport=VIEWPORT)
    try:
        page = context.new_page()
        open_page(page, f"{fresh.url}/segments?plan=Plus")
        wait_page(page, "segments")
        assert not exceptions(page)
        expect(page.get_by_role("heading", name="Segments")).to_have_count(1)
        expect(sidebar_multiselect(page, "Plan")).to_contain_text("Plus")
        nav = page.locator("[data-testid='stSidebarNav'] a")
        expect(nav.filter(has_text="Feedback")).to_have_count(1)
        links = nav.all_inner_texts()
        labels = [text.split("\n")[-1] for text in links]
        assert labels[:5] == ["Overview", "Trends", "Touchpoints", "Segments", "Feedback"]
    finally:
        context.close()
        fresh.stop()


def test_a_url_with_filters_reproduces_the_view(server: AppServer, browser: Any) -> None:
    first = browser.new_context(viewport=VIEWPORT)
    try:
        page = first.new_page()
        open_page(page, f"{server.url}/")
        default_kpis = metric_texts(page)
        choose(page, "Plan", "Premium")
        choose(page, "Country", "Norway")
        page.wait_for_function("location.search.includes('country=Norway')")
        kpis, url = metric_texts(page), page.url  # metric_texts waits for the run and tiles
        assert kpis != default_kpis
        assert query(url)["plan"] == ["Premium"]
    finally:
        first.close()
    fresh = browser.new_context(viewport=VIEWPORT)
    try:
        page = fresh.new_page()
        open_page(page, url)
        assert metric_texts(page) == kpis
        assert query(page.url) == query(url)
        expect(sidebar_multiselect(page, "Plan")).to_contain_text("Premium")
        expect(sidebar_multiselect(page, "Country")).to_contain_text("Norway")
        screenshot(page, "shared_link_overview")
    finally:
        fresh.close()


def pick(page: Any, key: str, option: str) -> None:
    """Choose `option` in the selectbox whose widget key is `key`, as a user would."""
    box = page.locator(f".st-key-{key.replace('.', '-')} [role='combobox']")
    box.click()
    box.fill(option)
    page.get_by_role("option", name=option, exact=True).click()
    wait_idle(page)


def themes_shown(page: Any) -> dict[str, Any]:
    """What a Themes view shows: the chosen source, the controls' values, the verbatims'
    caption and every chart's legend and axis labels."""
    wait_rendered(page, 4)
    shown: dict[str, Any] = {
        "source": page.locator(".st-key-voc-source [aria-checked='true']").all_inner_texts(),
        "caption": page.get_by_text(re.compile(r"comments · page \d+ of")).inner_text(),
        "charts": page.locator(
            ".js-plotly-plot .legendtext, .js-plotly-plot .ytick text"
        ).all_text_contents(),
    }
    for control in ("per", "theme", "band", "size"):
        box = page.locator(f"[class*='st-key-voc-{control}'] [role='combobox']").first
        shown[control] = box.input_value()
    return shown


def test_a_themes_view_opens_from_its_link(server: AppServer, page: Any, browser: Any) -> None:
    """Every control of the Themes view is in the URL: a copied link opens the same view."""
    open_page(page, f"{server.url}/feedback?view=themes")
    page.locator(".st-key-voc-source button", has_text="Automatic themes").click()
    page.wait_for_function("location.search.includes('voc.source=auto')")
    wait_idle(page)
    pick(page, "voc.per", "week")
    pick(page, "voc.band", "Detractors (NPS 0–6)")
    page.locator(".stPagination [aria-label='Page 2']").click()
    page.wait_for_function("location.search.includes('voc.pg=2')")
    shown, url = themes_shown(page), page.url
    assert {"voc.source", "voc.per", "voc.band", "voc.pg"} <= set(query(url)), url
    assert shown["source"] == ["Automatic themes"] and "week" in shown["per"], shown
    assert "page 2 of" in shown["caption"] and "Detractors" in shown["band"], shown
    with browser.new_context(viewport=VIEWPORT) as other:  # another user opens the link
        opened = other.new_page()
        open_page(opened, url)
        assert themes_shown(opened) == shown
        assert query(opened.url) == query(url)
        assert not exceptions(opened)
        screenshot(opened, "shared_link_themes")


def test_page_options_survive_the_sidebar_navigation(server: AppServer, page: Any) -> None:
    open_page(page, f"{server.url}/trends?grain=month&plan=Basic")
    page.locator("[data-testid='stSidebarNav'] a", has_text="Segments").click()
    page.wait_for_url(re.compile(r"/segments"))
    wait_page(page, "segments")
    page.wait_for_function("location.search.includes('plan=Basic')")
    assert query(page.url).get("plan") == ["Basic"]
    page.locator("[data-testid='stSidebarNav'] a", has_text="Trends").click()
    page.wait_for_url(re.compile(r"/trends"))
    wait_page(page, "trends")
    page.wait_for_function("location.search.includes('grain=month')")
    assert query(page.url) == {"grain": ["month"], "plan": ["Basic"]}


def test_heatmap_cell_click_opens_its_comments(server: AppServer, page: Any) -> None:
    open_page(page, f"{server.url}/touchpoints?country=Sweden")
    click_heatmap_cell(page, "parcel delivery", "delivery")
    page.wait_for_url(re.compile(r"/feedback\?"), timeout=30_000)
    wait_for_comments(page, 10)
    params = query(page.url)
    assert params["tp"] == ["parcel delivery"]
    assert params["seg"] == ["journey_stage:delivery"]
    assert params["country"] == ["Sweden"]
    cards = page.locator("[class*='st-key-comment-']").all_inner_texts()
    assert len(cards) >= 10
    assert all("parcel delivery · delivery" in c for c in cards)
    expect(page.get_by_text("Journey stage: delivery").first).to_be_visible()
    assert not exceptions(page)
    screenshot(page, "heatmap_click_feedback")


def test_hot_spot_link_opens_the_touchpoints_page_filtered(server: AppServer, page: Any) -> None:
    open_page(page, f"{server.url}/")
    link = page.locator("[data-testid='stPageLink'] a").first
    link.click()
    page.wait_for_url(re.compile(r"/touchpoints\?"))
    open_page(page, page.url)
    wait_page(page, "touchpoints")
    params = query(page.url)
    assert len(params["touchpoint"]) == 1 and len(params["region"]) == 1
    expect(sidebar_multiselect(page, "Touchpoint")).to_contain_text(params["touchpoint"][0])
    assert not exceptions(page)


def test_copy_link_shows_the_exact_url(server: AppServer, page: Any) -> None:
    open_page(page, f"{server.url}/segments?chart=sunburst&plan=Plus")
    page.get_by_text("Copy link to this view").click()
    code = page.locator("[data-testid='stPopoverBody'] code, [data-testid='stCode'] code").first
    code.wait_for()
    text = code.inner_text()
    assert text.startswith(server.url.replace("127.0.0.1", "127.0.0.1") + "/segments?")
    assert query(text) == {"plan": ["Plus"], "chart": ["sunburst"]}
    screenshot(page, "copy_link")
