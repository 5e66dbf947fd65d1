"""Open mode (no sign-in configured) is read-only, local only; signed-in users without an
access file are viewers. Issue 10 item 3: before, every anonymous visitor was an admin."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from streamlit import config as st_config
from streamlit.testing.v1 import AppTest

from cxdata import demo, schema
from cxdata.access import AccessConfigError, open_grant, proxied, signed_in_default_role
from cxdata.roles import AccessDenied
from cxdata.store import connect
from cxdata.voc import persist
from tests.test_access_fail_closed import AUTH, page_text

ROOT = Path(__file__).resolve().parents[1]
END = dt.date(2026, 6, 30)


# --- the rule ------------------------------------------------------------------------------


def test_open_mode_is_read_only_by_default() -> None:
    assert open_grant("127.0.0.1", {}).role == "viewer"
    assert open_grant("localhost", {"CX_OPEN_ADMIN": "0"}).role == "viewer"
    assert open_grant("127.0.0.1", {"CX_OPEN_ADMIN": "1"}).role == "admin"


@pytest.mark.parametrize("address", ["", "0.0.0.0", "::", "192.168.1.20"])
def test_open_mode_refuses_a_network_address(address: str) -> None:
    with pytest.raises(AccessDenied, match="CX_ALLOW_PUBLIC"):
        open_grant(address, {"CX_OPEN_ADMIN": "1"})
    assert open_grant(address, {"CX_ALLOW_PUBLIC": "1"}).role == "viewer"


@pytest.mark.parametrize("header", ["X-Forwarded-For", "forwarded", "X-Real-IP"])
def test_open_mode_refuses_a_request_through_a_proxy(header: str) -> None:
    """A loopback server behind a reverse proxy serves the network: closed as well."""
    assert proxied({header: "203.0.113.7", "Host": "cx.example.com"})
    assert not proxied({"Host": "localhost:8501", "User-Agent": "x"})
    with pytest.raises(AccessDenied, match="through a proxy"):
        open_grant("127.0.0.1", {"CX_OPEN_ADMIN": "1"}, via_proxy=True)
    assert open_grant("127.0.0.1", {"CX_ALLOW_PUBLIC": "1"}, via_proxy=True).role == "viewer"


def test_signed_in_users_without_an_access_file_are_viewers() -> None:
    assert signed_in_default_role({}) == "viewer"
    assert signed_in_default_role({"CX_DEFAULT_ROLE": "analyst"}) == "analyst"
    with pytest.raises(AccessConfigError):
        signed_in_default_role({"CX_DEFAULT_ROLE": "superuser"})


# --- the dashboard ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("open_mode")
    store = connect(path)
    store.replace_table(schema.RESPONSES, demo.demo_responses(rows=4_000, seed=4, end=END))
    store.replace_table(schema.METRICS, demo.demo_metrics(seed=4, end=END))
    persist.compute_themes(store)
    return path


@pytest.fixture()
def open_env(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("CX_DATA_DIR", str(data_dir))
    for name in ("CX_OPEN_ADMIN", "CX_ALLOW_PUBLIC", "CX_ACCESS_FILE", "CX_DATABASE_URL",
                 "CX_AUTO_DEMO", "CX_DEFAULT_ROLE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(ROOT)
    address = st_config.get_option("server.address")
    yield data_dir
    st_config.set_option("server.address", address)


def app(page: str | None = None) -> AppTest:
    at = AppTest.from_file(str(ROOT / "dashboard.py"), default_timeout=90).run()
    if page is not None:
        at.switch_page(page).run()
    return at


def test_anonymous_visitor_cannot_reach_the_data_page(open_env: Path) -> None:
    at = app()
    assert not at.exception, [e.value for e in at.exception]
    assert "Open access" in "\n".join(str(w.value) for w in at.sidebar.warning)
    assert "read-only" in "\n".join(str(w.value) for w in at.sidebar.warning)
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        at.switch_page("pages/data.py")
    # Whatever a page draws, the engine refuses the write (tests/test_restrictions.py).


def test_anonymous_visitor_cannot_edit_the_taxonomy(open_env: Path) -> None:
    at = app("pages/feedback.py")
    assert not at.exception, [e.value for e in at.exception]
    labels = [str(e.label) for e in at.expander]
    assert "Edit the theme taxonomy" not in labels, labels
    assert not [b for b in at.button if "taxonomy" in str(b.label).lower()]


def test_local_admin_may_import(open_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CX_OPEN_ADMIN", "1")
    at = app("pages/data.py")
    assert not at.exception, [e.value for e in at.exception]
    assert "can import, replace and delete" in "\n".join(str(w.value) for w in at.sidebar.warning)


def test_empty_store_offers_no_demo_load_to_a_viewer(
    open_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CX_DATA_DIR", str(tmp_path))
    at = app()
    assert not at.exception, [e.value for e in at.exception]
    assert any("No survey data yet" in s.value for s in at.subheader)
    assert not [b for b in at.button if "demo" in str(b.label).lower()]
    assert "CX_OPEN_ADMIN=1" in page_text(at).replace("\\", "")
    assert not connect(tmp_path).has(schema.RESPONSES)


def test_open_dashboard_on_a_network_address_shows_nothing(open_env: Path) -> None:
    st_config.set_option("server.address", "0.0.0.0")
    at = app()
    assert not at.exception, [e.value for e in at.exception]
    assert any("CX_ALLOW_PUBLIC" in str(e.value) for e in at.error)
    assert not at.metric and not at.get("plotly_chart")


def test_public_open_dashboard_when_allowed_says_so_on_the_page(
    open_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CX_ALLOW_PUBLIC", "1")
    st_config.set_option("server.address", "0.0.0.0")
    at = app()
    assert not at.exception, [e.value for e in at.exception]
    assert any("Open access" in str(w.value) for w in at.main.warning)
    assert at.metric  # the data is served, read-only


def test_signed_in_without_access_file_is_a_viewer(
    open_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = AppTest.from_file(str(ROOT / "dashboard.py"), default_timeout=90)
    at.secrets["auth"] = AUTH
    at.user = {"is_logged_in": True, "email": "ola@example.com", "email_verified": True}
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.session_state["_cx_grant"].role == "viewer"
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        at.switch_page("pages/data.py")
