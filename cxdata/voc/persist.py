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
the status readers read through the Store's row restriction (Store.table).
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass

import ibis
import ibis.common.exceptions as ibis_errors
import ibis.expr.types as ir
import pandas as pd

from cxdata import schema
from cxdata.errors import CxError
from cxdata.lake import Commit
from cxdata.store import Store, WriteOp
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


def _frame(expr: ir.Table) -> pd.DataFrame:
    frame = expr.to_pyarrow().to_pandas()
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
    pending = _count(_pending(store, store.table))
    if not computed:
        return VocStatus(False, 0, pending, 0, (), None, True)
    analysed = _count(store.table(tables.COMMENTS))
    stale = _count(_stale(store, store.table))
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
) -> VocRun:
    """Analyse every comment and replace all stored results (automatic themes re-fitted).

    Measured on the 300k-row demo (≈137k comments): ≈ 10 s on 2 cores (bench/)."""
    started = time.perf_counter()
    _writable(store)
    progress(0.0, "reading the comments")
    frame = _frame(_comments(store, store.all_rows))
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
    store.apply(
        [
            WriteOp.replace(tables.COMMENTS, tables.arrow(tables.COMMENTS, result.comments)),
            WriteOp.replace(tables.THEMES, tables.arrow(tables.THEMES, result.themes)),
            WriteOp.replace(tables.TOPICS, tables.arrow(tables.TOPICS, topics_df)),
            WriteOp.replace(tables.TOPIC_TERMS, tables.arrow(tables.TOPIC_TERMS, terms_df)),
            _run_op("compute", len(frame), len(result.themes), tax.digest(), seconds),
            _FILL_LANGUAGE,
        ],
        Commit("themes", details={"mode": "compute"}),
    )
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
    frame = _frame(_pending(store, store.all_rows))
    stale = _frame(_stale(store, store.all_rows))
    if frame.empty and stale.empty:
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
    c = _comments(store, store.all_rows)
    v = store.all_rows(tables.COMMENTS)
    joined = c.inner_join(v, [c.response_id == v.response_id, c.fingerprint == v.fingerprint])
    frame = _frame(joined.select(response_id=c.response_id, comment=c.comment, language=v.language))
    matcher = compiled(tax)
    rows = _taxonomy_rows(frame, matcher, scaled(progress, 0.05, 0.9))
    seconds = round(time.perf_counter() - started, 2)
    store.apply(
        [
            WriteOp.delete_where(tables.THEMES, "source", "taxonomy"),
            WriteOp.append(tables.THEMES, tables.arrow(tables.THEMES, rows)),
            _run_op("taxonomy", len(frame), len(rows), tax.digest(), seconds),
        ],
        Commit("themes", details={"mode": "taxonomy"}),
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

# responses.language := the analysed language where it is missing or blank (embedded store).
_FILL_LANGUAGE = WriteOp.fill_from(schema.RESPONSES, "language", tables.COMMENTS)


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
