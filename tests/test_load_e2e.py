"""Load end to end, on the 20k-row demo:

- a cold server takes 20 sessions whose first runs start at the same moment (what a
  restart does to 20 open tabs): none gets an error, and the server works afterwards;
- a warm server takes 20 sessions changing filters at the same time while one more
  uploads a hostile workbook (its only cell at XFD1048576) on the Data page: no session
  sees an error (no exception, no error alert, no error toast, no connection loss), every
  run finishes with its page drawn, the upload is refused in one line, and afterwards the
  server answers its health check and a fresh session renders the Overview.

Sessions: BROWSERS of them are headless Chromium, one browser context each (tabs sharing
a context do not work: a background tab gets no animation frames, so its drop-downs
never settle); the others speak Streamlit's own websocket protocol (the BackMsg /
ForwardMsg protobufs the browser sends and receives; tests/ws_session.py), which costs
the server the same script runs without a renderer each. Measured on the 2-core machine:
one Chromium context spends 5-20 CPU-seconds loading a page with Plotly charts, and 20
of them took over 2 minutes just to load while the server needed a fraction of that
(default 2 browsers: the suite runs two files at once). CX_LOAD_BROWSERS=20 runs them
all in Chromium on a bigger machine.

Loopback only; bounded to 20 sessions and 2 minutes. The figures are printed (pytest -s).
"""

from __future__ import annotations

import asyncio
import os
import re
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from e2e_helpers import (
    APP_IDLE,
    EXCEPTION,
    LAUNCH_ARGS,
    PAGE_READY,
    READY_KIND,
    AppServer,
    running_app,
    store_demo_here,
)
from ws_session import PATHS, WAIT, WsSession, change, first_line

pytestmark = pytest.mark.browser

SESSIONS = 20
# Two Chromium sessions, the rest over the websocket protocol: the suite runs its files on
# two workers, so this file shares the 2 cores with another file's browser tests.
BROWSERS = min(SESSIONS, int(os.environ.get("CX_LOAD_BROWSERS", "2")))
VIEWPORT = {"width": 1280, "height": 900}
MIN_CHANGES, MAX_CHANGES = 2, 4  # filter changes per session; more while the upload runs
ERROR_ALERT = "[data-testid='stAlertContentError']"


class Shared:
    """The module's server and whether any session has run on it yet."""

    def __init__(self, server: AppServer) -> None:
        self.server = server
        self.served = False


@pytest.fixture(scope="module")
def shared(chromium_path: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Shared]:
    """One server on the demo data for both tests: the cold-start test takes it cold (it
    runs first), the load test then gets it warm. The comment themes are skipped: no page
    these sessions open shows them."""
    data_dir = tmp_path_factory.mktemp("load_demo") / "store"
    store_demo_here(data_dir, 20_000)
    with running_app(data_dir) as app:
        yield Shared(app)


@contextmanager
def cold_server(shared: Shared) -> Iterator[AppServer]:
    """A server no session has run on yet: the module's, unless a test used it before
    (then a second process on its data directory, a DuckLake several processes share)."""
    if not shared.served:
        shared.served = True
        yield shared.server
        return
    server = AppServer(shared.server.data_dir, log_name="cold_server.log")
    server.start()
    try:
        yield server
    finally:
        server.stop()


def server_errors(server: AppServer) -> list[str]:
    """The distinct exception lines of the server's log (the browser is only told that
    an error happened)."""
    log = re.sub(r"\x1b\[[0-9;]*m", "", server.log())
    found = re.findall(r"^\s*(\w*(?:Error|Exception)\w*: .+?)\s*$", log, re.M)
    return sorted(set(found))[:10]


def first_runs(url: str, sessions: int) -> list[str]:
    """`sessions` websocket sessions ask for their first run at the same moment; returns
    the errors they got."""

    async def one(i: int) -> list[str]:
        path = PATHS[i % len(PATHS)]
        try:
            async with WsSession(url, path) as session:
                run = await session.run()
        except Exception as exc:
            return [f"socket {i} /{path}: {first_line(exc)}"]
        missing = [] if run.ready(path) else [f"not drawn ({run.kinds})"]
        return [f"socket {i} /{path}: {e}" for e in run.errors + missing]

    async def burst() -> list[str]:
        return [e for found in await asyncio.gather(*map(one, range(sessions))) for e in found]

    return asyncio.run(burst())


def hostile_workbook(path: Path) -> Path:
    """A valid .xlsx whose one cell is the last of the sheet: a reader that builds the
    grid allocates 16,384 × 1,048,576 cells (see tests/test_import_hostile.py)."""
    book = openpyxl.Workbook()
    book.active["XFD1048576"] = 1
    book.save(path)
    return path


# --- browser sessions ------------------------------------------------------------------


async def new_context(browser: Any) -> Any:
    """A browser context (one user) whose every wait may take up to WAIT."""
    context = await browser.new_context(viewport=VIEWPORT)
    context.set_default_timeout(WAIT * 1000)
    return context


async def problems(page: Any) -> list[str]:
    """Everything on the page that a user would see as an error."""
    found = [f"exception: {t[:300]}" for t in await page.locator(EXCEPTION).all_inner_texts()]
    found += [f"error: {t[:300]}" for t in await page.locator(ERROR_ALERT).all_inner_texts()]
    toasts = await page.locator("[data-testid='stToast']").all_inner_texts()
    found += [f"toast: {t[:300]}" for t in toasts if "error" in t.lower()]
    found += [
        f"connection: {t}"
        for t in await page.locator("[data-testid='stConnectionStatus']").all_inner_texts()
    ]
    return found


async def choose(page: Any, label: str, value: str) -> None:
    """Pick a value in one of the sidebar's dimension filters, as a user would."""
    box = page.locator("[data-testid='stSidebar'] [data-testid='stMultiSelect']").filter(
        has=page.get_by_text(label, exact=True)
    )
    await box.locator("input").click()
    await box.locator("input").fill(value)
    await page.locator("[role='option']", has_text=value).first.click()
    await page.keyboard.press("Escape")


# --- the load --------------------------------------------------------------------------


class Load:
    """The shared state of one load run."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.errors: list[str] = []
        self.js_errors: list[str] = []
        self.changes = 0
        self.loaded = 0
        self.half_loaded = asyncio.Event()
        self.upload_done = asyncio.Event()
        self.upload_seconds: float | None = None
        self.active = 0  # sessions still changing filters
        self.active_at_refusal = 0

    def one_loaded(self) -> None:
        self.loaded += 1
        if self.loaded >= SESSIONS // 2:
            self.half_loaded.set()

    def more(self, done: int) -> bool:
        """Whether a session goes on changing filters: at least MIN_CHANGES, and on while
        the hostile upload is still being answered (up to MAX_CHANGES)."""
        return done < MIN_CHANGES or (not self.upload_done.is_set() and done < MAX_CHANGES)

    async def browser_user(self, browser: Any, i: int) -> None:
        """A user in Chromium: open a page, then change filters in the sidebar."""
        context = await new_context(browser)
        page = await context.new_page()
        page.on("pageerror", lambda e: self.js_errors.append(f"browser {i}: {e}"))
        path = PATHS[i % len(PATHS)]
        ready = [READY_KIND.get(path, "plots"), 1]
        where, counted = f"browser {i} /{path}", False
        self.active += 1
        try:
            await page.goto(f"{self.url}/{path}", wait_until="domcontentloaded")
            await page.wait_for_function(PAGE_READY, arg=ready, polling=100)
            self.errors += [f"{where}: {p}" for p in await problems(page)]
            self.one_loaded()
            counted, done = True, 0
            while self.more(done):
                dim, value = change(i, done)
                if value is None:
                    await page.get_by_role("button", name="Clear filters").click()
                    check = "!location.search.includes('plan=')"
                else:
                    await choose(page, dim.capitalize(), value)
                    check = f"location.search.includes('{dim}={value}')"
                await page.wait_for_function(check, polling=100)
                await page.wait_for_function(PAGE_READY, arg=ready, polling=100)
                self.errors += [f"{where} change {done + 1}: {p}" for p in await problems(page)]
                done += 1
                self.changes += 1
        except Exception as exc:  # a wait that timed out: the page never finished
            self.errors.append(f"{where}: {first_line(exc)}")
        finally:
            self.active -= 1
            if not counted:
                self.one_loaded()
            await context.close()

    async def socket_user(self, i: int) -> None:
        """A user over the websocket: the same page loads and filter changes."""
        path = PATHS[i % len(PATHS)]
        where, counted = f"socket {i} /{path}", False
        self.active += 1
        try:
            async with WsSession(self.url, path) as session:
                run = await session.run()
                self.errors += [f"{where}: {e}" for e in run.errors]
                if not run.ready(path):
                    self.errors.append(f"{where}: the page was not drawn ({run.kinds})")
                self.one_loaded()
                counted, done, chosen = True, 0, {}
                while self.more(done):
                    dim, value = change(i, done)
                    if value is None:
                        chosen = {run.multiselects[d.capitalize()]: [] for d in ("plan", "country")}
                    else:
                        chosen[run.multiselects[dim.capitalize()]] = [value]
                    run = await session.run(chosen)
                    self.errors += [f"{where} change {done + 1}: {e}" for e in run.errors]
                    if not run.ready(path):
                        self.errors.append(f"{where}: change {done + 1} not drawn ({run.kinds})")
                    if value is not None and f"{dim}={value}" not in session.query:
                        self.errors.append(f"{where}: the URL lacks {dim}={value}")
                    done += 1
                    self.changes += 1
        except Exception as exc:
            self.errors.append(f"{where}: {first_line(exc)}")
        finally:
            self.active -= 1
            if not counted:
                self.one_loaded()

    async def hostile_upload(self, browser: Any, workbook: Path) -> None:
        """Upload the workbook on the Data page once half the users have a page open."""
        context = await new_context(browser)
        page = await context.new_page()
        try:
            # The Data page opens with the others (under the same load); the upload waits:
            # so the refusal comes soon after half the users are in, while all still work.
            await page.goto(f"{self.url}/data", wait_until="domcontentloaded")
            await page.wait_for_selector(APP_IDLE)
            await self.half_loaded.wait()  # every session counts itself, loaded or failed
            chooser = page.locator("[data-testid='stFileUploaderDropzoneInput']")
            started = time.perf_counter()
            await chooser.set_input_files(str(workbook))
            refusal = page.locator(ERROR_ALERT).filter(has_text="reaches cell XFD1048576")
            await refusal.wait_for()
            self.upload_seconds = time.perf_counter() - started
            self.active_at_refusal = self.active
            lines = [t for t in (await refusal.inner_text()).splitlines() if t.strip()]
            assert lines[-1].startswith("far.xlsx: sheet 'Sheet' reaches cell"), lines
            assert lines[:-1] in ([], ["error"]), lines  # one line (after the alert's icon)
            found = await page.locator(EXCEPTION).all_inner_texts()
            self.errors += [f"upload: exception: {t[:300]}" for t in found]
        except Exception as exc:
            self.errors.append(f"upload: {first_line(exc)}")
        finally:
            self.upload_done.set()
            await context.close()


async def run_load(executable: str, url: str, workbook: Path) -> tuple[Load, float]:
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        browser = await p.chromium.launch(
            executable_path=executable, args=LAUNCH_ARGS, headless=True
        )
        try:
            load = Load(url)
            started = time.perf_counter()
            await asyncio.gather(
                *(load.browser_user(browser, i) for i in range(BROWSERS)),
                *(load.socket_user(i) for i in range(BROWSERS, SESSIONS)),
                load.hostile_upload(browser, workbook),
            )
            wall = time.perf_counter() - started
            # afterwards: a fresh session still gets the whole Overview
            context = await new_context(browser)
            page = await context.new_page()
            await page.goto(f"{url}/", wait_until="domcontentloaded")
            await page.wait_for_function(PAGE_READY, arg=["tiles", 1], polling=100)
            await page.wait_for_function(PAGE_READY, arg=["plots", 1], polling=100)
            load.errors += [f"fresh overview: {p}" for p in await problems(page)]
            await context.close()
            return load, wall
        finally:
            await browser.close()


def test_a_cold_server_takes_twenty_first_sessions_at_once(
    shared: Shared,
) -> None:
    # What a restart does when 20 tabs are open: they reconnect together, and the first
    # runs import the app's modules on 20 threads at once (a module imported half-way on
    # one thread must not break the others, nor every later session).
    with cold_server(shared) as server:
        started = time.perf_counter()
        errors = first_runs(server.url, SESSIONS)
        took = time.perf_counter() - started
        later = first_runs(server.url, 1)  # and the server still works afterwards
        logged = server_errors(server)
    print(f"\ncold start: {SESSIONS} first runs at once in {took:.1f} s, {len(errors)} errors")
    assert not errors, "\n".join([*sorted(set(errors))[:6], "server log:", *logged])
    assert not later, later


def test_twenty_sessions_and_a_hostile_upload(
    shared: Shared, chromium_path: str, tmp_path: Path
) -> None:
    workbook = hostile_workbook(tmp_path / "far.xlsx")
    server = shared.server
    shared.served = True
    # a server that has served its first user (the cold start is the test above, on this
    # same server when both run)
    assert not first_runs(server.url, 1)
    load, wall = asyncio.run(run_load(chromium_path, server.url, workbook))
    with urllib.request.urlopen(f"{server.url}/_stcore/health", timeout=5) as r:
        healthy = r.status == 200
    assert server.proc is not None and server.proc.poll() is None, server.log()[-3000:]
    refused = "— (failed)" if load.upload_seconds is None else f"{load.upload_seconds:.1f} s"
    print(
        f"\nload: {SESSIONS} sessions ({BROWSERS} Chromium, {SESSIONS - BROWSERS} websocket), "
        f"{load.changes} filter changes, wall {wall:.1f} s, {len(load.errors)} errors; "
        f"hostile upload refused in {refused} while {load.active_at_refusal} sessions were "
        f"changing filters; {len(load.js_errors)} page script errors"
    )
    assert healthy
    assert not load.errors, "\n".join(load.errors[:20])
    assert load.changes >= SESSIONS * MIN_CHANGES
    assert load.upload_seconds is not None
    assert load.active_at_refusal > 0, "the upload did not overlap the load"
    # The work is fixed (SESSIONS × MIN_CHANGES); its wall time is printed, not asserted: a
    # timed assertion on this shared machine tests the neighbours (about 2 min here).
