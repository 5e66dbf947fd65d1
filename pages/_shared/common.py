"""Page furniture: the page registry, headers, empty-result messages, error guard, links."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import streamlit as st

from cxdata import fmt
from cxdata.errors import CxError, display_text
from cxdata.urlstate import PERIODS, Params, ViewFilters
from pages._shared.report_button import report_button
from pages._shared.session import Ctx


@dataclass(frozen=True)
class PageInfo:
    """One page of the app: its file, title and icon."""

    path: str
    title: str
    icon: str


OVERVIEW = PageInfo("pages/overview.py", "Overview", ":material/dashboard:")
TRENDS = PageInfo("pages/trends.py", "Trends", ":material/show_chart:")
TOUCHPOINTS = PageInfo("pages/touchpoints.py", "Touchpoints", ":material/grid_on:")
SEGMENTS = PageInfo("pages/segments.py", "Segments", ":material/account_tree:")
FEEDBACK = PageInfo("pages/feedback.py", "Feedback", ":material/forum:")
DATA = PageInfo("pages/data.py", "Data", ":material/upload:")
DASHBOARD_PAGES: tuple[PageInfo, ...] = (OVERVIEW, TRENDS, TOUCHPOINTS, SEGMENTS, FEEDBACK)


def vs_label(ctx: Ctx) -> str:
    """previous period / previous quarter / same period last year: the comparison used."""
    return ctx.view.compared(ctx.anchor, ctx.span[0]).label


def header(title: str, ctx: Ctx, intro: str = "") -> None:
    """Page title and one line saying exactly what is shown."""
    st.title(title)
    period = PERIODS[ctx.view.period] if ctx.view.period != "custom" else "Custom range"
    line = (
        f"{period}: **{fmt.date_range(ctx.filters.start, ctx.filters.end)}** · "
        f"vs {vs_label(ctx)} ({fmt.date_range(ctx.previous.start, ctx.previous.end)}) · "
        f"{fmt.filters_summary(ctx.filters)}"
    )
    st.caption(line)
    if intro:
        st.caption(intro)
    report_button(ctx, title)  # every dashboard page has a header: one place for all five


def has_answers(ctx: Ctx) -> bool:
    """True when the filters match answers; otherwise say so clearly (no empty charts)."""
    if ctx.kpis().responses > 0:
        return True
    st.info(
        f"No answers match these filters in {fmt.date_range(ctx.filters.start, ctx.filters.end)}"
        f" ({fmt.filters_summary(ctx.filters)}). The data covers "
        f"{fmt.date_range(*ctx.span)}: widen the date range or remove a filter in the sidebar.",
        icon=":material/filter_alt_off:",
    )
    return False


@contextmanager
def guard(what: str) -> Iterator[None]:
    """Show an engine error as one clear message instead of a traceback."""
    try:
        yield
    except (CxError, ValueError) as exc:
        # the message may quote data (escaped) and never shows a server path
        st.error(f"{what}: {fmt.md_escape(display_text(exc))}", icon=":material/error:")


def link_params(
    ctx: Ctx, where: Mapping[str, Sequence[str]] | None = None, page: Params | None = None
) -> Params:
    """URL parameters of the current view with some dimension filters replaced
    (`where`) plus another page's options (`page`)."""
    dims = ctx.view.dims()
    for dim, values in (where or {}).items():
        dims[dim] = list(values)
    view = ViewFilters.make(ctx.view.period, ctx.view.start, ctx.view.end, ctx.view.compare, dims)
    return {**view.to_params(), **(page or {})}


Picked = TypeVar("Picked")


def chart_click(key: str, pick: Callable[[dict[str, Any] | None], Picked | None]) -> Picked | None:
    """What `pick` (charts.heatmap_cell, charts.mover_pick) finds in the selection of the
    chart with widget key `key` when a click on it started this run, else None. Streamlit
    sets a chart's selection before the script runs: a page that reads it first opens the
    clicked item's page at once instead of drawing itself again on the way."""
    event = st.session_state.get(key)
    return pick(event.get("selection")) if isinstance(event, Mapping) else None
