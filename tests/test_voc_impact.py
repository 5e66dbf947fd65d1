"""Theme impact, trend and theme × touchpoint matrix against a straightforward pandas
computation on the same data (the engine's joins and formulas vs an independent one)."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cxdata import schema
from cxdata.config import Thresholds
from cxdata.filters import NOT_SET, Filters
from cxdata.store import Store, close, connect
from cxdata.voc import fit, impact, masked, persist, tables

# (language, comment, NPS shift): delivery complaints pull NPS down, praise of staff up.
SENTENCES: list[tuple[str, str, float]] = [
    ("en", "The parcel arrived a week late.", -4.0),
    ("en", "Friendly and helpful staff in the shop.", 2.0),
    ("en", "The app crashed when I tried to pay.", -2.0),
    ("en", "Fine.", 0.0),
    ("no", "Pakken kom en uke for sent, og sporingen virket ikke.", -4.0),
    ("no", "Hyggelig og hjelpsomt personale i butikken.", 2.0),
    ("no", "Appen krasjet da jeg skulle betale.", -2.0),
    ("da", "Pakken kom en uge for sent, og sporingen virkede ikke.", -4.0),
    ("da", "Venligt og hjælpsomt personale i butikken.", 2.0),
    ("sv", "Paketet kom en vecka för sent och spårningen fungerade inte.", -4.0),
    ("sv", "Trevlig och hjälpsam personal i butiken.", 2.0),
    ("sl", "Paket je prispel teden dni prepozno, sledenje pa ni delovalo.", -4.0),
    ("sl", "Prijazno in ustrežljivo osebje v trgovini.", 2.0),
]
TOUCHPOINTS = ["parcel delivery", "checkout", "store", "app"]


def voc_frame(n: int, seed: int = 0, prefix: str = "V") -> pd.DataFrame:
    """Responses of which ~60 % have a comment from SENTENCES; NPS depends on the comment;
    the language column is missing for a third of the comments (detection fills it)."""
    rng = np.random.default_rng(seed)
    pick = rng.integers(0, len(SENTENCES), n)
    has = rng.random(n) < 0.6
    shift = np.array([s[2] for s in SENTENCES])[pick] * has
    nps = np.clip(np.round(7.5 + shift + rng.normal(0, 2, n)), 0, 10).astype(int)
    comment = pd.Series([SENTENCES[i][1] for i in pick], dtype="object").where(has, None)
    lang = pd.Series([SENTENCES[i][0] for i in pick], dtype="object")
    lang = lang.where(has & (rng.random(n) < 0.67), None)
    return pd.DataFrame(
        {
            "response_id": [f"{prefix}{seed}-{i}" for i in range(n)],
            "submitted_at": pd.Timestamp("2025-01-01")
            + pd.to_timedelta(rng.integers(0, 180 * 86_400, n), unit="s"),
            "nps": pd.Series(nps, dtype="Int8").where(rng.random(n) < 0.9),
            "csat": pd.Series(rng.integers(1, 6, n), dtype="Int8"),
            "comment": comment,
            "language": lang,
            "touchpoint": pd.Series(rng.choice(TOUCHPOINTS, n), dtype="object").where(
                rng.random(n) < 0.95, None
            ),
            "region": rng.choice(["Oslo", "Skåne", "Celje"], n),
        }
    )


@pytest.fixture(scope="module")
def voc_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Store, pd.DataFrame]]:
    """A store with 6,000 responses and their computed themes."""
    path: Path = tmp_path_factory.mktemp("voc")
    store = connect(path)
    frame = voc_frame(6_000, seed=3)
    store.replace_table(schema.RESPONSES, frame)
    persist.compute_themes(store)
    yield store, frame
    close(path)


TH = Thresholds(min_n=10, low_base=30)


def _nps(scores: pd.Series) -> tuple[float, int, float, float]:
    s = scores.dropna().astype(int)
    n = len(s)
    p, d = (s >= 9).mean() if n else np.nan, (s <= 6).mean() if n else np.nan
    return 100 * (p - d), n, p, d


def reference_impact(frame: pd.DataFrame, themes: pd.DataFrame, th: Thresholds) -> pd.DataFrame:
    """The definitions in impact.py's docstring, written out with pandas."""
    commented = frame[frame["response_id"].isin(set(themes.attrs["analysed"]))]
    rows = []
    for theme, g in themes.groupby("theme"):
        ids = set(g["response_id"])
        inside = commented[commented["response_id"].isin(ids)]
        outside = commented[~commented["response_id"].isin(ids)]
        nps_w, n_w, p_w, d_w = _nps(inside["nps"])
        nps_o, n_o, p_o, d_o = _nps(outside["nps"])
        var_w, var_o = p_w + d_w - (p_w - d_w) ** 2, p_o + d_o - (p_o - d_o) ** 2
        t = ((p_w - d_w) - (p_o - d_o)) / np.sqrt(var_w / n_w + var_o / n_o)
        rows.append({
            "theme": theme, "n": len(inside), "share": 100 * len(inside) / len(commented),
            "nps_n_with": n_w, "nps_with": nps_w if n_w >= th.min_n else np.nan,
            "nps_n_without": n_o, "nps_without": nps_o if n_o >= th.min_n else np.nan,
            "t": t if min(n_w, n_o) >= th.low_base else np.nan,
            "significant_unadjusted": (abs(t) > 1.96) if min(n_w, n_o) >= th.low_base else None,
        })  # fmt: skip
    out = pd.DataFrame(rows).set_index("theme").sort_index()
    # all themes are tested at once: Benjamini–Hochberg at 5% over the tested ones
    p = {k: math.erfc(abs(t) / math.sqrt(2)) for k, t in out["t"].items() if not np.isnan(t)}
    ranked = sorted(p.values())
    m = len(ranked)
    k = max((i + 1 for i in range(m) if ranked[i] <= (i + 1) * 0.05 / m), default=0)
    out["p_value"] = [p.get(theme, np.nan) for theme in out.index]
    out["significant"] = [
        (k > 0 and p[theme] <= ranked[k - 1]) if theme in p else None for theme in out.index
    ]
    out["comparisons"] = m
    return out


def stored(store: Store, name: str) -> pd.DataFrame:
    return store.backend.table(name).to_pandas()


def _scope(store: Store, frame: pd.DataFrame, keep: pd.Series) -> pd.DataFrame:
    themes = stored(store, tables.THEMES)
    analysed_ids = set(stored(store, tables.COMMENTS)["response_id"])
    inside = frame[keep]
    themes = themes[themes["response_id"].isin(set(inside["response_id"]))]
    themes.attrs["analysed"] = sorted(analysed_ids & set(inside["response_id"]))
    return themes


@pytest.mark.parametrize("where", [None, {"region": ["Oslo"]}, {"touchpoint": ["checkout"]}])
def test_theme_impact_matches_pandas(
    voc_store: tuple[Store, pd.DataFrame], where: dict[str, list[str]] | None
) -> None:
    store, frame = voc_store
    f = Filters.make(dt.date(2025, 2, 1), dt.date(2025, 5, 31), where)
    keep = (frame["submitted_at"] >= "2025-02-01") & (frame["submitted_at"] < "2025-06-01")
    for dim, values in (where or {}).items():
        keep &= frame[dim].isin(values)
    themes = _scope(store, frame, keep)
    expected = reference_impact(frame[keep], themes, TH)
    got = impact.theme_impact(store, f, None, TH).set_index("theme").sort_index()
    assert list(got.index) == list(expected.index)
    for col in ("n", "nps_n_with", "nps_n_without"):
        assert got[col].tolist() == expected[col].tolist(), col
    for col in ("share", "nps_with", "nps_without", "t"):
        np.testing.assert_allclose(
            got[col].astype(float), expected[col].astype(float), rtol=1e-9, atol=1e-9, err_msg=col
        )
    np.testing.assert_allclose(got["nps_impact"], got["nps_with"] - got["nps_without"])
    np.testing.assert_allclose(got["p_value"].astype(float), expected["p_value"], rtol=1e-9)
    for col in ("significant", "significant_unadjusted"):
        sig = [None if v is pd.NA else bool(v) for v in got[col]]
        assert sig == expected[col].tolist(), col
    assert (got["comparisons"] == expected["comparisons"].iloc[0]).all()
    assert expected["comparisons"].iloc[0] == int(expected["t"].notna().sum()) > 0


def test_delivery_has_a_significant_negative_impact(voc_store: tuple[Store, pd.DataFrame]) -> None:
    store, _ = voc_store
    got = impact.theme_impact(store, Filters(), "taxonomy", TH).set_index("theme")
    assert got.loc["delivery", "nps_impact"] < -20
    assert bool(got.loc["delivery", "significant"])
    assert got.loc["delivery", "languages"] == ["da", "en", "no", "sl", "sv"]
    assert got.loc["staff", "nps_impact"] > 0


def test_low_base_is_not_tested_and_small_n_suppressed(
    voc_store: tuple[Store, pd.DataFrame],
) -> None:
    store, _ = voc_store
    th = Thresholds(min_n=10, low_base=100_000)
    got = impact.theme_impact(store, Filters(), None, th)
    assert got["significant"].isna().all() and got["t"].isna().all()
    assert got["p_value"].isna().all() and got["significant_unadjusted"].isna().all()
    assert (got["comparisons"] == 0).all()
    assert got["low_base"].all()
    one_day = Filters.make(dt.date(2025, 3, 3), dt.date(2025, 3, 3))
    tiny = impact.theme_impact(store, one_day, "taxonomy", Thresholds(min_n=25, low_base=30))
    small = tiny[tiny["nps_n_with"] < 25]
    assert len(small) and small["nps_with"].isna().all() and small["suppressed"].all()
    assert (small["n"] > 0).all()  # n stays visible


def test_sentiment_is_na_without_a_lexicon(voc_store: tuple[Store, pd.DataFrame]) -> None:
    store, _ = voc_store
    only_no = impact.theme_impact(store, Filters.make(where={"language": ["no"]}), "taxonomy", TH)
    assert (only_no["sentiment_n"] == 0).all() and only_no["sentiment_mean"].isna().all()
    langs = impact.voc_languages(store, Filters()).set_index("language")
    assert langs.loc["en", "lexicon"].startswith("VADER")
    assert langs.loc["sl", "lexicon"] == "n/a" and np.isnan(langs.loc["sl", "sentiment_mean"])
    assert langs.loc["en", "sentiment_n"] == langs.loc["en", "comments"]


def test_restricted_store_sees_only_its_rows(voc_store: tuple[Store, pd.DataFrame]) -> None:
    store, frame = voc_store
    restricted = store.restricted({"region": ("Celje",)})
    got = impact.theme_impact(restricted, Filters(), None, TH).set_index("theme").sort_index()
    keep = frame["region"] == "Celje"
    expected = reference_impact(frame[keep], _scope(store, frame, keep), TH)
    assert got["n"].tolist() == expected["n"].tolist()


def test_theme_trend_matches_pandas(voc_store: tuple[Store, pd.DataFrame]) -> None:
    store, frame = voc_store
    got = impact.theme_trend(store, Filters(), "month", ["delivery", "staff"], "taxonomy", TH)
    themes = stored(store, tables.THEMES)
    analysed_ids = set(stored(store, tables.COMMENTS)["response_id"])
    base = frame[frame["response_id"].isin(analysed_ids)].copy()
    base["period"] = base["submitted_at"].dt.to_period("M").dt.start_time
    for (period, theme), row in got.set_index(["period", "theme"]).iterrows():
        month = base[base["period"] == period]
        ids = set(
            themes.loc[(themes["theme"] == theme) & (themes["source"] == "taxonomy"), "response_id"]
        )
        inside = month[month["response_id"].isin(ids)]
        nps, n_with, _, _ = _nps(inside["nps"])
        assert row["n"] == len(inside) and row["comments"] == len(month)
        assert row["nps_n_with"] == n_with
        assert row["share"] == pytest.approx(100 * len(inside) / len(month))
        assert (
            row["nps_with"] == pytest.approx(nps)
            if n_with >= TH.min_n
            else np.isnan(row["nps_with"])
        )
    assert sorted(got["period"].unique()) == sorted(base["period"].unique())


def test_theme_matrix_matches_pandas(voc_store: tuple[Store, pd.DataFrame]) -> None:
    store, frame = voc_store
    got = impact.theme_matrix(store, Filters(), "touchpoint", "taxonomy", TH)
    themes = stored(store, tables.THEMES)
    themes = themes[themes["source"] == "taxonomy"]
    analysed_ids = set(stored(store, tables.COMMENTS)["response_id"])
    base = frame[frame["response_id"].isin(analysed_ids)].copy()
    base["touchpoint"] = base["touchpoint"].fillna(NOT_SET)
    merged = base.merge(themes[["response_id", "theme"]], on="response_id")
    expected = merged.groupby(["theme", "touchpoint"]).size()
    totals = base.groupby("touchpoint").size()
    got = got.set_index(["theme", "touchpoint"])
    assert got["n"].sort_index().tolist() == expected.sort_index().tolist()
    for (theme, tp), row in got.iterrows():
        assert row["comments"] == totals[tp]
        assert row["share"] == pytest.approx(100 * expected[(theme, tp)] / totals[tp])
    assert NOT_SET in got.index.get_level_values("touchpoint")


def test_ranked_by_impact_puts_the_worst_first(voc_store: tuple[Store, pd.DataFrame]) -> None:
    store, _ = voc_store
    ranked = impact.ranked_by_impact(impact.theme_impact(store, Filters(), "taxonomy", TH))
    values = ranked.loc[~ranked["suppressed"], "nps_impact"].tolist()
    assert values == sorted(values)


VIEWS = {
    "impact": lambda s, f, src: impact.theme_impact(s, f, src, TH),
    "trend": lambda s, f, src: impact.theme_trend(s, f, "month", None, src, TH),
    "trend of two": lambda s, f, src: impact.theme_trend(
        s, f, "week", ["delivery", "app"], src, TH
    ),
    "matrix": lambda s, f, src: impact.theme_matrix(s, f, "touchpoint", src, TH),
    "matrix by region": lambda s, f, src: impact.theme_matrix(s, f, "region", src, TH),
}
NARROWED = [
    Filters(),
    Filters(start=dt.date(2025, 2, 1), end=dt.date(2025, 3, 15)),
    Filters(where=(("region", ("Celje",)), ("touchpoint", ("app", NOT_SET)))),
    Filters(where=(("region", ("nowhere",)),)),  # no analysed comment at all
]


@pytest.mark.parametrize("view", list(VIEWS))
@pytest.mark.parametrize("source", ["taxonomy", "auto", None])
def test_the_stored_masks_give_the_theme_rows_results(
    voc_store: tuple[Store, pd.DataFrame],
    monkeypatch: pytest.MonkeyPatch,
    view: str,
    source: str | None,
) -> None:
    """The embedded store counts themes from its masks (cxdata.voc.masked); a warehouse
    reads the theme rows. Both give the same frames, empty ones included."""
    store, _ = voc_store
    assert masked.theme_counts(store, impact.counted_rows(store, Filters()), [], source) is not None
    for f in NARROWED:
        from_masks = VIEWS[view](store, f, source)
        with monkeypatch.context() as m:
            m.setattr(masked, "stored_bits", lambda s: None)  # as on a store without masks
            from_rows = VIEWS[view](store, f, source)
        pd.testing.assert_frame_equal(from_masks, from_rows, check_exact=False, rtol=1e-12)
        assert len(from_masks) > 0 or f.where == NARROWED[-1].where


def test_a_trend_without_analysed_comments_is_empty(
    voc_store: tuple[Store, pd.DataFrame], monkeypatch: pytest.MonkeyPatch
) -> None:
    store, _ = voc_store
    nowhere = NARROWED[-1]
    monkeypatch.setattr(masked, "stored_bits", lambda s: None)
    got = impact.theme_trend(store, nowhere, "month", None, "taxonomy", TH)
    assert got.empty and "nps_with" in got.columns


@pytest.mark.parametrize("f", NARROWED, ids=["all", "dates", "narrowed", "nothing"])
def test_the_taxonomy_fit_from_the_masks_equals_the_theme_rows(
    voc_store: tuple[Store, pd.DataFrame], monkeypatch: pytest.MonkeyPatch, f: Filters
) -> None:
    store, _ = voc_store
    from_masks = fit.taxonomy_fit(store, f)
    with monkeypatch.context() as m:
        m.setattr(masked, "stored_bits", lambda s: None)
        assert fit.taxonomy_fit(store, f) == from_masks
    assert (from_masks.comments > 0) == (f is not NARROWED[-1])


def test_the_themes_views_join_the_masks_once_and_never_serve_old_counts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The Themes view's taxonomy fit counts both sources' mask words, per language,
    month and touchpoint; the impact ranking of either source, the monthly trend and the
    touchpoint matrix then reuse those counts (no second join), with frames equal to a
    fresh count. A new snapshot (here an append) or a restriction is never served the
    counts of another."""
    store = connect(tmp_path)
    store.replace_table(schema.RESPONSES, voc_frame(1_500, seed=5))
    persist.compute_themes(store)
    f = Filters(where=(("region", ("Oslo", "Skåne")),))
    engine_calls: list[list[int]] = []
    counted = masked._counted

    def spy(s: Store, base: object, keys: object, words: list[int]) -> pd.DataFrame:
        engine_calls.append(list(words))
        return counted(s, base, keys, words)  # type: ignore[arg-type]

    def fresh(call: object) -> object:
        masked._PER_WORD.clear()
        with monkeypatch.context() as m:
            m.setattr(Store, "read_scope", lambda self: None)  # nothing kept: the engine
            return call()  # type: ignore[operator]

    monkeypatch.setattr(masked, "_counted", spy)
    masked._PER_WORD.clear()
    got_fit = fit.taxonomy_fit(store, f)
    words = len(engine_calls[0])
    assert words == 2  # both sources' words, one join
    tax = impact.theme_impact(store, f, "taxonomy", TH)
    auto = impact.theme_impact(store, f, "auto", TH)
    trend = impact.theme_trend(store, f, "month", None, "taxonomy", TH)
    matrix = impact.theme_matrix(store, f, "touchpoint", "auto", TH)
    assert len(engine_calls) == 1, engine_calls  # all four from the fit's counts
    assert got_fit == fresh(lambda: fit.taxonomy_fit(store, f))
    for source, ranked in (("taxonomy", tax), ("auto", auto)):
        again = fresh(lambda s=source: impact.theme_impact(store, f, s, TH))
        pd.testing.assert_frame_equal(ranked, again)  # type: ignore[arg-type]
    for view, call in ((trend, lambda: impact.theme_trend(store, f, "month", None, "taxonomy", TH)),
                       (matrix, lambda: impact.theme_matrix(store, f, "touchpoint", "auto", TH))):
        pd.testing.assert_frame_equal(view, fresh(call))  # type: ignore[arg-type]
    engine_calls.clear()
    impact.theme_trend(store, f, "week", None, "taxonomy", TH)  # other rows: counted
    assert len(engine_calls) == 1

    engine_calls.clear()
    oslo = store.restricted({"region": ("Oslo",)})  # another reader: its own counts
    impact.theme_impact(oslo, f, "taxonomy", TH)
    assert len(engine_calls) == 1
    store.append_rows(schema.RESPONSES, voc_frame(300, seed=6, prefix="W"))
    persist.compute_themes(store)
    engine_calls.clear()
    after = impact.theme_impact(store, f, "taxonomy", TH)
    assert len(engine_calls) == 1  # a new snapshot: counted again
    again = fresh(lambda: impact.theme_impact(store, f, "taxonomy", TH))
    pd.testing.assert_frame_equal(after, again)  # type: ignore[arg-type]
    assert int(after["n"].sum()) > int(tax["n"].sum())
    close(tmp_path)


def test_a_matrix_by_a_dimension_named_like_its_own_columns_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A responses column named like a count or a column the theme counting reads
    (promoters, theme, period, voc_language, sentiment…) would mix its values up with the
    counts: the matrix refuses it and names the dimensions it can draw, while the other
    dimensions give the same cells from the masks as from the theme rows."""
    from cxdata.errors import UnknownName

    frame = voc_frame(800, seed=17)
    clashing = ["promoters", "theme", "period", "voc_language", "sentiment", "n", "word"]
    rng = np.random.default_rng(2)
    for name in clashing:
        frame[name] = rng.choice(["a", "b"], len(frame))
    store = connect(tmp_path)
    store.replace_table(schema.RESPONSES, frame)
    persist.compute_themes(store)
    for name in clashing:
        with pytest.raises(UnknownName, match="region") as refused:
            impact.theme_matrix(store, Filters(), name)
        assert name in str(refused.value).split(";")[0]
    got = impact.theme_matrix(store, Filters(), "region", None, TH)
    monkeypatch.setattr(masked, "stored_bits", lambda s: None)  # the theme rows
    pd.testing.assert_frame_equal(got, impact.theme_matrix(store, Filters(), "region", None, TH))
    close(tmp_path)
