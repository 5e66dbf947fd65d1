"""One snapshot per dashboard run (issue 15): Store.reading makes a run's reads one engine
transaction, so every read of the run sees the lake snapshot current at its start (the
snapshot its cache keys carry), the lake's catalog is read once, a write through the Store
ends it, an engine error inside is rolled back, and the next run sees what others wrote."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from conftest import random_responses
from streamlit.testing.v1 import AppTest

from cxdata import catalog, queries, schema
from cxdata.filters import Filters
from cxdata.store import _READING, Store, WriteOp, close, connect

ROOT = Path(__file__).resolve().parent.parent
OSLO = Filters.make(None, None, {"region": ["Oslo"]})


@pytest.fixture
def lake_dir(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "lake"
    frame = random_responses(2000, seed=3)
    connect(path).replace_table(schema.RESPONSES, frame)
    yield path
    close(path)


def responses_in(store: Store, f: Filters | None = None) -> int:
    return queries.kpis(store, f or Filters()).responses


def oslo_rows(path: Path) -> int:
    frame = connect(path).responses().to_pandas()
    return int((frame["region"] == "Oslo").sum())


def delete_oslo(store: Store) -> None:
    store.apply([WriteOp.delete_where(schema.RESPONSES, "region", "Oslo")])


def test_reads_inside_see_the_snapshot_of_the_start(lake_dir: Path) -> None:
    reader, writer = connect(lake_dir), connect(lake_dir)  # two sessions' cursors
    oslo = oslo_rows(lake_dir)
    assert oslo > 0
    with reader.reading():
        first = reader.refresh()
        version = catalog.data_version(reader)
        delete_oslo(writer)  # another session commits during the run
        assert writer.refresh() > first
        assert reader.refresh() == first
        assert catalog.data_version(reader) == version
        assert responses_in(reader) == 2000
        assert responses_in(reader, OSLO) == oslo
        assert responses_in(reader.restricted({"region": ("Oslo",)})) == oslo
    # the next run sees the write
    assert reader.refresh() > first
    assert responses_in(reader) == 2000 - oslo
    assert responses_in(reader, OSLO) == 0


def test_a_write_through_the_store_ends_it(lake_dir: Path) -> None:
    store = connect(lake_dir)
    oslo = oslo_rows(lake_dir)
    with store.reading():
        assert responses_in(store) == 2000
        delete_oslo(store)  # e.g. an import on the Data page
        assert id(store.backend.con) not in _READING
        assert responses_in(store) == 2000 - oslo


def test_an_engine_error_inside_is_rolled_back(lake_dir: Path) -> None:
    store = connect(lake_dir)
    with pytest.raises(duckdb.Error), store.reading():
        store.backend.con.execute("SELECT CAST(region AS INTEGER) FROM responses").fetchall()
    assert id(store.backend.con) not in _READING
    assert responses_in(store) == 2000  # the cursor is not left in an aborted transaction
    with pytest.raises(duckdb.TransactionException, match="no transaction is active"):
        store.backend.con.execute("COMMIT")


def test_nested_blocks_are_one_transaction(lake_dir: Path) -> None:
    store, writer = connect(lake_dir), connect(lake_dir)
    with store.reading():
        first = store.refresh()
        with store.reading():
            delete_oslo(writer)
        assert id(store.backend.con) in _READING  # the inner exit did not end it
        assert store.refresh() == first
    assert store.refresh() > first


def test_a_warehouse_reads_as_before(tmp_path: Path) -> None:
    import ibis

    from cxdata.store import from_backend

    backend = ibis.duckdb.connect(str(tmp_path / "warehouse.duckdb"))
    store = from_backend(backend, "warehouse")
    store.replace_table(schema.RESPONSES, random_responses(50, seed=4))
    with store.reading():
        assert responses_in(store) == 50
    assert not _READING


# --- a dashboard run -----------------------------------------------------------------------


def tile(at: AppTest, label: str) -> str:
    return str(next(m for m in at.metric if m.label == label).value)


def dashboard_on(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Point AppTest's dashboard at `data_dir` (no warehouse, no automatic demo, empty
    caches)."""
    import streamlit as st

    monkeypatch.chdir(ROOT)
    monkeypatch.delenv("CX_DATABASE_URL", raising=False)
    monkeypatch.delenv("CX_AUTO_DEMO", raising=False)
    monkeypatch.setenv("CX_DATA_DIR", str(data_dir))
    st.cache_data.clear()


def test_a_dashboard_run_ends_its_transaction_and_the_next_sees_writes(
    lake_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dashboard_on(lake_dir, monkeypatch)
    frame = connect(lake_dir).responses().to_pandas()
    days = pd.to_datetime(frame["submitted_at"])
    at = AppTest.from_file(str(ROOT / "dashboard.py"), default_timeout=120)
    at.query_params.update(
        {"period": "custom", "from": f"{days.min():%Y-%m-%d}", "to": f"{days.max():%Y-%m-%d}"}
    )
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert tile(at, "Responses") == "2,000"
    assert not _READING  # the run's transaction ended with the run
    oslo = int((frame["region"] == "Oslo").sum())
    delete_oslo(connect(lake_dir))  # another session or process writes between runs
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert tile(at, "Responses") == f"{2000 - oslo:,}"
    assert not _READING
