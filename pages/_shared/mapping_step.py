"""The Data page's mapping step: what was recognised in the upload, the editable mapping
table, the columns left out, the day/month order and the check (what would be imported or
rejected, and why). Layout only: every decision is made in cxdata.importing."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

from cxdata.fmt import clean_text, md_escape, safe_table
from cxdata.importing import (
    DateOrderUndecided,
    Mapping,
    MappingError,
    Source,
    Validated,
    dry_run,
    reject_summary,
    rejects_csv,
    save_profile,
    suggested_mapping,
)
from cxdata.importing.datasets import data_dir_of
from cxdata.importing.dates import DATE_ORDER_CHOICES, normalise_order, parse_dates
from cxdata.importing.mapping import ColumnMap
from cxdata.importing.platforms import platform_label
from cxdata.importing.table import (
    EDITABLE,
    LEAVE_OUT,
    SEGMENT,
    mapping_from_table,
    mapping_table,
    target_options,
    with_edits,
)
from cxdata.store import Store
from pages._shared import exports

REJECT_ROWS_SHOWN = 200
WHOLE_ROW = "(the whole row)"
ORDER_LABELS = {
    "auto": "auto: decide from the values",
    "dmy": "31/12 = day first (dmy)",
    "mdy": "12/31 = month first (mdy)",
}
ORDER_NAMES = {"auto": "auto", "day-first": "dmy", "month-first": "mdy"}
# "Why" and "Check this" come right after "Maps to", so they are on screen at 1440 px
# without scrolling the table sideways; the cells right of them are the details.
EDITOR_COLUMNS = {
    "responses": [
        "column", "to", "note", "warning", "touchpoint", "scale", "name", "labels",
        "missing", "rescale", "hash", "question", "seen", "examples",
    ],
    "metrics": [
        "column", "to", "note", "warning", "metric", "name", "labels", "missing",
        "question", "seen", "examples",
    ],
}  # fmt: skip
METRIC_PX = 160
# Rows over 64 px let the grid wrap text (Streamlit's data editor): three lines of "Why"
# and "Check this" per column of the file; up to 8 columns shown, then the table scrolls.
ROW_PX, MAX_ROWS_SHOWN, HEADER_PX = 66, 8, 35
TARGET_LABELS = {
    LEAVE_OUT: "leave out",
    "response_id": "response id",
    "submitted_at": "response time",
    "nps": "NPS (0–10)",
    "csat": "CSAT",
    "ces": "CES (1–7)",
    "comment": "comment",
    "language": "language",
    "touchpoint": "touchpoint name",
    "journey_stage": "journey stage",
    "channel": "channel",
    "customer_id": "customer id",
    "rating": "rating of a touchpoint",
    "text": "extra answer text",
    SEGMENT: "segment (a filter)",
    "split": "split by another column",
    "date": "date",
    "metric": "metric name",
    "value": "value",
    "unit": "unit",
    "target": "target",
    "base": "base (answers behind the value)",
}
TARGETS_HELP = (
    "What the column becomes. **rating**: a rating of the touchpoint in *Touchpoint*, on "
    "its *Scale*; **extra answer text**: stored as text_<Name>, shown with the comment; "
    "**segment**: a filter named *Name* (the column's name when empty); **leave out**: not "
    "stored."
)
COLUMN_CONFIG: dict[str, Any] = {
    "column": st.column_config.TextColumn(
        "Column in the file",
        width=170,
        pinned=True,  # stays in view while the table scrolls sideways (phones)
        help="The header in the file. Double-click a cell to read a long header in full.",
    ),
    "question": st.column_config.TextColumn(
        "Question",
        width=240,
        help="The question text the export gives for the column. Double-click a cell to "
        "read it in full.",
    ),
    "examples": st.column_config.TextColumn(
        "Examples", width="medium", help="Up to three different values of the column."
    ),
    "seen": st.column_config.TextColumn(
        "Values seen",
        width="medium",
        help="What the values look like: whole numbers and their scale, answer labels, text.",
    ),
    "note": st.column_config.TextColumn(
        "Why",
        width=260,
        help="Why this was suggested (or why the column is left out); listed below too.",
    ),
    "warning": st.column_config.TextColumn(
        "Check this",
        width=300,
        help="A scale or meaning problem to look at (also listed below the table); it goes "
        "when the mapping no longer has it.",
    ),
    "touchpoint": st.column_config.TextColumn(
        "Touchpoint", width="small", help="The touchpoint a `rating` column rates."
    ),
    "metric": st.column_config.TextColumn(
        "Metric", width="small", help="The metric a `value` column holds."
    ),
    "name": st.column_config.TextColumn(
        "Name",
        width="small",
        help="For a segment: the filter's name; for an extra answer text: stored as "
        "text_<name> (a-z, 0-9, _).",
    ),
    "scale": st.column_config.TextColumn("Scale", width="small", help="e.g. 1-5, 0-10"),
    "labels": st.column_config.TextColumn(
        "Answer labels",
        width="medium",
        help="Text answers as numbers, separated by ';': Very satisfied=5; Satisfied=4",
    ),
    "missing": st.column_config.TextColumn(
        "No-answer codes",
        width="small",
        help="Answers that mean 'no answer' for this question only, separated by ';': "
        "Don't know; -1",
    ),
    "rescale": st.column_config.CheckboxColumn(
        "Rescale", help="Convert linearly from this scale to the score's scale."
    ),
    "hash": st.column_config.CheckboxColumn(
        "Hash", help="Store a salted hash instead of the value (a customer id from an e-mail)."
    ),
}


def _short(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _digest(*parts: object) -> str:
    return hashlib.sha1(repr(parts).encode()).hexdigest()[:12]


# --- what was recognised ------------------------------------------------------------------


def header_row_input(detected: Source, widget_key: str) -> int | None:
    """The "Header row" number (1-based; default: the detected one). Returns the row the
    user chose when it differs from the detected one, else None."""
    if detected.format == "parquet":
        st.caption("Parquet has no header row.")
        return None
    rows = detected.header_rows
    where = (
        f"rows {detected.header_row}–{detected.header_row + rows - 1}"
        if rows > 1
        else f"row {detected.header_row}"
    )
    chosen = st.number_input(
        "Header row",
        min_value=1,
        value=int(detected.header_row),
        step=1,
        key=widget_key,
        help=f"Detected: {where}. Give the row that holds the column names if that is wrong; "
        "the rows below it are read as data.",
    )
    return None if chosen is None or int(chosen) == detected.header_row else int(chosen)


def recognised(source: Source, mapping: Mapping) -> None:
    """What was recognised: the platform, the format, where the header is, what was skipped."""
    label = platform_label(mapping.platform)
    if label:
        st.markdown(f":material/verified: Recognised: **{md_escape(label)}** export")
    else:
        st.markdown(
            ":material/help: No known platform: the mapping is suggested from the column "
            "names and values."
        )
    st.caption(md_escape(f"{source.name}: {source.describe()}"))
    for note in getattr(source, "skipped", []) or []:
        st.caption(f":material/content_cut: {md_escape(note)}")


# --- the mapping table --------------------------------------------------------------------


def editor_columns(table: pd.DataFrame, dataset: str) -> list[str]:
    """The table's columns shown for `dataset`; the question column only when the export
    gave question texts that differ from the headers."""
    shown = list(EDITOR_COLUMNS.get(dataset, EDITOR_COLUMNS["responses"]))
    questions = table["question"].fillna("").astype(str)
    if not (questions.str.strip() != "").any() or (questions == table["column"]).all():
        shown.remove("question")
    return shown


def mapping_editor(
    store: Store, source: Source, suggestion: Mapping, *, key: str, date_order: str
) -> tuple[Mapping | None, MappingError | None]:
    """The editable mapping table, the notes and the warnings; the mapping it describes
    (or the error listing every bad cell)."""
    if suggestion.profile:
        st.info(
            f"Using the saved mapping profile **{md_escape(suggestion.profile)}** (same "
            "columns as this file).",
            icon=":material/bookmark:",
        )
    editor_key = f"cx_mapping_{_digest(key, source.sheet, source.header_row, suggestion.dataset)}"
    table = _as_edited(mapping_table(suggestion, source), suggestion, editor_key, date_order)
    shown = editor_columns(table, suggestion.dataset)
    config = {c: COLUMN_CONFIG[c] for c in shown if c in COLUMN_CONFIG}
    edited = st.data_editor(
        table,
        key=editor_key,
        hide_index=True,
        width="stretch",
        num_rows="fixed",
        row_height=ROW_PX,
        height=ROW_PX * min(len(table), MAX_ROWS_SHOWN) + HEADER_PX + 3,
        column_order=shown,
        disabled=[c for c in table.columns if c not in EDITABLE],
        column_config={**config, "to": target_column(suggestion)},
    )
    st.caption(
        "Choose in **Maps to** where the suggestion is wrong, and fill the cells right of "
        "**Check this** it needs (a rating's touchpoint and scale, a segment's name); hover "
        "a column title for what it takes. Scroll the table sideways for the question and "
        "the values seen."
    )
    for note in suggestion.notes:
        st.caption(f":material/info: {md_escape(note)}")
    try:
        mapping = mapping_from_table(edited, suggestion, date_order=date_order)
    except MappingError as exc:
        return None, exc  # the problems are listed; warnings return once it applies
    mapping.profile = suggestion.profile
    warnings_box(_current(mapping))
    why_list(mapping)
    return mapping, None


def target_column(suggestion: Mapping) -> Any:
    """The "Maps to" cell: a choice among the dataset's targets, never free text."""
    return st.column_config.SelectboxColumn(
        "Maps to",
        width=150,
        required=True,
        options=target_options(suggestion),
        format_func=lambda target: TARGET_LABELS.get(target, target),
        help=TARGETS_HELP,
    )


def _as_edited(
    table: pd.DataFrame, suggestion: Mapping, editor_key: str, order: str
) -> pd.DataFrame:
    """`table` with "Why" and "Check this" of the mapping as edited so far (the editor's
    edits are in session state before it is drawn): a warning that no longer applies goes.
    Unchanged while an edit cannot be applied (its problem is listed below the table)."""
    edits = (st.session_state.get(editor_key) or {}).get("edited_rows") or {}
    if not edits:
        return table
    try:
        current = mapping_from_table(with_edits(table, edits), suggestion, date_order=order)
    except MappingError:
        return table
    now = mapping_table(current)
    return table.assign(note=now["note"].to_numpy(), warning=now["warning"].to_numpy())


def why_list(mapping: Mapping) -> None:
    """Each used column, where it goes and why, as text that wraps on any screen."""
    used = mapping.mapped()
    if not used:
        return
    with st.expander(f"Why each column maps where it does ({len(used)} used)"):
        st.markdown(
            "\n".join(
                f"- **{md_escape(_short(col.source, 60))}** → {md_escape(_target_text(col))}"
                + (f": {md_escape(col.note)}" if col.note else "")
                for col in used
            )
        )


def _target_text(col: ColumnMap) -> str:
    """'rating of a touchpoint (Seat comfort, 1–5)', 'segment (a filter) route'…"""
    label = TARGET_LABELS.get(str(col.to))
    if label is None:  # a segment: stored under its own name
        return f"{TARGET_LABELS[SEGMENT]} {col.to}"
    if col.to == "rating":
        scale = f", {col.scale[0]}–{col.scale[1]}" if col.scale else ""
        return f"{label} ({col.touchpoint}{scale})"
    return f"{label} text_{col.name}" if col.to == "text" else label


def _current(mapping: Mapping) -> list[str]:
    """The mapping's warnings, without "day/month order undecided": the check asks that
    question itself (and once an order is chosen it no longer applies)."""
    return [line for line in mapping.warnings() if "day/month order undecided" not in line]


def warnings_box(lines: list[str]) -> None:
    """Every warning once, in one box."""
    unique = list(dict.fromkeys(line for line in lines if line))
    if not unique:
        return
    if len(unique) == 1:
        st.warning(md_escape(unique[0]), icon=":material/warning:")
    else:
        st.warning("\n".join(f"- {md_escape(w)}" for w in unique), icon=":material/warning:")


def left_out(mapping: Mapping) -> None:
    """The columns mapped to nothing, grouped by why."""
    dropped = mapping.left_out()
    if not dropped:
        st.caption("Every column of the file is used.")
        return
    why: dict[str, list[str]] = {}
    for col in dropped:
        why.setdefault(col.note or "mapped to nothing", []).append(col.source)
    lines = [
        f"- {', '.join(f'**{md_escape(_short(h, 60))}**' for h in heads)}: {md_escape(reason)}"
        for reason, heads in why.items()
    ]
    st.markdown(f"**Left out** ({len(dropped)} of {len(mapping.columns)} columns)")
    st.markdown("\n".join(lines))


def left_out_lines(left: dict[str, str]) -> str:
    """An import result's left-out columns (column → why), grouped by why, as markdown."""
    why: dict[str, list[str]] = {}
    for column, reason in left.items():
        why.setdefault(reason or "left out", []).append(column)
    return "\n".join(
        f"- {', '.join(md_escape(_short(h, 60)) for h in heads)}: {md_escape(reason)}"
        for reason, heads in why.items()
    )


def order_key(key: str) -> str:
    """The session-state key of the day/month order chosen for upload `key`."""
    return f"cx_date_order_{_digest(key)}"


def date_order_default(key: str, suggestion: Mapping) -> str:
    """The day/month order in force: the user's choice, else the suggestion's."""
    suggested = ORDER_NAMES.get(normalise_order(suggestion.date_order), "auto")
    return st.session_state.setdefault(order_key(key), suggested)


def advanced(store: Store, source: Source, mapping: Mapping | None, key: str) -> None:
    """The day/month order (always offered) and saving the mapping as a profile."""
    with st.expander("Advanced", icon=":material/tune:"):
        st.selectbox(
            "Day/month order of dates",
            DATE_ORDER_CHOICES,
            format_func=ORDER_LABELS.get,
            key=order_key(key),
            help="auto decides from the whole column (31/12 only fits day first) and says "
            "so; when nothing decides, the check asks.",
        )
        if mapping is None:
            return
        name = st.text_input(
            "Save this mapping as a profile",
            value=mapping.profile or Path(source.name).stem,
            help="The next export with the same columns uses it.",
            key=f"cx_profile_name_{_digest(key)}",
        )
        if st.button("Save profile", key="cx_save_profile", icon=":material/bookmark_add:"):
            path = save_profile(mapping, name, data_dir_of(store))
            st.success(f"Saved {md_escape(path.name)}.")


# --- the check ----------------------------------------------------------------------------


def checked(
    store: Store, source: Source, mapping: Mapping, mode: str, key: str, cache: dict[str, Any]
) -> Validated | MappingError:
    """The dry run of the import (cached per mapping, mode and stored rows); a MappingError
    (DateOrderUndecided among them) when the mapping cannot be applied."""
    check_key = (key, source.sheet, source.header_row, mapping.to_json(), mode)
    check_key += (store.row_count(mapping.dataset),)
    if cache.get("check_key") != check_key:
        with st.spinner(f"Checking {source.read:,} rows…"):
            try:
                cache["check"] = dry_run(store, source, mapping, mode=mode)
            except MappingError as exc:
                cache["check"] = exc
        cache["check_key"] = check_key
    return cache["check"]


def _example_meanings(example: str) -> str:
    """'03/04/2025: 3 Apr 2025 day first, Mar 4 2025 month first' from the engine's parser."""
    read = {}
    for order in ("dmy", "mdy"):
        value = parse_dates(pd.Series([example]), order).values[0]
        if pd.isna(value):
            return ""
        read[order] = pd.Timestamp(value)
    day, month = read["dmy"], read["mdy"]
    return (
        f"{example} is {day.day} {day:%B %Y} when day first, "
        f"{month:%B} {month.day}, {month.year} when month first"
    )


def ask_date_order(exc: DateOrderUndecided, key: str) -> None:
    """The question the check cannot answer: which order the dates are in."""
    text = str(exc)
    column = re.search(r"column (['\"])(.*?)\1:", text)
    examples = re.search(r"e\.g\. ([^)]+)\)", text)
    where = f"column **{md_escape(column.group(2))}**" if column else "the date column"
    shown = f" (e.g. {md_escape(examples.group(1))})" if examples else ""
    meaning = _example_meanings(examples.group(1).split(",")[0].strip()) if examples else ""

    def chosen() -> None:
        answer = st.session_state.get(f"{order_key(key)}_ask")
        if answer:
            st.session_state[order_key(key)] = answer

    with st.container(border=True):
        st.markdown(
            f":material/help: **Which is the day and which the month?** Every date in {where}"
            f"{shown} fits both orders and nothing else in the file decides. Choose how to "
            "read them; the check runs again."
        )
        if meaning:
            st.caption(md_escape(meaning))
        st.radio(
            "Day/month order",
            ("dmy", "mdy"),
            index=None,
            format_func=ORDER_LABELS.get,
            key=f"{order_key(key)}_ask",
            on_change=chosen,
            horizontal=True,
        )


def mapping_problems(exc: MappingError) -> None:
    """Every line of a mapping error."""
    lines = [line for line in str(exc).split("\n") if line.strip()]
    body = "\n".join(f"- {md_escape(line)}" for line in lines) if len(lines) > 1 else None
    st.error(
        body or md_escape(lines[0] if lines else str(exc)),
        icon=":material/error:",
    )


def check_summary(result: Validated, source: Source, shown: list[str]) -> None:
    """Counts, the check's notes (those not `shown` already), missing answers and the
    rejects by column × reason."""
    with st.container(horizontal=True, wrap=True, gap="medium"):  # 2 × 2 on a phone
        st.metric("Rows read", f"{result.read:,}", width=METRIC_PX)
        st.metric("Would be imported", f"{result.imported:,}", width=METRIC_PX)
        st.metric("Would be rejected", f"{result.rejected:,}", width=METRIC_PX)
        st.metric(
            "Already stored",
            f"{result.already_stored:,}",
            help="Rows whose response (or the same content) is stored already: not imported again.",
            width=METRIC_PX,
        )
    missing = result.missing_answers or {}
    counted = {
        f"{column}: {count} answers were missing-answer codes (kept as no answer)"
        for column, count in missing.items()
    }
    shown = [*shown, *(getattr(source, "skipped", None) or [])]  # listed under the upload
    for note in dict.fromkeys(result.warnings):
        if note not in counted and note not in shown:
            st.caption(f":material/info: {md_escape(note)}")
    if missing:
        st.markdown("**Counted as no answer** (missing-answer codes, not rejected)")
        st.markdown(
            "\n".join(
                f"- {md_escape(_short(column, 70))}: {count:,} answers"
                for column, count in missing.items()
            )
        )
    if result.rejected:
        reject_groups(result.rejects, source.name)


def reject_groups(rejects: pd.DataFrame, file_name: str) -> None:
    """Rejects counted by column × reason; the rows behind the chosen group; the report."""
    summary = reject_summary(rejects)
    kinds = f"{len(summary)} kind{'s' if len(summary) != 1 else ''}"
    st.markdown(f"**Why rows would be rejected** ({kinds}, by column and reason)")
    shown = summary.assign(column=summary["column"].fillna("").replace("", WHOLE_ROW))
    st.dataframe(
        safe_table(shown),  # column names and values from the file
        hide_index=True,
        width="stretch",
        column_order=["rows", "column", "reason", "first_row"],
        column_config={
            "column": st.column_config.TextColumn("Column", width="medium"),
            "reason": st.column_config.TextColumn("Reason", width="large"),
            "rows": st.column_config.NumberColumn("Rows", format="%d", width="small"),
            "first_row": st.column_config.NumberColumn("First row", format="%d", width="small"),
        },
        key="cx_reject_summary",
    )

    def label(i: int) -> str:
        column, reason = _short(str(shown.at[i, "column"]), 50), str(shown.at[i, "reason"])
        return clean_text(f"{column}: {_short(reason, 70)} ({shown.at[i, 'rows']:,} rows)")

    group = st.selectbox(
        "Show the rows of", range(len(summary)), format_func=label, key="cx_reject_group"
    )
    if group is not None:
        row = summary.iloc[int(group)]
        match = (rejects["column"] == row["column"]) & (rejects["code"] == row["code"])
        rows = rejects[match]
        st.dataframe(
            safe_table(rows.head(REJECT_ROWS_SHOWN)),  # the rejected values as the report has them
            hide_index=True,
            width="stretch",
            column_order=["row", "value", "reason"],
            column_config={
                "row": st.column_config.NumberColumn("Row", format="%d", width="small"),
                "value": st.column_config.TextColumn("Value", width="medium"),
                "reason": st.column_config.TextColumn("Reason", width="large"),
            },
            key="cx_reject_rows",
        )
        if len(rows) > REJECT_ROWS_SHOWN:
            st.caption(f"The first {REJECT_ROWS_SHOWN} of {len(rows):,}; the report has them all.")
    exports.download_button(
        "Download the reject report (CSV)",
        lambda: rejects_csv(rejects),
        file_name=f"{Path(file_name).stem}-rejects.csv",
        mime="text/csv",
        icon=":material/download:",
        key="cx_rejects_download",
    )


def suggestion_for(
    store: Store, source: Source, dataset: str | None, key: str, cache: dict[str, Any]
) -> Mapping:
    """The saved profile or suggested mapping (cached per upload, sheet, header row and
    dataset; None lets the engine choose the dataset)."""
    suggestions = cache.setdefault("suggestions", {})
    cache_key = (key, source.sheet, source.header_row, source.header_rows, dataset)
    if cache_key not in suggestions:
        suggestions[cache_key] = suggested_mapping(
            source, dataset=dataset, data_dir=data_dir_of(store)
        )
    return suggestions[cache_key]
