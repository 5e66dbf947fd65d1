"""Two dashboard processes on one data directory behind Caddy (deploy/Caddyfile), end to
end:

- the sticky cookie routes: every cookie value Caddy hands out reaches one process, and
  the two values reach the two processes;
- 10 websocket sessions change filters through the proxy, 7 holding one cookie and 3 the
  other: no errors, every run drew its page, and while all were open Caddy's admin API
  counted exactly 7 and 3 open websockets on the two processes (both served sessions);
- a Chromium user uploads a CSV on the Data page through the proxy and imports it (the
  upload's PUT must reach the process that holds the session, else Streamlit answers
  "Invalid session_id"), and a session on the *other* process then lists the imported
  rows (one DuckLake store shared by both).

Loopback only: servers, proxy and its admin endpoint listen on 127.0.0.1, free ports.
Skips visibly without caddy (apt-get install caddy), except in CI where that fails.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pyarrow as pa
import pytest
from e2e_helpers import (
    APP_IDLE,
    AppServer,
    CaddyProxy,
    chromium,
    exceptions,
    store_demo_here,
    wait_for_text,
)
from import_corpus import survey_mixed_scales
from ws_session import STICKY_COOKIE, Run, WsSession, changing_filters, sticky_cookie

pytestmark = pytest.mark.browser

ROWS = 5_000
SESSIONS = 10
ON_FIRST = 7  # sessions holding the first cookie; the other 3 hold the second
CHANGES = 2  # filter changes per session
BOUND = 120.0  # seconds any one wait may take on a loaded machine (a bound, not a target)


@pytest.fixture(scope="module")
def caddy() -> str:
    """The caddy binary; skips visibly without it, except in CI."""
    path = shutil.which("caddy")
    if path is None:
        if os.environ.get("CI") == "true":
            pytest.fail("CI=true but caddy is not installed (apt-get install caddy)")
        pytest.skip("caddy is not installed: apt-get install caddy to run this test")
    return path


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo store both tests serve (built once: seconds). Each test's servers are
    stopped before the next test starts its own."""
    data_dir = tmp_path_factory.mktemp("multiprocess") / "store"
    store_demo_here(data_dir, ROWS)
    return data_dir


@pytest.fixture
def two_behind_caddy(
    caddy: str, chromium_path: str, demo_dir: Path, tmp_path: Path
) -> Iterator[tuple[list[AppServer], CaddyProxy]]:
    """Two dashboards on one demo store and Caddy in front of them."""
    data_dir = demo_dir
    # Open mode behind a proxy serves the network: closed unless allowed (test below).
    servers = [AppServer(data_dir, env={"CX_ALLOW_PUBLIC": "1"}, log_name=f"server{i}.log")
               for i in range(2)]
    proxy = CaddyProxy([f"127.0.0.1:{s.port}" for s in servers], tmp_path / "caddy")
    try:
        with ThreadPoolExecutor(2) as pool:  # both start at once, as under systemd
            list(pool.map(lambda s: s.start(timeout=BOUND), servers))
        proxy.start()
        yield servers, proxy
    finally:
        proxy.stop()
        for server in servers:
            server.stop()


def server_errors(server: AppServer) -> list[str]:
    """The distinct exception lines (and refused uploads) of one server's log."""
    log = re.sub(r"\x1b\[[0-9;]*m", "", server.log())
    found = re.findall(r"^\s*(\w*(?:Error|Exception)\w*: .+?)\s*$", log, re.M)
    found += re.findall(r"^.*Invalid session_id.*$", log, re.M)
    return sorted(set(found))[:10]


def wait_in_flight(proxy: CaddyProxy, wanted: dict[str, int]) -> dict[str, int]:
    """Caddy's open requests per upstream once they equal `wanted` (a closed websocket is
    counted off a moment after it closed), else the last count after BOUND seconds."""
    deadline = time.monotonic() + BOUND
    while (seen := proxy.in_flight()) != wanted and time.monotonic() < deadline:
        time.sleep(0.05)
    return seen


def route_of(proxy: CaddyProxy, cookie: str) -> str:
    """The upstream a websocket opened with `cookie` reaches, by Caddy's own count."""
    idle = {u: 0 for u in proxy.upstreams}
    assert wait_in_flight(proxy, idle) == idle

    async def probe() -> str:
        async with WsSession(proxy.url, "", cookie):
            reached = [u for u, n in (await asyncio.to_thread(proxy.in_flight)).items() if n]
        assert len(reached) == 1, reached
        return reached[0]

    return asyncio.run(probe())


def two_cookies(proxy: CaddyProxy) -> list[str]:
    """Both values of the sticky cookie, collected as browsers get them: first requests
    without a cookie, each answered by a process picked at random (bounded to 64)."""
    seen: set[str] = set()
    for _ in range(64):
        cookie = sticky_cookie(proxy.url)
        assert cookie is not None, "the proxy set no sticky cookie"
        seen.add(cookie)
        if len(seen) == 2:
            return sorted(seen)
    raise AssertionError(f"64 first requests all got {seen}")


def stored_responses(proxy: CaddyProxy, cookie: str) -> tuple[int, str]:
    """(rows, last file) of the responses dataset as the Data page of the process that
    `cookie` reaches lists them."""

    async def read() -> tuple[int, str]:
        async with WsSession(proxy.url, "data", cookie, BOUND) as session:
            run = await session.run()
        assert not run.errors, run.errors
        for data in run.tables:
            table = pa.ipc.open_stream(data).read_all().to_pandas() if data else None
            if table is not None and {"dataset", "rows", "last_file"} <= set(table.columns):
                row = table.set_index("dataset").loc["responses"]
                return int(row["rows"]), str(row["last_file"])
        raise AssertionError(f"no stored-datasets table on the Data page ({run.kinds})")

    return asyncio.run(read())


def load(proxy: CaddyProxy, cookies: list[str]) -> tuple[list[str], dict[str, int], int]:
    """SESSIONS sessions changing filters through the proxy; returns (errors, Caddy's
    open requests per upstream while all sessions were open, filter changes)."""

    async def run() -> tuple[list[str], dict[str, int], int]:
        opened = asyncio.Barrier(SESSIONS + 1)
        seen: dict[str, int] = {}

        async def count() -> None:
            await opened.wait()
            seen.update(await asyncio.to_thread(proxy.in_flight))

        def cookie(i: int) -> str:
            return cookies[0 if i < ON_FIRST else 1]

        sessions = [
            changing_filters(proxy.url, i, CHANGES, cookie=cookie(i), timeout=BOUND, loaded=opened)
            for i in range(SESSIONS)
        ]
        results = await asyncio.gather(count(), *sessions)
        done = [r for r in results if r is not None]
        errors = [e for r in done for e in r.errors]
        return errors, seen, sum(len(r.reruns) for r in done)

    return asyncio.run(run())


def test_two_processes_behind_a_sticky_proxy(
    two_behind_caddy: tuple[list[AppServer], CaddyProxy], chromium_path: str, tmp_path: Path
) -> None:
    servers, proxy = two_behind_caddy
    started = time.perf_counter()
    cookies = two_cookies(proxy)
    routes = {c: {route_of(proxy, c) for _ in range(3)} for c in cookies}
    assert all(len(r) == 1 for r in routes.values()), routes  # a cookie keeps its process
    first, second = (routes[c].pop() for c in cookies)
    assert {first, second} == set(proxy.upstreams)  # and the two reach the two processes

    errors, open_then, changes = load(proxy, cookies)
    logged = [f"{s.port}: {e}" for s in servers for e in server_errors(s)]
    assert not errors, "\n".join([*errors[:12], "server logs:", *logged])
    assert changes == SESSIONS * CHANGES
    assert open_then == {first: ON_FIRST, second: SESSIONS - ON_FIRST}, open_then
    load_seconds = time.perf_counter() - started

    started = time.perf_counter()
    csv = survey_mixed_scales(tmp_path).path
    before = stored_responses(proxy, cookies[0])
    assert before[0] == ROWS, before
    with chromium(chromium_path) as browser:
        context = browser.new_context()
        context.set_default_timeout(BOUND * 1000)
        page = context.new_page()
        page.goto(f"{proxy.url}/data", wait_until="domcontentloaded")
        page.wait_for_selector(APP_IDLE)
        page.locator("[data-testid='stFileUploaderDropzoneInput']").set_input_files(str(csv))
        wait_for_text(page, "Would be imported", timeout=BOUND * 1000)
        page.get_by_role("button", name="Import 60 rows").click()
        wait_for_text(page, "read 60, imported 60, rejected 0", timeout=BOUND * 1000)
        assert not exceptions(page)
        jar = context.cookies()
        held = [f"{c['name']}={c['value']}" for c in jar if c["name"] == STICKY_COOKIE]
        context.close()
    assert len(held) == 1 and held[0] in cookies, held
    # the other process reads the same lake: it lists the rows imported through this one
    other = cookies[1 - cookies.index(held[0])]
    assert stored_responses(proxy, other) == (ROWS + 60, csv.name)
    upload_seconds = time.perf_counter() - started
    logged = [f"{s.port}: {e}" for s in servers for e in server_errors(s)]
    assert not logged, logged
    print(
        f"\n2 processes behind Caddy: {SESSIONS} sessions, {changes} filter changes, 0 errors "
        f"(routes and load {load_seconds:.1f} s); open websockets per process "
        f"{sorted(open_then.values(), reverse=True)}; CSV uploaded and imported in Chromium "
        f"through the proxy and listed by the other process ({upload_seconds:.1f} s)"
    )


def test_open_mode_through_a_proxy_shows_nothing(demo_dir: Path) -> None:
    """A server on loopback without sign-in is open for local use; a request that came
    through a reverse proxy (its X-Forwarded-For header) comes from the network: that
    session gets nothing unless CX_ALLOW_PUBLIC=1, while a local one still sees the data."""
    data_dir = demo_dir

    async def overview(url: str, headers: dict[str, str] | None) -> Run:
        async with WsSession(url, "", headers=headers, timeout=BOUND) as session:
            return await session.run()

    server = AppServer(data_dir, log_name="open.log")
    server.start(timeout=BOUND)
    try:
        local = asyncio.run(overview(server.url, None))
        proxied = asyncio.run(overview(server.url, {"X-Forwarded-For": "203.0.113.7"}))
    finally:
        server.stop()
    assert local.kinds.get("metric", 0) >= 1 and not local.errors, local.errors
    assert proxied.kinds.get("metric", 0) == 0 and "plotly_chart" not in proxied.kinds
    assert any("through a proxy" in e for e in proxied.errors), proxied.errors
