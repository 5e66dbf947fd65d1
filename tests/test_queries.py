"""Every score query against the plain pandas reference on random data."""

from __future__ import annotations

import datetime as dt
import math

import pandas as pd
import pytest
import reference as ref

from cxdata import queries, schema, segments
from cxdata.config import Thresholds
from cxdata.errors import UnknownName
from cxdata.filters import NOT_SET, Filters
from cxdata.store import Store, connect


def close(a: float | None, b: float, tol: float = 1e-6) -> bool:
    if a is None or (isinstance(a, float) and math.isnan(a)):
        return math.isnan(b)
    return math.isclose(a, b, rel_tol=tol, abs_tol=tol)


FILTERS = [
    Filters(),
    Filters.make(dt.date(2025, 3, 1), dt.date(2025, 5, 31)),
    Filters.make(None, dt.date(2025, 6, 30), {"region": ["Skåne", NOT_SET]}),
    Filters.make(dt.date(2025, 2, 1), None, {"plan": ["Basic"], "channel": ["web", "store"]}),
]


@pytest.mark.parametrize("f", FILTERS, ids=["all", "spring", "skane+missing", "basic-web"])
def test_kpis_match_reference(store: Store, reference_frame: pd.DataFrame, f: Filters) -> None:
    rows = ref.rows_in(reference_frame, f)
    k = queries.kpis(store, f)
    assert k.responses == len(rows)
    want = ref.nps(rows)
    assert k.nps.n == want["n"]
    assert k.nps.detail["promoters"] == want["promoters"]
    assert k.nps.detail["passives"] == want["passives"]
    for key in ("value", "ci_low", "ci_high"):
        assert close(getattr(k.nps, key), want[key]), key
    want = ref.csat(rows)
    assert k.csat.n == want["n"]
    for key in ("value", "ci_low", "ci_high"):
        assert close(getattr(k.csat, key), want[key]), key
    want = ref.ces(rows)
    assert k.ces.n == want["n"]
    assert close(k.ces.detail["ces_easy_pct"], want["easy"], 1e-4)
    for key in ("value", "ci_low", "ci_high"):
        assert close(getattr(k.ces, key), want[key], 1e-4), key
    want = ref.friction(rows)
    assert k.friction.n == want["n"]
    assert close(k.friction.value, want["value"], 1e-4)


def test_breakdown_matches_groupby(store: Store, reference_frame: pd.DataFrame) -> None:
    frame = queries.breakdown(store, Filters(), ["region", "plan"])
    labelled = reference_frame.assign(region=reference_frame["region"].fillna(NOT_SET))
    groups = dict(tuple(labelled.groupby(["region", "plan"])))
    assert len(frame) == len(groups)
    assert frame["responses"].is_monotonic_decreasing
    for _, row in frame.iterrows():
        rows = groups[(row["region"], row["plan"])]
        assert row["responses"] == len(rows)
        want = ref.nps(rows)
        assert row["nps_n"] == want["n"] and close(row["nps"], want["value"])
        assert close(row["csat"], ref.csat(rows)["value"])
        assert close(row["ces"], ref.ces(rows)["value"], 1e-4)


@pytest.mark.parametrize("grain,freq", [("week", "W-SUN"), ("month", "M"), ("quarter", "Q")])
def test_trend_matches_periods(
    store: Store, reference_frame: pd.DataFrame, grain: str, freq: str
) -> None:
    frame = queries.trend(store, Filters(), grain)
    period = reference_frame["submitted_at"].dt.to_period(freq).dt.start_time
    groups = dict(tuple(reference_frame.groupby(period)))
    assert list(frame["period"]) == sorted(groups)
    for _, row in frame.iterrows():
        rows = groups[row["period"]]
        assert row["responses"] == len(rows)
        assert close(row["nps"], ref.nps(rows)["value"])


def test_trend_split_top_n_folds_the_rest_into_other(
    store: Store, reference_frame: pd.DataFrame
) -> None:
    frame = queries.trend(store, Filters(), "quarter", by="plan", top_n=1)
    top = reference_frame["plan"].value_counts().index[0]
    assert set(frame["plan"]) == {top, queries.OTHER}
    assert frame["responses"].sum() == len(reference_frame)


def test_drilldown_levels_add_up(store: Store, reference_frame: pd.DataFrame) -> None:
    frame = queries.drilldown(store, Filters(), ["region", "plan", "channel"])
    assert set(frame["level"]) == {1, 2, 3}
    top = frame[frame["level"] == 1]
    assert top["responses"].sum() == len(reference_frame)
    assert (top["parent"] == "").all()
    children = frame[frame["level"] == 2].groupby("parent")["responses"].sum()
    assert children.to_dict() == top.set_index("id")["responses"].to_dict()
    node = frame[frame["id"] == "Oslo/Basic/web"].iloc[0]
    rows = reference_frame.query("region == 'Oslo' and plan == 'Basic' and channel == 'web'")
    assert node["parent"] == "Oslo/Basic" and node["responses"] == len(rows)
    assert close(node["nps"], ref.nps(rows)["value"])


def test_friction_matrix_cells(store: Store, reference_frame: pd.DataFrame) -> None:
    cells = queries.friction_matrix(store, Filters(), "touchpoint", "journey_stage")
    assert set(cells.columns) >= {"touchpoint", "journey_stage", "value", "n", "suppressed"}
    tagged = reference_frame[reference_frame["touchpoint"].notna()]
    for _, cell in cells.iterrows():
        rows = tagged[
            (tagged["touchpoint"] == cell["touchpoint"])
            & (tagged["journey_stage"] == cell["journey_stage"])
        ]
        want = ref.friction(rows)
        assert cell["n"] == want["n"] and close(cell["value"], want["value"], 1e-4)
    stages = cells[cells["touchpoint"] == "checkout"]["journey_stage"].tolist()
    assert stages == sorted(stages, key=schema.JOURNEY_STAGES.index)


def test_friction_matrix_other_metric(store: Store, reference_frame: pd.DataFrame) -> None:
    cells = queries.friction_matrix(store, Filters(), "touchpoint", "channel", "detractor_pct")
    cell = cells[(cells["touchpoint"] == "checkout") & (cells["channel"] == "web")].iloc[0]
    rows = reference_frame.query("touchpoint == 'checkout' and channel == 'web'")
    want = ref.nps(rows)
    assert cell["n"] == want["n"]
    assert close(cell["value"], 100 * want["detractors"] / want["n"])


def test_min_n_suppresses_and_flags_low_base(store: Store, reference_frame: pd.DataFrame) -> None:
    f = Filters.make(dt.date(2025, 1, 1), dt.date(2025, 1, 1))
    rows = ref.rows_in(reference_frame, f)
    assert 10 <= ref.nps(rows)["n"] < 100
    n = ref.nps(rows)["n"]
    hidden = queries.kpis(store, f, Thresholds(min_n=n + 1, low_base=n + 1))
    assert hidden.nps.suppressed and hidden.nps.value is None and hidden.nps.n == n
    assert hidden.nps.detail["promoter_pct"] is None
    low = queries.kpis(store, f, Thresholds(min_n=n, low_base=n + 1))
    assert not low.nps.suppressed and low.nps.low_base
    assert close(low.nps.value, ref.nps(rows)["value"])


def test_empty_selection_is_n_zero_not_an_error(store: Store) -> None:
    k = queries.kpis(store, Filters.make(dt.date(2030, 1, 1), dt.date(2030, 1, 31)))
    assert k.responses == 0
    for score in (k.nps, k.csat, k.ces, k.friction):
        assert score.n == 0 and score.value is None and score.suppressed
    assert queries.breakdown(store, Filters.make(dt.date(2030, 1, 1)), ["region"]).empty
    assert queries.trend(store, Filters.make(dt.date(2030, 1, 1))).empty


def test_all_promoters_gives_100_with_ci_inside_range(tmp_path) -> None:
    s = connect(tmp_path)
    frame = pd.DataFrame(
        {
            "response_id": [f"P{i}" for i in range(50)],
            "submitted_at": pd.Timestamp("2025-01-01"),
            "nps": pd.Series([9, 10] * 25, dtype="Int8"),
            "csat": pd.Series([5] * 50, dtype="Int8"),
            "ces": pd.Series([None] * 50, dtype="Int8"),
            "touchpoint": "checkout",
            "region": "Oslo",
        }
    )
    s.replace_table(schema.RESPONSES, frame)
    k = queries.kpis(s, Filters())
    assert k.nps.value == 100.0 and k.nps.detail["detractors"] == 0
    assert close(k.nps.ci_high, ref.nps(frame)["ci_high"]) and k.nps.ci_high <= 100
    assert k.nps.ci_low < 100 and k.csat.value == 100.0
    assert k.ces.n == 0 and k.ces.value is None
    assert k.friction.n == 50 and k.friction.value == 0.0


def test_compare_matches_t_statistic(store: Store, reference_frame: pd.DataFrame) -> None:
    now = Filters.make(dt.date(2025, 7, 1), dt.date(2025, 12, 31))
    prev = Filters.make(dt.date(2025, 1, 1), dt.date(2025, 6, 30))
    out = queries.compare(store, now, prev).iloc[0]
    a, b = ref.rows_in(reference_frame, now), ref.rows_in(reference_frame, prev)
    t = ref.nps_t(a, b)
    assert close(out["nps_stat"], t)
    assert out["nps_significant"] == (abs(t) > 1.96)
    assert close(out["nps_change"], ref.nps(a)["value"] - ref.nps(b)["value"])


def test_compare_skips_test_on_low_base(store: Store) -> None:
    now = Filters.make(dt.date(2025, 1, 1), dt.date(2025, 1, 1))
    prev = Filters.make(dt.date(2025, 1, 2), dt.date(2025, 1, 2))
    out = queries.compare(store, now, prev, th=Thresholds(min_n=5, low_base=1000)).iloc[0]
    assert pd.isna(out["nps_significant"]) and math.isnan(out["nps_stat"])


def test_movers_are_significant_and_sorted(tmp_path) -> None:
    s = connect(tmp_path)
    before = pd.DataFrame(
        {
            "region": ["A"] * 400 + ["B"] * 400,
            "nps": [10] * 200 + [0] * 200 + [10] * 200 + [0] * 200,
        }
    )
    after = pd.DataFrame(
        {"region": ["A"] * 400 + ["B"] * 400, "nps": [10] * 350 + [0] * 50 + [10] * 205 + [0] * 195}
    )
    frame = pd.concat(
        [
            before.assign(submitted_at=pd.Timestamp("2025-01-15")),
            after.assign(submitted_at=pd.Timestamp("2025-02-15")),
        ],
        ignore_index=True,
    )
    frame["response_id"] = [f"M{i}" for i in range(len(frame))]
    frame["nps"] = frame["nps"].astype("Int8")
    frame["csat"] = pd.Series([None] * len(frame), dtype="Int8")
    frame["ces"] = pd.Series([None] * len(frame), dtype="Int8")
    frame["touchpoint"] = "checkout"
    s.replace_table(schema.RESPONSES, frame)
    out = segments.movers(
        s,
        Filters.make(dt.date(2025, 2, 1), dt.date(2025, 2, 28)),
        Filters.make(dt.date(2025, 1, 1), dt.date(2025, 1, 31)),
        ["region"],
    )
    assert out["value"].tolist() == ["A"]
    assert close(out["change"].iloc[0], 75.0)


def test_unknown_names_list_the_allowed_ones(store: Store) -> None:
    with pytest.raises(UnknownName, match=r"allowed: .*region"):
        queries.breakdown(store, Filters(), ["galaxy"])
    with pytest.raises(UnknownName, match="unknown dimension 'galaxy'"):
        queries.kpis(store, Filters.make(where={"galaxy": ["x"]}))
    with pytest.raises(UnknownName, match=r"allowed: .*nps"):
        queries.friction_matrix(store, Filters(), metric="happiness")
    with pytest.raises(UnknownName, match="allowed: day, month, quarter, week"):
        queries.trend(store, Filters(), "fortnight")


def test_restricted_store_cannot_be_widened(store: Store, reference_frame: pd.DataFrame) -> None:
    only_oslo = store.restricted({"region": ("Oslo",)})
    k = queries.kpis(only_oslo, Filters.make(where={"region": ["Oslo", "Skåne"]}))
    assert k.responses == int((reference_frame["region"] == "Oslo").sum())
    assert queries.kpis(only_oslo, Filters.make(where={"region": ["Skåne"]})).responses == 0


def test_appended_rows_get_their_derived_columns(tmp_path, reference_frame: pd.DataFrame) -> None:
    s = connect(tmp_path)
    first, second = reference_frame.iloc[:7000], reference_frame.iloc[7000:]
    s.replace_table(schema.RESPONSES, first)
    s.append_rows(schema.RESPONSES, second.drop(columns=["ces"]))  # a file without CES
    assert {"_score_key", "_friction"} <= set(s.backend.table(schema.RESPONSES).columns)
    combined = pd.concat([first, second.assign(ces=pd.Series(dtype="Int8"))])
    k = queries.kpis(s, Filters())
    assert k.friction.n == ref.friction(combined)["n"]
    assert close(k.friction.value, ref.friction(combined)["value"], 1e-4)
    assert k.ces.n == ref.ces(combined)["n"] and close(k.nps.value, ref.nps(combined)["value"])
    cells = queries.friction_matrix(s, Filters(), "touchpoint", "plan")
    assert cells["n"].sum() == ref.friction(combined)["n"]
