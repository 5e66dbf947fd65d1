"""First start: no data yet → a friendly start page; loading the demo data on request
(or automatically with CX_AUTO_DEMO=1)."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import streamlit as st

from cxdata import demo, schema
from cxdata.errors import CxError
from cxdata.store import Store
from cxdata.voc.persist import compute_themes

# One demo load per process, even when several sessions start at once.
_demo_lock = threading.RLock()
DATA_PAGE = "pages/data.py"
TOAST = "_cx_toast"


def data_page_exists() -> bool:
    """Whether the import page is part of this checkout."""
    return (Path(__file__).resolve().parents[1] / "data.py").exists()


def store_demo(store: Store) -> str:
    """Generate the demo datasets and store them (replacing any); returns a summary."""
    started = time.perf_counter()
    with _demo_lock:
        demo.store_demo(store)
        # Themes once now, so the Feedback page's themes are there on first visit.
        compute_themes(store)
    took = time.perf_counter() - started
    return f"{demo.DEFAULT_ROWS:,} demo responses stored, comments analysed ({took:.1f} s)."


def auto_demo(store: Store) -> bool:
    """With CX_AUTO_DEMO=1 and no responses yet, load the demo once; True if it did.

    CX_AUTO_DEMO is the operator's decision, made before any visitor arrives, so the demo is
    written as the process itself (role None), not as the visitor whose run triggers it:
    on an empty store only, whatever the visitor's role."""
    if os.environ.get("CX_AUTO_DEMO", "").strip() != "1":
        return False
    with _demo_lock:
        if store.has(schema.RESPONSES):
            return False
        operator = Store(store.backend, raw=store.raw, location=store.location,
                         author="dashboard (CX_AUTO_DEMO)")
        with st.spinner("First start: generating the demo data and its comment themes…"):
            st.session_state[TOAST] = store_demo(operator)
    return True


def _load_demo(store: Store) -> None:
    try:
        with st.spinner("Generating the demo data and analysing its comments (about 15 s)…"):
            st.session_state[TOAST] = store_demo(store)
    except CxError as exc:
        st.session_state[TOAST] = f"Could not store the demo data: {exc}"


def render_start(store: Store) -> None:
    """The page shown instead of the dashboards while there are no responses."""
    st.title("Customer experience dashboard")
    st.subheader("No survey data yet")
    st.write(
        "This dashboard shows NPS, CSAT and CES with their confidence intervals, where along "
        "the customer journey friction happens, how segments compare, and what customers "
        "wrote. Start with the demo data of a fictional Nordic retailer, or import your own "
        "survey export."
    )
    left, right = st.columns(2)
    with left.container(border=True):
        st.markdown("**Explore the demo**")
        st.caption(
            "300,000 answers over 24 months in five languages, with three effects "
            "planted for you to find."
        )
        if store.may_write("manage"):
            if st.button("Load demo data", type="primary", icon=":material/play_arrow:"):
                _load_demo(store)
                st.rerun()
        else:
            st.caption(
                "Loading data needs the admin role. In open mode, start the dashboard with "
                "`CX_OPEN_ADMIN=1` (local use) or `CX_AUTO_DEMO=1`, or run "
                "`python -m cxdata demo`."
            )
    with right.container(border=True):
        st.markdown("**Use your own data**")
        st.caption("CSV, Excel or Parquet survey exports; columns are mapped on import.")
        if data_page_exists() and store.may_write("import"):
            st.page_link(DATA_PAGE, label="Import data", icon=":material/upload:")
        else:
            st.caption("From a terminal: `python -m cxdata demo` stores the demo data.")
    show_toast()
    st.caption(f"Data store: `{store.location}`")


def show_toast() -> None:
    """Show (once) the message a demo load left for the next run."""
    msg = st.session_state.pop(TOAST, None)
    if msg:
        st.toast(msg, icon=":material/check_circle:")
