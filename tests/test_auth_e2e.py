"""Hosted use end to end: OIDC sign-in against a real local provider, then each user sees
only their scope, URL parameters cannot widen it, and a signed-out browser sees no data."""

from __future__ import annotations

import json
import re
import secrets
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from e2e_helpers import (
    APP_IDLE,
    EXCEPTION,
    VIEWPORT,
    AppServer,
    free_port,
    screenshot,
    wait_for_comments,
    wait_for_text,
    wait_for_tiles,
    wait_idle,
)

from cxdata.demo import store_demo
from cxdata.store import close, connect

pytestmark = pytest.mark.browser
ROWS = 5_000  # hundreds of Norwegian and Swedish answers; no page here shows comment themes

ACCESS = """
admin_contact = "cx-admins@example.com"

[users."ola@example.com"]
role = "viewer"
restrict = { country = ["Norway"] }

[users."sven@example.com"]
role = "analyst"
restrict = { country = ["Sweden"] }
"""
USERS = {  # the provider vouches for each address, as a real one does after a check
    "ola": {"sub": "ola", "email": "ola@example.com", "email_verified": True},
    "sven": {"sub": "sven", "email": "sven@example.com", "email_verified": True},
    "mallory": {"sub": "mallory", "email": "mallory@example.com", "email_verified": True},
}


@pytest.fixture(scope="module")
def provider() -> Iterator[str]:
    """oidc-provider-mock on a free loopback port with three predefined users."""
    exe = shutil.which("oidc-provider-mock") or str(
        Path(sys.executable).parent / "oidc-provider-mock"
    )
    port = free_port()
    args = [exe, "--port", str(port)]
    for claims in USERS.values():
        args += ["--user-claims", json.dumps(claims)]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_http(f"{url}/.well-known/openid-configuration")
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture(scope="module")
def app(
    chromium_path: str, provider: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[AppServer]:
    root = tmp_path_factory.mktemp("hosted")
    data_dir = root / "data"
    # written by this process (a CLI process would cost seconds of start-up), whose
    # connection is closed before the server opens the folder
    try:
        store_demo(connect(data_dir), rows=ROWS)
    finally:
        close(data_dir)
    (root / "access.toml").write_text(ACCESS)
    server = AppServer(data_dir, env={"CX_ACCESS_FILE": str(root / "access.toml")})
    (root / "secrets.toml").write_text(
        "[auth]\n"
        f'redirect_uri = "{server.url}/oauth2callback"\n'
        f'cookie_secret = "{secrets.token_hex(16)}"\n'
        'client_id = "cx-dashboard"\n'
        'client_secret = "test-secret"\n'
        f'server_metadata_url = "{provider}/.well-known/openid-configuration"\n'
    )
    server.extra_args = ("--secrets.files", str(root / "secrets.toml"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _wait_http(url: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise TimeoutError(f"{url} did not answer")


def sign_in(browser: Any, app: AppServer, user: str, path: str = "") -> Any:
    """A fresh browser context signed in as `user`; returns its page."""
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    page.goto(f"{app.url}/{path}")
    page.wait_for_selector(APP_IDLE, timeout=45_000)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_selector(f"button[value='{user}']", timeout=30_000)
    page.click(f"button[value='{user}']")
    page.wait_for_url(re.compile(re.escape(app.url)), timeout=30_000)
    page.wait_for_selector(APP_IDLE, timeout=45_000)
    wait_idle(page)
    return page


def body_text(page: Any) -> str:
    return str(page.inner_text("[data-testid='stApp']"))


def responses_count(page: Any) -> int:
    """The Responses KPI tile's number, once it is drawn."""
    wait_for_tiles(page)
    text = body_text(page)
    match = re.search(r"Responses\s*\n?\s*([\d,]+)", text)
    assert match, text[:2000]
    return int(match.group(1).replace(",", ""))


def country_filter_options(page: Any) -> list[str]:
    """The Country filter's options as its drop-down lists them; none when the sidebar
    leaves out a one-value filter or the filter has nothing to offer."""
    wait_for_tiles(page)  # the run has finished: the sidebar is complete
    box = page.locator("[data-testid='stSidebar'] [data-testid='stMultiSelect']").filter(
        has=page.get_by_text("Country", exact=True)
    )
    if box.count() == 0:
        return []
    # Clicking the input only focuses it; the arrow button opens the list. The list opens
    # in the frame after the click, and a list with no options never opens.
    box.get_by_role("button", name="Open").click()
    page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
    if box.locator("input").get_attribute("aria-expanded") != "true":
        return []
    page.locator("[role='listbox'] [role='option']").first.wait_for()
    options = page.locator("[role='listbox'] [role='option']").all_inner_texts()
    page.keyboard.press("Escape")
    return [o for o in options if o != "Select all"]


def test_signed_out_browser_sees_no_data(app: AppServer, browser: Any) -> None:
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    for path in ("", "segments?country=Sweden", "feedback?q=delivery"):
        page.goto(f"{app.url}/{path}")
        page.wait_for_selector(APP_IDLE, timeout=45_000)
        wait_idle(page)
        page.get_by_role("button", name="Sign in").wait_for()
        text = body_text(page)
        assert "Sign in" in text
        assert "NPS" not in text and "Norway" not in text and "Sweden" not in text
        assert page.locator(".js-plotly-plot").count() == 0
    screenshot(page, "auth_signed_out")
    context.close()


def test_each_user_sees_only_their_scope(app: AppServer, browser: Any) -> None:
    ola = sign_in(browser, app, "ola")
    wait_for_text(ola, "ola@example.com", "country = Norway")
    assert set(country_filter_options(ola)) <= {"Norway"}
    assert "Sweden" not in body_text(ola) and "Denmark" not in body_text(ola)
    ola_count = responses_count(ola)
    screenshot(ola, "auth_ola_overview")
    sven = sign_in(browser, app, "sven")
    wait_for_text(sven, "sven@example.com", "country = Sweden")
    assert set(country_filter_options(sven)) <= {"Sweden"}
    assert "Norway" not in body_text(sven) and "Slovenia" not in body_text(sven)
    sven_count = responses_count(sven)
    assert ola_count > 0 and sven_count > 0 and ola_count != sven_count
    # Viewers may not import; a restricted analyst neither (imports span all rows).
    for page in (ola, sven):
        assert page.locator("[data-testid='stSidebarNav']").filter(has_text="Data").count() == 0
        assert page.locator(EXCEPTION).count() == 0
    ola.context.close()
    sven.context.close()


def test_url_parameters_cannot_widen_the_scope(app: AppServer, browser: Any) -> None:
    ola = sign_in(browser, app, "ola")
    baseline = responses_count(ola)
    for query in ("?country=Sweden", "?country=Sweden&country=Norway", "?dim.country=Sweden"):
        ola.goto(f"{app.url}/{query}")
        ola.wait_for_selector(APP_IDLE, timeout=45_000)
        wait_idle(ola)
        wait_for_tiles(ola)
        text = body_text(ola)
        assert "Sweden" not in text.replace("country = Norway", "")
        assert ola.locator(EXCEPTION).count() == 0
        if "No answers match" not in text:
            assert responses_count(ola) <= baseline
    ola.goto(f"{app.url}/feedback?country=Sweden&q=leverans")
    ola.wait_for_selector(APP_IDLE, timeout=45_000)
    wait_idle(ola)
    wait_for_comments(ola)
    assert "Stockholm" not in body_text(ola) and "Skåne" not in body_text(ola)
    screenshot(ola, "auth_ola_widen_attempt")
    ola.context.close()


def test_user_missing_from_the_access_file_is_told_whom_to_ask(
    app: AppServer, browser: Any
) -> None:
    page = sign_in(browser, app, "mallory")
    text = wait_for_text(page, "mallory@example.com", "cx-admins@example.com")
    assert "mallory@example.com" in text and "cx-admins@example.com" in text
    assert "NPS" not in text and page.locator(".js-plotly-plot").count() == 0
    screenshot(page, "auth_no_access")
    page.context.close()
