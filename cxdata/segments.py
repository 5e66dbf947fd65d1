"""Each segment vs the rest: is a segment's score different from everyone else's?

For one dimension, the engine returns the count columns per value (one grouped query).
The rest of a segment is the total minus the segment, so the rest's counts are exact
without another query; scores and CIs then come from scores.score_frame and the test from
the metric's family in the registry (cxdata.metrics.compare, DESIGN §4): NPS t-test,
two-proportion z for shares, Welch t for the CES mean.

Each row's own test is significant at 95% when |t| > 1.96 (`significant_unadjusted`). A
table tests every segment at once, so some of those would be noise: `significant` is the
answer after correcting for the `comparisons` tests of the table with Benjamini–Hochberg at
a 5% false discovery rate (correct_for_comparisons). No test is run when either side is low
base or suppressed (significant and p_value are NA then), as for period changes.

Small groups stay hidden by subtraction too (secondary_suppression below): the overall score
is on every page and the rest is the total minus the segment, so a row whose segment or
rest is under min_n shows neither side, and when the hidden rows alone would be one small
group, the next-smallest segment is hidden as well (`hidden`: "would reveal a small group").
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import ibis
import ibis.expr.operations as ops
import ibis.expr.types as ir
import numpy as np
import pandas as pd

from cxdata import config, schema, stats
from cxdata.config import Thresholds
from cxdata.filters import NOT_SET, Filters, in_either_period
from cxdata.metrics import (
    compare,
    count_columns,
    counts_needed,
    metric_def,
    metrics_on,
    sum_columns,
)
from cxdata.queries import _check_dims, _shaped_query, breakdown, responses, run_compiled
from cxdata.scores import (
    FAMILIES,
    count_aggregates,
    counts_frame,
    execute_counts,
    metric_columns,
    score_frame,
)
from cxdata.store import Store

RESULT_COLUMNS: tuple[str, ...] = (
    "segment", "responses", "value", "ci_low", "ci_high", "n", "low_base", "suppressed",
    "rest_value", "rest_n", "rest_low_base", "rest_suppressed", "difference", "stat",
    "p_value", "significant", "significant_unadjusted", "comparisons", "hidden",
)  # fmt: skip


def correct_for_comparisons(table: pd.DataFrame, q: float = stats.FDR_Q) -> pd.DataFrame:
    """`table` (one row per test, with a `p_value` column: two-sided, NaN = not tested)
    with `significant` set to the Benjamini–Hochberg answer over all its tested rows at
    false discovery rate `q` (stats.bh_significant; NA where not tested) and `comparisons`
    (int, the same on every row) the number of tests corrected for. Other columns, and the
    per-test answer in `significant_unadjusted`, are left as they are."""
    out = table.copy()
    p = out["p_value"].to_numpy(dtype="float64", na_value=np.nan)
    tested = ~np.isnan(p)
    significant = pd.array(stats.bh_significant(p, q), dtype="boolean")
    significant[~tested] = pd.NA
    out["significant"] = significant
    out["comparisons"] = np.full(len(out), int(tested.sum()), dtype="int64")
    return out


# --- secondary (complementary) cell suppression -----------------------------------------


def secondary_suppression(
    members: np.ndarray,
    n: np.ndarray,
    min_n: int,
    *,
    total_shown: bool = True,
    shown_elsewhere: np.ndarray | None = None,
    withheld_elsewhere: np.ndarray | None = None,
) -> np.ndarray:
    """Which groups to withhold so that no group of fewer than `min_n` answers can be worked
    out from the figures shown — by subtraction or any other linear combination.

    `members` (groups × parts, bool) says which disjoint parts (the finest cells, e.g. the
    deepest level of a drilldown) each shown group is made of; `n` is each part's number of
    answers (a metric's n). A group's figure (score × n = the sum of its answers) is a
    linear function of its parts' sums; the grand total (the overall score, shown on every
    page when `total_shown`) is one more. Returns a bool per group: True = withhold.

    Primary suppression: a group with 0 < n < min_n ("n too small"). Secondary
    (complementary) suppression: the classic threat is subtraction — the total minus the
    shown parts gives the one hidden part, and the "rest" of a segment (total − segment)
    gives the segment back. The rule: group the parts by the set of shown figures that
    contain them ("blocks"). Every figure one can compute from the shown ones is a sum of
    whole blocks, so when every block that some shown figure covers has 0 or ≥ min_n answers,
    no group under min_n can be derived. While a block is smaller, the smallest shown group
    whose removal merges that block with another is withheld too ("the next-smallest
    part"); so a single hidden part never stands alone, and hidden parts together reach
    min_n (two hidden parts of 1 and 2 answers would otherwise be a derivable group of 3).
    Groups with identical parts share their fate; parts with n = 0 reveal nothing. The
    block condition is sufficient, not necessary: exact for one table with its total and
    for a hierarchy (drilldown), it can hide more than the least needed when tables cross
    (a segment table of a lower level beside the drilldown).

    `shown_elsewhere` / `withheld_elsewhere` mark groups whose status another view fixes
    (a theme's overall NPS in the ranking): they are known resp. hidden, never changed.

    Source: complementary ("secondary") cell suppression in statistical disclosure control
    — Hundepool, Domingo-Ferrer, Franconi, Giessing, Schulte Nordholt, Spicer & de Wolf,
    *Statistical Disclosure Control* (Wiley, 2012), the chapters on tabular data: after
    primary suppression of sensitive cells, further cells are suppressed so that the
    sensitive ones cannot be recalculated from the published margins and cells. The greedy
    "smallest next cell" choice is a heuristic, not the optimal (least-loss) pattern.
    """
    members = np.asarray(members, dtype=bool)
    n = np.asarray(n, dtype="int64")
    groups = members.shape[0]
    active = n > 0
    m = members[:, active]
    part_n = n[active]
    group_n = m.astype("int64") @ part_n
    fixed_shown = np.zeros(groups, bool) if shown_elsewhere is None else shown_elsewhere.copy()
    fixed_hidden = (
        np.zeros(groups, bool) if withheld_elsewhere is None else withheld_elsewhere.copy()
    )
    hidden = ((group_n > 0) & (group_n < min_n) & ~fixed_shown) | fixed_hidden
    if groups == 0 or m.shape[1] == 0:
        return hidden
    _, same = np.unique(m, axis=0, return_inverse=True)
    same = same.reshape(-1)
    hidden = (np.isin(same, same[hidden]) & ~fixed_shown) | fixed_hidden
    while True:
        shown = np.flatnonzero(~hidden & (group_n > 0))
        rows = m[shown]
        lead = 1 if total_shown else 0
        if total_shown:
            rows = np.vstack([np.ones((1, m.shape[1]), bool), rows])
        if rows.shape[0] == 0:
            return hidden
        patterns, block = np.unique(rows.T, axis=0, return_inverse=True)
        block_n = np.bincount(block.reshape(-1), weights=part_n, minlength=len(patterns))
        small = patterns.any(axis=1) & (block_n > 0) & (block_n < min_n)
        if not small.any():
            return hidden
        worst = np.flatnonzero(small)[np.argmin(block_n[small])]
        pick = _merging_group(patterns, block_n, worst, shown, lead, group_n, fixed_shown)
        if pick is None:
            return hidden  # only groups fixed elsewhere are left: nothing more to withhold
        hidden |= (same == same[pick]) & ~fixed_shown


def _merging_group(
    patterns: np.ndarray,
    block_n: np.ndarray,
    worst: int,
    shown: np.ndarray,
    lead: int,
    group_n: np.ndarray,
    fixed: np.ndarray,
) -> int | None:
    """The shown group to withhold next for the too-small block `worst`: the smallest whose
    removal merges the block with another non-empty one; else the smallest that contains
    it; else the smallest shown group (None when every shown group is fixed)."""
    existing = {p.tobytes() for p, size in zip(patterns, block_n, strict=True) if size > 0}
    pattern = patterns[worst]
    merging, containing = [], []
    for k, group in enumerate(shown):
        if fixed[group]:
            continue
        flipped = pattern.copy()
        flipped[lead + k] = not flipped[lead + k]
        if flipped.tobytes() in existing:
            merging.append(group)
        if pattern[lead + k]:
            containing.append(group)
    pool = merging or containing or [g for g in shown if not fixed[g]]
    if not pool:
        return None
    return min(pool, key=lambda g: (group_n[g], g))


def withhold_segments(table: pd.DataFrame, values: frozenset[str] | set[str]) -> pd.DataFrame:
    """A segment_vs_rest frame with the rows of `values` withheld: value, CI, rest value,
    rest n, difference and test blanked (the segment's own n and answers stay, as for
    "n too small"); `hidden` marks rows withheld although the segment is not under min_n.
    The multiple-comparison correction is then redone over the rows still tested, so
    `comparisons` counts the tests shown (correct_for_comparisons)."""
    out = table.copy()
    rows = out["segment"].isin(values).to_numpy()
    if not rows.any():
        return correct_for_comparisons(out)
    for col in ("value", "ci_low", "ci_high", "rest_value", "difference", "stat", "p_value"):
        out.loc[rows, col] = np.nan
    out["rest_n"] = out["rest_n"].astype("Int64")
    out.loc[rows, "rest_n"] = pd.NA
    out.loc[rows, ["significant", "significant_unadjusted"]] = pd.NA
    out["hidden"] = out["hidden"].to_numpy(bool) | (rows & ~out["suppressed"].to_numpy(bool))
    return correct_for_comparisons(out)


@dataclass(frozen=True)
class Protection:
    """What a page of linked tables withholds for one metric: drilldown node ids and, per
    dimension of the path, the segment values of its segment-vs-rest table (primary and
    secondary suppression together)."""

    nodes: frozenset[str] = frozenset()
    segments: Mapping[str, frozenset[str]] = field(default_factory=dict)


def linked_protection(
    nodes: pd.DataFrame, path: Sequence[str], metric: str, th: Thresholds | None = None
) -> Protection:
    """Secondary suppression over every table of the Segments page at once: the drilldown
    `nodes` (queries.drilldown over `path`; each parent is the sum of its children, the root
    is the overall score) and the segment-vs-rest table of each dimension of the path
    (segment and rest). Protecting each table alone is not enough — a parent shown in the
    drilldown minus a sibling shown in a segment table can give a hidden cell — so all
    groups are written over the deepest level's cells and secondary_suppression runs once.
    A group hidden here is hidden in every table where it appears."""
    th = th or config.thresholds()
    m = metric_def(metric)
    path = list(path)
    leaves = nodes[nodes["level"] == len(path)]
    keys = leaves[path].astype(str).to_numpy()
    leaf_n = leaves[m.n].to_numpy(dtype="int64")
    node_keys = nodes[path].astype(str).to_numpy()
    levels = nodes["level"].to_numpy(dtype="int64")
    members = [
        (keys[:, :depth] == node_keys[i, :depth]).all(axis=1) for i, depth in enumerate(levels)
    ]
    owners: list[tuple[str, str]] = []  # (dimension, value) of each segment group
    for i, dim in enumerate(path):
        for value in sorted(set(keys[:, i])):
            members.append(keys[:, i] == value)
            owners.append((dim, value))
    withheld = secondary_suppression(
        np.array(members, dtype=bool).reshape(-1, len(leaf_n)),
        leaf_n,
        th.min_n,
        total_shown=leaf_n.sum() >= th.min_n,
    )
    hidden_nodes = frozenset(nodes["id"].astype(str).to_numpy()[withheld[: len(nodes)]])
    by_dim: dict[str, set[str]] = {dim: set() for dim in path}
    for (dim, value), hide in zip(owners, withheld[len(nodes) :], strict=True):
        if hide:
            by_dim[dim].add(value)
    return Protection(hidden_nodes, {dim: frozenset(v) for dim, v in by_dim.items()})


def withhold_nodes(
    nodes: pd.DataFrame, metric: str, ids: frozenset[str] | set[str]
) -> pd.DataFrame:
    """Drilldown `nodes` with the scores of `metric`'s family (values and CIs of every
    metric on the same n) blanked for the node `ids`; `hidden` marks the nodes withheld
    although their own n is not too small (secondary suppression)."""
    m = metric_def(metric)
    out = nodes.copy()
    rows = out["id"].astype(str).isin(ids).to_numpy()
    for other in metrics_on(m.base.name):
        for col in other.columns:
            if col in out.columns:
                out.loc[rows, col] = np.nan
    out["hidden"] = rows & ~out[m.base.suppressed].to_numpy(bool)
    return out


def rest_counts(groups: pd.DataFrame) -> pd.DataFrame:
    """For each group row, the count columns of all *other* rows (total − the row)."""
    cols = [c for c in count_columns() if c in groups.columns]
    total = groups[cols].sum()
    rest = pd.DataFrame(
        total.to_numpy() - groups[cols].to_numpy(), columns=cols, index=groups.index
    )
    for col in cols:
        rest[col] = rest[col].astype(groups[col].dtype)
    return rest


def segment_vs_rest(
    store: Store,
    filters: Filters,
    dim: str,
    metric: str = "nps",
    th: Thresholds | None = None,
) -> pd.DataFrame:
    """One row per value of `dim` (largest first): the segment's score with CI and n, the
    rest's score and n, the difference (segment − rest, in the metric's unit), the test
    statistic, its two-sided p_value, and whether the difference is significant after
    correcting for the `comparisons` segments tested (Benjamini–Hochberg, 5% false
    discovery rate; NA: not tested) — `significant_unadjusted` is the row's own 95% test.

    Rows that secondary_suppression withholds (the segment or its rest under min_n, or
    hidden to protect another row) have no value, CI, rest value, rest n, difference or
    test; `hidden` is True for those whose own n is not too small."""
    metric_def(metric)
    th = th or config.thresholds()
    groups = breakdown(store, filters, [dim], th)
    if groups.empty:
        return pd.DataFrame(columns=list(RESULT_COLUMNS))
    seg_view = metric_columns(groups, metric)
    rest = score_frame(rest_counts(groups), th)
    rest_view = metric_columns(rest, metric)
    test = compare(metric, groups, rest, th)
    seg_n = seg_view["n"].to_numpy(dtype="int64")
    withheld = secondary_suppression(
        np.eye(len(seg_n), dtype=bool), seg_n, th.min_n, total_shown=seg_n.sum() >= th.min_n
    )
    table = pd.DataFrame(
        {
            "segment": groups[dim].astype(str),
            "responses": groups["responses"].astype("int64"),
            "value": seg_view["value"],
            "ci_low": seg_view["ci_low"],
            "ci_high": seg_view["ci_high"],
            "n": seg_view["n"].astype("int64"),
            "low_base": seg_view["low_base"].astype(bool),
            "suppressed": seg_view["suppressed"].astype(bool),
            "rest_value": rest_view["value"],
            "rest_n": rest_view["n"].astype("int64"),
            "rest_low_base": rest_view["low_base"].astype(bool),
            "rest_suppressed": rest_view["suppressed"].astype(bool),
            "difference": test.difference,
            "stat": test.stat,
            "p_value": test.p_value,
            "significant": test.significant,  # corrected below, once withheld rows are out
            "significant_unadjusted": test.significant,
            "comparisons": 0,
            "hidden": False,
        }
    ).reset_index(drop=True)
    return withhold_segments(table, set(table.loc[withheld, "segment"]))


# --- movers: segments whose score changed significantly between two periods -------------

MOVER_COLUMNS: tuple[str, ...] = (
    "dimension",
    "value",
    "now",
    "prev",
    "change",
    "n_now",
    "n_prev",
    "stat",
    "p_value",
    "significant",
    "significant_unadjusted",
    "comparisons",
)


def _wanted_counts(columns: Sequence[str] | None) -> list[str]:
    """`responses` and the count columns asked for (all when None), responses first."""
    asked = count_columns() if columns is None else columns
    return ["responses", *[c for c in asked if c != "responses"]]


def _zero_filled(counts: pd.DataFrame) -> pd.DataFrame:
    """`counts` with every count column: those not asked for are zero (their scores are
    unused)."""
    sums = sum_columns()
    for col in count_columns():
        if col not in counts.columns:
            counts[col] = 0.0 if col in sums else 0
    return counts


def period_counts(
    store: Store,
    current: Filters,
    previous: Filters,
    dims: Sequence[str],
    columns: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Count columns per (dimension, value, period) for both periods and every dimension,
    in ONE pushed-down query; `period` is "now" or "prev", missing values are NOT_SET.

    When both periods share their dimension filters (the dashboard's case), each dimension
    is one GROUP BY (period, value) over the rows of either period — on the embedded store
    one GROUPING SETS scan, elsewhere combined with UNION ALL; otherwise each period is its
    own branch. Only `columns` (default: every count column) and responses are computed.
    Rows come in no particular order. Raises UnknownName for an unknown dimension.
    """
    # imported here: this module's import block is others' to edit
    import pyarrow as pa
    import sqlglot.expressions as sge

    from cxdata.queries import _shaped_sql

    _check_dims(store, dims)
    if not dims:
        return pd.DataFrame(columns=["dimension", "value", "period", *count_columns()])
    wanted = _wanted_counts(columns)

    bases = tuple(b for b in FAMILIES if set(count_columns((b,))[1:]) & set(wanted))

    def counted(t: ir.Table) -> dict[str, ir.Value]:
        return {k: v for k, v in count_aggregates(t, bases).items() if k in wanted}

    def narrow(t: ir.Table) -> ir.Table:
        # Only the columns the counts read: DuckDB materialises the rows shared by every
        # dimension's GROUP BY, and the free-text comment is most of a row's bytes.
        used = {f.name for v in counted(t).values() for f in v.op().find(ops.Field)}
        return t.select(*(c for c in t.columns if c in {*used, *dims, schema.time_column(t)}))

    def build(s: Store, current: Filters, previous: Filters) -> ir.Table:
        parts = []
        if current.where == previous.where:
            base = narrow(responses(s, Filters(where=current.where)))
            t = in_either_period(base, current, previous)
            aggs = counted(t)
            for dim in dims:
                key = t[dim].fill_null(NOT_SET).cast("string").name("value")
                parts.append(
                    t.group_by([t.period, key])
                    .aggregate(**aggs)
                    .mutate(dimension=ibis.literal(dim))
                )
        else:
            for label, filters in (("now", current), ("prev", previous)):
                t = narrow(responses(s, filters))
                aggs = counted(t)
                for dim in dims:
                    key = t[dim].fill_null(NOT_SET).cast("string").name("value")
                    parts.append(
                        t.group_by(key)
                        .aggregate(**aggs)
                        .mutate(dimension=ibis.literal(dim), period=ibis.literal(label))
                    )
        return ibis.union(*parts, distinct=False)

    class NotGroupingSets(Exception):
        pass

    def build_wide(s: Store, current: Filters, previous: Filters) -> ir.Table:
        # one GROUP BY (period, every dimension's value); `grouping_sets` turns it into
        # the per-dimension GROUPING SETS, which Ibis cannot express
        base = narrow(responses(s, Filters(where=current.where)))
        t = in_either_period(base, current, previous)
        keys = [t[d].fill_null(NOT_SET).cast("string").name(f"_v{i}") for i, d in enumerate(dims)]
        return t.group_by([t.period, *keys]).aggregate(**counted(t))

    def grouping_sets(tree: sge.Expr) -> sge.Expr:
        # SELECT period, COALESCE(v0…vn) AS value, <aggregates>, GROUPING_ID(v0…vn) AS _set
        # FROM <Ibis's filtered rows> GROUP BY GROUPING SETS ((period, v0), …, (period, vn)).
        # In dimension i's set only vi is grouped (never NULL: NULL is NOT_SET already), the
        # others are NULL, so the COALESCE is vi. Only Ibis's own expressions are reused:
        # the dimension names reach the SQL as Ibis quoted them, values only as parameters.
        names = [f"_v{i}" for i in range(len(dims))]
        if not isinstance(tree, sge.Select) or not isinstance(tree.args.get("group"), sge.Group):
            raise NotGroupingSets  # not the SQL Ibis compiled when this was written
        period, *rest = tree.expressions
        projected, aggregates = rest[: len(dims)], rest[len(dims) :]
        if period.alias_or_name != "period" or [p.alias_or_name for p in projected] != names:
            raise NotGroupingSets
        keys = [p.this if isinstance(p, sge.Alias) else p for p in projected]
        value = sge.Coalesce(this=keys[0].copy(), expressions=[k.copy() for k in keys[1:]])
        marker = sge.GroupingId(expressions=[k.copy() for k in keys])
        sets = sge.GroupingSets(
            expressions=[sge.Tuple(expressions=[period.copy(), k.copy()]) for k in keys]
        )
        tree.set(
            "expressions",
            [
                period,
                sge.alias_(value, "value", quoted=True),
                *aggregates,
                sge.alias_(marker, "_set", quoted=True),
            ],
        )
        tree.set("group", sge.Group(grouping_sets=[sets]))
        return tree

    # the keys as Python strings: movers and explain filter and merge this small frame
    # several times, and each step on Arrow-backed strings costs more than on objects
    keys = ("dimension", "value", "period")
    # One scan with GROUPING SETS instead of a UNION ALL of one GROUP BY per dimension
    # (~4x less CPU at 10M rows), for the usual case of both periods on the same rows;
    # GROUPING_ID is a bit mask, so at most 62 dimensions.
    shaped = None
    if current.where == previous.where and len(set(dims)) == len(dims) <= 62:
        shape = ("period_counts", "grouping sets", tuple(dims), tuple(wanted))
        try:
            shaped = _shaped_sql(store, shape, build_wide, current, previous, rewrite=grouping_sets)
        except NotGroupingSets:
            shaped = None  # (the union below gives the same counts)
    if shaped is not None:
        compiled, params = shaped
        result = run_compiled(store, compiled, params)
        # the types of the union's columns: the keys' and counts' Ibis types
        wide = compiled.schema
        columns = ["period", "value", *wide.names[1 + len(dims) :]]
        typed = pa.schema(
            [("value", wide.field("_v0").type) if c == "value" else wide.field(c) for c in columns]
        )
        frame = result.select(columns).cast(typed).to_pandas()
        # bit n-1-i of GROUPING_ID is set for each dimension i not grouped: all but one
        full = (1 << len(dims)) - 1
        position = {full ^ (1 << (len(dims) - 1 - i)): i for i in range(len(dims))}
        marks = result.column("_set").to_numpy()
        frame["dimension"] = np.asarray(dims, dtype=object)[[position[int(m)] for m in marks]]
    else:
        shape = ("period_counts", tuple(dims), tuple(wanted))
        frame = _shaped_query(store, shape, build, current, previous)
    counts = counts_frame(frame, keys)
    return _zero_filled(counts)


DRILL_PATH: tuple[str, ...] = ("country", "region", "plan")  # the Segments page's default


def default_drill_path(dims: Sequence[str]) -> list[str]:
    """The default drilldown path: country → region → plan where the data has them, else
    its first two dimensions (`dims` in display order)."""
    path = [d for d in DRILL_PATH if d in dims]
    return path or list(dims[:2])


MOVER_MAX_VALUES = 50  # dimensions with more values (ids, cities…) are too noisy for movers


def mover_dimensions(
    dims: Sequence[str], cardinality: Mapping[str, int], filters: Filters
) -> list[str]:
    """The dimensions worth testing for movers, in the order of `dims`: 2…MOVER_MAX_VALUES
    distinct values (`cardinality`: dimension → values, as catalog.all_dimension_values
    counts them) and not filtered to one value in `filters` (its one segment is the whole
    selection; movers also drops a dimension the row restriction leaves with one value)."""
    single = {d for d, values in filters.where if len(values) == 1}
    return [d for d in dims if 1 < cardinality.get(d, 0) <= MOVER_MAX_VALUES and d not in single]


def movers(
    store: Store,
    current: Filters,
    previous: Filters,
    dims: Sequence[str],
    metric: str = "nps",
    th: Thresholds | None = None,
    all_tested: bool = False,
) -> pd.DataFrame:
    """Segments (dimension, value) whose `metric` changed significantly from `previous` to
    `current`, largest absolute change first — the tests of queries.compare for each
    dimension, from one query, corrected for being run at once: a change is significant
    when it passes Benjamini–Hochberg at a 5% false discovery rate over the `comparisons`
    segments tested across all `dims` (correct_for_comparisons; p_value is the two-sided
    p of `stat`, significant_unadjusted the segment's own 95% test). Only the significant
    rows are returned unless `all_tested` (then every tested segment). Segments that are
    low base or suppressed in either period are not tested. A dimension with one value in
    the current period (filtered or restricted to it: "Plan: Premium" while Plan = Premium
    is selected) is left out — its one segment is the whole selection, not a mover.

    attrs: "comparisons" (the number of tests, also when no row is returned) and
    "significant_unadjusted" (how many passed their own 95% test)."""
    metric_def(metric)
    th = th or config.thresholds()
    counts = period_counts(store, current, previous, dims, counts_needed(metric))
    if counts.empty:
        return _no_movers()
    now_at, prev_at = _segments_in_both(counts)
    cols = [c for c in count_columns() if c in counts.columns]
    arrays = {c: counts[c].to_numpy() for c in cols}
    a = {c: v[now_at] for c, v in arrays.items()}
    b = {c: v[prev_at] for c, v in arrays.items()}
    change = compare(metric, a, b, th)
    n = metric_def(metric).n
    out = pd.DataFrame(
        {
            "dimension": counts["dimension"].to_numpy(object)[now_at].astype(str),
            "value": counts["value"].to_numpy(object)[now_at].astype(str),
            "now": change.value_a,
            "prev": change.value_b,
            "change": change.difference,
            "n_now": a[n].astype("int64"),
            "n_prev": b[n].astype("int64"),
            "stat": change.stat,
            "p_value": change.p_value,
            "significant": change.significant,
            "significant_unadjusted": change.significant,
            "comparisons": 0,
        }
    )
    out = correct_for_comparisons(out)
    tested = out["p_value"].notna().to_numpy()
    keep = tested if all_tested else out["significant"].fillna(False).to_numpy(bool)
    unadjusted = int(out["significant_unadjusted"].fillna(False).to_numpy(bool).sum())
    comparisons = int(tested.sum())
    out = out[keep]
    order = out["change"].abs().sort_values(ascending=False, kind="stable").index
    out = out.loc[order].reset_index(drop=True)
    out.attrs.update(comparisons=comparisons, significant_unadjusted=unadjusted)
    return out


def _segments_in_both(counts: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Row positions in `counts` (period_counts' rows) of each segment tested for movers, in
    the current and in the previous period, aligned: a segment answered in both periods,
    not NOT_SET, of a dimension with more than one value now (NOT_SET counts as a value).
    Plain dicts, not a merge: a few hundred rows, read on every filter change."""
    period = counts["period"].to_numpy(object)
    dims = counts["dimension"].to_numpy(object)
    values = counts["value"].to_numpy(object)
    prev = {(dims[i], values[i]): i for i in np.flatnonzero(period == "prev")}
    now = np.flatnonzero(period == "now")
    several = Counter(dims[i] for i in now)  # one row per (dimension, value) and period
    pairs = [
        (i, prev[(dims[i], values[i])])
        for i in now
        if several[dims[i]] > 1 and values[i] != NOT_SET and (dims[i], values[i]) in prev
    ]
    return (np.array([p[0] for p in pairs], dtype=np.intp),
            np.array([p[1] for p in pairs], dtype=np.intp))  # fmt: skip


def _no_movers() -> pd.DataFrame:
    """An empty movers frame: nothing was tested."""
    out = pd.DataFrame(columns=list(MOVER_COLUMNS))
    out.attrs.update(comparisons=0, significant_unadjusted=0)
    return out


def period_cell_counts(
    store: Store,
    current: Filters,
    previous: Filters,
    dims: Sequence[str],
    columns: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Count columns per cell of the cross-classification by `dims` (usually two) and
    period, for both periods in ONE pushed-down query: one row per (period, value of each
    dim) present in the data, with `period` ("now" / "prev"), one string column per
    dimension (missing values NOT_SET) and the count columns. Only `columns` (default:
    every count column) and responses are computed; the others are zero. The sibling of
    period_counts, which groups by one dimension at a time. Raises UnknownName for an
    unknown dimension."""
    _check_dims(store, dims)
    wanted = _wanted_counts(columns)
    parts = []
    if current.where == previous.where:
        base = responses(store, Filters(where=current.where))
        t = in_either_period(base, current, previous)
        keys = [t.period, *[t[d].cast("string").name(d) for d in dims]]
        aggs = {k: v for k, v in count_aggregates(t).items() if k in wanted}
        parts.append(t.group_by(keys).aggregate(**aggs))
    else:
        for label, filters in (("now", current), ("prev", previous)):
            t = responses(store, filters)
            aggs = {k: v for k, v in count_aggregates(t).items() if k in wanted}
            keys = [t[d].cast("string").name(d) for d in dims]
            parts.append(t.group_by(keys).aggregate(**aggs).mutate(period=ibis.literal(label)))
    expr = parts[0] if len(parts) == 1 else ibis.union(*parts, distinct=False)
    counts = execute_counts(expr, dims)
    return _zero_filled(counts)
