"""Airline reviews (tests/field/airline_reviews.csv): invented rows in the layout of the
public British Airways reviews dataset (header, author, date, content, route, …,
"recommended" yes/no, "rating" 1–10 overall, 1–5 sub-ratings). Imported with the suggested
mapping untouched; every expected number is computed here from the file with plain pandas.

Also the rule which response rows are kept (README "Data contract"): a row is kept when it
has a score (NPS, CSAT, CES), a touchpoint rating or a comment; a row with none of them is
rejected; the report says how many kept rows have no NPS, CSAT or CES."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from cxdata import queries, schema
from cxdata.filters import Filters
from cxdata.importing import import_file, read_source, suggest_mapping
from cxdata.importing.cli import summary
from cxdata.scores import Thresholds
from cxdata.store import Store, close, connect

AIRLINE = Path(__file__).parent / "field" / "airline_reviews.csv"
SUB_RATINGS = {
    "seat_comfort": "Seat comfort",
    "cabin_staff_service": "Cabin staff service",
    "food_beverages": "Food beverages",
    "ground_service": "Ground service",
    "value_for_money": "Value for money",
    "entertainment": "Entertainment",
    "wifi": "Wifi",
}


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    yield connect(tmp_path / "store")
    close(tmp_path / "store")


def raw() -> pd.DataFrame:
    """The file as plain pandas reads it: every cell a string, blanks NaN."""
    return pd.read_csv(AIRLINE, dtype=str, keep_default_na=False).replace("", pd.NA)


def ratings_of(store: Store) -> pd.DataFrame:
    return store.table(schema.TOUCHPOINT_RATINGS).to_pandas()


def test_airline_reviews_nothing_lost_and_no_silent_nps(store: Store) -> None:
    file = raw()
    result = import_file(store, AIRLINE)
    # Nothing lost: every review is stored, including the one with only its text.
    assert (result.read, result.imported, result.rejected) == (len(file), len(file), 0)
    kpis = queries.kpis(store, Filters(), Thresholds(min_n=1))
    assert kpis.responses == len(file) == 40
    # The 1–10 overall rating and the yes/no "recommended" are not NPS (0–10), and
    # nothing else is taken as CSAT or CES.
    assert (kpis.nps.n, kpis.csat.n, kpis.ces.n) == (0, 0, 0)
    # ...and the report says so, with the count.
    assert result.without_scores == 40
    assert "40 of 40 rows have no NPS, CSAT or CES" in summary(result)

    stored = ratings_of(store)
    by_touchpoint = stored.groupby("touchpoint")
    for column, touchpoint in SUB_RATINGS.items():
        answers = file[column].dropna().astype(int)
        got = by_touchpoint.get_group(touchpoint)
        assert set(got["scale"]) == {"1-5"}, column
        assert len(got) == len(answers), column
        assert got["rating"].mean() == pytest.approx(answers.mean()), column
    overall = file["rating"].dropna().astype(int)
    got = by_touchpoint.get_group("Rating")
    assert (set(got["scale"]), len(got)) == ({"1-10"}, len(overall))
    assert got["rating"].mean() == pytest.approx(overall.mean())
    recommended = file["recommended"].dropna()
    got = by_touchpoint.get_group("Recommended")
    assert (set(got["scale"]), len(got)) == ({"0-1"}, len(recommended))
    assert got["rating"].mean() == pytest.approx((recommended == "yes").mean())

    rows = store.table(schema.RESPONSES).to_pandas()
    assert sorted(rows["comment"]) == sorted(file["content"])
    assert sorted(rows["text_header"]) == sorted(file["header"])
    days = file["date"].str.replace(r"(\d+)(st|nd|rd|th)\b", r"\1", regex=True)
    want = pd.to_datetime(days, format="%d %B %Y").dt.date
    assert sorted(rows["submitted_at"].dt.date) == sorted(want)
    assert "author" not in rows.columns  # a reviewer's name is personal data
    assert rows["seat_type"].value_counts().to_dict() == file["seat_type"].value_counts().to_dict()


def test_airline_suggestion_explains_without_json() -> None:
    mapping = suggest_mapping(read_source(AIRLINE))
    overall, recommended = mapping.column("rating"), mapping.column("recommended")
    assert overall is not None and recommended is not None
    assert (overall.to, overall.scale) == ("rating", (1, 10))
    assert (recommended.to, recommended.scale) == ("rating", (0, 1))
    assert overall.warning == (
        "1–10 is not NPS unless the question asks about recommending: kept as the rating "
        "'Rating'; if it does, map it to nps"
    )
    for line in mapping.warnings():
        assert not re.search(r'"\w+"\s*:', line), line  # no JSON in what people read


def write_csv(folder: Path, lines: list[str]) -> Path:
    path = folder / "mixed.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_a_row_is_kept_with_a_score_a_rating_or_a_comment(store: Store, tmp_path: Path) -> None:
    lines = [
        "id,date,How likely are you to recommend us? (0-10),Seat comfort (1-5),comment,region",
        "1,2024-05-01,9,,,North",  # NPS only
        "2,2024-05-02,,4,,North",  # a touchpoint rating only
        "3,2024-05-03,,,The crew were lovely and the flight left on time,South",  # a comment
        "4,2024-05-04,,,,South",  # nothing the customer said: rejected
        "5,2024-05-05,3,2,Late again,South",
    ]
    path = write_csv(tmp_path, lines)
    file = pd.read_csv(path, dtype=str)
    answered = file.iloc[:, 2:5].notna().any(axis=1)
    no_core = file.iloc[:, 2].isna()  # the only core score here is NPS
    result = import_file(store, path)
    assert (result.read, result.imported, result.rejected) == (5, answered.sum(), 1)
    assert result.without_scores == int((answered & no_core).sum()) == 2
    rejects = pd.read_csv(result.rejects_file)
    assert rejects[["row", "code"]].to_dict("records") == [{"row": 5, "code": "no_score"}]
    assert rejects["reason"][0].startswith("no score, rating or comment")
    rows = store.table(schema.RESPONSES).to_pandas().sort_values("response_id")
    assert rows["response_id"].tolist() == ["1", "2", "3", "5"]
    kpis = queries.kpis(store, Filters(), Thresholds(min_n=1))
    assert (kpis.responses, kpis.nps.n) == (4, 2)
    assert "2 of 4 rows have no NPS, CSAT or CES" in summary(result)
