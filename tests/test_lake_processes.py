"""The lake shared by real processes (subprocesses, not threads): dashboards serving while
`python -m cxdata import` writes, two servers on one data folder, `kpis` during an import,
two imports started at once, `kill -9` of an import mid-write, a damaged catalog or a
missing Parquet file, and a PostgreSQL server as the catalog.

Every command runs as `python -m cxdata --data-dir DIR …` in its own process, from the
repository root, without CX_DATABASE_URL (and without CX_LAKE_CATALOG unless a test sets
it). The test process opens a store itself only where a test says so (`demo`, `cx_here`:
a process start costs seconds on a loaded 2-core machine), and closes only the data
directories it opened.
"""

from __future__ import annotations

import contextlib
import fcntl
import io
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from conftest import random_responses
from e2e_helpers import (
    ROOT,
    VIEWPORT,
    AppServer,
    exceptions,
    running_app,
    wait_for_tiles,
    wait_idle,
)
from pg_server import postgres_server, require_postgres

from cxdata import cli, lake, schema
from cxdata.demo import store_demo
from cxdata.errors import CxError
from cxdata.importing import import_file
from cxdata.store import close, connect, engine_errors

BIG_ROWS = 300_000  # long enough a write (about 2 s under the lock) to be killed inside it
DEMO_ROWS = 2_000
ERROR_ALERT = "[data-testid='stAlertContentError']"


# --- processes ---------------------------------------------------------------------------


def cx_env(**extra: str) -> dict[str, str]:
    """The environment of a command: this one without a warehouse URL or a Postgres
    catalog, plus `extra`."""
    env = {**os.environ, **extra}
    env.pop("CX_DATABASE_URL", None)
    if "CX_LAKE_CATALOG" not in extra:
        env.pop("CX_LAKE_CATALOG", None)
    return env


def cx_args(data_dir: Path, *args: str) -> list[str]:
    """The command line of `python -m cxdata --data-dir DATA_DIR ARGS…`."""
    return [sys.executable, "-m", "cxdata", "--data-dir", str(data_dir), *args]


def cx(
    data_dir: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run one `python -m cxdata` command to its end; its exit code and output."""
    return subprocess.run(
        cx_args(data_dir, *args), cwd=ROOT, env=env or cx_env(), capture_output=True,
        text=True, timeout=300,
    )  # fmt: skip


def cx_start(data_dir: Path, *args: str) -> subprocess.Popen[str]:
    """Start one `python -m cxdata` command (its output is short: pipes do not fill)."""
    return subprocess.Popen(
        cx_args(data_dir, *args), cwd=ROOT, env=cx_env(), stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def finish(proc: subprocess.Popen[str]) -> tuple[int, str, str]:
    """Wait for a started command; its exit code, stdout and stderr."""
    try:
        out, err = proc.communicate(timeout=300)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
    return proc.returncode, out, err


def ok(result: subprocess.CompletedProcess[str]) -> str:
    """The stdout of a command that must have succeeded without a traceback."""
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    return result.stdout


def demo(data_dir: Path, rows: int) -> None:
    """The demo datasets (no themes) as one change, written by this process, whose
    connection is closed again (a CLI process would cost seconds of start-up per test)."""
    try:
        store_demo(connect(data_dir), rows=rows)
    finally:
        close(data_dir)


def cx_here(data_dir: Path, *args: str) -> str:
    """Run `python -m cxdata --data-dir DATA_DIR ARGS…` in this process (cli.main, which
    closes the connection it opened): its stdout. For a reader or writer that only has to
    be a process other than the dashboards', not a fresh one."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = cli.main(["--data-dir", str(data_dir), *args])
    assert code == 0, out.getvalue()
    return out.getvalue()


# `kpis --json` and `imports --json` run one after the other by cli.main in one fresh
# process: what a new process sees, for one process start instead of two.
FRESH_READS = """
import contextlib, io, json, sys
from cxdata.cli import main
out = {}
for args in (["kpis", "--json"], ["imports", "--json"]):
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        code = main(["--data-dir", sys.argv[1], *args])
    out[args[0]] = [code, buf.getvalue()]
print(json.dumps(out))
"""


def fresh_reads(data_dir: Path) -> tuple[int, list[dict[str, Any]]]:
    """The responses total (`kpis --json`) and the change log (`imports --json`, newest
    first) as one fresh process reports them."""
    result = subprocess.run(
        [sys.executable, "-c", FRESH_READS, str(data_dir)], cwd=ROOT, env=cx_env(),
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    # the last line: DuckDB may print a progress bar to the process's stdout before it
    # when a query takes over 2 s (a loaded machine)
    out = json.loads(ok(result).strip().splitlines()[-1])
    assert out["kpis"][0] == 0 and out["imports"][0] == 0, (out, result.stderr)
    return int(json.loads(out["kpis"][1])["responses"]), list(json.loads(out["imports"][1]))


def total(data_dir: Path, env: dict[str, str] | None = None) -> int:
    """The responses total `kpis --json` reports from a fresh process."""
    return int(json.loads(ok(cx(data_dir, "kpis", "--json", env=env)))["responses"])


def changes(data_dir: Path, env: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """The change log `imports --json` lists from a fresh process, newest first."""
    return list(json.loads(ok(cx(data_dir, "imports", "--json", env=env))))


def responses_in(change: dict[str, Any]) -> int:
    """The responses a logged change wrote (`rows`: rows per dataset)."""
    return int(change["rows"]["responses"])


def lock_held(data_dir: Path) -> bool:
    """Whether another process holds the data directory's write lock now (tried without
    waiting, and let go at once when it was free)."""
    with open(data_dir / lake.LOCK_FILE, "a+b") as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
    return False


def wait_for_the_write(data_dir: Path, proc: subprocess.Popen[str]) -> None:
    """Return as soon as the import `proc` holds the write lock (it is writing)."""
    while not lock_held(data_dir):
        if proc.poll() is not None:
            code, _, err = finish(proc)
            pytest.fail(f"the import ended (exit {code}) before it was seen writing: {err}")
        time.sleep(0.002)


def export(frame: pd.DataFrame, path: Path) -> Path:
    """A survey export as a CSV file the importer reads with its suggested mapping."""
    frame.assign(submitted_at=frame["submitted_at"].dt.strftime("%Y-%m-%d %H:%M:%S")).to_csv(
        path, index=False
    )
    return path


def survey_file(folder: Path, name: str, rows: int, seed: int) -> Path:
    """`rows` random answers (ids `T<seed>-…`, distinct per seed) as `folder/name`."""
    return export(random_responses(rows, seed=seed), folder / name)


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The folder of the survey files the tests import."""
    return tmp_path_factory.mktemp("lake_files")


@pytest.fixture(scope="module")
def big_file(files: Path) -> Path:
    """BIG_ROWS answers in one CSV (about 22 MB)."""
    return survey_file(files, "big.csv", BIG_ROWS, seed=7)


# --- a writer and readers at once ----------------------------------------------------------


def test_kill_9_mid_write_leaves_every_process_the_previous_snapshot(
    tmp_path: Path, files: Path, big_file: Path
) -> None:
    data_dir = tmp_path / "store"
    demo(data_dir, DEMO_ROWS)
    before = json.loads(cx_here(data_dir, "imports", "--json"))  # fresh processes: below
    assert [c["kind"] for c in before] == ["demo"]

    proc = cx_start(data_dir, "import", str(big_file))
    try:
        wait_for_the_write(data_dir, proc)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        code, _, err = finish(proc)
    assert code == -signal.SIGKILL, err

    # a fresh process: the same snapshot, the same rows, no trace of the killed import
    assert fresh_reads(data_dir) == (DEMO_ROWS, before)
    # this process
    store = connect(data_dir, create=False)
    try:
        assert store.row_count(schema.RESPONSES) == DEMO_ROWS
        cur = lake.cursor(store.raw)
        try:
            assert lake.current_snapshot(cur) == before[0]["snapshot"]
        finally:
            cur.close()
    finally:
        close(data_dir)

    # the kernel let go of the dead writer's lock: the next import lands at once
    assert not lock_held(data_dir)
    ok(cx(data_dir, "import", str(survey_file(files, "after_kill.csv", 500, seed=8))))
    responses, log = fresh_reads(data_dir)
    assert responses == DEMO_ROWS + 500
    latest = log[0]
    assert latest["file"] == "after_kill.csv" and responses_in(latest) == 500


def test_kpis_during_an_import_report_the_old_or_the_new_total(
    tmp_path: Path, big_file: Path
) -> None:
    data_dir = tmp_path / "store"
    demo(data_dir, DEMO_ROWS)
    old, new = DEMO_ROWS, DEMO_ROWS + BIG_ROWS
    proc = cx_start(data_dir, "import", str(big_file))
    seen: list[int] = []
    try:
        wait_for_the_write(data_dir, proc)  # the first reader starts while it writes
        while proc.poll() is None:
            result = cx(data_dir, "kpis", "--json")
            assert result.returncode == 0 and not result.stderr.strip(), result.stderr
            seen.append(int(json.loads(result.stdout)["responses"]))
    finally:
        code, _, err = finish(proc)
    assert code == 0, err
    assert seen and set(seen) <= {old, new}, seen  # never an error, never a partial count
    assert total(data_dir) == new


def test_two_imports_started_at_once_both_land_one_after_the_other(
    tmp_path: Path, files: Path
) -> None:
    data_dir = tmp_path / "store"
    demo(data_dir, DEMO_ROWS)
    sizes = {"first.csv": 8_000, "second.csv": 6_000}
    procs = [
        cx_start(data_dir, "import", str(survey_file(files, name, rows, seed=20 + i)))
        for i, (name, rows) in enumerate(sizes.items())
    ]
    for proc in procs:
        code, _, err = finish(proc)
        assert code == 0 and "Traceback" not in err, err
    responses, log = fresh_reads(data_dir)
    assert responses == DEMO_ROWS + sum(sizes.values())
    imports = [c for c in log if c["kind"] == "import"]
    assert sorted(c["file"] for c in imports) == sorted(sizes)
    assert {c["file"]: responses_in(c) for c in imports} == sizes
    snapshots = sorted(c["snapshot"] for c in imports)
    assert snapshots[1] == snapshots[0] + 1  # two changes, one after the other


def test_imports_started_at_once_into_a_new_folder_both_land(
    tmp_path: Path, files: Path
) -> None:
    # The first writer creates the catalog; without the lock around that, the second one
    # failed with SQLite's "database is locked" (found by this test's earlier, manual run).
    data_dir = tmp_path / "new"
    sizes = {"third.csv": 700, "fourth.csv": 900, "fifth.csv": 500}
    procs = [
        cx_start(data_dir, "import", str(survey_file(files, name, rows, seed=40 + i)))
        for i, (name, rows) in enumerate(sizes.items())
    ]
    for proc in procs:
        code, _, err = finish(proc)
        assert code == 0 and "Traceback" not in err, err
    responses, log = fresh_reads(data_dir)
    assert responses == sum(sizes.values())
    assert {c["file"]: responses_in(c) for c in log} == sizes


# --- damage: one line naming the file and the way back --------------------------------------


def one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    """The one stderr line of a command that must have failed with exit code 1."""
    assert result.returncode == 1, result.stdout
    assert "Traceback" not in result.stderr + result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_a_truncated_catalog_is_named_with_the_way_back(tmp_path: Path) -> None:
    data_dir = tmp_path / "store"
    demo(data_dir, 12_000)
    catalog = (data_dir / lake.CATALOG_FILE).resolve()
    assert not (data_dir / f"{lake.CATALOG_FILE}-wal").exists()  # all of it in the file
    os.truncate(catalog, catalog.stat().st_size // 2)

    line = one_error_line(cx(data_dir, "kpis"))
    assert "damaged" in line and str(catalog) in line, line
    assert "aside" in line and "demo" in line, line  # what to do about it
    # this process gets the same line from connect()
    try:
        with pytest.raises(CxError, match="damaged") as caught:
            connect(data_dir, create=False)
        assert str(catalog) in str(caught.value)
    finally:
        close(data_dir)


def test_a_missing_parquet_file_is_named_with_the_way_back(tmp_path: Path) -> None:
    data_dir = tmp_path / "store"
    demo(data_dir, 12_000)  # enough rows for Parquet files, not rows inlined in the catalog
    parquet = sorted((data_dir / lake.FILES_DIR / "main").glob("responses*/*.parquet"))
    assert parquet, sorted(p.name for p in (data_dir / lake.FILES_DIR).rglob("*"))
    gone = parquet[0].resolve()
    gone.unlink()

    line = one_error_line(cx(data_dir, "kpis"))
    assert str(gone) in line and "missing" in line, line
    assert "backup" in line and "import" in line, line  # the way back
    store = connect(data_dir, create=False)
    try:
        with pytest.raises(CxError, match="missing") as caught, engine_errors(store):
            store.all_rows(schema.RESPONSES).to_pandas()
        assert str(gone) in str(caught.value)
    finally:
        close(data_dir)


# --- PostgreSQL as the catalog ----------------------------------------------------------------


@pytest.mark.postgres
def test_a_postgres_catalog_is_shared_by_two_processes(
    tmp_path: Path, files: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    require_postgres()
    data_dir = tmp_path / "shared"
    first = survey_file(files, "pg_first.csv", 1_200, seed=40)
    second = survey_file(files, "pg_second.csv", 800, seed=41)
    with postgres_server() as url:
        monkeypatch.setenv("CX_LAKE_CATALOG", url)
        env = cx_env(CX_LAKE_CATALOG=url)
        try:
            store = connect(data_dir).by("analyst@example.com")  # this process writes…
            import_file(store, first, dataset=schema.RESPONSES)
            ok(cx(data_dir, "import", str(second), env=env))  # …and another one
            assert store.row_count(schema.RESPONSES) == 2_000  # sees the other's commit
            assert total(data_dir, env=env) == 2_000
            log = [c for c in changes(data_dir, env=env) if c["kind"] == "import"]
            assert [(c["file"], responses_in(c)) for c in log] == [
                ("pg_second.csv", 800), ("pg_first.csv", 1_200),
            ]  # fmt: skip
            assert log[1]["author"] == "analyst@example.com"
        finally:
            close(data_dir)
        # the catalog lives in PostgreSQL; only the Parquet files are in the data folder
        assert not (data_dir / lake.CATALOG_FILE).exists()
        assert list((data_dir / lake.FILES_DIR).rglob("*.parquet"))


# --- dashboards in headless Chromium ------------------------------------------------------------


@pytest.fixture(scope="module")
def served(
    chromium_path: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Path, AppServer]]:
    """One dashboard serving a demo data folder that the tests import into."""
    data_dir = tmp_path_factory.mktemp("lake_served") / "store"
    demo(data_dir, 3_000)
    with running_app(data_dir) as app:
        yield data_dir, app


def shown_total(page: Any, url: str, *, opened: bool = False) -> int:
    """Open the Overview over all data in a new run (unless `opened`: navigated already,
    see shown_totals); the Responses tile's number."""
    if not opened:
        page.goto(f"{url}/?period=all", wait_until="domcontentloaded", timeout=150_000)
    open_page_wait(page)
    label = page.locator("[data-testid='stMetricLabel']", has_text=re.compile(r"^\s*Responses"))
    value = page.locator("[data-testid='stMetric']", has=label).first
    text = value.locator("[data-testid='stMetricValue']").inner_text()
    return int(text.replace(",", "").strip())


def open_page_wait(page: Any) -> None:
    """What open_page waits for after navigating (no charts), then the KPI tiles."""
    page.wait_for_selector("[data-testid='stApp']", timeout=150_000)
    wait_idle(page, 150_000)
    wait_for_tiles(page, timeout=150_000)


def shown_totals(pages: list[Any], servers: tuple[AppServer, ...]) -> list[int]:
    """shown_total of each page at its server, the runs of the servers at the same time
    (every page is navigated before the first is waited for)."""
    for page, server in zip(pages, servers, strict=True):
        page.goto(f"{server.url}/?period=all", wait_until="domcontentloaded", timeout=150_000)
    return [shown_total(page, server.url, opened=True)
            for page, server in zip(pages, servers, strict=True)]  # fmt: skip


def assert_no_error(page: Any) -> None:
    """No exception box and no error alert on the page."""
    assert not exceptions(page)
    assert not page.locator(ERROR_ALERT).all_inner_texts()


@pytest.mark.browser
def test_a_dashboard_shows_an_import_made_while_it_serves(
    served: tuple[Path, AppServer], browser: Any, files: Path
) -> None:
    data_dir, app = served
    before = int(json.loads(cx_here(data_dir, "kpis", "--json"))["responses"])
    page = browser.new_page(viewport=VIEWPORT)
    try:
        assert shown_total(page, app.url) == before
        proc = cx_start(data_dir, "import", str(survey_file(files, "live.csv", 2_000, seed=50)))
        try:
            during = shown_total(page, app.url)  # a run while the import reads or writes
            assert_no_error(page)
        finally:
            code, _, err = finish(proc)
        assert code == 0, err
        assert during in (before, before + 2_000)
        after = int(json.loads(cx_here(data_dir, "kpis", "--json"))["responses"])
        assert shown_total(page, app.url) == before + 2_000 == after
        assert_no_error(page)
    finally:
        page.close()


@pytest.mark.browser
def test_two_dashboards_on_one_data_folder_show_the_same_imports(
    served: tuple[Path, AppServer], browser: Any, files: Path, tmp_path: Path
) -> None:
    data_dir, first = served
    second = AppServer(data_dir)
    second.log_path = tmp_path / "second.log"  # the first server writes server.log there
    second.start(timeout=120)
    pages = [browser.new_page(viewport=VIEWPORT) for _ in range(2)]
    try:
        before = int(json.loads(cx_here(data_dir, "kpis", "--json"))["responses"])
        servers = (first, second)
        assert shown_totals(pages, servers) == [before] * 2
        # a third process writes: this one (cli.main, as `python -m cxdata import` runs it)
        cx_here(data_dir, "import", str(survey_file(files, "both.csv", 1_000, seed=51)))
        assert shown_totals(pages, servers) == [before + 1_000] * 2
        for page in pages:
            assert_no_error(page)
    finally:
        for page in pages:
            page.close()
        second.stop()
