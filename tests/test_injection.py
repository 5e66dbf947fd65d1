"""Injection into the page: data-derived text is inert on every surface (DESIGN §10).

Metric, segment, touchpoint and stage names, comments, file names and URL parameters are
shown literally: never as Markdown (images, links, `:red[…]`), never as Plotly HTML
(`<a href>`, `<span style>`), never reordered by bidi controls, never as terminal escape
sequences, never as a spreadsheet formula in a grid's CSV download; unknown URL values
are dropped with a note instead of being rendered."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from cxdata import demo, schema
from cxdata.store import close, connect
from cxdata.voc.persist import compute_themes

ROOT = Path(__file__).resolve().parents[1]
DEMO_END = pd.Timestamp("2026-06-30").date()
TIMEOUT = 90

MD_NAME = "![x](http://example.com/a.png) :red[x]"
MD_UNIT = ":red[u]"
LINK_TP = '<a href="http://example.com/">Checkout</a>'
BIG_STAGE = '<span style="font-size:60px">Delivery</span>'
BIDI = "invoice\u202eexe.txt"
ANSI = "\x1b[31mred\x1b[0m"
FORMULA_COUNTRY = '=HYPERLINK("http://example.com/","Denmark")'
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
BIDI_CHARS = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c"


def hostile_responses(rows: int = 3_000) -> pd.DataFrame:
    """Demo responses whose names and comments carry Markdown, HTML, bidi controls and
    spreadsheet formulas; the newest comment carries a bidi override and an ANSI colour."""
    frame = demo.demo_responses(rows=rows, end=DEMO_END)
    frame["touchpoint"] = frame["touchpoint"].replace({"checkout": LINK_TP})
    frame["journey_stage"] = frame["journey_stage"].replace({"delivery": BIG_STAGE})
    frame["plan"] = frame["plan"].replace({"Basic": BIDI})
    frame["country"] = frame["country"].replace({"Denmark": FORMULA_COUNTRY})
    comment = frame["comment"].astype(object)
    frame["comment"] = comment.where(comment.isna(), "=" + comment.astype(str))
    newest = frame["submitted_at"].idxmax()
    frame.loc[newest, "comment"] = f"{BIDI} {ANSI} arrived late"
    return frame


@pytest.fixture(scope="module")
def hostile_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("hostile")
    store = connect(path)
    store.replace_table(schema.RESPONSES, hostile_responses())
    metrics = demo.demo_metrics(end=DEMO_END)
    churn = metrics["metric"] == "churn rate"
    metrics.loc[churn, "unit"] = MD_UNIT
    metrics["metric"] = metrics["metric"].replace({"churn rate": MD_NAME})
    store.replace_table(schema.METRICS, metrics)
    compute_themes(store)
    return path


@pytest.fixture
def app_env(hostile_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("CX_DATA_DIR", str(hostile_dir))
    monkeypatch.delenv("CX_DATABASE_URL", raising=False)
    monkeypatch.delenv("CX_AUTO_DEMO", raising=False)
    monkeypatch.chdir(ROOT)
    return hostile_dir


@pytest.fixture(autouse=True)
def fresh_caches() -> Iterator[None]:
    import streamlit as st

    st.cache_data.clear()
    yield


def run_page(page: str, query: dict[str, str | list[str]] | None = None) -> AppTest:
    at = AppTest.from_file(str(ROOT / "dashboard.py"), default_timeout=TIMEOUT)
    at.run()
    if page != "pages/overview.py" or query:
        at.switch_page(page)
        at.query_params.update(query or {})
        at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    return at


def unescape(text: str) -> str:
    """Markdown as read: a backslash shows the character after it; a word joiner (which
    keeps a URL from becoming a link) is invisible."""
    return re.sub(r"\\(.)", r"\1", text).replace("\u2060", "")


def markdown_texts(at: AppTest) -> list[str]:
    """Every Markdown string on the page: text elements, alerts, and widget / metric labels."""
    out: list[str] = []
    for kind in ("markdown", "caption", "title", "header", "subheader", "info", "warning",
                 "success", "error"):
        out += [str(e.value) for e in getattr(at, kind)]
    for m in at.metric:
        out += [m.label, str(m.value), m.proto.delta, m.proto.help]
    for kind in ("button", "selectbox", "multiselect", "radio", "text_input", "slider"):
        out += [e.label for e in getattr(at, kind)]
    out += [pl.proto.label for pl in at.get("page_link")]
    return out


def raw_markdown(text: str) -> list[str]:
    """Markdown constructs that are not escaped: an image, a link, the `:red[…]` directive
    the data carries (the page's own score badges are `:red-badge[…]`), and a bare URL,
    which GFM turns into a link even when its punctuation is escaped."""
    found = []
    for pattern in (r"(?<!\\)!\[", r"(?<!\\)\]\(", r"(?<!\\):red\["):
        found += re.findall(pattern, text)
    return found + re.findall(r"(?i)://|\bwww\.", text.replace("\\", ""))


def _flat(value: Any) -> list[Any]:
    if isinstance(value, list):
        return [x for v in value for x in _flat(v)]
    if isinstance(value, dict):  # plotly's typed arrays never hold text
        return []
    return [] if value is None else [value]


def plotly_texts(fig: dict[str, Any]) -> list[str]:
    """The strings a Plotly figure draws: trace names, texts, hovers, labels, category
    values on axes without their own tick texts, tick texts and titles."""
    layout = fig.get("layout", {})
    out: list[Any] = []
    for trace in fig.get("data", []):
        for key in ("name", "text", "hovertext", "labels", "header", "cells"):
            out += _flat(trace.get(key))
        template = f"{trace.get('hovertemplate', '')} {trace.get('texttemplate', '')}"
        if "customdata" in template:  # only the items the template draws (others: click ids)
            picked = [int(i) for i in re.findall(r"%\{customdata\[(\d+)\]", template)]
            rows = trace.get("customdata") or []
            out += [row[i] for row in rows for i in picked] if picked else _flat(rows)
        for letter in ("x", "y"):
            ref = str(trace.get(f"{letter}axis", letter))
            axis = layout.get(f"{letter}axis{ref[1:]}", {})
            if "ticktext" not in axis or f"%{{{letter}" in template:
                out += [v for v in _flat(trace.get(letter)) if isinstance(v, str)]
    for value in layout.values():
        if isinstance(value, dict):
            out += _flat(value.get("ticktext"))
            title = value.get("title")
            out += _flat(title.get("text") if isinstance(title, dict) else title)
    out += [a.get("text") for a in layout.get("annotations", [])]
    title = layout.get("title")
    out += _flat(title.get("text") if isinstance(title, dict) else title)
    return [str(s) for s in out]


def figures(at: AppTest) -> list[dict[str, Any]]:
    return [json.loads(el.proto.spec) for el in at.get("plotly_chart")]


RAW_HTML = re.compile(r"<\s*/?\s*(a|span|img|font|sup|sub|i|em|s|u)\b", re.I)


# --- Markdown ---------------------------------------------------------------------------


def test_markdown_in_a_metric_name_renders_as_literal_text(app_env: Path) -> None:
    at = run_page("pages/overview.py")
    labels = [m.label for m in at.metric]
    nasty = [label for label in labels if unescape(label) == MD_NAME]
    assert nasty, f"the metric tile of {MD_NAME!r} is missing or altered: {labels}"
    for text in markdown_texts(at):
        assert not raw_markdown(text), text
    tile = next(m for m in at.metric if unescape(m.label) == MD_NAME)
    assert MD_UNIT in unescape(tile.value) and ":red[" not in tile.value


def test_markdown_in_a_url_segment_is_dropped_not_rendered(app_env: Path) -> None:
    at = run_page(
        "pages/feedback.py",
        {"seg": [f"journey_stage:{MD_NAME}", "touchpoint:Atlantis", "galaxy:x", "channel:web"]},
    )
    chips = [b.label for b in at.button if b.key and b.key.startswith("feedback.drop.")]
    assert [unescape(c) for c in chips] == ["Channel: web"], chips
    assert at.query_params.get("seg") in ("channel:web", ["channel:web"])
    notes = [w.value for w in at.warning]
    assert any("seg" in unescape(n) for n in notes), notes
    for text in markdown_texts(at):
        assert "Atlantis" not in text and "example.com" not in text, text
        assert not raw_markdown(text), text


def test_an_unknown_filter_value_in_the_url_is_dropped_with_a_note(app_env: Path) -> None:
    at = run_page("pages/trends.py", {"region": ["Atlantis", "Oslo"], "kpi": "galaxy"})
    assert at.multiselect(key="g.dim.region").value == ["Oslo"]
    assert at.selectbox(key="trends.kpi").value == "none"
    notes = " ".join(unescape(w.value) for w in at.warning)
    assert "Region" in notes and "kpi" in notes, notes
    assert "Atlantis" not in notes and "galaxy" not in notes


def test_dimension_and_option_labels_are_escaped(app_env: Path) -> None:
    at = run_page("pages/touchpoints.py", {"cols": "plan"})
    for text in markdown_texts(at):
        assert not raw_markdown(text) and not set(BIDI_CHARS) & set(text), text
    options = [o for m in at.multiselect for o in m.options]
    assert "invoiceexe.txt" in options and not any(set(BIDI_CHARS) & set(o) for o in options)


# --- Plotly -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "page,query",
    [
        ("pages/overview.py", None),
        ("pages/trends.py", {"split": "touchpoint", "top": "10"}),
        ("pages/trends.py", {"split": "journey_stage", "kpi": MD_NAME}),
        ("pages/touchpoints.py", None),
        ("pages/touchpoints.py", {"cols": "plan"}),
        ("pages/segments.py", {"path": ["plan", "journey_stage", "touchpoint"]}),
        ("pages/feedback.py", {"view": "themes"}),
    ],
)
def test_plotly_labels_show_html_as_text(
    app_env: Path, page: str, query: dict[str, Any] | None
) -> None:
    at = run_page(page, query)
    texts = [t for fig in figures(at) for t in plotly_texts(fig)]
    assert texts, f"{page} draws no chart"
    for text in texts:
        assert not RAW_HTML.search(text), text
        assert not set(BIDI_CHARS) & set(text), text
        assert "$" not in text and "\x1b" not in text, text


def test_the_movers_chart_shows_segment_names_as_text() -> None:
    from cxdata.charts import movers_figure

    movers = pd.DataFrame({
        "dimension": ["touchpoint", "journey_stage", "plan"],
        "value": [LINK_TP, BIG_STAGE, BIDI],
        "now": [40.0, 10.0, 5.0], "prev": [20.0, 25.0, 15.0],
        "n_now": [300, 280, 250], "n_prev": [310, 290, 260], "change": [20.0, -15.0, -10.0],
    })  # fmt: skip
    fig = movers_figure(movers, "nps").to_plotly_json()
    texts = plotly_texts(json.loads(json.dumps(fig, default=list)))
    assert "Touchpoint: &lt;a href=\"http://example.com/\"&gt;Checkout&lt;/a&gt;" in texts
    for text in texts:
        assert not RAW_HTML.search(text) and not set(BIDI_CHARS) & set(text), text


def test_the_heatmap_shows_escaped_labels_and_its_click_maps_back(app_env: Path) -> None:
    at = run_page("pages/touchpoints.py")
    heat = next(f for f in figures(at) if any(t["type"] == "heatmap" for t in f["data"]))
    ticks = heat["layout"]["yaxis"]["ticktext"]
    assert "&lt;a href=\"http://example.com/\"&gt;Checkout&lt;/a&gt;" in ticks
    assert "&lt;span style=\"font-size:60px\"&gt;Delivery&lt;/span&gt;" in heat["layout"][
        "xaxis"
    ]["ticktext"]
    from cxdata.charts import heatmap_cell

    cells = next(t for t in heat["data"] if t.get("name") == "cells")
    i = cells["y"].index(LINK_TP)
    point = {"customdata": cells["customdata"][i]}
    assert heatmap_cell({"points": [point]}) == (LINK_TP, cells["x"][i])


# --- bidi and control characters --------------------------------------------------------


def test_text_helpers_strip_bidi_and_controls_and_escape() -> None:
    from cxdata.textsafe import clean_text, md_escape, plotly_escape

    assert clean_text(BIDI) == "invoiceexe.txt"
    assert clean_text("a\u2066b\u2069c\u200fd\u061ce\u202af") == "abcdef"
    assert clean_text(f"x{ANSI}y\x00\x07\x7f\x9b") == "xredy"
    assert clean_text("line 1\nline 2\tend\r") == "line 1\nline 2\tend"
    assert clean_text("Ålesund 🚚 ok") == "Ålesund 🚚 ok"
    for nasty in (MD_NAME, "# h", "**b** _i_ ~s~ `c`", "<b>x</b>", "$x^2$", ":material/home:",
                  "1. list", "&#x202E;", "a\\b", "[l](javascript:x)"):
        escaped = md_escape(nasty)
        assert unescape(escaped) == nasty and not raw_markdown(escaped), escaped
    assert md_escape("two\nlines") == "two lines"
    for url in ("http://example.com/a.png", "see www.example.com", "HTTPS://x.y"):
        escaped = md_escape(url)  # GFM links bare URLs even when their : and . are escaped
        assert unescape(escaped) == url
        assert not re.search(r"://|www\\?\.", escaped.replace("\\", ""), re.I), escaped
    assert plotly_escape(LINK_TP) == "&lt;a href=\"http://example.com/\"&gt;Checkout&lt;/a&gt;"
    assert plotly_escape("A & B $x$") == "A &amp; B &#36;x&#36;"
    assert plotly_escape(BIDI) == "invoiceexe.txt"


def test_comment_text_is_shown_without_bidi_or_escape_characters(app_env: Path) -> None:
    at = run_page("pages/feedback.py")
    shown = [t.value for t in at.text]
    assert "invoiceexe.txt red arrived late" in shown, shown[:3]
    for text in shown:
        assert not set(BIDI_CHARS) & set(text) and "\x1b" not in text, repr(text)


# --- grids and their CSV download -------------------------------------------------------


def grid_cells(at: AppTest) -> list[tuple[str, str]]:
    """(column, cell) of every text cell of every data grid on the page."""
    cells = []
    for grid in at.dataframe:
        frame = grid.value
        for col in frame.columns:
            cells += [(str(col), v) for v in frame[col] if isinstance(v, str)]
    return cells


@pytest.mark.parametrize(
    "page,query,expander",
    [
        ("pages/feedback.py", {"view": "themes"}, "voc.languages"),
        ("pages/segments.py", None, None),
        ("pages/trends.py", {"split": "country"}, "trends.numbers"),
    ],
)
def test_displayed_grids_hold_no_formula_cells(
    app_env: Path, page: str, query: dict[str, Any], expander: str | None
) -> None:
    at = run_page(page, query)
    if expander:  # a lazy expander's grid is built only once it is opened
        at.session_state[expander] = True
        at.run()
        assert not at.exception, [e.value for e in at.exception]
    cells = grid_cells(at)
    assert cells, f"{page} shows no grid"
    for col, value in cells:
        assert not value.startswith(("=", "@")), (col, value)
        assert not set(BIDI_CHARS) & set(value), (col, value)
        if col in ("comment", "Segment", "Country", "label", "touchpoint"):
            assert not value.startswith(FORMULA_STARTS), (col, value)
    neutralised = [v for _, v in cells if v.startswith("'=")]
    assert neutralised, "the formula-like texts are missing from the grids"


def test_the_verbatim_grid_neutralises_comments(app_env: Path) -> None:
    at = run_page("pages/feedback.py", {"view": "themes"})
    verbatim = next(g.value for g in at.dataframe if "comment" in g.value.columns)
    comments = verbatim["comment"].dropna()
    assert len(comments) and comments.str.startswith("'=").all(), comments.head()


# --- the terminal -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def cli_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("hostile_cli")
    frame = demo.demo_responses(rows=3_000, end=DEMO_END)
    frame["touchpoint"] = frame["touchpoint"].replace({"checkout": ANSI, "payment": BIDI})
    frame["channel"] = frame["channel"].replace({"web": "\x1b]0;pwned\x07web\x9b2J"})
    connect(path).replace_table(schema.RESPONSES, frame)
    close(path)  # the CLI subprocesses open it; other tests' stores stay open
    return path


def cx(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CX_DATA_DIR": str(data_dir)}
    env.pop("CX_DATABASE_URL", None)
    return subprocess.run([sys.executable, "-m", "cxdata", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)


def terminal_controls(text: str) -> list[str]:
    """Control characters a terminal acts on (newline and tab aside), and bidi controls."""
    return [c for c in text if (ord(c) < 32 and c not in "\n\t") or 0x7F <= ord(c) <= 0x9F
            or c in BIDI_CHARS]


@pytest.mark.parametrize(
    "args",
    [
        ["kpis", "--by", "touchpoint"],
        ["kpis", "--by", "channel", "--json"],
        ["friction", "--cols", "channel"],
        ["trend", "--grain", "month", "--by", "touchpoint", "--top", "20"],
        ["kpis", "--where", "touchpoint=\x1b[2Jnone"],
    ],
)
def test_cli_output_has_no_escape_sequences(cli_dir: Path, args: list[str]) -> None:
    done = cx(cli_dir, *args)
    assert done.stdout or done.stderr
    assert not terminal_controls(done.stdout), repr(done.stdout[:500])
    assert not terminal_controls(done.stderr), repr(done.stderr[:500])
    if args[-1] == "touchpoint":
        assert "red" in done.stdout and "invoiceexe.txt" in done.stdout


def test_import_cli_output_has_no_escape_sequences(tmp_path: Path) -> None:
    name = tmp_path / "answers\x1b[31m\u202e.csv"
    name.write_text(
        "response_id,submitted_at,nps,touchpoint,Note\u202e\n"
        "a1,2026-01-02,9,checkout,x\n"
        "a2,2026-01-03,11,web,y\n",
        encoding="utf-8",
    )
    done = cx(tmp_path / "store", "import", str(name))
    assert done.returncode == 0, done.stderr
    assert "answers" in done.stdout
    assert not terminal_controls(done.stdout + done.stderr), repr(done.stdout + done.stderr)
