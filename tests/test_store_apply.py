"""The store owns every write: one transactional Store.apply(ops), an explicit unrestricted
read (Store.all_rows) for the import and theme machinery, Store.is_embedded, and no import of
the metrics layer in store.py."""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import duckdb
import ibis
import pandas as pd
import pyarrow as pa
import pytest
from conftest import random_responses
from pg_server import postgres_server, require_postgres

import cxdata.store
from cxdata import schema
from cxdata.errors import CxError
from cxdata.roles import AccessDenied
from cxdata.store import Store, WriteOp, close, connect
from cxdata.voc import persist, tables

ROOT = Path(__file__).resolve().parent.parent
NOTES = "notes"  # a table of the engine's own (not a customer dataset)
DETECTED = "detected"  # response_id → language, to fill the responses' missing ones from


def notes(keys: list[str | None], n: list[int]) -> pa.Table:
    return pa.table({"k": pa.array(keys, pa.string()), "n": pa.array(n, pa.int64())})


def responses(rows: int, seed: int, prefix: str = "") -> pd.DataFrame:
    frame = random_responses(rows, seed=seed)
    frame["response_id"] = prefix + frame["response_id"].astype(str)
    frame["language"] = pd.Series(["en", None, " "] * rows)[:rows].to_numpy()
    return frame


def contents(store: Store) -> dict[str, pd.DataFrame]:
    """Every dataset, rows sorted, without the derived columns (only the embedded store
    keeps them)."""
    out = {}
    for name in sorted(n for n in store.backend.list_tables() if store.has(n)):
        frame = store.backend.table(name).to_pandas()
        frame = frame.drop(columns=[c for c in schema.DERIVED if c in frame.columns])
        frame = frame[sorted(frame.columns)]
        out[name] = frame.sort_values(
            list(frame.columns), key=lambda c: c.astype(str), ignore_index=True
        )
    return out


def snapshot(store: Store) -> dict[str, tuple[object, ...]]:
    """Every embedded table's columns, types, row count and content hash."""
    assert store.raw is not None
    return {
        name: (
            tuple(store.raw.execute(f'DESCRIBE "{name}"').fetchall()),
            store.raw.execute(f'SELECT count(*), hash(list(t ORDER BY t)) FROM "{name}" t')
            .fetchone(),
        )
        for name in sorted(store.backend.list_tables())
    }


@pytest.fixture
def embedded(tmp_path: Path) -> Iterator[Store]:
    s = connect(tmp_path / "embedded")
    s.apply(
        [
            WriteOp.replace(schema.RESPONSES, responses(300, seed=1)),
            WriteOp.replace(schema.METRICS, pd.DataFrame(
                {"date": pd.to_datetime(["2025-01-01"]).date, "metric": ["churn"],
                 "value": [1.5], "unit": ["%"]})),
            WriteOp.replace(NOTES, notes(["a", "b", None], [1, 2, 3])),
            WriteOp.replace(DETECTED, pd.DataFrame({"response_id": ["0", "1", "2", "3"],
                                                    "language": ["da", "da", None, "da"]})),
        ]
    )
    yield s
    close(tmp_path / "embedded")


# --- one transaction on the embedded store ---------------------------------------------


def test_a_failing_op_leaves_every_table_as_it_was(embedded: Store) -> None:
    before = snapshot(embedded)
    ops = [
        WriteOp.replace("brand_new", notes(["x"], [1])),
        WriteOp.append(schema.RESPONSES, responses(20, seed=2, prefix="N").assign(extra="x")),
        WriteOp.delete_ids(NOTES, ["a"], key="k"),
        WriteOp.delete_where(NOTES, "k", "b"),
        WriteOp.replace(schema.METRICS, pd.DataFrame({"metric": ["x"], "value": [2.0]})),
        WriteOp.drop(schema.METRICS),
        WriteOp.fill_from(schema.RESPONSES, "language", DETECTED),
        # the last op fails inside the engine: "oops" is no BIGINT
        WriteOp.append(NOTES, pa.table({"k": ["c"], "n": ["oops"]})),
    ]
    with pytest.raises(duckdb.Error, match="oops"):
        embedded.apply(ops)
    assert snapshot(embedded) == before
    assert not any(t.endswith("__new") for t in embedded.backend.list_tables())
    assert not embedded.has("brand_new") and "extra" not in embedded.table(schema.RESPONSES).columns
    embedded.apply(ops[:-1])  # nothing half-done blocks the same writes without the bad one
    assert embedded.has("brand_new") and not embedded.has(schema.METRICS)
    assert embedded.row_count(schema.RESPONSES) == 320


def test_apply_is_one_transaction_and_bumps_the_generation(
    embedded: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = cxdata.store._run_in_transaction
    transactions: list[list[str]] = []

    def counted(cur: duckdb.DuckDBPyConnection, statements: list[str]) -> None:
        transactions.append(list(statements))
        real(cur, statements)

    monkeypatch.setattr(cxdata.store, "_run_in_transaction", counted)
    other = connect(embedded.location)  # another Store on the file: its catalog is cached
    assert not other.has("made_now")
    embedded.apply([WriteOp.append("made_now", notes(["a"], [1])),
                    WriteOp.append("made_now", notes(["b"], [2])),
                    WriteOp.delete_ids("made_now", ["a"], key="k")])
    assert len(transactions) == 1
    assert other.has("made_now")  # the generation moved: every Store sees the new table
    assert other.all_rows("made_now").to_pandas().to_dict("list") == {"k": ["b"], "n": [2]}


def test_theme_and_import_writes_take_one_transaction_each(
    embedded: Store, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from cxdata.importing import load

    calls: list[list[str]] = []
    real = cxdata.store._run_in_transaction
    monkeypatch.setattr(
        cxdata.store, "_run_in_transaction",
        lambda cur, statements: (calls.append(list(statements)), real(cur, statements)),
    )
    persist.compute_themes(embedded)
    assert len(calls) == 1 and any(s.startswith('UPDATE "responses"') for s in calls[0])
    csv = tmp_path / "week.csv"
    csv.write_text("response_id,date,nps,comment\nw-1,2025-03-01,9,Fast delivery\n")
    load.import_file(embedded, csv)
    # the import's rows, then the theme update of its new comment
    assert len(calls) == 3 and any('"responses"' in s for s in calls[1])


def test_the_language_is_filled_only_where_missing_or_blank(embedded: Store) -> None:
    given = embedded.all_rows(schema.RESPONSES).select("response_id", "language").to_pandas()
    source = pa.table({"response_id": given["response_id"].astype(str).tolist(),
                       "language": ["da"] * len(given)})
    embedded.apply([WriteOp.replace(DETECTED, source),
                    WriteOp.fill_from(schema.RESPONSES, "language", DETECTED)])
    after = embedded.all_rows(schema.RESPONSES).select("response_id", "language").to_pandas()
    merged = given.merge(after, on="response_id", suffixes=("_before", "_after"))
    kept = merged["language_before"].str.strip().fillna("").ne("")
    assert (merged.loc[kept, "language_after"] == merged.loc[kept, "language_before"]).all()
    assert (merged.loc[~kept, "language_after"] == "da").all() and (~kept).sum() > 0


def test_stored_derived_columns_match_the_query_expressions(embedded: Store) -> None:
    embedded.append_rows(schema.RESPONSES, responses(50, seed=3, prefix="A").drop(columns="ces"))
    t = embedded.all_rows(schema.RESPONSES)
    frame = t.select(
        stored_key=t["_score_key"], stored_friction=t["_friction"],
        key=schema.score_key(t), friction=schema.friction_flag(t),
    ).to_pandas()
    assert frame["stored_key"].notna().all() and len(frame) == 350
    assert frame["stored_key"].astype(int).tolist() == frame["key"].astype(int).tolist()
    pd.testing.assert_series_equal(
        frame["stored_friction"].astype("Int64"), frame["friction"].astype("Int64"),
        check_names=False,
    )


# --- the generic path (op by op) gives the same tables ---------------------------------


def _same_ops() -> list[list[WriteOp]]:
    """Batches of writes each backend applies (no new columns: a warehouse needs them)."""
    return [
        [WriteOp.replace(schema.RESPONSES, responses(200, seed=4)),
         WriteOp.replace(NOTES, notes(["a", "b", None, "c"], [1, 2, 3, 4])),
         WriteOp.append(tables.RUNS, pa.table({"kind": ["compute"], "comments": [3]}))],
        [WriteOp.append(schema.RESPONSES, responses(30, seed=5, prefix="B")),
         WriteOp.append(tables.RUNS, pa.table({"kind": ["update"], "comments": [1]})),
         WriteOp.delete_ids(NOTES, ["a", "zz"], key="k"),
         WriteOp.delete_where(NOTES, "k", "c"),
         WriteOp.delete_ids("never_made", ["a"], key="k"),
         WriteOp.append("later", notes(["q"], [9])),
         WriteOp.replace("gone", notes(["g"], [0]))],
        [WriteOp.drop("gone"), WriteOp.drop("never_made")],
    ]


def _check_generic_matches_embedded(generic: Store, tmp_path: Path) -> None:
    assert not generic.is_embedded
    embedded = connect(tmp_path / "embedded-twin")
    assert embedded.is_embedded
    for batch in _same_ops():
        embedded.apply(batch)
        generic.apply(batch)
    duck, other = contents(embedded), contents(generic)
    assert set(duck) == set(other) == {schema.RESPONSES, NOTES, tables.RUNS, "later"}
    assert not any(n.endswith("__new") for n in embedded.backend.list_tables())
    for name in duck:
        pd.testing.assert_frame_equal(duck[name], other[name], check_dtype=False)
    kept = other[NOTES]  # "a" and "c" deleted; a NULL key is never matched
    assert kept["k"].tolist()[0] == "b" and kept["k"].isna().tolist() == [False, True]
    assert kept["n"].tolist() == [2, 3]
    # fill_from is the embedded store's own: a warehouse's responses are never rewritten
    languages = pa.table({"response_id": other[schema.RESPONSES]["response_id"].astype(str),
                          "language": pa.array(["da"] * len(other[schema.RESPONSES]))})
    for store in (embedded, generic):
        store.apply([WriteOp.replace(DETECTED, languages),
                     WriteOp.fill_from(schema.RESPONSES, "language", DETECTED)])
    filled = contents(embedded)[schema.RESPONSES]["language"]
    assert filled.str.strip().ne("").all() and filled.notna().all()
    pd.testing.assert_frame_equal(
        contents(generic)[schema.RESPONSES], other[schema.RESPONSES], check_dtype=False
    )


def test_generic_path_gives_the_same_tables(tmp_path: Path) -> None:
    backend = ibis.duckdb.connect(str(tmp_path / "warehouse.duckdb"))
    _check_generic_matches_embedded(Store(backend, location="warehouse"), tmp_path)


@pytest.mark.postgres
def test_postgres_gives_the_same_tables(tmp_path: Path) -> None:
    require_postgres()
    with postgres_server() as url:
        pg = connect(url=url)
        try:
            _check_generic_matches_embedded(pg, tmp_path)
        finally:
            pg.backend.disconnect()


# --- rights: computed from the ops, checked once -----------------------------------------


@pytest.mark.parametrize(
    ("op", "action"),
    [
        (WriteOp.append(schema.RESPONSES, responses(1, seed=6, prefix="R")), "import"),
        (WriteOp.replace(NOTES, notes(["x"], [1])), "import"),
        (WriteOp.delete_where(NOTES, "k", "a"), "import"),
        (WriteOp.fill_from(schema.RESPONSES, "language", DETECTED), "import"),
        (WriteOp.replace(schema.METRICS, pd.DataFrame({"metric": ["x"], "value": [1.0]})),
         "manage"),
        (WriteOp.delete_ids(schema.RESPONSES, ["0"]), "manage"),
        (WriteOp.drop(NOTES), "manage"),
    ],
)
def test_the_action_comes_from_the_ops(embedded: Store, op: WriteOp, action: str) -> None:
    before = snapshot(embedded)
    refused = {"import": ["viewer"], "manage": ["viewer", "analyst"]}[action]
    for role in refused:
        with pytest.raises(AccessDenied):
            embedded.acting_as(role).apply([WriteOp.append(NOTES, notes(["y"], [5])), op])
        assert snapshot(embedded) == before
    with pytest.raises(CxError, match="restricted view cannot"):
        embedded.restricted({"region": ("Oslo",)}).apply([op])
    assert snapshot(embedded) == before
    allowed = "analyst" if action == "import" else "admin"
    embedded.acting_as(allowed).apply([op])


def test_bad_names_and_kinds_are_refused(embedded: Store) -> None:
    with pytest.raises(CxError, match="invalid dataset or column name"):
        embedded.apply([WriteOp.replace('x"; DROP TABLE responses; --', notes(["a"], [1]))])
    with pytest.raises(CxError, match="invalid dataset or column name"):
        embedded.apply([WriteOp.delete_where(NOTES, "k = k OR 1", "a")])
    with pytest.raises(ValueError, match="unknown write"):
        WriteOp("truncate", NOTES)
    with pytest.raises(ValueError, match="needs rows"):
        WriteOp("append", NOTES)
    assert embedded.row_count(schema.RESPONSES) == 300


# --- the unrestricted read ---------------------------------------------------------------


def test_all_rows_is_every_row_and_refuses_a_restricted_store(embedded: Store) -> None:
    everything = embedded.all_rows(schema.RESPONSES).count().execute()
    assert everything == embedded.table(schema.RESPONSES).count().execute() == 300
    oslo = embedded.restricted({"region": ("Oslo",)})
    assert 0 < oslo.table(schema.RESPONSES).count().execute() < everything
    with pytest.raises(CxError, match="restricted view cannot read every row"):
        oslo.all_rows(schema.RESPONSES)
    with pytest.raises(CxError, match="restricted view cannot"):
        oslo.all_rows(NOTES)


def test_a_restricted_view_sees_when_themes_ran_never_the_counts(embedded: Store) -> None:
    persist.compute_themes(embedded)
    runs = embedded.restricted({"region": ("Oslo",)}).table(tables.RUNS)
    assert set(runs.columns) == {"run_at", "kind", "taxonomy"}
    assert runs.count().execute() == 1


# --- the boundary, read from the source ----------------------------------------------------


def _source(relative: str) -> str:
    return (ROOT / relative).read_text(encoding="utf-8")


@pytest.mark.parametrize("relative", ["cxdata/voc/persist.py", "cxdata/importing/load.py"])
def test_theme_and_import_code_leave_transactions_to_the_store(relative: str) -> None:
    text = _source(relative)
    for leak in ("BEGIN", "COMMIT", "ROLLBACK", "_bump_generation", "backend.table(",
                 "raw is not None", "raw is None"):
        assert leak not in text, f"{relative} contains {leak!r}"


def test_store_does_not_import_the_metrics_layer() -> None:
    tree = ast.parse(_source("cxdata/store.py"))
    imported: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module)
            imported |= {f"{node.module}.{alias.name}" for alias in node.names}
    metrics = {"cxdata.scores", "cxdata.stats", "cxdata.queries"}
    assert not {m for m in imported if m in metrics or m.startswith("cxdata.scores.")}
    # …nor through the modules it does import
    done = subprocess.run(
        [sys.executable, "-c",
         "import sys, cxdata.store; print(sorted(m for m in sys.modules if m in "
         f"{sorted(metrics)!r}))"],
        capture_output=True, text=True, cwd=ROOT, check=True,
    )
    assert done.stdout.strip() == "[]"
