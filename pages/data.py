"""Data: upload an export, check the suggested mapping, see what would be rejected, import;
then the stored datasets with their row counts, date ranges and last import; then the
import history (the store's change log) with undo for administrators.

Thin page: every decision (reading, mapping, validation, writing) is in cxdata.importing.
"""

from __future__ import annotations

# A page URL opened on a cold server can run this file before the entrypoint: every
# module is imported once, one thread at a time, first (pages/_shared/warmup.py).
from pages._shared import warmup  # noqa: F401

# isort: split

import tempfile
from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

from cxdata import schema
from cxdata.errors import CxError
from cxdata.fmt import md_escape, safe_table
from cxdata.importing import (
    MODES,
    DateOrderUndecided,
    Mapping,
    Source,
    dataset_summaries,
    delete_dataset,
    import_source,
    read_source,
    sheet_names,
)
from cxdata.importing.mapping import DATASETS
from cxdata.store import Store
from pages._shared import exports
from pages._shared import mapping_step as step
from pages._shared.auth import effective_grant, open_mode_hint
from pages._shared.history_section import history_section
from pages._shared.session import session_store, within_entrypoint
from pages._shared.subscriptions_section import subscriptions_section

UPLOAD_TYPES = ["csv", "tsv", "txt", "xlsx", "xlsm", "xls", "ods", "parquet", "pq"]
STATE = "cx_import_cache"  # per-session cache: the saved upload, the read file, the last check
ASK_REPLACE, ASK_DELETE, REPLACE_CONFIRMED = "cx_ask_replace", "cx_ask_delete", "cx_replace_ok"
UPLOAD_ROUND = "cx_upload_round"
DATASET_LABELS = {"responses": "Survey responses", "metrics": "KPI metrics"}


def _cache() -> dict[str, Any]:
    return st.session_state.setdefault(STATE, {})


def _saved_upload(uploaded: Any) -> tuple[str, Path]:
    """The upload written to a temporary file once (readers work on paths); its id."""
    cache = _cache()
    key = f"{uploaded.file_id}-{uploaded.name}"
    if cache.get("upload_key") != key:
        _drop_upload(cache)  # the previous upload's temporary copy
        # a TemporaryDirectory deletes itself when dropped: a session that ends (or a
        # server that stops) with an upload never imported leaves no file behind
        folder = tempfile.TemporaryDirectory(prefix="cx-upload-")
        path = Path(folder.name) / Path(uploaded.name).name
        path.write_bytes(uploaded.getvalue())
        cache.update(upload_key=key, upload_path=path, upload_folder=folder)
    return key, cache["upload_path"]


def _drop_upload(cache: dict[str, Any]) -> None:
    """Forget the saved upload and delete its temporary copy."""
    folder = cache.get("upload_folder")
    cache.clear()
    if folder is not None:
        folder.cleanup()


def _source(key: str, path: Path, name: str, sheet: str | None, header_row: int | None) -> Source:
    """The file read (detected header, or the header row the user gave), cached per
    sheet and header row."""
    sources = _cache().setdefault("sources", {})
    if (sheet, header_row) not in sources:
        for old in [k for k in sources if k[1] is not None]:  # one re-read kept, not all
            del sources[old]
        sources[(sheet, header_row)] = read_source(
            path, sheet=sheet, name=name, header_row=header_row
        )
    return sources[(sheet, header_row)]


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
    _drop_upload(_cache())  # the import kept its own copy beside the store
    st.session_state["cx_last_import"] = result
    st.session_state[UPLOAD_ROUND] = st.session_state.get(UPLOAD_ROUND, 0) + 1


def _last_import() -> None:
    result = st.session_state.get("cx_last_import")
    if result is None:
        return
    platform = getattr(result, "platform", None)
    stored = getattr(result, "already_stored", 0)
    st.success(
        f"**{md_escape(result.source)}** → {result.dataset} ({result.mode}): read "
        f"{result.read:,}, imported {result.imported:,}, rejected {result.rejected:,}, "
        f"already stored {stored:,} in {result.seconds:.1f} s. "
        + (f"Recognised: {md_escape(platform)} export." if platform else "No known platform."),
        icon=":material/check_circle:",
    )
    left = getattr(result, "left_out", None) or {}
    if left:
        st.markdown(f"**Left out** ({len(left)} columns, not stored)")
        st.markdown(step.left_out_lines(left))
    if result.rejects_file:
        path = Path(result.rejects_file)
        exports.download_button(
            "Download the reject report (CSV)",
            path.read_bytes,
            file_name=path.name,
            mime="text/csv",
            icon=":material/download:",
            key="cx_last_rejects",
        )


def _read_upload(store: Store, uploaded: Any) -> tuple[str, Source] | None:
    """The upload read (the sheet chosen; the header detected, or the row given in the
    "Header row" input) and what was recognised in it."""
    key, path = _saved_upload(uploaded)
    sheet = None
    if Path(uploaded.name).suffix.lower() in (".xlsx", ".xlsm", ".xls", ".ods"):
        sheet = st.selectbox("Sheet", sheet_names(path), key="cx_sheet")
    detected = _source(key, path, uploaded.name, sheet, None)
    what, header = st.columns([4, 1], vertical_alignment="top")
    with header:
        given = step.header_row_input(detected, f"cx_header_row_{key}_{sheet}")
    source = detected
    if given is not None:
        try:
            source = _source(key, path, uploaded.name, sheet, given)
        except CxError as exc:
            what.error(md_escape(str(exc)), icon=":material/error:")
            return None
    with what:
        step.recognised(source, step.suggestion_for(store, source, None, key, _cache()))
    return key, source


def import_section(store: Store) -> None:
    """Upload → what was recognised → mapping → check → import."""
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
    cache = _cache()
    read = _read_upload(store, uploaded)
    if read is None:
        return
    key, source = read
    auto = step.suggestion_for(store, source, None, key, cache)
    dataset = st.radio(
        "Import into",
        DATASETS,
        index=DATASETS.index(auto.dataset) if auto.dataset in DATASETS else 0,
        horizontal=True,
        key=f"cx_dataset_{key}",
        format_func=DATASET_LABELS.get,
    )
    suggestion = (
        auto if dataset == auto.dataset else step.suggestion_for(store, source, dataset, key, cache)
    )
    with st.expander("Preview (first 50 rows)", expanded=False):
        st.dataframe(safe_table(source.frame.head(50)), width="stretch")  # customer text

    st.markdown("**Column mapping**: check the suggestion, edit where needed")
    date_order = step.date_order_default(key, suggestion)
    mapping, problem = step.mapping_editor(
        store, source, suggestion, key=key, date_order=date_order
    )
    step.left_out(mapping or suggestion)
    step.advanced(store, source, mapping, key)
    if mapping is None:
        step.mapping_problems(problem)
        return

    modes = MODES if store.may_write("manage") else ("append",)
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
    st.markdown("**Check**: every row validated, nothing written yet")
    checked = step.checked(store, source, mapping, mode, key, cache)
    if isinstance(checked, DateOrderUndecided):
        step.ask_date_order(checked, key)
        return
    if isinstance(checked, Exception):
        step.mapping_problems(checked)
        return
    step.check_summary(checked, source, mapping.warnings())
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
        safe_table(shown),  # file names
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
    if not store.may_write("manage"):
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
    grant = effective_grant()
    try:
        store = session_store(grant) if grant is not None else None
    except CxError as exc:
        st.error(f"The data store cannot be opened: {md_escape(exc)}", icon=":material/error:")
        return
    if store is None or not store.may_write("import"):
        # The navigation hides this page from them; this guards a direct request too. The
        # engine decides (Store.may_write): the same check its writers make.
        st.warning(
            "Importing needs the analyst role without a row restriction"
            f"{open_mode_hint(grant)}.",
            icon=":material/lock:",
        )
        return
    sections = (import_section, datasets_section, history_section)
    for section in sections:
        try:
            section(store)
        except (CxError, ValueError) as exc:  # one clear line naming file, row or column
            st.error(md_escape(exc), icon=":material/error:")
        if section is not sections[-1]:
            st.divider()
    subscriptions_section(store)  # admins only; draws its own divider (nothing for others)


main()
