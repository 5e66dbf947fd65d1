"""A Streamlit session without a browser: the websocket the browser would open, speaking
Streamlit's own protocol (BackMsg / ForwardMsg protobufs). It costs the server the same
script runs as a browser tab, without a renderer on the client side.

Used by tests/test_load_e2e.py, tests/test_multiprocess_e2e.py and bench/load_sessions.py.
"""

from __future__ import annotations

import asyncio
import time
import urllib.request
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from typing import Any

from e2e_helpers import READY_KIND

WAIT = 150.0  # seconds one session may wait for one run under load (a bound, not a target)
PATHS = ("", "trends", "touchpoints", "segments", "feedback")
TITLES = {"": "Overview", "trends": "Trends", "touchpoints": "Touchpoints",
          "segments": "Segments", "feedback": "Feedback", "data": "Data"}  # fmt: skip
PLANS = ("Basic", "Plus", "Premium")
COUNTRIES = ("Norway", "Denmark", "Sweden", "Slovenia")
STICKY_COOKIE = "cx_upstream"  # the cookie deploy/Caddyfile routes by


def first_line(exc: BaseException) -> str:
    """`Type: first line of the message`, for error lists."""
    return f"{type(exc).__name__}: {(str(exc).splitlines() or [''])[0]}"


def change(i: int, done: int) -> tuple[str, str | None]:
    """The `done`-th filter change of session `i`: (dimension, value); value None clears
    the plan and country filters."""
    step = done % 3
    if step == 0:
        return "plan", PLANS[(i + done) % len(PLANS)]
    if step == 1:
        return "country", COUNTRIES[(i + done) % len(COUNTRIES)]
    return "plan", None


def sticky_cookie(url: str, timeout: float = 10.0) -> str | None:
    """The sticky cookie (`cx_upstream=…`) a reverse proxy sets on a first request to
    `url`, as a browser gets it with the page; None when the response sets none (a server
    without a proxy in front)."""
    with urllib.request.urlopen(f"{url}/_stcore/health", timeout=timeout) as response:
        for header in response.headers.get_all("Set-Cookie") or []:
            morsel = SimpleCookie(header).get(STICKY_COOKIE)
            if morsel is not None:
                return f"{STICKY_COOKIE}={morsel.value}"
    return None


@dataclass
class Run:
    """What one script run sent: the widgets by label, the elements by kind, the errors."""

    multiselects: dict[str, str] = field(default_factory=dict)  # label → widget id
    kinds: dict[str, int] = field(default_factory=dict)
    headings: list[str] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    tables: list[bytes] = field(default_factory=list)  # st.dataframe data (Arrow IPC stream)

    def ready(self, path: str) -> bool:
        """The websocket twin of e2e_helpers.PAGE_READY: the page's title and what it
        shows when it is complete."""
        kind = READY_KIND.get(path, "plots")
        if TITLES[path] not in self.headings:
            return False
        if kind == "tiles":
            return self.kinds.get("metric", 0) >= 1 or any(
                "No answers match" in t for t in self.texts
            )
        if kind == "plots":
            return self.kinds.get("plotly_chart", 0) >= 1
        return self.kinds.get("text", 0) >= 1 or any(
            "No comments match" in t or "Comments are withheld" in t for t in self.texts
        )


class WsSession:
    """One Streamlit session over the websocket the browser would open: rerun requests
    out, deltas in, until the run has finished.

    `cookie` ("name=value") is sent with the websocket's opening request, as a browser
    sends the cookies of the page (a sticky proxy routes by it). `timeout`: seconds one
    run may take before `run` raises TimeoutError."""

    def __init__(
        self, url: str, path: str, cookie: str | None = None, timeout: float = WAIT,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.ws_url = url.replace("http://", "ws://") + "/_stcore/stream"
        self.path = path
        self.cookie = cookie
        self.headers = headers or {}  # more headers of the opening request (a proxy's)
        self.timeout = timeout
        self.query = ""
        self.page_hash = ""
        self.ws: Any = None

    async def __aenter__(self) -> WsSession:
        import websockets

        headers = {**self.headers, **({"Cookie": self.cookie} if self.cookie else {})} or None
        self.ws = await websockets.connect(
            self.ws_url, subprotocols=["streamlit"], max_size=None, additional_headers=headers
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.ws.close()

    async def run(self, widgets: dict[str, list[str]] | None = None) -> Run:
        """Request a run (with these multiselect values by widget id) and read its
        messages until it has finished."""
        from streamlit.proto.Alert_pb2 import Alert
        from streamlit.proto.BackMsg_pb2 import BackMsg
        from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

        msg = BackMsg()
        state = msg.rerun_script
        state.query_string, state.page_name = self.query, self.path
        state.page_script_hash = self.page_hash
        for wid, values in (widgets or {}).items():
            widget = state.widget_states.widgets.add()
            widget.id = wid
            widget.string_array_value.data.extend(values)
        await self.ws.send(msg.SerializeToString())
        run = Run()
        async with asyncio.timeout(self.timeout):
            while True:
                fwd = ForwardMsg.FromString(await self.ws.recv())
                kind = fwd.WhichOneof("type")
                if kind == "new_session":
                    run = Run()  # a rerun started: what counts is the last run
                elif kind == "navigation":  # the page this run shows, as the browser keeps it
                    self.page_hash = fwd.navigation.page_script_hash
                elif kind == "page_info_changed":
                    self.query = fwd.page_info_changed.query_string
                elif kind == "delta" and fwd.delta.WhichOneof("type") == "new_element":
                    self._element(fwd.delta.new_element, run, Alert.ERROR)
                elif kind == "script_finished":
                    status = fwd.script_finished
                    if status == ForwardMsg.FINISHED_EARLY_FOR_RERUN:
                        continue  # st.rerun(): the next run follows by itself
                    if status != ForwardMsg.FINISHED_SUCCESSFULLY:
                        run.errors.append(f"run finished with status {status}")
                    return run

    @staticmethod
    def _element(element: Any, run: Run, error_format: int) -> None:
        kind = element.WhichOneof("type")
        run.kinds[kind] = run.kinds.get(kind, 0) + 1
        if kind == "multiselect":
            run.multiselects[element.multiselect.label] = element.multiselect.id
        elif kind == "exception":
            run.errors.append(f"exception: {element.exception.message[:300]}")
        elif kind == "alert" and element.alert.format == error_format:
            run.errors.append(f"error: {element.alert.body[:300]}")
        elif kind == "toast" and "error" in element.toast.body.lower():
            run.errors.append(f"toast: {element.toast.body[:300]}")
        elif kind == "heading":
            run.headings.append(element.heading.body)
        elif kind in ("markdown", "text", "alert"):
            run.texts.append(getattr(element, kind).body)
        elif kind == "dataframe":
            run.tables.append(element.dataframe.arrow_data.data)  # b'' when lazy


@dataclass
class Changes:
    """What one session changing filters saw: seconds per run (request sent → script
    finished), the first run separately, and the errors."""

    first: float | None = None
    reruns: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


async def changing_filters(
    url: str,
    i: int,
    changes: int,
    *,
    cookie: str | None = None,
    timeout: float = WAIT,
    loaded: asyncio.Barrier | None = None,
) -> Changes:
    """Session `i`: open page PATHS[i % 5], then change the sidebar's plan / country
    filters `changes` times (see `change`), checking every run drew its page and put the
    filter into the URL. Never raises: a failure ends the session and is in `errors`.
    `loaded`: a barrier every session waits at after its first run (or its failure), so
    all sessions are open at the same moment."""
    path = PATHS[i % len(PATHS)]
    where, out, waited = f"socket {i} /{path}", Changes(), False
    try:
        async with WsSession(url, path, cookie, timeout) as session:
            started = time.perf_counter()
            run = await session.run()
            out.first = time.perf_counter() - started
            out.errors += [f"{where}: {e}" for e in run.errors]
            if not run.ready(path):
                out.errors.append(f"{where}: the page was not drawn ({run.kinds})")
            if loaded is not None:
                waited = True
                await loaded.wait()
            chosen: dict[str, list[str]] = {}
            for done in range(changes):
                dim, value = change(i, done)
                if value is None:
                    chosen = {run.multiselects[d.capitalize()]: [] for d in ("plan", "country")}
                else:
                    chosen[run.multiselects[dim.capitalize()]] = [value]
                started = time.perf_counter()
                run = await session.run(chosen)
                out.reruns.append(time.perf_counter() - started)
                out.errors += [f"{where} change {done + 1}: {e}" for e in run.errors]
                if not run.ready(path):
                    out.errors.append(f"{where}: change {done + 1} not drawn ({run.kinds})")
                if value is not None and f"{dim}={value}" not in session.query:
                    out.errors.append(f"{where}: the URL lacks {dim}={value}")
    except Exception as exc:
        out.errors.append(f"{where}: {first_line(exc)}")
    finally:
        if loaded is not None and not waited:
            await loaded.wait()  # a failed session still lets the others go on
    return out
