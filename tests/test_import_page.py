"""The Data page under Streamlit's AppTest: upload, mapping warnings, check, import, list."""

from __future__ import annotations

from pathlib import Path

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


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "store"
    monkeypatch.setenv("CX_DATA_DIR", str(path))
    monkeypatch.delenv("CX_DATABASE_URL", raising=False)
    return path


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


def test_empty_store(data_dir: Path) -> None:
    at = page()
    assert at.title[0].value == "Data"
    assert any("Nothing stored yet" in i.value for i in at.info)


def test_upload_check_import_and_list(data_dir: Path, tmp_path: Path) -> None:
    expected = survey_mixed_scales(tmp_path)
    at = upload(page(), expected.path)
    warnings = " ".join(w.value for w in at.warning)
    assert "Overall: 1–10 is not the 0–10 NPS scale" in warnings
    assert "yes/no answers are not NPS" in warnings
    metrics = {m.label: m.value for m in at.metric}
    assert metrics == {"Rows read": "60", "Would be imported": "58", "Would be rejected": "2"}
    assert at.get("download_button")[0].proto.label == "Download the reject report (CSV)"
    at.button(key="cx_import").click().run()
    assert not at.exception, at.exception
    assert "read 60, imported 58, rejected 2" in at.success[0].value
    store = connect(data_dir)
    assert store.row_count(schema.RESPONSES) == 58
    listed = at.dataframe[-1].value.set_index("dataset")
    assert listed.loc["responses", "rows"] == 58
    assert listed.loc["responses", "last_file"] == expected.path.name


def test_unreadable_upload_shows_one_error(data_dir: Path, tmp_path: Path) -> None:
    bad = tmp_path / "broken.csv"
    bad.write_bytes(bytes(range(256)) * 8)
    at = upload(page(), bad)
    assert [e.value for e in at.error] == [
        "broken.csv: binary content, not a CSV, Excel or Parquet file"
    ]


def test_replace_asks_and_delete_asks(data_dir: Path, tmp_path: Path) -> None:
    first = slovenian_cp1250(tmp_path)
    at = upload(page(), first.path)
    at.button(key="cx_import").click().run()
    assert connect(data_dir).row_count(schema.RESPONSES) == first.imported
    assert not at.file_uploader[0].value  # a fresh uploader after the import
    at = upload(at, first.path)
    assert {m.label: m.value for m in at.metric}["Would be rejected"] == "120"  # all stored
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

    def signed_in() -> Grant:  # what a real sign-in and the access file would give
        st.session_state["_cx_grant"] = grant
        return grant

    monkeypatch.setattr(auth, "session_grant", signed_in)
    at = AppTest.from_file(DASHBOARD, default_timeout=60)
    at.run()
    assert not at.exception, at.exception
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
