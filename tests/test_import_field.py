"""The field cases (tests/field, copies of the files in shared/field): each is imported with
the suggested mapping untouched into a fresh store, and its exact results asserted — the
right results were computed independently with plain pandas (tests/field/expect.json)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

from cxdata import queries, schema
from cxdata.filters import Filters
from cxdata.importing import ImportResult, import_file, read_source, suggest_mapping
from cxdata.scores import Thresholds
from cxdata.store import Store, close, connect

FIELD = Path(__file__).parent / "field"
EXPECT = json.loads((FIELD / "expect.json").read_text(encoding="utf-8"))
CASES = [name for name in EXPECT if not name.startswith("_")]


@dataclass
class Imported:
    store: Store
    results: list[ImportResult]

    def kpis(self, **dates: str) -> queries.Kpis:
        start, end = dates.get("start"), dates.get("end")
        filters = Filters(
            start=pd.Timestamp(start).date() if start else None,
            end=pd.Timestamp(end).date() if end else None,
        )
        return queries.kpis(self.store, filters, Thresholds(min_n=1))


@pytest.fixture
def field_import(tmp_path: Path) -> Iterator:
    folders: list[Path] = []

    def run(case: str) -> Imported:
        folders.append(tmp_path / case)
        store = connect(folders[-1])
        results = [import_file(store, FIELD / f) for f in EXPECT[case]["files"]]
        return Imported(store, results)

    yield run
    for folder in folders:
        close(folder)


@pytest.mark.parametrize("case", CASES)
def test_field_case_right_results(field_import, case: str) -> None:
    want = EXPECT[case]
    got = field_import(case)
    for result in got.results:
        assert result.read == result.imported + result.rejected + result.already_stored
    if "responses_not" in want:  # a count table: not one response per row
        assert not got.store.has(schema.RESPONSES)
        metrics = got.store.table(schema.METRICS).to_pandas()
        assert metrics["value"].sum() == 544
        return
    k = got.kpis()
    for metric in ("nps", "csat"):
        if metric in want:
            value, n = want[metric]
            score = getattr(k, metric)
            assert score.n == n, (metric, score)
            assert score.value == pytest.approx(value, abs=0.05), (metric, score)
    if "ces_mean" in want:
        value, n = want["ces_mean"]
        assert (k.ces.n, round(k.ces.value, 2)) == (n, value)
    if want.get("nps_absent"):
        assert k.nps.n == 0
    if "responses" in want:
        assert k.responses == want["responses"]
    if "all_between" in want:
        start, end = want["all_between"]
        assert got.kpis(start=start, end=end).responses == k.responses
    if "not_dimensions" in want:
        dims = " ".join(got.store.dimensions()).replace("-", "_")
        for word in want["not_dimensions"]:
            assert word not in dims


def test_surveymonkey_two_header_rows(field_import) -> None:
    got = field_import("c03")
    (result,) = got.results
    assert (result.read, result.imported, result.rejected) == (25, 25, 0)
    assert result.platform == "SurveyMonkey"
    assert "IP Address" in result.left_out and "personal" in result.left_out["IP Address"]
    channels = got.store.table(schema.RESPONSES).channel.to_pandas().value_counts().to_dict()
    # the multi-select options, one field, in the contract's channel names
    assert channels == {"web; mobile app": 10, "web": 7, "mobile app": 5, "store": 3}
    stored = got.store.table(schema.RESPONSES).columns
    assert not {"ip_address", "email_address", "first_name", "last_name"} & set(stored)


def test_google_forms_gmt_offsets_stored_as_utc(field_import) -> None:
    got = field_import("c05")
    t = got.store.table(schema.RESPONSES)
    first = t.submitted_at.min().to_pandas()
    assert pd.Timestamp(first) == pd.Timestamp("2024-03-01 07:00:00")  # 8:00 AM GMT+1
    comments = t.filter(t.comment.notnull()).count().to_pandas()
    assert comments == 22
    assert got.results[0].platform == "Google Forms"


def test_microsoft_forms_ids_kept_per_form(field_import) -> None:
    got = field_import("c06")
    first, second = got.results
    assert (first.imported, second.imported) == (35, 20)
    assert second.already_stored == 0 and second.rejected == 0


def test_typeform_token_is_the_id_and_one_to_ten_is_a_rating(field_import) -> None:
    got = field_import("c07")
    t = got.store.table(schema.RESPONSES)
    assert "response_id" not in got.store.dimensions()
    ids = t.response_id.to_pandas()
    assert ids.str.len().eq(20).all()
    ratings = got.store.table(schema.TOUCHPOINT_RATINGS).to_pandas()
    assert set(ratings["scale"]) == {"1-10"}
    assert ratings["touchpoint"].str.contains("onboarding", case=False).all()


def test_zendesk_offered_is_no_rating(field_import) -> None:
    got = field_import("c09")
    (result,) = got.results
    assert result.platform == "Zendesk CSAT"
    k = got.kpis()
    assert (k.csat.n, round(k.csat.value, 2)) == (32, 56.25)
    # Offered / Unoffered are "no rating": kept as responses without a score, not rejects
    assert (result.read, result.imported, result.rejected) == (40, 40, 0)
    assert result.missing_answers == {"Ticket satisfaction rating": 8}


def test_documentation_rating_is_not_nps(field_import) -> None:
    got = field_import("c11")
    ratings = got.store.table(schema.TOUCHPOINT_RATINGS).to_pandas()
    assert len(ratings) == 30
    assert ratings["rating"].mean() == pytest.approx(6.67, abs=0.005)
    assert set(ratings["scale"]) == {"0-10"}


def test_count_table_goes_to_metrics(tmp_path: Path) -> None:
    source = read_source(FIELD / "c13.csv")
    mapping = suggest_mapping(source)
    assert mapping.dataset == schema.METRICS
    summary = " ".join(mapping.notes)
    assert "544 answers" in summary and "65.07% positive" in summary


def test_dont_know_codes_are_missing_for_that_question_only(field_import) -> None:
    got = field_import("c18")
    (result,) = got.results
    assert result.rejected == 0
    assert sum(result.missing_answers.values()) >= 2


def test_cumulative_export_stores_each_response_once(field_import) -> None:
    got = field_import("c19")
    week1, week2 = got.results
    assert week2.already_stored == week1.imported
    assert week2.read == week2.imported + week2.rejected + week2.already_stored
