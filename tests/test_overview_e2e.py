"""The Overview's movers in headless Chromium (issue 12, item 12): a click on a mover's bar
opens Trends filtered to that segment, with the movers' metric and the view's period."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
from e2e_helpers import (
    VIEWPORT,
    exceptions,
    open_page,
    running_app,
    screenshot,
    store_demo_here,
    wait_page,
)

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def app_url(chromium_path: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The dashboard on 60,000 demo answers."""
    data_dir: Path = tmp_path_factory.mktemp("overview_e2e")
    store_demo_here(data_dir, 60_000)  # Overview and Trends show no themes
    with running_app(data_dir) as app:
        yield app.url


def click_top_mover(page: Any) -> list[str]:
    """Click the middle of the top bar of the movers chart; returns its [hover, dimension,
    value] customdata."""
    found = page.evaluate(
        """() => {
            const gd = [...document.querySelectorAll('.js-plotly-plot')]
                .find(g => (g.data || []).some(t => t.type === 'bar'));
            gd.scrollIntoView({block: 'center'});  // below the fold at 1000 px
            const k = gd._fullData.findIndex(t => t.type === 'bar');
            const points = gd.querySelectorAll('.barlayer .trace .point path');
            const i = points.length - 1;  // the largest change is drawn on top
            const r = points[i].getBoundingClientRect();
            return {x: r.left + r.width / 2, y: r.top + r.height / 2,
                    data: gd._fullData[k].customdata[i]};
        }"""
    )
    page.mouse.move(found["x"], found["y"])
    page.wait_for_timeout(200)  # the hover settles before the click (as for the heatmap)
    page.mouse.click(found["x"], found["y"])
    return list(found["data"])


def test_a_mover_click_opens_its_trend(app_url: str, browser: Any) -> None:
    page = browser.new_page(viewport=VIEWPORT)  # its own context, closed with it
    try:
        mover_click_opens_its_trend(app_url, page)
    finally:
        page.close()


def mover_click_opens_its_trend(app_url: str, page: Any) -> None:
    # a cold server on a shared 2-core machine: allow the first run more than the default
    open_page(page, f"{app_url}/?metric=csat&period=12m", timeout=150_000)
    wait_page(page, "", timeout=150_000)
    _, dim, value = click_top_mover(page)
    page.wait_for_url(re.compile(r"/trends\?"), timeout=60_000)
    wait_page(page, "trends", timeout=150_000)
    params = parse_qs(urlparse(page.url).query)
    assert params[dim] == [value]
    assert params["metric"] == ["csat"] and params["period"] == ["12m"]
    assert not exceptions(page)
    screenshot(page, "overview_mover_click_trends")
