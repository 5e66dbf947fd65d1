"""The Data page's "Import history" under AppTest: the change log with its files and rows,
undo for an administrator (the stored rows drop by exactly that import's rows, and the
cached queries answer from the new snapshot), no undo for an analyst, the empty state, and
a short explanation instead of the log where there is none (a restricted view)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
import streamlit as st
from conftest import random_responses
from streamlit.testing.v1 import AppTest
from test_import_page import PAGE, page, plain, signed_in_app, texts

from cxdata import history, schema
from cxdata.access import Grant
from cxdata.config import thresholds
from cxdata.filters import Filters
from cxdata.importing import import_file
from cxdata.store import Store, close, connect
from pages._shared import session
from pages._shared.history_section import ADMIN_ONLY, EMPTY, PICK

HEADERS = ["Change", "When (UTC)", "Who", "What", "File", "Rows", "Undone by"]


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A fresh store for the page, open admin mode; its connection closed afterwards."""
    path = tmp_path / "store"
    monkeypatch.setenv("CX_DATA_DIR", str(path))
    monkeypatch.setenv("CX_OPEN_ADMIN", "1")  # open mode is read-only without it
    monkeypatch.delenv("CX_DATABASE_URL", raising=False)
    yield path
    close(path)


def export(frame: pd.DataFrame, path: Path) -> Path:
    frame.assign(submitted_at=frame["submitted_at"].dt.strftime("%Y-%m-%d %H:%M:%S")).to_csv(
        path, index=False
    )
    return path


@pytest.fixture
def two_imports(data_dir: Path, tmp_path: Path) -> Store:
    """week1.csv (400 responses) then week2.csv (300), imported by an analyst."""
    store = connect(data_dir).by("analyst@example.com")
    second = random_responses(300, seed=2).assign(
        response_id=lambda f: "b" + f["response_id"].astype(str)
    )
    import_file(store, export(random_responses(400, seed=1), tmp_path / "week1.csv"),
                dataset=schema.RESPONSES)
    import_file(store, export(second, tmp_path / "week2.csv"), dataset=schema.RESPONSES)
    return store


def history_frame(at: AppTest) -> pd.DataFrame:
    """The history table as shown: its columns renamed to their headers."""
    (element,) = [d for d in at.dataframe if "undone_by" in d.value.columns]
    labels = {k: v.get("label", k) for k, v in json.loads(element.proto.columns).items()}
    return element.value.rename(columns=labels)


def test_the_list_shows_both_imports_newest_first(two_imports: Store) -> None:
    ratings = two_imports.row_count(schema.TOUCHPOINT_RATINGS)
    week1, week2 = sorted(
        (c for c in history.changes(two_imports) if c.kind == "import"), key=lambda c: c.snapshot
    )
    assert ratings == week1.rows[schema.TOUCHPOINT_RATINGS] + week2.rows[schema.TOUCHPOINT_RATINGS]
    at = page()
    assert "Import history" in [h.value for h in at.subheader]
    shown = history_frame(at)
    assert list(shown.columns) == HEADERS
    assert list(shown["Change"]) == [week2.snapshot, week1.snapshot]  # newest first
    assert list(shown["File"]) == ["week2.csv", "week1.csv"]
    assert list(shown["What"]) == ["Import (append)", "Import (append)"]
    assert set(shown["Who"]) == {"analyst@example.com"}
    assert shown["Rows"].iloc[1] == (
        f"400 responses, {week1.rows[schema.TOUCHPOINT_RATINGS]:,} touchpoint ratings"
    )
    assert shown["Rows"].iloc[0].startswith("300 responses, ")
    assert list(shown["Undone by"]) == ["", ""]
    assert at.button(key="cx_undo").disabled  # nothing is undone without the tick


def test_admin_undoes_one_import(two_imports: Store, data_dir: Path) -> None:
    st.cache_data.clear()
    store = connect(data_dir)
    week1 = next(c for c in history.changes(store) if c.file == "week1.csv")
    ratings = week1.rows[schema.TOUCHPOINT_RATINGS]
    before_ratings = store.row_count(schema.TOUCHPOINT_RATINGS)
    key = session.data_key(store)
    kpis = session.cached_query(store, key, "kpis", Filters(), thresholds())
    assert kpis.responses == 700

    at = page()
    at.selectbox(key=PICK).set_value(week1.snapshot).run()
    (sure,) = [c for c in at.checkbox if c.key == f"cx_undo_sure_{week1.snapshot}"]
    assert plain(sure.label) == (
        f"Remove the 400 responses and {ratings:,} touchpoint ratings imported from week1.csv"
    )
    sure.check().run()
    assert not at.button(key="cx_undo").disabled
    at.button(key="cx_undo").click().run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]

    done = history.changes(store)[0]
    assert done.kind == "undo" and done.undoes == week1.snapshot
    success = texts(at, "success")
    assert (
        f"Change {done.snapshot} undid change {week1.snapshot}: −400 responses, "
        f"−{ratings:,} touchpoint ratings." in success
    )
    # exactly that import's rows are gone, nothing else
    assert store.row_count(schema.RESPONSES) == 300
    assert store.row_count(schema.TOUCHPOINT_RATINGS) == before_ratings - ratings
    shown = history_frame(at)
    assert shown.loc[shown["Change"] == week1.snapshot, "Undone by"].item() == str(done.snapshot)
    assert shown["What"].iloc[0] == f"Undo of change {week1.snapshot}"
    stored = next(d.value for d in at.dataframe if "last_file" in d.value.columns)
    assert stored.set_index("dataset").loc["responses", "rows"] == 300
    # the cached queries do not serve the old numbers: the key carries the lake snapshot
    fresh = session.data_key(store)
    assert fresh != key and fresh.version.responses == 300
    assert session.cached_query(store, fresh, "kpis", Filters(), thresholds()).responses == 300
    # the undone import is no longer offered; the other one still is
    week2 = next(c for c in history.changes(store) if c.file == "week2.csv")
    (offered,) = at.selectbox(key=PICK).options
    assert offered.startswith(f"#{week2.snapshot} · ") and "week2.csv · 300 responses" in offered


def test_an_analyst_sees_the_list_but_no_undo(
    two_imports: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    grant = Grant("a@example.com", "analyst")

    at = signed_in_app(monkeypatch, grant)
    at.switch_page(PAGE).run()
    assert not at.exception, at.exception
    assert list(history_frame(at)["File"]) == ["week2.csv", "week1.csv"]
    assert not [b for b in at.button if b.key == "cx_undo"]
    assert not [s for s in at.selectbox if s.key == PICK]
    assert not [c for c in at.checkbox if (c.key or "").startswith("cx_undo_sure_")]
    assert ADMIN_ONLY in texts(at, "caption")


def test_an_empty_store_explains_what_will_appear(data_dir: Path) -> None:
    at = page()
    assert EMPTY in texts(at, "info")
    assert not [d for d in at.dataframe if "undone_by" in d.value.columns]
    assert not [b for b in at.button if b.key == "cx_undo"]


def test_a_restricted_view_gets_an_explanation_not_the_log(two_imports: Store) -> None:
    def section() -> None:
        import os

        from cxdata.store import connect
        from pages._shared.history_section import history_section

        store = connect(os.environ["CX_DATA_DIR"]).restricted({"channel": ("web",)})
        history_section(store)

    at = AppTest.from_function(section, default_timeout=60).run()
    assert not at.exception, at.exception
    assert "The import history is not available here: a restricted view cannot read the " \
        "change log." in texts(at, "info")
    assert not at.dataframe
