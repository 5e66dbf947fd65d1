"""Theme counts read from the stored theme masks: one join instead of two or three.

The theme views (cxdata.voc.impact) count, over the analysed comments C inside the
filters, each theme's mentions and their NPS counts, per group of some keys (a period, a
dimension, the comment's language). Read from the theme rows, that is a join of the
responses with the comments (for C) and a second join with comment_themes (for the
mentions), run once for C's totals and once for the mentions. The embedded store also
keeps every analysed comment's themes as bits of int64 words (cxdata.voc.tables BITS and
MASKS, derived in the same transaction as every write of the theme rows), once per word
even with no theme. So one grouping of the responses ⋈ MASKS by (keys, word, mask, NPS)
gives both: C is the rows of any one word, a theme's mentions the rows of its word whose
mask has its bit. MASKS also holds each comment's analysed language and sentiment, so the
comments are not joined at all. A few thousand groups come back; the themes are counted
from them here.

The counts equal those from the theme rows (tests/test_voc_impact.py runs both): a
comment's theme rows are unique per (theme, source), and a theme row's language is its
comment's analysed language, which is what `theme_language` is read from here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd
import sqlglot.expressions as sge

from cxdata.errors import CxError
from cxdata.metrics import measures_of
from cxdata.store import Store
from cxdata.voc import tables

_GROUP = ("word", "mask")
GROUPING_ID = "_grouping_id"  # a column of the grouped result: never a dimension's name


def comments_unique(store: Store) -> bool:
    """Whether the theme masks are stored and no response_id repeats among the analysed
    comments this Store sees: then each answer has one mask row per word, with its
    comment's language and sentiment. Always so for comments of imported responses (an
    import refuses a repeated id); a store written otherwise may repeat one, and the theme
    views and key drivers then read the theme rows. One COUNT DISTINCT over the comments'
    ids, kept per lake snapshot and restriction."""
    if stored_bits(store) is None:
        return False
    scope = store.read_scope()
    if scope is not None and scope in _UNIQUE:
        return _UNIQUE[scope]
    comments = store.table(tables.COMMENTS)
    got = comments.aggregate(rows=comments.count(), ids=comments.response_id.nunique())
    counted = got.to_pyarrow().to_pylist()[0]
    unique = int(counted["rows"]) == int(counted["ids"])  # (a NULL id: not unique)
    if scope is not None and store.read_scope() == scope:
        if len(_UNIQUE) >= _PER_WORD_KEPT:
            _UNIQUE.clear()
        _UNIQUE[scope] = unique
    return unique


_UNIQUE: dict[tuple[object, ...], bool] = {}  # read scope → comments_unique


def stored_bits(store: Store) -> pd.DataFrame | None:
    """The stored theme numbering (source, theme, word, bit), or None when the masks are
    not stored (a warehouse, or themes stored before the masks) or no theme is."""
    if not (store.is_embedded and store.has(tables.BITS) and store.has(tables.MASKS)):
        return None
    bits = store.small_table(tables.BITS)
    return None if bits.empty else bits


def _measures(df: pd.DataFrame) -> dict[str, np.ndarray]:
    """Per grouped row (n answers with one NPS value): n, the NPS base's counts from the
    metric registry (nps_n, promoters, detractors…), sentiment_n, sentiment_sum."""
    w = pd.to_numeric(df["n"]).to_numpy().astype(np.int64)
    nps = pd.to_numeric(df["nps"]).to_numpy(dtype="float64", na_value=np.nan)
    out: dict[str, np.ndarray] = {
        "n": w,
        "nps_n": np.where(np.isnan(nps), 0, w),
        **{m.name: np.asarray(m.weighted(nps, w)) for m in measures_of("nps")},
    }
    if "sentiment_n" in df.columns:
        out["sentiment_n"] = pd.to_numeric(df["sentiment_n"]).to_numpy().astype(np.int64)
        out["sentiment_sum"] = pd.to_numeric(df["sentiment_sum"]).fillna(0).to_numpy("float64")
    return out


def mask_counts(
    store: Store, base: ir.Table, keys: Sequence[str], words: Sequence[int]
) -> pd.DataFrame:
    """The analysed answers of `base` per (keys, word, mask) for the mask words `words`:
    n, nps_n and the NPS base's counts (metric registry), sentiment_n and sentiment_sum
    when `base` has a sentiment column. `base`: one row per (answer, mask word) with
    response_id, nps, word and mask (cxdata.voc.impact.counted_rows); every other column
    than those and sentiment is a dimension, `keys` some of them: give only the columns to
    count by (a timestamp would be a group per answer). Rows in no particular order.
    KeyError when a key is not a dimension of `base`.

    Each word's rows are counted apart from the others', so they are kept per word, per
    lake snapshot, per rows counted (the compiled SQL of `base`: its filters and the
    restriction) and per keys; a later call asks the engine only for the words it lacks.
    When it asks, it also counts the same words per each other dimension column of `base`
    alone, in the same query (one join): the Themes view gives its taxonomy fit, its
    ranking, its trend and its matrix one base (cxdata.voc.impact.counted_rows) with the
    language, the period and the matrix's dimension, so the join of the answers with
    ~9M mask rows (at 10M answers) runs once for all four."""
    dims = _dimensions(base, keys)
    asked = tuple(keys)
    scope = store.read_scope()
    if scope is None:
        return _counted(store, base, [asked], words)[0]
    rows = _rows_key(scope, base)
    missing = [int(w) for w in words if (*rows, asked, int(w)) not in _PER_WORD]
    if missing:
        sets = [asked, *((d,) for d in dims if (d,) != asked)]
        fresh = _counted(store, base, sets, missing)
        if store.read_scope() != scope:  # a write landed meanwhile: never mix two snapshots
            return _counted(store, base, [asked], words)[0]
        if len(_PER_WORD) + len(missing) * len(sets) > _PER_WORD_KEPT:
            _PER_WORD.clear()
        for key_set, counts in zip(sets, fresh, strict=True):
            for w in missing:
                part = counts[counts["word"] == w].reset_index(drop=True)
                _PER_WORD[(*rows, key_set, w)] = part
    kept = _kept(rows, asked, words)
    if kept is None:  # emptied by another session meanwhile
        return _counted(store, base, [asked], words)[0]
    return kept


_PER_WORD: dict[tuple[object, ...], pd.DataFrame] = {}  # (scope, rows, keys, word) → counts
_PER_WORD_KEPT = 512  # entries of a few hundred rows each


def kept_counts(
    store: Store, base: ir.Table, keys: Sequence[str], words: Sequence[int]
) -> pd.DataFrame | None:
    """mask_counts if every word's counts are kept already (for this snapshot, these rows
    and keys), else None without asking the engine: for a reader that has a cheaper
    query of its own than counting every dimension of `base`."""
    _dimensions(base, keys)
    scope = store.read_scope()
    return None if scope is None else _kept(_rows_key(scope, base), tuple(keys), words)


def _kept(
    rows: tuple[object, ...], keys: tuple[str, ...], words: Sequence[int]
) -> pd.DataFrame | None:
    """The kept counts of `words` for these rows and keys, or None if any is missing."""
    parts = [_PER_WORD.get((*rows, keys, int(w))) for w in words]
    if not parts or any(p is None for p in parts):
        return None
    return pd.concat(parts, ignore_index=True)


def _dimensions(base: ir.Table, keys: Sequence[str]) -> list[str]:
    """The columns of `base` mask_counts groups by: all but response_id, nps, sentiment.
    KeyError when a key is not one of them."""
    dims = [c for c in base.columns if c not in ("response_id", "nps", "sentiment", *_GROUP)]
    unknown = [k for k in keys if k not in dims]
    if unknown:
        raise KeyError(f"keys not in the counted rows: {unknown}")
    return dims


def _rows_key(scope: tuple[object, ...], base: ir.Table) -> tuple[object, ...]:
    """The part of a kept entry's key that names the rows counted and what is counted."""
    registry = tuple(m.name for m in measures_of("nps"))  # the count columns kept
    return (*scope, ibis.to_sql(base, dialect="duckdb"), registry)


def _counted(
    store: Store, base: ir.Table, key_sets: Sequence[Sequence[str]], words: Sequence[int]
) -> list[pd.DataFrame]:
    """mask_counts from the engine, one frame per key set of `key_sets`: `base`'s rows of
    `words`, one grouping per key set (by NPS value too, collapsed here). Several key sets
    are one GROUPING SETS query (only the embedded DuckDB stores masks)."""
    joined = base.filter(base.word.isin([int(w) for w in words]))
    aggs: dict[str, ir.Value] = {"n": joined.count()}
    if "sentiment" in base.columns:
        aggs |= {"sentiment_n": joined.sentiment.count(),
                 "sentiment_sum": joined.sentiment.sum()}
    if len(key_sets) == 1:
        return [_collapsed(joined.group_by([*key_sets[0], *_GROUP, "nps"]).aggregate(
            **aggs).to_pandas(), key_sets[0])]
    dims = list(dict.fromkeys(k for ks in key_sets for k in ks))
    grouped = joined.group_by([*dims, *_GROUP, "nps"]).aggregate(**aggs)
    sql = _grouping_sets(store.backend.compiler.to_sqlglot(grouped), dims, key_sets)
    df = store.backend.con.execute(sql.sql(dialect="duckdb")).to_arrow_table().to_pandas()
    # bit len(dims)-1-i of GROUPING_ID is set when dimension i is not grouped
    ids = [sum(1 << (len(dims) - 1 - i) for i, d in enumerate(dims) if d not in ks)
           for ks in key_sets]
    marks = df[GROUPING_ID].to_numpy()
    return [_collapsed(df[marks == g].reset_index(drop=True), list(ks))
            for g, ks in zip(ids, key_sets, strict=True)]


def _grouping_sets(
    tree: sge.Expr, dims: Sequence[str], key_sets: Sequence[Sequence[str]]
) -> sge.Expr:
    """The compiled GROUP BY (dims…, word, mask, nps) of _counted as GROUPING SETS, one
    per key set with word, mask and nps, and its GROUPING_ID over the dims as GROUPING_ID:
    Ibis cannot express grouping sets. Only Ibis's own expressions are reused, so names
    and filter values reach the SQL as Ibis quoted them. ValueError when the tree is not
    the shape this expects."""
    if not isinstance(tree, sge.Select) or not isinstance(tree.args.get("group"), sge.Group):
        raise ValueError("not the grouped SELECT Ibis compiled when this was written")
    named = {e.alias_or_name: (e.this if isinstance(e, sge.Alias) else e)
             for e in tree.expressions}
    if any(c not in named for c in (*dims, *_GROUP, "nps")):
        raise ValueError("a grouping column is missing from the compiled SELECT")
    always = [named[c] for c in (*_GROUP, "nps")]
    sets = sge.GroupingSets(expressions=[
        sge.Tuple(expressions=[e.copy() for e in (*(named[k] for k in ks), *always)])
        for ks in key_sets
    ])
    marker = sge.GroupingId(expressions=[named[d].copy() for d in dims])
    tree.set("expressions", [*tree.expressions, sge.alias_(marker, GROUPING_ID, quoted=True)])
    tree.set("group", sge.Group(grouping_sets=[sets]))
    return tree


def _collapsed(df: pd.DataFrame, keys: Sequence[str]) -> pd.DataFrame:
    """Grouped rows per (keys, word, mask, NPS value) → per (keys, word, mask), with the
    NPS base's counts."""
    values = _measures(df)
    parts = pd.DataFrame({**{k: df[k] for k in (*keys, *_GROUP)}, **values})
    return parts.groupby([*keys, *_GROUP], sort=False, dropna=False, as_index=False)[
        list(values)].sum()


def theme_counts(
    store: Store,
    base: ir.Table,
    keys: Sequence[str],
    source: str | None,
    themes: Sequence[str] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame] | None:
    """(totals, per theme) counts of `base` — the analysed answers with their masks
    (response_id, nps, word, mask, the dimension columns, `keys` among them, and sentiment
    when it is to be summed: mask_counts, cxdata.voc.impact.counted_rows):
    totals has one row per group of `keys` (n, nps_n, promoters, detractors, …), per
    theme one row per (theme, source, keys) with at least one mention, the same columns.
    `source` limits the themes to one source (None: all), `themes` to those names. Key
    values come back as the engine gives them (missing: None / NaN). None when the masks
    are not stored: then read the theme rows (cxdata.voc.impact)."""
    return one_snapshot(store, lambda: _theme_counts(store, base, keys, source, themes))


T = TypeVar("T")


def one_snapshot(store: Store, read: Callable[[], T]) -> T:
    """read() — which reads the theme numbering (stored_bits) and counts made with it —
    run again while a write lands between its first and last read, so a numbering is never
    paired with another snapshot's masks. CxError after three tries."""
    for _ in range(3):
        scope = store.read_scope()
        got = read()
        if scope is None or store.read_scope() == scope:
            return got
    raise CxError("the themes kept changing while they were counted: try again")


def _theme_counts(
    store: Store,
    base: ir.Table,
    keys: Sequence[str],
    source: str | None,
    themes: Sequence[str] | None,
) -> tuple[pd.DataFrame, pd.DataFrame] | None:
    """theme_counts from the numbering and the counts as read now."""
    bits = stored_bits(store)
    if bits is None:
        return None
    chosen = bits if source is None else bits[bits["source"] == source]
    if themes is not None:
        chosen = chosen[chosen["theme"].isin(list(themes))]
    # every analysed comment has a row in every word: count C in one the themes need anyway
    total_word = int((chosen if len(chosen) else bits)["word"].min())
    words = sorted({total_word, *(int(w) for w in chosen["word"])})
    per = mask_counts(store, base, keys, words)
    names = [c for c in per.columns if c not in (*keys, *_GROUP)]
    word = per["word"].to_numpy(dtype=np.int64)
    mask = per["mask"].to_numpy(dtype=np.int64)
    codes = (per.groupby(list(keys), sort=False, dropna=False).ngroup().to_numpy()
             if keys else np.zeros(len(per), dtype=np.intp))
    first = (per[list(keys)].drop_duplicates().reset_index(drop=True)
             if keys else pd.DataFrame(index=[0]))
    size = len(first)
    arrays = {c: per[c].to_numpy() for c in names}

    def summed(rows: np.ndarray) -> dict[str, np.ndarray]:
        return {
            c: np.bincount(codes[rows], weights=a[rows].astype("float64"), minlength=size)
            for c, a in arrays.items()
        }

    def typed(frame: pd.DataFrame) -> pd.DataFrame:
        ints = [c for c in names if c != "sentiment_sum"]
        return frame.assign(**{c: np.rint(frame[c]).astype("int64") for c in ints})

    totals = typed(pd.concat([first, pd.DataFrame(summed(word == total_word))], axis=1))
    blocks = [_block(first.iloc[:0], {c: np.zeros(0) for c in names}, None, None)]
    for row in chosen.itertuples(index=False):
        hit = (word == int(row.word)) & (((mask >> int(row.bit)) & 1) == 1)
        if hit.any():
            block = _block(first, summed(hit), row.theme, row.source)
            blocks.append(block[block["n"] > 0])
    per_theme = typed(pd.concat(blocks, ignore_index=True))
    return totals.reset_index(drop=True), per_theme


def _block(
    groups: pd.DataFrame, counts: dict[str, np.ndarray], theme: object, source: object
) -> pd.DataFrame:
    """One theme's counts per group (`groups`: the key values, one row per group)."""
    block = pd.concat([groups.reset_index(drop=True), pd.DataFrame(counts)], axis=1)
    kind = "str" if theme is None else "object"  # an empty result typed as the engine's
    block.insert(0, "source", pd.Series([source] * len(block), dtype=kind))
    block.insert(0, "theme", pd.Series([theme] * len(block), dtype=kind))
    return block
