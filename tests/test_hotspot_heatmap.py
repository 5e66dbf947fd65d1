"""Issue 12, item 5: a hot-spot link opens a 1 × 1 heatmap, whose colour must still say how
bad the cell is (anchored on the period's overall value, or on the metric's full range),
and the hot-spot rows on the Overview show their whole text at 1440 and 390 px."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from e2e_helpers import AppServer, running_app, store_demo_here, wait_for_text, wait_ready

from cxdata import charts
from cxdata.config import Thresholds
from cxdata.scores import metric_columns, score_frame

TH = Thresholds(min_n=10, low_base=30)
BLUE, NEUTRAL, RED = "#2F6FD0", "#EDE6D6", "#C8553D"


def one_cell(metric: str, counts: dict[str, int]) -> pd.DataFrame:
    """queries.friction_matrix for a view filtered to one touchpoint × stage cell."""
    frame = score_frame(
        pd.DataFrame([{"touchpoint": "parcel delivery", "journey_stage": "delivery",
                       "responses": 400, **counts}]), TH,
    )  # fmt: skip
    out = pd.concat([frame[["touchpoint", "journey_stage", "responses"]],
                     metric_columns(frame, metric)], axis=1)  # fmt: skip
    out["friction"] = frame["friction"]
    return out


def colour_position(heat: Any, value: float) -> float:
    """Where `value` sits on the heatmap's colour scale (0 = first stop, 1 = last)."""
    return (value - heat.zmin) / (heat.zmax - heat.zmin)


def test_the_worst_cell_alone_is_red_against_the_period_value() -> None:
    # friction 45% in the cell; 15% over the whole period
    matrix = one_cell("friction", {"friction_n": 400, "friction_events": 180})
    fig = charts.heatmap_figure(matrix, "touchpoint", "journey_stage", "friction", reference=15.0)
    heat = fig.data[0]
    assert (heat.zmin, heat.zmax) == (0.0, 45.0)  # 15 ± 30, clipped at 0%
    assert colour_position(heat, 45.0) == 1.0 and heat.colorscale[-1][1] == RED
    # the neutral colour sits on the period's value, not in the middle of the cell's span
    (p0, c0), (p1, c1), (p2, c2) = heat.colorscale
    assert (c0, c1, c2) == (BLUE, NEUTRAL, RED)
    assert p1 == pytest.approx(15.0 / 45.0) and (p0, p2) == (0.0, 1.0)


def test_a_cell_better_than_the_period_is_blue_and_nps_centres_on_the_reference() -> None:
    matrix = one_cell("nps", {"nps_n": 400, "promoters": 200, "detractors": 40,
                              "friction_n": 400, "friction_events": 40})  # fmt: skip
    fig = charts.heatmap_figure(matrix, "touchpoint", "journey_stage", "nps", reference=10.0)
    heat = fig.data[0]
    assert float(np.asarray(heat.z)[0][0]) == 40.0
    assert (heat.zmin, heat.zmax) == (-20.0, 40.0)  # symmetric around 10
    assert colour_position(heat, 40.0) == 1.0 and heat.colorscale[-1][1] == BLUE  # high: good
    assert heat.colorscale[1][0] == pytest.approx(0.5)


def test_without_a_reference_a_lone_cell_spans_the_metric_range() -> None:
    matrix = one_cell("friction", {"friction_n": 400, "friction_events": 180})
    heat = charts.heatmap_figure(matrix, "touchpoint", "journey_stage", "friction").data[0]
    assert (heat.zmin, heat.zmax) == (0.0, 100.0)  # not 40–50, which made 45% the neutral middle


# --- the hot-spot rows in the browser ----------------------------------------------------

# The texts of the hot-spot rows (the page links and the lines under them, in the column
# that holds the links) whose content is wider than their box: cut off with an ellipsis.
CLIPPED = """() => {
    const link = document.querySelector("[data-testid='stMain'] [data-testid='stPageLink']");
    const column = link && link.closest("[data-testid='stColumn']");
    if (!column) return ['no hot-spot column'];
    return [...column.querySelectorAll(
        "[data-testid='stPageLink'] *, [data-testid='stCaptionContainer']")]
        .filter(e => e.scrollWidth > e.clientWidth + 1
                     && getComputedStyle(e).overflow !== 'visible')
        .map(e => e.innerText);
}"""


@pytest.fixture(scope="module")
def demo_server(
    chromium_path: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[AppServer]:
    data_dir: Path = tmp_path_factory.mktemp("hotspot_store")
    store_demo_here(data_dir, 40_000)  # the Overview shows no comment themes
    with running_app(data_dir) as app:
        yield app


@pytest.mark.browser
@pytest.mark.parametrize("width", [1440, 390])
def test_hot_spot_rows_show_their_whole_text(
    demo_server: AppServer, browser: Any, width: int
) -> None:
    context = browser.new_context(viewport={"width": width, "height": 1000})
    try:
        page = context.new_page()
        page.goto(f"{demo_server.url}/", wait_until="domcontentloaded")
        wait_ready(page, "tiles", timeout=90_000)
        wait_for_text(page, "A link opens the Touchpoints page", timeout=90_000)
        links = page.locator("[data-testid='stMain'] [data-testid='stPageLink']")
        # the caption can be drawn a frame before the links under it
        links.nth(2).wait_for(state="attached", timeout=30_000)
        text = str(page.inner_text("[data-testid='stApp']"))
        rows = links.count()
        assert rows >= 3
        assert page.evaluate(CLIPPED) == []
        # each row's number comes with its whole 95% CI and n
        assert text.count("(95% CI ") >= rows and text.count("· n = ") >= rows
    finally:
        context.close()
