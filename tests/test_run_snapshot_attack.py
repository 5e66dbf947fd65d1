"""Attacks on one snapshot per dashboard run (Store.reading, tests/test_run_snapshot.py),
from a review of the change, and what they found fixed.

The main finding: a run's read transaction pins the snapshot current at its start, and the
lake's maintenance (`python -m cxdata maintain`, run from cron while dashboards serve)
rewrote what that transaction reads when a write had come in since the run began: its
merge of adjacent files left the transaction seeing no rows at all or, for a query the run
had not made yet, the rows of the newer snapshot, with no error; when maintenance also
expired the run's snapshot after a replace, the read was an internal error that
invalidated the process's database and closing the cursor aborted the server process. Now
maintenance waits for the runs reading one snapshot (lake.runs_drained), and a run that
starts while maintenance runs waits for it (lake.hold_snapshot). The other tests
are attacks that found nothing, kept for the coverage they add (other processes,
Streamlit's stop and rerun, an engine error in a dashboard run, a rolled-back run's
memtables).
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path

import duckdb
import ibis
import pandas as pd
import pytest
from conftest import random_responses
from streamlit.testing.v1 import AppTest
from test_run_snapshot import dashboard_on

from cxdata import demo, lake, queries, schema
from cxdata.errors import StoreBusy
from cxdata.filters import Filters
from cxdata.store import _READING, Store, close, connect
from pages._shared import score_targets

ROOT = Path(__file__).resolve().parent.parent
DASHBOARD = str(ROOT / "dashboard.py")

def new_rows(n: int, seed: int, **columns: object) -> pd.DataFrame:
    """`n` responses whose ids repeat none of the stored ones."""
    frame = random_responses(n, seed=seed)
    return frame.assign(response_id="n" + frame["response_id"].astype(str), **columns)


def responses_in(store: Store) -> int:
    return queries.kpis(store, Filters()).responses


@pytest.fixture
def demo_dir(tmp_path: Path) -> Iterator[Path]:
    """A small demo lake (the layout `python -m cxdata demo` gives: responses written in
    parts, metrics beside them)."""
    path = tmp_path / "lake"
    demo.store_demo(connect(path), rows=3000)
    yield path
    close(path)


def in_transaction(store: Store) -> bool:
    """Whether the Store's cursor is inside a transaction (COMMIT ends it if so)."""
    try:
        store.backend.con.execute("COMMIT")
    except duckdb.TransactionException as exc:
        assert "no transaction is active" in str(exc)
        return False
    return True


# --- maintenance during a run ------------------------------------------------------------
# Maintenance waits for the runs reading one snapshot (lake.runs_drained), and a run that
# starts while maintenance runs waits for it (lake.hold_snapshot).


def test_maintenance_waits_for_a_run_and_its_numbers_stay(
    demo_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CX_WRITE_TIMEOUT", "1")
    reader, writer = connect(demo_dir), connect(demo_dir)
    with reader.reading():
        before = responses_in(reader)
        assert before == 3000
        writer.append_rows(schema.RESPONSES, new_rows(20, seed=4))  # an import meanwhile
        with pytest.raises(StoreBusy, match="dashboard runs kept reading"):
            lake.maintain(writer.raw, demo_dir)  # the cron line of the README
        assert responses_in(reader) == before
        assert reader.row_count(schema.RESPONSES) == before  # a query not made before too
    assert lake.maintain(writer.raw, demo_dir).merged > 0  # the run over: it runs
    assert responses_in(reader) == 3020


def test_maintenance_in_another_thread_runs_once_the_run_ends(demo_dir: Path) -> None:
    reader, writer = connect(demo_dir), connect(demo_dir)
    done: list[object] = []
    with reader.reading():
        assert responses_in(reader) == 3000
        writer.append_rows(schema.RESPONSES, new_rows(20, seed=4))
        worker = threading.Thread(target=lambda: done.append(lake.maintain(
            connect(demo_dir).raw, demo_dir)))
        worker.start()
        worker.join(1.0)
        assert worker.is_alive() and not done  # waiting for the run
        assert responses_in(reader) == 3000
        assert reader.row_count(schema.RESPONSES) == 3000
    worker.join(60)
    assert done and isinstance(done[0], lake.Maintenance)
    assert responses_in(reader) == 3020


def test_a_run_waits_for_maintenance(
    demo_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reader = connect(demo_dir)
    monkeypatch.setenv("CX_WRITE_TIMEOUT", "1")
    # maintenance longer than the wait: nothing shown
    with lake.runs_drained(demo_dir), pytest.raises(StoreBusy, match="under maintenance"), \
            reader.reading():
        pass
    assert not _READING and not in_transaction(reader)
    monkeypatch.setenv("CX_WRITE_TIMEOUT", "30")
    started, release = threading.Event(), threading.Event()

    def maintaining() -> None:
        with lake.runs_drained(demo_dir):
            started.set()
            release.wait(30)

    worker = threading.Thread(target=maintaining)
    worker.start()
    started.wait(30)
    threading.Timer(0.5, release.set).start()
    with reader.reading():  # waits for the maintenance, then reads one snapshot
        assert release.is_set()
        assert id(reader.backend.con) in _READING
        assert responses_in(reader) == 3000
    worker.join(30)


def test_default_maintenance_after_a_quiet_month(
    demo_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    close(demo_dir)  # the lake's snapshots were all made 40 days ago
    with sqlite3.connect(demo_dir / lake.CATALOG_FILE) as db:
        db.execute("UPDATE ducklake_snapshot SET snapshot_time = "
                   "datetime(substr(snapshot_time, 1, 19), '-40 days') || '+00'")
    monkeypatch.setenv("CX_WRITE_TIMEOUT", "1")
    reader, writer = connect(demo_dir), connect(demo_dir)
    with reader.reading():
        assert responses_in(reader) == 3000
        writer.append_rows(schema.RESPONSES, new_rows(20, seed=4))  # the month's import
        with pytest.raises(StoreBusy):
            lake.maintain(writer.raw, demo_dir)  # the nightly cron, defaults
        assert responses_in(reader) == 3000
    assert lake.maintain(writer.raw, demo_dir).expired > 0
    assert responses_in(reader) == 3020


def test_an_overview_run_overlapping_an_import_and_maintenance(
    demo_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dashboard_on(demo_dir, monkeypatch)
    monkeypatch.setenv("CX_WRITE_TIMEOUT", "1")
    days = pd.to_datetime(connect(demo_dir).responses().to_pandas()["submitted_at"])
    busy: list[StoreBusy] = []

    def meanwhile() -> None:  # in the run, after its data key, before the page draws
        writer = connect(demo_dir)
        writer.append_rows(schema.RESPONSES, new_rows(20, seed=4, submitted_at=days.max()))
        try:
            lake.maintain(writer.raw, demo_dir)  # defaults
        except StoreBusy as exc:
            busy.append(exc)

    monkeypatch.setattr(score_targets, "admin_note", meanwhile)
    at = AppTest.from_file(DASHBOARD, default_timeout=120)
    at.query_params.update(
        {"period": "custom", "from": f"{days.min():%Y-%m-%d}", "to": f"{days.max():%Y-%m-%d}"}
    )
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert busy  # it waited for the run, which held its snapshot
    assert not [i.value for i in at.info if "No answers match" in str(i.value)]
    tiles = {m.label: m.value for m in at.metric}
    assert tiles.get("Responses") == "3,000", tiles


# The child process ran into an abort (SIGABRT) before maintenance waited for runs.
CRASH = textwrap.dedent(
    """
    import subprocess, sys
    from pathlib import Path
    from cxdata import demo, queries
    from cxdata.errors import CxError
    from cxdata.filters import Filters
    from cxdata.store import connect, engine_errors, is_open

    path = Path(sys.argv[1])
    demo.store_demo(connect(path), rows=300)
    store = connect(path)

    def cli(*args):
        return subprocess.run(
            [sys.executable, "-m", "cxdata", "--data-dir", str(path), *args],
            capture_output=True, text=True).returncode

    def run(meanwhile=None):  # what dashboard.main does around a page
        global store
        if not is_open(store):
            store = connect(path)  # session_store after a dropped connection
        try:
            with engine_errors(store), store.reading():
                queries.kpis(store, Filters())
                if meanwhile:
                    meanwhile()
                print("run saw", queries.kpis(store, Filters()).responses, flush=True)
        except Exception as exc:
            print("run failed:", type(exc).__name__, str(exc).splitlines()[0], flush=True)

    # another process replaces the data (a demo load, an import in replace mode), then
    # the cron maintenance runs, while this run reads: it waits, then says busy
    run(lambda: print("maintain rc", cli("demo", "--rows", "200") or
                      cli("maintain", "--keep-days", "0"), flush=True))
    print("maintain rc", cli("maintain", "--keep-days", "0"), flush=True)  # between runs
    run()  # the session's next run
    print("survived", flush=True)
    """
)


def test_a_replace_and_maintenance_during_a_run_do_not_crash_the_server(tmp_path: Path) -> None:
    script = tmp_path / "crash.py"
    script.write_text(CRASH)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "CX_WRITE_TIMEOUT": "2"}
    done = subprocess.run(
        [sys.executable, str(script), str(tmp_path / "lake")],
        capture_output=True, text=True, cwd=ROOT, env=env, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, (done.returncode, done.stdout, done.stderr[-2000:])
    lines = done.stdout.splitlines()
    assert lines == ["maintain rc 1", "run saw 300", "maintain rc 0", "run saw 200",
                     "survived"], done.stdout


# --- what Ibis registered on the cursor ------------------------------------------------


def test_a_memtable_survives_a_run_that_was_rolled_back(tmp_path: Path) -> None:
    path = tmp_path / "lake"
    connect(path).replace_table(schema.RESPONSES, random_responses(200, seed=3))
    store = connect(path)
    wanted = ibis.memtable(pd.DataFrame({"region": ["Oslo", "Bergen"]}))  # a lookup kept

    def in_regions() -> int:
        table = store.responses()
        return int(table.semi_join(wanted, "region").count().execute())

    try:
        with pytest.raises(duckdb.Error), store.reading():
            first = in_regions()
            store.backend.con.execute("SELECT CAST(region AS INTEGER) FROM responses").fetchall()
        with store.reading():
            assert in_regions() == first  # CatalogException: ibis_pandas_memtable_… missing
    finally:
        close(path)


# --- attacks that found nothing ---------------------------------------------------------


def test_an_import_by_another_process_during_a_run(tmp_path: Path) -> None:
    """No deadlock, the run keeps its start snapshot, the next run sees the import."""
    path = tmp_path / "lake"
    connect(path).replace_table(schema.RESPONSES, random_responses(1000, seed=3))
    export = tmp_path / "more.csv"
    more = new_rows(300, seed=5)
    more.assign(submitted_at=more["submitted_at"].dt.strftime("%Y-%m-%d %H:%M:%S")).to_csv(
        export, index=False
    )
    reader = connect(path)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "CX_WRITE_TIMEOUT": "30"}
    try:
        with reader.reading():
            first = reader.refresh()
            assert responses_in(reader) == 1000
            done = subprocess.run(
                [sys.executable, "-m", "cxdata", "--data-dir", str(path), "import",
                 str(export), "--dataset", "responses"],
                capture_output=True, text=True, cwd=ROOT, env=env, timeout=300,
            )  # fmt: skip
            assert done.returncode == 0, done.stderr
            assert reader.refresh() == first
            assert responses_in(reader) == 1000
        assert reader.refresh() > first
        assert responses_in(reader) == 1300
        assert not in_transaction(reader)
    finally:
        close(path)


def test_a_write_inside_a_run_then_reads_see_it_and_nothing_is_left_open(
    tmp_path: Path,
) -> None:
    """A write in the run (as the Data page's import) ends the transaction; a second
    reading block in the same run (nested entry point) opens a new one and ends it."""
    path = tmp_path / "lake"
    connect(path).replace_table(schema.RESPONSES, random_responses(500, seed=3))
    store = connect(path).by("a@example.com")
    try:
        with store.reading():
            assert responses_in(store) == 500
            store.append_rows(schema.RESPONSES, new_rows(50, seed=6))
            assert not in_transaction(store)
            with store.reading():  # e.g. runpy of the entry point inside the page
                assert id(store.backend.con) in _READING
                assert responses_in(store) == 550
            assert id(store.backend.con) not in _READING
        assert not _READING
        assert not in_transaction(store)
    finally:
        close(path)


@pytest.fixture
def app_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    import streamlit as st

    path = tmp_path / "store"
    connect(path).replace_table(schema.RESPONSES, random_responses(800, seed=7))
    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("CX_DATA_DIR", str(path))
    monkeypatch.setenv("CX_OPEN_ADMIN", "1")
    monkeypatch.delenv("CX_DATABASE_URL", raising=False)
    monkeypatch.delenv("CX_AUTO_DEMO", raising=False)
    st.cache_data.clear()
    yield path
    close(path)


def session_store(at: AppTest) -> Store:
    return at.session_state["_cx_store"]


def test_stop_and_rerun_end_the_runs_transaction(app_dir: Path) -> None:
    """The Data page reached through the navigation (a page file run alone runs the entry
    point and st.stop()s), then a delete confirmed in a dialog (a write, then st.rerun):
    no run leaves its transaction open."""
    at = AppTest.from_file(DASHBOARD, default_timeout=120)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    at.switch_page("pages/data.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert not _READING
    assert not in_transaction(session_store(at))
    at.button(key="cx_delete_responses").click().run()
    at.button(key="cx_confirm_delete").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert not _READING
    assert not in_transaction(session_store(at))
    assert not connect(app_dir).has(schema.RESPONSES)


def test_an_engine_error_in_a_dashboard_run_is_rolled_back(
    app_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An engine error in a page (after the run's transaction began) shows one line; the
    transaction is rolled back and the next run of the session reads normally."""
    frame = connect(app_dir).responses().to_pandas()
    days = pd.to_datetime(frame["submitted_at"])
    calls = {"n": 0}

    def broken() -> None:
        calls["n"] += 1
        if calls["n"] == 1:  # an execution error on the session's cursor, mid-run
            from pages._shared import session

            store = session.session_store()
            store.backend.con.execute("SELECT CAST('x' AS INTEGER)").fetchall()

    monkeypatch.setattr(score_targets, "admin_note", broken)
    at = AppTest.from_file(DASHBOARD, default_timeout=120)
    at.query_params.update(
        {"period": "custom", "from": f"{days.min():%Y-%m-%d}", "to": f"{days.max():%Y-%m-%d}"}
    )
    at.run()
    assert at.exception or at.error  # the run stopped with an error
    assert not _READING
    assert not in_transaction(session_store(at))
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert {m.label: m.value for m in at.metric}["Responses"] == "800"
    assert not _READING


# --- second review of the fix (lake.hold_snapshot / runs_drained) -------------------------
# Findings on da5fdd2 (lock files, runs reading query by query during maintenance), fixed
# by locking the lake's folders and making runs wait for maintenance; each fails on
# da5fdd2. The tests check behaviour only, not how runs and maintenance coordinate.


def test_a_run_that_starts_during_maintenance_reads_one_snapshot(demo_dir: Path) -> None:
    reader, writer = connect(demo_dir), connect(demo_dir)
    first_read, appended = threading.Event(), threading.Event()
    counts: list[int] = []
    failed: list[BaseException] = []

    def run() -> None:
        try:
            with reader.reading():
                counts.append(responses_in(reader))
                first_read.set()
                appended.wait(60)
                counts.append(responses_in(reader))
        except BaseException as exc:
            failed.append(exc)
            first_read.set()

    worker = threading.Thread(target=run)
    with lake.runs_drained(demo_dir):  # maintenance working when the run starts
        worker.start()
        first_read.wait(1.0)  # da5fdd2: the run reads at once, query by query
    writer.append_rows(schema.RESPONSES, new_rows(20, seed=4))  # an import after it
    appended.set()
    worker.join(120)
    assert not failed, failed
    assert len(counts) == 2
    assert counts[0] == counts[1], counts  # [3000, 3020] on da5fdd2


# A child that makes a lake as a non-root user, leaves the lock files a dashboard run
# created as another user's (mode 0444 to it: what a dashboard running with umask 022
# leaves to a cron user of the same group), and maintains it.
FOREIGN_LOCKS = textwrap.dedent(
    """
    import os, shutil, tempfile
    from pathlib import Path
    from conftest import random_responses
    from cxdata import lake, schema
    from cxdata.store import connect

    top = Path(tempfile.mkdtemp(prefix="cx-locks-"))
    path = top / "lake"
    try:
        store = connect(path)
        store.replace_table(schema.RESPONSES, random_responses(200, seed=1))
        with store.reading():  # a dashboard run
            pass
        for made in path.glob("*.lock"):
            if made.name != lake.LOCK_FILE:
                os.chmod(made, 0o444)
        try:
            print(lake.maintain(store.raw, path))
        except Exception as exc:
            print(type(exc).__name__, exc)
    finally:
        shutil.rmtree(top, ignore_errors=True)
    """
)


def test_maintenance_with_lock_files_another_user_made() -> None:
    import shutil

    command = [sys.executable, "-c", FOREIGN_LOCKS]
    if os.geteuid() == 0:  # root opens any file: run the child as nobody
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.skip("running as root without setpriv")
        command = [setpriv, "--reuid", "65534", "--regid", "65534", "--clear-groups", *command]
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'tests'}", "HOME": "/tmp",
           "PYTHONDONTWRITEBYTECODE": "1"}
    done = subprocess.run(command, capture_output=True, text=True, cwd="/", env=env,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.startswith("Maintenance("), done.stdout  # PermissionError on da5fdd2


def reads_beside_maintenance(path: Path, in_run: bool) -> list[tuple[int, int]]:
    """Rounds of imports (one a replace) then `cxdata maintain --keep-days 0` in another
    process, while four threads read the responses' count (each in a dashboard run, or as
    a plain query); the (rows, count read) of every read that started and ended while
    maintenance ran. Stops at the first wrong count (a race: up to 6 rounds)."""
    writer = connect(path)
    writer.replace_table(schema.RESPONSES, random_responses(1000, seed=1))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    state = {"total": 1000, "round": -1, "maintaining": False}
    stop = threading.Event()
    seen: list[tuple[int, int]] = []

    def reads() -> None:
        store = connect(path)
        while not stop.is_set():
            before = (state["round"], state["maintaining"], state["total"])
            try:
                if in_run:
                    with store.reading():
                        count = responses_in(store)
                else:
                    count = responses_in(store)
            except duckdb.Error:
                if in_run:
                    raise
                # outside a run a query may fail beside an expiry ("No snapshot found"):
                # loud (the CLI prints it), never a wrong number
                continue
            if before[1] and (state["round"], state["maintaining"]) == before[:2]:
                seen.append((before[2], count))

    readers = [threading.Thread(target=reads) for _ in range(4)]
    for reader in readers:
        reader.start()
    try:
        for n in range(6):
            for i in range(4):  # imports, one of them in replace mode
                total = state["total"] + 20
                if i == 1:
                    frame = random_responses(total, seed=50 + n)
                    writer.replace_table(schema.RESPONSES, frame.assign(
                        response_id=f"r{n}-" + frame["response_id"].astype(str)))
                else:
                    writer.append_rows(schema.RESPONSES, new_rows(20, seed=100 * n + i).assign(
                        response_id=lambda f, n=n, i=i: f"{n}-{i}-" + f["response_id"]))
                state["total"] = total
            state["round"], state["maintaining"] = n, True
            subprocess.run(
                [sys.executable, "-m", "cxdata", "--data-dir", str(path), "maintain",
                 "--keep-days", "0"],
                capture_output=True, text=True, cwd=ROOT, env=env, timeout=300, check=True,
            )  # fmt: skip
            state["maintaining"] = False
            if any(count != rows for rows, count in seen):
                break
    finally:
        stop.set()
        for reader in readers:
            reader.join(120)
        close(path)
    return seen


def test_runs_that_start_during_maintenance_never_read_zero_rows(tmp_path: Path) -> None:
    seen = reads_beside_maintenance(tmp_path / "lake", in_run=True)
    assert seen  # reads overlapped maintenance
    assert [s for s in seen if s[1] != s[0]] == []  # (rows, 0) on da5fdd2


def test_queries_outside_a_run_never_read_zero_rows_beside_maintenance(tmp_path: Path) -> None:
    """The same race for reads outside a dashboard run (the CLI's kpis, report and send
    --due, the dashboard's export and report threads): with maintenance expiring before it
    merged, a query beside it read 0 rows, no error; it now merges first."""
    seen = reads_beside_maintenance(tmp_path / "lake", in_run=False)
    assert seen
    assert [s for s in seen if s[1] != s[0]] == []


# --- attacks that found nothing (second review) --------------------------------------------


def test_a_run_through_a_symlink_or_a_relative_path_holds_what_maintenance_waits_for(
    demo_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The run's hold and maintenance's wait resolve the data directory alike: a run
    through a symlink or a relative path delays maintenance given the other spelling."""
    monkeypatch.setenv("CX_WRITE_TIMEOUT", "0.5")
    link = tmp_path / "link"
    link.symlink_to(demo_dir, target_is_directory=True)
    monkeypatch.chdir(demo_dir.parent)
    relative = Path(demo_dir.name)
    for run_path, maintain_path in ((link, demo_dir), (relative, link), (demo_dir, relative)):
        reader = connect(run_path)
        with reader.reading():
            assert id(reader.backend.con) in _READING
            with pytest.raises(StoreBusy, match="dashboard runs kept reading"):
                lake.maintain(connect(maintain_path).raw, maintain_path)
            assert responses_in(reader) == 3000
    assert isinstance(lake.maintain(connect(link).raw, link), lake.Maintenance)
