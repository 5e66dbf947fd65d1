"""Compute the voice-of-the-customer results once and keep them in the store.

- `compute_themes`    every comment, automatic themes fitted afresh (replaces all results);
- `update_themes`     only comments without a current result — new responses after an
                      import, or a comment whose text changed (its fingerprint differs) —
                      placed on the stored automatic themes; results of responses that are
                      gone are dropped;
- `rematch_taxonomy`  taxonomy themes of every analysed comment again (after an edit);
- `voc_status`        what is stored and what is waiting.

Each computation is one Store.apply: on the embedded DuckDB store one transaction, together
with filling `responses.language` where it is missing, so a reader sees the old results or
the new ones, never a mix. On a warehouse each table is written atomically on its own and
the responses are left untouched.

The computations read every row (Store.all_rows, on the unrestricted Store a writer needs);
the status readers read through the Store's row restriction (Store.table). On the embedded
store compute_themes and rematch_taxonomy hold only the distinct (comment, language) pairs
in memory and let the engine spread their results to the responses (a join, in the same
transaction); update_themes reads the waiting comments into pandas.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass

import ibis
import ibis.common.exceptions as ibis_errors
import ibis.expr.types as ir
import numpy as np
import pandas as pd
import pyarrow as pa

from cxdata import schema
from cxdata.errors import CxError
from cxdata.lake import Commit
from cxdata.store import Store, WriteOp
from cxdata.voc import tables, topics
from cxdata.voc.pipeline import Progress, analysed_comments, analysed_pairs, scaled, silent
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

# How a helper reads a table: Store.all_rows (a computation) or Store.table (a status reader).
Read = Callable[[str], ir.Table]


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


def _comments(store: Store, read: Read) -> ir.Table:
    """Every response with a non-blank comment: response_id, comment, language, fingerprint
    (`read` = store.all_rows when computing: results are computed for the whole store)."""
    r = read(schema.RESPONSES)
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


def _current(read: Read) -> ir.Table:
    return read(tables.COMMENTS).select("response_id", "fingerprint")


def _pending(store: Store, read: Read) -> ir.Table:
    """Comments without a result for their current text."""
    c = _comments(store, read)
    if not store.has(tables.COMMENTS):
        return c
    v = _current(read)
    return c.anti_join(v, [c.response_id == v.response_id, c.fingerprint == v.fingerprint])


def _stale(store: Store, read: Read) -> ir.Table:
    """Stored results whose response is gone or whose comment changed: response_id."""
    v = _current(read)
    c = _comments(store, read)
    gone = v.anti_join(c, [v.response_id == c.response_id, v.fingerprint == c.fingerprint])
    return gone.select("response_id")


def _pending_and_stale(store: Store, read: Read) -> tuple[int, int]:
    """(rows of _pending, rows of _stale) from one outer join of the comments with the
    stored results on (response_id, fingerprint): an unmatched comment is pending, an
    unmatched result stale. Half the work of the two anti-joins (each hashes every
    comment): the Feedback page reads these counts on its first run per data version."""
    c = _comments(store, read)
    c = c.select(cid=c.response_id, cfp=c.fingerprint)
    v = _current(read)
    v = v.select(vid=v.response_id, vfp=v.fingerprint)
    j = c.outer_join(v, [c.cid == v.vid, c.cfp == v.vfp])
    row = j.aggregate(
        pending=(j.vid.isnull() & j.cid.notnull()).sum(),
        stale=(j.cid.isnull() & j.vid.notnull()).sum(),
    ).to_pyarrow().to_pylist()[0]
    return int(row["pending"] or 0), int(row["stale"] or 0)


def _frame(expr: ir.Table) -> pd.DataFrame:
    return _pandas(expr.to_pyarrow())


def _pandas(rows: pa.Table) -> pd.DataFrame:
    """`rows` as pandas with object columns, missing values None."""
    frame = rows.to_pandas()
    for col in frame.columns:
        frame[col] = frame[col].astype("object").where(frame[col].notna(), None)
    return frame


def _stored_models(store: Store) -> dict[str, topics.TopicModel]:
    if not (store.has(tables.TOPICS) and store.has(tables.TOPIC_TERMS)):
        return {}
    themes = store.all_rows(tables.TOPICS).to_pandas()
    terms = store.all_rows(tables.TOPIC_TERMS).to_pandas()
    models = {}
    for lang in sorted(themes["language"].dropna().unique()):
        model = topics.model_from_frames(str(lang), themes, terms)
        if model is not None:
            models[str(lang)] = model
    return models


def voc_status(store: Store) -> VocStatus:
    """Counts of analysed, pending and stale comments, and the last run (small queries), of
    the responses this Store may see."""
    if not store.has(schema.RESPONSES) or "comment" not in store.table(schema.RESPONSES).columns:
        return VocStatus(False, 0, 0, 0, (), None, True)
    computed = store.has(tables.COMMENTS)
    if not computed:
        return VocStatus(False, 0, _count(_pending(store, store.table)), 0, (), None, True)
    analysed = _count(store.table(tables.COMMENTS))
    pending, stale = _pending_and_stale(store, store.table)
    langs: tuple[str, ...] = ()
    if store.has(tables.TOPICS):
        t = store.table(tables.TOPICS)
        langs = tuple(
            sorted(str(v) for v in t.language.to_pyarrow().unique().to_pylist() if v is not None)
        )
    last = None
    current = True
    if store.has(tables.RUNS):
        runs = store.table(tables.RUNS)  # restricted: when and which kind, never the counts
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


@dataclass(frozen=True)
class Workload:
    """What a computation of the waiting comments reads: comments (rows), distinct texts
    and the words of the distinct texts (work is done once per distinct text)."""

    comments: int
    distinct: int
    words: int


# CPU seconds of compute_themes on 2 cores (bench/bench_theme_estimate.py, themes_results.md):
# loading the language, lemma and sentiment models once per process, then per comment row
# (fingerprint, spreading results, NMF fit) and per word of the distinct texts (language
# detection, lemmas, taxonomy, VADER). 3,700 distinct 67-word reviews: 13.4 s warm; the
# 136,495-comment demo (6,354 distinct texts, 81,718 words): 13.2 s warm; cold +≈8 s.
COLD_SECONDS = 8.0
SECONDS_PER_COMMENT = 60e-6
SECONDS_PER_WORD = 55e-6


def pending_workload(store: Store) -> Workload:
    """The Workload of the comments without a current result (one small aggregate)."""
    p = _pending(store, store.table)
    distinct = p.select(comment=p.comment).distinct()
    words = (distinct.comment.length() - distinct.comment.replace(" ", "").length() + 1).sum()
    row = distinct.aggregate(distinct=distinct.count(), words=words).to_pandas().iloc[0]
    words_n = 0 if pd.isna(row["words"]) else int(row["words"])
    return Workload(_count(p), int(row["distinct"]), words_n)


def estimated_seconds(work: Workload, cold: bool = True) -> float:
    """CPU seconds the computation of `work` takes on an idle 2-core machine (the measured
    constants above; `cold`: the first computation in this process loads the models). A
    busy machine takes longer in wall time: the page says so and shows progress."""
    fixed = COLD_SECONDS if cold else 0.0
    return fixed + SECONDS_PER_COMMENT * work.comments + SECONDS_PER_WORD * work.words


def _count(t: ir.Table) -> int:
    """Rows of a table read through the Store (a restricted one: only those of the responses
    it may see)."""
    return int(t.count().to_pyarrow().as_py())


def results_version(store: Store) -> str:
    """Changes whenever results are written (time of the last run and row counts, of the
    rows this Store may see): a cache key for anything computed from them."""
    if not store.has(tables.RUNS):
        return f"none|{store.row_count(schema.RESPONSES)}"
    last = store.table(tables.RUNS).run_at.max().to_pyarrow().as_py()
    counts = [
        store.table(name).count().to_pyarrow().as_py()
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
    in_engine: bool | None = None,
) -> VocRun:
    """Analyse every comment and replace all stored results (automatic themes re-fitted).

    On the embedded store (`in_engine` None or True) the work scales with the distinct
    (comment, stored language) pairs, not the responses: the engine groups the comments
    into pairs, only the pairs are analysed (pipeline.analysed_pairs; for the fit, one
    8-byte key per comment is read, in the engine's row order), and voc_comments and
    comment_themes are made by joining the per-pair results to the responses inside the
    engine, in the same transaction. The stored rows are exactly those of the in-memory
    path (`in_engine` False, and always on a warehouse, where the join is not portable):
    every comment read into pandas, analysed with pipeline.analysed_comments and written
    as Arrow. A store whose commented responses repeat a response_id (whose duplicate
    themes that path drops, keeping the first) also takes the in-memory path.

    Measured on the demo (2 busy cores, README): the 10M-row demo (4.55M comments, 6,815
    distinct texts) is generated, stored and analysed in 92 s of CPU and 1.65 GB peak —
    the themes ≈ 46 s of it and no peak of their own (in memory: 130 s, 5.56 GB); the
    300k-row demo's 137k comments ≈ 10 s of CPU with the models loaded. Raises CxError
    without responses or comments, AccessDenied without the "import" right.
    """
    started = time.perf_counter()
    _writable(store)
    progress(0.0, "reading the comments")
    tax = taxonomy or load_taxonomy(taxonomy_dir(store))
    if in_engine is None:
        in_engine = store.is_embedded
    if in_engine and not store.is_embedded:
        raise CxError("computing the themes in the engine needs the embedded store")
    computed = _computed_in_engine(store, tax, auto_themes, progress) if in_engine else None
    if computed is None:
        computed = _computed_in_memory(store, tax, auto_themes, progress)
    writes, models, n_comments, n_themes = computed
    topic_frames = [topics.model_frames(m) for m in models.values()]
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
    store.apply(
        [
            *writes,
            WriteOp.replace(tables.TOPICS, tables.arrow(tables.TOPICS, topics_df)),
            WriteOp.replace(tables.TOPIC_TERMS, tables.arrow(tables.TOPIC_TERMS, terms_df)),
            *_mask_ops(store),
            _run_op("compute", n_comments, n_themes, tax.digest(), seconds),
            _FILL_LANGUAGE,
        ],
        Commit("themes", details={"mode": "compute", "rows": {
            tables.COMMENTS: n_comments, tables.THEMES: n_themes,
            tables.TOPICS: len(topics_df), tables.TOPIC_TERMS: len(terms_df), tables.RUNS: 1,
        }}),  # the rows written (an insert_select's are not counted by Store.apply)
    )  # fmt: skip
    progress(1.0, f"themes computed for {n_comments:,} comments")
    return VocRun(
        "compute", n_comments, n_themes, 0, round(time.perf_counter() - started, 2)
    )


# What a computation writes: the ops for voc_comments and comment_themes, the automatic
# theme models, and the number of comments and of theme rows.
_Computed = tuple[list[WriteOp], dict[str, topics.TopicModel], int, int]


def _computed_in_memory(
    store: Store, tax: Taxonomy, auto_themes: int, progress: Progress
) -> _Computed:
    """compute_themes with every comment in pandas (any backend)."""
    frame = _frame(_comments(store, store.all_rows))
    result = analysed_comments(
        frame, compiled(tax), None, auto_themes=auto_themes, progress=scaled(progress, 0.05, 0.9)
    )
    progress(0.9, f"storing the results of {len(frame):,} comments")
    writes = [
        WriteOp.replace(tables.COMMENTS, tables.arrow(tables.COMMENTS, result.comments)),
        WriteOp.replace(tables.THEMES, tables.arrow(tables.THEMES, result.themes)),
    ]
    return writes, result.models, len(frame), len(result.themes)


def _computed_in_engine(
    store: Store, tax: Taxonomy, auto_themes: int, progress: Progress
) -> _Computed | None:
    """compute_themes on the embedded store with one row per distinct (comment, stored
    language) pair in memory; None when a response_id repeats among the comments (the
    in-memory path then decides which duplicate theme rows to keep) or, never seen, two
    pairs share a hash."""
    comments = store.backend.compile(_comments(store, store.all_rows))
    # pair_key: the engine's 64-bit hash of the pair; checked to be unique over the pairs
    keyed = f"SELECT *, hash(comment, language) AS pair_key FROM ({comments})"
    cur = store.cursor()
    try:
        unique_ids = cur.execute(
            f"SELECT count(*) = count(DISTINCT response_id) FROM ({comments})"
        ).fetchone()
        if not (unique_ids and unique_ids[0]):
            return None
        # One key per comment, in the row order the in-memory path reads them in (a scan
        # and a filter: DuckDB keeps the insertion order), for the fit's sample.
        read = cur.execute(f"SELECT pair_key FROM ({keyed})").to_arrow_table()
        keys = read.column(0).to_numpy()
        del read
        distinct = cur.execute(
            f"SELECT pair_key, comment, language FROM ({keyed}) GROUP BY ALL"
        ).to_arrow_table()
    finally:
        cur.close()
    rows, order = pd.factorize(keys)  # pairs numbered in order of first appearance
    del keys
    stored_keys = pd.Index(distinct.column("pair_key").to_numpy())
    if not stored_keys.is_unique or len(stored_keys) != len(order):
        return None  # two pairs with one hash
    pairs = _pandas(distinct.take(stored_keys.get_indexer(order)).drop_columns("pair_key"))
    del distinct
    result = analysed_pairs(
        pairs, rows, compiled(tax), None, auto_themes=auto_themes,
        progress=scaled(progress, 0.05, 0.9),
    )  # fmt: skip
    counts = np.bincount(rows, minlength=len(pairs))
    n_comments = len(rows)
    del rows
    n_themes = int(counts[result.themes["pair"].to_numpy(dtype=np.int64)].sum())
    progress(0.9, f"storing the results of {n_comments:,} comments")
    key_type = pa.uint64()
    # the per-pair results as the rows of the tables, less the columns the join adds
    per_pair = tables.arrow(
        tables.COMMENTS, result.pairs.assign(response_id=None, fingerprint=None)
    )
    per_pair = per_pair.drop_columns(["response_id", "fingerprint"]).append_column(
        "pair_key", pa.array(order, key_type)
    )
    theme_rows = tables.arrow(tables.THEMES, result.themes.assign(response_id=None))
    theme_rows = theme_rows.drop_columns("response_id").append_column(
        "pair_key", pa.array(order[result.themes["pair"].to_numpy(dtype=np.int64)], key_type)
    )
    spread = (
        "SELECT c.response_id, c.fingerprint, p.* EXCLUDE (pair_key) "
        f"FROM ({keyed}) AS c JOIN {{rows}} AS p USING (pair_key)"
    )
    writes = [
        WriteOp.replace(tables.COMMENTS, _no_rows(tables.COMMENTS)),
        WriteOp.insert_select(tables.COMMENTS, spread, per_pair),
        WriteOp.replace(tables.THEMES, _no_rows(tables.THEMES)),
        WriteOp.insert_select(tables.THEMES, spread.replace("c.fingerprint, ", ""), theme_rows),
    ]
    return writes, result.models, n_comments, n_themes


def update_themes(store: Store, progress: Progress = silent) -> VocRun:
    """Analyse only the comments without a current result and drop results of responses
    that are gone; the automatic themes stored are kept (new comments are placed on them).
    Without any stored results this is compute_themes."""
    started = time.perf_counter()
    _writable(store)
    if not has_results(store):
        return compute_themes(store, progress)
    progress(0.0, "looking for new or changed comments")
    frame = _frame(_pending(store, store.all_rows))
    stale = _frame(_stale(store, store.all_rows))
    if frame.empty and stale.empty:
        if _masks_missing(store):  # themes stored before the masks existed: derive them now
            store.apply(_mask_ops(store), Commit("themes", details={"mode": "masks"}))
        progress(1.0, "themes are up to date")
        return VocRun("update", 0, 0, 0, round(time.perf_counter() - started, 2))
    tax = load_taxonomy(taxonomy_dir(store))
    models = _stored_models(store)
    result = analysed_comments(frame, compiled(tax), models, progress=scaled(progress, 0.05, 0.9))
    progress(0.9, f"storing the results of {len(frame):,} comments")
    clear = set(stale["response_id"]) | set(frame["response_id"])
    seconds = round(time.perf_counter() - started, 2)
    store.apply(
        [
            WriteOp.delete_ids(tables.COMMENTS, clear),
            WriteOp.delete_ids(tables.THEMES, clear),
            WriteOp.append(tables.COMMENTS, tables.arrow(tables.COMMENTS, result.comments)),
            WriteOp.append(tables.THEMES, tables.arrow(tables.THEMES, result.themes)),
            *_mask_ops(store),
            _run_op("update", len(frame), len(result.themes), tax.digest(), seconds),
            _FILL_LANGUAGE,
        ],
        Commit("themes", details={"mode": "update"}),
    )
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
    store: Store,
    progress: Progress = silent,
    taxonomy: Taxonomy | None = None,
    *,
    in_engine: bool | None = None,
) -> VocRun:
    """Match the (edited) taxonomy against every analysed comment again, in the language it
    was analysed in; automatic themes and everything else stay as they are.

    As in compute_themes, the embedded store (`in_engine` None or True) matches each
    distinct (comment, analysed language) pair once and joins the theme rows to the
    responses inside the engine; `in_engine` False (and a warehouse) reads every analysed
    comment into pandas. Both store the same rows."""
    started = time.perf_counter()
    _writable(store)
    if not has_results(store):
        return compute_themes(store, progress, taxonomy=taxonomy, in_engine=in_engine)
    tax = taxonomy or load_taxonomy(taxonomy_dir(store))
    progress(0.0, "reading the analysed comments")
    c = _comments(store, store.all_rows)
    v = store.all_rows(tables.COMMENTS)
    joined = c.inner_join(v, [c.response_id == v.response_id, c.fingerprint == v.fingerprint])
    joined = joined.select(response_id=c.response_id, comment=c.comment, language=v.language)
    matcher = compiled(tax)
    if in_engine is None:
        in_engine = store.is_embedded
    if in_engine and not store.is_embedded:
        raise CxError("matching the taxonomy in the engine needs the embedded store")
    matched = _rematched_in_engine(store, joined, matcher, progress) if in_engine else None
    if matched is None:
        frame = _frame(joined)
        rows = _taxonomy_rows(frame, matcher, scaled(progress, 0.05, 0.9))
        write = WriteOp.append(tables.THEMES, tables.arrow(tables.THEMES, rows))
        matched = write, len(frame), len(rows)
    write, n_comments, n_themes = matched
    seconds = round(time.perf_counter() - started, 2)
    store.apply(
        [
            WriteOp.delete_where(tables.THEMES, "source", "taxonomy"),
            write,
            *_mask_ops(store),
            _run_op("taxonomy", n_comments, n_themes, tax.digest(), seconds),
        ],
        Commit(
            "themes",
            details={"mode": "taxonomy", "rows": {tables.THEMES: n_themes, tables.RUNS: 1}},
        ),
    )
    progress(1.0, f"taxonomy matched against {n_comments:,} comments")
    return VocRun(
        "taxonomy", n_comments, n_themes, 0, round(time.perf_counter() - started, 2)
    )


def _rematched_in_engine(
    store: Store, joined: ir.Table, matcher: Matcher, progress: Progress
) -> tuple[WriteOp, int, int] | None:
    """rematch_taxonomy's theme rows made in the engine from the distinct (comment,
    language) pairs of `joined` (response_id, comment, language): the insert, the number
    of comments and of theme rows; None if two pairs share a hash (then in memory)."""
    keyed = f"SELECT *, hash(comment, language) AS pair_key FROM ({store.backend.compile(joined)})"
    cur = store.cursor()
    try:
        distinct = cur.execute(
            f"SELECT pair_key, comment, language, count(*) AS n FROM ({keyed}) GROUP BY ALL"
        ).to_arrow_table()
    finally:
        cur.close()
    keys = distinct.column("pair_key").to_numpy()
    if not pd.Index(keys).is_unique:
        return None
    counts = distinct.column("n").to_numpy()
    pairs = _pandas(distinct.select(["comment", "language"]))
    pairs["response_id"] = np.arange(len(pairs))  # one "response" per pair
    found = _taxonomy_rows(pairs, matcher, scaled(progress, 0.05, 0.9))
    pair = found["response_id"].to_numpy(dtype=np.int64)
    themes = tables.arrow(tables.THEMES, found.assign(response_id=None))
    themes = themes.drop_columns("response_id").append_column(
        "pair_key", pa.array(keys[pair], pa.uint64())
    )
    spread = (
        "SELECT c.response_id, p.* EXCLUDE (pair_key) "
        f"FROM ({keyed}) AS c JOIN {{rows}} AS p USING (pair_key)"
    )
    write = WriteOp.insert_select(tables.THEMES, spread, themes)
    return write, int(counts.sum()), int(counts[pair].sum())


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

# responses.language := the analysed language where it is missing or blank (embedded store).
_FILL_LANGUAGE = WriteOp.fill_from(schema.RESPONSES, "language", tables.COMMENTS)


def _no_rows(name: str) -> pa.Table:
    """Table `name` with no rows (created, then filled by an insert_select)."""
    return tables.arrow(name, tables.empty(name))


# BITS numbered from the stored themes: per source (in name order) 62 to a word, each
# source's words starting at its own multiple of 1,000,000 (never shared with another's).
_BITS_SQL = f"""
SELECT source, theme,
  (dense_rank() OVER (ORDER BY source) - 1) * 1000000
    + (row_number() OVER (PARTITION BY source ORDER BY theme) - 1) // {tables.MASK_BITS} AS word,
  (row_number() OVER (PARTITION BY source ORDER BY theme) - 1) % {tables.MASK_BITS} AS bit
FROM (SELECT DISTINCT source, theme FROM "{tables.THEMES}"
      WHERE source IS NOT NULL AND theme IS NOT NULL)
"""
# MASKS: every analysed comment once per word, its themes there as bits (0: none), with its
# language and sentiment. Not grouped per response_id (a hash of every id raised the 10M
# demo's peak memory by ~0.2 GB): a response_id repeated among the comments then has a row
# per comment, and the readers take the theme rows for such a store instead
# (cxdata.voc.masked.comments_unique).
_MASKS_SQL = f"""
WITH hit AS (
  SELECT t.response_id, b.word, bit_or(CAST(1 AS BIGINT) << b.bit) AS mask
  FROM "{tables.THEMES}" AS t JOIN "{tables.BITS}" AS b USING (source, theme)
  GROUP BY t.response_id, b.word)
SELECT c.response_id, w.word, coalesce(hit.mask, 0) AS mask, c.language AS voc_language,
  c.sentiment
FROM "{tables.COMMENTS}" AS c
CROSS JOIN (SELECT DISTINCT word FROM "{tables.BITS}") AS w
LEFT JOIN hit ON hit.response_id = c.response_id AND hit.word = w.word
"""


def _masks_missing(store: Store) -> bool:
    """Whether an embedded store holds themes but not the masks derived from them, or
    masks without the comments' columns (its themes were stored by a release before
    them; key drivers then reads the theme rows, the theme views join the comments)."""
    if not store.is_embedded:
        return False
    if not (store.has(tables.BITS) and store.has(tables.MASKS)):
        return True
    return not set(tables.SCHEMAS[tables.MASKS].names) <= set(store.table(tables.MASKS).columns)


def _mask_ops(store: Store) -> list[WriteOp]:
    """The writes that derive BITS and MASKS from THEMES and COMMENTS as the preceding
    writes of the same Store.apply leave them; none on a warehouse (see cxdata.voc.tables)."""
    if not store.is_embedded:
        return []
    return [
        WriteOp.replace(tables.BITS, _no_rows(tables.BITS)),
        WriteOp.insert_select(tables.BITS, _BITS_SQL, _no_rows(tables.BITS)),
        WriteOp.replace(tables.MASKS, _no_rows(tables.MASKS)),
        WriteOp.insert_select(tables.MASKS, _MASKS_SQL, _no_rows(tables.MASKS)),
    ]


def _run_op(kind: str, comments: int, themes: int, digest: str, seconds: float) -> WriteOp:
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
    return WriteOp.append(tables.RUNS, tables.arrow(tables.RUNS, run))
