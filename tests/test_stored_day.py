"""The stored day (issue 15): the embedded store keeps each response's calendar day
(`schema.DAY`) and date filters and periods read it instead of the timestamp. Every result
must equal the one from the timestamp, which a store written before the column existed
still uses, at the edges of days, weeks, months and quarters; appends to such a store
still get the derived columns it has."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pandas as pd
import pytest
from conftest import random_responses
from reference import rows_in

from cxdata import queries, schema, segments
from cxdata.filters import NOT_SET, Filters
from cxdata.store import Store, close, connect

# instants on each side of a day, a week (Sunday → Monday), a month and a quarter boundary
EDGES = [
    "2025-03-30 23:59:59.999999", "2025-03-31 00:00:00", "2025-03-31 23:59:59",  # Sun, Mon
    "2025-04-01 00:00:00", "2025-06-30 23:59:59.5", "2025-07-01 00:00:00",
    "2025-07-01 00:00:00.000001", "2025-12-31 23:59:59.999999", "2026-01-01 00:00:00",
]  # fmt: skip
FILTERS = [
    Filters(),
    Filters.make(dt.date(2025, 3, 31), dt.date(2025, 3, 31)),  # one Monday
    Filters.make(dt.date(2025, 4, 1), dt.date(2025, 6, 30), {"region": ["Oslo", NOT_SET]}),
    Filters.make(None, dt.date(2025, 6, 30), {"plan": ["Basic"]}),
    Filters.make(dt.date(2025, 7, 1), None),
]
IDS = ["all", "one-monday", "q2-oslo", "to-june", "from-july"]


def _frame() -> pd.DataFrame:
    frame = random_responses(3_000, seed=11)
    edge = frame.head(len(EDGES) * 20).copy()
    edge["submitted_at"] = pd.to_datetime(EDGES * 20, format="ISO8601")
    edge["response_id"] = [f"E-{i}" for i in range(len(edge))]
    return pd.concat([frame, edge], ignore_index=True)


@pytest.fixture(scope="module")
def stores(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Store, Store, pd.DataFrame]]:
    """(a store with the stored day, the same rows in a store written before it existed,
    the rows)."""
    frame = _frame()
    new_dir, old_dir = tmp_path_factory.mktemp("day"), tmp_path_factory.mktemp("no-day")
    connect(new_dir).replace_table(schema.RESPONSES, frame)
    connect(old_dir).replace_table(schema.RESPONSES, frame)
    connect(old_dir).cursor().execute(f'ALTER TABLE responses DROP COLUMN "{schema.DAY}"')
    close(old_dir)
    yield connect(new_dir), connect(old_dir), frame
    close(new_dir)
    close(old_dir)


def test_the_store_keeps_the_day_of_every_response(stores) -> None:
    new, old, frame = stores
    assert schema.DAY in new.responses().columns and schema.DAY not in old.responses().columns
    stored = new.responses().select("response_id", "submitted_at", schema.DAY).to_pandas()
    assert (pd.to_datetime(stored[schema.DAY]) == stored["submitted_at"].dt.normalize()).all()
    assert len(stored) == len(frame)


CALLS: list[tuple[str, Callable[[Store, Filters], object]]] = [
    ("kpis", lambda s, f: queries.kpis(s, f)),
    ("day", lambda s, f: queries.trend(s, f, "day")),
    ("week", lambda s, f: queries.trend(s, f, "week")),
    ("month by region", lambda s, f: queries.trend(s, f, "month", by="region", top_n=2)),
    ("quarter by plan", lambda s, f: queries.trend(s, f, "quarter", by="plan", metrics=["nps"])),
    ("breakdown", lambda s, f: queries.breakdown(s, f, ["channel"])),
    ("friction", lambda s, f: queries.friction_matrix(s, f)),
]  # fmt: skip


def _same(a: object, b: object, what: str) -> None:
    if isinstance(a, pd.DataFrame):
        pd.testing.assert_frame_equal(a, b, obj=what)  # type: ignore[arg-type]
    else:
        assert a == b, what


@pytest.mark.parametrize("f", FILTERS, ids=IDS)
def test_results_from_the_stored_day_equal_those_from_the_timestamp(
    stores, monkeypatch: pytest.MonkeyPatch, f: Filters
) -> None:
    new, old, frame = stores
    for name, call in CALLS:
        fast = call(new, f)
        _same(fast, call(old, f), f"{name}: without the stored day")
        with monkeypatch.context() as m:  # as a warehouse runs it: Ibis, no compiled shape
            m.setattr(Store, "is_embedded", property(lambda self: False))
            _same(fast, call(new, f), f"{name}: through Ibis")
    # and the answers counted are those of a plain pandas filter on the timestamps
    assert queries.kpis(new, f).responses == len(rows_in(frame, f))


def test_periods_start_on_the_days_pandas_gives(stores) -> None:
    new, _, frame = stores
    for grain, freq in [("week", "W-SUN"), ("month", "M"), ("quarter", "Q")]:
        got = queries.trend(new, Filters(), grain)
        starts = frame["submitted_at"].dt.to_period(freq).dt.start_time
        expected = starts.value_counts().sort_index()
        assert got["period"].tolist() == expected.index.tolist(), grain
        assert got["responses"].tolist() == expected.tolist(), grain


def test_the_two_periods_of_the_overview_and_the_movers_equal_the_timestamp_path(
    stores,
) -> None:
    new, old, _ = stores
    now = Filters.make(dt.date(2025, 3, 31), dt.date(2025, 6, 30), {"channel": ["web"]})
    prev = now.with_dates(dt.date(2024, 12, 30), dt.date(2025, 3, 30))
    assert queries.kpis_pair(new, now, prev) == queries.kpis_pair(old, now, prev)
    dims = ["region", "plan", "touchpoint"]
    key = ["dimension", "value", "period"]
    pd.testing.assert_frame_equal(
        segments.period_counts(new, now, prev, dims).sort_values(key, ignore_index=True),
        segments.period_counts(old, now, prev, dims).sort_values(key, ignore_index=True),
    )


def test_an_append_to_a_store_without_the_day_keeps_its_other_derived_columns(
    tmp_path: Path,
) -> None:
    """A store written before the day existed has the score key and friction flag: rows
    appended to it get them (not NULL, which would drop them from every score)."""
    first, more = random_responses(500, seed=1), random_responses(300, seed=2)
    s = connect(tmp_path)
    s.replace_table(schema.RESPONSES, first)
    s.cursor().execute(f'ALTER TABLE responses DROP COLUMN "{schema.DAY}"')
    close(tmp_path)
    s = connect(tmp_path)
    s.append_rows(schema.RESPONSES, more)
    stored = s.responses().to_pandas()
    assert schema.DAY not in stored.columns
    assert stored["_score_key"].notna().all() and len(stored) == 800
    scored = stored[["nps", "csat", "ces"]].notna().any(axis=1) & stored["touchpoint"].notna()
    assert stored.loc[scored, "_friction"].notna().all()
    both = pd.concat([first, more], ignore_index=True)
    assert queries.kpis(s, Filters()).nps.value == pytest.approx(
        100 * ((both["nps"] >= 9).sum() - (both["nps"] <= 6).sum()) / both["nps"].notna().sum()
    )
    close(tmp_path)


def test_the_compiled_queries_read_the_day_not_the_timestamp(stores) -> None:
    """Date filters and periods of the compiled shapes compare the stored day (a narrowing
    select that dropped it would silently fall back to the slower timestamp)."""
    new, _, _ = stores
    now = Filters.make(dt.date(2025, 4, 1), dt.date(2025, 6, 30), {"plan": ["Basic"]})
    prev = now.with_dates(dt.date(2025, 1, 1), dt.date(2025, 3, 31))
    queries._COMPILED.clear()
    queries.kpis(new, now)
    queries.kpis_pair(new, now, prev)
    queries.trend(new, now, "week")
    queries.trend(new, now, "month", by="region", metrics=["nps"])
    segments.period_counts(new, now, prev, ["region", "plan"])
    compiled = [c.sql for c in queries._COMPILED.values() if c is not None]
    assert len(compiled) == 5
    for sql in compiled:  # (a projection may list the column: DuckDB does not read it)
        assert re.search(r'"_day" [<>]=? CAST', sql), sql
        assert not re.search(r'submitted_at" [<>]|DATE_TRUNC\([^)]*submitted_at', sql), sql
