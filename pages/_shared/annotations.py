"""The Trends page's annotations (cxdata.annotations): one expander with the switch that
shows or hides them on the charts (bound to the URL: ``notes=off``), the ones in the view's
date range, and — for users who may write (Store.may_write("import"): analysts and admins
without a row restriction) — an add form and a delete button per row. The engine checks the
role again on every write; this only decides what to offer."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from cxdata import annotations, fmt
from cxdata.errors import CxError, display_text
from cxdata.store import Store
from cxdata.urlstate import decode_choice
from pages._shared import state
from pages._shared.auth import effective_grant, open_mode_hint
from pages._shared.session import Ctx

KEY = "trends.notes"  # the show / hide switch
PARAM = "notes"  # its URL parameter (cxdata.urlstate.PAGE_PARAMS): "off" hides, absent shows
_FLASH = "notes.flash"  # (kind, text) of the last add or delete, shown once
EVERYWHERE = ""
MAX_LISTED = 50


def shown() -> bool:
    """The switch "Show on the charts", bound to the URL parameter `notes`."""
    state.seed(
        KEY,
        PARAM,
        lambda v: decode_choice(v, ("on", "off"), "on") == "on",
        lambda v: isinstance(v, bool),
    )
    value = bool(st.toggle(
        "Show on the charts", key=KEY,
        help="Dashed lines on the trend charts; hover a label for its date, scope and author. "
        "A shared link keeps this choice.",
    ))  # fmt: skip
    state.remember(KEY, value)
    state.publish({} if value else {PARAM: ["off"]})
    return value


def _flash(kind: str, text: str) -> None:
    st.session_state[_FLASH] = (kind, text)


def _add(store: Store) -> None:
    """The add button's callback: store the form's annotation, then clear its label."""
    ss = st.session_state
    dim = ss.get("notes.dim", EVERYWHERE)
    scope = (dim, str(ss.get("notes.value") or "")) if dim != EVERYWHERE else None
    try:
        annotations.add_annotation(store, ss.get("notes.date"), ss.get("notes.label", ""), scope)
    except (CxError, ValueError) as exc:
        _flash("error", f"Not added: {display_text(exc)}")
        return
    _flash("ok", f"Annotation “{annotations.clean_label(ss['notes.label'])}” added.")
    ss["notes.label"] = ""


def _delete(store: Store, ident: str, label: str) -> None:
    """A delete button's callback."""
    try:
        annotations.delete_annotation(store, ident)
    except (CxError, ValueError) as exc:
        _flash("error", f"Not deleted: {display_text(exc)}")
        return
    _flash("ok", f"Annotation “{label}” deleted.")


def _listing(ctx: Ctx, found: pd.DataFrame, writer: bool) -> None:
    if found.empty:
        st.caption("No annotations in this date range.")
        return
    for r in found.head(MAX_LISTED).itertuples(index=False):
        # one line per annotation, on a phone too (columns would stack into four lines)
        row = st.container(horizontal=True, vertical_alignment="center", gap="small")
        row.markdown(f"**{r.date.day} {r.date:%b %Y}** · {fmt.md_escape(r.label)}",
                     width="stretch")  # fmt: skip
        by = f" · by {r.author}" if r.author else ""
        row.caption(fmt.md_escape((r.scope or "everywhere") + by), width="content")
        if writer:
            row.button(
                "", icon=":material/delete:", key=f"notes.del.{r.id}", help="Delete",
                on_click=_delete, args=(ctx.store, r.id, r.label), type="tertiary",
            )  # fmt: skip
    if len(found) > MAX_LISTED:
        st.caption(f"The first {MAX_LISTED} of {len(found)} are listed.")


def _add_form(ctx: Ctx) -> None:
    st.markdown("**Add an annotation**")
    c1, c2 = st.columns([1, 2.4])
    default = min(ctx.filters.end or ctx.anchor, ctx.anchor)
    if "notes.date" not in st.session_state:
        st.session_state["notes.date"] = default
    c1.date_input("Date", key="notes.date", min_value=annotations.EARLIEST,
                  max_value=annotations.LATEST, format="YYYY-MM-DD")  # fmt: skip
    c2.text_input("Label", key="notes.label", max_chars=annotations.MAX_LABEL,
                  placeholder="e.g. Checkout fix, price change, release 4.2")  # fmt: skip
    c3, c4, c5 = st.columns([1.2, 1.2, 1], vertical_alignment="bottom")
    dims = [EVERYWHERE, *ctx.dimensions()]
    dim = c3.selectbox(
        "Scope", dims, key="notes.dim",
        format_func=lambda d: "Everywhere" if d == EVERYWHERE else fmt.dim_label(d),
    )  # fmt: skip
    if dim != EVERYWHERE:
        c4.selectbox("Value", ctx.dimension_values(dim), key="notes.value")
    c5.button("Add annotation", key="notes.add", icon=":material/add:", on_click=_add,
              args=(ctx.store,), type="primary")  # fmt: skip


def _none() -> pd.DataFrame:
    return pd.DataFrame(columns=[*annotations.COLUMNS, "scope"])


def in_view(ctx: Ctx) -> pd.DataFrame:
    """The view's annotations (annotations.annotations_in) for a trend chart on a page
    without the section — the Feedback page's theme trend: none when the link says
    ``notes=off`` or when they cannot be read (the chart is still worth drawing)."""
    if decode_choice(st.query_params.get_all(PARAM), ("on", "off"), "on") == "off":
        return _none()
    try:
        return view_annotations(ctx)
    except CxError:
        return _none()


def view_annotations(ctx: Ctx) -> pd.DataFrame:
    """annotations.annotations_in for this run's view: cached when the data version is a
    lake snapshot (a note written or deleted makes a new one), read anew otherwise (a
    warehouse's version does not move when only a note changes)."""
    if ctx.key.version.snapshot >= 0:
        return ctx.query("annotations_in", ctx.filters)
    return annotations.annotations_in(ctx.store, ctx.filters)


def section(ctx: Ctx) -> pd.DataFrame:
    """The expander (see the module docstring); returns the annotations to draw on this
    run's charts: those of the view (annotations.annotations_in), none when switched off."""
    try:
        found = view_annotations(ctx)
    except CxError as exc:
        st.caption(fmt.md_escape(f"Annotations cannot be read: {display_text(exc)}"))
        return _none()
    writer = ctx.store.may_write("import")
    count = f"{len(found)} in this range" if len(found) else "none in this range"
    with st.expander(f"Annotations · {count}", icon=":material/flag:"):
        show = shown()
        flash = st.session_state.pop(_FLASH, None)
        if flash:
            (st.success if flash[0] == "ok" else st.error)(fmt.md_escape(flash[1]))
        _listing(ctx, found, writer)
        if writer:
            _add_form(ctx)
        else:
            st.caption(
                "Adding annotations needs the analyst role without a row restriction"
                f"{open_mode_hint(effective_grant())}."
            )
    return found if show else found.iloc[0:0]

