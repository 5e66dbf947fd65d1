"""The resident copy (cxdata.resident): the same answers as the lake, only for the snapshot
it was made of, and never where it cannot answer."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pandas as pd
import pytest
from conftest import ROOT, random_responses

from cxdata import queries, resident, schema, segments
from cxdata.errors import CxError, NoData
from cxdata.filters import NOT_SET, Filters
from cxdata.store import Store, WriteOp, close, connect

FILTERS = [
    Filters(),
    Filters.make(dt.date(2025, 3, 31), dt.date(2025, 6, 30), {"region": ["Oslo", NOT_SET]}),
    Filters.make(None, dt.date(2025, 9, 30), {"plan": ["O'Hara plan", "Basic"]}),
    Filters.make(dt.date(2025, 2, 1), None, {"region": ["Atlantis"]}),  # a value not stored
    Filters.make(None, None, {"channel": ["web"], "touchpoint": [NOT_SET]}),
]
IDS = ["all", "q2-oslo-or-unset", "quoted-plan", "unknown-value", "unset-touchpoint"]

CALLS: list[tuple[str, Callable[[Store, Filters], object]]] = [
    ("kpis", lambda s, f: queries.kpis(s, f)),
    ("week", lambda s, f: queries.trend(s, f, "week")),
    ("month by region", lambda s, f: queries.trend(s, f, "month", by="region", top_n=2)),
    ("week by plan, nps", lambda s, f: queries.trend(s, f, "week", by="plan", metrics=["nps"])),
    ("values", lambda s, f: queries.trend(s, f, "quarter", by="region", values=["Skåne"])),
    ("breakdown", lambda s, f: queries.breakdown(s, f, ["channel", "region"])),
    ("drilldown", lambda s, f: queries.drilldown(s, f, ["region", "plan"])),
    ("friction", lambda s, f: queries.friction_matrix(s, f)),
]  # fmt: skip


def _frame() -> pd.DataFrame:
    frame = random_responses(6_000, seed=5)
    frame.loc[frame.index % 7 == 0, "plan"] = "O'Hara plan"  # a quote inside an ENUM value
    frame["device"] = None  # a text column with no value at all (an ENUM needs one)
    frame["comment"] = "fine"  # left out of the copy
    return frame


@pytest.fixture()
def lake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Store, Path]]:
    """A store small enough that only a lowered bound gives it a copy, and that copy."""
    monkeypatch.setenv(resident.MIN_ROWS_ENV, "0")
    monkeypatch.setattr(resident, "_ENABLED", True)  # as resident.enable() in a server
    store = connect(tmp_path)
    store.replace_table(schema.RESPONSES, _frame())
    yield store, tmp_path
    close(tmp_path)


def _ready(store: Store, path: Path) -> resident._Copy:
    queries.kpis(store, Filters())  # the first query asks for the copy
    copy = resident.wait(str(path))
    assert copy is not None and copy.why == "ready", copy and copy.why
    return copy


def _same(a: object, b: object, what: str) -> None:
    if isinstance(a, pd.DataFrame):
        pd.testing.assert_frame_equal(a, b, obj=what)  # type: ignore[arg-type]
    else:
        assert a == b, what


class _Answered:
    """Counts the queries the copy answered (resident.execute returning a table)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.n = 0
        real = resident.execute

        def spy(*args: object, **kwargs: object) -> object:
            answer = real(*args, **kwargs)  # type: ignore[arg-type]
            self.n += answer is not None
            return answer

        monkeypatch.setattr(resident, "execute", spy)


@pytest.mark.parametrize("f", FILTERS, ids=IDS)
def test_the_copy_answers_as_the_lake_does(lake, monkeypatch, f: Filters) -> None:
    store, path = lake
    copy = _ready(store, path)
    assert "comment" not in copy.columns and "region" in copy.columns
    answered = _Answered(monkeypatch)
    for name, call in CALLS:
        with resident.off():
            expected = call(store, f)
        before = answered.n
        _same(call(store, f), expected, name)
        assert answered.n > before, f"{name}: the copy did not answer"


def test_a_restricted_view_and_the_movers_read_the_same_counts(lake, monkeypatch) -> None:
    store, path = lake
    _ready(store, path)
    answered = _Answered(monkeypatch)
    oslo = store.restricted({"region": ("Oslo",)})
    now = Filters.make(dt.date(2025, 4, 1), dt.date(2025, 6, 30))
    prev = now.with_dates(dt.date(2025, 1, 1), dt.date(2025, 3, 31))
    dims = ["region", "plan", "touchpoint", "channel"]
    key = ["dimension", "value", "period"]
    with resident.off():
        kpis = queries.kpis(oslo, now)
        table = queries.breakdown(oslo, now, ["plan"])
        moved = segments.period_counts(store, now, prev, dims)
        pair = queries.kpis_pair(oslo, now, prev)
    assert kpis.responses > 0 and set(table["plan"]) <= {"Basic", "Plus", "Premium", "O'Hara plan"}
    assert queries.kpis(oslo, now) == kpis
    pd.testing.assert_frame_equal(queries.breakdown(oslo, now, ["plan"]), table)
    assert queries.kpis_pair(oslo, now, prev) == pair
    pd.testing.assert_frame_equal(
        segments.period_counts(store, now, prev, dims).sort_values(key, ignore_index=True),
        moved.sort_values(key, ignore_index=True),
    )
    assert answered.n >= 4


def test_a_write_is_seen_at_once_and_the_next_copy_holds_it(lake, monkeypatch) -> None:
    store, path = lake
    old = _ready(store, path)
    extra = random_responses(500, seed=99)
    store.append_rows(schema.RESPONSES, extra)
    answered = _Answered(monkeypatch)
    # the copy is of the snapshot before the write: the lake answers meanwhile
    assert queries.kpis(store, Filters()).responses == 6_500
    assert answered.n == 0
    new = resident.wait(str(path))
    assert new is not None and new is not old and new.why == "ready" and new.rows == 6_500
    assert queries.kpis(store, Filters()).responses == 6_500 and answered.n == 1
    with resident.off():
        expected = queries.trend(store, Filters(), "month", by="region")
    pd.testing.assert_frame_equal(queries.trend(store, Filters(), "month", by="region"), expected)


def test_a_run_on_an_older_snapshot_reads_the_lake_and_keeps_the_newer_copy(lake) -> None:
    store, path = lake
    copy = _ready(store, path)
    snapshot = int(copy.key[-1])  # type: ignore[call-overload]
    sql = f"SELECT count(*) AS n FROM {schema.RESPONSES}"
    raw = store.raw
    assert raw is not None
    assert resident.execute(raw, store.backend.con, str(path), snapshot - 1, sql, []) is None
    assert resident.wait(str(path)) is copy  # not replaced by a build of the older one
    answer = resident.execute(raw, store.backend.con, str(path), snapshot, sql, [])
    assert answer is not None and answer.column("n").to_pylist() == [6_000]


def test_a_column_left_out_sends_the_query_to_the_lake(lake) -> None:
    store, path = lake
    copy = _ready(store, path)
    raw = store.raw
    assert raw is not None
    sql = f"SELECT count(comment) FROM {schema.RESPONSES}"
    snapshot = int(copy.key[-1])  # type: ignore[call-overload]
    assert resident.execute(raw, store.backend.con, str(path), snapshot, sql, []) is None


def test_bounds_and_switch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = connect(tmp_path)
    store.replace_table(schema.RESPONSES, random_responses(300, seed=1))
    monkeypatch.setattr(resident, "_ENABLED", True)
    try:
        monkeypatch.setenv(resident.MIN_ROWS_ENV, "1000")  # too few answers: no copy made
        queries.kpis(store, Filters())
        copy = resident.wait(str(tmp_path))
        assert copy is not None and copy.con is None and "outside the resident bounds" in copy.why
        monkeypatch.setenv(resident.MAX_ROWS_ENV, "0")  # off: not even asked for
        monkeypatch.setenv(resident.MIN_ROWS_ENV, "0")
        store.append_rows(schema.RESPONSES, random_responses(10, seed=2))
        assert queries.kpis(store, Filters()).responses == 310
        assert resident.wait(str(tmp_path)) is copy
        monkeypatch.setenv(resident.MAX_ROWS_ENV, "lots")
        with pytest.raises(CxError, match="CX_RESIDENT_ROWS"):
            queries.kpis(store, Filters())
    finally:
        close(tmp_path)


def test_compiled_queries_that_read_other_tables_are_not_offered_to_the_copy() -> None:
    import sqlglot

    def tree(sql: str) -> object:
        return sqlglot.parse_one(sql, dialect="duckdb")

    assert resident.reads_responses_only(tree("SELECT 1 FROM responses AS t0"))
    # qualified, it would be the lake itself on the copy's cursor, at its newest snapshot
    assert not resident.reads_responses_only(tree('SELECT 1 FROM "cx"."main"."responses"'))
    assert not resident.reads_responses_only(
        tree("SELECT 1 FROM responses r JOIN voc_theme_masks m ON r.response_id = m.response_id")
    )
    assert not resident.reads_responses_only(tree("SELECT 1 FROM other.main.responses"))
    assert not resident.reads_responses_only(tree("SELECT 1"))


def test_a_process_that_did_not_ask_for_copies_never_builds_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One-shot commands (the CLI, cron jobs) read the lake: a copy would cost them a build
    they never use, and exiting under a running build aborted the process."""
    monkeypatch.setenv(resident.MIN_ROWS_ENV, "0")
    monkeypatch.setattr(resident, "_ENABLED", False)
    store = connect(tmp_path)
    store.replace_table(schema.RESPONSES, random_responses(300, seed=3))
    try:
        assert queries.kpis(store, Filters()).responses == 300
        assert resident.wait(str(tmp_path)) is None
    finally:
        close(tmp_path)


def test_a_mistyped_bound_is_refused_by_enable_and_a_later_one_registers_nothing(
    lake, monkeypatch: pytest.MonkeyPatch
) -> None:
    store, path = lake
    monkeypatch.setenv(resident.MAX_ROWS_ENV, "1_000")
    with pytest.raises(CxError, match="CX_RESIDENT_ROWS"):
        resident.enable()
    with pytest.raises(CxError, match="CX_RESIDENT_ROWS"):
        queries.kpis(store, Filters())
    assert resident.wait(str(path)) is None  # no entry left "building" for ever
    monkeypatch.setenv(resident.MAX_ROWS_ENV, "20000000")
    _ready(store, path)


def _python(script: str, **env: str) -> str:
    """What `script` prints, run by a new Python process that may build copies of any
    size (`env` added to this one's); fails the test when the process does not exit 0."""
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, cwd=ROOT,
        env={**os.environ, resident.MIN_ROWS_ENV: "0", **env},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_a_process_exiting_during_a_build_exits_cleanly(tmp_path: Path) -> None:
    """The engine aborted the process (SIGABRT) when it exited under a running build."""
    store = connect(tmp_path)
    store.replace_table(schema.RESPONSES, random_responses(60_000, seed=4))
    close(tmp_path)
    script = textwrap.dedent(f"""
        from cxdata import queries, resident
        from cxdata.filters import Filters
        from cxdata.store import connect
        resident.enable()
        store = connect({str(tmp_path)!r})
        print(queries.kpis(store, Filters()).responses)  # starts a build, then exits
    """)
    for _ in range(3):
        assert _python(script).strip() == "60000"


def test_the_copy_reads_time_stamps_in_the_callers_time_zone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A TIMESTAMPTZ column is cut into days by the session's time zone: the copy's cursor
    must use the caller's (Ibis sets UTC), not the system's."""
    script = textwrap.dedent(f"""
        import os
        import pandas as pd
        from cxdata import queries, resident, schema
        from cxdata.filters import Filters
        from cxdata.store import connect
        resident.enable()
        store = connect({str(tmp_path)!r})
        frame = pd.DataFrame({{
            "response_id": [f"R{{i}}" for i in range(40)],
            "submitted_at": pd.date_range("2025-01-01 20:00", periods=40, freq="2h"),
            "nps": [i % 11 for i in range(40)],
            "region": ["Oslo", "Bergen"] * 20,
        }})
        store.replace_table(schema.RESPONSES, frame)
        cur = store.cursor()
        cur.execute("ALTER TABLE responses DROP COLUMN _day")
        cur.execute("ALTER TABLE responses ALTER submitted_at TYPE TIMESTAMPTZ")
        cur.close()
        with resident.off():
            lake = queries.trend(store, Filters(), "day", by="region")
        queries.kpis(store, Filters())
        assert resident.wait({str(tmp_path)!r}).why == "ready"
        copy = queries.trend(store, Filters(), "day", by="region")
        pd.testing.assert_frame_equal(copy, lake)
        print("same", len(lake))
    """)
    assert _python(script, TZ="America/New_York").startswith("same")


def test_a_copy_no_longer_wanted_is_dropped(lake, monkeypatch: pytest.MonkeyPatch) -> None:
    """When the next snapshot gets no copy (the store left the bounds), the older copy
    must not stay in memory unused."""
    store, path = lake
    _ready(store, path)
    raw = store.raw
    assert raw is not None

    def copies() -> list[str]:
        rows = raw.execute(
            "SELECT schema_name FROM duckdb_schemas() WHERE database_name = 'resident' "
            "AND schema_name LIKE 's%'"
        ).fetchall()
        return [r[0] for r in rows]

    assert len(copies()) == 1
    monkeypatch.setenv(resident.MIN_ROWS_ENV, "10000")
    store.append_rows(schema.RESPONSES, random_responses(10, seed=8))
    assert queries.kpis(store, Filters()).responses == 6_010
    copy = resident.wait(str(path))
    assert copy is not None and copy.con is None and "outside" in copy.why
    assert copies() == []


def _metrics() -> pd.DataFrame:
    return pd.DataFrame(
        {"metric": ["churn"], "date": [pd.Timestamp("2025-01-01")], "value": [1.5]}
    )


RESPONSE_CHANGES: list[tuple[str, Callable[[Store], object]]] = [
    ("append", lambda s: s.append_rows(schema.RESPONSES, random_responses(7, seed=21))),
    ("delete", lambda s: s.apply([WriteOp.delete_ids(schema.RESPONSES, ["T5-1", "T5-2"])])),
    ("replace", lambda s: s.replace_table(schema.RESPONSES, _frame().head(5_000))),
    ("add a column", lambda s: s.cursor().execute("ALTER TABLE responses ADD COLUMN x INT")),
]


@pytest.mark.parametrize("change", [c for _, c in RESPONSE_CHANGES],
                         ids=[n for n, _ in RESPONSE_CHANGES])
def test_a_snapshot_that_changed_the_responses_is_never_answered_by_the_older_copy(
    lake, monkeypatch, change
) -> None:
    store, path = lake
    old = _ready(store, path)
    change(store)
    answered = _Answered(monkeypatch)
    with resident.off():
        expected = queries.breakdown(store, Filters(), ["region"])
    pd.testing.assert_frame_equal(queries.breakdown(store, Filters(), ["region"]), expected)
    assert answered.n == 0  # the lake answered while the new copy is built
    new = resident.wait(str(path))
    assert new is not None and new.place != old.place


def test_a_snapshot_that_left_the_responses_alone_keeps_the_copy(lake, monkeypatch) -> None:
    """A theme run, an annotation or another dataset's import makes a snapshot too: the
    copy of the responses stays valid for it and is not built again."""
    store, path = lake
    old = _ready(store, path)
    assert old.table_id > 0
    store.replace_table("metrics", _metrics())
    store.append_rows("metrics", _metrics())
    answered = _Answered(monkeypatch)
    with resident.off():
        expected = queries.trend(store, Filters(), "month", by="plan")
    pd.testing.assert_frame_equal(queries.trend(store, Filters(), "month", by="plan"), expected)
    assert answered.n == 1  # at once: no build
    now = resident.wait(str(path))
    assert now is not None and now.place == old.place and now.key[-1] > old.key[-1]


RENAMES: list[tuple[str, list[str]]] = [
    # the lake logs a rename only as the new name's creation: neither the old table's id
    # nor "responses" appears in it
    ("a view in its place", [
        "ALTER TABLE responses RENAME TO responses_all",
        "CREATE VIEW responses AS SELECT * FROM responses_all WHERE region = 'Oslo'",
    ]),
    ("a table named in other case", [
        "ALTER TABLE responses RENAME TO responses_old",
        'CREATE TABLE "Responses" AS SELECT * FROM responses_old WHERE region = \'Oslo\'',
    ]),
]  # fmt: skip


@pytest.mark.parametrize("statements", [s for _, s in RENAMES], ids=[n for n, _ in RENAMES])
def test_responses_renamed_and_replaced_by_other_rows_are_read_from_them(
    lake, monkeypatch, statements: list[str]
) -> None:
    store, path = lake
    _ready(store, path)
    store.apply([WriteOp.sql(sql) for sql in statements])
    answered = _Answered(monkeypatch)

    def answers() -> object:  # the number of answers, or the error the store gives
        try:
            return queries.kpis(store, Filters()).responses
        except NoData as exc:
            return type(exc)

    with resident.off():
        expected = answers()
    # (a view is no dataset to the store: it says there are no responses)
    assert expected in (int((_frame()["region"] == "Oslo").sum()), NoData)
    assert answers() == expected
    assert answered.n == 0


def test_a_failed_build_is_tried_again_later(lake, monkeypatch) -> None:
    store, path = lake
    real = resident._fill
    calls = []

    def fails_once(*args: object) -> None:
        calls.append(1)
        if len(calls) == 1:
            raise CxError("the data store is being maintained")
        real(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(resident, "_fill", fails_once)
    queries.kpis(store, Filters())
    failed = resident.wait(str(path))
    assert failed is not None and failed.why.startswith("build failed")
    queries.kpis(store, Filters())  # the same snapshot, too soon: not tried again
    assert resident.wait(str(path)) is failed and len(calls) == 1
    monkeypatch.setattr(resident, "RETRY_AFTER", 0.0)
    _ready(store, path)
    assert len(calls) == 2


@pytest.mark.postgres
def test_a_lake_with_its_catalog_in_postgresql_gets_a_copy_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The change log and the table's id are read from the lake's catalog, wherever it is."""
    from pg_server import postgres_server, require_postgres

    require_postgres()
    monkeypatch.setenv(resident.MIN_ROWS_ENV, "0")
    monkeypatch.setattr(resident, "_ENABLED", True)
    with postgres_server() as url:
        monkeypatch.setenv("CX_LAKE_CATALOG", url)
        store = connect(tmp_path)
        try:
            store.replace_table(schema.RESPONSES, _frame())
            copy = _ready(store, tmp_path)
            assert copy.table_id > 0
            store.replace_table("metrics", _metrics())  # leaves the responses alone
            answered = _Answered(monkeypatch)
            with resident.off():
                expected = queries.breakdown(store, Filters(), ["region", "plan"])
            got = queries.breakdown(store, Filters(), ["region", "plan"])
            pd.testing.assert_frame_equal(got, expected)
            assert answered.n == 1
            assert resident.wait(str(tmp_path)).place == copy.place  # type: ignore[union-attr]
        finally:
            close(tmp_path)
