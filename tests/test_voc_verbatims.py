"""Verbatims per theme: paged in the engine, plain values, bands, withheld when tiny."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from test_voc_impact import voc_frame

from cxdata import schema
from cxdata.errors import NoData, UnknownName
from cxdata.filters import Filters
from cxdata.store import Store, close, connect
from cxdata.voc import persist, tables, verbatims


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    path = tmp_path_factory.mktemp("verb")
    s = connect(path)
    s.replace_table(schema.RESPONSES, voc_frame(2_000, seed=8))
    persist.compute_themes(s)
    yield s
    close(path)


def delivery_ids(store: Store) -> set[str]:
    themes = store.backend.table(tables.THEMES).to_pandas()
    return set(themes.loc[themes["theme"] == "delivery", "response_id"])


def test_pages_cover_every_comment_once_newest_first(store: Store) -> None:
    first = verbatims.theme_verbatims(store, Filters(), "delivery", 1, 50)
    assert first.total == len(delivery_ids(store))
    seen: list[pd.DataFrame] = []
    for page in range(1, first.pages + 1):
        p = verbatims.theme_verbatims(store, Filters(), "delivery", page, 50)
        assert len(p.rows) <= 50
        seen.append(p.rows)
    allrows = pd.concat(seen, ignore_index=True)
    assert len(allrows) == first.total
    assert allrows["submitted_at"].is_monotonic_decreasing
    assert list(allrows.columns) == list(verbatims.COLUMNS)
    assert all(isinstance(c, str) for c in allrows["comment"])


def test_page_is_clamped_and_size_checked(store: Store) -> None:
    p = verbatims.theme_verbatims(store, Filters(), "delivery", 10_000, 25)
    assert p.page == p.pages and len(p.rows) >= 1
    with pytest.raises(ValueError, match="page size"):
        verbatims.theme_verbatims(store, Filters(), "delivery", 1, 1_000)
    with pytest.raises(UnknownName):
        verbatims.theme_verbatims(store, Filters(), "delivery", band="angry")


def test_bands_languages_and_sentiment_labels(store: Store) -> None:
    det = verbatims.theme_verbatims(store, Filters(), "delivery", 1, 100, band="detractors")
    assert (det.rows["nps"] <= 6).all() and set(det.rows["band"]) == {"detractor"}
    sl = verbatims.theme_verbatims(store, Filters(), "delivery", 1, 100, language="sl")
    assert set(sl.rows["language"]) == {"sl"}
    assert set(sl.rows["sentiment_label"]) == {"n/a"} and sl.rows["sentiment"].isna().all()
    en = verbatims.theme_verbatims(store, Filters(), "delivery", 1, 100, language="en")
    assert en.rows["sentiment"].notna().all()
    assert set(en.rows["sentiment_label"]) <= {"positive", "neutral", "negative"}


def test_filters_apply(store: Store) -> None:
    oslo = verbatims.theme_verbatims(
        store, Filters.make(where={"region": ["Oslo"]}), "delivery", 1, 100
    )
    frame = store.backend.table(schema.RESPONSES).to_pandas()
    expected = frame[frame["response_id"].isin(delivery_ids(store)) & (frame["region"] == "Oslo")]
    assert oslo.total == len(expected)


def test_withheld_in_a_tiny_restricted_view(store: Store) -> None:
    frame = store.backend.table(schema.RESPONSES).to_pandas()
    frame["day"] = frame["submitted_at"].dt.date
    cells = frame.groupby(["day", "region", "touchpoint"])["response_id"].agg(list)
    ids = delivery_ids(store)
    (day, region, touchpoint), _ = next(
        (key, members)
        for key, members in cells.items()
        if len(members) < verbatims.RESTRICTED_MIN_ANSWERS and ids & set(members)
    )
    f = Filters.make(day, day, {"touchpoint": [touchpoint]})
    tiny = verbatims.theme_verbatims(store.restricted({"region": (region,)}), f, "delivery")
    assert tiny.withheld and tiny.rows.empty and tiny.total == 0
    assert tiny.answers < verbatims.RESTRICTED_MIN_ANSWERS
    open_view = verbatims.theme_verbatims(store, f.with_where("region", [region]), "delivery")
    assert not open_view.withheld and open_view.total >= 1  # unrestricted users see them


def test_unknown_theme_is_empty_and_no_results_is_an_error(store: Store, tmp_path: Path) -> None:
    assert verbatims.theme_verbatims(store, Filters(), "no-such-theme").total == 0
    other = connect(tmp_path)
    other.replace_table(schema.RESPONSES, voc_frame(20))
    with pytest.raises(NoData, match="themes --rebuild"):
        verbatims.theme_verbatims(other, Filters(), "delivery")
