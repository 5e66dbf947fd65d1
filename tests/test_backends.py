"""The same queries on a real PostgreSQL server give identical results; threads are safe."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Iterator

import pandas as pd
import pytest
from pg_server import postgres_server, require_postgres

from cxdata import queries, schema
from cxdata.filters import Filters
from cxdata.store import Store, connect

NOW = Filters.make(dt.date(2025, 7, 1), dt.date(2025, 12, 31), {"channel": ["web", "phone"]})
PREV = Filters.make(dt.date(2025, 1, 1), dt.date(2025, 6, 30), {"channel": ["web", "phone"]})

QUERIES: dict[str, Callable[[Store], pd.DataFrame]] = {
    "kpis": lambda s: pd.DataFrame([queries.kpis(s, NOW).as_dict()]),
    "breakdown": lambda s: queries.breakdown(s, NOW, ["region", "plan"]),
    "trend_week": lambda s: queries.trend(s, Filters(), "week"),
    "trend_month_top": lambda s: queries.trend(s, NOW, "month", by="touchpoint", top_n=2),
    "drilldown": lambda s: queries.drilldown(s, Filters(), ["region", "plan"]),
    "friction": lambda s: queries.friction_matrix(s, Filters(), "touchpoint", "channel"),
    "friction_ces": lambda s: queries.friction_matrix(s, PREV, "touchpoint", "region", "ces"),
    "hotspots": lambda s: queries.friction_hotspots(s, Filters(), "region"),
    "compare": lambda s: queries.compare(s, NOW, PREV, "region"),
}


def assert_same_frames(duck: pd.DataFrame, other: pd.DataFrame) -> None:
    """Fail unless another engine's answer equals DuckDB's (row order included; values to
    1e-9, dtypes free: engines differ in integer widths). The parity tests share it with
    QUERIES (tests/test_spark_parity.py)."""
    assert len(duck) > 0
    pd.testing.assert_frame_equal(
        duck.reset_index(drop=True), other.reset_index(drop=True),
        check_dtype=False, check_exact=False, rtol=1e-9, atol=1e-9,
    )


@pytest.fixture(scope="module")
def pg_store(reference_frame: pd.DataFrame) -> Iterator[Store]:
    require_postgres()
    with postgres_server() as url:
        s = connect(url=url)
        s.replace_table(schema.RESPONSES, reference_frame)
        yield s
        s.backend.disconnect()


@pytest.mark.postgres
@pytest.mark.parametrize("name", sorted(QUERIES))
def test_postgres_matches_duckdb(store: Store, pg_store: Store, name: str) -> None:
    assert_same_frames(QUERIES[name](store), QUERIES[name](pg_store))


def test_eight_threads_query_at_once(store: Store) -> None:
    expected = {
        "kpis": queries.kpis(store, NOW).as_dict(),
        "trend": queries.trend(store, Filters(), "month").to_dict("list"),
    }
    results: list[dict[str, object]] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(8)

    def work() -> None:
        try:
            own = connect(store.location)  # one cursor per thread, like one per session
            barrier.wait()
            for _ in range(5):
                results.append({
                    "kpis": queries.kpis(own, NOW).as_dict(),
                    "trend": queries.trend(own, Filters(), "month").to_dict("list"),
                })
        except BaseException as exc:  # surfaced below with its traceback
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert len(results) == 40
    for r in results:
        assert r["kpis"] == expected["kpis"]
        pd.testing.assert_frame_equal(pd.DataFrame(r["trend"]), pd.DataFrame(expected["trend"]))


def test_secrets_in_a_database_url_are_never_shown() -> None:
    from cxdata.store import _redacted

    shown = _redacted("postgres://ola:pw1@db.example.com/cx?sslmode=require&password=pw2&token=t3")
    assert "pw1" not in shown and "pw2" not in shown and "t3" not in shown
    assert shown.startswith("postgres://ola:***@db.example.com/cx?sslmode=require")
