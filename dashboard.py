"""The CX dashboard: `streamlit run dashboard.py`.

This entry point only wires things together: page config, navigation, the session's data
context, the shared sidebar filters and the URL state; each page lives in pages/.
"""

from __future__ import annotations

import streamlit as st

from cxdata.access import Grant
from cxdata.errors import CxError
from pages._shared import auth, common, session, sidebar, start, state

st.set_page_config(
    page_title="CX dashboard",
    page_icon=":material/insights:",
    layout="wide",
    initial_sidebar_state="expanded",
)


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


def main() -> None:
    """One script run: sign-in → context → sidebar filters → page → URL and copy link."""
    grant = auth.session_grant()
    if grant is None:
        st.navigation([st.Page(_signed_out, title="Sign in")], position="hidden")
        return
    page, is_data_page = _navigation(grant)
    state.begin_run()
    link_slot = st.sidebar.container()
    try:
        store = session.session_store(grant)
        start.auto_demo(store)
        ctx = session.build_context(store, session.data_key(store))
    except (CxError, ValueError) as exc:
        st.error(f"The data store cannot be opened: {exc}", icon=":material/error:")
        state.end_run()
        return
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
    ctx.filters = ctx.view.filters(ctx.anchor)
    ctx.previous = ctx.view.comparison(ctx.anchor)
    page.run()
    sidebar.copy_link(link_slot, state.end_run())


with session.entrypoint_run():
    main()
