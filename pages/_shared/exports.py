"""Downloads that never sit on the server: made on click, and their link expires in seconds.

Streamlit serves a download from `/media/<id>.<ext>` to anyone who has the URL: no cookie,
no session check. A static `st.download_button(data=bytes)` stores its bytes on every run
for as long as the session lives (and a closed session lingers for the reconnect window,
`server.disconnectedSessionTTL`, 2 minutes); a file made by a deferred button (`data` a
callable) is only collected when later script runs of any session find it unused twice,
so on a quiet server it stays. Every export therefore goes through `download_button` here:

- the data is a callable, run when the user clicks (in a worker thread, without the
  script's context), so nothing is in /media until asked for;
- the file that click made is deleted LINK_SECONDS later, whatever the session does: the
  browser fetches the URL at once (it is sent only to the clicking session), anyone later
  gets 404. Clicking again makes a new file.

The deletion reaches into Streamlit's media file manager (pinned version in
requirements.txt); tests/test_exports.py fails if an upgrade changes what it relies on.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from typing import Any

import pandas as pd
import streamlit as st

from cxdata.comments import safe_csv


def _link_seconds() -> float:
    """Seconds a download link serves ($CX_EXPORT_LINK_SECONDS, default 10; a value that
    is not a positive number falls back to the default)."""
    try:
        seconds = float(os.environ.get("CX_EXPORT_LINK_SECONDS") or 10.0)
    except ValueError:
        return 10.0
    return seconds if 0 < seconds < float("inf") else 10.0


LINK_SECONDS = _link_seconds()
_LOG = logging.getLogger(__name__)
_lock = threading.Lock()
_deadlines: dict[str, float] = {}  # file id → when its newest link expires


def download_button(
    label: str,
    make: Callable[[], bytes | str],
    *,
    file_name: str,
    mime: str = "text/csv",
    **kwargs: Any,
) -> None:
    """`st.download_button` whose data `make()` is produced on click and served briefly.
    Other arguments pass through; `on_click` defaults to "ignore" (no rerun on click)."""
    kwargs.setdefault("on_click", "ignore")
    st.download_button(
        label, short_lived(make, mime, file_name), file_name=file_name, mime=mime, **kwargs
    )


def table_csv_button(frame: pd.DataFrame, file_name: str) -> None:
    """"Download CSV" of a shown table: comments.safe_csv (formula-like cells neutralised),
    made on click and served briefly (download_button)."""
    download_button("Download CSV", lambda: safe_csv(frame), file_name=file_name,
                    icon=":material/download:")  # fmt: skip


def short_lived(
    make: Callable[[], bytes | str], mime: str, file_name: str | None, seconds: float = LINK_SECONDS
) -> Callable[[], bytes]:
    """`make` wrapped so that the file Streamlit stores from its result is deleted
    `seconds` after it was made."""

    def generate() -> bytes:
        data = make()
        body = data.encode() if isinstance(data, str) else bytes(data)
        expire_later(media_file_id(body, mime, file_name), seconds)
        return body

    return generate


def media_file_id(body: bytes, mime: str, file_name: str | None) -> str:
    """The id Streamlit's in-memory media storage gives these bytes (a content hash)."""
    from streamlit.runtime.memory_media_file_storage import _calculate_file_id

    return str(_calculate_file_id(body, mime, file_name))


def expire_later(file_id: str, seconds: float = LINK_SECONDS) -> None:
    """Delete the stored file `file_id` in `seconds` (later, if the same bytes are made
    again meanwhile: the newest click's link keeps its full time)."""
    with _lock:
        _deadlines[file_id] = max(_deadlines.get(file_id, 0.0), time.monotonic() + seconds)
    timer = threading.Timer(seconds, _expire, args=(file_id,))
    timer.daemon = True
    timer.start()


def _expire(file_id: str) -> None:
    with _lock:
        deadline = _deadlines.get(file_id)
        if deadline is None or time.monotonic() < deadline - 0.05:
            return  # a newer link's timer deletes it
        del _deadlines[file_id]
    from streamlit import runtime

    if runtime.exists():
        forget(runtime.get_instance().media_file_mgr, file_id)


def forget(manager: Any, file_id: str) -> bool:
    """Delete one stored download from Streamlit's MediaFileManager unless a session shows
    it (a static button with the same bytes); returns whether it was deleted."""
    try:
        with manager._lock:
            shown = any(
                file_id in coords.values()
                for coords in manager._files_by_session_and_coord.values()
            )
            if shown:
                return False
            manager._storage.delete_file(file_id)
            manager._file_metadata.pop(file_id, None)
            return True
    except AttributeError:  # another Streamlit: collect every unused download instead
        _LOG.exception("Streamlit's media manager changed; collecting all unused downloads")
        manager.remove_orphaned_files()  # marks unused downloads ...
        manager.remove_orphaned_files()  # ... and deletes them
        return True
