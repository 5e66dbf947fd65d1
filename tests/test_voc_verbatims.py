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
from cxdata.voc import impact, persist, tables, verbatims


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


def test_the_masks_give_the_theme_rows_pages_and_the_counts_pandas_gives(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On the embedded store a theme's comments are read from the stored masks and their
    number from the counts the Themes view keeps (cxdata.voc.masked); a warehouse reads
    the theme rows. Both give the same pages, and the totals a plain pandas count of the theme rows
    gives, per filter, band, language and theme (taxonomy, automatic, unknown), for an
    unrestricted and a restricted reader."""
    frame = store.backend.table(schema.RESPONSES).to_pandas()
    rows = store.backend.table(tables.THEMES).to_pandas()
    langs = store.backend.table(tables.COMMENTS).to_pandas().set_index("response_id")["language"]
    auto = str(rows.loc[rows["source"] == "auto", "theme"].iloc[0])
    bands = {
        "all": lambda nps: pd.Series(True, index=nps.index),
        "detractors": lambda nps: (nps <= 6).fillna(False),
        "passives": lambda nps: nps.between(7, 8).fillna(False),
        "promoters": lambda nps: (nps >= 9).fillna(False),
    }
    cases = [
        (Filters(), frame["region"].notna()),
        (Filters.make(where={"region": ["Oslo"]}), frame["region"] == "Oslo"),
        (Filters.make(pd.Timestamp("2025-02-01").date(), pd.Timestamp("2025-03-31").date()),
         frame["submitted_at"].between("2025-02-01", "2025-03-31 23:59:59.999999")),
    ]
    reader = store.restricted({"region": ("Oslo", "Celje")})
    shown, kept = [], []
    real = verbatims.masked.kept_counts
    monkeypatch.setattr(verbatims.masked, "kept_counts",
                        lambda *a: kept.append(real(*a)) or kept[-1])
    for who, seen in ((store, frame["region"].notna()), (reader, frame["region"] != "Skåne")):
        for f, inside in cases:
            impact.theme_impact(who, f)  # as the Themes view: its counts are kept
            for theme in ("delivery", auto, "no-such-theme"):
                ids = set(rows.loc[rows["theme"] == theme, "response_id"])
                for band, lang in (("all", None), ("detractors", "en"), ("passives", None),
                                   ("promoters", "sl")):
                    chosen = frame[seen & inside & frame["response_id"].isin(ids)
                                   & bands[band](frame["nps"].astype("Float64"))]
                    if lang:
                        chosen = chosen[chosen["response_id"].map(langs) == lang]
                    got = verbatims.theme_verbatims(who, f, theme, 2, 10, band, lang)
                    with monkeypatch.context() as m:
                        m.setattr(verbatims.masked, "stored_bits", lambda s: None)
                        rows_path = verbatims.theme_verbatims(who, f, theme, 2, 10, band, lang)
                    assert (got.total, got.page, got.withheld) == (
                        rows_path.total, rows_path.page, rows_path.withheld), (theme, band, lang)
                    pd.testing.assert_frame_equal(got.rows, rows_path.rows)
                    if not got.withheld:
                        assert got.total == len(chosen), (theme, band, lang)
                    shown.append(len(got.rows))
    assert max(shown) == 10 and 0 in shown  # full second pages, and empty results
    assert kept and all(k is not None for k in kept)  # every total from the kept counts
