"""A store of the earlier single-file format (cx.duckdb) becomes a lake once, on first open,
with the old file kept as a backup."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd
import pytest
from conftest import random_responses

from cxdata import history, lake, schema
from cxdata.errors import StoreDamaged
from cxdata.store import close, connect


def old_store(folder: Path, responses: pd.DataFrame) -> None:
    """A data directory as the earlier release left it: one DuckDB file."""
    folder.mkdir(parents=True)
    with duckdb.connect(str(folder / lake.NATIVE_FILE)) as con:
        con.register("incoming", responses)
        con.execute(f'CREATE TABLE "{schema.RESPONSES}" AS SELECT * FROM incoming')
        con.execute(f"CREATE TABLE \"{schema.METRICS}\" AS SELECT DATE '2025-01-01' AS date, "
                    "'churn' AS metric, 1.5 AS value, '%' AS unit")


def test_an_old_store_is_converted_once_and_kept(tmp_path: Path) -> None:
    folder = tmp_path / "data"
    frame = random_responses(3_000, seed=3)
    old_store(folder, frame)
    store = connect(folder)
    got = store.all_rows(schema.RESPONSES).to_pandas().sort_values("response_id")
    want = frame.sort_values("response_id")
    pd.testing.assert_frame_equal(
        got[list(want.columns)].reset_index(drop=True), want.reset_index(drop=True),
        check_dtype=False,
    )
    assert store.row_count(schema.METRICS) == 1
    assert not (folder / lake.NATIVE_FILE).exists() and (folder / lake.NATIVE_BACKUP).exists()
    [change] = history.changes(store)
    assert change.kind == "convert" and change.rows == {schema.METRICS: 1, schema.RESPONSES: 3_000}
    close(folder)
    again = connect(folder)  # opened as a lake: not converted a second time
    assert [c.kind for c in history.changes(again)] == ["convert"]
    close(folder)


def test_a_damaged_old_store_is_named_and_left_in_place(tmp_path: Path) -> None:
    folder = tmp_path / "data"
    old_store(folder, random_responses(500, seed=4))
    native = folder / lake.NATIVE_FILE
    native.write_bytes(b"\0" * native.stat().st_size)
    with pytest.raises(StoreDamaged) as err:
        connect(folder)
    assert str(native) in str(err.value) and "damaged" in str(err.value)
    assert native.exists() and not lake.exists(folder)  # tried again on the next start
    assert not list(folder.glob(f"{lake.CATALOG_FILE}*"))


def test_a_moved_data_directory_reads_its_own_files(tmp_path: Path) -> None:
    import shutil

    first = tmp_path / "first"
    connect(first).replace_table(schema.RESPONSES, random_responses(20_000, seed=5))
    close(first)
    moved = tmp_path / "restored"
    shutil.copytree(first, moved)
    shutil.rmtree(first)  # the old place is gone: only the copy's own files can be read
    store = connect(moved)
    assert store.row_count(schema.RESPONSES) == 20_000
    store.append_rows(schema.RESPONSES, random_responses(10, seed=6).assign(
        response_id=lambda f: "m" + f["response_id"].astype(str)))
    assert store.row_count(schema.RESPONSES) == 20_010
    close(moved)
