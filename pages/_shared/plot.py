"""Drawing the engine's figures (cxdata.charts) in the app: the title a downloaded chart
carries and the run's period and filters it names."""

from __future__ import annotations

from typing import Any

import plotly.graph_objects as go
import streamlit as st

from cxdata import fmt
from cxdata.charts import CONFIG, export_config, export_titled
from cxdata.specfigure import SpecFigure


def show(
    fig: go.Figure,
    key: str | None = None,
    *,
    config: dict[str, Any] | None = None,
    alt: str | None = None,
    title: str | None = None,
    context: str | None = None,
) -> None:
    """Draw a figure (not selectable) in the app theme. With a `title` (else `alt`) the
    figure carries it with `context` (default: the run's period and filters, run_context)
    in its title, and the toolbar's PNG is named after it: a downloaded chart says what
    it shows (Plotly's toImage draws the figure as it is; it has no export-only title)."""
    name = title or alt
    if name:
        line = run_context() if context is None else context
        fig = SpecFigure(export_titled(fig.to_dict(), name, line))
        config = export_config(name, line, config or CONFIG)
    st.plotly_chart(fig, key=key, config=config or CONFIG, theme="streamlit", alt=alt or title)


def run_context() -> str:
    """The period and filters of this run's view, as plain text ("" outside a page run):
    the Ctx dashboard.py keeps in the session (session._CTX) for the pages."""
    from pages._shared import session  # session imports the engine; plot stays light

    ctx = st.session_state.get(session._CTX)
    if ctx is None:
        return ""
    return fmt.view_context(ctx.filters)
