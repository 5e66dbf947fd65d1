"""The dashboard in Streamlit's AppTest (no browser): every page renders on demo data, a
filter change changes the numbers, the URL state round-trips, empty states are friendly."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from cxdata import demo, schema
from cxdata.store import connect
from cxdata.urlstate import (
    DEFAULT_PERIOD,
    ViewFilters,
    decode_choice,
    decode_int,
    decode_many,
    dim_param,
    preset_range,
)
from cxdata.voc import persist

ROOT = Path(__file__).resolve().parents[1]
PAGES = (
    "pages/overview.py",
    "pages/trends.py",
    "pages/touchpoints.py",
    "pages/segments.py",
    "pages/feedback.py",
)
TIMEOUT = 60
DEMO_END = dt.date(2026, 6, 30)


@pytest.fixture(scope="session")
def demo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store with 30,000 demo responses and the demo metrics."""
    path = tmp_path_factory.mktemp("app_demo")
    store = connect(path)
    store.replace_table(schema.RESPONSES, demo.demo_responses(rows=30_000, end=DEMO_END))
    store.replace_table(schema.METRICS, demo.demo_metrics(end=DEMO_END))
    return path


@pytest.fixture
def app_env(demo_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("CX_DATA_DIR", str(demo_dir))
    monkeypatch.delenv("CX_DATABASE_URL", raising=False)
    monkeypatch.delenv("CX_AUTO_DEMO", raising=False)
    monkeypatch.chdir(ROOT)
    return demo_dir


def new_app(query: dict[str, str | list[str]] | None = None) -> AppTest:
    at = AppTest.from_file(str(ROOT / "dashboard.py"), default_timeout=TIMEOUT)
    at.query_params.update(query or {})
    return at


def run_page(at: AppTest, page: str) -> AppTest:
    at.run()
    if page != PAGES[0]:
        at.switch_page(page).run()
    return at


def assert_clean(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def figures(at: AppTest) -> list[dict]:
    """The Plotly figure specs on the page."""
    return [json.loads(el.proto.spec) for el in at.get("plotly_chart")]


def page_numbers(at: AppTest, page: str) -> str:
    """A fingerprint of the numbers a page shows (metrics, figures, tables, captions)."""
    parts = [m.value for m in at.metric]
    parts += [json.dumps(f["data"], sort_keys=True) for f in figures(at)]
    parts += [el.value.to_csv() for el in at.dataframe]
    parts += [md.value for md in at.markdown if "match" in md.value]
    assert parts, f"{page} shows no numbers"
    return "\n".join(parts)


@pytest.fixture(autouse=True)
def fresh_caches() -> Iterator[None]:
    import streamlit as st

    st.cache_data.clear()
    yield


# --- pages render ---------------------------------------------------------------------


@pytest.mark.parametrize("page", PAGES)
def test_every_page_renders_on_demo_data(app_env: Path, page: str) -> None:
    at = run_page(new_app(), page)
    assert_clean(at)
    if page != "pages/feedback.py":
        assert figures(at), f"{page} draws no chart"
    else:
        assert at.text, "the feedback page shows no comment"


def test_overview_shows_kpis_with_ci_n_and_significance(app_env: Path) -> None:
    at = run_page(new_app(), PAGES[0])
    labels = [m.label for m in at.metric]
    assert labels[:4] == ["NPS", "CSAT", "CES", "Responses"]
    assert {"Churn rate", "Retention rate"} <= set(labels)
    captions = " ".join(c.value for c in at.caption)
    assert "95% CI" in captions and "n = " in captions
    assert all(m.proto.delta_description for m in at.metric if m.proto.delta)
    assert {m.proto.delta_description for m in at.metric} & {"significant", "not significant"}
    assert at.page_link, "friction hot spots are links to the Touchpoints page"
    assert all("touchpoint=" in pl.proto.query_string for pl in at.page_link)


def test_feedback_switches_to_the_themes_panel(app_env: Path) -> None:
    at = new_app()
    at.run()
    at.switch_page("pages/feedback.py")
    at.query_params["view"] = "themes"  # a link into the themes view
    at.run()
    assert_clean(at)
    assert at.radio(key="feedback.view").value == "themes"
    assert any("Themes" in h.value for h in at.subheader)
    assert not at.text  # the comment list is not drawn under the themes view


@pytest.fixture(scope="module")
def themes_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Demo responses with their themes computed."""
    path = tmp_path_factory.mktemp("app_themes")
    store = connect(path)
    store.replace_table(schema.RESPONSES, demo.demo_responses(rows=8_000, end=DEMO_END))
    persist.compute_themes(store)
    return path


def open_link(query: dict[str, str | list[str]], page: str = "pages/feedback.py") -> AppTest:
    """A new session opening `page` from a link carrying `query`."""
    at = new_app(query)
    at.run()
    at.switch_page(page)
    at.query_params.clear()
    at.query_params.update(query)
    at.run()
    assert_clean(at)
    return at


THEME_CONTROLS = ("voc.source", "voc.trend.auto", "voc.per", "voc.theme.auto", "voc.band",
                  "voc.size")  # fmt: skip


def verbatim_pager(at: AppTest) -> Any:
    return next(w for w in at.get("pagination") if str(w.key).startswith("voc.page."))


def themes_view(at: AppTest) -> tuple[dict, list[str], list[str]]:
    """What a Themes view shows: its controls, its figures and its grids."""
    controls = {k: at.session_state[k] for k in THEME_CONTROLS if k in at.session_state}
    controls["page"] = verbatim_pager(at).value
    charts = [json.dumps(f["data"], sort_keys=True) for f in figures(at)]
    return controls, charts, [el.value.to_csv() for el in at.dataframe]


def test_a_themes_view_opens_from_its_link_exactly_as_it_was(
    themes_dir: Path, app_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CX_DATA_DIR", str(themes_dir))
    at = open_link({"view": "themes", "period": "12m"})
    at.segmented_control(key="voc.source").set_value("auto").run()
    top = at.session_state["voc.trend.auto"]  # the largest automatic themes, by default
    assert len(top) == 5
    at.multiselect(key="voc.trend.auto").set_value(top[1:3]).run()
    at.selectbox(key="voc.per").set_value("week").run()
    at.selectbox(key="voc.theme.auto").set_value(top[1]).run()
    at.selectbox(key="voc.size").set_value("10").run()
    verbatim_pager(at).set_value(2).run()
    assert_clean(at)
    link = dict(at.query_params)
    assert link == {
        "view": "themes", "period": "12m", "voc.source": "auto", "voc.trend": top[1:3],
        "voc.per": "week", "voc.theme": top[1], "voc.size": "10", "voc.pg": "2",
    }  # fmt: skip
    shown = themes_view(at)
    assert shown[0]["page"] == 2 and len(shown[1]) == 4
    opened = open_link(link)
    assert themes_view(opened) == shown
    assert dict(opened.query_params) == link


def test_bad_themes_view_params_fall_back_to_defaults(
    themes_dir: Path, app_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CX_DATA_DIR", str(themes_dir))
    default = themes_view(open_link({"view": "themes"}))
    bad = {
        "view": "themes", "voc.source": "<b>x</b>", "voc.trend": ["nope", "../x"],
        "voc.per": "decade", "voc.theme": "nope", "voc.band": "all'--", "voc.size": "7",
        "voc.pg": "999",
    }  # fmt: skip
    at = open_link(bad)
    assert themes_view(at) == default
    assert dict(at.query_params) == {"view": "themes"}
    note = " ".join(w.value for w in at.sidebar.warning).replace("\\", "")  # Markdown
    assert "Themes (voc.source)" in note and "Per page (voc.size)" in note
    assert "<b>" not in note and "nope" not in note


# --- filters change numbers -------------------------------------------------------------


@pytest.mark.parametrize("page", PAGES)
def test_a_filter_change_changes_the_numbers(app_env: Path, page: str) -> None:
    at = run_page(new_app(), page)
    before = page_numbers(at, page)
    at.multiselect(key="g.dim.country").set_value(["Slovenia"]).run()
    assert_clean(at)
    assert page_numbers(at, page) != before
    assert at.query_params["country"] == "Slovenia"


def test_period_and_comparison_change_the_overview(app_env: Path) -> None:
    at = run_page(new_app(), PAGES[0])
    nps_90 = at.metric[0].value
    at.selectbox(key="g.period").set_value("12m").run()
    assert_clean(at)
    assert at.metric[0].value != nps_90
    at.selectbox(key="g.vs").set_value("yoy").run()
    assert at.query_params["vs"] == "yoy"
    assert_clean(at)


def test_switching_to_a_custom_range_starts_from_the_shown_range(app_env: Path) -> None:
    at = run_page(new_app({"period": "30d"}), PAGES[0])
    at.selectbox(key="g.period").set_value("custom").run()
    assert_clean(at)
    start, end = at.date_input(key="g.range").value
    assert (end - start).days == 29
    assert at.query_params["from"] == start.isoformat()
    assert at.query_params["to"] == end.isoformat()


# --- URL state --------------------------------------------------------------------------


def test_query_params_in_give_the_same_filters_out(app_env: Path) -> None:
    query = {
        "period": "custom",
        "from": "2026-01-01",
        "to": "2026-03-31",
        "vs": "yoy",
        "region": ["Oslo", "Viken"],
        "plan": "Premium",
    }
    at = run_page(new_app(query), PAGES[0])
    assert_clean(at)
    assert at.selectbox(key="g.period").value == "custom"
    assert at.selectbox(key="g.vs").value == "yoy"
    assert at.multiselect(key="g.dim.region").value == ["Oslo", "Viken"]
    assert at.multiselect(key="g.dim.plan").value == ["Premium"]
    assert at.date_input(key="g.range").value == (dt.date(2026, 1, 1), dt.date(2026, 3, 31))
    assert dict(at.query_params) == query
    # the view differs from the default one
    default = run_page(new_app(), PAGES[0])
    assert at.metric[0].value != default.metric[0].value


@pytest.mark.parametrize(
    ("page", "query", "widgets"),
    [
        (
            "pages/trends.py",
            {"metric": "csat", "grain": "month", "split": "plan", "top": "3"},
            {"trends.metric": "csat", "trends.grain": "month", "trends.split": "plan"},
        ),
        (
            "pages/touchpoints.py",
            {"cols": "channel", "color": "nps"},
            {"touchpoints.cols": "channel", "touchpoints.color": "nps"},
        ),
        (
            "pages/segments.py",
            {"path": ["plan", "country"], "chart": "sunburst", "by": "country"},
            {"segments.level0": "plan", "segments.level1": "country", "segments.by": "country"},
        ),
        (
            "pages/feedback.py",
            {"q": "delivery", "band": "detractors", "lang": "en", "sort": "oldest"},
            {"feedback.band": "detractors", "feedback.sort": "oldest"},
        ),
    ],
)
def test_page_options_round_trip_through_the_url(
    app_env: Path, page: str, query: dict, widgets: dict
) -> None:
    at = new_app({"region": "Oslo", **query})
    at.run()  # first run adopts the URL…
    at.switch_page(page)
    at.query_params.clear()
    at.query_params.update({"region": "Oslo", **query})  # …as a link into the page does
    at.run()
    assert_clean(at)
    for key, value in widgets.items():
        assert at.session_state[key] == value, key
    assert dict(at.query_params) == {"region": "Oslo", **query}


def test_leaving_a_page_keeps_filters_and_restores_its_options(app_env: Path) -> None:
    at = run_page(new_app({"plan": "Basic", "grain": "month"}), "pages/trends.py")
    at.switch_page("pages/trends.py")
    at.query_params.clear()
    at.query_params.update({"plan": "Basic", "grain": "month"})
    at.run()
    at.switch_page("pages/segments.py")
    at.query_params.clear()  # the sidebar navigation clears the URL
    at.run()
    assert at.query_params.get("plan") == "Basic"
    at.switch_page("pages/trends.py")
    at.query_params.clear()
    at.run()
    assert at.query_params.get("grain") == "month"
    assert at.query_params.get("plan") == "Basic"


def test_bad_query_params_fall_back_to_defaults(app_env: Path) -> None:
    at = run_page(
        new_app(
            {
                "period": "forever",
                "vs": "x",
                "region": "Atlantis",
                "from": "2026-13-01",
                "grain": "decade",
            }
        ),
        "pages/overview.py",
    )
    assert_clean(at)
    assert at.selectbox(key="g.period").value == DEFAULT_PERIOD
    assert at.multiselect(key="g.dim.region").value == []


# --- empty and error states -------------------------------------------------------------


def test_filters_matching_nothing_say_so(app_env: Path) -> None:
    for page in PAGES:
        at = run_page(new_app({"period": "custom", "from": "2000-01-01", "to": "2000-01-31"}), page)
        assert_clean(at)
        assert any("No answers match" in i.value for i in at.info), page


def test_empty_store_offers_the_demo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CX_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("CX_OPEN_ADMIN", "1")
    monkeypatch.delenv("CX_AUTO_DEMO", raising=False)
    monkeypatch.setattr(demo, "DEFAULT_ROWS", 5_000)
    at = new_app()
    at.run()
    assert_clean(at)
    assert any("No survey data yet" in s.value for s in at.subheader)
    at.button[0].click().run()
    assert_clean(at)
    assert [m.label for m in at.metric][:1] == ["NPS"]


def test_auto_demo_loads_on_first_start(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CX_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("CX_AUTO_DEMO", "1")
    monkeypatch.setattr(demo, "DEFAULT_ROWS", 5_000)
    at = new_app()
    at.run()
    assert_clean(at)
    assert at.metric and at.metric[0].label == "NPS"


@pytest.fixture(scope="module")
def sparse_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Responses only (no metrics dataset), with no touchpoint, stage, comment or language:
    an import of a bare NPS export looks like this."""
    path = tmp_path_factory.mktemp("sparse")
    frame = demo.demo_responses(rows=3_000, end=DEMO_END)
    for col in ("touchpoint", "journey_stage", "comment", "language"):
        frame[col] = None
    connect(path).replace_table(schema.RESPONSES, frame)
    return path


@pytest.mark.parametrize("page", PAGES)
def test_pages_render_on_sparse_data(
    sparse_dir: Path, monkeypatch: pytest.MonkeyPatch, page: str
) -> None:
    monkeypatch.setenv("CX_DATA_DIR", str(sparse_dir))
    at = run_page(new_app(), page)
    assert_clean(at)
    if page == "pages/overview.py":
        assert at.metric[0].label == "NPS"
        assert any("No operational KPIs" in c.value for c in at.caption)


def test_comments_are_plain_text(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    nasty = "<img src=x onerror=alert(1)> **bold** [link](javascript:alert(1)) =1+1"
    frame = demo.demo_responses(rows=2_000, end=DEMO_END)
    frame["comment"] = frame["comment"].astype(object)
    frame.loc[frame.index[-1], "comment"] = nasty
    store = connect(tmp_path)
    store.replace_table(schema.RESPONSES, frame)
    monkeypatch.setenv("CX_DATA_DIR", str(tmp_path))
    at = run_page(new_app(), "pages/feedback.py")
    assert_clean(at)
    assert nasty in [t.value for t in at.text]
    assert not any("onerror" in md.value for md in at.markdown)


# --- the URL codec on its own -----------------------------------------------------------

DIMS = ["region", "plan", "color", "dim.x"]


@pytest.mark.parametrize(
    "view",
    [
        ViewFilters(),
        ViewFilters.make("30d", compare="yoy"),
        ViewFilters.make(
            "custom",
            dt.date(2026, 1, 1),
            dt.date(2026, 2, 28),
            where={"region": ["Oslo", "Viken"], "plan": ["Basic"]},
        ),
        ViewFilters.make("ytd", where={"color": ["red"], "dim.x": ["a b&c=d", "é"]}),
    ],
)
def test_view_filters_round_trip(view: ViewFilters) -> None:
    params = view.to_params()
    assert ViewFilters.from_params(params, DIMS) == view
    assert all(isinstance(v, list) and v for v in params.values())


def test_dimension_names_that_collide_with_options_get_a_prefix() -> None:
    assert dim_param("region") == "region"
    assert dim_param("color") == "dim.color"
    assert dim_param("period") == "dim.period"
    assert dim_param("dim.x") == "dim.dim.x"


def test_defaults_leave_the_url_clean() -> None:
    assert ViewFilters().to_params() == {}


def test_decoders_never_fail() -> None:
    assert decode_choice(["a", "zz"], ["a", "b"], "b") == "b"
    assert decode_choice(None, ["a"], "a") == "a"
    assert decode_int(["7"], 1, 10, 3) == 7
    assert decode_int(["70"], 1, 10, 3) == 3
    assert decode_int(["x"], 1, 10, 3) == 3
    assert decode_many(["b", "a", "b", "q"], ["a", "b"]) == ["b", "a"]
    bad = ViewFilters.from_params(
        {"period": ["custom"], "from": ["2026-05-01"], "to": ["2026-04-01"]}, DIMS
    )
    assert bad.period == DEFAULT_PERIOD


def test_presets_end_on_the_anchor_day() -> None:
    anchor = dt.date(2026, 5, 17)
    assert preset_range("30d", anchor) == (dt.date(2026, 4, 18), anchor)
    assert preset_range("90d", anchor) == (dt.date(2026, 2, 17), anchor)
    assert preset_range("qtd", anchor) == (dt.date(2026, 4, 1), anchor)
    assert preset_range("ytd", anchor) == (dt.date(2026, 1, 1), anchor)
    assert preset_range("12m", anchor) == (dt.date(2025, 5, 18), anchor)
    view = ViewFilters.make("30d", compare="yoy", where={"plan": ["Basic"]})
    prev = view.comparison(anchor)
    assert (prev.start, prev.end) == (dt.date(2025, 4, 18), dt.date(2025, 5, 17))
    assert prev.where == (("plan", ("Basic",)),)


def test_pages_hold_no_metric_math() -> None:
    """Pages read filters, call cxdata through the cached context and draw (DESIGN §7)."""
    for page in [*PAGES, "dashboard.py"]:
        text = (ROOT / page).read_text()
        assert "import ibis" not in text and "from cxdata.stats" not in text, page
        assert "st.markdown(row" not in text and "unsafe_allow_html" not in text, page
