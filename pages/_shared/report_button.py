"""The "Download report" button of every dashboard page: the current view as a
self-contained HTML report (cxdata.report), made on click under the viewer's own
restriction (the session's Store) and served briefly (pages._shared.exports)."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Mapping, Sequence
from urllib.parse import urlsplit

import streamlit as st

from cxdata.config import Thresholds
from cxdata.notify.render import ChartRenderer
from cxdata.report import page_of, view_report
from cxdata.store import Store
from cxdata.targets import Targets
from pages._shared import exports, score_targets, session, state
from pages._shared.session import Ctx

# One report at a time per server process: Kaleido's browser (ChartRenderer) is one
# process-wide server, which a second report would stop under the first one's feet.
_LOCK = threading.Lock()


def make_report(
    store: Store, page: str, params: Mapping[str, Sequence[str]], *, th: Thresholds,
    targets: Targets, title: str, base_url: str = "",
) -> bytes:
    """The HTML report (UTF-8 bytes) of `page` with `params` on a fresh Store with
    `store`'s restriction (this runs on the download's worker thread, beside the session's
    script run, so it does not share the session's cursor)."""
    params = {k: list(v) for k, v in params.items()}  # a copy: the run may still publish
    with _LOCK, ChartRenderer() as renderer:
        report = view_report(session.fresh_store(store), page, params, th=th, targets=targets,
                             title=title, renderer=renderer, base_url=base_url)  # fmt: skip
    return report.html.encode("utf-8")


def _base_url() -> str:
    """The dashboard's address as this browser reached it (scheme and host), or ""."""
    try:
        parts = urlsplit(st.context.url or "")
    except Exception:  # no browser context (AppTest): the report goes without a link
        return ""
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else ""


def report_button(ctx: Ctx, title: str) -> None:
    """The "Download report" button of the page titled `title` (a dashboard page: the
    other pages get none)."""
    page, note = page_of(title.lower())
    if note:
        return
    store, th = ctx.store, ctx.th
    targets = score_targets.current().targets
    params = state.live_params()
    base = _base_url()

    def make() -> bytes:
        return make_report(store, page, params, th=th, targets=targets,
                           title=f"{title} report", base_url=base)

    exports.download_button(
        "Download report",
        make,
        file_name=f"report-{page}-{dt.date.today().isoformat()}.html",
        mime="text/html",
        icon=":material/summarize:",
        help="This view as one HTML file: the tiles, charts and the numbers behind them "
        "with their n; opens offline and prints on A4.",
    )
