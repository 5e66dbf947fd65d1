"""The Data page under Streamlit's AppTest: upload, what was recognised, the mapping step
(left-out columns, warnings, the day/month question), the check with its reject summary,
import, list."""

from __future__ import annotations

import gc
import re
import tempfile
from pathlib import Path

import pandas as pd
import pytest
import streamlit as st
from conftest import random_responses
from import_corpus import slovenian_cp1250, survey_mixed_scales
from streamlit.testing.v1 import AppTest

from cxdata import schema
from cxdata.access import Grant
from cxdata.store import connect
from pages._shared import auth

DASHBOARD = str(Path(__file__).resolve().parents[1] / "dashboard.py")
PAGE = "pages/data.py"
FIELD = Path(__file__).resolve().parent / "field"


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "store"
    monkeypatch.setenv("CX_DATA_DIR", str(path))
    monkeypatch.setenv("CX_OPEN_ADMIN", "1")  # open mode is read-only without it
    monkeypatch.delenv("CX_DATABASE_URL", raising=False)
    return path



def signed_in_app(monkeypatch: pytest.MonkeyPatch, grant: Grant) -> AppTest:
    """The dashboard run once as if `grant`'s user had signed in (what a real sign-in and
    the access file would give)."""
    def signed_in() -> Grant:
        st.session_state["_cx_grant"] = grant
        return grant

    monkeypatch.setattr(auth, "session_grant", signed_in)
    at = AppTest.from_file(DASHBOARD, default_timeout=60)
    at.run()
    assert not at.exception, at.exception
    return at

def page() -> AppTest:
    """The Data page as a user reaches it: through the dashboard's navigation."""
    at = AppTest.from_file(DASHBOARD, default_timeout=60)
    at.run()
    at.switch_page(PAGE).run()
    assert not at.exception, at.exception
    return at


def upload(at: AppTest, path: Path) -> AppTest:
    at.file_uploader[0].set_value((path.name, path.read_bytes(), "text/csv"))
    at.run()
    assert not at.exception, at.exception
    return at


def plain(text: str) -> str:
    """Markdown as read: data-derived text on the page is escaped (DESIGN §10)."""
    return re.sub(r"\\(.)", r"\1", text)


def texts(at: AppTest, kind: str) -> str:
    """All texts of one kind of element (markdown, caption, warning…), unescaped."""
    return "\n".join(plain(e.value) for e in getattr(at, kind))


def metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def widget(elements: object, label: str) -> object:
    """The one widget of a kind (at.radio, at.number_input…) with this label."""
    found = [e for e in elements if e.label == label]  # type: ignore[attr-defined]
    assert len(found) == 1, [e.label for e in elements]  # type: ignore[attr-defined]
    return found[0]


def frame_with(at: AppTest, *columns: str) -> pd.DataFrame:
    """The one dataframe on the page whose columns include `columns`."""
    found = [d.value for d in at.dataframe if set(columns) <= set(d.value.columns)]
    assert len(found) == 1, [list(d.value.columns) for d in at.dataframe]
    return found[0]


def test_empty_store(data_dir: Path) -> None:
    at = page()
    assert at.title[0].value == "Data"
    assert any("Nothing stored yet" in i.value for i in at.info)


def test_upload_check_import_and_list(data_dir: Path, tmp_path: Path) -> None:
    expected = survey_mixed_scales(tmp_path)
    at = upload(page(), expected.path)
    warnings = texts(at, "warning")
    assert "Overall: 1–10 is not NPS" in warnings
    assert "Would recommend: yes/no is not NPS" in warnings
    assert warnings.count("Overall: 1–10") == 1  # every warning once
    # the two rows without a 1–10 or 1–5 rating still answered the yes/no question
    assert metrics(at) == {
        "Rows read": "60",
        "Would be imported": "60",
        "Would be rejected": "0",
        "Already stored": "0",
    }
    assert not at.get("download_button")  # no rejects, no report
    at.button(key="cx_import").click().run()
    assert not at.exception, at.exception
    done = plain(at.success[0].value)
    assert "read 60, imported 60, rejected 0, already stored 0" in done
    assert "No known platform" in done
    store = connect(data_dir)
    assert store.row_count(schema.RESPONSES) == 60
    listed = frame_with(at, "dataset", "last_file").set_index("dataset")
    assert listed.loc["responses", "rows"] == 60
    assert listed.loc["responses", "last_file"] == expected.path.name


@pytest.mark.parametrize(
    "case,platform,header,left_out,counts",
    [
        (
            "c03.csv",
            "SurveyMonkey",
            "SurveyMonkey header on rows 1–2",
            {
                "IP Address": "personal data (IP address)",
                "Email Address": "personal data (e-mail)",
                "First Name, Last Name": "personal data (name)",
                "Collector ID, Start Date": "SurveyMonkey metadata",
                "Custom Data 1": "empty in this file",
            },
            ("25", "25", "0", "0"),
        ),
        # How many "Offered"/"Unoffered" rows (no rating) are rejected is the engine's to
        # decide (tests/test_import_field.py); the page shows its counts as they are.
        ("c09.csv", "Zendesk CSAT", "40 records", {}, ("40", None, None, "0")),
    ],
    ids=["surveymonkey", "zendesk"],
)
def test_field_file_shows_what_was_recognised_and_left_out(
    data_dir: Path,
    case: str,
    platform: str,
    header: str,
    left_out: dict[str, str],
    counts: tuple[str | None, ...],
) -> None:
    at = upload(page(), FIELD / case)
    markdown = texts(at, "markdown")
    assert f"Recognised: **{platform}** export" in markdown
    assert header in texts(at, "caption")
    assert widget(at.number_input, "Header row").value == 1
    table = frame_with(at, "column", "to", "note", "warning")  # the mapping editor
    assert len(table) == len(at.dataframe[0].value.columns)  # one row per source column
    if left_out:
        assert f"**Left out** ({len([c for h in left_out for c in h.split(', ')])} of" in markdown
        for heads, why in left_out.items():
            bold = ", ".join(f"**{h}**" for h in heads.split(", "))
            assert f"- {bold}: {why}" in markdown
        mapped = dict(zip(table["column"], table["to"], strict=True))
        assert mapped["IP Address"] == "leave out" and mapped["Respondent ID"] == "response_id"
    else:
        assert "Every column of the file is used." in texts(at, "caption")
        assert "- Ticket satisfaction rating: 8 answers" in markdown  # "Offered" etc.
    labels = ("Rows read", "Would be imported", "Would be rejected", "Already stored")
    shown = metrics(at)
    assert list(shown) == list(labels)
    for label, count in zip(labels, counts, strict=True):
        assert count is None or shown[label] == count, (label, shown)
    read, imported, rejected, stored = (int(shown[k]) for k in labels)
    assert imported + rejected + stored == read
    at.button(key="cx_import").click().run()
    assert not at.exception, at.exception
    done = plain(at.success[0].value)
    assert f"read {read}, imported {imported}, rejected {rejected}, already stored 0" in done
    assert f"Recognised: {platform} export" in done
    after = texts(at, "markdown")
    for heads, why in left_out.items():
        assert f"- {heads}: {why}" in after  # the success lists what was left out


def test_undecided_date_order_asks(data_dir: Path, tmp_path: Path) -> None:
    path = tmp_path / "ambiguous.csv"
    path.write_text(
        "id,submitted,nps\n1,03/04/2025,9\n2,05/06/2025,7\n3,01/02/2025,3\n4,07/07/2025,10\n"
    )
    at = upload(page(), path)
    question = widget(at.radio, "Day/month order")
    assert question.value is None  # nothing chosen for the user
    assert question.options == ["31/12 = day first (dmy)", "12/31 = month first (mdy)"]
    asked = texts(at, "markdown")
    assert "column **submitted** (e.g. 03/04/2025, 05/06/2025, 01/02/2025)" in asked
    assert "03/04/2025 is 3 April 2025 when day first, March 4, 2025 when month first" in (
        texts(at, "caption")
    )
    assert not at.metric and not [b for b in at.button if b.key == "cx_import"]  # no check yet
    assert "undecided" not in texts(at, "warning")  # asked once: as the question

    # "Advanced" always offers the order; choosing there answers the question too.
    advanced = widget(at.selectbox, "Day/month order of dates")
    assert advanced.value == "auto"
    advanced.set_value("mdy").run()
    assert not at.exception, at.exception
    assert not [r for r in at.radio if r.label == "Day/month order"]
    assert metrics(at)["Would be imported"] == "4"
    widget(at.selectbox, "Day/month order of dates").set_value("auto").run()
    question = widget(at.radio, "Day/month order")  # asked again

    question.set_value("dmy").run()
    assert not at.exception, at.exception
    assert not [r for r in at.radio if r.label == "Day/month order"]  # answered
    assert metrics(at)["Would be imported"] == "4"
    assert widget(at.selectbox, "Day/month order of dates").value == "dmy"  # kept there
    assert "submitted: dates read day-first" in texts(at, "caption")
    at.button(key="cx_import").click().run()
    assert not at.exception, at.exception
    stored = connect(data_dir).table(schema.RESPONSES).execute()
    days = {pd.Timestamp(t).strftime("%d.%m.%Y") for t in stored["submitted_at"]}
    assert days == {"03.04.2025", "05.06.2025", "01.02.2025", "07.07.2025"}


def test_reject_summary_and_the_rows_behind_a_group(data_dir: Path, tmp_path: Path) -> None:
    lines = ["id,date,nps"]
    for i in range(1000):
        nps = "x" if i % 4 == 0 else str(i % 11)  # 250 rows: not a number, so no score
        date = "2025-02-31" if i in (255, 257) else f"2025-03-{i % 28 + 1:02d}"
        lines.append(f"{i},{date},{nps}")
    path = tmp_path / "bad.csv"
    path.write_text("\n".join(lines) + "\n")
    at = upload(page(), path)
    assert metrics(at)["Would be rejected"] == "252"
    summary = frame_with(at, "column", "reason", "rows", "first_row")
    assert sorted(map(tuple, summary[["column", "rows", "first_row"]].values.tolist())) == [
        ("(the whole row)", 250, 2),  # no score left in the row
        ("date", 2, 257),
        ("nps", 250, 2),
    ]
    assert summary["rows"].tolist() == [250, 250, 2]  # most frequent first
    assert "(3 kinds, by column and reason)" in texts(at, "markdown")
    group = at.selectbox(key="cx_reject_group")
    assert group.value == 0 and len(group.options) == 3
    shown = frame_with(at, "row", "value", "reason")
    assert len(shown) == 200  # of 250: the first 200 rows of the most frequent kind
    assert "The first 200 of 250; the report has them all." in texts(at, "caption")
    date_group = summary.index[summary["column"] == "date"][0]
    group.set_value(date_group).run()
    assert not at.exception, at.exception
    shown = frame_with(at, "row", "value", "reason")
    assert shown["row"].tolist() == [257, 259] and set(shown["value"]) == {"2025-02-31"}
    assert "The first 200" not in texts(at, "caption")
    report = at.get("download_button")[0]
    assert report.proto.label == "Download the reject report (CSV)"


def test_header_row_can_be_given(data_dir: Path, tmp_path: Path) -> None:
    path = tmp_path / "titled.csv"
    rows = [f"{i},2025-03-{i + 1:02d},{i % 11}" for i in range(12)]
    path.write_text("\n".join(["Customer survey", "March 2025", "", "id,date,nps", *rows]) + "\n")
    at = upload(page(), path)
    header = widget(at.number_input, "Header row")
    assert header.value == 4
    assert "header on row 4" in texts(at, "caption")
    assert "rows 1–3 above the header skipped" in texts(at, "caption")
    assert metrics(at)["Rows read"] == "12"
    header.set_value(5).run()  # the first data line as the header: a different file
    assert not at.exception, at.exception
    assert "header on row 5" in texts(at, "caption")
    # its "headers" are values: nothing says what is a score, and the page says so
    assert any("no score column" in plain(e.value) for e in at.error)
    header.set_value(99).run()
    assert not at.exception, at.exception
    assert [plain(e.value) for e in at.error] == ["titled.csv: no row 99: the table has 16 rows"]


def test_unreadable_upload_shows_one_error(data_dir: Path, tmp_path: Path) -> None:
    bad = tmp_path / "broken.csv"
    bad.write_bytes(bytes(range(256)) * 8)
    at = upload(page(), bad)
    assert [plain(e.value) for e in at.error] == [
        "broken.csv: binary content, not a CSV, Excel or Parquet file"
    ]


def test_replace_asks_and_delete_asks(data_dir: Path, tmp_path: Path) -> None:
    first = slovenian_cp1250(tmp_path)
    at = upload(page(), first.path)
    at.button(key="cx_import").click().run()
    assert connect(data_dir).row_count(schema.RESPONSES) == first.imported
    assert not at.file_uploader[0].value  # a fresh uploader after the import
    at = upload(at, first.path)
    assert metrics(at) == {
        "Rows read": "120",
        "Would be imported": "0",
        "Would be rejected": "5",
        "Already stored": "115",  # not imported twice, not called a reject
    }
    assert at.button(key="cx_import").disabled
    at.radio(key="cx_mode").set_value("replace").run()
    at.button(key="cx_import").click().run()
    assert not at.exception, at.exception
    # the confirmation dialog is open; nothing replaced yet
    assert "(append)" in at.success[0].value
    at.button(key="cx_confirm_replace").click().run()
    assert not at.exception, at.exception
    assert "(replace): read 120, imported 115" in at.success[0].value
    assert connect(data_dir).row_count(schema.RESPONSES) == first.imported
    at.button(key="cx_delete_responses").click().run()
    at.button(key="cx_confirm_delete").click().run()
    assert not at.exception, at.exception
    assert not connect(data_dir).has(schema.RESPONSES)


@pytest.mark.parametrize(
    "grant,can_open,can_replace",
    [
        (Grant("v@example.com", "viewer"), False, False),
        (Grant("a@example.com", "analyst", (("country", ("Norway",)),)), False, False),
        (Grant("a@example.com", "analyst"), True, False),
        (Grant("x@example.com", "admin"), True, True),
    ],
    ids=["viewer", "restricted-analyst", "analyst", "admin"],
)
def test_roles_on_the_data_page(
    data_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    grant: Grant,
    can_open: bool,
    can_replace: bool,
) -> None:
    connect(data_dir).replace_table(schema.RESPONSES, random_responses(50))

    at = signed_in_app(monkeypatch, grant)
    if not can_open:  # the Data page is not among their pages at all
        with pytest.raises(ValueError, match="Could not find a navigation page"):
            at.switch_page(PAGE)
        assert not at.file_uploader
        return
    at.switch_page(PAGE).run()
    assert not at.exception, at.exception
    assert at.title[0].value == "Data"
    delete_buttons = [b for b in at.button if b.label.startswith("Delete ")]
    assert bool(delete_buttons) is can_replace
    at.file_uploader[0].set_value(("s.csv", b"id,nps\n1,9\n2,3\n", "text/csv"))
    at.run()
    options = [o.split()[0] for o in at.radio(key="cx_mode").options]
    assert options == (["Append", "Replace"] if can_replace else ["Append"])


def test_an_upload_never_imported_leaves_no_file_behind(
    data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The upload's temporary copy is replaced by the next upload and deleted when the
    session that holds it ends, imported or not (a hosted server must not fill its disk
    with abandoned uploads)."""
    temp = tmp_path / "temp"
    temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    first, second = tmp_path / "a.csv", tmp_path / "b.csv"
    first.write_text("id,nps\n1,9\n2,3\n", encoding="utf-8")
    second.write_text("id,nps\n3,10\n", encoding="utf-8")
    at = upload(page(), first)
    assert [p.name for p in temp.glob("cx-upload-*/*")] == ["a.csv"]
    at = upload(at, second)
    assert [p.name for p in temp.glob("cx-upload-*/*")] == ["b.csv"]  # one copy at a time
    del at  # the session ends: its state is dropped
    gc.collect()
    assert not list(temp.iterdir())
