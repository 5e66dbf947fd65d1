"""Alert rules (cxdata.notify.config AlertRule) evaluated on one reader's Store.

Every rule looks at a window — the `period_days` days ending on the reader's latest data
day (never after `today`) — inside the rule's scope filters (its `view`), optionally per
value of `by` (each value is a "scope"):

- `kpi_change`: the metric in the window vs the `baseline_days` before it. It fires when
  the change is a worsening (the metric's own direction, cxdata.metrics) larger than
  `threshold` in the metric's unit *with 95% confidence* — the metric's own test, run
  against the threshold instead of zero (beyond_threshold_p); with `by`, after
  Benjamini–Hochberg over every scope tested — and both periods have at least `min_n`
  answers (the volume gate);
- `friction_level`: the friction rate at a touchpoint (each, or the rule's `touchpoint`) in
  the window is above `threshold` % with at least `min_n` answers;
- `metric_target`: the metrics dataset's KPI `metric` in the window misses its target;
- `theme_share`: the share of the analysed comments mentioning `theme` rose by more than
  `threshold` percentage points vs the baseline with 95% confidence (two-proportion z
  against the threshold; with `by`, Benjamini–Hochberg over the scopes), with `min_n`
  analysed comments in each period.

A Finding is one rule × scope that holds now. Whether it is *sent* is send.py's business:
once per rule × scope × reader while it keeps holding (it re-arms when it stops holding),
and never twice for the same window (a re-import of the same data changes nothing).
The Store carries the reader's restriction, so a reader is alerted on what they may see,
with min n applied after their restriction. Never imports streamlit.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from cxdata import catalog, fmt, kpi_metrics, queries, segments, stats
from cxdata.config import Thresholds
from cxdata.filters import Filters
from cxdata.metrics import metric_def
from cxdata.notify.config import AlertRule
from cxdata.notify.digest import view_link
from cxdata.notify.schedule import alert_period
from cxdata.schema import METRICS, RESPONSES
from cxdata.store import Store
from cxdata.urlstate import ViewFilters
from cxdata.voc import impact, persist

ALL_SCOPE = "all"


@dataclass(frozen=True)
class Finding:
    """One rule × scope whose condition holds in the window `period` ("first..last").
    `scope` is "all" or "<dimension>=<value>"; `lines` say what was measured, with n;
    `link` opens the dashboard on the scope and window."""

    rule: str
    kind: str
    scope: str
    period: str
    title: str
    lines: tuple[str, ...]
    link: str


@dataclass(frozen=True)
class Window:
    """The evaluated window and its baseline, with the rule's scope filters."""

    current: Filters
    baseline: Filters
    period: str


def window_of(store: Store, rule: AlertRule, today: dt.date) -> Window | None:
    """The rule's window on `store`'s data (None without dated answers): the
    `period_days` days ending on the latest data day (≤ `today`) and the `baseline_days`
    before them, both with the rule's view filters."""
    span = catalog.date_span(store, METRICS if rule.kind == "metric_target" else RESPONSES)
    if span is None:
        return None
    last = min(span[1], today)
    first = last - dt.timedelta(days=rule.period_days - 1)
    where = ViewFilters.from_params(rule.params, store.dimensions()).dims()
    current = Filters.make(first, last, where)
    baseline = Filters.make(first - dt.timedelta(days=rule.baseline_days),
                            first - dt.timedelta(days=1), where)
    return Window(current, baseline, alert_period(rule, last))


def _scoped(f: Filters, by: str | None, value: str | None) -> Filters:
    if by is None or value is None:
        return f
    return Filters.make(f.start, f.end, {**f.dims(), by: [value]})


def _link(base_url: str, rule: AlertRule, w: Window, by: str | None, value: str | None,
          page: str = "/trends") -> str:
    params: dict[str, list[str]] = {k: list(v) for k, v in rule.params.items()}
    params.update({"period": ["custom"], "from": [str(w.current.start)],
                   "to": [str(w.current.end)]})
    if by and value is not None:
        params[by] = [value]
    if rule.metric and rule.kind == "kpi_change":
        params["metric"] = [rule.metric]
    return view_link(base_url, page, params)


def _scope_name(by: str | None, value: str | None) -> str:
    return ALL_SCOPE if by is None or value is None else f"{by}={value}"


def _where(by: str | None, value: str | None) -> str:
    return "" if by is None or value is None else f" in {fmt.segment_label(by, value)}"


def beyond_threshold_p(change: float, stat: float | None, threshold: float) -> float:
    """One-sided p of "the true |change| exceeds `threshold`": the change's own test
    statistic `stat` (change / SE, from the metric's test: cxdata.metrics) shifted by the
    threshold, z = (|change| − threshold) / SE, and p = P(Z ≥ z). NaN when untested (no
    statistic, or a zero change). Testing against the threshold, not against zero, is what
    keeps repeated evaluations quiet on noise: a change merely "significant" at 95%
    happens by chance once in twenty looks; one beyond the threshold with 95% confidence
    is rare when nothing moved (tests/test_notify_send.py's null simulation)."""
    if stat is None or not np.isfinite(stat) or stat == 0 or not np.isfinite(change):
        return float("nan")
    se = abs(change / stat)
    z = (abs(change) - threshold) / se
    two_sided = float(stats.p_value(z))
    return two_sided / 2 if z > 0 else 1 - two_sided / 2


def _kpi_rows(store: Store, rule: AlertRule, w: Window, th: Thresholds
              ) -> list[tuple[str | None, float, float, float, int, int, float | None]]:
    """(scope value, now, before, change, n now, n before, test statistic) per scope."""
    metric = str(rule.metric)
    current, baseline, value = w.current, w.baseline, None
    if rule.by:
        seen = _values_in(store, w.current, rule.by)
        if len(seen) != 1:
            table = segments.movers(store, w.current, w.baseline, [rule.by], metric, th,
                                    all_tested=True)
            return [(str(r.value), r.now, r.prev, r.change, int(r.n_now), int(r.n_prev),
                     r.stat) for r in table.itertuples()]
        # One value only (the reader's restriction or the view leaves one: a regional
        # lead): movers leaves such a dimension out, so its one scope is tested alone.
        value = seen[0]
        current, baseline = (_scoped(f, rule.by, value) for f in (w.current, w.baseline))
    now, before = queries.kpis(store, current, th), queries.kpis(store, baseline, th)
    c = kpi_metrics.score_change(metric, now, before, th)
    if c.change is None or c.now is None or c.previous is None:
        return []
    return [(value, c.now, c.previous, c.change, c.n_now, c.n_previous, c.stat)]


def _values_in(store: Store, f: Filters, by: str) -> list[str]:
    """The values of `by` with answers inside `f` (as the reader sees them)."""
    counts = queries.breakdown(store, f, [by], metrics=["nps"])
    return [str(v) for v in counts[by]]


def _kpi_change(store: Store, rule: AlertRule, w: Window, th: Thresholds,
                base_url: str) -> list[Finding]:
    metric = str(rule.metric)
    m = metric_def(metric)
    threshold = float(rule.threshold or 0)
    rows = [r for r in _kpi_rows(store, rule, w, th)
            if np.isfinite(r[3]) and min(r[4], r[5]) >= rule.min_n  # the volume gate
            and (r[3] < 0 if m.higher_is_better else r[3] > 0)]  # a worsening
    p = np.array([beyond_threshold_p(r[3], r[6], threshold) for r in rows])
    passed = stats.bh_significant(p) if len(rows) else np.zeros(0, bool)
    out = []
    for (value, now_v, prev_v, change, n_now, n_prev, _), ok in zip(rows, passed, strict=True):
        if not ok:
            continue
        judged = (f"beyond the threshold with 95% confidence "
                  f"{fmt.corrected(len(rows))}" if rule.by else
                  "beyond the threshold with 95% confidence")
        out.append(Finding(
            rule.name, rule.kind, _scope_name(rule.by, value), w.period,
            f"{m.short_label} fell{_where(rule.by, value)}" if m.higher_is_better
            else f"{m.short_label} rose{_where(rule.by, value)}",
            (f"{m.short_label} {fmt.value(metric, now_v)} (n = {n_now:,}) in "
             f"{fmt.date_range(w.current.start, w.current.end)} vs {fmt.value(metric, prev_v)} "
             f"(n = {n_prev:,}) in the {rule.baseline_days} days before: "
             f"{fmt.change(metric, change)}, {judged}",
             f"Rule: a worsening of more than {rule.threshold:g} {m.change_unit}, with "
             f"{rule.min_n}+ answers in each period"),
            _link(base_url, rule, w, rule.by, value)))
    return out


def _friction_level(store: Store, rule: AlertRule, w: Window, th: Thresholds,
                    base_url: str) -> list[Finding]:
    if "touchpoint" not in store.dimensions():
        return []
    keys = ["touchpoint", *([rule.by] if rule.by else [])]
    cells = queries.breakdown(store, w.current, keys, th, metrics=["friction"])
    if rule.touchpoint:
        cells = cells[cells["touchpoint"] == rule.touchpoint]
    out = []
    for _, r in cells.iterrows():
        n, value = int(r["friction_n"]), r["friction"]
        level = float(rule.threshold or 0)
        if n < rule.min_n or value is None or np.isnan(value) or value <= level:
            continue
        by_value = str(r[rule.by]) if rule.by else None
        tp = str(r["touchpoint"])
        scope = f"touchpoint={tp}" + ("" if by_value is None else f";{rule.by}={by_value}")
        out.append(Finding(
            rule.name, rule.kind, scope, w.period,
            f"Friction at {tp}{_where(rule.by, by_value)} above {rule.threshold:g}%",
            ("Friction rate " + fmt.hover_text("friction", value, n, r["friction_ci_low"],
                                                r["friction_ci_high"], low_base=n < th.low_base)
             + f" in {fmt.date_range(w.current.start, w.current.end)}",
             f"Rule: friction above {rule.threshold:g}% with {rule.min_n}+ answers"),
            _link(base_url, rule, w, rule.by, by_value, "/touchpoints")))
    return out


def _metric_target(store: Store, rule: AlertRule, w: Window, base_url: str) -> list[Finding]:
    # the window against itself: its value over all its dates (a comparison would cut
    # the window to as many dates as the baseline has, like with like)
    kpis = kpi_metrics.metric_kpis(store, w.current, w.current)
    hit = [k for k in kpis if k.metric == rule.metric and k.on_target is False]
    return [Finding(
        rule.name, rule.kind, ALL_SCOPE, w.period, f"{k.metric} missed its target",
        (f"{k.metric} {k.value:,.2f} {k.unit} over {k.points} {k.cadence} value(s) in "
         f"{fmt.date_range(w.current.start, w.current.end)}; target {k.target:,.2f}",),
        _link(base_url, rule, w, None, None, "/")) for k in hit if k.value is not None
        and k.target is not None]


def _theme_scopes(store: Store, rule: AlertRule, w: Window, th: Thresholds
                  ) -> list[tuple[str | None, Mapping[str, object]]]:
    values: Sequence[str | None] = [None]
    if rule.by:
        values = catalog.all_dimension_values(store).get(rule.by, [])
    out = []
    for value in values:
        moved = impact.theme_share_changes(store, _scoped(w.current, rule.by, value),
                                           _scoped(w.baseline, rule.by, value), None, th)
        row = moved[moved["theme"] == rule.theme]
        if len(row):
            out.append((value, row.iloc[0].to_dict()))
    return out


def _theme_share(store: Store, rule: AlertRule, w: Window, th: Thresholds,
                 base_url: str) -> list[Finding]:
    if not persist.has_results(store):
        return []
    scopes = [(v, r) for v, r in _theme_scopes(store, rule, w, th)
              if min(int(r["comments"]), int(r["comments_prev"])) >= rule.min_n]
    if not scopes:
        return []
    threshold = float(rule.threshold or 0)
    z = stats.proportion_change_z(*(np.array([float(r[k]) for _, r in scopes]) for k in
                                    ("n", "comments", "n_prev", "comments_prev")))
    p = np.array([beyond_threshold_p(float(r["change"]), float(zi), threshold)
                  if float(r["change"]) > 0 else np.nan for (_, r), zi in zip(scopes, z,
                                                                            strict=True)])
    passed = stats.bh_significant(p)  # over the scopes tested at once
    out = []
    for (value, r), ok in zip(scopes, passed, strict=True):
        change = float(r["change"])
        if not ok:
            continue
        judged = ("beyond the threshold with 95% confidence"
                  + (f" {fmt.corrected(len(scopes))}" if rule.by else ""))
        out.append(Finding(
            rule.name, rule.kind, _scope_name(rule.by, value), w.period,
            f"“{r['label']}” mentioned more often{_where(rule.by, value)}",
            (f"{r['share']:.1f}% of {int(r['comments']):,} analysed comments in "
             f"{fmt.date_range(w.current.start, w.current.end)} vs {r['share_prev']:.1f}% of "
             f"{int(r['comments_prev']):,} in the {rule.baseline_days} days before: "
             f"{change:+.1f} pp, {judged}",
             f"Rule: a rise of more than {rule.threshold:g} pp with {rule.min_n}+ analysed "
             "comments in each period"),
            _link(base_url, rule, w, rule.by, value, "/feedback")))
    return out


def evaluate(
    store: Store, rule: AlertRule, th: Thresholds, base_url: str, today: dt.date
) -> list[Finding]:
    """The findings of `rule` on the reader's `store` now ([] when nothing holds, the
    store has no answers, or the rule's `by` is not a dimension the reader has)."""
    w = window_of(store, rule, today)
    if w is None or (rule.by and rule.by not in store.dimensions()):
        return []
    if rule.kind == "kpi_change":
        return _kpi_change(store, rule, w, th, base_url)
    if rule.kind == "friction_level":
        return _friction_level(store, rule, w, th, base_url)
    if rule.kind == "metric_target":
        return _metric_target(store, rule, w, base_url)
    if rule.kind == "theme_share":
        return _theme_share(store, rule, w, th, base_url)
    raise ValueError(f"unknown alert kind {rule.kind!r}")
