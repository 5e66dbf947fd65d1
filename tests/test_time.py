"""Time (issue 12, item 13): the presets All data, This/Last quarter, This/Last year, Year to
date; the comparisons previous period, same period last year and previous calendar period
(Q2 vs Q1, not 91 days back); all in the URL with bad values falling back; the admins'
score targets on the tiles, failing closed on a bad file. Also item 17: the toolbar mode."""

from __future__ import annotations

import datetime as dt
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
import reference as ref
from streamlit.testing.v1 import AppTest

from cxdata import demo, periods, schema
from cxdata.filters import Filters
from cxdata.store import connect
from cxdata.targets import TargetsError, load_targets, on_target, parse_targets
from cxdata.urlstate import (
    DEFAULT_COMPARISON,
    DEFAULT_PERIOD,
    ViewFilters,
    comparison_of,
    preset_range,
)

ROOT = Path(__file__).resolve().parents[1]
DEMO_END = dt.date(2026, 6, 30)
FIRST = dt.date(2024, 7, 1)
D = dt.date

# --- presets --------------------------------------------------------------------------


def test_new_presets_end_on_the_anchor_or_are_whole_calendar_periods() -> None:
    anchor = D(2026, 5, 17)
    assert preset_range("all", anchor, FIRST) == (FIRST, anchor)
    assert preset_range("qtd", anchor) == (D(2026, 4, 1), anchor)  # This quarter
    assert preset_range("lq", anchor) == (D(2026, 1, 1), D(2026, 3, 31))  # Last quarter
    assert preset_range("ytd", anchor) == (D(2026, 1, 1), anchor)  # This year / YTD
    assert preset_range("ly", anchor) == (D(2025, 1, 1), D(2025, 12, 31))  # Last year
    assert preset_range("lq", D(2026, 1, 1)) == (D(2025, 10, 1), D(2025, 12, 31))
    with pytest.raises(ValueError, match="first day"):
        preset_range("all", anchor)


# --- comparisons ----------------------------------------------------------------------


def compared(period: str, compare: str, rng: tuple[dt.date, dt.date]) -> tuple:
    c = comparison_of(period, compare, rng, FIRST)
    return c.start, c.end, c.label, bool(c.note)


def test_calendar_comparison_moves_back_whole_calendar_periods() -> None:
    # Q2 vs Q1, not the 91 days before 1 Apr (which would start on 31 Dec)
    assert compared("lq", "cal", (D(2026, 4, 1), D(2026, 6, 30))) == (
        D(2026, 1, 1), D(2026, 3, 31), "previous quarter", False,
    )  # fmt: skip
    assert periods.previous_period(D(2026, 4, 1), D(2026, 6, 30))[0] == D(2025, 12, 31)
    # a quarter to date vs the same stretch of the quarter before
    assert compared("qtd", "cal", (D(2026, 4, 1), D(2026, 5, 17)))[:3] == (
        D(2026, 1, 1), D(2026, 2, 17), "previous quarter",
    )  # fmt: skip
    # a month vs the month before: March → the whole of February
    assert compared("custom", "cal", (D(2026, 3, 1), D(2026, 3, 31)))[:3] == (
        D(2026, 2, 1), D(2026, 2, 28), "previous month",
    )  # fmt: skip
    assert compared("ly", "cal", (D(2025, 1, 1), D(2025, 12, 31)))[:3] == (
        D(2024, 1, 1), D(2024, 12, 31), "previous year",
    )  # fmt: skip
    assert compared("custom", "cal", (D(2026, 1, 1), D(2026, 2, 28)))[:3] == (
        D(2025, 11, 1), D(2025, 12, 31), "previous 2 months",
    )  # fmt: skip
    # the other two comparisons are unchanged
    assert compared("lq", "prev", (D(2026, 4, 1), D(2026, 6, 30)))[:2] == (
        D(2025, 12, 31), D(2026, 3, 31),
    )  # fmt: skip
    assert compared("lq", "yoy", (D(2026, 4, 1), D(2026, 6, 30)))[:2] == (
        D(2025, 4, 1), D(2025, 6, 30),
    )  # fmt: skip


def test_a_comparison_that_cannot_apply_says_what_is_used_instead() -> None:
    # Last 30 days is no calendar period: the 30 days before, named so, with a note
    start, end, label, noted = compared("30d", "cal", (D(2026, 5, 1), D(2026, 5, 30)))
    assert (start, end, label, noted) == (D(2026, 4, 1), D(2026, 4, 30), "previous period", True)
    # same period last year of a range longer than a year would overlap the range itself
    start, end, label, noted = compared("custom", "yoy", (D(2025, 1, 1), D(2026, 6, 30)))
    assert (label, noted) == ("previous period", True)
    assert end == D(2024, 12, 31) and not periods.overlaps((start, end), (D(2025, 1, 1), end))
    # All data: nothing before it
    c = comparison_of("all", "prev", (FIRST, DEMO_END), FIRST)
    assert c.end < FIRST and "nothing to compare" in c.note


@pytest.mark.parametrize("period", ["all", "qtd", "lq", "ytd", "ly"])
@pytest.mark.parametrize("compare", ["prev", "cal", "yoy"])
def test_new_presets_and_comparisons_round_trip_through_the_url(period: str, compare: str) -> None:
    view = ViewFilters.make(period, compare=compare, where={"plan": ["Basic"]})
    assert ViewFilters.from_params(view.to_params(), ["plan"]) == view


def test_bad_period_and_comparison_values_fall_back_to_the_defaults() -> None:
    for bad in ({"period": ["lastdecade"]}, {"period": ["LQ"]}, {"vs": ["calendar"]}):
        view = ViewFilters.from_params(bad, [])
        assert (view.period, view.compare) == (DEFAULT_PERIOD, DEFAULT_COMPARISON)


# --- the dashboard (AppTest) ----------------------------------------------------------


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return demo.demo_responses(rows=20_000, end=DEMO_END)


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory: pytest.TempPathFactory, frame: pd.DataFrame) -> Path:
    path = tmp_path_factory.mktemp("time_demo")
    store = connect(path)
    store.replace_table(schema.RESPONSES, frame)
    return path


@pytest.fixture
def app_env(demo_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    import streamlit as st

    monkeypatch.setenv("CX_DATA_DIR", str(demo_dir))
    monkeypatch.setenv("CX_OPEN_ADMIN", "1")
    for var in ("CX_DATABASE_URL", "CX_AUTO_DEMO", "CX_TARGETS_FILE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.chdir(ROOT)
    st.cache_data.clear()
    yield demo_dir


def overview(query: dict[str, str]) -> AppTest:
    at = AppTest.from_file(str(ROOT / "dashboard.py"), default_timeout=60)
    at.query_params.update(query)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def captions(at: AppTest) -> str:
    return " ".join(c.value for c in at.caption)


def nps_tile(at: AppTest) -> str:
    return next(m.value for m in at.metric if m.label == "NPS")


def test_last_quarter_vs_the_previous_calendar_quarter_on_the_overview(
    app_env: Path, frame: pd.DataFrame
) -> None:
    at = overview({"period": "lq", "vs": "cal"})
    assert at.selectbox(key="g.period").value == "lq"
    assert at.selectbox(key="g.vs").value == "cal"
    assert dict(at.query_params) == {"period": "lq", "vs": "cal"}
    text = captions(at)
    assert "Last quarter: **1 Jan – 31 Mar 2026**" in text
    assert "vs previous quarter (1 Oct – 31 Dec 2025)" in text
    now = ref.nps(ref.rows_in(frame, Filters.make(D(2026, 1, 1), D(2026, 3, 31))))
    before = ref.nps(ref.rows_in(frame, Filters.make(D(2025, 10, 1), D(2025, 12, 31))))
    assert nps_tile(at) == f"{now['value']:.1f}"
    assert f"Previous quarter: {before['value']:.1f} (n = {int(before['n']):,})" in text


def test_all_data_covers_every_answer_and_says_there_is_nothing_before(
    app_env: Path, frame: pd.DataFrame
) -> None:
    at = overview({"period": "all"})
    everything = ref.nps(frame)
    assert nps_tile(at) == f"{everything['value']:.1f}"
    assert f"n = {int(everything['n']):,}" in captions(at)
    notes = " ".join(i.value for i in at.sidebar.info)
    assert "nothing to compare" in notes


def write_targets(tmp_path: Path, text: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "targets.toml"
    path.write_text(text, encoding="utf-8")
    monkeypatch.setenv("CX_TARGETS_FILE", str(path))
    return path


def test_targets_show_on_the_score_tiles_with_met_or_missed(
    app_env: Path, frame: pd.DataFrame, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = ref.rows_in(frame, Filters.make(D(2026, 1, 1), D(2026, 3, 31)))
    nps, csat = ref.nps(rows), ref.csat(rows)
    below = round(nps["ci_low"] - 5)  # clearly met
    write_targets(tmp_path, f"nps = {below}\ncsat = 99.5\n", monkeypatch)
    text = captions(overview({"period": "lq"}))
    assert f"Target {below:.1f}: ✓ met" in text
    assert "Target 99.5%: ✗ missed" in text and csat["value"] < 99.5
    assert text.count("Target ") == 2  # no target for CES: none set
    # a target inside the CI is met or missed by the value, and says it is not settled
    write_targets(tmp_path, f"nps = {nps['value'] + 0.01:.2f}\n", monkeypatch)
    text = captions(overview({"period": "lq"}))
    assert "✗ missed (target inside the 95% CI)" in text


def test_a_bad_targets_file_shows_no_target_and_tells_the_admin(
    app_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_targets(tmp_path, "nps = 20\ncsta = 80\n", monkeypatch)  # a typo closes the file
    at = overview({"period": "lq"})
    assert "Target" not in captions(at)
    warning = " ".join(w.value for w in at.warning)
    assert "Score targets are not shown" in warning and "csta" in warning
    assert str(tmp_path) not in warning  # no server path on the page
    monkeypatch.delenv("CX_OPEN_ADMIN")  # a viewer: no targets, no file details
    at = overview({"period": "lq"})
    assert "Target" not in captions(at)
    assert not any("targets" in w.value for w in at.warning)


# --- the targets file on its own ---------------------------------------------------------


def test_targets_file_is_read_and_checked() -> None:
    got = parse_targets("nps = 30\ncsat = 80.5\nces = 5\nfriction = 12\n")
    assert (got.get("nps"), got.get("csat"), got.get("ces"), got.get("csat_top_box")) == (
        30.0, 80.5, 5.0, None,
    )  # fmt: skip
    assert on_target("nps", 30.0, 30.0) and not on_target("nps", 29.9, 30.0)
    assert on_target("friction", 11.0, 12.0) and not on_target("friction", 13.0, 12.0)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("nps = ", "not valid TOML"),
        ("NPS = 30", "unknown metric 'NPS'"),
        ("nps = '30'", "is not a number"),
        ("nps = true", "is not a number"),
        ("nps = nan", "is not a number"),
        ("nps = 130", "outside -100 to 100"),
        ("csat = -1", "outside 0 to 100"),
        ("ces = 8", "outside 1 to 7"),
        ("[nps]\nvalue = 30", "is not a number"),
    ],
)
def test_a_wrong_targets_file_fails_closed(text: str, problem: str) -> None:
    with pytest.raises(TargetsError, match=problem.replace("(", r"\(")):
        parse_targets(text)


def test_a_missing_targets_file_is_an_error_not_silence(tmp_path: Path) -> None:
    with pytest.raises(TargetsError, match="cannot be read"):
        load_targets(tmp_path / "nope.toml")
    assert load_targets(None).values == ()


# --- item 17: the toolbar ---------------------------------------------------------------


def test_viewers_get_no_deploy_button_or_developer_menu() -> None:
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    # "viewer" hides deploy, rerun and clear cache even on localhost (Streamlit's
    # client.toolbarMode); the browser test checks the page itself (test_phone_e2e.py)
    assert config["client"]["toolbarMode"] == "viewer"
