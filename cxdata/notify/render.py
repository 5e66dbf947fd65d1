"""A digest (cxdata.notify.digest) as an e-mail: subject, HTML, plain text and its charts.

The words and numbers come from cxdata.fmt — the dashboard's own wording — so a digest
reads like the tiles it summarises. The HTML is a Jinja2 template
(`templates/digest.html`, autoescaped: every value from the data is escaped) laid out as
tables with inline styles, as e-mail clients need; charts are PNGs drawn by Kaleido from
the dashboard's Plotly figures (cxdata.charts) and carried inline (`cid:` references).

`ChartRenderer` keeps ONE headless browser for a whole run (kaleido.start_sync_server):
the first chart costs a browser start (~2–7 s here), every further one ~0.5 s.
"""

from __future__ import annotations

import base64
import logging
import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
import plotly.graph_objects as go

from cxdata import charts, fmt
from cxdata.config import Thresholds
from cxdata.metrics import metric_def
from cxdata.notify.alerts import Finding
from cxdata.notify.digest import Digest, Tile

log = logging.getLogger(__name__)

TEMPLATES = Path(__file__).parent / "templates"
CHART_WIDTH = 640  # px: the e-mail's content width; drawn at 2× for sharp text
CHART_SCALE = 2
GOOD, BAD, NEUTRAL = "#1a7f37", "#cf222e", "#57606a"


@dataclass
class Section:
    """One block of the digest: a title, an optional chart (its cid), a table, a caption."""

    title: str
    header: Sequence[str] = ()
    rows: Sequence[Sequence[str]] = ()
    caption: str = ""
    image: str = ""
    alt: str = ""


@dataclass
class Rendered:
    """A digest ready to send: `images` maps each cid the HTML refers to → PNG bytes."""

    subject: str
    html: str
    text: str
    images: dict[str, bytes] = field(default_factory=dict)


class ChartRenderer:
    """PNG export of Plotly figures through one Kaleido browser (use as a context
    manager). `png` returns None — and the digest goes without that chart, saying so —
    when no browser can be started (no Chromium on the machine)."""

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self.started = False
        self.failed = ""

    def __enter__(self) -> ChartRenderer:
        if not self.enabled:
            return self
        try:
            import kaleido

            kaleido.start_sync_server(n=1, silence_warnings=True)
            self.started = True
        except Exception as exc:  # no browser: numbers still go out, charts do not
            self.failed = f"{type(exc).__name__}: {exc}"
            log.warning("charts will not be drawn: %s", self.failed)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.started:
            import kaleido

            kaleido.stop_sync_server(silence_warnings=True)
            self.started = False

    def png(self, fig: go.Figure, height: int) -> bytes | None:
        """`fig` as PNG bytes, CHART_WIDTH × `height` px at CHART_SCALE; None on failure."""
        if not self.started:
            return None
        try:
            fig = go.Figure(fig).update_layout(template="plotly_white")
            with warnings.catch_warnings():  # plotly warns that a server ignores kopts
                warnings.simplefilter("ignore", UserWarning)
                return bytes(fig.to_image(format="png", width=CHART_WIDTH, height=height,
                                          scale=CHART_SCALE))
        except Exception as exc:
            log.warning("a chart could not be drawn: %s", exc)
            return None


@contextmanager
def no_charts() -> Iterator[ChartRenderer]:
    """A renderer that draws nothing (tests of the words and numbers, `--no-charts`)."""
    with ChartRenderer(enabled=False) as renderer:
        yield renderer


def tile(t: Tile, vs: str, th: Thresholds) -> dict[str, Any]:
    """A KPI tile's strings: value, change line (coloured when significant), CI, n, before,
    target."""
    m = metric_def(t.metric)
    out: dict[str, Any] = {"label": m.short_label, "change": "", "color": NEUTRAL, "lines": []}
    if t.score.n == 0:
        return {**out, "value": "no answers", "lines": [f"no {m.short_label} answers in this view"]}
    if not t.shown:
        return {**out, "value": "n too small",
                "lines": [f"n = {t.score.n:,}: fewer than {th.min_n} answers, so no score"]}
    c = t.change
    reason = "low base" if c.n_previous >= th.min_n else "too few answers before"
    if c.change is not None:
        good = (c.change > 0) == m.higher_is_better
        test = fmt.significance(c.significant, reason)
        out["change"] = f"{fmt.change(t.metric, c.change)} · {test}"
        out["color"] = (GOOD if good else BAD) if c.significant else NEUTRAL
    before = (f"{fmt.value(t.metric, c.previous)} (n = {c.n_previous:,})"
              if c.previous is not None else fmt.too_small(c.n_previous))
    lines = [f"95% CI {fmt.ci(t.metric, t.score.ci_low, t.score.ci_high)}",
             f"n = {t.score.n:,}" + (" · low base" if t.score.low_base else ""),
             f"{vs.capitalize()}: {before}"]
    if t.target_met is not None and t.target is not None:
        lines.append(f"Target {fmt.value(t.metric, t.target)}: "
                     f"{'✓ met' if t.target_met else '✗ missed'}")
    return {**out, "value": fmt.value(t.metric, t.score.value), "lines": lines}


def volume_tile(d: Digest) -> dict[str, Any]:
    """The answers tile's strings: count, change per day and its test, the count before."""
    v = d.volume
    change = ""
    color = NEUTRAL
    if v is not None and v.change_pct is not None:
        change = f"{v.change_pct:+.1f}% per day · {fmt.significance(v.significant)}"
    return {"label": "Answers", "value": fmt.count(d.responses), "change": change,
            "color": color, "lines": [f"{d.comparison.label.capitalize()}: "
                                      f"{fmt.count(d.responses_previous)}"]}


def metric_section(d: Digest) -> Section | None:
    """The metrics dataset's KPIs as a table; None without any."""
    if not d.metric_kpis:
        return None
    rows = []
    for k in d.metric_kpis:
        verdict = ("–" if k.on_target is None else "✓ met" if k.on_target else "✗ missed")
        target = "–" if k.target is None else f"{k.target:,.2f}"
        change = "–" if k.change is None else f"{k.change:+,.2f}"
        value = "–" if k.value is None else f"{k.value:,.2f} {k.unit}".strip()
        rows.append([k.metric, value, change, fmt.significance(k.significant), target, verdict,
                     f"{k.points:,} {k.cadence}"])
    caption = "From the metrics dataset, at the dates the source gives."
    if d.metric_ignored:
        caption += (f" These KPIs are {fmt.not_narrowed(d.metric_ignored)}: the metrics "
                    "dataset has no such column.")
    return Section("Operational KPIs",
                   ["KPI", "Value", "Change", "Test", "Target", "", "Values (n)"], rows, caption)


def movers_section(d: Digest, renderer: ChartRenderer, images: dict[str, bytes]) -> Section:
    """The biggest movers (BH-corrected) as a table and bar chart (drawn into `images`)."""
    name = fmt.short_label(d.movers_metric)
    title = f"Biggest movers: {name}"
    if d.movers.empty:
        text = (f"No segment's {name} changed significantly vs the {d.comparison.label} "
                f"{fmt.corrected(d.mover_tests)}." if d.mover_tests else
                "No segment had enough answers in both periods to be tested.")
        return Section(title, caption=text)
    rows = [[fmt.segment_label(r.dimension, r.value), fmt.value(d.movers_metric, r.now),
             fmt.value(d.movers_metric, r.prev), fmt.change(d.movers_metric, r.change),
             f"{int(r.n_now):,} / {int(r.n_prev):,}"] for r in d.movers.itertuples()]
    cid = chart(renderer, images, "movers", charts.movers_figure(d.movers, d.movers_metric),
                 140 + 36 * len(d.movers))
    return Section(title, ["Segment", "Now", "Before", "Change", "n now / before"], rows,
                   f"Significant {fmt.corrected(d.mover_tests)}; "
                   + ("the one segment that changed." if len(d.movers) == 1 else
                      f"the {len(d.movers)} largest changes."),
                   cid, f"Segments whose {name} changed significantly")


def hotspot_section(d: Digest, th: Thresholds) -> Section | None:
    """The friction hot spots as a table; None without a touchpoint × segment dimension."""
    if d.hotspot_by is None:
        return None
    title = "Friction hot spots"
    if d.hotspots.empty:
        return Section(title, caption=f"No touchpoint × {fmt.dim_label(d.hotspot_by)} cell has "
                                      f"enough answers ({th.low_base}+) to rank.")
    rows = [[str(r["touchpoint"]), str(r[d.hotspot_by]), fmt.value("friction", r["value"]),
             fmt.ci("friction", r["ci_low"], r["ci_high"]), f"{int(r['n']):,}"]
            for _, r in d.hotspots.iterrows()]
    return Section(title, ["Touchpoint", fmt.dim_label(d.hotspot_by), "Friction", "95% CI", "n"],
                   rows, f"The cells with the highest friction rate among those with at least "
                         f"{th.low_base} answers.")


def themes_section(d: Digest) -> Section | None:
    """The themes whose share moved most as a table; None without any."""
    if d.themes.empty:
        return None
    rows = [[str(r["label"]), f"{r['share']:.1f}%", f"{r['share_prev']:.1f}%",
             f"{r['change']:+.1f} pp", f"{int(r['comments']):,} / {int(r['comments_prev']):,}",
             fmt.significance(r["significant"], "too few comments")]
            for _, r in d.themes.iterrows()]
    return Section("Themes whose share moved most",
                   ["Theme", "Now", "Before", "Change", "Comments now / before", "Test"],
                   rows, "Share of the analysed comments that mention the theme; tested "
                         f"{fmt.corrected(d.theme_tests)}.")


def trend_section(d: Digest, renderer: ChartRenderer, images: dict[str, bytes]) -> Section | None:
    """NPS per month (12 months) as a chart drawn into `images`; None without one."""
    if d.trend.empty:
        return None
    fig = charts.trend_figure(d.trend, "nps", None, height=300, grain="month")
    cid = chart(renderer, images, "trend", fig, 300)
    if not cid:
        return None
    return Section("NPS per month, the 12 months to the period's end", image=cid,
                   alt="NPS per month with its 95% confidence band",
                   caption="Open circles: low base; open squares: a month covered only in part.")


def chart(renderer: ChartRenderer, images: dict[str, bytes], name: str, fig: go.Figure,
           height: int) -> str:
    """Draw `fig` into `images` under the cid `name`; "" when it could not be drawn."""
    png = renderer.png(fig, height)
    if png is None:
        return ""
    images[name] = png
    return name


def _sections(d: Digest, th: Thresholds, renderer: ChartRenderer,
              images: dict[str, bytes]) -> list[Section]:
    found = [metric_section(d), movers_section(d, renderer, images), hotspot_section(d, th),
             themes_section(d), trend_section(d, renderer, images)]
    return [s for s in found if s is not None]


SUBJECT_CHARS = 150  # a longer subject is cut: mail clients show ~60–80 anyway


def _one_line(text: str, limit: int = SUBJECT_CHARS) -> str:
    """`text` on one line (data-derived line breaks made spaces), cut to `limit` chars."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _pairs(tiles: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """The tiles two to a row: four in a row would not fit a phone's mail client."""
    return [tiles[i : i + 2] for i in range(0, len(tiles), 2)]


def _text(model: dict[str, Any]) -> str:
    """The plain-text part: the same content as the HTML, line by line."""
    lines = [model["title"], f"{model['period']} · vs the {model['compare']}"]
    if model["scope"]:
        lines.append(f"Your view: {model['scope']}")
    lines += ["", *model["notes"]]
    for t in (t for row in model["tiles"] for t in row):
        lines.append(f"{t['label']}: {t['value']}" + (f" ({t['change']})" if t["change"] else ""))
        lines += [f"  {x}" for x in t["lines"]]
    for s in model["sections"]:
        lines += ["", s.title]
        if s.rows:  # a value's own line breaks must not start lines of their own
            lines.append("  " + " | ".join(s.header))
            lines += ["  " + " | ".join(_one_line(c, 200) for c in row) for row in s.rows]
        if s.caption:
            lines.append(f"  {s.caption}")
    if model["withheld"]:
        lines += ["", "Withheld for a low base:", *[f"  - {w}" for w in model["withheld"]]]
    lines += ["", f"Open this view in the dashboard: {model['link']}", "", model["footer"]]
    return "\n".join(lines)


_ENV = jinja2.Environment(
    loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True, undefined=jinja2.StrictUndefined
)


def render_digest(
    d: Digest, th: Thresholds, renderer: ChartRenderer, *, kind: str = "Digest",
    scope: str = "",
) -> Rendered:
    """The e-mail of digest `d`: subject "<title> · <period>", HTML, plain text and the
    PNG charts the HTML refers to. `kind` heads it ("Weekly digest"); `scope` says in words
    what the reader may see (their restriction), "" for everything."""
    images: dict[str, bytes] = {}
    model: dict[str, Any] = {
        "kind": kind, "title": d.title,
        "period": fmt.view_context(d.current, "all the answers you can see" if scope
                                   else "all answers"),
        "compare": f"{d.comparison.label} ({fmt.date_range(d.previous.start, d.previous.end)})",
        "scope": scope, "notes": list(d.notes),
        "tiles": _pairs([*(tile(t, d.comparison.label, th) for t in d.tiles), volume_tile(d)]),
        "sections": _sections(d, th, renderer, images), "withheld": list(d.withheld),
        "link": d.link,
        "footer": (f"Honest numbers: a score on fewer than {th.min_n} answers is not shown; "
                   f"under {th.low_base} answers it is marked low base and its change is not "
                   "tested. A change is significant at 95%; movers and themes are corrected "
                   "for the number of comparisons."),
    }  # fmt: skip
    if renderer.failed:
        model["notes"].append("Charts could not be drawn on the server; the numbers are below.")
    model["subject"] = _one_line(f"{d.title} · {model['period']}")
    html = _ENV.get_template("digest.html").render(d=model)
    return Rendered(model["subject"], html, _text(model), images)



ALERT_FOOTER = ("You get this alert once while the condition holds; it is sent again only "
                "after the condition has cleared and returns. Numbers are computed under "
                "your own access, with the minimum number of answers applied after it.")


def render_alert(rule: str, findings: Sequence[Finding], scope: str = "") -> Rendered:
    """The e-mail of one rule's new findings (cxdata.notify.alerts), for one reader."""
    subject = _one_line(f"CX alert: {findings[0].title}" if len(findings) == 1
                        else f"CX alert: {rule} ({len(findings)} findings)")
    html = _ENV.get_template("alert.html").render(
        subject=subject, rule=rule, scope=scope, findings=findings, footer=ALERT_FOOTER)
    text = "\n".join([subject, *([f"Your view: {scope}"] if scope else []), ""]
                     + [line for f in findings
                        for line in (_one_line(f.title, 300),
                                     *(f"  - {_one_line(x, 500)}" for x in f.lines),
                                     f"  {f.link}", "")]
                     + [ALERT_FOOTER])
    return Rendered(subject, html, text)


def png_uri(png: bytes) -> str:
    """PNG bytes as a data: URI (a page that opens with the network off)."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def with_inline_images(html: str, images: Mapping[str, bytes]) -> str:
    """`html` with each `cid:<name>` reference replaced by the image's data: URI."""
    for name, png in images.items():
        html = html.replace(f'src="cid:{name}"', f'src="{png_uri(png)}"')
    return html
