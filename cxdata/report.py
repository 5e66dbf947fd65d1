"""The board report: one dashboard view (a URL) as a self-contained HTML page, and a PDF.

`view_report(store, page, params, …)` resolves the view exactly as the dashboard and the
digests do (cxdata.notify.digest.resolved_view / view_digest) on the reader's own Store —
so every number is computed under their row restriction, with min n applied after it —
and writes what that page shows, as values with their n:

- always: the title, the period and filters in words, the comparison, the KPI tiles and
  what is withheld for a low base (the digest's tiles, cxdata.notify.render's wording);
- Overview: operational KPIs, biggest movers, friction hot spots, themes moved and NPS
  per month (the digest's sections);
- Trends: the trend of the view's metric / grain / split and its numbers;
- Touchpoints: the heatmap of touchpoint × the view's columns and its cells;
- Segments: the drilldown chart and each segment vs the rest;
- Feedback: the themes' NPS impact, chart and table;
- at the end, the definitions (from the metric registry where it has them).

The HTML (template `report_templates/report.html`, autoescaped) embeds its CSS and its
charts as PNG `data:` URIs (Kaleido, one browser per report: render.ChartRenderer): no
script, no external resource, so it opens offline and prints on A4. `report_pdf` prints
it with headless Chromium.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jinja2
import pandas as pd

from cxdata import catalog, charts, fmt, kpi_metrics, queries, segments
from cxdata.comments import CommentQuery, narrowed_filters
from cxdata.config import Thresholds
from cxdata.errors import CxError
from cxdata.filters import NOT_SET, Filters
from cxdata.metrics import METRICS, metric_def
from cxdata.notify import render
from cxdata.notify.digest import Digest, view_digest
from cxdata.notify.render import ChartRenderer, Section
from cxdata.store import Store
from cxdata.targets import Targets
from cxdata.urlstate import EMBED_PARAMS, decode_choice, decode_int, decode_many
from cxdata.voc import impact, persist, tables

TEMPLATES = Path(__file__).parent / "report_templates"
PAGES: dict[str, str] = {
    "overview": "Overview",
    "trends": "Trends",
    "touchpoints": "Touchpoints",
    "segments": "Segments",
    "feedback": "Feedback",
}
PDF_TIMEOUT = 120  # seconds for Chromium to print one report
TABLE_ROWS = 400  # a longer table is cut (the report says so): a board report, not a dump


@dataclass
class Report:
    """One view's report: `html` is the whole self-contained page; `sections` its blocks
    in order (render.Section: title, table header/rows, caption, chart name), `tiles` the
    KPI tiles' strings (render.tile), `digest` the numbers the tiles come from (None when
    the reader has no dated answers at all)."""

    title: str
    page: str
    html: str
    sections: list[Section] = field(default_factory=list)
    tiles: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    digest: Digest | None = None


def page_of(path: str) -> tuple[str, str]:
    """The dashboard page (a PAGES key) of a URL path ("/trends", "trends", "/" → overview)
    and a note when the path names no page ("" otherwise): an unknown one gets the
    Overview's content."""
    name = path.strip("/").rsplit("/", 1)[-1].removesuffix(".py").lower()
    if name in PAGES:
        return name, ""
    if name in ("", "overview", "dashboard"):
        return "overview", ""
    return "overview", f"“/{name}” is not a dashboard page, so this is the Overview."


def parse_view(url: str) -> tuple[str, dict[str, list[str]], str]:
    """A view URL (full, or path + query) as (path, params, base URL). The base URL is the
    scheme, host and any path before the page ("" for a bare path); embedding options
    are left out of the params."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("", "http", "https") or (parts.scheme and not parts.netloc):
        raise CxError(f"--view must be a dashboard link (http:// or https://) or a path such "
                      f"as /trends?period=lq, not {url.strip()[:80]!r}")
    params = {k: v for k, v in parse_qs(parts.query, keep_blank_values=False).items()
              if k not in EMBED_PARAMS}  # fmt: skip
    path = parts.path or "/"
    base = ""
    if parts.scheme and parts.netloc:
        prefix = path.rstrip("/").rsplit("/", 1)[0]  # the path before the page's name
        base = f"{parts.scheme}://{parts.netloc}{prefix}"
    return path, params, base


def _score_cell(metric: str, value: Any, suppressed: bool, n: int) -> str:
    """A value as the dashboard writes it, or the honest placeholder (never a value)."""
    if suppressed or int(n) == 0:
        return fmt.too_small(int(n))
    return fmt.value(metric, value)


def _ci_cell(metric: str, low: Any, high: Any, suppressed: bool) -> str:
    return "–" if suppressed else fmt.ci(metric, low, high)


def _cut(rows: list[list[str]], what: str) -> tuple[list[list[str]], str]:
    """At most TABLE_ROWS rows, and the sentence saying how many were left out."""
    if len(rows) <= TABLE_ROWS:
        return rows, ""
    return rows[:TABLE_ROWS], f" The table shows the first {TABLE_ROWS:,} of {len(rows):,} {what}."


# --- the page sections --------------------------------------------------------------------


def _span(store: Store) -> tuple[dt.date, dt.date]:
    span = catalog.date_span(store)
    if span is None:  # view_digest returned a digest, so there are dated answers
        raise CxError("the store has no dated answers")
    return span


def _clipped(f: Filters, span: tuple[dt.date, dt.date]) -> tuple[dt.date, dt.date]:
    return max(f.start or span[0], span[0]), min(f.end or span[1], span[1])


def trends_sections(store: Store, d: Digest, params: Mapping[str, Sequence[str]],
                    th: Thresholds, renderer: ChartRenderer,
                    images: dict[str, bytes]) -> list[Section]:
    """The Trends page: `metric` per `grain` (auto: day ≤ 45 days, week ≤ 240, month),
    split by `split` into its `top` values (or the biggest movers with order=movers), as
    the page computes it; the chart and one table row per point (value, 95% CI, n)."""
    metric = decode_choice(params.get("metric"), list(METRICS), "nps")
    grain = queries.resolved_grain(
        decode_choice(params.get("grain"), list(queries.GRAIN_CHOICES), "auto"),
        kpi_metrics.days_in(d.current))
    dims = store.dimensions()
    split = decode_choice(params.get("split"), list(dims), "")
    by = split or None
    top = decode_int(params.get("top"), 2, 10, 5)
    order = decode_choice(params.get("order"), ["volume", "movers"], "volume")
    note = ""
    frame = None
    if by and order == "movers":
        moved = segments.movers(store, d.current, d.previous, [by], metric, th).head(top)
        if not moved.empty:
            frame = queries.trend(store, d.current, grain, by, None, th,
                                  values=list(moved["value"]))
            tests = int(moved.attrs.get("comparisons", 0))
            note = (f"Lines: the {fmt.dim_label(by)} values whose {fmt.short_label(metric)} "
                    f"changed most (significant {fmt.corrected(tests)}); all others: Other. ")
        else:
            note = (f"No {fmt.dim_label(by)} value changed significantly: the lines show the "
                    "values with the most answers. ")
    if frame is None:
        frame = queries.trend(store, d.current, grain, by, top if by else None, th)
    frame = queries.with_coverage(frame, grain, *_clipped(d.current, _span(store)))
    title = f"{fmt.metric_label(metric)} per {grain}" + (f" by {fmt.dim_label(by)}" if by else "")
    if frame.empty:
        return [Section(title, caption="No answers in this view's periods.")]
    fig = charts.trend_figure(frame, metric, by, height=420, grain=grain)
    if grain == "month" and frame["period"].nunique() <= 18:
        # one tick per month: Plotly's own spacing repeats "Sep 2026" on a short range
        fig.update_xaxes(dtick="M1")
    image = render.chart(renderer, images, "trend_view", fig, 420)
    view = pd.concat([frame[["period", *([by] if by else []), "days", "period_days"]],
                      queries_metric(frame, metric)], axis=1)  # fmt: skip
    rows = []
    for _, r in view.iterrows():
        suppressed = bool(r["suppressed"])
        flags = [] if suppressed or not bool(r["low_base"]) else ["low base"]
        if int(r["days"]) < int(r["period_days"]):
            flags.append(f"partial: {int(r['days'])} of {int(r['period_days'])} days")
        rows.append([fmt.period_label(r["period"], grain), *([str(r[by])] if by else []),
                     _score_cell(metric, r["value"], suppressed, r["n"]),
                     _ci_cell(metric, r["ci_low"], r["ci_high"], suppressed),
                     fmt.count(r["n"]), ", ".join(flags)])  # fmt: skip
    rows, cut = _cut(rows, "points")
    header = ["Period", *([fmt.dim_label(by)] if by else []), fmt.short_label(metric),
              "95% CI", "n", "Note"]  # fmt: skip
    extra = ""
    if params.get("kpi"):
        extra = " The second-axis KPI of the page is not part of the report."
    lines = frame[by].nunique() if by else 1
    bands = ("Bands: 95% confidence intervals. " if lines <= charts.MAX_BANDS else
             f"CI bands are drawn for up to {charts.MAX_BANDS} lines; the table has every "
             "point's 95% CI. ")  # fmt: skip
    return [Section(title, header, rows,
                    f"{note}{bands}Under {th.min_n} answers a point "
                    f"is not shown (n too small); under {th.low_base} it is low base (open "
                    "circle). Partial periods (open squares) have only part of their days "
                    f"in the range or the data.{cut}{extra}",
                    image, title)]  # fmt: skip


def queries_metric(frame: pd.DataFrame, metric: str) -> pd.DataFrame:
    """value, n, ci_low, ci_high, suppressed, low_base of `metric` in a score frame."""
    from cxdata.scores import metric_columns

    return metric_columns(frame, metric)


def _shown_dims(store: Store) -> list[str]:
    """The dimensions with at least one set value, in display order (as the pages list
    them: a core column empty everywhere is no dimension)."""
    values = catalog.all_dimension_values(store)
    return [d for d in catalog.display_order(store.dimensions())
            if any(v != NOT_SET for v in values.get(d, []))]  # fmt: skip


def touchpoints_sections(store: Store, d: Digest, params: Mapping[str, Sequence[str]],
                         th: Thresholds, renderer: ChartRenderer,
                         images: dict[str, bytes]) -> list[Section]:
    """The Touchpoints page: the heatmap of touchpoint × `cols` coloured by `color`
    (queries.friction_matrix as the page calls it) and every cell with its n; a cell under
    min n says "n too small", never a value."""
    dims = _shown_dims(store)
    if "touchpoint" not in dims:
        return [Section("Friction heatmap",
                        caption="The answers name no touchpoint, so there is no heatmap.")]
    col_dims = [x for x in dims if x != "touchpoint"]
    if not col_dims:
        return [Section("Friction heatmap", caption="No dimension to cross touchpoints with.")]
    default = "journey_stage" if "journey_stage" in col_dims else col_dims[0]
    cols = decode_choice(params.get("cols"), col_dims, default)
    metric = decode_choice(params.get("color"), list(METRICS), "friction")
    title = f"{fmt.metric_label(metric)}: touchpoint × {fmt.dim_label(cols).lower()}"
    matrix = queries.friction_matrix(store, d.current, "touchpoint", cols, metric, th)
    if matrix.empty:
        return [Section(title, caption="No answers at a touchpoint match these filters.")]
    overall = queries.kpis(store, Filters.make(d.current.start, d.current.end), th).score(metric)
    reference = None if overall.suppressed else overall.value
    fig = charts.heatmap_figure(matrix, "touchpoint", cols, metric, reference)
    height = max(320, 160 + 34 * matrix["touchpoint"].nunique())
    image = render.chart(renderer, images, "heatmap", fig, height)
    rows = [[str(r["touchpoint"]), str(r[cols]),
             _score_cell(metric, r["value"], bool(r["suppressed"]), r["n"]),
             _ci_cell(metric, r["ci_low"], r["ci_high"], bool(r["suppressed"])),
             fmt.count(r["n"]),
             "low base" if bool(r["low_base"]) and not bool(r["suppressed"]) else ""]
            for _, r in matrix.iterrows()]  # fmt: skip
    rows, cut = _cut(rows, "cells")
    colour = (f"Neutral colour: the period's overall {fmt.short_label(metric)} "
              f"({fmt.value(metric, overall.value)}, n = {overall.n:,})."
              if reference is not None else "")  # fmt: skip
    return [Section(title, ["Touchpoint", fmt.dim_label(cols), fmt.short_label(metric),
                            "95% CI", "n", "Note"], rows,
                    f"Grey cells have fewer than {th.min_n} answers (n too small). "
                    f"{colour}{cut}", image, title)]  # fmt: skip


def segments_sections(store: Store, d: Digest, params: Mapping[str, Sequence[str]],
                      th: Thresholds, renderer: ChartRenderer,
                      images: dict[str, bytes]) -> list[Section]:
    """The Segments page: the drilldown along `path` coloured by `metric` (treemap or
    sunburst, `chart`) and each segment of `by` vs the rest, both withholding what the
    page withholds (segments.linked_protection)."""
    dims = catalog.display_order(store.dimensions())
    if not dims:
        return [Section("Segments", caption="The data has no segment columns.")]
    default = segments.default_drill_path(dims)
    path = decode_many(params["path"], dims)[:3] if params.get("path") else default
    path = path or default
    metric = decode_choice(params.get("metric"), list(METRICS), "nps")
    kind = decode_choice(params.get("chart"), ["treemap", "sunburst"], "treemap")
    by = decode_choice(params.get("by"), path, path[0])
    name = fmt.short_label(metric)
    out: list[Section] = []
    nodes = queries.drilldown(store, d.current, path, th)
    protection = None
    if nodes.empty:
        out.append(Section("Drilldown", caption="No answers to drill into."))
    else:
        protection = segments.linked_protection(nodes, path, metric, th)
        nodes = segments.withhold_nodes(nodes, metric, protection.nodes)
        score = queries.kpis(store, d.current, th).score(metric)
        fig = charts.drill_figure(nodes, metric, kind, "All answers",
                                  None if score.suppressed else score.value, score.n)
        image = render.chart(renderer, images, "drill", fig, 460)
        out.append(Section(f"{name} by {' → '.join(fmt.dim_label(p) for p in path)}",
                           caption=f"Size: answers; colour: {name}. Grey, hatched: fewer "
                           f"than {th.min_n} answers (n too small), or hidden because it "
                           "would reveal a small group by subtraction.",
                           image=image, alt=f"{kind} of {' → '.join(path)}"))  # fmt: skip
    table = segments.segment_vs_rest(store, d.current, by, metric, th)
    if protection is not None and not table.empty:
        table = segments.withhold_segments(table, protection.segments.get(by, frozenset()))
    title = f"Each {fmt.dim_label(by).lower()} vs the rest: {name}"
    if table.empty:
        return [*out, Section(title, caption="No segments to compare.")]
    rows = []
    for _, r in table.iterrows():
        hidden = bool(r.get("hidden", False))
        withheld = bool(r["suppressed"]) or hidden
        placeholder = fmt.hidden() if hidden and not bool(r["suppressed"]) else None
        value = placeholder or _score_cell(metric, r["value"], bool(r["suppressed"]), r["n"])
        rest = "–" if withheld else fmt.value(metric, r["rest_value"])
        # the correction is named once, in the caption: the column stays narrow
        verdict = ("–" if withheld else "no rest to compare with" if int(r["rest_n"]) == 0
                   else fmt.significance(r["significant"], f"under {th.low_base} answers"))
        rows.append([str(r["segment"]), value,
                     _ci_cell(metric, r["ci_low"], r["ci_high"], withheld), fmt.count(r["n"]),
                     rest, "–" if withheld else fmt.count(r["rest_n"]),
                     "–" if withheld else fmt.change(metric, r["difference"]),
                     verdict])  # fmt: skip
    rows, cut = _cut(rows, "segments")
    tests = int(table["comparisons"].max())
    out.append(Section(title, ["Segment", name, "95% CI", "n", f"Rest {name}", "Rest n",
                               "Difference", "Test"], rows,
                       f"“The rest” is every other answer inside the filters; "
                       f"{metric_def(metric).family.test}, "
                       f"{fmt.corrected(tests) if tests else 'but no segment could be tested'}. "
                       "A segment "
                       f"or rest under {th.min_n} answers is not shown, and neither is the "
                       f"other side of its row.{cut}"))  # fmt: skip
    return out


def feedback_sections(store: Store, d: Digest, params: Mapping[str, Sequence[str]],
                      th: Thresholds, renderer: ChartRenderer,
                      images: dict[str, bytes]) -> list[Section]:
    """The Feedback page's themes: each theme's NPS with and without it and the impact
    (impact.theme_impact of `voc.source`, inside the page's narrowing lang / tp / seg)."""
    title = "Themes and their NPS impact"
    if not persist.has_results(store):
        return [Section(title, caption="The comments' themes have not been computed yet "
                                       "(Data page or `python -m cxdata themes`).")]
    source = decode_choice(params.get("voc.source"), list(tables.SOURCES), "taxonomy")
    segs = tuple((dim, v) for dim, _, v in (s.partition(":") for s in decode_many(
        params.get("seg"))) if dim and v)  # fmt: skip
    query = CommentQuery(languages=tuple(decode_many(params.get("lang"))),
                         touchpoints=tuple(decode_many(params.get("tp"))), segments=segs)
    narrowed = narrowed_filters(d.current, query)
    if narrowed is None:
        return [Section(title, caption="No answer is in both the filters and the narrowing.")]
    frame = impact.theme_impact(store, narrowed, source, th)
    if frame.empty:
        return [Section(title, caption="No analysed comment mentions a theme in this view.")]
    ranked = impact.ranked_by_impact(frame)
    image = ""
    if not ranked["suppressed"].astype(bool).all():
        fig = charts.theme_impact_figure(ranked)
        shown = min(int((~ranked["suppressed"].astype(bool)).sum()), charts.MAX_THEME_BARS)
        image = render.chart(renderer, images, "themes", fig, 140 + 30 * shown)
    rows = []
    for _, r in ranked.iterrows():
        hidden = bool(r.get("hidden", False))
        suppressed = bool(r["suppressed"])
        impact_text = ("–" if suppressed or hidden or pd.isna(r["nps_impact"])
                       else f"{r['nps_impact']:+.1f} pts")  # fmt: skip
        rows.append([str(r["label"]), f"{int(r['n']):,}", f"{r['share']:.1f}%",
                     _theme_nps(r, "with"), _theme_nps(r, "without"), impact_text,
                     # the correction is named once, in the caption
                     charts.theme_significance(r.drop("comparisons"))])  # fmt: skip
    rows, cut = _cut(rows, "themes")
    narrowing = [f"{fmt.dim_label(x)}: {', '.join(v)}" for x, v in query.narrowing()]
    words = f" Narrowed to {' · '.join(narrowing)}." if narrowing else ""
    return [Section(title, ["Theme", "Mentions", "Share", "NPS with", "NPS without",
                            "Impact", "Test"], rows,
                    f"{int(frame['comments'].iloc[0]):,} analysed comments; tested "
                    f"{fmt.corrected(int(frame['comparisons'].iloc[0]))}; "
                    f"{'taxonomy' if source == 'taxonomy' else 'automatic'} themes. Impact: "
                    f"NPS of the answers mentioning the theme minus the others'.{words}{cut}",
                    image, "NPS impact per theme")]  # fmt: skip


def _theme_nps(r: pd.Series, side: str) -> str:
    """NPS of the answers with (`side` "with") or without a theme, in the dashboard's
    hover wording: value, 95% CI and n, or the placeholder of a suppressed or hidden one."""
    return fmt.hover_text("nps", r[f"nps_{side}"], int(r[f"nps_n_{side}"]),
                          r[f"nps_{side}_ci_low"], r[f"nps_{side}_ci_high"],
                          suppressed=bool(r["suppressed"]),
                          withheld=bool(r.get("hidden", False)))  # fmt: skip


def overview_sections(d: Digest, th: Thresholds, renderer: ChartRenderer,
                      images: dict[str, bytes]) -> list[Section]:
    """The Overview: the digest's sections (operational KPIs, movers, hot spots, themes
    moved, NPS per month), the trend with its numbers."""
    found = [render.metric_section(d), render.movers_section(d, renderer, images),
             render.hotspot_section(d, th), render.themes_section(d)]
    trend = render.trend_section(d, renderer, images)
    if trend is None and not d.trend.empty:
        trend = Section("NPS per month, the 12 months to the period's end",
                        caption="The chart could not be drawn; the numbers are below.")
    if trend is not None:
        view = queries_metric(d.trend, "nps")
        trend.header = ["Month", "NPS", "95% CI", "n"]
        trend.rows = [[fmt.period_label(p, "month"),
                       _score_cell("nps", r["value"], bool(r["suppressed"]), r["n"]),
                       _ci_cell("nps", r["ci_low"], r["ci_high"], bool(r["suppressed"])),
                       fmt.count(r["n"])]
                      for p, (_, r) in zip(d.trend["period"], view.iterrows(), strict=True)]
    found.append(trend)
    return [s for s in found if s is not None]


def definitions(th: Thresholds) -> list[tuple[str, str]]:
    """(term, definition) for the report's last section: the metrics from the registry's
    help texts, then the statistics' words with this report's thresholds."""
    out = [(metric_def(m).short_label, metric_def(m).help) for m in ("nps", "csat", "ces")]
    out.append(("Friction rate", metric_def("friction").definition))
    out += [
        ("95% CI", "The range that holds the true value with 95% confidence, given the "
                   "number of answers (n); the method is named with each metric above."),
        ("n", "The number of answers a value is computed from."),
        ("Min n", f"A value on fewer than {th.min_n} answers is not shown (“n too small”), "
                  "nor anything that would let it be worked out by subtraction."),
        ("Low base", f"Shown but on fewer than {th.low_base} answers: read with care; its "
                     "change is not tested."),
        ("Significant", "A change or difference that a two-sided test finds at the 95% "
                        "level."),
        ("Benjamini–Hochberg", "When many segments or themes are tested at once, the tests "
                               "are corrected so that at most 5% of those called significant "
                               "are expected to be false discoveries (5% FDR)."),
    ]  # fmt: skip
    return out


# --- the whole report ---------------------------------------------------------------------

_ENV = jinja2.Environment(
    loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True, undefined=jinja2.StrictUndefined
)


def _scope(store: Store) -> str:
    """The reader's row restriction in words ("" for none)."""
    items = sorted(store.restrict.items())
    return " · ".join(f"{fmt.dim_label(k)}: {', '.join(v)}" for k, v in items)


def view_report(
    store: Store,
    page: str,
    params: Mapping[str, Sequence[str]],
    *,
    th: Thresholds,
    targets: Targets,
    title: str,
    renderer: ChartRenderer,
    today: dt.date | None = None,
    base_url: str = "",
) -> Report:
    """The report of the view (`page`: a URL path such as "/trends", `params`: its query
    parameters) on the reader's `store`. `renderer` draws the charts (render.no_charts()
    for none: the report then says so). `base_url` (the dashboard's address) adds an "Open
    in the dashboard" link; without it the report has no link at all. Raises CxError for a
    broken store; never reads outside the Store's restriction."""
    key, page_note = page_of(page)
    today = today or dt.date.today()
    params = {k: list(v) for k, v in params.items() if k not in EMBED_PARAMS}
    d = view_digest(store, key, params, th=th, targets=targets, base_url=base_url,
                    title=title, today=today)  # fmt: skip
    notes = [page_note] if page_note else []
    images: dict[str, bytes] = {}
    sections: list[Section] = []
    tiles: list[dict[str, Any]] = []
    if d is None:
        notes.append("There are no dated answers in this data (or none you may see).")
    else:
        notes += list(d.notes)
        if d.responses == 0:
            notes.append("No answers match this view's period and filters.")
        tiles = [*(render.tile(t, d.comparison.label, th) for t in d.tiles),
                 render.volume_tile(d)]  # fmt: skip
        if d.responses:
            if key == "overview":
                sections = overview_sections(d, th, renderer, images)
            else:
                build = {"trends": trends_sections, "touchpoints": touchpoints_sections,
                         "segments": segments_sections, "feedback": feedback_sections}[key]
                sections = build(store, d, params, th, renderer, images)
    if renderer.failed or not renderer.started:
        notes.append("Charts could not be drawn here; every number is in the tables.")
    model = {
        "title": title,
        "page": PAGES[key],
        "period": d.period_text if d else "",
        "compare": (f"{d.comparison.label} ({fmt.date_range(d.previous.start, d.previous.end)})"
                    if d else ""),
        "scope": _scope(store),
        "notes": notes,
        "tiles": tiles,
        "sections": [{"s": s, "src": render.png_uri(images[s.image]) if s.image in images else ""}
                     for s in sections],
        "withheld": list(d.withheld) if d else [],
        "definitions": definitions(th),
        "link": d.link if d is not None and base_url else "",
        "made": f"Made {today.isoformat()} from the data covering "
                f"{fmt.date_range(*_span(store)) if d else '–'}.",
        "footer": (f"Honest numbers: a score on fewer than {th.min_n} answers is not shown; "
                   f"under {th.low_base} answers it is marked low base and its change is not "
                   "tested."),
    }  # fmt: skip
    html = _ENV.get_template("report.html").render(r=model)
    return Report(title, key, html, sections, tiles, notes, d)


# --- PDF ----------------------------------------------------------------------------------


def find_browser() -> str | None:
    """A Chromium-based browser: where Kaleido (choreographer) finds one — $BROWSER_PATH,
    its own download, the usual names — else /usr/bin/chromium, chromium, google-chrome."""
    try:
        from choreographer.browsers.chromium import Chromium

        found = Chromium.find_browser(skip_local=False)
        if found:
            return str(found)
    except Exception:  # choreographer missing or changed: look ourselves
        pass
    import shutil

    if os.access("/usr/bin/chromium", os.X_OK):
        return "/usr/bin/chromium"
    return shutil.which("chromium") or shutil.which("google-chrome")


def report_pdf(html: str) -> bytes:
    """`html` (a report) printed to PDF by headless Chromium (A4, the page's own @page
    margins, no header or footer). Raises CxError when no browser is found, when it fails
    or takes longer than PDF_TIMEOUT seconds."""
    browser = find_browser()
    if browser is None:
        raise CxError("no Chromium browser to print the PDF with: install chromium or set "
                      "BROWSER_PATH")
    with tempfile.TemporaryDirectory(prefix="cx-report-") as tmp:
        src, out = Path(tmp) / "report.html", Path(tmp) / "report.pdf"
        src.write_text(html, encoding="utf-8")
        cmd = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-pdf-header-footer",
               f"--user-data-dir={Path(tmp) / 'profile'}", "--no-first-run",
               f"--print-to-pdf={out}", src.as_uri()]  # fmt: skip
        try:
            done = subprocess.run(cmd, capture_output=True, timeout=PDF_TIMEOUT, check=False)
        except subprocess.TimeoutExpired:
            raise CxError(f"Chromium did not print the report within {PDF_TIMEOUT} s") from None
        except OSError as exc:
            raise CxError(f"Chromium could not be started: {exc}") from None
        if not out.exists() or out.stat().st_size == 0:
            tail = done.stderr.decode(errors="replace").strip().splitlines()[-1:]
            raise CxError("Chromium printed no PDF" + (f": {tail[0]}" if tail else ""))
        return out.read_bytes()


def digest_pdf(rendered: render.Rendered) -> bytes:
    """A digest e-mail as a PDF attachment (subscriptions with format "html+pdf"): its
    HTML with the inline charts as data: URIs, printed by report_pdf."""
    return report_pdf(render.with_inline_images(rendered.html, rendered.images))
