"""The CX dashboard: `streamlit run dashboard.py`.

This entry point only wires things together: page config, navigation, the session's data
context, the shared sidebar filters and the URL state; each page lives in pages/.
"""

from __future__ import annotations

# First, before anything else: every module imported once, one thread at a time (a cold
# server's first runs start together; see pages/_shared/warmup.py).
from pages._shared import warmup  # noqa: F401

# isort: split

import logging
from contextlib import ExitStack

import streamlit as st

from cxdata import config, resident
from cxdata.access import Grant
from cxdata.errors import CxError, display_text, shown_on_the_web
from cxdata.store import Store, engine_errors
from cxdata.textsafe import md_escape
from pages._shared import auth, common, score_targets, session, sidebar, start, state

st.set_page_config(
    page_title="CX dashboard",
    page_icon=":material/insights:",
    layout="wide",
    initial_sidebar_state="auto",  # collapsed on phones, open on wider screens
)


# Phones (Streamlit stacks columns under 640 px): KPI tiles two to a row instead of one
# long column, and a heatmap keeps cells wide enough for their numbers ("50.4%" squeezed
# into a 20-px cell lost its first digit) and scrolls sideways instead.
PHONE_CSS = """
@media (max-width: 640px) {
  [data-testid="stHorizontalBlock"]:has(> [data-testid="stColumn"] [data-testid="stMetric"]) {
    flex-flow: row wrap !important; gap: 0.5rem !important;
  }
  [data-testid="stHorizontalBlock"]:has(> [data-testid="stColumn"] [data-testid="stMetric"])
    > [data-testid="stColumn"] {
    flex: 1 1 calc(50% - 0.25rem) !important; min-width: calc(50% - 0.25rem) !important;
    width: calc(50% - 0.25rem) !important;
  }
  /* half-width tiles: labels and "not significant" wrap instead of ending in "…" */
  [data-testid="stMetric"] .stMarkdownEllipsis, [data-testid="stMetric"] .stMarkdownEllipsis p {
    white-space: normal !important; overflow: visible !important; text-overflow: clip !important;
  }
  [data-testid="stMetric"] div:has(> [data-testid="stMetricDelta"]) { flex-wrap: wrap; }
  /* a 7-digit count ("1,399,032" at 10M answers) broke over two lines at full size */
  [data-testid="stMetricValue"], [data-testid="stMetricValue"] > div {
    font-size: min(2.25rem, 6.5vw) !important; white-space: nowrap !important;
  }
  .stElementContainer:has(.heatmaplayer) { overflow-x: auto; }
  .stElementContainer:has(.heatmaplayer) > [data-testid="stFullScreenFrame"],
  .stElementContainer:has(.heatmaplayer) [data-testid="stPlotlyChart"] { min-width: 560px; }
}
"""


def _signed_out() -> None:
    """The only page while nobody is signed in (auth.session_grant drew the screen)."""


def _navigation(grant: Grant) -> tuple[st.Page, bool]:
    """Register the pages (the Data page only for those who may import, and only once its
    file exists); returns the page to run and whether it is the Data page."""
    pages = [
        st.Page(p.path, title=p.title, icon=p.icon, default=p is common.OVERVIEW)
        for p in common.DASHBOARD_PAGES
    ]
    if start.data_page_exists() and auth.may_import(grant):
        pages.append(st.Page(common.DATA.path, title=common.DATA.title, icon=common.DATA.icon))
    current = st.navigation(pages)
    return current, current.url_path == "data"


_LOG = logging.getLogger("cxdata.dashboard")


def main() -> None:
    """One script run: sign-in → context → sidebar filters → page → URL and copy link.

    An engine failure (a damaged or full disk, a fatal error: cxdata.store.engine_errors)
    shows one line and drops the broken connection, so the next run reopens it; any other
    uncaught exception shows Streamlit's generic line (client.showErrorDetails = "none")
    and its traceback goes to the server log only."""
    grant = auth.session_grant()
    if grant is None:
        st.navigation([st.Page(_signed_out, title="Sign in")], position="hidden")
        return
    page, is_data_page = _navigation(grant)
    state.begin_run()
    st.html(f"<style>{PHONE_CSS}</style>")  # style only: Streamlit draws no element for it
    link_slot = st.sidebar.container()
    with ExitStack() as run:
        try:
            with engine_errors():
                store = session.session_store(grant)
            # this server keeps the responses it reads in memory (cxdata.resident);
            # a mistyped setting stops here, before any number is drawn
            resident.enable()
            with engine_errors(store):
                start.auto_demo(store)
                # the run reads one snapshot: its data key and every number drawn
                run.enter_context(store.reading())
                ctx = session.build_context(store, session.data_key(store))
        except (CxError, ValueError) as exc:
            _log(exc)
            st.error(f"The data store cannot be opened: {md_escape(display_text(exc))}",
                     icon=":material/error:")
            state.end_run()
            return
        try:
            with engine_errors(store):
                _draw(page, is_data_page, store, ctx, link_slot)
        except CxError as exc:  # an engine failure, or an engine message no page caught
            _log(exc)
            st.error(md_escape(str(exc)), icon=":material/error:")
            state.end_run()


def _log(exc: BaseException) -> None:
    """Keep an engine failure's detail (paths, the engine's words) in the server log."""
    if exc.__cause__ is not None:
        _LOG.warning("%s", exc.args[0] if exc.args else type(exc).__name__, exc_info=exc.__cause__)


def _draw(
    page: st.Page, is_data_page: bool, store: Store, ctx: session.Ctx | None, link_slot: object
) -> None:
    """The page of this run: the Data page, the start page while there are no responses,
    else the sidebar filters, the page and the copy-link button."""
    start.show_toast()
    if is_data_page:
        page.run()
        state.end_run()
        return
    if ctx is None:
        start.render_start(store)
        state.end_run()
        return
    ctx.view = sidebar.render_filters(ctx)
    ctx.filters = ctx.view.filters(ctx.anchor, ctx.span[0])
    ctx.previous = ctx.view.comparison(ctx.anchor, ctx.span[0])
    score_targets.admin_note()
    page.run()
    sidebar.copy_link(link_slot, state.end_run())


with session.entrypoint_run(), shown_on_the_web(config.data_dir()):
    main()
