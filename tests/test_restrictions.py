"""Row restrictions and roles hold on every public path of cxdata, readers and writers.

Readers: each public function that takes a Store gives the same answer on the full data
seen through a restricted Store as on a store that physically holds only the allowed rows.
Writers: each one is refused for a restricted Store and for a role below what it needs
(cxdata.roles), and a refused write changes nothing. Both lists are discovered, not written
down: a new public function that takes a Store, or a new public Store method, fails
`test_every_store_function_is_checked` / `test_every_store_method_is_classified` until it
is added here.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import importlib
import inspect
import io
import pkgutil
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import cxdata
import cxdata.drivers
import cxdata.explain
from cxdata import (
    annotations,
    catalog,
    comments,
    history,
    kpi_metrics,
    lake,
    queries,
    ratings,
    report,
    schema,
    segments,
)
from cxdata.config import Thresholds
from cxdata.errors import CxError
from cxdata.filters import Filters
from cxdata.importing import datasets, load
from cxdata.notify import alerts, digest
from cxdata.notify.config import AlertRule
from cxdata.notify.render import no_charts
from cxdata.roles import ROLES, AccessDenied, role_allows
from cxdata.store import Store, WriteOp, close, connect
from cxdata.targets import Targets
from cxdata.voc import catalogue, fit, impact, masked, persist, tables, taxonomy, verbatims

RESTRICT = {"country": ("Norway",)}
END = dt.date(2026, 6, 30)
ROOT = Path(__file__).resolve().parents[1]
NOW = Filters.make(dt.date(2026, 1, 1), END)
PREV = Filters.make(dt.date(2025, 7, 1), dt.date(2025, 12, 31))
WIDEN = Filters.make(None, None, {"country": ["Norway", "Sweden"]})

VIEW = {"period": ["12m"], "country": ["Norway", "Sweden"]}  # a saved view, widened
RULE = AlertRule(name="r", kind="kpi_change", to=("a@example.com",), by="region",
                 metric="nps", threshold=0.5, period_days=90, min_n=1)


def _report(s: Store) -> str:
    with no_charts() as charts:
        html = report.view_report(s, "/touchpoints", VIEW, th=Thresholds(), targets=Targets(),
                                  title="t", renderer=charts, today=END).html
    # the one line that differs on purpose: a restricted reader is told what they may see
    return re.sub(r'<div class="context">Your view: [^<]*</div>', "", html)


Call = Callable[[Store], Any]
CHECKED: dict[str, Call] = {
    "cxdata.notify.digest.view_digest": lambda s: digest.view_digest(
        s, "/", VIEW, th=Thresholds(), targets=Targets(), base_url="https://x", title="t",
        today=END),
    "cxdata.notify.digest.resolved_view": lambda s: digest.resolved_view(s, VIEW, END),
    "cxdata.notify.alerts.evaluate": lambda s: alerts.evaluate(s, RULE, Thresholds(),
                                                               "https://x", END),
    "cxdata.notify.alerts.window_of": lambda s: alerts.window_of(s, RULE, END),
    "cxdata.voc.impact.theme_share_changes": lambda s: impact.theme_share_changes(
        s, WIDEN.with_dates(NOW.start, NOW.end), WIDEN.with_dates(PREV.start, PREV.end)),
    "cxdata.report.view_report": _report,
    # no annotations in this store; tests/test_annotations.py checks a restricted one
    "cxdata.annotations.annotations_in": lambda s: annotations.annotations_in(s, WIDEN),
    "cxdata.annotations.list_annotations": annotations.list_annotations,
    "cxdata.catalog.all_dimension_values": catalog.all_dimension_values,
    "cxdata.catalog.data_version": catalog.data_version,
    "cxdata.catalog.date_span": catalog.date_span,
    "cxdata.catalog.dimension_cardinality": catalog.dimension_cardinality,
    "cxdata.catalog.dimension_values": lambda s: catalog.dimension_values(s, "region"),
    "cxdata.comments.comment_page": lambda s: comments.comment_page(
        s, WIDEN, comments.CommentQuery(), page_size=50),
    # line 1 describes the export (and says when a view is restricted): the rows follow
    "cxdata.comments.export_csv": lambda s: comments.export_csv(
        s, NOW, comments.CommentQuery()).split(b"\n", 1)[1],
    "cxdata.comments.matching_count": lambda s: comments.matching_count(
        s, WIDEN, comments.CommentQuery()),
    "cxdata.comments.write_export": lambda s: _written(s),
    "cxdata.comments.export_frame": lambda s: comments.export_frame(
        s, Filters(), comments.CommentQuery(text="deliver")),
    "cxdata.comments.selection": lambda s: comments.selection(
        s, WIDEN, comments.CommentQuery()).count().execute(),
    "cxdata.drivers.key_drivers": lambda s: cxdata.drivers.key_drivers(
        s, WIDEN, "nps", bootstrap=50),
    "cxdata.explain.comparison_filters": lambda s: cxdata.explain.comparison_filters(s, WIDEN),
    "cxdata.explain.explain": lambda s: cxdata.explain.explain(
        s, NOW, PREV, "nps", "region", bootstrap=50),
    "cxdata.explain.rank_dimensions": lambda s: cxdata.explain.rank_dimensions(
        s, NOW, PREV, "nps"),
    "cxdata.importing.datasets.dataset_summaries": lambda s: datasets.dataset_summaries(s).drop(
        columns=["last_import", "last_file"]),
    "cxdata.kpi_metrics.applicable_filters": lambda s: kpi_metrics.applicable_filters(s, WIDEN),
    "cxdata.kpi_metrics.metric_kpis": lambda s: kpi_metrics.metric_kpis(s, NOW, PREV),
    "cxdata.kpi_metrics.metric_series": lambda s: kpi_metrics.metric_series(s, Filters()),
    "cxdata.queries.breakdown": lambda s: queries.breakdown(s, WIDEN, ["region", "plan"]),
    "cxdata.queries.compare": lambda s: queries.compare(s, NOW, PREV, "region"),
    "cxdata.queries.drilldown": lambda s: queries.drilldown(s, Filters(), ["country", "region"]),
    "cxdata.queries.friction_hotspots": lambda s: queries.friction_hotspots(s, Filters()),
    "cxdata.queries.friction_matrix": lambda s: queries.friction_matrix(s, WIDEN),
    "cxdata.queries.kpis": lambda s: queries.kpis(s, WIDEN),
    "cxdata.queries.kpis_pair": lambda s: queries.kpis_pair(
        s, WIDEN.with_dates(NOW.start, NOW.end), WIDEN.with_dates(PREV.start, PREV.end)),
    "cxdata.queries.kpis_by": lambda s: queries.kpis_by(s, Filters(), "country"),
    "cxdata.queries.responses": lambda s: queries.responses(s, WIDEN).count().execute(),
    "cxdata.queries.top_values": lambda s: queries.top_values(s, Filters(), "country", 3),
    "cxdata.queries.trend": lambda s: queries.trend(s, WIDEN, "month", by="country"),
    # no ratings in this store; tests/test_touchpoint_ratings.py checks a restricted one
    "cxdata.ratings.has_ratings": ratings.has_ratings,
    "cxdata.ratings.rated_answers": lambda s: ratings.rated_answers(s, WIDEN).count().execute()
    if ratings.has_ratings(s) else 0,
    "cxdata.ratings.touchpoint_ratings": lambda s: ratings.touchpoint_ratings(s, WIDEN),
    "cxdata.segments.movers": lambda s: segments.movers(s, NOW, PREV, ["region"]),
    "cxdata.segments.period_counts": lambda s: segments.period_counts(s, NOW, PREV, ["region"]),
    "cxdata.segments.period_cell_counts": lambda s: segments.period_cell_counts(
        s, NOW, PREV, ["region", "channel"]
    ),
    "cxdata.segments.segment_vs_rest": lambda s: segments.segment_vs_rest(s, Filters(), "plan"),
    "cxdata.voc.catalogue.theme_labels": catalogue.theme_labels,
    "cxdata.voc.impact.analysed": lambda s: impact.analysed(s, WIDEN).count().execute(),
    "cxdata.voc.impact.mentions": lambda s: impact.mentions(s, WIDEN).count().execute(),
    "cxdata.voc.impact.counted_rows": lambda s: impact.counted_rows(s, WIDEN).count().execute(),
    "cxdata.voc.impact.theme_impact": lambda s: impact.theme_impact(s, WIDEN),
    "cxdata.voc.impact.theme_matrix": lambda s: impact.theme_matrix(s, Filters()),
    "cxdata.voc.impact.theme_trend": lambda s: impact.theme_trend(s, Filters(), "quarter"),
    "cxdata.voc.impact.voc_languages": lambda s: impact.voc_languages(s, WIDEN),
    "cxdata.voc.masked.theme_counts": lambda s: masked.theme_counts(
        s, impact.counted_rows(s, WIDEN), ["voc_language"], None),
    "cxdata.voc.masked.mask_counts": lambda s: masked.mask_counts(
        s, impact.counted_rows(s, WIDEN), ["voc_language"], [0, 1_000_000]),
    "cxdata.voc.masked.comments_unique": masked.comments_unique,
    # counted first (mask_counts never returns None), then read back as kept
    "cxdata.voc.masked.kept_counts": lambda s: (masked.mask_counts(
        s, impact.counted_rows(s, WIDEN), ["voc_language"], [0, 1_000_000]) is None
        or masked.kept_counts(s, impact.counted_rows(s, WIDEN), ["voc_language"], [0, 1_000_000])),
    "cxdata.voc.persist.has_results": persist.has_results,
    "cxdata.voc.persist.pending_workload": persist.pending_workload,
    "cxdata.voc.fit.taxonomy_fit": lambda s: dataclasses.astuple(fit.taxonomy_fit(s, WIDEN))[:2],
    # The last run's counts span all rows: hidden when restricted (checked below).
    "cxdata.voc.persist.voc_status": lambda s: dataclasses.replace(
        persist.voc_status(s), last_run=None),
    "cxdata.voc.verbatims.theme_verbatims": lambda s: verbatims.theme_verbatims(
        s, WIDEN, "delivery", page_size=50),
}


def _written(store: Store) -> bytes:
    """The rows comments.write_export streams (in batches of 7), without line 1."""
    out = io.BytesIO()
    comments.write_export(out, store, WIDEN, comments.CommentQuery(), chunk=7)
    return out.getvalue().split(b"\n", 1)[1]


def _import_csv(store: Store, mode: str = "append") -> Any:
    with tempfile.TemporaryDirectory(prefix="cx-writer-") as folder:
        csv = Path(folder) / "one.csv"
        csv.write_text("response_id,date,nps\nw-1,2026-01-05,9\n")
        return load.import_file(store, csv, mode=mode)


def _import_source(store: Store) -> Any:
    with tempfile.TemporaryDirectory(prefix="cx-writer-") as folder:
        csv = Path(folder) / "two.csv"
        csv.write_text("response_id,date,nps\nw-2,2026-01-06,7\n")
        source, mapping = load.read_with_mapping(store, csv)
        return load.import_source(store, source, mapping)


# Functions that write, with the action each needs (cxdata.roles): a restricted Store and
# a lesser role are refused (tests below).
WRITERS: dict[str, tuple[str, Call]] = {
    "cxdata.annotations.add_annotation": ("import", lambda s: annotations.add_annotation(
        s, "2026-01-05", "Release")),
    "cxdata.annotations.delete_annotation": ("import", lambda s: annotations.delete_annotation(
        s, next(iter(annotations.list_annotations(s)["id"]), "none"))),
    "cxdata.voc.persist.compute_themes": ("import", persist.compute_themes),
    "cxdata.voc.persist.update_themes": ("import", persist.update_themes),
    "cxdata.voc.persist.rematch_taxonomy": ("import", persist.rematch_taxonomy),
    "cxdata.voc.persist.edit_taxonomy": ("import", lambda s: persist.edit_taxonomy(
        s, taxonomy.DEFAULT_TAXONOMY)),
    "cxdata.importing.datasets.delete_dataset": ("manage", lambda s: datasets.delete_dataset(
        s, schema.RESPONSES)),
    "cxdata.importing.load.import_file": ("import", _import_csv),
    "cxdata.importing.load.import_file(replace)": ("manage", lambda s: _import_csv(
        s, "replace")),
    "cxdata.importing.load.import_source": ("import", _import_source),
    "cxdata.history.undo": ("manage", lambda s: history.undo(s, 1)),
}
EXEMPT: dict[str, str] = {
    "cxdata.notify.cli.cmd_send": "CLI handler over notify.send.send_due",
    "cxdata.notify.send.send_due": "narrows the store per reader (Grant.scoped); "
    "tests/test_notify_send.py checks each copy against the reader's own rows",
    "cxdata.notify.send.alerts_after_import": "send_due for the alerts, after an import",
    "cxdata.report_cli.cmd_report": "CLI handler over report.view_report",
    "cxdata.report.feedback_sections": "a part of report.view_report (checked through it)",
    "cxdata.report.segments_sections": "a part of report.view_report (checked through it)",
    "cxdata.report.touchpoints_sections": "a part of report.view_report (checked through it)",
    "cxdata.report.trends_sections": "a part of report.view_report (checked through it)",
    "cxdata.cli.cmd_demo": "CLI handler; writes (refused when restricted)",
    "cxdata.cli.cmd_friction": "CLI handler over queries.friction_matrix",
    "cxdata.cli.cmd_kpis": "CLI handler over queries.kpis / kpis_by",
    "cxdata.cli.cmd_trend": "CLI handler over queries.trend",
    "cxdata.importing.cli.cmd_import": "CLI handler over import_file (a write)",
    "cxdata.importing.cli.cmd_suggest_mapping": "reads a file, not the store",
    "cxdata.voc.cli.cmd_themes": "CLI handler over theme_impact / voc_languages",
    "cxdata.voc.cli.cmd_comments": "CLI handler over comments.write_export",
    "cxdata.importing.datasets.data_dir_of": "a path, no data",
    "cxdata.voc.taxonomy.taxonomy_dir": "a path, no data",
    "cxdata.voc.persist.results_version": "a run id of the theme model, no rows",
    "cxdata.queries.run_compiled": "runs SQL compiled from the Store's own restricted "
    "table (a resident copy answers the same SQL: test_resident, a restricted Store)",
    "cxdata.voc.masked.stored_bits": "the themes' numbering (names and bit positions), "
    "no rows; what it counts is read through the caller's restricted responses",
    "cxdata.voc.masked.one_snapshot": "runs the caller's read again if a write lands "
    "meanwhile; reads only the snapshot id",
    "cxdata.importing.load.dry_run": "import validation before a write",
    "cxdata.importing.load.read_with_mapping": "reads a file and saved mappings",
    "cxdata.importing.load.stored_ids": "import duplicate check before a write",
    "cxdata.importing.load.stored_types": "column types, no rows",
    "cxdata.store.is_open": "whether the Store's connection is current, no data",
    "cxdata.store.is_read_only": "whether the store was opened read-only, no data",
    "cxdata.store.require_writable": "refuses a read-only store before a write, no data",
    "cxdata.history.changes": "the change log: refused for a restricted Store "
                              "(test_lake_history.py)",
    "cxdata.history.changes_frame": "changes() as a table",
    "cxdata.explain_cli.cmd_explain": "CLI handler over explain.explain",
    "cxdata.drivers_cli.cmd_drivers": "CLI handler over drivers.key_drivers",
    "cxdata.annotations_cli.cmd_annotate": "CLI handler over cxdata.annotations",
    "cxdata.history_cli.cmd_imports": "CLI handler over history.changes",
    "cxdata.history_cli.cmd_undo": "CLI handler over history.undo (a write)",
    "cxdata.history_cli.cmd_maintain": "CLI handler: lake maintenance, needs manage",
}


def store_functions() -> set[str]:
    """Every public function in cxdata with a parameter annotated as Store."""
    found = set()
    for info in pkgutil.walk_packages(cxdata.__path__, "cxdata."):
        if info.name.endswith("__main__"):
            continue
        module = importlib.import_module(info.name)
        for name, fn in inspect.getmembers(module, inspect.isfunction):
            if fn.__module__ != module.__name__ or name.startswith("_"):
                continue
            params = inspect.signature(fn).parameters.values()
            if any(p.annotation in (Store, "Store") for p in params):
                found.add(f"{info.name}.{name}")
    return found


def test_every_store_function_is_checked() -> None:
    missing = store_functions() - set(CHECKED) - {w.split("(")[0] for w in WRITERS} - set(EXEMPT)
    assert not missing, f"add these to tests/test_restrictions.py: {sorted(missing)}"


@pytest.fixture(scope="module")
def stores(tmp_path_factory: pytest.TempPathFactory) -> tuple[Store, Store]:
    """(full data seen through the restriction, a store holding only the allowed rows)."""
    from cxdata.demo import demo_metrics, demo_responses

    full = connect(tmp_path_factory.mktemp("full"))
    full.replace_table(schema.RESPONSES, demo_responses(rows=12_000, seed=5, end=END))
    full.replace_table(schema.METRICS, demo_metrics(seed=5, end=END))
    persist.compute_themes(full)
    only = connect(tmp_path_factory.mktemp("only"))
    allowed = set(full.restricted(RESTRICT).responses().response_id.to_pandas())
    for name in full.backend.list_tables():
        frame = full.backend.table(name).to_pandas()
        if "country" in frame.columns:
            frame = frame[frame["country"].isin(RESTRICT["country"])]
        elif "response_id" in frame.columns:
            frame = frame[frame["response_id"].isin(allowed)]
        _copy_table(full, only, name, frame)
    return full.restricted(RESTRICT), only


def _copy_table(source: Store, target: Store, name: str, frame: pd.DataFrame) -> None:
    """Copy with the source's exact column types (an empty frame has none of its own)."""
    assert target.raw is not None and source.raw is not None
    target.raw.register("copied", frame)
    types = source.raw.execute(f'DESCRIBE "{name}"').fetchall()
    cols = ", ".join(f'CAST("{c}" AS {t}) AS "{c}"' for c, t, *_ in types)
    target.raw.execute(f'CREATE TABLE "{name}" AS SELECT {cols} FROM copied')
    target.raw.unregister("copied")
    target.replace_table(name, target.backend.table(name).to_pyarrow())


def _comparable(value: Any) -> Any:
    if isinstance(value, pd.DataFrame):  # row order is not what is checked here
        return value.sort_values(list(value.columns), key=lambda c: c.astype(str)).reset_index(
            drop=True)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {  # the snapshot id names the lake's state, not what a user sees
            k: _comparable(v) for k, v in dataclasses.asdict(value).items() if k != "snapshot"
        }
    if isinstance(value, list | tuple):
        return [_comparable(v) for v in value]
    if isinstance(value, dict):
        return {k: _comparable(v) for k, v in value.items()}
    return value


def _assert_same(a: Any, b: Any) -> None:
    if isinstance(a, pd.DataFrame):
        pd.testing.assert_frame_equal(a, b, check_dtype=False)
    elif isinstance(a, dict):
        assert a.keys() == b.keys()
        for k in a:
            _assert_same(a[k], b[k])
    elif isinstance(a, list):
        assert len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            _assert_same(x, y)
    else:
        assert a == b


@pytest.mark.parametrize("name", sorted(CHECKED))
def test_restricted_equals_physically_filtered(stores: tuple[Store, Store], name: str) -> None:
    restricted, only = stores
    _assert_same(_comparable(CHECKED[name](restricted)), _comparable(CHECKED[name](only)))


def test_widening_filter_sees_nothing_outside(stores: tuple[Store, Store]) -> None:
    restricted, _ = stores
    assert queries.kpis(restricted, Filters.make(where={"country": ["Sweden"]})).responses == 0
    assert set(catalog.dimension_values(restricted, "country")) == {"Norway"}
    last_run = persist.voc_status(restricted).last_run
    assert last_run is not None and set(last_run) == {"run_at", "kind"}


@pytest.mark.parametrize("name", sorted(WRITERS))
def test_restricted_store_refuses_writes(stores: tuple[Store, Store], name: str) -> None:
    restricted, _ = stores
    with pytest.raises(CxError, match="restricted view cannot"):
        WRITERS[name][1](restricted)


def test_all_rows_refuses_a_restricted_store(stores: tuple[Store, Store]) -> None:
    restricted, _ = stores
    with pytest.raises(CxError, match="restricted view cannot read every row"):
        restricted.all_rows(schema.RESPONSES)


def test_writers_list_matches_import_side(tmp_path: Path) -> None:
    """The import entry points refuse a restricted store as well."""
    restricted = connect(tmp_path).restricted(RESTRICT)
    csv = tmp_path / "one.csv"
    csv.write_text("id,nps\n1,9\n")
    with pytest.raises(CxError, match="restricted view cannot"):
        load.import_file(restricted, csv)


# Every public Store method, classified: a new one fails the test below until it is added.
STORE_READERS = {"has", "table", "responses", "dimensions", "row_count", "small_table"}
STORE_WRITERS: dict[str, tuple[str, Callable[[Store, str], Any]]] = {
    "append_rows": ("import", lambda s, n: s.append_rows(n, s.backend.table(n).limit(1)
                                                         .to_pyarrow())),
    "replace_table": ("manage", lambda s, n: s.replace_table(n, s.backend.table(n).to_pyarrow())),
    "write_tables": ("manage", lambda s, n: s.write_tables(
        [(n, s.backend.table(n).to_pyarrow(), False)])),
    "drop_table": ("manage", lambda s, n: s.drop_table(n)),
    "drop_tables": ("manage", lambda s, n: s.drop_tables([n])),
    "apply": ("manage", lambda s, n: s.apply([WriteOp.replace(n, s.all_rows(n).to_pyarrow())])),
}
STORE_OTHER = {
    "all_rows": "every row, for the import and theme machinery: refused when restricted "
                "(test_all_rows_refuses_a_restricted_store)",
    "restricted": "a narrower view: never wider (test_widening_filter_sees_nothing_outside)",
    "acting_as": "a lesser-or-equal role (test_acting_as_never_gains_rights)",
    "require_write": "the check every writer makes",
    "may_write": "require_write as a bool, for the UI",
    "write_action": "which action a set of writes needs",
    "cursor": "raw SQL on the lake for the import machinery: refused when restricted "
              "(test_cursor_refuses_a_restricted_store)",
    "refresh": "the lake's snapshot id: no rows",
    "read_scope": "a cache key's part (path, restriction, snapshot id): no rows",
    "reading": "one transaction for a run's reads: which snapshot they see, never which "
               "rows (test_reads_inside_see_the_snapshot_of_the_start, a restricted Store)",
    "by": "who the writes are recorded as: the same rights (test_by_keeps_role_and_rows)",
}


def test_every_store_method_is_classified() -> None:
    public = {n for n, _ in inspect.getmembers(Store, inspect.isfunction) if not n.startswith("_")}
    missing = public - STORE_READERS - set(STORE_WRITERS) - set(STORE_OTHER)
    assert not missing, f"classify these Store methods in tests/test_restrictions.py: {missing}"


@pytest.fixture(scope="module")
def small_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The data directory of `small`, built once for the module and closed: each test gets
    its own copy (the writer tests write, and a refused write must be seen to change
    nothing in a store no other test touched). A lake's files are read relative to its own
    folder, so a copy is the same store."""
    from cxdata.demo import demo_metrics, demo_responses

    path = tmp_path_factory.mktemp("small_template")
    store = connect(path)
    store.replace_table(schema.RESPONSES, demo_responses(rows=1_500, seed=3, end=END))
    store.replace_table(schema.METRICS, demo_metrics(seed=3, end=END))
    first = store.responses().response_id.execute().iloc[:2].tolist()
    store.replace_table(schema.TOUCHPOINT_RATINGS, pd.DataFrame(
        {"response_id": first, "touchpoint": ["delivery", "checkout"], "rating": [4.0, 2.0],
         "scale": ["csat", "csat"]}))
    persist.compute_themes(store)
    close(path)  # its catalog complete on disk before any copy is taken
    return path


@pytest.fixture()
def small(small_template: Path, tmp_path: Path) -> Store:
    """A small store with every dataset (responses, ratings, metrics, theme tables): this
    test's own copy of `small_template` (computing the themes once per test cost most of
    this module's time)."""
    shutil.copytree(small_template, tmp_path, dirs_exist_ok=True)
    return connect(tmp_path, create=False)


def _snapshot(store: Store) -> dict[str, Any]:
    """What a refused write must leave as it was: every table's rows, the taxonomy file."""
    assert store.raw is not None
    out: dict[str, Any] = {
        name: store.raw.execute(f'SELECT count(*), hash(list(t ORDER BY t)) FROM "{name}" t')
        .fetchone()
        for name in store.backend.list_tables()
    }
    out["taxonomy.json"] = taxonomy.taxonomy_path(store.location).exists()
    return out


def _lake_commit(store: Store) -> int:
    """The lake's newest snapshot id: any committed write moves it (one catalog read)."""
    assert store.raw is not None
    return lake.current_snapshot(store.raw)


def _refused(role: str, action: str) -> bool:
    return not role_allows(role, action)


@pytest.mark.parametrize("role", ROLES)
def test_each_role_is_refused_every_writer_above_it(small: Store, role: str) -> None:
    """Every writer function, as each role: refused (AccessDenied, nothing changed) exactly
    when the role is below the action the writer needs."""
    acting = small.acting_as(role)
    for name, (action, write) in sorted(WRITERS.items()):
        if not _refused(role, action):
            continue
        before = _snapshot(small)
        with pytest.raises(AccessDenied):
            write(acting)
        assert _snapshot(small) == before, f"{name} changed data although refused"


@pytest.mark.parametrize("role", ROLES)
def test_each_role_is_refused_every_store_write_on_every_dataset(small: Store, role: str) -> None:
    acting = small.acting_as(role)
    names = small.backend.list_tables()
    assert {schema.RESPONSES, schema.TOUCHPOINT_RATINGS, schema.METRICS} <= set(names)
    before, commits = _snapshot(small), _lake_commit(small)
    for method, (action, write) in sorted(STORE_WRITERS.items()):
        for name in names:
            needed = action if name in (schema.RESPONSES, schema.TOUCHPOINT_RATINGS,
                                        schema.METRICS) or method.startswith("drop") else "import"
            if not _refused(role, needed):
                continue
            with pytest.raises(AccessDenied):
                write(acting, name)
            # every write through Store.apply is a lake commit: none may have happened
            assert _lake_commit(small) == commits, f"{method}({name}) as {role} wrote"
    assert _snapshot(small) == before  # and every table's rows are as they were


def test_analyst_may_run_the_import_writers(small: Store) -> None:
    analyst = small.acting_as("analyst")
    for action, write in WRITERS.values():
        if action == "import":
            write(analyst)  # no AccessDenied
    assert taxonomy.taxonomy_path(small.location).exists()
    assert small.row_count(schema.RESPONSES) == 1_502


def test_acting_as_never_gains_rights(small: Store) -> None:
    viewer = small.acting_as("viewer")
    assert viewer.acting_as("admin").role == "viewer"
    assert viewer.restricted({"country": ("Norway",)}).role == "viewer"
    with pytest.raises(ValueError):
        small.acting_as("owner")


def test_cursor_refuses_a_restricted_store(store: Store) -> None:
    with pytest.raises(CxError, match="restricted"):
        store.restricted({"country": ("Norway",)}).cursor()


def test_by_keeps_role_and_rows(store: Store) -> None:
    narrow = store.restricted({"country": ("Norway",)}).acting_as("viewer").by("a@example.com")
    assert narrow.restrict == {"country": ("Norway",)} and narrow.role == "viewer"
    assert narrow.author == "a@example.com"


def test_small_table_is_cached_per_restriction(tmp_path: Path) -> None:
    """Store.small_table shares one read per lake snapshot between Stores, never between
    restrictions: a restricted Store asking after an unrestricted one (whose frame is
    cached) gets its own rows, and a write makes the next call read again."""
    from cxdata.demo import demo_responses

    full = connect(tmp_path)
    full.replace_table(schema.RESPONSES, demo_responses(rows=3_000, seed=3, end=END))
    full.refresh()
    whole = full.small_table(schema.RESPONSES)
    narrow = full.restricted(RESTRICT)
    narrow.refresh()
    seen = narrow.small_table(schema.RESPONSES)
    assert 0 < len(seen) < len(whole)
    assert set(seen["country"]) <= set(RESTRICT["country"])
    full.replace_table(schema.RESPONSES, demo_responses(rows=1_000, seed=4, end=END))
    full.refresh()
    assert len(full.small_table(schema.RESPONSES)) == 1_000


def test_small_table_sees_another_process_write_without_a_refresh(tmp_path: Path) -> None:
    """The theme numbering is read through Store.small_table and applied to masks read
    live: a write by another process after this Store's last refresh (a run in progress
    while a CLI re-matches themes) must show at the next call, never the cached frame
    (a stale numbering gives each theme its neighbour's counts)."""
    from cxdata.demo import demo_responses

    store = connect(tmp_path)
    store.replace_table(schema.RESPONSES, demo_responses(rows=2_000, seed=3, end=END))
    store.refresh()
    assert len(store.small_table(schema.RESPONSES)) == 2_000
    code = (
        "import sys; from cxdata import schema; from cxdata.store import connect; "
        "from cxdata.demo import demo_responses; import datetime as dt; "
        "connect(sys.argv[1]).replace_table(schema.RESPONSES, "
        "demo_responses(rows=700, seed=4, end=dt.date(2026, 6, 30)))"
    )
    subprocess.run([sys.executable, "-c", code, str(tmp_path)], cwd=ROOT, check=True,
                   timeout=120)  # fmt: skip
    assert len(store.small_table(schema.RESPONSES)) == 700  # no refresh() in between


def test_a_language_restriction_is_the_responses_language_in_every_theme_view(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A comment's analysed language is not its response's `language` (Swedish text on a
    response recorded as English): a reader restricted on `language` sees the comments of
    the responses in that language, counted the same from the masks, from the theme rows
    and by pandas, and a comment page lists what its total says."""
    from test_voc_impact import voc_frame

    frame = voc_frame(1_200, seed=4)
    frame["language"] = frame["language"].where(frame["comment"].isna(), "en")
    s = connect(tmp_path)
    s.replace_table(schema.RESPONSES, frame)
    persist.compute_themes(s)
    analysed = s.backend.table(tables.COMMENTS).to_pandas()
    assert set(analysed["language"]) - {"en"}  # some comments analysed in another language
    reader = s.restricted({"language": ("en",)})
    seen = set(frame.loc[frame["language"] == "en", "response_id"]) & set(analysed["response_id"])
    from_masks = impact.theme_impact(reader, Filters())
    with monkeypatch.context() as m:
        m.setattr(masked, "stored_bits", lambda s: None)
        from_rows = impact.theme_impact(reader, Filters())
        assert int(impact.voc_languages(reader, Filters())["comments"].sum()) == len(seen)
    pd.testing.assert_frame_equal(from_masks, from_rows)
    assert int(from_masks["comments"].iloc[0]) == len(seen)
    other = sorted(set(analysed["language"].dropna()) - {"en"})[0]
    page = verbatims.theme_verbatims(reader, Filters(), "delivery", 1, 100, language=other)
    listed = sum(len(verbatims.theme_verbatims(reader, Filters(), "delivery", p, 100,
                                               language=other).rows)
                 for p in range(1, page.pages + 1))
    assert page.total == listed > 0


def test_the_theme_model_is_never_cut_by_a_restriction_and_own_keys_stay_on_metrics(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The theme model (numbering, labels, term weights) holds no customer rows: a
    restriction on a responses column that happens to share a name with one of its
    columns (`theme`, `language`) never filters it, so the restricted view lists every
    theme its answers mention, with its label, as the theme rows and the full store do.
    The responses and the tables computed from their comments take no restriction of
    their own (they are restricted together, through the responses)."""
    from test_voc_impact import voc_frame

    frame = voc_frame(1_200, seed=4)
    frame["theme"] = np.random.default_rng(3).choice(["delivery", "staff"], len(frame))
    s = connect(tmp_path)
    s.replace_table(schema.RESPONSES, frame)
    persist.compute_themes(s)
    everyone = impact.theme_impact(s, Filters()).set_index("theme")["label"]
    for restrict in ({"theme": ("delivery",)}, {"language": ("en",)}):
        reader = s.restricted(restrict)
        got = impact.theme_impact(reader, Filters())
        with monkeypatch.context() as m:
            m.setattr(masked, "stored_bits", lambda s: None)
            pd.testing.assert_frame_equal(got, impact.theme_impact(reader, Filters()))
        assert len(got) > 1
        assert got.set_index("theme")["label"].to_dict() == everyone[got["theme"]].to_dict()
        assert len(reader.small_table(tables.BITS)) == len(s.small_table(tables.BITS))
    for key in ("responses:region", "voc_comments:language", "comment_themes:theme"):
        with pytest.raises(CxError, match="restriction of its own"):
            s.restricted({key: ("x",)})
    s.restricted({"metrics:country": ("Norway",)})  # the metrics dataset may have its own
