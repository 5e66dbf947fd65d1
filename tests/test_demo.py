"""The demo data generator: contract, determinism, realism and the planted effects.

Every expectation is computed here with plain pandas, independently of the generator.
"""

from __future__ import annotations

import ast
import sys
from datetime import date, timedelta
from pathlib import Path

import pandas as pd
import pytest

from cxdata import demo, schema

END = date(2026, 6, 30)
ROWS = 60_000
# Worked out by hand for END: the calendar quarter that started 9–12 months before END …
SPIKE_FIRST, SPIKE_LAST = date(2025, 7, 1), date(2025, 9, 30)
# … and the first day of the month 7 months before END.
FIX_DAY = date(2025, 11, 1)
DELIVERY_WORDS = r"deliver|parcel|package|levering|pakke|leverans|paket|dostav"
STRING_COLUMNS = [
    "response_id",
    "comment",
    "language",
    "touchpoint",
    "journey_stage",
    "channel",
    "customer_id",
    "country",
    "region",
    "city",
    "plan",
    "customer_type",
    "persona",
    "device",
]


@pytest.fixture(scope="module")
def responses() -> pd.DataFrame:
    return demo.demo_responses(rows=ROWS, end=END)


@pytest.fixture(scope="module")
def metrics() -> pd.DataFrame:
    return demo.demo_metrics(end=END)


def nps(scores: pd.Series) -> float:
    """100 × (share of 9–10 − share of 0–6) among the answers given."""
    s = scores.dropna().astype(int)
    assert len(s) > 0
    return 100.0 * ((s >= 9).mean() - (s <= 6).mean())


def between(frame: pd.DataFrame, first: date, last: date) -> pd.Series:
    day = frame["submitted_at"].dt.normalize()
    return (day >= pd.Timestamp(first)) & (day <= pd.Timestamp(last))


def mentions_delivery(frame: pd.DataFrame) -> pd.Series:
    return frame["comment"].str.contains(DELIVERY_WORDS, case=False, regex=True).fillna(False)


# --- contract ----------------------------------------------------------------------------------


def test_same_arguments_give_identical_frames(responses, metrics):
    pd.testing.assert_frame_equal(demo.demo_responses(rows=ROWS, end=END), responses)
    pd.testing.assert_frame_equal(demo.demo_metrics(end=END), metrics)
    other = demo.demo_responses(rows=2_000, seed=demo.DEFAULT_SEED + 1, end=END)
    same_size = demo.demo_responses(rows=2_000, end=END)
    assert not other["nps"].equals(same_size["nps"])


def test_columns_and_dtypes(responses):
    assert list(responses.columns) == [
        "response_id",
        "submitted_at",
        "nps",
        "csat",
        "ces",
        "comment",
        "language",
        "touchpoint",
        "journey_stage",
        "channel",
        "customer_id",
        "country",
        "region",
        "city",
        "plan",
        "customer_type",
        "persona",
        "device",
    ]
    assert len(responses) == ROWS
    assert str(responses["submitted_at"].dtype) == "datetime64[us]"
    for score in schema.SCORE_COLUMNS:
        assert str(responses[score].dtype) == "Int8"
    for column in STRING_COLUMNS:
        assert pd.api.types.is_string_dtype(responses[column]), column
        values = responses[column].dropna()
        assert not values.isin(["", "None", "nan", "<NA>"]).any(), column
    for column in set(schema.RESPONSE_CORE) - {"comment", "language"}:
        if column not in ("nps", "csat", "ces"):
            assert responses[column].notna().all(), column


def test_scores_in_range_and_at_least_one_per_row(responses):
    for scale in schema.SCALES.values():
        values = responses[scale.name].dropna()
        assert values.min() == scale.low and values.max() == scale.high, scale.name
    assert responses[["nps", "csat", "ces"]].notna().any(axis=1).all()
    present = responses[["nps", "csat", "ces"]].notna().mean()
    assert 0.82 <= present["nps"] <= 0.9
    assert 0.6 <= present["csat"] <= 0.7
    assert 0.4 <= present["ces"] <= 0.5
    by_stage = responses.groupby("journey_stage")["ces"].apply(lambda s: s.notna().mean())
    assert by_stage["support"] > 1.5 * by_stage["awareness"]
    assert by_stage["purchase"] > 1.5 * by_stage["research"]


def test_overall_levels_are_realistic(responses):
    assert 20 <= nps(responses["nps"]) <= 32
    assert 0.74 <= (responses["csat"].dropna() >= 4).mean() <= 0.81
    assert 4.7 <= responses["ces"].mean() <= 5.3
    # scores come from one latent satisfaction, so they correlate
    both = responses[["nps", "csat", "ces"]].dropna().astype(float)
    corr = both.corr()
    assert corr.loc["nps", "csat"] > 0.4 and corr.loc["nps", "ces"] > 0.3


def test_ids_customers_and_dates(responses):
    assert responses["response_id"].is_unique
    assert responses["response_id"].iloc[0] == "R0000001"
    assert responses["response_id"].str.fullmatch(r"R\d{7}").all()
    assert responses["customer_id"].str.fullmatch(r"C\d{7}").all()
    assert 0.25 * ROWS <= responses["customer_id"].nunique() <= 0.36 * ROWS
    per_customer = responses.groupby("customer_id")[["country", "region", "customer_type"]]
    assert (per_customer.nunique() == 1).all().all()

    first, last = END - timedelta(days=729), END
    day = responses["submitted_at"].dt.normalize()
    assert day.min() >= pd.Timestamp(first) and day.max() <= pd.Timestamp(last)
    assert day.min() <= pd.Timestamp(first + timedelta(days=3))
    assert day.max() >= pd.Timestamp(last - timedelta(days=3))
    assert responses["submitted_at"].is_monotonic_increasing
    assert responses["submitted_at"].dt.hour.nunique() == 24
    assert (responses["submitted_at"].dt.second != 0).mean() > 0.9
    weekday = responses["submitted_at"].dt.dayofweek
    per_day = weekday.value_counts() / weekday.drop_duplicates().size
    assert per_day[[0, 1, 2, 3, 4]].mean() > 1.15 * per_day[[5, 6]].mean()


def test_geography_segments_and_journey(responses):
    country_share = responses["country"].value_counts(normalize=True)
    assert set(country_share.index) == {"Norway", "Denmark", "Sweden", "Slovenia"}
    assert 0.12 <= country_share["Slovenia"] <= 0.18
    assert 0.26 <= country_share["Sweden"] <= 0.34

    region_country = responses.groupby("region")["country"].unique().map(list)
    assert (region_country.map(len) == 1).all()
    regions = responses.groupby("country")["region"].nunique()
    assert regions.between(3, 4).all()
    assert region_country["Västra Götaland"] == ["Sweden"]
    assert region_country["Midtjylland"] == ["Denmark"]
    assert region_country["Osrednjeslovenska"] == ["Slovenia"]
    assert region_country["Trøndelag"] == ["Norway"]
    city_region = responses.groupby("city")["region"].unique().map(list)
    assert (city_region.map(len) == 1).all()
    assert responses.groupby("region")["city"].nunique().between(1, 3).all()
    for city, region in [
        ("Göteborg", "Västra Götaland"),
        ("Malmö", "Skåne"),
        ("Aarhus", "Midtjylland"),
        ("København", "Hovedstaden"),
        ("Ljubljana", "Osrednjeslovenska"),
        ("Maribor", "Podravska"),
        ("Celje", "Savinjska"),
        ("Bergen", "Vestland"),
    ]:
        assert city_region[city] == [region], city

    assert set(responses["plan"]) == {"Basic", "Plus", "Premium"}
    assert set(responses["customer_type"]) == {"private", "business"}
    assert 4 <= responses["persona"].nunique() <= 5
    assert set(responses["device"].dropna()) == {"desktop", "mobile", "tablet"}

    assert set(responses["journey_stage"]) == set(schema.JOURNEY_STAGES)
    assert set(responses["channel"]) <= set(schema.CHANNELS)
    stage_of = responses.groupby("touchpoint")["journey_stage"].unique().map(list)
    assert (stage_of.map(len) == 1).all()
    assert responses.groupby("journey_stage")["touchpoint"].nunique().between(2, 4).all()
    channels_of = responses.groupby("touchpoint")["channel"].unique().map(set)
    assert channels_of["support call"] == {"phone"}
    assert channels_of["live chat"] == {"chat"} and channels_of["chatbot"] == {"chat"}
    assert channels_of["in-store checkout"] == {"store"}
    assert channels_of["newsletter"] == {"e-mail"}
    assert channels_of["social ad"] == {"social"}
    assert channels_of["checkout"] == {"web", "mobile app"}

    no_device = responses["channel"].isin(["phone", "store"])
    assert responses.loc[no_device, "device"].isna().all()
    assert responses.loc[~no_device, "device"].notna().all()


def test_some_touchpoints_are_systematically_worse(responses):
    by_touchpoint = responses.groupby("touchpoint")["nps"].apply(nps)
    overall = nps(responses["nps"])
    assert by_touchpoint["returns"] < overall - 15
    assert by_touchpoint["support call"] < overall - 15
    assert by_touchpoint["in-store checkout"] > overall + 15
    ces = responses.groupby("touchpoint")["ces"].mean()
    assert ces["support call"] < ces.median() - 0.8


# --- comments ----------------------------------------------------------------------------------


def test_comments_languages_and_accents(responses):
    has_comment = responses["comment"].notna()
    assert 0.4 <= has_comment.mean() <= 0.5
    assert (responses["language"].notna() == has_comment).all()
    assert set(responses["language"].dropna()) == {"en", "no", "da", "sv", "sl"}
    local = {"Norway": "no", "Denmark": "da", "Sweden": "sv", "Slovenia": "sl"}
    for country, language in local.items():
        spoken = responses.loc[(responses["country"] == country) & has_comment, "language"]
        shares = spoken.value_counts(normalize=True)
        assert 0.75 <= shares[language] <= 0.85, country
        assert set(shares.index) == {language, "en"}, country
    text = responses.groupby("language")["comment"].agg(" ".join)
    assert any(ch in text["sl"] for ch in "čšž")
    assert "č" in text["sl"] and "š" in text["sl"]
    assert all(ch in text["no"] for ch in "æøå")
    assert all(ch in text["da"] for ch in "æøå")
    assert all(ch in text["sv"] for ch in "äöå")
    assert responses["comment"].nunique() > 1_500


def test_comments_fit_the_score(responses):
    comment = responses["comment"]
    score = responses["nps"]
    unhappy = comment.str.startswith(("Disappointing.", "Not happy.", "Skuffende.", "Besviken."))
    happy = comment.str.endswith(("Highly recommended!", "Toplo priporočam!", "Tusen takk!"))
    unhappy, happy = unhappy.fillna(False), happy.fillna(False)
    assert unhappy.sum() > 100 and happy.sum() > 100
    assert (score[unhappy].dropna() <= 6).all()
    assert (score[happy].dropna() >= 9).all()
    # a typical negative delivery remark per language, and its positive counterpart
    assert comment.str.contains("pakken kom fire dager for sent", regex=False).any()
    assert comment.str.contains("Leveransen var försenad", regex=False).any()
    assert comment.str.contains("Dostava je zamujala", regex=False).any()
    assert comment.str.contains("Slow delivery", regex=False).any()
    assert comment.str.contains("Hurtig levering", regex=False).any()


def test_delivery_comments_are_frequent_among_detractors(responses):
    commented = responses[responses["comment"].notna() & responses["nps"].notna()]
    delivery = mentions_delivery(commented)
    detractor = commented["nps"] <= 6
    promoter = commented["nps"] >= 9
    assert delivery[detractor].mean() > 1.5 * delivery[promoter].mean()
    # the delivery theme drags NPS down clearly
    assert nps(commented.loc[delivery, "nps"]) < nps(commented.loc[~delivery, "nps"]) - 15
    # at delivery touchpoints most detractors complain about delivery, in every language
    at_delivery = commented[(commented["journey_stage"] == "delivery") & detractor]
    share = mentions_delivery(at_delivery).groupby(at_delivery["language"]).mean()
    assert len(share) == 5
    assert (share >= 0.6).all(), share.to_dict()


# --- planted effects ---------------------------------------------------------------------------


def test_friction_spike_at_parcel_delivery_in_vastra_gotaland(responses):
    place = (responses["touchpoint"] == "parcel delivery") & (
        responses["region"] == "Västra Götaland"
    )
    spike = place & between(responses, SPIKE_FIRST, SPIKE_LAST)
    rest = place & ~spike
    assert responses.loc[spike, "nps"].notna().sum() >= 30
    assert nps(responses.loc[spike, "nps"]) <= nps(responses.loc[rest, "nps"]) - 30

    def hard(rows: pd.Series) -> float:
        return (responses.loc[rows, "ces"].dropna() <= 3).mean()

    assert hard(spike) >= 3 * hard(rest)
    # slow-delivery complaints: a delivery comment from an unhappy customer, per answer
    complaint = mentions_delivery(responses) & (
        (responses["nps"] <= 6) | (responses["csat"] <= 2)
    ).fillna(False)
    assert complaint[spike].mean() >= 2 * complaint[rest].mean()
    # the same touchpoint elsewhere in Sweden is not affected in that quarter
    elsewhere = (
        (responses["touchpoint"] == "parcel delivery")
        & (responses["country"] == "Sweden")
        & (responses["region"] != "Västra Götaland")
        & between(responses, SPIKE_FIRST, SPIKE_LAST)
    )
    assert nps(responses.loc[elsewhere, "nps"]) > nps(responses.loc[spike, "nps"]) + 30


def test_business_nps_declines_steadily(responses):
    month = responses["submitted_at"].dt.to_period("M")
    months = sorted(month.unique())
    assert len(months) == 24
    first, last = month.isin(months[:3]), month.isin(months[-3:])
    business = responses["customer_type"] == "business"
    drop = nps(responses.loc[business & first, "nps"]) - nps(responses.loc[business & last, "nps"])
    assert drop >= 15
    assert nps(responses.loc[business & first, "nps"]) > nps(
        responses.loc[~business & first, "nps"]
    )
    assert nps(responses.loc[business & last, "nps"]) < nps(responses.loc[~business & last, "nps"])
    # steady: each half-year is lower than the one before
    half = responses.loc[business].groupby(month[business].map(lambda p: months.index(p) // 6))
    by_half = half["nps"].apply(nps)
    assert by_half.is_monotonic_decreasing


def test_mobile_app_checkout_improves_after_the_fix(responses):
    place = (responses["touchpoint"] == "checkout") & (responses["channel"] == "mobile app")
    after = responses["submitted_at"] >= pd.Timestamp(FIX_DAY)
    before_ces = responses.loc[place & ~after, "ces"].mean()
    after_ces = responses.loc[place & after, "ces"].mean()
    assert after_ces >= before_ces + 1
    assert nps(responses.loc[place & after, "nps"]) > nps(responses.loc[place & ~after, "nps"]) + 30
    # web checkout has no such step
    web = (responses["touchpoint"] == "checkout") & (responses["channel"] == "web")
    assert (
        abs(responses.loc[web & after, "ces"].mean() - responses.loc[web & ~after, "ces"].mean())
        < 0.3
    )


def test_planted_effects_describe_the_data(responses):
    assert len(demo.PLANTED_EFFECTS) == 3
    assert demo.planted_effects(date.today()) == demo.PLANTED_EFFECTS
    spike, decline, fix = demo.planted_effects(END)
    assert (spike.start, spike.end) == (SPIKE_FIRST, SPIKE_LAST)
    assert spike.filters == {"touchpoint": "parcel delivery", "region": "Västra Götaland"}
    assert decline.filters == {"customer_type": "business"}
    assert (decline.start, decline.end) == (END - timedelta(days=729), END)
    assert fix.filters == {"touchpoint": "checkout", "channel": "mobile app"}
    assert (fix.start, fix.end) == (FIX_DAY, None)
    for effect in (spike, decline, fix):
        assert effect.name and effect.description.endswith(".")
        for column, value in effect.filters.items():
            assert column in responses.columns
            assert value in set(responses[column]), value
            assert value in effect.description
        if effect.start is not None:
            assert effect.start.isoformat() in effect.description


@pytest.mark.parametrize("month", range(1, 13))
@pytest.mark.parametrize("day", [1, 15, 28])
def test_friction_quarter_is_relative_to_end(month, day):
    end = date(2027, month, day)
    spike, _, fix = demo.planted_effects(end)
    assert spike.start.day == 1 and spike.start.month in (1, 4, 7, 10)
    months_back = (end.year - spike.start.year) * 12 + end.month - spike.start.month
    assert 9 <= months_back <= 11
    assert spike.end == (pd.Timestamp(spike.start) + pd.offsets.QuarterEnd(0)).date()
    assert spike.end < end
    assert fix.start.day == 1
    assert (end.year - fix.start.year) * 12 + end.month - fix.start.month == 7


# --- metrics -----------------------------------------------------------------------------------


def test_metrics_frame(metrics):
    assert list(metrics.columns) == [
        "date",
        "metric",
        "value",
        "unit",
        "touchpoint",
        "country",
        "target",
        "base",
    ]
    assert str(metrics["date"].dtype).startswith("datetime64")
    # every % rate has its base (customers, contacts); the wait time has none
    rates = metrics["unit"] == "%"
    assert (metrics.loc[rates, "base"] > 1000).all() and metrics.loc[~rates, "base"].isna().all()
    assert metrics["value"].dtype == "float64" and metrics["target"].dtype == "float64"
    months = pd.date_range("2024-07-01", "2026-06-01", freq="MS")
    assert sorted(metrics["date"].unique()) == list(months)
    expected = {
        "retention rate": ("%", 85.0),
        "churn rate": ("%", 3.0),
        "support wait time": ("minutes", 5.0),
        "first-contact resolution": ("%", 75.0),
    }
    assert set(metrics["metric"]) == set(expected)
    for metric, (unit, target) in expected.items():
        rows = metrics[metrics["metric"] == metric]
        assert set(rows["unit"]) == {unit} and set(rows["target"]) == {target}, metric
    countries = {"Norway", "Denmark", "Sweden", "Slovenia"}
    for metric in ("retention rate", "churn rate", "support wait time"):
        rows = metrics[metrics["metric"] == metric]
        assert set(rows["country"]) == countries and len(rows) == 4 * 24
    assert (
        metrics.loc[metrics["metric"] == "support wait time", "touchpoint"].eq("support call").all()
    )
    assert (
        metrics.loc[metrics["metric"].isin(["retention rate", "churn rate"]), "touchpoint"]
        .isna()
        .all()
    )
    fcr = metrics[metrics["metric"] == "first-contact resolution"]
    assert set(fcr["touchpoint"]) == {"support call", "live chat"} and len(fcr) == 48
    assert fcr["country"].isna().all()
    assert not metrics.duplicated(["date", "metric", "touchpoint", "country"]).any()


def test_metric_values_are_plausible(metrics):
    def per_country(metric: str) -> pd.DataFrame:
        rows = metrics[metrics["metric"] == metric]
        return rows.pivot(index="date", columns="country", values="value")

    retention, churn = per_country("retention rate"), per_country("churn rate")
    assert retention.stack().between(80, 95).all()
    assert churn.stack().between(1, 6).all()
    # churn rises with the business decline, retention falls
    assert (churn.iloc[-6:].mean() > churn.iloc[:6].mean() + 0.3).all()
    assert (retention.iloc[-6:].mean() < retention.iloc[:6].mean() - 1).all()
    assert (retention + 4 * churn).stack().between(95, 104).all()

    wait = per_country("support wait time")
    assert wait.stack().between(1, 15).all()
    in_spike = (wait.index >= pd.Timestamp(SPIKE_FIRST)) & (wait.index <= pd.Timestamp(SPIKE_LAST))
    assert wait.loc[in_spike, "Sweden"].mean() > wait.loc[~in_spike, "Sweden"].mean() + 2
    fcr = metrics[metrics["metric"] == "first-contact resolution"]
    assert fcr["value"].between(55, 95).all()
    by_touchpoint = fcr.groupby("touchpoint")["value"].mean()
    assert by_touchpoint["live chat"] > by_touchpoint["support call"]


# --- defaults, edge cases, imports --------------------------------------------------------------


def test_end_defaults_to_today():
    today = date.today()
    small = demo.demo_responses(rows=3_000)
    day = small["submitted_at"].dt.normalize()
    assert day.max() <= pd.Timestamp(today)
    assert day.min() >= pd.Timestamp(today - timedelta(days=729))
    latest = demo.demo_metrics()["date"].max()
    assert latest == pd.Timestamp(today.year, today.month, 1)


def test_zero_rows_give_an_empty_frame_with_the_columns():
    empty = demo.demo_responses(rows=0, end=END)
    assert len(empty) == 0
    assert list(empty.columns) == list(demo.demo_responses(rows=10, end=END).columns)
    with pytest.raises(ValueError):
        demo.demo_responses(rows=-1)


def test_demo_imports_only_numpy_pandas_and_stdlib():
    source = Path(demo.__file__).read_text(encoding="utf-8")
    imported: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module.split(".")[0])
    third_party = imported - set(sys.stdlib_module_names) - {"__future__"}
    assert third_party <= {"numpy", "pandas", "cxdata"}, third_party


# --- chunked generation and storing (big sets) ---------------------------------------------


def test_chunked_generation_is_deterministic_with_unique_ids():
    def parts() -> list[pd.DataFrame]:
        return list(demo.demo_response_chunks(rows=3_000, end=END, chunk_rows=700))

    first, again = parts(), parts()
    assert len(first) == len(again) >= 5
    for a, b in zip(first, again, strict=True):
        pd.testing.assert_frame_equal(a, b)
    assert all(0 < len(p) <= 700 for p in first)
    whole = pd.concat(first, ignore_index=True)
    assert len(whole) == 3_000
    assert whole["response_id"].is_unique
    assert whole["response_id"].tolist() == [f"R{i:07d}" for i in range(1, 3_001)]
    assert whole["submitted_at"].is_monotonic_increasing  # parts follow each other in time
    assert list(whole.columns) == list(demo.RESPONSE_COLUMNS)
    # customers recur across parts and keep their attributes
    part_of = pd.Series(
        [i for i, p in enumerate(first) for _ in range(len(p))], index=whole.index
    )
    assert (part_of.groupby(whole["customer_id"]).nunique() > 1).sum() > 100
    attrs = whole.groupby("customer_id")[["country", "region", "plan", "customer_type"]]
    assert (attrs.nunique() == 1).all().all()
    # demo_responses gives the same rows in one frame; another seed gives others
    pd.testing.assert_frame_equal(
        demo.demo_responses(rows=3_000, end=END, chunk_rows=700), whole
    )
    other = pd.concat(demo.demo_response_chunks(3_000, seed=8, end=END, chunk_rows=700))
    assert not other["nps"].reset_index(drop=True).equals(whole["nps"])
    # up to one part: the frame the generator has always given
    (single,) = demo.demo_response_chunks(rows=2_000, end=END, chunk_rows=2_000)
    pd.testing.assert_frame_equal(single, demo.demo_responses(rows=2_000, end=END))
    with pytest.raises(ValueError):
        demo.demo_response_chunks(rows=10, chunk_rows=0)


def test_planted_effects_hold_when_generated_in_chunks():
    chunked = demo.demo_responses(rows=ROWS, end=END, chunk_rows=ROWS // 4)
    assert len(chunked) == ROWS
    test_overall_levels_are_realistic(chunked)
    test_ids_customers_and_dates(chunked)
    test_friction_spike_at_parcel_delivery_in_vastra_gotaland(chunked)
    test_business_nps_declines_steadily(chunked)
    test_mobile_app_checkout_improves_after_the_fix(chunked)


def _stored(store) -> pd.DataFrame:
    frame = store.all_rows(schema.RESPONSES).to_pandas()
    return frame.sort_values("response_id").reset_index(drop=True)


def test_store_demo_in_chunks_is_one_snapshot(tmp_path: Path):
    from cxdata import history, lake
    from cxdata.store import close, connect

    store = connect(tmp_path / "data")
    try:
        demo.store_demo(store, rows=500, seed=3)
        before = lake.current_snapshot(store.backend.con)
        demo.store_demo(store, rows=3_000, chunk_rows=700)
        assert lake.current_snapshot(store.backend.con) == before + 1
        latest = history.changes(store)[0]
        assert latest.kind == "demo" and latest.snapshot == before + 1
        assert latest.rows == {schema.RESPONSES: 3_000, schema.METRICS: 336}
        stored = _stored(store)
        expected = demo.demo_responses(rows=3_000, chunk_rows=700)
        assert stored["response_id"].tolist() == expected["response_id"].tolist()
        assert stored["nps"].astype("Int64").equals(expected["nps"].astype("Int64"))
        assert stored["comment"].fillna("").tolist() == expected["comment"].fillna("").tolist()
        # the derived columns were computed for every part
        for column in schema.DERIVED:
            assert stored[column].notna().all(), column
        assert store.row_count(schema.METRICS) == 336
    finally:
        close(tmp_path / "data")


def test_a_failing_part_leaves_the_store_unchanged(tmp_path: Path, monkeypatch):
    from cxdata import lake
    from cxdata.store import close, connect

    store = connect(tmp_path / "data")
    try:
        demo.store_demo(store, rows=800, seed=5)
        before, rows_before = lake.current_snapshot(store.backend.con), _stored(store)
        metrics_before = store.row_count(schema.METRICS)
        real, calls = demo._responses, []

        def third_part_fails(*args, **kwargs):
            calls.append(1)
            if len(calls) == 3:
                raise RuntimeError("disk gone while generating part 3")
            return real(*args, **kwargs)

        monkeypatch.setattr(demo, "_responses", third_part_fails)
        with pytest.raises(RuntimeError, match="part 3"):
            demo.store_demo(store, rows=3_000, chunk_rows=700)
        assert len(calls) == 3  # two parts were written inside the transaction
        assert lake.current_snapshot(store.backend.con) == before
        pd.testing.assert_frame_equal(_stored(store), rows_before)
        assert store.row_count(schema.METRICS) == metrics_before
        monkeypatch.setattr(demo, "_responses", real)
        demo.store_demo(store, rows=3_000, chunk_rows=700)  # and the store still writes
        assert store.row_count(schema.RESPONSES) == 3_000
    finally:
        close(tmp_path / "data")
