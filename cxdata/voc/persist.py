"""Compute the voice-of-the-customer results once and keep them in the store.

- `compute_themes`    every comment, automatic themes fitted afresh (replaces all results);
- `update_themes`     only comments without a current result — new responses after an
                      import, or a comment whose text changed (its fingerprint differs) —
                      placed on the stored automatic themes; results of responses that are
                      gone are dropped;
- `rematch_taxonomy`  taxonomy themes of every analysed comment again (after an edit);
- `voc_status`        what is stored and what is waiting.

On the embedded DuckDB store each computation is written in one transaction, together
with filling `responses.language` where it is missing, so a reader sees the old results or
the new ones, never a mix. On a warehouse each table is written atomically on its own and
the responses are left untouched.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Sequence
from dataclasses import dataclass

import duckdb
import ibis
import ibis.common.exceptions as ibis_errors
import ibis.expr.types as ir
import pandas as pd
import pyarrow as pa

import cxdata.store
from cxdata import schema
from cxdata.errors import CxError
from cxdata.store import Store
from cxdata.voc import tables, topics
from cxdata.voc.pipeline import Progress, analysed_comments, scaled, silent
from cxdata.voc.taxonomy import (
    Matcher,
    Taxonomy,
    compiled,
    load_taxonomy,
    matched_themes,
    save_taxonomy,
    taxonomy_dir,
)
from cxdata.voc.tokens import lemmas, words


@dataclass(frozen=True)
class VocRun:
    """What one computation did."""

    kind: str
    comments: int
    themes: int
    removed: int
    seconds: float


@dataclass(frozen=True)
class VocStatus:
    """What is stored: analysed comments, comments waiting (new or changed), results of
    responses that are gone or changed (stale), the last run and whether the taxonomy was
    edited since its themes were matched."""

    computed: bool
    analysed: int
    pending: int
    stale: int
    auto_languages: tuple[str, ...]
    last_run: dict[str, object] | None
    taxonomy_current: bool


# --- reading ---------------------------------------------------------------------------


def _writable(store: Store) -> None:
    store.require_write("import", "compute themes")  # restriction and role (cxdata.roles)
    if not store.has(schema.RESPONSES):
        raise CxError(f"no responses in {store.location} yet: import a file or run the demo")


def _fingerprint(store: Store, comment: ir.StringValue) -> ir.StringValue:
    """MD5 of the comment text where the engine has it (DuckDB does), else its length —
    then an edit that keeps the length goes unnoticed until a full recompute."""
    md5 = comment.hexdigest("md5")
    try:
        store.backend.compile(md5.as_table().limit(0))
    except (ibis_errors.OperationNotDefinedError, ibis_errors.UnsupportedOperationError):
        return "len:" + comment.length().cast("string")
    return md5


def _comments(store: Store) -> ir.Table:
    """Every response with a non-blank comment: response_id, comment, language, fingerprint
    (unrestricted: results are computed for the whole store)."""
    r = store.backend.table(schema.RESPONSES)
    if "comment" not in r.columns:
        raise CxError("the responses have no comment column, so there is nothing to analyse")
    c = r.filter(r.comment.notnull() & (r.comment.strip().length() > 0))
    language = c.language if "language" in c.columns else ibis.null().cast("string")
    return c.select(
        response_id=c.response_id,
        comment=c.comment,
        language=language,
        fingerprint=_fingerprint(store, c.comment),
    )


def _current(store: Store) -> ir.Table:
    return store.backend.table(tables.COMMENTS).select("response_id", "fingerprint")


def _pending(store: Store) -> ir.Table:
    """Comments without a result for their current text."""
    c = _comments(store)
    if not store.has(tables.COMMENTS):
        return c
    v = _current(store)
    return c.anti_join(v, [c.response_id == v.response_id, c.fingerprint == v.fingerprint])


def _stale(store: Store) -> ir.Table:
    """Stored results whose response is gone or whose comment changed: response_id."""
    v = _current(store)
    c = _comments(store)
    gone = v.anti_join(c, [v.response_id == c.response_id, v.fingerprint == c.fingerprint])
    return gone.select("response_id")


def _frame(expr: ir.Table) -> pd.DataFrame:
    frame = expr.to_pyarrow().to_pandas()
    for col in frame.columns:
        frame[col] = frame[col].astype("object").where(frame[col].notna(), None)
    return frame


def _stored_models(store: Store) -> dict[str, topics.TopicModel]:
    if not (store.has(tables.TOPICS) and store.has(tables.TOPIC_TERMS)):
        return {}
    themes = store.backend.table(tables.TOPICS).to_pandas()
    terms = store.backend.table(tables.TOPIC_TERMS).to_pandas()
    models = {}
    for lang in sorted(themes["language"].dropna().unique()):
        model = topics.model_from_frames(str(lang), themes, terms)
        if model is not None:
            models[str(lang)] = model
    return models


def voc_status(store: Store) -> VocStatus:
    """Counts of analysed, pending and stale comments, and the last run (small queries)."""
    if (
        not store.has(schema.RESPONSES)
        or "comment" not in store.backend.table(schema.RESPONSES).columns
    ):
        return VocStatus(False, 0, 0, 0, (), None, True)
    computed = store.has(tables.COMMENTS)
    pending = _visible_count(store, _pending(store))
    if not computed:
        return VocStatus(False, 0, pending, 0, (), None, True)
    analysed = _visible_count(store, store.backend.table(tables.COMMENTS))
    stale = _visible_count(store, _stale(store))
    langs: tuple[str, ...] = ()
    if store.has(tables.TOPICS):
        t = store.backend.table(tables.TOPICS)
        langs = tuple(
            sorted(str(v) for v in t.language.to_pyarrow().unique().to_pylist() if v is not None)
        )
    last = None
    current = True
    if store.has(tables.RUNS):
        runs = store.backend.table(tables.RUNS)
        row = runs.order_by(ibis.desc("run_at")).limit(1).to_pandas()
        if len(row):
            last = {
                k: (v.isoformat(timespec="seconds") if isinstance(v, pd.Timestamp) else v)
                for k, v in row.iloc[0].to_dict().items()
                if not store.restrict or k in ("run_at", "kind")  # counts span all rows
            }
            matched = runs.filter(runs.kind != "update").order_by(ibis.desc("run_at")).limit(1)
            digest = matched.to_pandas()["taxonomy"]
            tax = load_taxonomy(taxonomy_dir(store))
            current = digest.empty or str(digest.iloc[0]) == tax.digest()
    return VocStatus(True, analysed, pending, stale, langs, last, current)


def _visible_count(store: Store, t: ir.Table) -> int:
    """Rows of a response-keyed table; in a restricted view only those of visible responses
    (results are computed for the whole store, so their tables are not restricted)."""
    if store.restrict:
        t = t.semi_join(store.responses().select("response_id"), "response_id")
    return int(t.count().to_pyarrow().as_py())


def results_version(store: Store) -> str:
    """Changes whenever results are written (time of the last run and row counts): a cache
    key for anything computed from them."""
    if not store.has(tables.RUNS):
        return f"none|{store.row_count(schema.RESPONSES)}"
    last = store.backend.table(tables.RUNS).run_at.max().to_pyarrow().as_py()
    counts = [
        store.backend.table(name).count().to_pyarrow().as_py()
        for name in (tables.COMMENTS, tables.THEMES, schema.RESPONSES)
        if store.has(name)
    ]
    return "|".join(str(x) for x in (last, *counts))


def has_results(store: Store) -> bool:
    """Whether themes were computed for this store."""
    return store.has(tables.COMMENTS) and store.has(tables.THEMES)


# --- computing -------------------------------------------------------------------------


def compute_themes(
    store: Store,
    progress: Progress = silent,
    *,
    taxonomy: Taxonomy | None = None,
    auto_themes: int = topics.DEFAULT_THEMES,
) -> VocRun:
    """Analyse every comment and replace all stored results (automatic themes re-fitted).

    Measured on the 300k-row demo (≈137k comments): ≈ 10 s on 2 cores (bench/)."""
    started = time.perf_counter()
    _writable(store)
    progress(0.0, "reading the comments")
    frame = _frame(_comments(store))
    tax = taxonomy or load_taxonomy(taxonomy_dir(store))
    result = analysed_comments(
        frame, compiled(tax), None, auto_themes=auto_themes, progress=scaled(progress, 0.05, 0.9)
    )
    progress(0.9, f"storing the results of {len(frame):,} comments")
    topic_frames = [topics.model_frames(m) for m in result.models.values()]
    topics_df = (
        pd.concat([f[0] for f in topic_frames], ignore_index=True)
        if topic_frames
        else tables.empty(tables.TOPICS)
    )
    terms_df = (
        pd.concat([f[1] for f in topic_frames], ignore_index=True)
        if topic_frames
        else tables.empty(tables.TOPIC_TERMS)
    )
    seconds = round(time.perf_counter() - started, 2)
    ops: list[_Op] = [
        _Op("replace", tables.COMMENTS, tables.arrow(tables.COMMENTS, result.comments)),
        _Op("replace", tables.THEMES, tables.arrow(tables.THEMES, result.themes)),
        _Op("replace", tables.TOPICS, tables.arrow(tables.TOPICS, topics_df)),
        _Op("replace", tables.TOPIC_TERMS, tables.arrow(tables.TOPIC_TERMS, terms_df)),
        _run_op("compute", len(frame), len(result.themes), tax.digest(), seconds),
        _Op("fill_language"),
    ]
    _apply(store, ops)
    progress(1.0, f"themes computed for {len(frame):,} comments")
    return VocRun(
        "compute", len(frame), len(result.themes), 0, round(time.perf_counter() - started, 2)
    )


def update_themes(store: Store, progress: Progress = silent) -> VocRun:
    """Analyse only the comments without a current result and drop results of responses
    that are gone; the automatic themes stored are kept (new comments are placed on them).
    Without any stored results this is compute_themes."""
    started = time.perf_counter()
    _writable(store)
    if not has_results(store):
        return compute_themes(store, progress)
    progress(0.0, "looking for new or changed comments")
    frame = _frame(_pending(store))
    stale = _frame(_stale(store))
    if frame.empty and stale.empty:
        progress(1.0, "themes are up to date")
        return VocRun("update", 0, 0, 0, round(time.perf_counter() - started, 2))
    tax = load_taxonomy(taxonomy_dir(store))
    models = _stored_models(store)
    result = analysed_comments(frame, compiled(tax), models, progress=scaled(progress, 0.05, 0.9))
    progress(0.9, f"storing the results of {len(frame):,} comments")
    clear = pa.table(
        {
            "response_id": pa.array(
                sorted(set(stale["response_id"]) | set(frame["response_id"])), pa.string()
            )
        }
    )
    seconds = round(time.perf_counter() - started, 2)
    ops = [
        _Op("delete_ids", tables.COMMENTS, clear),
        _Op("delete_ids", tables.THEMES, clear),
        _Op("append", tables.COMMENTS, tables.arrow(tables.COMMENTS, result.comments)),
        _Op("append", tables.THEMES, tables.arrow(tables.THEMES, result.themes)),
        _run_op("update", len(frame), len(result.themes), tax.digest(), seconds),
        _Op("fill_language"),
    ]
    _apply(store, ops)
    progress(
        1.0, f"themes updated: {len(frame):,} comments analysed, {len(stale):,} old results removed"
    )
    return VocRun(
        "update",
        len(frame),
        len(result.themes),
        len(stale),
        round(time.perf_counter() - started, 2),
    )


def edit_taxonomy(
    store: Store, taxonomy: Taxonomy, progress: Progress = silent
) -> VocRun | None:
    """Save an edited taxonomy (or the default, to restore it) beside the store and, when
    themes are stored, match it against every analysed comment (None when none are yet).
    Needs the analyst role on an unrestricted Store (Store.require_write: CxError /
    AccessDenied); nothing is saved when refused."""
    store.require_write("import", "edit the taxonomy")
    save_taxonomy(taxonomy, taxonomy_dir(store))
    return rematch_taxonomy(store, progress, taxonomy) if has_results(store) else None


def rematch_taxonomy(
    store: Store, progress: Progress = silent, taxonomy: Taxonomy | None = None
) -> VocRun:
    """Match the (edited) taxonomy against every analysed comment again, in the language it
    was analysed in; automatic themes and everything else stay as they are."""
    started = time.perf_counter()
    _writable(store)
    if not has_results(store):
        return compute_themes(store, progress, taxonomy=taxonomy)
    tax = taxonomy or load_taxonomy(taxonomy_dir(store))
    progress(0.0, "reading the analysed comments")
    c = _comments(store)
    v = store.backend.table(tables.COMMENTS)
    joined = c.inner_join(v, [c.response_id == v.response_id, c.fingerprint == v.fingerprint])
    frame = _frame(joined.select(response_id=c.response_id, comment=c.comment, language=v.language))
    matcher = compiled(tax)
    rows = _taxonomy_rows(frame, matcher, scaled(progress, 0.05, 0.9))
    seconds = round(time.perf_counter() - started, 2)
    _apply(
        store,
        [
            _Op("delete_source", tables.THEMES, value="taxonomy"),
            _Op("append", tables.THEMES, tables.arrow(tables.THEMES, rows)),
            _run_op("taxonomy", len(frame), len(rows), tax.digest(), seconds),
        ],
    )
    progress(1.0, f"taxonomy matched against {len(frame):,} comments")
    return VocRun("taxonomy", len(frame), len(rows), 0, round(time.perf_counter() - started, 2))


def _taxonomy_rows(frame: pd.DataFrame, matcher: Matcher, progress: Progress) -> pd.DataFrame:
    """comment_themes rows (source "taxonomy") of comments with a known language."""
    keys = pd.MultiIndex.from_arrays(
        [frame["comment"].astype("object"), frame["language"].astype("object").fillna("")]
    )
    code, pairs = pd.factorize(keys)
    found: list[tuple[int, str]] = []
    for i, (text, lang) in enumerate(pairs):
        toks = words(str(text))
        found.extend(
            (i, t) for t in matched_themes(toks, lemmas(toks, lang or None), lang or None, matcher)
        )
        if i % 2000 == 0:
            progress(i / max(len(pairs), 1), "matching the taxonomy")
    per_pair = pd.DataFrame(found, columns=["pair", "theme"])
    rows = pd.DataFrame(
        {
            "response_id": frame["response_id"].to_numpy(),
            "pair": code,
            "language": frame["language"].to_numpy(),
        }
    )
    out = rows.merge(per_pair, on="pair").drop(columns="pair")
    out["source"] = "taxonomy"
    return out[["response_id", "theme", "source", "language"]]


# --- writing ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Op:
    """One write: replace / append a table, delete rows by response id or by source, or
    fill responses.language from voc_comments."""

    kind: str
    name: str = ""
    data: pa.Table | None = None
    value: str = ""


def _run_op(kind: str, comments: int, themes: int, digest: str, seconds: float) -> _Op:
    run = pd.DataFrame(
        {
            "run_at": [pd.Timestamp(dt.datetime.now())],
            "kind": [kind],
            "comments": [comments],
            "themes": [themes],
            "taxonomy": [digest],
            "seconds": [seconds],
        }
    )
    return _Op("append", tables.RUNS, tables.arrow(tables.RUNS, run))


def _apply(store: Store, ops: Sequence[_Op]) -> None:
    """All writes in one DuckDB transaction (embedded store), else one by one."""
    store.require_write("import", "compute themes")  # the one path every theme write takes
    try:
        if store.raw is not None:
            _apply_duckdb(store, ops)
        else:
            _apply_generic(store, ops)
    finally:
        bump = getattr(cxdata.store, "_bump_generation", None)
        if bump is not None:  # Stores cache their catalog until the generation moves
            bump()


def _apply_duckdb(store: Store, ops: Sequence[_Op]) -> None:
    assert store.raw is not None
    cur = store.raw.cursor()
    try:
        cur.execute("BEGIN TRANSACTION")
        existing = {
            r[0]
            for r in cur.execute(
                "SELECT table_name FROM information_schema.tables "
                "WHERE table_schema = current_schema()"
            ).fetchall()
        }
        for i, op in enumerate(ops):
            view = f"cx_voc_{i}"
            if op.data is not None:
                cur.register(view, op.data)
            if op.kind == "replace" or (op.kind == "append" and op.name not in existing):
                cur.execute(f'CREATE OR REPLACE TABLE "{op.name}" AS SELECT * FROM "{view}"')
                existing.add(op.name)
            elif op.kind == "append":
                cur.execute(f'INSERT INTO "{op.name}" SELECT * FROM "{view}"')
            elif op.kind == "delete_ids" and op.name in existing:
                cur.execute(
                    f'DELETE FROM "{op.name}" WHERE response_id IN '
                    f'(SELECT response_id FROM "{view}")'
                )
            elif op.kind == "delete_source" and op.name in existing:
                cur.execute(f'DELETE FROM "{op.name}" WHERE source = ?', [op.value])
            elif op.kind == "fill_language":
                _fill_language(cur)
            if op.data is not None:
                cur.unregister(view)
        cur.execute("COMMIT")
    except BaseException:
        cur.execute("ROLLBACK")
        raise
    finally:
        cur.close()


def _fill_language(cur: duckdb.DuckDBPyConnection) -> None:
    """responses.language := the analysed language where it is missing or blank."""
    columns = {r[0] for r in cur.execute(f'DESCRIBE "{schema.RESPONSES}"').fetchall()}
    if "language" not in columns:
        cur.execute(f'ALTER TABLE "{schema.RESPONSES}" ADD COLUMN language VARCHAR')
    cur.execute(
        f'UPDATE "{schema.RESPONSES}" AS r SET language = v.language '
        f'FROM "{tables.COMMENTS}" AS v WHERE r.response_id = v.response_id '
        "AND (r.language IS NULL OR trim(r.language) = '') AND v.language IS NOT NULL"
    )


def _apply_generic(store: Store, ops: Sequence[_Op]) -> None:
    for op in ops:
        if op.kind == "replace" and op.data is not None:
            store.replace_table(op.name, op.data)
        elif op.kind == "append" and op.data is not None:
            store.append_rows(op.name, op.data)
        elif op.kind in ("delete_ids", "delete_source") and store.has(op.name):
            current = store.backend.table(op.name).to_pyarrow().to_pandas()
            if op.kind == "delete_ids" and op.data is not None:
                ids = set(op.data.column("response_id").to_pylist())
                kept = current[~current["response_id"].isin(ids)]
            else:
                kept = current[current["source"] != op.value]
            store.replace_table(op.name, tables.arrow(op.name, kept))
        # fill_language: a warehouse's responses are not modified (see the module doc)
