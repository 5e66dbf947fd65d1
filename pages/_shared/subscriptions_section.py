"""The Data page's "Subscriptions and alerts": for administrators only, the subscriptions
file ($CX_SUBSCRIPTIONS_FILE, cxdata.notify.config) in an editor with Check and Save, and
the send ledger's latest records ("Sent").

Fail closed: the file lists e-mail addresses, so anyone without the manage right sees
nothing of this section, not even its heading. Saving writes only a file that
validate_text accepts under the current access file (a broken access file refuses every
save), atomically, keeping the previous version as `<file>.bak`.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import stat
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

from cxdata.access import AccessPolicy, load_policy
from cxdata.errors import CxError
from cxdata.fmt import md_escape, safe_table
from cxdata.importing.datasets import data_dir_of
from cxdata.notify import ledger
from cxdata.notify.config import SUBSCRIPTIONS_ENV, parse_config, validate_text
from cxdata.store import Store

TITLE = "Subscriptions and alerts"
TEXT = "cx_subs_text"  # the editor's text
BASE = "cx_subs_base"  # hash of the file's text when the editor was filled from it
SAVED = "cx_subs_saved"  # the last save's message, shown once after the rerun
SENT_ROWS = 50
NOT_ENABLED = (
    f"Subscriptions and alerts are off. To turn them on, set **{SUBSCRIPTIONS_ENV}** to the "
    "path of a TOML file (it need not exist yet: you can write it here) and restart the "
    'dashboard; see the README section "Subscriptions and alerts".'
)
NOTHING_SENT = "Nothing sent yet: digests and alerts appear here once they go out."
STATUS_NOTE = (
    "sent: delivered · failed: tried again on the next run · skipped: nothing to send · "
    "claimed: being sent now, or interrupted (tried again after an hour)"
)
EXAMPLE = """\
# Subscriptions and alerts (see the README section "Subscriptions and alerts").
# Every recipient must be granted access by the access file (CX_ACCESS_FILE).
# Remove the leading # of the lines below to start from this example.
#
# base_url = "https://cx.example.com"
#
# [[subscription]]
# name = "norway-weekly"
# to = ["ola@example.com"]
# view = "/overview?period=lq&country=Norway"
# every = "weekly"
# weekday = "monday"
#
# [[alert]]
# name = "nps-drop"
# kind = "kpi_change"
# to = ["ola@example.com"]
# metric = "nps"
# threshold = 5.0
"""
COLUMNS = {  # the Sent table's columns and headers
    "at": st.column_config.DatetimeColumn("When (UTC)", format="YYYY-MM-DD HH:mm"),
    "status": st.column_config.TextColumn("Status"),
    "recipient": st.column_config.TextColumn("Recipient"),
    "subject": st.column_config.TextColumn("Subject"),
    "rule": st.column_config.TextColumn("Rule"),
    "detail": st.column_config.TextColumn("Detail"),
}


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def write_atomically(path: Path, text: str) -> None:
    """Replace `path` with `text` (UTF-8) in one step: a temporary file in the same
    directory, fsynced, then os.replace; the previous version, if any, is kept as
    `<path>.bak` first. The file keeps its permission bits; a new one is 0600 (it lists
    e-mail addresses). OSError when the directory cannot be written."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        if path.exists():
            os.chmod(tmp, stat.S_IMODE(path.stat().st_mode))
            backup = path.with_name(path.name + ".bak")
            # The .bak is replaced whole too: a crash never leaves half a backup.
            fd_bak, tmp_bak = tempfile.mkstemp(dir=path.parent, prefix=f".{backup.name}.")
            os.close(fd_bak)
            try:
                shutil.copy2(path, tmp_bak)
                os.replace(tmp_bak, backup)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(tmp_bak)
                raise
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def sent_table(records: list[dict[str, Any]], limit: int = SENT_ROWS) -> pd.DataFrame:
    """The ledger's records as the page shows them, newest first (by time), at most `limit`
    rows, with the columns of COLUMNS (at: naive UTC datetime, NaT when unreadable; the
    rest text). A claim that has its result later in the ledger is left out: the result
    row says it all."""
    settled: set[str] = set()
    rows: list[dict[str, Any]] = []
    for record in reversed(records):  # newest first
        key, status = record["key"], str(record.get("status", ""))
        if status == ledger.CLAIMED and key in settled:
            continue
        if status != ledger.CLAIMED:
            settled.add(key)
        meta = record.get("meta") if isinstance(record.get("meta"), dict) else {}
        rule = " ".join(str(meta[k]) for k in ("kind", "name") if meta.get(k))
        rows.append(
            {
                "at": record.get("at"),
                "status": status,
                "recipient": str(meta.get("recipient", "")),
                "subject": str(meta.get("subject", "")),
                "rule": rule,
                "detail": str(record.get("detail", "")),
            }
        )
    frame = pd.DataFrame(rows, columns=list(COLUMNS))
    when = pd.to_datetime(frame["at"], utc=True, errors="coerce", format="ISO8601")
    # Two senders can append out of time order: newest by time, ties in ledger order (a
    # stable sort of rows already newest-appended first); unreadable times last.
    frame = frame.assign(at=when.dt.tz_convert(None))
    frame = frame.sort_values("at", ascending=False, kind="stable", na_position="last")
    return frame.head(limit).reset_index(drop=True)


def _sent(store: Store) -> None:
    st.markdown("**Sent**")
    try:
        records = ledger.records(data_dir_of(store))
    except OSError as exc:
        st.error(
            f"The send ledger cannot be read: {md_escape(exc.strerror or exc)}.",
            icon=":material/error:",
        )
        return
    if not records:
        st.info(NOTHING_SENT, icon=":material/info:")
        return
    st.dataframe(
        safe_table(sent_table(records)),  # e-mail addresses, subjects, error text
        hide_index=True,
        width="stretch",
        column_config=COLUMNS,
    )
    st.caption(f"Up to the latest {SENT_ROWS} records, newest first. {STATUS_NOTE}")


def _policy() -> tuple[AccessPolicy | None, str | None]:
    """The access policy, or (None, the error) when the access file is broken."""
    try:
        return load_policy(), None
    except CxError as exc:
        return None, str(exc)


def _save(path: Path, text: str, policy: AccessPolicy | None, on_disk: str | None) -> None:
    """Check `text` and write it; the outcome drawn (errors) or kept for the rerun."""
    errors = validate_text(text, policy)
    if errors:
        st.error(f"Not saved: {md_escape(errors[0])}", icon=":material/error:")
        return
    if on_disk is not None and _digest(on_disk) != st.session_state.get(BASE):
        st.error(
            "Not saved: the file was changed by someone else since you opened it. Copy your "
            "text, then press “Load the file again”.",
            icon=":material/error:",
        )
        return
    try:
        write_atomically(path, text)
    except OSError as exc:
        st.error(
            f"Not saved: {md_escape(path)} cannot be written ({md_escape(exc.strerror or exc)}).",
            icon=":material/error:",
        )
        return
    config = parse_config(text, policy)
    st.session_state[BASE] = _digest(text)
    st.session_state[SAVED] = (
        f"Saved: {_plural(len(config.subscriptions), 'subscription')} and "
        f"{_plural(len(config.alerts), 'alert')}."
        + (" The previous version is kept as " + md_escape(path.name) + ".bak."
           if on_disk is not None else "")
    )
    st.rerun()


def _editor(path: Path) -> None:
    try:
        on_disk: str | None = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        on_disk = None
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        st.error(
            f"{md_escape(path)} cannot be read ({md_escape(reason)}); fix it on the server.",
            icon=":material/error:",
        )
        return
    current = EXAMPLE if on_disk is None else on_disk
    if TEXT not in st.session_state:
        st.session_state[TEXT] = current
        st.session_state[BASE] = _digest(on_disk or "")
    policy, broken = _policy()
    if broken:
        st.error(
            "The access file has a mistake, so recipients cannot be checked and saving is "
            f"refused until it is fixed: {md_escape(broken)}",
            icon=":material/lock:",
        )
    elif on_disk is not None and (problem := validate_text(on_disk, policy)):
        st.warning(
            f"The saved file has a mistake, so nothing is sent until it is fixed: "
            f"{md_escape(problem[0])}",
            icon=":material/warning:",
        )
    saved = st.session_state.pop(SAVED, None)
    if saved:
        st.success(saved, icon=":material/check_circle:")
    st.caption(
        f"File: {md_escape(path)}"
        + (" (does not exist yet: Save creates it)" if on_disk is None else "")
    )
    text = st.text_area("Subscriptions file (TOML)", key=TEXT, height=320)
    row = st.container(horizontal=True, vertical_alignment="center")
    if row.button("Check", key="cx_subs_check", disabled=bool(broken)):
        errors = validate_text(text, policy)
        if errors:
            st.error(md_escape(errors[0]), icon=":material/error:")
        else:
            config = parse_config(text, policy)
            st.success(
                f"No mistakes: {_plural(len(config.subscriptions), 'subscription')} and "
                f"{_plural(len(config.alerts), 'alert')}.",
                icon=":material/check:",
            )
    if row.button("Save", type="primary", key="cx_subs_save", disabled=bool(broken)):
        _save(path, text, policy, on_disk)
    # A callback: the editor's text can only be reset before the widget is drawn.
    row.button(
        "Load the file again", key="cx_subs_reload", type="tertiary", on_click=_forget_text
    )


def _forget_text() -> None:
    st.session_state.pop(TEXT, None)


def subscriptions_section(store: Store) -> None:
    """The "Subscriptions and alerts" section, with its own divider above it; for an
    administrator (a Store with the manage right) only: nothing at all is drawn for
    anyone else."""
    if not store.may_write("manage"):
        return
    st.divider()
    st.subheader(TITLE)
    raw = os.environ.get(SUBSCRIPTIONS_ENV, "").strip()
    if not raw:
        st.info(NOT_ENABLED, icon=":material/info:")
    else:
        _editor(Path(raw))
    _sent(store)
