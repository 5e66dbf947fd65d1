"""The global filters in the sidebar and the "copy link" control.

The widgets are bound to the URL through `state`; the parameters themselves are written by
`ViewFilters.to_params` (one codec, round-trip tested), not by the widgets one by one.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

import streamlit as st

from cxdata import fmt
from cxdata.filters import NOT_SET
from cxdata.urlstate import (
    COMPARISONS,
    DEFAULT_COMPARISON,
    DEFAULT_PERIOD,
    PERIODS,
    Params,
    ViewFilters,
    dim_param,
    query_string,
)
from pages._shared import state
from pages._shared.session import Ctx

K_PERIOD = "g.period"
K_RANGE = "g.range"
K_VS = "g.vs"
K_DIM = "g.dim."
COMPARE_HELP = (
    "**Previous period**: the same number of days just before. **Previous calendar "
    "period**: a quarter vs the quarter before (Q2 vs Q1), a month vs the month before, a "
    "year vs the year before; a period to date vs the same stretch of the one before. "
    "**Same period last year**: the same days one year earlier."
)


def _dim_key(dim: str) -> str:
    return K_DIM + dim


def _adopt_view(ctx: Ctx, dims: Sequence[str], values: Mapping[str, Sequence[str]]) -> None:
    """Seed every global widget from the URL being adopted (via the one codec); `values`:
    each dimension's values (Ctx.dimension_values)."""
    adopt = state.adopted()
    if adopt is None:
        return
    view = ViewFilters.from_params(adopt, dims)
    if (adopt.get("period") or [""])[-1] == "custom" and view.period != "custom":
        state.note_dropped("from/to", "From – to")  # a missing or impossible custom range
    state.set_value(K_PERIOD, view.period)
    state.set_value(K_VS, view.compare)
    if view.period == "custom":
        state.set_value(K_RANGE, view.date_range(ctx.anchor, ctx.span[0]))
    chosen = view.dims()
    for dim in dims:
        allowed = set(values.get(dim, []))
        state.set_value(_dim_key(dim), [v for v in chosen.get(dim, []) if v in allowed])


def _on_period_change() -> None:
    # Switching to "custom" starts from the range the user was looking at.
    if st.session_state.get(K_PERIOD) == "custom":
        shown = st.session_state.get("_cx_shown_range")
        if shown:
            state.set_value(K_RANGE, shown)


def _custom_range(ctx: Ctx) -> tuple[dt.date, dt.date]:
    first, last = ctx.span
    current = st.session_state.get(K_RANGE)
    if not (isinstance(current, tuple) and len(current) == 2):
        kept = state.kept(K_RANGE)
        current = kept if isinstance(kept, tuple) and len(kept) == 2 else (first, last)
        st.session_state[K_RANGE] = current
    low, high = min(first, current[0]), max(last, current[1])
    picked = st.sidebar.date_input(
        "From – to", min_value=low, max_value=high, key=K_RANGE, format="YYYY-MM-DD"
    )
    if isinstance(picked, tuple) and len(picked) == 2:
        state.remember(K_RANGE, picked)
        return picked[0], picked[1]
    st.sidebar.caption("Pick the end date of the range.")
    kept = state.kept(K_RANGE, (first, last))
    return kept[0], kept[1]


def _clear_filters(dims: Sequence[str]) -> None:
    for dim in dims:
        state.set_value(_dim_key(dim), [])


def _value_label(value: str) -> str:
    return "(missing)" if value == NOT_SET else value


def render_filters(ctx: Ctx) -> ViewFilters:
    """Draw the global filters; returns the chosen view and publishes it to the URL."""
    dims = ctx.dimensions()
    # Every dimension's values in one read: each cache hit hands back a fresh copy of all.
    by_dim: Mapping[str, list[str]] = ctx.query("dimension_values")
    _adopt_view(ctx, dims, by_dim)
    side = st.sidebar
    side.subheader("Period")
    period = state.select(
        "Date range",
        list(PERIODS),
        key=K_PERIOD,
        param="period",
        default=DEFAULT_PERIOD,
        format_func=PERIODS.__getitem__,
        where=side,
        on_change=_on_period_change,
    )
    if period == "custom":
        start, end = _custom_range(ctx)
        view_period = ViewFilters.make("custom", start, end)
    else:
        view_period = ViewFilters.make(period)
    compare = state.select(
        "Compare with",
        list(COMPARISONS),
        key=K_VS,
        param="vs",
        default=DEFAULT_COMPARISON,
        format_func=lambda c: COMPARISONS[c].capitalize(),
        where=side,
        help=COMPARE_HELP,
    )
    rng = view_period.date_range(ctx.anchor, ctx.span[0])
    st.session_state["_cx_shown_range"] = rng
    prev = ViewFilters.make(
        view_period.period, view_period.start, view_period.end, compare
    ).compared(ctx.anchor, ctx.span[0])
    side.caption(
        f"**{fmt.date_range(*rng)}** vs {prev.label} ({fmt.date_range(prev.start, prev.end)})"
        f"  \nData from {fmt.date_range(*ctx.span)}"
    )
    if prev.note:
        side.info(prev.note, icon=":material/info:")

    side.subheader("Filters")
    where: dict[str, list[str]] = {}
    for dim in dims:
        values = by_dim.get(dim, [])
        where[dim] = state.multi(
            fmt.md_escape(fmt.dim_label(dim)),  # a column name from the data
            values,
            key=_dim_key(dim),
            param=dim_param(dim),
            format_func=_value_label,
            where=side,
            publish_param=False,
        )
    if any(where.values()):
        side.button(
            "Clear filters",
            icon=":material/filter_alt_off:",
            on_click=_clear_filters,
            args=(dims,),
            width="stretch",
        )
    view = ViewFilters.make(view_period.period, view_period.start, view_period.end, compare, where)
    state.publish(view.to_params())
    return view


def share_url(params: Mapping[str, Sequence[str]]) -> str:
    """The absolute URL of this page with `params` (relative when the host is unknown)."""
    base = ""
    try:
        base = st.context.url or ""
    except Exception:  # outside a browser session (tests): a relative link still works
        base = ""
    qs = query_string(params)
    return f"{base}?{qs}" if qs else (base or "?")


def dropped_note(where: Any) -> None:
    """Say which parameters of the link just opened named values that are not in the data
    (they were left out); the values themselves are never shown."""
    dropped = state.dropped()
    if not dropped:
        return
    names = ", ".join(f"{label} ({fmt.md_escape(param)})" for param, label in dropped)
    where.warning(
        f"This link has values that are not in the data or not valid here; they were "
        f"left out: {names}.",
        icon=":material/link_off:",
    )


def copy_link(where: Any, params: Params) -> None:
    """A visible "Copy link" control: the exact URL of this view with a copy button, after
    the note on values of the opened link that were left out."""
    dropped_note(where)
    with where.popover("Copy link to this view", icon=":material/link:", width="stretch"):
        st.caption("Opens this page with the same period, filters and chart options.")
        st.code(share_url(params), language=None, wrap_lines=True)
