"""Data: upload an export, check the suggested mapping, see what would be rejected, import;
then the stored datasets with their row counts, date ranges and last import.

Thin page: every decision (reading, mapping, validation, writing) is in cxdata.importing.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

from cxdata import schema
from cxdata.access import Grant
from cxdata.errors import CxError
from cxdata.importing import (
    MODES,
    Mapping,
    Source,
    dataset_summaries,
    delete_dataset,
    dry_run,
    import_source,
    read_source,
    rejects_csv,
    save_profile,
    sheet_names,
    suggested_mapping,
)
from cxdata.importing.datasets import data_dir_of
from cxdata.importing.dates import DATE_ORDERS
from cxdata.importing.mapping import DATASETS, mapping_from_table, mapping_table
from cxdata.store import Store
from pages._shared.auth import effective_grant, may_import
from pages._shared.session import session_store, within_entrypoint

UPLOAD_TYPES = ["csv", "tsv", "txt", "xlsx", "xlsm", "xls", "ods", "parquet", "pq"]
STATE = "cx_import_cache"  # per-session cache: the saved upload, the read file, the last check
ASK_REPLACE, ASK_DELETE, REPLACE_CONFIRMED = "cx_ask_replace", "cx_ask_delete", "cx_replace_ok"
UPLOAD_ROUND = "cx_upload_round"
EDITOR_COLUMNS = {
    "responses": ["column", "example", "to", "touchpoint", "scale", "rescale", "warning", "note"],
    "metrics": ["column", "example", "to", "metric", "warning", "note"],
}
TARGETS_HELP = (
    "Canonical field (response_id, submitted_at, nps, csat, ces, comment, language, "
    "touchpoint, journey_stage, channel, customer_id; for metrics: date, metric, value, unit, "
    "target), `rating` for a rating of the named touchpoint, any other lower-case name for a "
    "segment column, or empty to ignore the column."
)


def _cache() -> dict[str, Any]:
    return st.session_state.setdefault(STATE, {})


def _saved_upload(uploaded: Any) -> tuple[str, Path]:
    """The upload written to a temporary file once (readers work on paths); its id."""
    cache = _cache()
    key = f"{uploaded.file_id}-{uploaded.name}"
    if cache.get("upload_key") != key:
        if cache.get("upload_path"):  # the previous upload's temporary copy
            shutil.rmtree(Path(cache["upload_path"]).parent, ignore_errors=True)
        folder = Path(tempfile.mkdtemp(prefix="cx-upload-"))
        path = folder / Path(uploaded.name).name
        path.write_bytes(uploaded.getvalue())
        cache.clear()
        cache.update(upload_key=key, upload_path=path)
    return key, cache["upload_path"]


def _source(key: str, path: Path, name: str, sheet: str | None) -> Source:
    cache = _cache()
    if cache.get("source_key") != (key, sheet):
        cache["source"] = read_source(path, sheet=sheet, name=name)
        cache["source_key"] = (key, sheet)
    return cache["source"]


def _suggestion(store: Store, source: Source, dataset: str, key: str) -> Mapping:
    cache = _cache()
    suggestion_key = (key, source.sheet, dataset)
    if cache.get("suggestion_key") != suggestion_key:
        cache["suggestion"] = suggested_mapping(
            source, dataset=dataset, data_dir=data_dir_of(store)
        )
        cache["suggestion_key"] = suggestion_key
    return cache["suggestion"]


def _mapping_editor(store: Store, source: Source, dataset: str, key: str) -> Mapping:
    suggestion = _suggestion(store, source, dataset, key)
    if suggestion.profile:
        st.info(
            f"Using the saved mapping profile **{suggestion.profile}** (same columns as "
            "this file).",
            icon=":material/bookmark:",
        )
    date_order = st.selectbox(
        "Day/month order of dates",
        DATE_ORDERS,
        index=DATE_ORDERS.index(suggestion.date_order),
        help="auto decides from the whole column (31.12. only fits day-first) and says so.",
    )
    edited = st.data_editor(
        mapping_table(suggestion, source),
        key=f"cx_mapping_{key}_{dataset}_{source.sheet}",
        hide_index=True,
        width="stretch",
        num_rows="fixed",
        column_order=EDITOR_COLUMNS[dataset],
        disabled=["column", "example", "note", "warning"],
        column_config={
            "column": st.column_config.TextColumn("Column in the file"),
            "example": st.column_config.TextColumn("Example"),
            "to": st.column_config.TextColumn(
                "Maps to", help=TARGETS_HELP, validate=r"^$|^[a-z_][a-z0-9_]*$"
            ),
            "touchpoint": st.column_config.TextColumn("Touchpoint (ratings)"),
            "metric": st.column_config.TextColumn("Metric (value columns)"),
            "scale": st.column_config.TextColumn("Scale", help="e.g. 1-5, 0-10"),
            "rescale": st.column_config.CheckboxColumn(
                "Rescale", help="Convert linearly from this scale to the score's scale"
            ),
            "note": st.column_config.TextColumn("Why"),
            "warning": st.column_config.TextColumn("Check this"),
        },
    )
    mapping = mapping_from_table(edited, dataset=dataset, date_order=date_order, sheet=source.sheet)
    mapping.profile = suggestion.profile
    for warning in suggestion.warnings():
        st.warning(warning, icon=":material/warning:")
    with st.popover("Save this mapping as a profile", icon=":material/bookmark_add:"):
        name = st.text_input(
            "Profile name",
            value=suggestion.profile or Path(source.name).stem,
            help="The next export with the same columns uses it.",
        )
        if st.button("Save profile", key="cx_save_profile"):
            path = save_profile(mapping, name, data_dir_of(store))
            st.success(f"Saved {path.name}.")
    return mapping


def _check(store: Store, source: Source, mapping: Mapping, mode: str, key: str) -> Any:
    cache = _cache()
    check_key = (key, source.sheet, mapping.to_json(), mode, store.row_count(mapping.dataset))
    if cache.get("check_key") != check_key:
        with st.spinner(f"Checking {source.read:,} rows…"):
            cache["check"] = dry_run(store, source, mapping, mode=mode)
        cache["check_key"] = check_key
    return cache["check"]


def _summary(checked: Any, source: Source) -> None:
    read, ok, bad = st.columns(3)
    read.metric("Rows read", f"{checked.read:,}")
    ok.metric("Would be imported", f"{checked.imported:,}")
    bad.metric("Would be rejected", f"{checked.rejected:,}")
    for note in checked.warnings:
        st.caption(note)
    if checked.rejected:
        st.dataframe(
            checked.rejects.head(500),
            hide_index=True,
            width="stretch",
            column_config={
                "row": st.column_config.NumberColumn("Row", format="%d"),
                "column": "Column",
                "value": "Value",
                "reason": "Reason",
            },
        )
        st.download_button(
            "Download the reject report (CSV)",
            data=rejects_csv(checked.rejects),
            file_name=f"{Path(source.name).stem}-rejects.csv",
            mime="text/csv",
            icon=":material/download:",
            key="cx_rejects_download",
        )


def _close_dialogs() -> None:
    st.session_state.pop(ASK_REPLACE, None)
    st.session_state.pop(ASK_DELETE, None)


# The open dialog is kept in session state so its buttons still exist on the next run.
@st.dialog("Replace the stored data?", on_dismiss=_close_dialogs)
def _confirm_replace(dataset: str, rows: int, incoming: int) -> None:
    st.write(
        f"The **{rows:,}** stored {dataset} rows will be replaced by the **{incoming:,}** "
        "valid rows of this file. The original file is kept beside the store."
    )
    replace, cancel = st.columns(2)
    if replace.button("Replace", type="primary", key="cx_confirm_replace"):
        _close_dialogs()
        st.session_state[REPLACE_CONFIRMED] = True
        st.rerun()
    if cancel.button("Cancel", key="cx_cancel_replace"):
        _close_dialogs()
        st.rerun()


@st.dialog("Delete a dataset?", on_dismiss=_close_dialogs)
def _confirm_delete(store: Store, dataset: str, rows: int) -> None:
    also = " and its touchpoint ratings" if dataset == schema.RESPONSES else ""
    st.write(f"All **{rows:,}** rows of **{dataset}**{also} will be deleted.")
    delete, cancel = st.columns(2)
    if delete.button("Delete", type="primary", key="cx_confirm_delete"):
        _close_dialogs()
        deleted = delete_dataset(store, dataset)
        st.session_state["cx_toast"] = f"Deleted {', '.join(deleted)}."
        st.rerun()
    if cancel.button("Cancel", key="cx_cancel_delete"):
        _close_dialogs()
        st.rerun()


def _run_import(store: Store, source: Source, mapping: Mapping, mode: str) -> None:
    bar = st.progress(0.0, text="Starting…")
    result = import_source(
        store, source, mapping, mode=mode, progress=lambda f, text: bar.progress(f, text=text)
    )
    cache = _cache()
    if cache.get("upload_path"):  # the import kept its own copy beside the store
        shutil.rmtree(Path(cache["upload_path"]).parent, ignore_errors=True)
    cache.clear()
    st.session_state["cx_last_import"] = result
    st.session_state[UPLOAD_ROUND] = st.session_state.get(UPLOAD_ROUND, 0) + 1


def _last_import() -> None:
    result = st.session_state.get("cx_last_import")
    if result is None:
        return
    st.success(
        f"**{result.source}** → {result.dataset} ({result.mode}): read "
        f"{result.read:,}, imported {result.imported:,}, rejected {result.rejected:,} "
        f"in {result.seconds:.1f} s.",
        icon=":material/check_circle:",
    )
    if result.rejects_file:
        path = Path(result.rejects_file)
        st.download_button(
            "Download the reject report (CSV)",
            data=path.read_bytes(),
            file_name=path.name,
            mime="text/csv",
            icon=":material/download:",
            key="cx_last_rejects",
        )


def import_section(store: Store) -> None:
    """Upload → preview → mapping → check → import."""
    st.subheader("Import a file")
    uploaded = st.file_uploader(
        "CSV / TSV, Excel or Parquet export",
        type=UPLOAD_TYPES,
        key=f"cx_upload_{st.session_state.get(UPLOAD_ROUND, 0)}",  # a new key empties it
        help="Encoding (UTF-8, cp1252, cp1250…) and delimiter (, ; tab |) are detected.",
    )
    _last_import()
    if uploaded is None:
        return
    key, path = _saved_upload(uploaded)
    dataset = st.radio(
        "Import into",
        DATASETS,
        horizontal=True,
        key="cx_dataset",
        format_func=lambda d: {"responses": "Survey responses", "metrics": "KPI metrics"}[d],
    )
    sheet = None
    if Path(uploaded.name).suffix.lower() in (".xlsx", ".xlsm", ".xls", ".ods"):
        sheet = st.selectbox("Sheet", sheet_names(path), key="cx_sheet")
    source = _source(key, path, uploaded.name, sheet)
    st.caption(f"{source.name}: {source.describe()}")
    with st.expander("Preview (first 50 rows)", expanded=False):
        st.dataframe(source.frame.head(50), width="stretch")
    st.markdown("**Column mapping** — check the suggestion, edit where needed")
    mapping = _mapping_editor(store, source, dataset, key)
    modes = MODES if _grant().can("manage") else ("append",)
    if len(modes) < len(MODES):
        st.caption("Replacing stored data needs the admin role; imports append.")
    mode = st.radio(
        "Mode",
        modes,
        horizontal=True,
        key="cx_mode",
        format_func=lambda m: {
            "append": "Append to the stored data",
            "replace": "Replace the stored data",
        }[m],
    )
    checked = _check(store, source, mapping, mode, key)
    _summary(checked, source)
    stored_rows = store.row_count(dataset)
    label = f"Import {checked.imported:,} rows"
    clicked = st.button(label, type="primary", disabled=checked.imported == 0, key="cx_import")
    if clicked and mode == "replace" and stored_rows:
        st.session_state[ASK_REPLACE] = True
    elif clicked or st.session_state.pop(REPLACE_CONFIRMED, False):
        _run_import(store, source, mapping, mode)
        st.rerun()
    if st.session_state.get(ASK_REPLACE):
        _confirm_replace(dataset, stored_rows, checked.imported)


def datasets_section(store: Store) -> None:
    """The stored datasets, with delete."""
    st.subheader("Stored datasets")
    summaries = dataset_summaries(store)
    if summaries.empty:
        st.info("Nothing stored yet: import a file above.", icon=":material/info:")
        return
    shown = summaries.assign(
        first=summaries["first"].map(_day),
        last=summaries["last"].map(_day),
        last_import=summaries["last_import"].fillna("—").astype(str).str.replace("T", " "),
        last_file=summaries["last_file"].fillna("—"),
    )
    st.dataframe(
        shown,
        hide_index=True,
        width="stretch",
        column_config={
            "dataset": "Dataset",
            "rows": st.column_config.NumberColumn("Rows", format="%d"),
            "first": "From",
            "last": "To",
            "last_import": "Last import",
            "last_file": "File",
        },
    )
    if not _grant().can("manage"):
        st.caption("Deleting a dataset needs the admin role.")
        return
    deletable = [d for d in summaries["dataset"] if d != schema.TOUCHPOINT_RATINGS]
    cols = st.columns(len(deletable) or 1)
    for col, dataset in zip(cols, deletable, strict=False):
        rows = int(summaries.set_index("dataset").loc[dataset, "rows"])
        if col.button(f"Delete {dataset}…", key=f"cx_delete_{dataset}", icon=":material/delete:"):
            st.session_state[ASK_DELETE] = dataset
        if st.session_state.get(ASK_DELETE) == dataset:
            _confirm_delete(store, dataset, rows)


def _grant() -> Grant:
    """Who is importing; nobody signed in gets no rights (the page is not shown then)."""
    return effective_grant() or Grant(email="", role="viewer")


def _day(value: object) -> str:
    return "—" if value is None or pd.isna(value) else f"{pd.Timestamp(value):%Y-%m-%d}"


def main() -> None:
    """The page."""
    within_entrypoint()
    st.title("Data")
    st.caption(
        "Import survey exports and KPI files. Every row is checked; rejected rows are "
        "listed with the reason, never dropped silently."
    )
    toast = st.session_state.pop("cx_toast", None)
    if toast:
        st.toast(toast)
    if not may_import(_grant()):
        # The navigation hides this page from them; this guards a direct request too.
        st.warning("Importing needs the analyst role without a row restriction.",
                   icon=":material/lock:")
        return
    try:
        store = session_store()
    except CxError as exc:
        st.error(f"The data store cannot be opened: {exc}", icon=":material/error:")
        return
    for section in (import_section, datasets_section):
        try:
            section(store)
        except (CxError, ValueError) as exc:  # one clear line naming file, row or column
            st.error(str(exc), icon=":material/error:")
        if section is import_section:
            st.divider()


main()
