"""The Data page's "Import history": the store's change log (cxdata.history), newest first,
and for administrators the undo of one change.

Every decision (what a change wrote, whether it can be undone, what an undo removes) is
the engine's; this module words it. After an undo a rerun is enough for the other pages:
their cached queries are keyed on catalog.data_version, which carries the lake snapshot.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
import streamlit as st

from cxdata import history, schema
from cxdata.errors import CxError
from cxdata.fmt import md_escape, safe_table
from cxdata.history import Change
from cxdata.store import Store
from cxdata.voc import tables

EMPTY = (
    "No changes recorded yet: imports, demo loads, deletes and theme runs appear here."
)
ADMIN_ONLY = "Only an administrator can undo a change."
UNDONE = "cx_undo_done"  # the last undo's message, shown once after the rerun
PICK = "cx_undo_pick"
DATASET_WORDS = {  # in the order rows are listed
    schema.RESPONSES: "responses",
    schema.TOUCHPOINT_RATINGS: "touchpoint ratings",
    schema.METRICS: "metric rows",
    tables.THEMES: "comment themes",
    tables.COMMENTS: "analysed comments",
    tables.TOPICS: "topics",
    tables.TOPIC_TERMS: "topic terms",
    tables.RUNS: "theme runs",
}
COLUMNS = {  # the table's columns and headers; widths in px fit ~960 px (the page at 1440)
    "snapshot": st.column_config.NumberColumn("Change", format="%d", width=65),
    "at": st.column_config.DatetimeColumn("When (UTC)", format="YYYY-MM-DD HH:mm", width=130),
    "author": st.column_config.TextColumn("Who", width=165),
    "what": st.column_config.TextColumn("What", width=145),
    "file": st.column_config.TextColumn("File", width=125),
    "rows": st.column_config.TextColumn("Rows", width=250),  # longer lists: on hover
    "undone_by": st.column_config.TextColumn("Undone by", width=80),  # blank: not undone
}


def _words(name: str, n: int = 2) -> str:
    """The dataset's rows in words, singular for one row ("1 response")."""
    words = DATASET_WORDS.get(name, name.replace("_", " ") + " rows")
    return words[:-1] if abs(n) == 1 and words.endswith("s") else words


def _order(name: str) -> tuple[int, str]:
    """Known datasets in DATASET_WORDS order, then the others by name."""
    known = list(DATASET_WORDS)
    return (known.index(name) if name in known else len(known), name)


def _and(parts: Sequence[str]) -> str:
    """"a", "a and b", "a, b and c"."""
    return parts[0] if len(parts) == 1 else f"{', '.join(parts[:-1])} and {parts[-1]}"


def _ops(change: Change, *kinds: str) -> list[str]:
    """The datasets `change` wrote with one of the op kinds (append, replace, delete…)."""
    found = [name for kind, _, name in (o.partition(" ") for o in change.ops) if kind in kinds]
    return sorted(set(found), key=_order)


def rows_text(rows: dict[str, int]) -> str:
    """Rows per dataset in words: "400 responses, 238 touchpoint ratings"; an undo's
    removed rows are negative ("−400 responses"); "" when nothing was counted."""
    ordered = sorted(rows.items(), key=lambda kv: _order(kv[0]))
    return ", ".join(
        f"{'−' if n < 0 else ''}{abs(n):,} {_words(name, n)}" for name, n in ordered
    )


def what_text(change: Change) -> str:
    """What kind of change it was, in words ("Import (append)", "Undo of change 4"…)."""
    if change.kind == "undo":
        return f"Undo of change {change.undoes}"
    if change.kind == "import":
        return f"Import ({change.mode})" if change.mode else "Import"
    if change.kind == "demo":
        return "Demo data load"
    if change.kind == "themes":
        return f"Theme run ({change.mode})" if change.mode else "Theme run"
    if change.kind == "delete":
        deleted = _ops(change, "delete", "drop")
        return "Delete of " + _and([_words(n) for n in deleted]) if deleted else "Delete"
    return change.kind.capitalize()


def _origin(change: Change) -> str:
    if change.kind == "import" and change.file:
        return f"imported from {change.file}"
    if change.kind == "demo":
        return "loaded as demo data"
    return f"written by change {change.snapshot}"


def undo_description(change: Change) -> str:
    """Exactly what undoing `change` takes away, as one sentence: "Remove the 400
    responses and 238 touchpoint ratings imported from week1.csv"; a replace or a delete
    also puts back what was stored before it."""
    written = _ops(change, "append", "replace")
    counts = [f"{r:,} {_words(n, r)}" for n in written if (r := change.rows.get(n)) is not None]
    parts = [f"remove the {_and(counts)} {_origin(change)}"] if counts else []
    replaced = _ops(change, "replace")
    if replaced:
        parts.append(f"put back the {_and([_words(n) for n in replaced])} as they were before it")
    dropped = _ops(change, "delete", "drop")
    if dropped:
        parts.append(f"put back the deleted {_and([_words(n) for n in dropped])}")
    text = " and ".join(parts) or f"take back change {change.snapshot}"
    return text[0].upper() + text[1:]


def option_label(change: Change) -> str:
    """The undo choice: "#5 · 2026-11-30 09:14 UTC · week1.csv · 400 responses, …"."""
    what = change.file or what_text(change)
    rows = rows_text(change.rows)
    return f"#{change.snapshot} · {change.at:%Y-%m-%d %H:%M} UTC · {what}" + (
        f" · {rows}" if rows else ""
    )


def history_table(log: Sequence[Change]) -> pd.DataFrame:
    """The change log as the page shows it: one row a change, newest first, with the
    columns of COLUMNS (snapshot, at, author, what, file, rows, undone_by)."""
    frame = pd.DataFrame(
        [
            {
                "snapshot": c.snapshot,
                "at": c.at,
                "author": c.author,
                "what": what_text(c),
                "file": c.file,
                "rows": rows_text(c.rows),
                "undone_by": "" if c.undone_by is None else str(c.undone_by),
            }
            for c in log
        ],
        columns=list(COLUMNS),
    )
    return frame.sort_values("snapshot", ascending=False, ignore_index=True)


def _undo_message(done: Change) -> str:
    removed = rows_text(done.rows)
    return f"Change {done.snapshot} undid change {done.undoes}" + (
        f": {removed}." if removed else "."
    )


def _undo_control(store: Store, log: Sequence[Change]) -> None:
    undoable = [c for c in log if c.undoable]
    if not undoable:
        st.caption("Nothing left to undo: every change that wrote rows is already undone.")
        return
    by_id = {c.snapshot: c for c in undoable}
    st.markdown("**Undo a change**")
    picked = st.selectbox(
        "Change to undo",
        list(by_id),
        format_func=lambda s: option_label(by_id[s]),  # plain text: no markdown here
        key=PICK,
    )
    change = by_id[picked]
    # The key names the change: a tick given for one change never confirms another.
    sure = st.checkbox(md_escape(undo_description(change)), key=f"cx_undo_sure_{picked}")
    if schema.RESPONSES in _ops(change, "append", "replace"):
        st.caption("Comment themes and analysed comments of those responses go with them.")
    if st.button(
        "Undo this change",
        type="primary",
        disabled=not sure,
        icon=":material/undo:",
        key="cx_undo",
    ):
        try:
            done = history.undo(store, picked)
        except CxError as exc:  # one line: already undone, changed again later, expired
            st.error(md_escape(str(exc).splitlines()[0]), icon=":material/error:")
            return
        st.session_state[UNDONE] = _undo_message(done)
        st.rerun()  # every number on the page (and the cached queries) from the new snapshot


def history_section(store: Store) -> None:
    """The "Import history" section: the change log, and undo for administrators."""
    st.subheader("Import history")
    done = st.session_state.pop(UNDONE, None)
    if done:
        st.success(done, icon=":material/undo:")
    try:
        log = history.changes(store)
    except CxError as exc:  # a warehouse or a restricted view: no log to show (fail closed)
        st.info(
            f"The import history is not available here: {md_escape(exc)}.",
            icon=":material/info:",
        )
        return
    if not log:
        st.info(EMPTY, icon=":material/info:")
        return
    st.dataframe(
        safe_table(history_table(log), keep=("what", "rows")),  # file names, e-mails
        hide_index=True,
        width="stretch",
        column_config=COLUMNS,
    )
    if not store.may_write("manage"):
        st.caption(ADMIN_ONLY)
        return
    _undo_control(store, log)
