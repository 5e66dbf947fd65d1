"""The engine modules behind the dashboard (catalog, kpi_metrics, comments, segments),
checked against plain pandas / the reference formulas on generated data."""

from __future__ import annotations

import datetime as dt
import io
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import reference as ref

from cxdata import catalog, comments, kpi_metrics, queries, schema, segments
from cxdata.comments import CommentQuery
from cxdata.config import Thresholds
from cxdata.errors import UnknownName
from cxdata.filters import NOT_SET, Filters
from cxdata.periods import same_period_last_year
from cxdata.store import Store, connect

TH = Thresholds()
CUR = Filters.make(dt.date(2025, 7, 1), dt.date(2025, 9, 30))
PREV = Filters.make(dt.date(2025, 4, 1), dt.date(2025, 6, 30))


@pytest.fixture(scope="module")
def commented(tmp_path_factory: pytest.TempPathFactory) -> tuple[Store, pd.DataFrame]:
    """Random responses with comments (some hostile to spreadsheets) and a language."""
    from conftest import random_responses

    frame = random_responses(6_000, seed=3)
    rng = np.random.default_rng(3)
    words = np.array(["Late parcel", "great APP", "=HYPERLINK(1)", "+cmd", "ok", "", "   "])
    frame["comment"] = pd.Series(rng.choice(words, len(frame))).where(rng.random(len(frame)) < 0.6)
    frame["language"] = rng.choice(["en", "no", "sl"], len(frame))
    store = connect(tmp_path_factory.mktemp("comments"))
    store.replace_table(schema.RESPONSES, frame)
    return store, frame


# --- catalog ------------------------------------------------------------------------------


def test_dimension_values_and_version(store: Store, reference_frame: pd.DataFrame) -> None:
    values = catalog.all_dimension_values(store)
    assert values["plan"] == sorted(reference_frame["plan"].unique())
    assert values["region"][-1] == NOT_SET  # some regions are missing
    assert set(values["region"][:-1]) == set(reference_frame["region"].dropna())
    assert values["journey_stage"] == ["research", "purchase", "delivery", "support"]
    assert catalog.dimension_values(store, "region")[0] == "Oslo"  # the most frequent
    card = catalog.dimension_cardinality(store)
    assert card["plan"] == 3 and card["region"] == 3
    version = catalog.data_version(store)
    assert version.responses == len(reference_frame) and not version.empty
    first, last = catalog.date_span(store)
    assert first == reference_frame["submitted_at"].min().date()
    assert last == reference_frame["submitted_at"].max().date()


def test_data_version_changes_with_an_import(tmp_path: Path, reference_frame: pd.DataFrame) -> None:
    s = connect(tmp_path)
    assert catalog.data_version(s).empty
    s.replace_table(schema.RESPONSES, reference_frame.head(100))
    v1 = catalog.data_version(s)
    s.append_rows(schema.RESPONSES, reference_frame.iloc[100:101])
    assert catalog.data_version(s) != v1


# --- survey KPI changes and volume --------------------------------------------------------


@pytest.mark.parametrize(
    "where", [{}, {"plan": ["Premium"]}, {"region": ["Celje"], "channel": ["store"]}]
)
def test_score_change_matches_compare(
    store: Store, reference_frame: pd.DataFrame, where: dict
) -> None:
    cur = Filters.make(CUR.start, CUR.end, where)
    prev = Filters.make(PREV.start, PREV.end, where)
    expected = queries.compare(store, cur, prev, th=TH).iloc[0]
    now, before = queries.kpis(store, cur, TH), queries.kpis(store, prev, TH)
    for metric in ("nps", "csat", "ces", "friction"):
        got = kpi_metrics.score_change(metric, now, before)
        sig = expected[f"{metric}_significant"]
        assert got.significant == (None if pd.isna(sig) else bool(sig)), metric
        if got.change is not None:
            assert math.isclose(got.change, expected[f"{metric}_change"], abs_tol=1e-3)
    a, b = ref.rows_in(reference_frame, cur), ref.rows_in(reference_frame, prev)
    if len(a) > 100:
        t = kpi_metrics.score_change("nps", now, before).stat
        assert math.isclose(t, ref.nps_t(a, b), rel_tol=1e-6)


def test_volume_change_is_a_poisson_test() -> None:
    same = kpi_metrics.volume_change(1000, 1000)
    assert same.change_pct == 0 and not same.significant
    up = kpi_metrics.volume_change(1100, 1000)
    assert math.isclose(up.z, 100 / math.sqrt(2100)) and up.significant
    small = kpi_metrics.volume_change(12, 10)
    assert not small.significant
    assert kpi_metrics.volume_change(5, 0).significant is None
    per_day = kpi_metrics.volume_change(310, 300, now_days=31, previous_days=30)
    assert math.isclose(per_day.change_pct, 0.0, abs_tol=1e-9)


def test_answers_per_day_corrects_partial_periods() -> None:
    periods = pd.Series(pd.to_datetime(["2025-06-30", "2025-07-07", "2025-07-14"]))
    counts = pd.Series([30, 70, 20])
    # range Thu 3 Jul – Tue 15 Jul: 4, 7 and 2 days of the three weeks
    out = kpi_metrics.answers_per_day(
        periods, counts, "week", dt.date(2025, 7, 3), dt.date(2025, 7, 15)
    )
    assert list(out) == [7.5, 10.0, 10.0]


# --- metrics dataset ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def metrics_store(tmp_path_factory: pytest.TempPathFactory) -> tuple[Store, pd.DataFrame]:
    rng = np.random.default_rng(5)
    months = pd.date_range("2024-01-01", "2025-12-01", freq="MS")
    rows = []
    for country, base in (("NO", 3.0), ("SE", 4.0)):
        for m in months:
            rows.append(
                {
                    "date": m,
                    "metric": "churn rate",
                    "value": base + rng.normal(0, 0.2),
                    "unit": "%",
                    "touchpoint": None,
                    "country": country,
                    "target": 3.0,
                }
            )
    for m in months:
        rows.append(
            {
                "date": m,
                "metric": "nps relay",
                "value": 40 + rng.normal(0, 1),
                "unit": "",
                "touchpoint": "web",
                "country": None,
                "target": np.nan,
            }
        )
    frame = pd.DataFrame(rows)
    store = connect(tmp_path_factory.mktemp("metrics"))
    store.replace_table(schema.METRICS, frame)
    return store, frame


def test_metric_kpis_against_pandas(metrics_store: tuple[Store, pd.DataFrame]) -> None:
    store, frame = metrics_store
    cur = Filters.make(dt.date(2025, 7, 1), dt.date(2025, 12, 31))
    prev = Filters.make(dt.date(2025, 1, 1), dt.date(2025, 6, 30))
    kpis = {k.metric: k for k in kpi_metrics.metric_kpis(store, cur, prev)}
    churn = frame[frame["metric"] == "churn rate"]

    def per_date(lo: str, hi: str) -> pd.Series:
        part = churn[(churn["date"] >= lo) & (churn["date"] <= hi)]
        return part.groupby("date")["value"].mean()

    a, b = per_date("2025-07-01", "2025-12-31"), per_date("2025-01-01", "2025-06-30")
    k = kpis["churn rate"]
    assert math.isclose(k.value, a.mean()) and math.isclose(k.previous, b.mean())
    assert k.points == 6 and k.previous_points == 6 and k.series == 2
    assert k.target == 3.0 and not k.higher_is_better and k.on_target is False
    se = math.sqrt(a.var(ddof=1) / 6 + b.var(ddof=1) / 6)
    assert math.isclose(k.stat, (a.mean() - b.mean()) / se)
    assert kpis["nps relay"].target is None and kpis["nps relay"].higher_is_better


def test_metric_filters_only_use_dimensions_the_dataset_has(
    metrics_store: tuple[Store, pd.DataFrame],
) -> None:
    store, frame = metrics_store
    f = Filters.make(
        dt.date(2025, 1, 1), dt.date(2025, 12, 31), {"country": ["NO"], "plan": ["Basic"]}
    )
    applied, ignored = kpi_metrics.applicable_filters(store, f)
    assert applied.where == (("country", ("NO",)),) and ignored == ("plan",)
    series = kpi_metrics.metric_series(store, f)
    churn = series[series["metric"] == "churn rate"]
    expected = frame[
        (frame["metric"] == "churn rate")
        & (frame["country"] == "NO")
        & (frame["date"].dt.year == 2025)
    ]["value"]
    assert np.allclose(churn["value"].to_numpy(), expected.to_numpy())


def test_few_points_are_not_tested(metrics_store: tuple[Store, pd.DataFrame]) -> None:
    store, _ = metrics_store
    cur = Filters.make(dt.date(2025, 11, 1), dt.date(2025, 12, 31))
    prev = Filters.make(dt.date(2025, 9, 1), dt.date(2025, 10, 31))
    k = {k.metric: k for k in kpi_metrics.metric_kpis(store, cur, prev)}["churn rate"]
    assert k.points == 2 and k.significant is None and "not tested" in k.note


def test_t_critical_values() -> None:
    assert kpi_metrics.t_critical_95(1) == 12.706
    assert kpi_metrics.t_critical_95(10) == 2.228
    assert 2.228 > kpi_metrics.t_critical_95(10.5) > 2.201
    assert 2.042 > kpi_metrics.t_critical_95(60) > 1.96
    assert kpi_metrics.t_critical_95(math.inf) == 1.96


# --- segments -----------------------------------------------------------------------------


@pytest.mark.parametrize("metric", ["nps", "csat", "ces", "friction"])
def test_segment_vs_rest_against_pandas(
    store: Store, reference_frame: pd.DataFrame, metric: str
) -> None:
    table = segments.segment_vs_rest(store, CUR, "region", metric, TH)
    rows = ref.rows_in(reference_frame, CUR)
    fn = {"nps": ref.nps, "csat": ref.csat, "ces": ref.ces, "friction": ref.friction}[metric]
    for _, r in table.iterrows():
        key = r["segment"]
        mask = rows["region"].isna() if key == NOT_SET else rows["region"] == key
        seg, rest = fn(rows[mask]), fn(rows[~mask])
        assert r["n"] == seg["n"] and r["rest_n"] == rest["n"]
        if not r["suppressed"]:
            assert math.isclose(r["value"], seg["value"], rel_tol=1e-9)
            assert math.isclose(r["rest_value"], rest["value"], rel_tol=1e-9)
        if metric == "nps" and not pd.isna(r["significant"]):
            t = ref.nps_t(rows[mask], rows[~mask])
            assert math.isclose(r["stat"], t, rel_tol=1e-9)
            assert bool(r["significant"]) == (abs(t) > 1.96)


def test_segment_vs_rest_does_not_test_low_bases(store: Store) -> None:
    tiny = Filters.make(dt.date(2025, 7, 1), dt.date(2025, 7, 2))
    table = segments.segment_vs_rest(store, tiny, "region", "nps", Thresholds(10, 500))
    assert table["significant"].isna().all()


def plain_bh(p: list[float], q: float = 0.05) -> list[bool]:
    """Benjamini–Hochberg as the paper states it, one p-value at a time: reject the k
    smallest, k the largest rank with p₍ₖ₎ ≤ k·q/m."""
    m = len(p)
    ranked = sorted(p)
    k = max((i + 1 for i in range(m) if ranked[i] <= (i + 1) * q / m), default=0)
    return [k > 0 and x <= ranked[k - 1] for x in p]


def compare_movers(
    store: Store,
    current: Filters,
    previous: Filters,
    dims: list[str],
    metric: str,
    all_tested: bool = False,
) -> pd.DataFrame:
    """Movers assembled from queries.compare, one dimension at a time: every tested
    segment (NOT_SET left out) with its normal two-sided p-value, its own 95% test and the
    Benjamini–Hochberg answer over all of them; the significant ones unless `all_tested`,
    largest absolute change first."""
    rows = []
    for dim in dims:
        cmp = queries.compare(store, current, previous, dim, TH, [metric])
        tested = cmp[cmp[f"{metric}_stat"].notna() & (cmp[dim].astype(str) != NOT_SET)]
        rows.append(
            pd.DataFrame(
                {
                    "dimension": dim,
                    "value": tested[dim].astype(str),
                    "now": tested[f"{metric}_now"],
                    "prev": tested[f"{metric}_prev"],
                    "change": tested[f"{metric}_change"],
                    "n_now": tested[f"{metric}_n_now"],
                    "n_prev": tested[f"{metric}_n_prev"],
                    "p_value": [math.erfc(abs(t) / math.sqrt(2)) for t in tested[f"{metric}_stat"]],
                    "significant_unadjusted": tested[f"{metric}_significant"].astype(bool),
                }
            )
        )
    out = pd.concat(rows, ignore_index=True)
    out["significant"] = plain_bh(list(out["p_value"]))
    out["comparisons"] = len(out)
    out = out[["dimension", "value", "now", "prev", "change", "n_now", "n_prev", "p_value",
               "significant", "significant_unadjusted", "comparisons"]]  # fmt: skip
    if not all_tested:
        out = out[out["significant"].astype(bool)]
    order = out["change"].abs().sort_values(ascending=False).index
    return out.reindex(order).reset_index(drop=True)


@pytest.mark.parametrize("metric", ["nps", "csat", "ces", "friction"])
@pytest.mark.parametrize("same_year", [False, True])
def test_movers_equal_compare(store: Store, metric: str, same_year: bool) -> None:
    prev = Filters.make(*same_period_last_year(CUR.start, CUR.end)) if same_year else PREV
    dims = ["region", "plan", "channel", "touchpoint", "journey_stage"]
    key = ["dimension", "value"]
    for all_tested in (False, True):
        ours = segments.movers(store, CUR, prev, dims, metric, TH, all_tested=all_tested)
        theirs = compare_movers(store, CUR, prev, dims, metric, all_tested)
        pd.testing.assert_frame_equal(
            ours.drop(columns="stat").sort_values(key).reset_index(drop=True),
            theirs.sort_values(key).reset_index(drop=True),
            check_dtype=False,
        )
        assert list(ours["change"].abs()) == sorted(ours["change"].abs(), reverse=True)
        everything = compare_movers(store, CUR, prev, dims, metric, all_tested=True)
        assert ours.attrs["comparisons"] == len(everything)
    tested = compare_movers(store, CUR, prev, dims, metric, all_tested=True)
    # many segments tested at once (the case the correction is for); a year back has none
    assert len(tested) > 10 if not same_year else tested.empty
    assert ours.attrs["significant_unadjusted"] == int(tested["significant_unadjusted"].sum())


def test_movers_with_different_filters_per_period(store: Store) -> None:
    prev = Filters.make(PREV.start, PREV.end, {"plan": ["Basic"]})
    cur = Filters.make(CUR.start, CUR.end, {"plan": ["Basic"]})
    a = segments.movers(store, cur, prev, ["region", "channel"], "nps", TH)
    b = compare_movers(store, cur, prev, ["region", "channel"], "nps")
    assert len(a) == len(b)
    with pytest.raises(UnknownName):
        segments.movers(store, cur, prev, ["nope"], "nps", TH)


# --- comments -----------------------------------------------------------------------------


def expected_comments(
    frame: pd.DataFrame,
    f: Filters,
    text: str = "",
    band: str = "all",
    languages: tuple[str, ...] = (),
) -> pd.DataFrame:
    rows = ref.rows_in(frame, f)
    if languages:
        rows = rows[rows["language"].isin(languages)]
    if band == "detractors":
        rows = rows[rows["nps"] <= 6]
    has = rows["comment"].notna() & (rows["comment"].fillna("").str.strip() != "")
    if text:
        has &= rows["comment"].fillna("").str.lower().str.contains(text.lower(), regex=False)
    return rows[has.fillna(False)]


@pytest.mark.parametrize(
    ("text", "band", "languages"),
    [
        ("", "all", ()),
        ("late", "all", ()),
        ("APP", "detractors", ("en", "sl")),
        ("%", "all", ()),
        ("_", "all", ()),
    ],
)
def test_comment_page_counts_and_pages(
    commented: tuple[Store, pd.DataFrame], text: str, band: str, languages: tuple[str, ...]
) -> None:
    store, frame = commented
    query = CommentQuery(text=text, band=band, languages=languages)
    expected = expected_comments(frame, CUR, text, band, languages)
    page = comments.comment_page(store, CUR, query, page=2, page_size=25)
    assert page.total == len(expected)
    assert len(page.rows) == min(25, max(0, len(expected) - 25))
    assert list(page.rows.columns) == [c for c in comments.COLUMNS if c in frame.columns]
    newest = expected.sort_values(["submitted_at", "response_id"], ascending=[False, True]).iloc[
        25:50
    ]
    assert list(page.rows["comment"]) == list(newest["comment"])


def test_comment_page_narrowing_and_order(commented: tuple[Store, pd.DataFrame]) -> None:
    store, frame = commented
    query = CommentQuery(
        touchpoints=("checkout",), segments=(("journey_stage", "purchase"),), sort="lowest"
    )
    page = comments.comment_page(store, CUR, query, page=1, page_size=50)
    rows = expected_comments(frame, CUR)
    rows = rows[(rows["touchpoint"] == "checkout") & (rows["journey_stage"] == "purchase")]
    assert page.total == len(rows)
    assert set(page.rows["touchpoint"]) == {"checkout"}
    nps = page.rows["nps"].dropna().astype(int).tolist()
    assert nps == sorted(nps)
    beyond = comments.comment_page(store, CUR, query, page=10_000, page_size=50)
    assert beyond.page == page.pages  # clamped to the last page
    with pytest.raises(UnknownName):
        comments.comment_page(store, CUR, CommentQuery(segments=(("nope", "x"),)))
    with pytest.raises(ValueError):
        comments.comment_page(store, CUR, CommentQuery(), page_size=10_000)


def test_restricted_views_withhold_small_selections(commented: tuple[Store, pd.DataFrame]) -> None:
    store, _ = commented
    restricted = store.restricted({"plan": ("Basic",)})
    day = Filters.make(dt.date(2025, 7, 1), dt.date(2025, 7, 1))
    page = comments.comment_page(
        restricted, day, CommentQuery(band="detractors", touchpoints=("checkout",))
    )
    assert page.answers < comments.RESTRICTED_MIN_ANSWERS
    assert page.withheld and page.rows.empty
    assert not comments.comment_page(restricted, CUR, CommentQuery()).withheld


def test_csv_export_neutralises_formulas(commented: tuple[Store, pd.DataFrame]) -> None:
    store, frame = commented
    data = comments.export_csv(store, CUR, CommentQuery())
    assert data.startswith(b"\xef\xbb\xbf")
    back = pd.read_csv(  # line 1 is the export's description (comments.write_export)
        io.BytesIO(data), encoding="utf-8-sig", dtype=str, keep_default_na=False, skiprows=1
    )
    assert len(back) == len(expected_comments(frame, CUR))
    for cell in back.to_numpy().ravel():
        assert not str(cell).startswith(("=", "+", "-", "@")), cell
    assert "'=HYPERLINK(1)" in set(back["comment"])
    assert "'+cmd" in set(back["comment"])


def test_neutralise_and_safe_csv() -> None:
    assert comments.neutralise("=1+1") == "'=1+1"
    assert comments.neutralise("@SUM(A1)") == "'@SUM(A1)"
    assert comments.neutralise("-2") == "'-2"
    assert comments.neutralise("\tx") == "'\tx"
    assert comments.neutralise("fine = ok") == "fine = ok"
    assert comments.neutralise(-3.5) == -3.5
    frame = pd.DataFrame({"=col": ["+a", "b"], "n": [-1, 2]})
    text = comments.safe_csv(frame).decode("utf-8-sig")
    assert text.splitlines() == ["'=col,n", "'+a,-1", "b,2"]
