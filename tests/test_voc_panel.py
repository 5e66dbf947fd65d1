"""The Feedback page's Themes view (pages/_shared/themes.py) in Streamlit's AppTest:
compute with a progress bar, then rankings, trend, heatmap, verbatims and the taxonomy
editor render without errors; comment text reaches the page only as grid data; the view
reads through the session's cached query layer and never shows stale theme results."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest
from test_voc_impact import voc_frame

from cxdata import catalog, schema
from cxdata.annotations import add_annotation
from cxdata.store import close, connect


def panel_script(data_dir: str, restrict: dict[str, tuple[str, ...]] | None) -> None:
    import streamlit as st

    from cxdata.store import connect
    from pages._shared import session, themes

    store = st.session_state.get("store")
    if store is None:
        store = connect(data_dir)
        store = store.restricted(restrict) if restrict else store
        st.session_state["store"] = store
    ctx = session.build_context(store, session.data_key(store))  # all dates, no filter
    assert ctx is not None
    themes.render(ctx)


@pytest.fixture
def data_dir(tmp_path: Path) -> str:
    connect(tmp_path).replace_table(schema.RESPONSES, voc_frame(2_500, seed=21))
    close(tmp_path)
    return str(tmp_path)


def app(data_dir: str, restrict: dict[str, tuple[str, ...]] | None = None) -> AppTest:
    return AppTest.from_function(panel_script, args=(data_dir, restrict), default_timeout=90)


def plotly_count(at: AppTest) -> int:
    return len(at.get("plotly_chart"))


def trend_note_dates(at: AppTest) -> list[str]:
    """The dates of the dashed annotation lines on the theme trend chart."""
    specs = [json.loads(el.proto.spec) for el in at.get("plotly_chart")]
    trend = next(s for s in specs if "Theme trend" in s["layout"]["title"]["text"])
    shapes = trend["layout"].get("shapes", [])
    return [s["x0"][:10] for s in shapes if s.get("line", {}).get("dash") == "dash"]


def test_compute_then_everything_renders(data_dir: str) -> None:
    first, last = catalog.date_span(connect(data_dir))
    middle = first + (last - first) / 2
    add_annotation(connect(data_dir), middle, "Checkout fix")
    at = app(data_dir)
    at.run()
    assert not at.exception
    compute = next(b for b in at.button if b.label == "Compute themes")
    assert "not been computed" in at.info[0].value
    compute.click().run()
    assert not at.exception and not at.error
    assert plotly_count(at) == 4  # volume, impact, trend, heatmap
    assert trend_note_dates(at) == [middle.isoformat()]  # annotations on every trend chart
    assert any("Dashed lines: annotations" in c.value for c in at.caption)
    assert not any(b.label == "Compute themes" for b in at.button)
    grids = [d.value for d in at.dataframe]
    verbatim = next(g for g in grids if "comment" in g.columns)
    assert len(verbatim) > 0 and verbatim["comment"].map(type).eq(str).all()
    assert {"n/a"} <= set(verbatim["sentiment"]) or verbatim["language"].eq("English").all()
    # the automatic themes view and the next page of verbatims
    at.segmented_control(key="voc.source").set_value("auto").run()
    assert not at.exception and plotly_count(at) == 4
    first = next(g for g in (d.value for d in at.dataframe) if "comment" in g.columns)
    pager = next(w for w in at.get("pagination") if str(w.key).startswith("voc.page."))
    pager.set_value(2).run()
    assert not at.exception
    second = next(g for g in (d.value for d in at.dataframe) if "comment" in g.columns)
    assert not second.equals(first)


def test_restore_default_taxonomy_rematches(data_dir: str) -> None:
    at = app(data_dir)
    at.run()
    next(b for b in at.button if b.label == "Compute themes").click().run()
    next(b for b in at.button if b.label == "Restore the default taxonomy").click().run()
    assert not at.exception and not at.error
    assert (Path(data_dir) / "taxonomy.json").exists()


def test_restricted_view_cannot_compute(data_dir: str) -> None:
    at = app(data_dir, {"region": ("Oslo",)})
    at.run()
    assert not at.exception
    assert not any(b.label == "Compute themes" for b in at.button)
    assert "not been computed" in at.info[0].value


def test_no_comments_no_compute_button(tmp_path: Path) -> None:
    connect(tmp_path).replace_table(schema.RESPONSES, voc_frame(200).drop(columns="comment"))
    close(tmp_path)
    at = app(str(tmp_path))
    at.run()
    assert not at.exception and not at.error
    assert not any(b.label == "Compute themes" for b in at.button)
    assert "no comments" in at.info[0].value
