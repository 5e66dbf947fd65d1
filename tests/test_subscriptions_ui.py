"""The Data page's "Subscriptions and alerts" under AppTest: the editor for an administrator
only, Save refusing a wrong file (left byte-identical) and writing a right one (with its
.bak), the Sent log from the ledger, the info box when the feature is off, and a broken
access file refusing every save."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest
from test_import_page import DASHBOARD, PAGE, page, signed_in_app, texts

from cxdata.access import Grant
from cxdata.notify import ledger
from cxdata.store import close
from pages._shared import auth
from pages._shared.subscriptions_section import (
    EXAMPLE,
    NOT_ENABLED,
    NOTHING_SENT,
    TEXT,
    TITLE,
    sent_table,
)

ACCESS = """
[users."ola@example.com"]
role = "viewer"

[users."kari@example.com"]
role = "analyst"
"""

V1 = """base_url = "https://cx.example.com"

[[subscription]]
name = "norway-weekly"
to = ["ola@example.com"]
view = "/overview?period=lq"
every = "weekly"
"""

V2 = V1 + """
[[alert]]
name = "nps-drop"
kind = "kpi_change"
to = ["kari@example.com"]
metric = "nps"
threshold = 5.0
"""

# bob is not in the access file: refused, naming the entry and the key.
WRONG = V1.replace('"ola@example.com"', '"ola@example.com", "bob@example.com"')


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Path]]:
    """A fresh store (open admin mode), an access file and a subscriptions file path (not
    written yet); the store's connection closed afterwards."""
    data = tmp_path / "store"
    access = tmp_path / "access.toml"
    access.write_text(ACCESS, encoding="utf-8")
    subs = tmp_path / "conf" / "subscriptions.toml"
    subs.parent.mkdir()
    monkeypatch.setenv("CX_DATA_DIR", str(data))
    monkeypatch.setenv("CX_OPEN_ADMIN", "1")
    monkeypatch.setenv("CX_ACCESS_FILE", str(access))
    monkeypatch.setenv("CX_SUBSCRIPTIONS_FILE", str(subs))
    monkeypatch.delenv("CX_DATABASE_URL", raising=False)
    yield {"data": data, "access": access, "subs": subs}
    close(data)


def _editor(at: AppTest) -> list:
    return [t for t in at.text_area if t.key == TEXT]


def _signed_in_as(monkeypatch: pytest.MonkeyPatch, grant: Grant) -> AppTest:
    at = signed_in_app(monkeypatch, grant)
    at.switch_page(PAGE).run()
    assert not at.exception, at.exception
    return at


def test_admin_sees_the_editor_with_the_example(env: dict[str, Path]) -> None:
    at = page()
    assert TITLE in [h.value for h in at.subheader]
    (editor,) = _editor(at)
    assert editor.value == EXAMPLE  # no file yet: the commented example
    assert not at.button(key="cx_subs_save").disabled
    assert "does not exist yet" in texts(at, "caption")
    assert NOTHING_SENT in texts(at, "info")
    assert not env["subs"].exists()  # opening the editor writes nothing


def test_an_analyst_does_not_see_it(env: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    env["subs"].write_text(V1, encoding="utf-8")
    at = _signed_in_as(monkeypatch, Grant("kari@example.com", "analyst"))
    assert "Import history" in [h.value for h in at.subheader]  # the rest of the page is there
    assert TITLE not in [h.value for h in at.subheader]
    assert not _editor(at)
    assert not [b for b in at.button if (b.key or "").startswith("cx_subs_")]
    assert "ola@example.com" not in texts(at, "markdown") + texts(at, "caption")


def test_a_viewer_has_no_data_page(env: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    grant = Grant("ola@example.com", "viewer")

    def signed_in() -> Grant:
        st.session_state["_cx_grant"] = grant
        return grant

    monkeypatch.setattr(auth, "session_grant", signed_in)
    at = AppTest.from_file(DASHBOARD, default_timeout=60).run()
    assert not at.exception, at.exception
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        at.switch_page(PAGE)


@pytest.mark.parametrize("role", ["analyst", "viewer"])
def test_the_section_itself_draws_nothing_without_the_manage_right(
    env: dict[str, Path], role: str
) -> None:
    def section(role: str) -> None:
        import os

        from cxdata.store import connect
        from pages._shared.subscriptions_section import subscriptions_section

        subscriptions_section(connect(os.environ["CX_DATA_DIR"]).acting_as(role))

    at = AppTest.from_function(section, args=(role,), default_timeout=60).run()
    assert not at.exception, at.exception
    assert not at.subheader and not at.text_area and not at.button and not at.dataframe
    assert not at.info and not at.error and not at.markdown


def test_a_wrong_text_is_not_saved(env: dict[str, Path]) -> None:
    env["subs"].write_text(V1, encoding="utf-8")
    before = env["subs"].read_bytes()
    at = page()
    (editor,) = _editor(at)
    assert editor.value == V1
    editor.input(WRONG)
    at.button(key="cx_subs_save").click().run()
    assert not at.exception, at.exception
    (error,) = [e.value for e in at.error]
    assert 'subscription[1] "norway-weekly"' in error.replace("\\", "")
    assert "to: bob@example.com is not granted access" in error.replace("\\", "")
    assert "\n" not in error
    assert env["subs"].read_bytes() == before
    assert not env["subs"].with_name("subscriptions.toml.bak").exists()
    assert not at.success


def test_check_reports_without_writing(env: dict[str, Path]) -> None:
    at = page()
    _editor(at)[0].input(V2)
    at.button(key="cx_subs_check").click().run()
    assert "No mistakes: 1 subscription and 1 alert." in texts(at, "success")
    assert not env["subs"].exists()


def test_a_right_text_is_saved_with_a_backup(env: dict[str, Path]) -> None:
    env["subs"].write_text(V1, encoding="utf-8")
    env["subs"].chmod(0o640)
    at = page()
    _editor(at)[0].input(V2)
    at.button(key="cx_subs_save").click().run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    assert "Saved: 1 subscription and 1 alert." in texts(at, "success")
    assert env["subs"].read_text(encoding="utf-8") == V2
    assert env["subs"].with_name("subscriptions.toml.bak").read_text(encoding="utf-8") == V1
    assert env["subs"].stat().st_mode & 0o777 == 0o640  # the file keeps its permissions
    leftovers = [p.name for p in env["subs"].parent.iterdir() if p.name.endswith(".tmp")]
    assert leftovers == []
    assert _editor(at)[0].value == V2


def test_a_file_changed_by_someone_else_is_not_overwritten(env: dict[str, Path]) -> None:
    env["subs"].write_text(V1, encoding="utf-8")
    at = page()
    env["subs"].write_text(V2, encoding="utf-8")  # another admin saved meanwhile
    _editor(at)[0].input(V1.replace("weekly", "daily"))
    at.button(key="cx_subs_save").click().run()
    assert "changed by someone else" in texts(at, "error")
    assert env["subs"].read_text(encoding="utf-8") == V2


def test_the_sent_log_shows_the_ledger(env: dict[str, Path]) -> None:
    folder = env["data"]
    t0 = dt.datetime(2026, 11, 30, 6, 0, tzinfo=dt.UTC)
    meta = {"recipient": "ola@example.com", "subject": "Norway weekly", "kind": "subscription",
            "name": "norway-weekly"}  # fmt: skip
    assert ledger.claim(folder, "sub:a", meta, now=t0)
    ledger.settle(folder, "sub:a", True, now=t0 + dt.timedelta(seconds=2))
    alert = {"recipient": "kari@example.com", "subject": "=NPS drop", "kind": "kpi_change",
             "name": "nps-drop"}  # fmt: skip
    assert ledger.claim(folder, "alert:b", alert, now=t0 + dt.timedelta(minutes=1))
    ledger.settle(folder, "alert:b", False, "550 mailbox unavailable",
                  now=t0 + dt.timedelta(minutes=1, seconds=1))  # fmt: skip
    assert ledger.claim(folder, "sub:c", meta, now=t0 + dt.timedelta(minutes=2))
    ledger.settle(folder, "sub:c", False, "empty view", skipped=True,
                  now=t0 + dt.timedelta(minutes=2, seconds=1))  # fmt: skip
    assert ledger.claim(folder, "sub:d", meta, now=t0 + dt.timedelta(minutes=3))  # open
    at = page()
    (shown,) = [d.value for d in at.dataframe if "recipient" in d.value.columns]
    assert list(shown["status"]) == ["claimed", "skipped", "failed", "sent"]  # newest first
    assert list(shown["recipient"]) == [
        "ola@example.com", "ola@example.com", "kari@example.com", "ola@example.com"
    ]
    assert shown["subject"].iloc[2] == "'=NPS drop"  # a formula is neutralised
    assert shown["rule"].iloc[2] == "kpi_change nps-drop"
    assert shown["detail"].iloc[2] == "550 mailbox unavailable"
    assert shown["at"].iloc[3] == dt.datetime(2026, 11, 30, 6, 0, 2)
    assert NOTHING_SENT not in texts(at, "info")


def test_without_the_env_var_an_info_box_says_how(
    env: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CX_SUBSCRIPTIONS_FILE")
    at = page()
    assert TITLE in [h.value for h in at.subheader]
    info = texts(at, "info")
    assert NOT_ENABLED.replace("**", "") in info.replace("**", "")
    assert "CX_SUBSCRIPTIONS_FILE" in info
    assert not _editor(at)


def test_a_broken_access_file_refuses_saving(env: dict[str, Path]) -> None:
    env["subs"].write_text(V1, encoding="utf-8")

    def section() -> None:
        import os

        from cxdata.store import connect
        from pages._shared.subscriptions_section import subscriptions_section

        subscriptions_section(connect(os.environ["CX_DATA_DIR"]))

    # The app itself closes when the access file breaks; the section must fail closed too.
    env["access"].write_text('[users."ola@example.com"]\nrole = "boss"\n', encoding="utf-8")
    at = AppTest.from_function(section, default_timeout=60).run()
    assert not at.exception, at.exception
    assert "recipients cannot be checked and saving is refused" in texts(at, "error")
    assert at.button(key="cx_subs_save").disabled
    assert env["subs"].read_text(encoding="utf-8") == V1


def test_the_sent_table_orders_by_time_and_keeps_the_latest() -> None:
    records = [
        {"key": f"k{i}", "status": "sent", "at": f"2026-11-{i + 1:02d}T06:00:00+00:00",
         "meta": {"recipient": f"r{i}@example.com"}, "detail": ""}
        for i in range(28)
    ] + [
        {"key": "late", "status": "sent", "at": "2026-10-01T06:00:00+00:00", "meta": None},
        {"key": "bad", "status": "failed", "at": "yesterday", "meta": {}},
    ]  # fmt: skip
    table = sent_table(records, limit=5)
    assert list(table["recipient"]) == [f"r{i}@example.com" for i in (27, 26, 25, 24, 23)]
    everything = sent_table(records)
    assert len(everything) == 30
    assert list(everything["status"].tail(2)) == ["sent", "failed"]  # oldest, then no time
    assert everything["at"].isna().tolist()[-1]
