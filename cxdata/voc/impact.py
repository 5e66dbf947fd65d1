"""How much each theme moves NPS: volume, share, NPS with vs without, significance.

The base is the analysed comments of the responses inside the filters (and the store's
row restriction): C = responses with a comment that has results. For a theme T:

    n            = responses in C whose comment mentions T
    share        = 100 · n / |C|                                          (%)
    NPS_with     = 100 · (P − D) / N over the mentions with an NPS answer   (points)
    NPS_without  = the same over C minus the mentions                       (points)
    impact       = NPS_with − NPS_without                                   (points)
    t            = (NPS₁ − NPS₂)/√(Var₁/N₁ + Var₂/N₂), NPS as proportions,
                   Var = p + d − (p − d)²   (the NPS family, cxdata.metrics)
    p_value      = two-sided normal p of t; tested only when both sides have N ≥ low_base
                   (else NaN, and the significance columns NA)
    significant_unadjusted = |t| > 1.96: the theme's own test at 95%
    significant  = Benjamini–Hochberg at a 5% false discovery rate over the `comparisons`
                   themes tested at once (segments.correct_for_comparisons)

An NPS computed on fewer than min_n answers is suppressed (NaN, with its N kept). With and
without are the two parts of C, and C's NPS follows from any theme showing both, so a theme
with either side under min_n shows neither (`hidden` when its own side is large enough);
a theme's trend points and touchpoint cells are parts of its mentions, protected the same
way against the theme's NPS in the ranking (segments.secondary_suppression).
Everything is aggregated in the engine. On the embedded store one grouped query over
responses ⋈ the stored theme masks gives both the base and the mentions (cxdata.voc.masked);
elsewhere one grouped query over responses ⋈ comment_themes and one total over the base.
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd

from cxdata import config, schema, stats
from cxdata.config import Thresholds
from cxdata.errors import NoData, UnknownName
from cxdata.filters import NOT_SET, Filters
from cxdata.metrics import compare, score
from cxdata.queries import GRAINS, responses
from cxdata.scores import count_aggregates
from cxdata.segments import correct_for_comparisons, secondary_suppression
from cxdata.store import Store
from cxdata.voc import masked, tables
from cxdata.voc.catalogue import label_of, theme_labels
from cxdata.voc.language import language_name
from cxdata.voc.sentiment import LEXICONS, NOT_AVAILABLE

SOURCES: tuple[str, ...] = tables.SOURCES
_COUNTS = ("n", "nps_n", "promoters", "detractors", "sentiment_n", "sentiment_sum")


def _th(th: Thresholds | None) -> Thresholds:
    return th or config.thresholds()


def _check_source(source: str | None) -> None:
    if source is not None and source not in SOURCES:
        raise UnknownName("theme source", source, SOURCES)


def analysed(store: Store, filters: Filters) -> ir.Table:
    """The base C: responses inside `filters` whose comment was analysed, with
    response_id, submitted_at, nps, touchpoint (when present), sentiment and the analysed
    language (`voc_language`)."""
    t = responses(store, filters)
    t = t.select(
        "response_id", "submitted_at", "nps", *(["touchpoint"] if "touchpoint" in t.columns else [])
    )
    return _with_comments(store, t)


def _with_comments(store: Store, t: ir.Table) -> ir.Table:
    """`t` (with response_id) ⋈ the analysed comments: their sentiment and voc_language.
    NoData when no themes are computed."""
    if not store.has(tables.COMMENTS):
        raise NoData(
            "no themes computed yet: run `python -m cxdata themes --rebuild` or "
            "press “Compute themes” on the Feedback page"
        )
    v = store.table(tables.COMMENTS).select(
        response_id="response_id", sentiment="sentiment", voc_language="language"
    )
    return t.inner_join(v, "response_id")


# Columns of counted_rows besides the dimension a theme matrix is drawn by.
_COUNTED = ("response_id", "nps", "sentiment", "voc_language", "period", "word", "mask")
_RESERVED = (*_COUNTED, masked.GROUPING_ID)  # names a matrix's dimension cannot take here


def counted_rows(
    store: Store, filters: Filters, grain: str = "month", by: str | None = "touchpoint"
) -> ir.Table | None:
    """The analysed comments inside `filters` with their stored theme masks, as
    cxdata.voc.masked counts them: one row per (answer, mask word) with response_id, nps,
    sentiment, voc_language, period (first day of the `grain`: a GRAINS key), word, mask
    and `by` (a dimension; left out when None, when the responses lack it or when it is
    one of those names). None when the masks are not stored or a response_id repeats
    among the comments (masked.comments_unique): read the theme rows. The
    Themes view's fit, ranking, trend and matrix all count these rows with the defaults,
    so the first of them counts every column in one join and the others reuse its counts.
    NoData as `analysed`."""
    if not masked.comments_unique(store):  # no masks, or a response_id repeats
        analysed(store, filters)  # NoData when nothing was computed yet
        return None
    t = responses(store, filters)
    dim = [by] if by is not None and by in t.columns and by not in _RESERVED else []
    t = t.select(
        "response_id", "nps", schema.period_start(t, GRAINS[grain]).name("period"), *dim)
    masks = store.table(tables.MASKS)
    if not {"voc_language", "sentiment"} <= set(masks.columns):  # derived before them
        t = _with_comments(store, t)
        masks = masks.select("response_id", "word", "mask")
    return t.inner_join(masks, "response_id").select(*_COUNTED, *dim)


def mentions(store: Store, filters: Filters, source: str | None = None) -> ir.Table:
    """C ⋈ comment_themes: one row per (response, theme) with theme, source and
    theme_language, plus the columns of `analysed`."""
    _check_source(source)
    base = analysed(store, filters)
    ct = store.table(tables.THEMES)
    if source is not None:
        ct = ct.filter(ct.source == source)
    ct = ct.select("response_id", "theme", "source", theme_language="language")
    return base.inner_join(ct, "response_id")


def _aggregates(t: ir.Table) -> dict[str, ir.Value]:
    """The counts every result is made from: mentions, the NPS base's counts (from the
    metric registry) and the sentiment sum."""
    nps = {k: v for k, v in count_aggregates(t, ("nps",)).items() if k != "responses"}
    return {
        "n": t.count(),
        **nps,
        "sentiment_n": t.sentiment.count(),
        "sentiment_sum": t.sentiment.sum(),
    }


def _counts(expr: ir.Table, keys: list[str]) -> pd.DataFrame:
    return _typed(expr.to_pandas(), keys)


def _over_sources(per_theme: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """masked.theme_counts' per (theme, source, …) counts summed per `keys` (theme and
    the view's key): a theme name in both sources counts once per source, as it does when
    read from the theme rows."""
    return per_theme.groupby(keys, as_index=False)[
        [c for c in _COUNTS if c in per_theme.columns]].sum()


def _typed(df: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Counts as int64 (sentiment_sum float64; missing → 0), `keys` as objects with
    NOT_SET for a missing value."""
    for col in _COUNTS:
        if col in df.columns:
            df[col] = (
                pd.to_numeric(df[col])
                .fillna(0)
                .astype("float64" if col == "sentiment_sum" else "int64")
            )
    for key in keys:
        df[key] = df[key].astype("object").where(df[key].notna(), NOT_SET)
    return df


def _nps_columns(
    p: np.ndarray, d: np.ndarray, n: np.ndarray, th: Thresholds, suffix: str
) -> dict[str, np.ndarray]:
    """NPS and its CI (the registry's NPS family), suppressed below min_n."""
    value, low, high = score("nps", {"promoters": p, "detractors": d, "nps_n": n})
    small = n < th.min_n
    return {
        f"nps_{suffix}": np.where(small, np.nan, value),
        f"nps_{suffix}_ci_low": np.where(small, np.nan, low),
        f"nps_{suffix}_ci_high": np.where(small, np.nan, high),
    }


def _share_and_nps_with(cells: pd.DataFrame, th: Thresholds) -> pd.DataFrame:
    """Theme cells (n, comments, nps_n, promoters, detractors) with share (% of the
    comments mentioning the theme), nps_n renamed nps_n_with, suppressed (nps_n_with below
    min_n) and nps_with (NaN when suppressed) added. The share is a number on the cell's
    comments like any other: NaN with share_suppressed when they are fewer than min_n,
    share_low_base when fewer than low_base."""
    small = cells["comments"] < th.min_n
    out = cells.assign(
        share=np.where(small, np.nan, stats.share_pct(cells["n"], cells["comments"])),
        share_suppressed=small,
        share_low_base=~small & (cells["comments"] < th.low_base),
    )
    out = out.rename(columns={"nps_n": "nps_n_with"})
    value = score("nps", out.rename(columns={"nps_n_with": "nps_n"}))[0]
    out["suppressed"] = out["nps_n_with"] < th.min_n
    out["nps_with"] = np.where(out["suppressed"], np.nan, value)
    return out


def _with_without_withheld(with_n: np.ndarray, without_n: np.ndarray, th: Thresholds) -> np.ndarray:
    """Per theme: whether NPS with and without are both withheld — either side has
    0 < n < min_n, and the other side plus the NPS of all analysed comments would give it
    (secondary_suppression over the two parts of C)."""
    total_shown = bool(len(with_n)) and int(with_n[0] + without_n[0]) >= th.min_n
    return np.array(
        [
            secondary_suppression(
                np.eye(2, dtype=bool), np.array([w, o]), th.min_n, total_shown=total_shown
            ).any()
            for w, o in zip(with_n, without_n, strict=True)
        ],
        dtype=bool,
    )


def _protect_parts(out: pd.DataFrame, comments_nps_n: int, th: Thresholds) -> pd.DataFrame:
    """Theme cells (trend periods or touchpoints: for each theme they partition its
    mentions) with nps_with withheld where the theme's NPS in the ranking, its complement
    in C and the other shown cells would give a cell under min_n; `hidden` marks cells
    withheld although their own n is not too small."""
    out = out.reset_index(drop=True)
    withheld = np.zeros(len(out), dtype=bool)
    for _, rows in out.groupby("theme", sort=False).groups.items():
        idx = np.asarray(rows)
        n = out.loc[idx, "nps_n_with"].to_numpy(dtype="int64")
        with_n = int(n.sum())
        without_n = comments_nps_n - with_n
        ranked_withheld = _with_without_withheld(np.array([with_n]), np.array([without_n]), th)
        in_ranking = with_n >= th.min_n and not ranked_withheld[0]
        k = len(n)
        members = np.zeros((k + 2, k + 1), dtype=bool)
        members[np.arange(k), np.arange(k)] = True  # each cell
        members[k, :k] = True  # the theme: all its cells
        members[k + 1, k] = True  # the rest of C
        known = np.zeros(k + 2, dtype=bool)
        known[k] = known[k + 1] = in_ranking
        hidden = secondary_suppression(
            members,
            np.append(n, without_n),
            th.min_n,
            total_shown=comments_nps_n >= th.min_n,
            shown_elsewhere=known,
            withheld_elsewhere=np.append(np.zeros(k, dtype=bool), [not in_ranking] * 2),
        )
        withheld[idx] = hidden[:k]
    out.loc[withheld, "nps_with"] = np.nan
    out["hidden"] = withheld & ~out["suppressed"].to_numpy(dtype=bool)
    return out


def _sentiment_mean(total: np.ndarray, n: np.ndarray) -> np.ndarray:
    """Mean lexicon sentiment over the comments that have one; NaN (shown "n/a") when none
    has a lexicon score — never 0."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, total / np.where(n > 0, n, 1), np.nan)


def theme_impact(
    store: Store,
    filters: Filters,
    source: str | None = None,
    th: Thresholds | None = None,
) -> pd.DataFrame:
    """One row per theme (largest first): theme, label, source, languages (codes with a
    mention), n, comments (|C|), share, nps_n_with, promoters_with, detractors_with,
    nps_with (+ CI), nps_n_without, nps_without (+ CI), nps_impact, t, p_value (two-sided,
    NaN = not tested), significant (after correcting for the `comparisons` themes tested:
    Benjamini–Hochberg at a 5% false discovery rate; True / False / NA = not tested),
    significant_unadjusted (the theme's own 95% test), comparisons (int, the same on every
    row), low_base, suppressed (a side under min_n), hidden (NPS with withheld only so that
    a small "without" cannot be derived), sentiment_n, sentiment_mean."""
    th = _th(th)
    _check_source(source)
    rows = counted_rows(store, filters)
    found = None if rows is None else masked.theme_counts(store, rows, ["voc_language"], source)
    if found is None:
        base = analysed(store, filters)
        total = _counts(base.aggregate(**_aggregates(base)), []).iloc[0]
        m = mentions(store, filters, source)
        grouped = _counts(
            m.group_by(["theme", "source", "theme_language"]).aggregate(**_aggregates(m)),
            ["theme_language"],
        )
    else:
        total = found[0][list(_COUNTS)].sum()
        grouped = _typed(found[1].rename(columns={"voc_language": "theme_language"}),
                         ["theme_language"])
    if grouped.empty:
        return _empty_impact()
    per_theme = grouped.groupby(["theme", "source"], as_index=False)[list(_COUNTS)].sum()
    langs = (
        grouped[grouped["theme_language"] != NOT_SET]
        .groupby("theme")["theme_language"]
        .agg(lambda s: sorted(set(s)))
    )
    out = pd.DataFrame({"theme": per_theme["theme"], "source": per_theme["source"]})
    labels = theme_labels(store)
    out.insert(1, "label", [label_of(t, labels) for t in out["theme"]])
    out["languages"] = [langs.get(t, []) for t in out["theme"]]
    n = per_theme["n"].to_numpy()
    out["n"] = n
    out["comments"] = int(total["n"])
    out["share"] = stats.share_pct(n, total["n"])
    pw, dw, nw = (per_theme[c].to_numpy() for c in ("promoters", "detractors", "nps_n"))
    po, do, no = (total["promoters"] - pw, total["detractors"] - dw, total["nps_n"] - nw)
    out["nps_n_with"], out["promoters_with"], out["detractors_with"] = nw, pw, dw
    for col, values in _nps_columns(pw, dw, nw, th, "with").items():
        out[col] = values
    out["nps_n_without"] = no
    for col, values in _nps_columns(po, do, no, th, "without").items():
        out[col] = values
    out["nps_impact"] = out["nps_with"] - out["nps_without"]
    with_theme = {"promoters": pw, "detractors": dw, "nps_n": nw}
    test = compare("nps", with_theme, {"promoters": po, "detractors": do, "nps_n": no}, th)
    tested = ~test.significant.isna()
    out["t"] = test.stat
    out["p_value"] = test.p_value
    out["significant"] = test.significant
    out["significant_unadjusted"] = test.significant
    withheld = _with_without_withheld(nw, no, th)
    for col in ("nps_with", "nps_with_ci_low", "nps_with_ci_high", "nps_without",
                "nps_without_ci_low", "nps_without_ci_high", "nps_impact", "t",
                "p_value"):  # fmt: skip
        out[col] = np.where(withheld, np.nan, out[col])
    out.loc[withheld, ["significant", "significant_unadjusted"]] = pd.NA
    out = correct_for_comparisons(out)  # every theme shown is tested at once
    out["suppressed"] = (nw < th.min_n) | (no < th.min_n)
    out["hidden"] = withheld & (nw >= th.min_n)
    out["low_base"] = ~out["suppressed"] & ~tested
    out["sentiment_n"] = per_theme["sentiment_n"].to_numpy()
    out["sentiment_mean"] = _sentiment_mean(
        per_theme["sentiment_sum"].to_numpy(), out["sentiment_n"].to_numpy()
    )
    return out.sort_values(["n", "theme"], ascending=[False, True], ignore_index=True)


def theme_share_changes(
    store: Store,
    current: Filters,
    previous: Filters,
    source: str | None = "taxonomy",
    th: Thresholds | None = None,
) -> pd.DataFrame:
    """How each theme's share of the analysed comments moved from `previous` to `current`,
    largest absolute move first: theme, label, n, comments, share, n_prev, comments_prev,
    share_prev, change (percentage points), p_value (two-sided, of the two-proportion z,
    stats.proportion_change_z; NaN = not tested), significant (Benjamini–Hochberg at a 5%
    false discovery rate over the `comparisons` themes tested; NA = not tested),
    significant_unadjusted, comparisons. A period with fewer than min_n analysed comments
    has no shares (NaN: too few to say what share mentions a theme); one under low_base
    is not tested. Empty when neither period has a theme of `source`."""
    th = _th(th)
    now, before = (theme_impact(store, f, source, th) for f in (current, previous))
    cols = ["theme", "label", "n", "comments"]
    if now.empty and before.empty:
        return pd.DataFrame(columns=[*cols, "share", "n_prev", "comments_prev", "share_prev",
                                     "change", "p_value", "significant",
                                     "significant_unadjusted", "comparisons"])
    prev = before[cols].rename(columns={"n": "n_prev", "comments": "comments_prev"})
    out = now[cols].merge(prev, on=["theme", "label"], how="outer")
    out["comments"] = int(now["comments"].iloc[0]) if len(now) else 0
    out["comments_prev"] = int(before["comments"].iloc[0]) if len(before) else 0
    out[["n", "n_prev"]] = out[["n", "n_prev"]].fillna(0).astype("int64")
    for share, n, total in (("share", "n", "comments"), ("share_prev", "n_prev", "comments_prev")):
        out[share] = np.where(out[total] >= th.min_n, stats.share_pct(out[n], out[total]), np.nan)
    out["change"] = out["share"] - out["share_prev"]
    testable = (out["comments"] >= th.low_base) & (out["comments_prev"] >= th.low_base)
    z = stats.proportion_change_z(out["n"], out["comments"], out["n_prev"], out["comments_prev"])
    out["p_value"] = np.where(testable, stats.p_value(z), np.nan)
    out["significant_unadjusted"] = pd.array(
        np.where(testable, stats.is_significant(z), False), dtype="boolean")
    out.loc[~testable, "significant_unadjusted"] = pd.NA
    out = correct_for_comparisons(out)
    order = out["change"].abs().fillna(-1.0)
    return out.assign(_o=order).sort_values(["_o", "theme"], ascending=[False, True]).drop(
        columns="_o").reset_index(drop=True)


def _empty_impact() -> pd.DataFrame:
    cols = [
        "theme",
        "label",
        "source",
        "languages",
        "n",
        "comments",
        "share",
        "nps_n_with",
        "promoters_with",
        "detractors_with",
        "nps_with",
        "nps_with_ci_low",
        "nps_with_ci_high",
        "nps_n_without",
        "nps_without",
        "nps_without_ci_low",
        "nps_without_ci_high",
        "nps_impact",
        "t",
        "p_value",
        "significant",
        "significant_unadjusted",
        "comparisons",
        "suppressed",
        "hidden",
        "low_base",
        "sentiment_n",
        "sentiment_mean",
    ]
    return pd.DataFrame({c: pd.Series(dtype="object") for c in cols})


def ranked_by_impact(impact: pd.DataFrame) -> pd.DataFrame:
    """Themes ordered by NPS impact, most negative first; suppressed ones last."""
    return impact.sort_values(
        ["suppressed", "nps_impact", "n"],
        ascending=[True, True, False],
        na_position="last",
        ignore_index=True,
    )


def theme_trend(
    store: Store,
    filters: Filters,
    grain: str = "month",
    themes: list[str] | None = None,
    source: str | None = None,
    th: Thresholds | None = None,
) -> pd.DataFrame:
    """Per period (first day of the day/week/month/quarter) and theme: n mentions,
    comments (|C| in the period), share (%; NaN with share_suppressed when the period has
    fewer than min_n comments, share_low_base under low_base), nps_n_with and nps_with
    (suppressed below min_n, or withheld so that the theme's NPS in the ranking minus the
    other periods cannot give a small one: `hidden`). Periods where a theme is not
    mentioned have n = 0."""
    if grain not in GRAINS:
        raise UnknownName("granularity", grain, GRAINS)
    th = _th(th)
    _check_source(source)
    rows = counted_rows(store, filters, grain)
    found = None if rows is None else masked.theme_counts(store, rows, ["period"], source, themes)
    if found is None:
        base = analysed(store, filters)
        period = schema.period_start(base, GRAINS[grain]).name("period")
        totals = _counts(base.group_by(period).aggregate(**_aggregates(base)), [])
        m = mentions(store, filters, source)
        if themes is not None:
            m = m.filter(m.theme.isin(list(themes)) if themes else ibis.literal(False))
        mp = schema.period_start(m, GRAINS[grain]).name("period")
        grouped = _counts(m.group_by([mp, m.theme]).aggregate(**_aggregates(m)), [])
    else:
        totals, grouped = found[0], _over_sources(found[1], ["period", "theme"])
    for frame in (totals, grouped):
        frame["period"] = pd.to_datetime(frame["period"]).dt.tz_localize(None)
    names = sorted(grouped["theme"].unique()) if themes is None else list(themes)
    grid = pd.MultiIndex.from_product(
        [pd.DatetimeIndex(totals["period"]).sort_values(), names], names=["period", "theme"]
    ).to_frame(index=False)
    out = grid.merge(
        grouped[["period", "theme", "n", "nps_n", "promoters", "detractors"]],
        on=["period", "theme"],
        how="left",
    ).fillna({"n": 0, "nps_n": 0, "promoters": 0, "detractors": 0})
    out = out.merge(totals[["period", "n"]].rename(columns={"n": "comments"}), on="period")
    for col in ("n", "nps_n", "promoters", "detractors", "comments"):
        out[col] = out[col].astype("int64")
    labels = theme_labels(store)
    out.insert(2, "label", [label_of(t, labels) for t in out["theme"]])
    out = _protect_parts(_share_and_nps_with(out, th), int(totals["nps_n"].sum()), th)
    return out.drop(columns=["promoters", "detractors"]).sort_values(
        ["theme", "period"], ignore_index=True
    )


# Names a theme matrix's dimension cannot take: the counts, the cells' columns and the
# columns the counting reads.
_MATRIX_NAMES = frozenset({
    *_COUNTS, *_RESERVED, "theme", "label", "source", "comments", "share", "share_suppressed",
    "share_low_base", "nps_n_with", "nps_with", "suppressed", "hidden", "promoters",
    "detractors",
})


def theme_matrix(
    store: Store,
    filters: Filters,
    by: str = "touchpoint",
    source: str | None = None,
    th: Thresholds | None = None,
) -> pd.DataFrame:
    """Theme × `by` (default touchpoint) cells: n mentions, comments (|C| in the column
    value), share (% of that value's comments mentioning the theme; suppressed and flagged
    as in theme_trend: share_suppressed, share_low_base), nps_n_with, nps_with
    (suppressed below min_n, or withheld as in theme_trend: `hidden`). Missing values of
    `by` show as NOT_SET. UnknownName for a `by` that is not a dimension or is named like
    one of the matrix's own columns (its cells would be mixed up with the counts)."""
    allowed = [d for d in store.dimensions() if d not in _MATRIX_NAMES]
    if by not in allowed:
        raise UnknownName("dimension for a theme matrix", by, allowed)
    th = _th(th)
    _check_source(source)
    t = responses(store, filters)
    rows = counted_rows(store, filters, by=by)
    found = None if rows is None else masked.theme_counts(store, rows, [by], source)
    if found is None:
        v = store.table(tables.COMMENTS).select("response_id")
        base = t.inner_join(v, "response_id").select("response_id", "nps", by)
        base = base.mutate(sentiment=ibis.null().cast("float64"))
        totals = _counts(base.group_by(by).aggregate(**_aggregates(base)), [by])
        ct = store.table(tables.THEMES)
        if source is not None:
            ct = ct.filter(ct.source == source)
        m = base.inner_join(ct.select("response_id", "theme"), "response_id")
        grouped = _counts(m.group_by(["theme", by]).aggregate(**_aggregates(m)), [by])
    else:
        totals = _typed(found[0], [by])
        grouped = _over_sources(_typed(found[1], [by]), ["theme", by])
    out = grouped.merge(totals[[by, "n"]].rename(columns={"n": "comments"}), on=by)
    # in a fixed order: the protection breaks ties between equal cells by their order
    out = out.sort_values(["theme", by], ignore_index=True)
    labels = theme_labels(store)
    out.insert(1, "label", [label_of(x, labels) for x in out["theme"]])
    out = _protect_parts(_share_and_nps_with(out, th), int(totals["nps_n"].sum()), th)
    keep = [
        "theme", "label", by, "n", "comments", "share", "share_suppressed", "share_low_base",
        "nps_n_with", "nps_with", "suppressed", "hidden",
    ]  # fmt: skip
    return out[keep].sort_values(["theme", by], ignore_index=True)


def voc_languages(store: Store, filters: Filters) -> pd.DataFrame:
    """Per analysed language inside `filters`: comments, the lexicon used for sentiment
    ("n/a" when the language has none), sentiment_n and sentiment_mean (NaN without a
    lexicon — never 0). Largest first; comments without a language show as NOT_SET."""
    base = analysed(store, filters)
    df = _counts(
        base.group_by("voc_language").aggregate(
            n=base.count(), sentiment_n=base.sentiment.count(), sentiment_sum=base.sentiment.sum()
        ),
        ["voc_language"],
    )
    out = pd.DataFrame(
        {
            "language": df["voc_language"],
            "name": [language_name(None if c == NOT_SET else c) for c in df["voc_language"]],
            "comments": df["n"],
            "lexicon": [LEXICONS.get(c, NOT_AVAILABLE) for c in df["voc_language"]],
            "sentiment_n": df["sentiment_n"],
            "sentiment_mean": _sentiment_mean(
                df["sentiment_sum"].to_numpy(), df["sentiment_n"].to_numpy()
            ),
        }
    )
    return out.sort_values(["comments", "language"], ascending=[False, True], ignore_index=True)
