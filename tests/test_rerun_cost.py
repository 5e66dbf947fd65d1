"""Cheap reruns (issue 15): the embedded store's queries compiled once per shape with the
filter values bound as parameters give exactly the Ibis path's results; the cache keys of
the pages' query layer are exact; sparkline figures are shared per drawing."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from pathlib import Path

import pandas as pd
import pytest

from cxdata import demo, kpi_metrics, queries, schema, segments
from cxdata.config import Thresholds, thresholds
from cxdata.filters import NOT_SET, Filters
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
    assert other is not one and list(other.data[0].y) == [1.0, 2.0, 3.0]
    partial = tiles.sparkline_figure(x, y, hover, "#000", pd.Series([False, False, True]))
    assert partial is not one and len(partial.data) == 2
