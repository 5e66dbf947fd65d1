"""Cheap reruns (issue 15): the embedded store's queries compiled once per shape with the
filter values bound as parameters give exactly the Ibis path's results; the cache keys of
the pages' query layer are exact; sparkline figures are shared per drawing."""

from __future__ import annotations

import copy
import datetime as dt
import json
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import plotly.io
import pytest

from cxdata import demo, kpi_metrics, queries, schema, segments
from cxdata.config import Thresholds, thresholds
from cxdata.filters import NOT_SET, Filters
from cxdata.specfigure import SpecFigure
from cxdata.store import Store, close, connect
from pages._shared import session, tiles

NOW = Filters.make(dt.date(2025, 4, 1), dt.date(2025, 6, 30), {"region": ["Oslo", NOT_SET]})
PREV = Filters.make(dt.date(2025, 1, 1), dt.date(2025, 3, 31), {"region": ["Oslo", NOT_SET]})
SHAPES = [
    Filters(),
    Filters.make(dt.date(2025, 3, 1), dt.date(2025, 5, 31)),
    Filters.make(None, dt.date(2025, 6, 30), {"region": ["Skåne", NOT_SET]}),
    Filters.make(dt.date(2025, 2, 1), None, {"plan": ["Basic"], "channel": ["web", "store"]}),
    Filters.make(dt.date(2025, 5, 5), dt.date(2025, 5, 5), {"region": [NOT_SET]}),
    NOW,
]
IDS = ["all", "spring", "skane+missing", "basic-web", "one-day-missing", "oslo+missing"]


def ibis_path(monkeypatch: pytest.MonkeyPatch, fn: Callable[[], object]) -> object:
    """`fn()` as a warehouse runs it: through Ibis, no compiled shape."""
    with monkeypatch.context() as m:
        m.setattr(Store, "is_embedded", property(lambda self: False))
        return fn()


def test_filter_values_are_parameters_not_sql(store: Store) -> None:
    queries._COMPILED.clear()
    queries.kpis(store, NOW)
    queries.kpis(store, PREV)  # same shape: compiled once
    keys = [k for k in queries._COMPILED if k[0] == ("keys",)]
    assert len(keys) == 1
    compiled = queries._COMPILED[keys[0]]
    assert compiled is not None
    assert "Oslo" not in compiled.sql and "2025" not in compiled.sql
    assert "$1" in compiled.sql and "$3" in compiled.sql
    assert sorted(compiled.slots) == [("d", 0, 0), ("d", 1, 1), ("s", 0, 0)]


@pytest.mark.parametrize("f", SHAPES, ids=IDS)
def test_kpis_equal_the_ibis_path(
    store: Store, monkeypatch: pytest.MonkeyPatch, f: Filters
) -> None:
    fast = queries.kpis(store, f)
    slow = ibis_path(monkeypatch, lambda: queries.kpis(store, f))
    assert fast == slow
    assert fast.responses > 0


PAIRS = [
    (NOW, PREV),  # the dashboard's case: same dimension filters, back-to-back periods
    (Filters.make(dt.date(2025, 6, 1), dt.date(2025, 6, 30), {"plan": ["Basic"]}),
     Filters.make(dt.date(2024, 6, 1), dt.date(2024, 6, 30), {"plan": ["Basic"]})),
    (Filters.make(dt.date(2030, 1, 1), dt.date(2030, 1, 9)),  # no answers on either side
     Filters.make(dt.date(2029, 12, 23), dt.date(2029, 12, 31))),
    (NOW, Filters.make(dt.date(2025, 5, 1), dt.date(2025, 7, 31))),  # overlap, other where
    (Filters.make(None, dt.date(2025, 6, 30)), Filters.make(dt.date(2024, 1, 1), None)),  # open
]  # fmt: skip


@pytest.mark.parametrize(("now", "before"), PAIRS, ids=["dashboard", "year-ago", "empty",
                                                        "overlap", "open-ends"])
def test_kpis_pair_equals_two_kpis(store: Store, now: Filters, before: Filters) -> None:
    """One query for the Overview's two periods gives exactly the two Kpis (falling back to
    two queries when the ranges may overlap or the dimension filters differ)."""
    assert queries.kpis_pair(store, now, before) == (queries.kpis(store, now),
                                                     queries.kpis(store, before))


@pytest.mark.parametrize("f", SHAPES, ids=IDS)
def test_breakdown_and_trend_equal_the_ibis_path(
    store: Store, monkeypatch: pytest.MonkeyPatch, f: Filters
) -> None:
    calls: list[Callable[[], pd.DataFrame]] = [
        lambda: queries.breakdown(store, f, ["region", "plan"]),
        lambda: queries.breakdown(store, f, ["touchpoint"], metrics=["friction"]),
        lambda: queries.trend(store, f, "month"),
        lambda: queries.trend(store, f, "week", by="channel", top_n=2),
        lambda: queries.trend(store, f, "month", by="region", values=["Oslo", NOT_SET]),
        lambda: queries.friction_matrix(store, f, "touchpoint", "region"),
    ]
    for call in calls:
        fast = call()
        slow = ibis_path(monkeypatch, call)
        pd.testing.assert_frame_equal(fast, slow)  # type: ignore[arg-type]
    assert int(queries.breakdown(store, f, ["plan"])["responses"].sum()) == queries.kpis(
        store, f
    ).responses


@pytest.mark.parametrize(
    "previous",
    [PREV, PREV.with_where("region", ["Skåne"]), PREV.with_dates(None, dt.date(2025, 3, 31))],
    ids=["same-dims", "other-dims", "open-start"],
)
def test_movers_equal_the_ibis_path(
    store: Store, monkeypatch: pytest.MonkeyPatch, previous: Filters
) -> None:
    dims = ["channel", "plan", "region", "touchpoint"]
    fast = segments.period_counts(store, NOW, previous, dims)
    slow = ibis_path(monkeypatch, lambda: segments.period_counts(store, NOW, previous, dims))
    order = ["dimension", "value", "period"]
    pd.testing.assert_frame_equal(
        fast.sort_values(order, ignore_index=True)[sorted(fast.columns)],
        slow.sort_values(order, ignore_index=True)[sorted(slow.columns)],  # type: ignore[union-attr]
    )
    assert int(fast.loc[fast["dimension"] == "plan", "responses"].sum()) == (
        queries.kpis(store, NOW).responses + queries.kpis(store, previous).responses
    )
    now = segments.movers(store, NOW, previous, dims, "nps", all_tested=True)
    before = ibis_path(
        monkeypatch, lambda: segments.movers(store, NOW, previous, dims, "nps", all_tested=True)
    )
    pd.testing.assert_frame_equal(now, before)  # type: ignore[arg-type]
    assert now.attrs == before.attrs and now.attrs["comparisons"] > 0  # type: ignore[union-attr]


def test_a_hostile_value_is_only_ever_a_value(store: Store) -> None:
    hostile = "Oslo') OR TRUE OR ('x' IN ('x"
    f = Filters.make(dt.date(2025, 1, 1), dt.date(2025, 12, 31), {"region": [hostile]})
    assert queries.kpis(store, f).responses == 0
    both = f.with_where("region", [hostile, "Oslo"])
    assert queries.kpis(store, both).responses == queries.kpis(
        store, f.with_where("region", ["Oslo"])
    ).responses > 0


@pytest.fixture
def restricted_dir(tmp_path: Path, reference_frame: pd.DataFrame) -> Iterator[Path]:
    s = connect(tmp_path)
    s.replace_table(schema.RESPONSES, reference_frame.head(3_000))
    yield tmp_path
    close(tmp_path)


def test_a_restricted_store_keeps_its_restriction(
    restricted_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    whole = connect(restricted_dir)
    oslo = whole.restricted({"region": ("Oslo",)})
    f = Filters.make(dt.date(2025, 1, 1), dt.date(2025, 12, 31))
    mine, all_rows = queries.kpis(oslo, f), queries.kpis(whole, f)
    assert 0 < mine.responses < all_rows.responses
    assert mine == ibis_path(monkeypatch, lambda: queries.kpis(oslo, f))
    skane = f.with_where("region", ["Skåne"])  # outside the restriction: nothing
    assert queries.kpis(oslo, skane).responses == 0 < queries.kpis(whole, skane).responses


HOSTILE = ["x'); DROP TABLE responses; --", 'a"; SELECT 1; --', "(not set", "Oslo"]


@pytest.fixture
def odd_dir(tmp_path: Path, reference_frame: pd.DataFrame) -> Iterator[Path]:
    """3,000 answers with two more dimensions: one named like an SQL keyword, one whose
    name needs quoting, both holding hostile values and NULLs."""
    frame = reference_frame.head(3_000).copy()
    picks = pd.Series(HOSTILE * 750, index=frame.index)
    frame["select"] = picks.where(frame.index % 7 != 0)  # NULLs → NOT_SET
    frame['we"ird; group'] = picks.iloc[::-1].to_numpy()
    s = connect(tmp_path)
    s.replace_table(schema.RESPONSES, frame)
    yield tmp_path
    close(tmp_path)


@pytest.mark.parametrize("restricted", [False, True], ids=["whole", "oslo-only"])
def test_period_counts_grouping_sets_equal_the_ibis_path(
    odd_dir: Path, monkeypatch: pytest.MonkeyPatch, restricted: bool
) -> None:
    whole = connect(odd_dir)
    s = whole.restricted({"region": ("Oslo",)}) if restricted else whole
    dims = ["select", "region", "touchpoint", 'we"ird; group', "plan"]
    now = Filters.make(dt.date(2025, 4, 1), dt.date(2025, 9, 30), {"channel": ["web", "store"]})
    prev = now.with_dates(dt.date(2024, 10, 1), dt.date(2025, 3, 31))
    queries._COMPILED.clear()
    fast = segments.period_counts(s, now, prev, dims)
    [sql] = [c.sql for k, c in queries._COMPILED.items() if c is not None]
    assert sql.count("GROUPING SETS") == 1 and "UNION" not in sql  # one scan
    assert "DROP" not in sql and "web" not in sql  # values only ever as parameters
    slow = ibis_path(monkeypatch, lambda: segments.period_counts(s, now, prev, dims))
    pd.testing.assert_frame_equal(  # same columns in the same order, same types, same rows
        fast.sort_values(["dimension", "value", "period"], ignore_index=True),
        slow.sort_values(["dimension", "value", "period"], ignore_index=True),  # type: ignore[union-attr]
    )
    answers = queries.kpis(s, now).responses + queries.kpis(s, prev).responses
    assert answers > 0
    for dim in dims:  # every dimension sees every answer of both periods once
        assert int(fast.loc[fast["dimension"] == dim, "responses"].sum()) == answers
    odd = fast[fast["dimension"] == "select"]
    assert set(odd["value"]) == {*HOSTILE, NOT_SET}
    assert set(fast.loc[fast["dimension"] == "region", "value"]) == (
        {"Oslo"} if restricted else {"Oslo", "Skåne", "Celje", NOT_SET}
    )
    # by hand: the keyword-named dimension's NOT_SET rows are the NULLs of the period
    frame = s.table(schema.RESPONSES).to_pandas()
    day = frame["submitted_at"].dt.date
    in_now = (day >= now.start) & (day <= now.end) & frame["channel"].isin(["web", "store"])
    got = odd.loc[(odd["value"] == NOT_SET) & (odd["period"] == "now"), "responses"]
    assert int(got.sum()) == int((in_now & frame["select"].isna()).sum()) > 0


def test_key_text_is_exact() -> None:
    text = session.key_text
    assert len({text(1), text(1.0), text(True), text("1")}) == 4
    assert text([1, "a"]) == text((1, "a")) != text((1, "b"))
    assert text(NOW) != text(PREV) and text(NOW) == text(Filters.make(
        dt.date(2025, 4, 1), dt.date(2025, 6, 30), {"region": [NOT_SET, "Oslo"]}
    ))
    assert text(Thresholds(30, 100)) != text(Thresholds(30, 101))
    assert text(dt.date(2025, 1, 1)) != text(dt.datetime(2025, 1, 1))
    with pytest.raises(TypeError):
        text(pd.Timestamp("2025-01-01"))  # a subclass: not written out exactly
    with pytest.raises(TypeError):
        text({"a": 1})


def test_cached_query_by_text_and_by_value_agree(store: Store) -> None:
    key = session.data_key(store)
    th = thresholds()
    k = session.cached_query(store, key, "kpis", NOW, th)
    assert k == queries.kpis(store, NOW, th)
    frame = session.cached_query(store, key, "breakdown", NOW, ["plan"], th)
    assert session.cached_query(store, key, "breakdown", NOW, ("plan",), th) is not None
    assert frame["responses"].sum() == k.responses


def test_metric_kpis_read_the_cached_series(tmp_path: Path) -> None:
    s = connect(tmp_path)
    s.replace_table(schema.METRICS, demo.demo_metrics(seed=3, end=dt.date(2025, 6, 30)))
    try:
        key = session.data_key(s)
        now = Filters.make(dt.date(2025, 4, 1), dt.date(2025, 6, 30), {"region": ["Oslo"]})
        before = now.with_dates(dt.date(2025, 1, 1), dt.date(2025, 3, 31))
        ctx = session.Ctx(store=s, key=key, th=thresholds(), span=(dt.date(2024, 1, 1),
                          dt.date(2025, 6, 30)), filters=now, previous=before)  # fmt: skip
        got = ctx.metric_kpis()
        # the metrics have no region: the filter is not theirs, the KPIs are the plain ones
        want = kpi_metrics.metric_kpis(s, now.with_where("region", []), before.with_where(
            "region", []))
        assert got == want and len(got) >= 2 and all(k.points > 0 for k in got)
        other = session.Ctx(store=s, key=key, th=thresholds(), span=ctx.span,
                            filters=now.with_where("region", ["Viken"]), previous=before)
        assert other.metric_kpis() == got
    finally:
        close(tmp_path)


def test_sparkline_figures_are_shared_per_drawing() -> None:
    x = pd.Series(pd.date_range("2025-01-01", periods=3, freq="MS"))
    y = pd.Series([1.0, float("nan"), 3.0])
    hover = ["a", "b", "c"]
    one = tiles.sparkline_figure(x, y, hover, "#000", None)
    assert tiles.sparkline_figure(x, y.copy(), list(hover), "#000", None) is one
    other = tiles.sparkline_figure(x, pd.Series([1.0, 2.0, 3.0]), hover, "#000", None)
    assert other is not one and other.to_dict()["data"][0]["y"] == [1.0, 2.0, 3.0]
    partial = tiles.sparkline_figure(x, y, hover, "#000", pd.Series([False, False, True]))
    assert partial is not one and len(partial.to_dict()["data"]) == 2


def _sparkline_built_trace_by_trace(
    x: pd.Series, y: list[float], hover: list[str], color: str, partial: list[bool]
) -> go.Figure:
    """The sparkline as charts.sparkline built it before sparkline_spec (the reference)."""
    fig = go.Figure(
        go.Scatter(
            x=list(x), y=list(y), mode="lines", line={"color": color, "width": 2},
            customdata=list(hover), hovertemplate="%{customdata}<extra></extra>",
            connectgaps=False,
        )
    )  # fmt: skip
    cut = [bool(p) for p in partial]
    if any(cut):
        fig.add_trace(
            go.Scatter(
                x=[v for v, p in zip(x, cut, strict=True) if p],
                y=[v for v, p in zip(y, cut, strict=True) if p],
                mode="markers",
                marker={"symbol": "circle-open", "size": 7, "color": color, "line": {"width": 2}},
                hoverinfo="skip",
            )
        )
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    fig.update_layout(
        height=56, margin={"l": 0, "r": 0, "t": 4, "b": 4}, showlegend=False, hovermode="x"
    )
    return fig


@pytest.mark.parametrize(
    ("y", "partial"),
    [([25.5, float("nan"), 20.25], [False, False, True]), ([1.0, 2.0, 3.5], [False] * 3)],
)
def test_a_shared_sparkline_sends_the_same_spec_and_hands_out_copies(
    y: list[float], partial: list[bool]
) -> None:
    x = pd.Series(pd.date_range("2024-01-01", periods=3, freq="MS"))
    hover = ["Jan <b>", "Feb", "Mar (so far)"]
    fig = tiles.sparkline_figure(x, pd.Series(y), hover, "#2F6FD0", pd.Series(partial))
    reference = _sparkline_built_trace_by_trace(x, y, hover, "#2F6FD0", partial)
    # what st.plotly_chart sends: plotly.io.to_json of the figure's to_dict()
    sent = json.loads(plotly.io.to_json(fig.to_dict(), validate=False))
    assert sent == json.loads(plotly.io.to_json(reference.to_dict(), validate=False))
    assert sent["layout"]["template"]["layout"]  # the default (Streamlit) template is kept
    assert len(sent["data"]) == 1 + any(partial)
    # every call hands out a new dict: a caller changing it does not change the next one
    first = fig.to_dict()
    first["data"][0]["customdata"].append("changed")
    first["layout"]["height"] = 999
    again = fig.to_dict()
    assert again["data"][0]["customdata"] == hover and again["layout"]["height"] == 56


def test_a_spec_figure_sends_what_plotly_would_build_from_the_same_spec() -> None:
    """SpecFigure skips Plotly's objects; what it hands Streamlit must still be exactly
    go.Figure(spec).to_dict(): typed arrays packed, dates written out, template added."""
    days = pd.date_range("2026-01-01", periods=4, freq="D")
    spec = {
        "data": [
            {"type": "scatter", "x": days.to_numpy(), "y": np.array([1.5, np.nan, 3.0, 4.0]),
             "mode": "lines+markers", "marker": {"color": np.array([0.1, 0.2, 0.3, 0.4]),
                                                 "size": [4, 5, 6, 7]},
             "customdata": ["a", "b <i>", "c", "d"]},
            {"type": "bar", "x": ["p", "q"], "y": np.array([2, 3], dtype="int64")},
        ],
        "layout": {"height": 120, "xaxis": {"visible": False}, "showlegend": False},
    }  # fmt: skip
    built = go.Figure(copy.deepcopy(spec)).to_dict()
    expected = json.loads(plotly.io.to_json(built, validate=False))
    fig = SpecFigure(spec)
    first = json.loads(plotly.io.to_json(fig.to_dict(), validate=False))
    assert first == expected
    first["layout"]["height"] = 1  # a caller changing its copy changes nothing shared
    assert json.loads(plotly.io.to_json(fig.to_dict(), validate=False)) == expected
    assert len(fig.built().data) == 2
